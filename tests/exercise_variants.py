"""Grade an exercise's reference solution and wrong variants of it, in one ``grade`` call.

Used by the ``tests/test_exercise_NN.py`` files: each holds ``WRONG``, a dict
``name -> (source appended to the reference, the cases it must fail)``, and
checks that every variant loses exactly its cases (the degenerate
submissions of every exercise are in ``test_grading_oracles.py``).
"""
import pathlib

from minicomp.grading.grade import grade
from minicomp.grading.sandbox import Limits

EXERCISES = pathlib.Path(__file__).resolve().parents[1] / "exercises"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def reference(exercise: str) -> str:
    """The instructor's ``exercise.py`` of ``exercise`` with its solution markers removed."""
    text = (EXERCISES / exercise / "exercise.py").read_text()
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in MARKERS)


def grade_variants(tmp, exercise: str, wrong: dict) -> dict:
    """``{student: {case: status}}`` for the reference (student "reference") and each variant."""
    subs = {name: reference(exercise) + override for name, (override, _) in wrong.items()}
    subs["reference"] = reference(exercise)
    for student, source in subs.items():
        folder = tmp / "subs" / student / exercise
        folder.mkdir(parents=True)
        (folder / "exercise.py").write_text(source)
    summary = grade(tmp / "subs", EXERCISES / exercise, tmp / "out" / "grades.csv", jobs=2,
                    limits=Limits(timeout=5, submission_timeout=60), progress=False)
    return {s.student_id: {c.name: c.status for c in s.exercises[0].cases}
            for s in summary["students"]}


def failed(status: dict) -> set:
    """The cases of one student's ``{case: status}`` that did not pass."""
    return {name for name, s in status.items() if s != "passed"}
