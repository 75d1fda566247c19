"""``grade``, ``check`` and ``validate``: run exercises' cases on submissions.

``grade(SUBMISSIONS, exercises, out)`` grades every
``SUBMISSIONS/<student_id>/<exercise>/exercise.py`` against the
instructor's ``exercises/<exercise>/tests.py``, students in parallel
(``jobs`` threads, each driving sandboxed subprocesses), and always writes
the CSV, the per-student Gradescope ``results.json`` and feedback text,
in student order whatever the finishing order. A grader error while
grading one student gives that student an "autograder failed" entry and a
zero, never a pass, and the others are still graded.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import time

from .case import load_cases
from .release import build_release
from .report import (
    csv_text,
    feedback_text,
    results_json,
    sandbox_line,
    write_json,
    write_text,
)
from .run import read_student_files, run_exercise
from .sandbox import Limits, Worker, WorkerCrashed, WorkerTimeout, readable_root


@dataclasses.dataclass
class StudentResult:
    """Everything graded for one student."""

    student_id: str
    exercises: list
    max_score: float
    seconds: float = 0.0
    error: str = ""                    # "autograder failed: ..." when the grader broke

    @property
    def score(self) -> float:
        return 0.0 if self.error else sum(ex.score for ex in self.exercises)


def load_exercises(exercises_dir) -> dict:
    """``{exercise name: cases}`` for every folder of ``exercises_dir`` with a tests.py."""
    exercises_dir = os.fspath(exercises_dir)
    if not os.path.isdir(exercises_dir):
        raise FileNotFoundError(f"exercises: {exercises_dir!r} is not a directory")
    found = {name: load_cases(os.path.join(exercises_dir, name, "tests.py"))
             for name in sorted(os.listdir(exercises_dir))
             if os.path.isfile(os.path.join(exercises_dir, name, "tests.py"))}
    if not found:
        raise ValueError(f"exercises: no <exercise>/tests.py under {exercises_dir!r}")
    return found


def probe(limits: Limits) -> dict:
    """Start one empty sandboxed process and return the isolation it reports.

    An empty dict (reported as "no isolation") when even that fails.
    """
    try:
        worker = Worker({"exercise.py": b""}, limits)
    except OSError:
        return {}
    try:
        return worker.load(time.monotonic() + limits.load_timeout)["sandbox"]
    except (WorkerCrashed, WorkerTimeout):
        return {}
    finally:
        worker.close()


def grade_student(student_id: str, folder, exercises: dict, limits: Limits) -> StudentResult:
    """Grade one student's folder; grader errors become an "autograder failed" entry."""
    t0 = time.monotonic()
    max_score = sum(c.points for cases in exercises.values() for c in cases)
    result = StudentResult(student_id, [], max_score)
    try:
        for name, cases in exercises.items():
            files = read_student_files(os.path.join(folder, name))
            result.exercises.append(run_exercise(name, cases, files, limits))
    except Exception as e:  # noqa: BLE001 -- never let one student stop the class
        result.error = f"autograder failed: {type(e).__name__}: {e} (score set to 0; " \
                       "please tell your instructor)"
    result.seconds = time.monotonic() - t0
    return result


def _refuse_readable(exercises_dir) -> None:
    root = readable_root(exercises_dir)
    if root is not None:
        raise ValueError(f"exercises: {exercises_dir!r} lies under {root!r}, which student "
                         "code may read; move the exercises elsewhere")


def grade(submissions, exercises="exercises", out="grades.csv", gradescope=None,
          feedback=None, jobs: int = 1, limits: Limits | None = None,
          hidden_visibility: str = "after_published", progress: bool = True) -> dict:
    """Grade every student folder of ``submissions``; write CSV, results.json, feedback.

    Parameters
    ----------
    submissions : path
        ``<student_id>/<exercise>/exercise.py`` folders.
    exercises : path
        The instructor's exercises (with hidden tests).
    out : path
        The CSV gradebook.
    gradescope : path, optional
        Folder for ``<student_id>/results.json``.
    feedback : path, optional
        Folder for ``<student_id>.txt`` (default: ``feedback/`` next to ``out``).
    jobs : int
        Students graded in parallel.

    Returns
    -------
    dict
        ``{"header", "students": [StudentResult], "seconds"}``.
    """
    limits = limits or Limits()
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    submissions = os.fspath(submissions)
    if not os.path.isdir(submissions):
        raise FileNotFoundError(f"submissions: {submissions!r} is not a directory")
    _refuse_readable(exercises)
    tasks = load_exercises(exercises)
    header = sandbox_line(probe(limits), limits)
    print(f"minicomp grader: {header}", file=sys.stderr)
    ids = sorted(d for d in os.listdir(submissions) if not d.startswith(".")
                 and os.path.isdir(os.path.join(submissions, d)))
    t0 = time.monotonic()
    from tqdm import tqdm
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_student, i, os.path.join(submissions, i), tasks, limits)
                   for i in ids]
        for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                      desc="grading", unit="student", file=sys.stderr, disable=not progress):
            pass
    students = [f.result() for f in futures]
    feedback = feedback or os.path.join(os.path.dirname(os.path.abspath(out)), "feedback")
    _write_outputs(students, list(tasks), header, out, gradescope, feedback,
                   hidden_visibility)
    return {"header": header, "students": students, "seconds": time.monotonic() - t0}


def _write_outputs(students, names, header, out, gradescope, feedback, hidden_visibility):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    write_text(out, csv_text(students, names))
    os.makedirs(feedback, exist_ok=True)
    for s in students:
        write_text(os.path.join(feedback, f"{s.student_id}.txt"), feedback_text(s, header))
        if gradescope:
            folder = os.path.join(gradescope, s.student_id)
            os.makedirs(folder, exist_ok=True)
            write_json(os.path.join(folder, "results.json"),
                       results_json(s, header, hidden_visibility))


def check(path, limits: Limits | None = None) -> tuple:
    """Run the public cases on a student's exercise folder (or its exercise.py).

    Returns
    -------
    (text, passed, total)
        ``text`` says "public tests passed: k/n" and each failure's message.
    """
    limits = limits or Limits()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path
    cases = load_cases(os.path.join(folder, "tests.py"))
    result = run_exercise(os.path.basename(folder), cases, read_student_files(folder),
                          limits, public_only=True)
    passed = sum(c.status == "passed" for c in result.cases)
    lines = [f"{c.status:<12} {c.name}" + "".join(f"\n    {line}" for line in
                                                 c.feedback.splitlines()[:20])
             for c in result.cases]
    lines.append(f"public tests passed: {passed}/{len(result.cases)}")
    return "\n".join(lines), passed, len(result.cases)


def validate(exercises="exercises", invert: bool = False,
             limits: Limits | None = None) -> tuple:
    """Reference solutions must score full marks; ``invert``: released stubs score 0.

    ``exercises`` is a folder of exercise folders, or one exercise folder
    (one holding a ``tests.py``), which is then validated alone.

    Returns
    -------
    (ok, lines)
        ``ok`` is False when any exercise misbehaves; ``lines`` say which case.
    """
    limits = limits or Limits()
    exercises, only = os.path.normpath(os.fspath(exercises)), None
    if os.path.isfile(os.path.join(exercises, "tests.py")):     # one exercise folder
        exercises, only = os.path.split(os.path.abspath(exercises))
    tasks = load_exercises(exercises)
    if only is not None:
        tasks = {only: tasks[only]}
    ok, lines = True, []
    released = build_release(exercises) if invert else {}
    for name, cases in tasks.items():
        if invert:
            stub = released.get(os.path.join(name, "exercise.py"))
            files = {"exercise.py": stub} if stub is not None else None
        else:
            files = read_student_files(os.path.join(os.fspath(exercises), name))
        result = run_exercise(name, cases, files, limits)
        bad = [c for c in result.cases if (c.status == "passed") == invert]
        ok &= not bad
        verdict = "ok" if not bad else "FAILS"
        lines.append(f"{name}: {result.score:g}/{result.max_score:g} {verdict}")
        lines += [f"    {c.name}: {c.status} {c.message.splitlines()[0] if c.message else ''}"
                  for c in bad]
    return ok, lines
