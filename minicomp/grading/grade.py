"""``grade``, ``check`` and ``validate``: run exercises' cases on submissions.

``grade(SUBMISSIONS, exercises, out)`` grades every
``SUBMISSIONS/<student_id>/<exercise>/exercise.py`` against the
instructor's ``exercises/<exercise>/tests.py``, students in parallel
(``jobs`` threads, each driving sandboxed subprocesses) -- the public
cases of the whole class first, then the hidden ones (:mod:`.phases`) --
and always writes the CSV, the per-student Gradescope ``results.json`` and
feedback text, in student order whatever the finishing order. A grader
error while grading one student gives that student an "autograder failed"
entry and a zero, never a pass, and the others are still graded.

Every entry point checks its arguments before any work: the limits (within
the bounds below), the exercises (a folder of them or one exercise folder,
:func:`find_exercises`), and where the reports go
(:func:`.report.check_outputs`, :func:`.report.check_reports`). Nothing
the grader reads or writes may lie under a folder the sandbox lets student
code read (:func:`.roots.readable_root`): not the exercises, not the
submissions (one student's code would read another's), not the reports.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import time

from .. import validate as v
from .case import find_exercises, load_cases, load_exercise
from .phases import StudentResult, grade_class, grade_student
from .release import SOLUTION, build_release
from .report import (
    VISIBILITIES,
    check_outputs,
    check_reports,
    csv_text,
    feedback_text,
    refuse_readable,
    report_path,
    results_json,
    safe_id,
    sandbox_line,
    write_json,
    write_text,
)
from .run import run_exercise
from .sandbox import Limits, Worker, WorkerCrashed, WorkerTimeout
from .submission import instructor_files, read_student_files

__all__ = ["StudentResult", "check", "check_limits", "find_exercises", "grade",
           "grade_student", "load_exercises", "probe", "student_ids", "validate"]

MAX_CALL_SECONDS = 3600.0              # Limits.timeout, --timeout: one call into student code
MAX_SUBMISSION_SECONDS = 86400.0       # Limits.submission_timeout: one exercise of a submission
MEMORY_MB = (128, 65536)               # Limits.memory_mb, --memory: NumPy needs ~64 MB to load
MAX_JOBS = 64                          # students graded in parallel


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
    """``(root, {exercise name: cases})`` of :func:`find_exercises`'s exercises.

    An exercise whose ``GRADER_REQUIRES`` names a package this grader cannot
    import is refused before any student runs: its expected values could
    not be computed, and the students would lose points for it.
    """
    root, names = find_exercises(path, name)
    tasks = {}
    for n in names:
        tasks[n], config = load_exercise(os.path.join(root, n, "tests.py"))
        for requirement in config.grader_requires:
            package = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
            if importlib.util.find_spec(package.replace("-", "_")) is None:
                raise ValueError(f"{name}: {n}/tests.py needs {requirement!r} to compute its "
                                 f"expected values and {package!r} is not installed here; "
                                 f"expected: pip install '{requirement}'")
    return root, tasks


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
        folder, exercises or submissions under a folder the sandbox lets
        student code read, or a report path that is refused (see
        :func:`.report.check_outputs` and :func:`.report.check_reports`).

    Notes
    -----
    The public cases of the whole class run first, then the hidden ones
    (:mod:`.phases`, which says why); ``Limits.submission_timeout`` bounds
    each exercise over both phases. A submitted file that is a hard link
    to one of the files under ``exercises`` is refused (status ``symlink``);
    other hard links are ordinary files.
    """
    limits = check_limits(limits, "grade")
    jobs = v.integer(jobs, "jobs", low=1, high=MAX_JOBS, where="grade")
    v.choice(hidden_visibility, "hidden_visibility", VISIBILITIES, where="grade")
    submissions = v.path(submissions, "submissions", where="grade")
    if not os.path.isdir(submissions):
        raise FileNotFoundError(f"submissions: {submissions!r} is not a directory")
    root, tasks = load_exercises(exercises)
    for name in tasks:
        refuse_readable(os.path.join(root, name), "exercises", "the hidden tests")
    refuse_readable(submissions, "submissions", "each student's files")
    out, gradescope, feedback = check_outputs(submissions, root, out, gradescope, feedback)
    ids = student_ids(submissions)
    if not ids:
        raise ValueError(f"submissions: no student folders in {submissions!r}; expected "
                         "<student_id>/<exercise>/exercise.py")
    check_reports(ids, gradescope, feedback)
    single = os.path.isfile(os.path.join(os.fspath(exercises), "tests.py"))
    instructor = instructor_files(os.path.join(root, *tasks) if single else root)
    header = sandbox_line(probe(limits), limits)
    print(f"minicomp grader: {header}", file=sys.stderr)
    t0 = time.monotonic()
    students = grade_class({i: os.path.join(submissions, i) for i in ids}, tasks, limits,
                           jobs, progress, instructor)
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
    markers) is refused. Unlike :func:`grade`, a folder the sandbox may
    read (:func:`.roots.readable_root`) is fine here: the code run is the
    student's own, on public cases, and all it could read there is its own
    folder -- nothing that student may not see.

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
                              limits, which="public")
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
