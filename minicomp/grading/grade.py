"""``grade``, ``check`` and ``validate``: run exercises' cases on submissions.

``grade(SUBMISSIONS, exercises, out)`` grades every
``SUBMISSIONS/<student_id>/<exercise>/exercise.py`` against the
instructor's ``exercises/<exercise>/tests.py``, students in parallel
(``jobs`` threads, each driving sandboxed subprocesses), and always writes
the CSV, the per-student Gradescope ``results.json`` and feedback text,
in student order whatever the finishing order. A grader error while
grading one student gives that student an "autograder failed" entry and a
zero, never a pass, and the others are still graded.

Every entry point checks its arguments before any work: the limits (within
the bounds below), the exercises (a folder of them or one exercise folder,
:func:`find_exercises`), and where the reports go
(:func:`.report.check_outputs`).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import time

from .. import validate as v
from .case import find_exercises, load_cases
from .release import SOLUTION, build_release
from .report import (
    VISIBILITIES,
    check_outputs,
    csv_text,
    feedback_text,
    report_path,
    results_json,
    safe_id,
    sandbox_line,
    write_json,
    write_text,
)
from .run import run_exercise
from .submission import read_student_files, read_submission
from .roots import readable_root
from .sandbox import Limits, Worker, WorkerCrashed, WorkerTimeout

MAX_CALL_SECONDS = 3600.0              # Limits.timeout, --timeout: one call into student code
MAX_SUBMISSION_SECONDS = 86400.0       # Limits.submission_timeout: one exercise of a submission
MEMORY_MB = (128, 65536)               # Limits.memory_mb, --memory: NumPy needs ~64 MB to load
MAX_JOBS = 64                          # students graded in parallel


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


def check_limits(limits, where: str) -> Limits:
    """``limits`` (default ``Limits()``) with its times and memory within the bounds.

    Raises
    ------
    ValueError
        A time that is not finite, not positive or above its maximum
        (``MAX_CALL_SECONDS``, ``MAX_SUBMISSION_SECONDS``); memory outside
        ``MEMORY_MB``.
    """
    if limits is None:
        return Limits()
    if not isinstance(limits, Limits):
        raise TypeError(f"{where}: limits is a {type(limits).__name__}; expected a Limits")
    v.number(limits.timeout, "limits.timeout", low=0, low_open=True, high=MAX_CALL_SECONDS,
             where=where)
    v.number(limits.submission_timeout, "limits.submission_timeout", low=0, low_open=True,
             high=MAX_SUBMISSION_SECONDS, where=where)
    v.integer(limits.memory_mb, "limits.memory_mb", low=MEMORY_MB[0], high=MEMORY_MB[1],
              where=where)
    return limits


def load_exercises(path, name: str = "exercises") -> tuple:
    """``(root, {exercise name: cases})`` of :func:`find_exercises`'s exercises."""
    root, names = find_exercises(path, name)
    return root, {n: _load_tests(os.path.join(root, n, "tests.py")) for n in names}


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
        submission = read_submission(folder, list(exercises))
        for name, cases in exercises.items():
            result.exercises.append(run_exercise(name, cases, submission[name], limits))
    except Exception as e:  # noqa: BLE001 -- never let one student stop the class
        result.error = f"autograder failed: {type(e).__name__}: {e} (score set to 0; " \
                       "please tell your instructor)"
    result.seconds = time.monotonic() - t0
    return result


def _load_tests(path) -> list:
    """The cases of an instructor's tests.py; a file that fails to run is a ValueError."""
    try:
        return load_cases(path)
    except (ValueError, TypeError, FileNotFoundError):
        raise
    except Exception as e:  # noqa: BLE001 -- the instructor's code: say where, not how deep
        raise ValueError(f"tests: {path!r} failed to load: {type(e).__name__}: {e}") from None


def student_ids(submissions) -> list:
    """The student folders of ``submissions``, sorted; links kept (they score 0).

    A name that cannot name a report file (:func:`~.report.safe_id`:
    hidden, too long, or with a separator or control character) and a
    plain file are skipped, and said on stderr unless the name starts with '.'.
    """
    ids = []
    for name in sorted(os.listdir(submissions)):
        path = os.path.join(submissions, name)
        usable = os.path.isdir(path) or os.path.islink(path)
        if usable and safe_id(name):
            ids.append(name)
        elif not name.startswith("."):
            why = "not usable as a student id" if usable else "a file, not a student folder"
            print(f"minicomp grader: skipped {name!r}: {why}", file=sys.stderr)
    return ids


def _refuse_readable(folder) -> None:
    root = readable_root(folder)
    if root is not None:
        raise ValueError(f"exercises: {folder!r} lies under {root!r}, which student "
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
        The instructor's exercises (with hidden tests), or one exercise
        folder: only that exercise is graded.
    out : path
        The CSV gradebook (not a directory).
    gradescope : path, optional
        Folder for ``<student_id>/results.json``.
    feedback : path, optional
        Folder for ``<student_id>.txt`` (default: ``feedback/`` next to ``out``).
    jobs : int
        Students graded in parallel, 1 to ``MAX_JOBS``.

    Returns
    -------
    dict
        ``{"header", "students": [StudentResult], "seconds"}``.

    Raises
    ------
    ValueError, TypeError, FileNotFoundError
        Before any grading: bad limits or ``jobs``, no exercise, no student
        folder, or a report path that is refused (see :func:`.report.check_outputs`).
    """
    limits = check_limits(limits, "grade")
    jobs = v.integer(jobs, "jobs", low=1, high=MAX_JOBS, where="grade")
    v.choice(hidden_visibility, "hidden_visibility", VISIBILITIES, where="grade")
    submissions = v.path(submissions, "submissions", where="grade")
    if not os.path.isdir(submissions):
        raise FileNotFoundError(f"submissions: {submissions!r} is not a directory")
    root, tasks = load_exercises(exercises)
    for name in tasks:
        _refuse_readable(os.path.join(root, name))
    out, gradescope, feedback = check_outputs(submissions, root, out, gradescope, feedback)
    ids = student_ids(submissions)
    if not ids:
        raise ValueError(f"submissions: no student folders in {submissions!r}; expected "
                         "<student_id>/<exercise>/exercise.py")
    header = sandbox_line(probe(limits), limits)
    print(f"minicomp grader: {header}", file=sys.stderr)
    t0 = time.monotonic()
    from tqdm import tqdm
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_student, i, os.path.join(submissions, i), tasks, limits)
                   for i in ids]
        for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                      desc="grading", unit="student", file=sys.stderr, disable=not progress):
            pass
    students = [f.result() for f in futures]
    _write_outputs(students, list(tasks), header, out, gradescope, feedback,
                   hidden_visibility)
    return {"header": header, "students": students, "seconds": time.monotonic() - t0}


def _write_outputs(students, names, header, out, gradescope, feedback, hidden_visibility):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    write_text(out, csv_text(students, names))
    os.makedirs(feedback, exist_ok=True)
    for s in students:
        write_text(report_path(feedback, s.student_id, ".txt"), feedback_text(s, header))
        if gradescope:
            folder = report_path(gradescope, s.student_id)
            if os.path.islink(folder):             # never write through a link
                os.unlink(folder)
            os.makedirs(folder, exist_ok=True)
            write_json(os.path.join(folder, "results.json"),
                       results_json(s, header, hidden_visibility))


def _refuse_instructor_copy(root, names) -> None:
    for name in names:
        try:
            with open(os.path.join(root, name, "exercise.py"), encoding="utf-8",
                      errors="replace") as f:
                marked = any(line.strip() in SOLUTION for line in f)
        except FileNotFoundError:
            continue
        if marked:
            folder = os.path.join(root, name)
            raise ValueError(f"path: {folder!r} is the instructor's copy (its exercise.py "
                             f"holds {SOLUTION[0]!r} markers); check the reference solutions "
                             f"with `minicomp validate {folder}`, or write the students' copy "
                             "with `minicomp release` and check that")


def check(path, limits: Limits | None = None) -> tuple:
    """Run the public cases on a student's exercise folder (or its exercise.py).

    ``path`` may also be a folder of exercises (the whole released copy):
    each is checked. The instructor's copy (with solution or hidden-test
    markers) is refused.

    Returns
    -------
    (text, passed, total)
        ``text`` says "public tests passed: k/n" and each failure's message.
    """
    limits = check_limits(limits, "check")
    path = v.path(path, "path", where="check")
    folder = os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path
    root, names = find_exercises(folder, "path")
    _refuse_instructor_copy(root, names)
    lines, passed, total = [], 0, 0
    for name in names:
        cases = load_cases(os.path.join(root, name, "tests.py"))
        result = run_exercise(name, cases, read_student_files(os.path.join(root, name)),
                              limits, public_only=True)
        ok = sum(c.status == "passed" for c in result.cases)
        if len(names) > 1:
            lines.append(f"{name}: public tests passed: {ok}/{len(result.cases)}")
        lines += [f"{c.status:<12} {c.name}" + "".join(f"\n    {line}" for line in
                                                     c.feedback.splitlines()[:20])
                  for c in result.cases]
        passed, total = passed + ok, total + len(result.cases)
    lines.append(f"public tests passed: {passed}/{total}")
    return "\n".join(lines), passed, total


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
    limits = check_limits(limits, "validate")
    invert = v.flag(invert, "invert", where="validate")
    root, tasks = load_exercises(exercises)
    ok, lines = True, []
    released = build_release(root) if invert else {}
    for name, cases in tasks.items():
        if invert:
            stub = released.get(os.path.join(name, "exercise.py"))
            files = {"exercise.py": stub} if stub is not None else None
        else:
            files = read_student_files(os.path.join(root, name))
        result = run_exercise(name, cases, files, limits)
        bad = [c for c in result.cases if (c.status == "passed") == invert]
        ok &= not bad
        verdict = "ok" if not bad else "FAILS"
        lines.append(f"{name}: {result.score:g}/{result.max_score:g} {verdict}")
        lines += [f"    {c.name}: {c.status} {c.message.splitlines()[0] if c.message else ''}"
                  for c in bad]
    return ok, lines
