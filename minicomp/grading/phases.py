"""Grade a class in two phases: every public case of every student, then every hidden one.

A hidden case hands the hidden inputs to the student's code. Whatever that
code leaves behind where a later run can observe it -- the access times of
files the sandbox may read, say -- a later *public* case could read back
and raise in its error message, which the student sees: a case of another
exercise, or of another student graded later (the hidden inputs are the
same for the whole class). So no public case runs after any hidden one:
:func:`grade_class` runs the public cases of every exercise of every
student first, and only then the hidden cases of every student; the
hidden cases' feedback is their name, status and ``failure_message``
only, and a student's output is never shown. Each student's results are
then merged back into the cases' order in ``tests.py``.

Time limits: ``Limits.submission_timeout`` bounds each exercise of a
submission over both phases together (the hidden phase gets what the
public one left; each phase loads the student's file anew).
``StudentResult.seconds`` counts both phases; ``public_seconds`` only the
public one, the only time a student is shown (a hidden case could encode
its inputs in how long it takes).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import time

from .run import ExerciseResult, run_exercise
from .sandbox import Limits
from .submission import SymlinkRefused, read_submission

PHASES = ("public", "hidden")
LEFT_AT_LEAST = 1e-9                   # seconds: a used-up budget still makes valid Limits


@dataclasses.dataclass
class StudentResult:
    """Everything graded for one student."""

    student_id: str
    exercises: list
    max_score: float
    seconds: float = 0.0
    public_seconds: float = 0.0        # the only time a student is shown (see report.py)
    error: str = ""                    # "autograder failed: ..." when the grader broke
    refused: dict = dataclasses.field(default_factory=dict)   # exercise -> SymlinkRefused

    @property
    def score(self) -> float:
        return 0.0 if self.error else sum(ex.score for ex in self.exercises)


@dataclasses.dataclass
class _Student:
    """One student between the phases: the files read once, each phase's results."""

    result: StudentResult
    folder: str
    submission: dict | None = None
    parts: dict = dataclasses.field(default_factory=dict)     # exercise -> {phase: result}
    used: dict = dataclasses.field(default_factory=dict)      # exercise -> seconds so far


def _failed(e: Exception) -> str:
    return (f"autograder failed: {type(e).__name__}: {e} (score set to 0; please tell your "
            "instructor)")


def _in_phase(case, which: str) -> bool:
    return case.hidden == (which == "hidden")


def _run_phase(student: _Student, exercises: dict, limits: Limits, which: str,
               instructor: frozenset) -> _Student:
    """Run the ``which`` cases of every exercise of one student; never raises."""
    if student.result.error:
        return student
    t0 = time.monotonic()
    try:
        if student.submission is None:
            student.submission = read_submission(student.folder, list(exercises), instructor)
            student.result.refused = {n: f for n, f in student.submission.items()
                                      if isinstance(f, SymlinkRefused)}
        for name, cases in exercises.items():
            if not any(_in_phase(c, which) for c in cases):
                continue
            left = limits.submission_timeout - student.used.get(name, 0.0)
            budget = dataclasses.replace(limits, submission_timeout=max(left, LEFT_AT_LEAST))
            t = time.monotonic()
            student.parts.setdefault(name, {})[which] = run_exercise(
                name, cases, student.submission[name], budget, which=which)
            student.used[name] = student.used.get(name, 0.0) + time.monotonic() - t
    except Exception as e:  # noqa: BLE001 -- never let one student stop the class
        student.result.error = student.result.error or _failed(e)
    student.result.seconds += time.monotonic() - t0
    if which == "public":
        student.result.public_seconds += time.monotonic() - t0
    return student


def _merge(name: str, cases, parts: dict) -> ExerciseResult:
    """One exercise's phases as one result, its cases in ``tests.py``'s order."""
    done = [parts[w] for w in PHASES if w in parts]
    by_name = {c.name: c for part in done for c in part.cases}
    missing = [c.name for c in cases if c.name not in by_name]
    if missing:
        raise RuntimeError(f"{name}: no result for the cases {missing}")
    return ExerciseResult(name, [by_name[c.name] for c in cases],
                          next((p.sandbox for p in done if p.sandbox), {}),
                          b"".join(p.output for p in done))


def _finish(student: _Student, exercises: dict) -> StudentResult:
    result = student.result
    if not result.error:
        try:
            result.exercises = [_merge(n, cases, student.parts.get(n, {}))
                                for n, cases in exercises.items()]
        except Exception as e:  # noqa: BLE001 -- a grader bug: this student only
            result.error, result.exercises = _failed(e), []
    return result


def _new(student_id: str, folder, exercises: dict) -> _Student:
    max_score = sum(c.points for cases in exercises.values() for c in cases)
    return _Student(StudentResult(student_id, [], max_score), os.fspath(folder))


def grade_student(student_id: str, folder, exercises: dict, limits: Limits,
                  instructor=frozenset()) -> StudentResult:
    """Grade one student's folder, public cases then hidden ones.

    Grader errors become an "autograder failed" entry (score 0).
    ``instructor``: the instructor's files, refused as hard links
    (:func:`.submission.instructor_files`).
    """
    student = _new(student_id, folder, exercises)
    for which in PHASES:
        _run_phase(student, exercises, limits, which, frozenset(instructor))
    return _finish(student, exercises)


def grade_class(folders: dict, exercises: dict, limits: Limits, jobs: int = 1,
                progress: bool = True, instructor=frozenset()) -> list:
    """Grade every student of ``folders`` (id -> folder), the public phase first.

    Parameters
    ----------
    folders : dict of str to path
        Student id -> that student's folder; the results keep this order.
    exercises : dict of str to list of Case
    jobs : int
        Students graded in parallel in each phase.
    progress : bool
        A progress bar per phase on stderr.

    Returns
    -------
    list of StudentResult
        In the order of ``folders``, whatever the finishing order.
    """
    from tqdm import tqdm
    students = [_new(sid, folder, exercises) for sid, folder in folders.items()]
    instructor = frozenset(instructor)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for which in PHASES:
            if which == "hidden" and not any(c.hidden for v in exercises.values() for c in v):
                continue
            futures = [pool.submit(_run_phase, s, exercises, limits, which, instructor)
                       for s in students]
            for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                          desc=f"grading ({which} cases)", unit="student", file=sys.stderr,
                          disable=not progress):
                pass
            students = [f.result() for f in futures]
    return [_finish(s, exercises) for s in students]
