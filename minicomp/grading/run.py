"""Run an exercise's cases against one student file: the ``ex`` proxy and its session.

The case bodies run here, in the grader, with the grader's own NumPy;
each ``ex.name(*args)`` is sent to the sandboxed :class:`~.sandbox.Worker`
and only plain data comes back. A worker that times out or dies is
killed and the *next* case starts a fresh one, so one bad function costs
only the cases that call it. Problems found at load time (syntax error,
missing file, a refused symlink, an exception or endless loop at import)
are the same for every case: each case scores 0 without starting again,
the first public one says why in full and the others point to it.

Submissions are read (:func:`read_submission`, :func:`read_student_files`)
through directory descriptors, never following a symbolic link: the
student folder, an exercise folder, a file, or anything at any depth of
an exercise folder that is a link refuses the exercise with the status
``symlink``, naming the link.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import stat
import time

from .case import CaseResult
from .sandbox import Limits, Worker, WorkerCrashed, WorkerTimeout

MAX_FILE_BYTES = 1 << 20
MAX_SCANNED = 10000                    # entries of an exercise folder searched for links
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC   # a FIFO never blocks
SHORT = {"syntax_error": "your file has a syntax error", "missing": "nothing to run",
         "timeout": "loading your file timed out", "error": "loading your file raised an error",
         "symlink": "a symbolic link was refused", "crashed": "the sandbox did not start"}


@dataclasses.dataclass(frozen=True)
class SymlinkRefused:
    """A submission path that is a symbolic link: not followed, the exercise scores 0."""

    path: str                          # relative to the student folder (or its own name)

    @property
    def message(self) -> str:
        return (f"{self.path!r} is a symbolic link: submissions are read without following "
                "links, so this exercise was not run; hand in real files and folders")


class StudentFailure(BaseException):
    """A call into the student's code did not return a value.

    A ``BaseException``, so that a test's ``except Exception`` cannot
    swallow it; the session also remembers it, so a swallowed failure
    still fails the case.
    """

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Session:
    """Calls into one student file, restarting the worker after a crash."""

    def __init__(self, files, limits: Limits, forbid: dict | None = None,
                 exercise: str = "this exercise"):
        self.files, self.limits = files, limits
        self.forbid, self.exercise = dict(forbid or {}), exercise
        self.worker = None
        self.fatal = None
        self.fatal_shown = None        # the public case that showed the fatal message
        if isinstance(files, SymlinkRefused):
            self.fatal = StudentFailure("symlink", files.message)
        elif not files or "exercise.py" not in files:
            self.fatal = StudentFailure("missing", "the submission has no exercise.py"
                                        if files is not None else "the submission has no "
                                        "folder for this exercise")
        self.deadline = time.monotonic() + limits.submission_timeout
        self.sandbox = {}
        self.failure = None
        self.output = b""

    def _deadline(self, seconds: float) -> float:
        if time.monotonic() >= self.deadline:
            raise StudentFailure("timeout", f"the submission used up its "
                                 f"{self.limits.submission_timeout:g} s time limit")
        return min(time.monotonic() + seconds, self.deadline)

    def describe(self, failure: StudentFailure, case) -> str:
        """A failure's message; a load failure in full once, then a pointer to it."""
        if failure is not self.fatal:
            return failure.message
        if self.fatal_shown is None:
            if not case.hidden:       # hidden cases do not show messages to the student
                self.fatal_shown = case.name
            return failure.message
        return f"see case {self.fatal_shown!r}: {SHORT.get(failure.status, failure.status)}"

    def _start(self) -> Worker:
        worker = Worker(self.files, self.limits, self.forbid, self.exercise)
        try:
            reply = worker.load(self._deadline(self.limits.load_timeout))
        except WorkerTimeout:
            self._close(worker)
            self.fatal = StudentFailure("timeout", "loading your file did not finish "
                                        f"within {self.limits.load_timeout:g} s")
            raise self.fatal from None
        except WorkerCrashed as e:
            self._close(worker)
            raise StudentFailure("crashed", f"while loading your file, {e}") from None
        self.sandbox = reply.get("sandbox", {})
        if reply["status"] != "ok":
            self._close(worker)
            status = {"sandbox_failed": "crashed"}.get(reply["status"], reply["status"])
            self.fatal = StudentFailure(status, reply.get("message", ""))
            raise self.fatal
        return worker

    def call(self, name: str, args: tuple, kwargs: dict):
        """Call ``name(*args, **kwargs)`` in the sandbox; return the plain value."""
        try:
            if self.fatal is not None:
                raise self.fatal
            if self.worker is None:
                self.worker = self._start()
            try:
                reply = self.worker.call(name, args, kwargs, self._deadline(self.limits.timeout))
            except WorkerTimeout:
                self._close(self.worker)
                raise StudentFailure("timeout", f"{name}() did not return within "
                                     f"{self.limits.timeout:g} s") from None
            except WorkerCrashed as e:
                self._close(self.worker)
                raise StudentFailure("crashed", f"during {name}(): {e}") from None
            status = reply["status"]
            if status == "ok":
                return reply["value"]
            if status == "invalid":
                raise StudentFailure("failed", f"{name}() {reply.get('message', '')}")
            raise StudentFailure(status if status in ("error", "missing") else "crashed",
                                 reply.get("message", ""))
        except StudentFailure as f:
            self.failure = self.failure or f
            raise

    def _close(self, worker) -> None:
        if worker is self.worker:
            self.worker = None
        self.output = bytes(worker.out)
        worker.close()

    def close(self) -> None:
        if self.worker is not None:
            self._close(self.worker)


class Proxy:
    """``ex``: attribute calls run the student's function in the sandbox."""

    def __init__(self, session: Session):
        object.__setattr__(self, "_session", session)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(f"ex.{name}: only public functions can be called")
        session = object.__getattribute__(self, "_session")
        return lambda *args, **kwargs: session.call(name, args, kwargs)


def run_case(case, session: Session) -> CaseResult:
    """Run one case; exactly one outcome, with a message, never a pass by accident."""
    session.failure = failure = None
    status, message = "passed", ""
    try:
        case.func(Proxy(session))
    except StudentFailure as f:
        failure = f
    except AssertionError as e:
        status, message = "failed", str(e).strip()[:2000] or "assertion failed"
    except Exception as e:  # noqa: BLE001 -- the returned value broke the test
        status = "failed"
        message = f"the test could not use the returned value: {type(e).__name__}: {str(e)[:500]}"
    if failure is None and status == "passed":
        failure = session.failure     # swallowed by the test: still not a pass
    if failure is not None:
        status, message = failure.status, session.describe(failure, case)
    passed = status == "passed"
    if passed:
        feedback = case.success_message or ""
    elif case.hidden:
        feedback = case.failure_message or ""
    else:
        feedback = "\n".join(m for m in (case.failure_message, message) if m)
    return CaseResult(case.name, status, case.points if passed else 0.0, case.points,
                      case.hidden, message, feedback)


def read_student_files(folder):
    """The regular files directly in ``folder`` (never tests.py), without following links.

    Returns
    -------
    dict of str to bytes, or None, or SymlinkRefused
        None when ``folder`` is missing or no directory; a
        :class:`SymlinkRefused` naming the first link found in ``folder``
        (itself included) at any depth. Files over 1 MB, special files
        and subfolders are not read.
    """
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_exercise(parent_fd, name, name)
    finally:
        os.close(parent_fd)


def read_submission(student_dir, exercise_names) -> dict:
    """Read one student's folder: ``{exercise name: files | None | SymlinkRefused}``.

    The folder itself is opened without following a link: if it is one,
    every exercise is refused, naming it. Each exercise folder is then read
    as by :func:`read_student_files` (paths named relative to the student
    folder). A link anywhere in the student folder, even beside the
    exercise folders, refuses the whole submission (EXERCISES.md, rule 7):
    other entries are never read, but a submission holding a link is not
    graded.
    """
    student_dir = os.path.abspath(os.fspath(student_dir))
    me = os.path.basename(student_dir)
    try:
        fd = os.open(student_dir, DIR_FLAGS)
    except OSError as e:
        link = e.errno == errno.ELOOP or os.path.islink(student_dir)
        return {n: SymlinkRefused(me) if link else None for n in exercise_names}
    try:
        link = _find_link(fd, ".", [MAX_SCANNED], 0)      # "./a/b": relative to the folder
        if link is not None:
            return {n: SymlinkRefused(link[2:]) for n in exercise_names}
        return {n: _read_exercise(fd, n, n) for n in exercise_names}
    finally:
        os.close(fd)


def _open_dir(name: str, dir_fd: int):
    """An O_NOFOLLOW descriptor of directory ``name``; "link", or None if it is no directory."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:              # a link gives ELOOP or ENOTDIR
        return "link" if e.errno == errno.ELOOP or _is_link(name, dir_fd) else None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_exercise(dir_fd: int, name: str, rel: str):
    fd = _open_dir(name, dir_fd)
    if fd == "link":
        return SymlinkRefused(rel)
    if fd is None:
        return None
    try:
        link = _find_link(fd, rel, [MAX_SCANNED], 0)
        if link is not None:
            return SymlinkRefused(link)
        files = {}
        for entry in sorted(os.listdir(fd)):
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and entry != "tests.py" and st.st_size <= MAX_FILE_BYTES:
                data = _read_file(entry, fd)
                if data is not None:
                    files[entry] = data
        return files
    finally:
        os.close(fd)


def _read_file(name: str, dir_fd: int):
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None                   # replaced by a link or removed since listed
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_FILE_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _find_link(fd: int, rel: str, budget: list, depth: int):
    """The first symbolic link beneath directory ``fd`` (as ``rel/...``), or None."""
    for entry in sorted(os.listdir(fd)):
        budget[0] -= 1
        if budget[0] < 0 or depth > 32:
            return None               # a huge tree: what lies beyond is never read anyway
        path = f"{rel}/{entry}"
        mode = os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            return path
        if stat.S_ISDIR(mode):
            sub = _open_dir(entry, fd)
            if sub == "link":
                return path
            if sub is not None:
                try:
                    found = _find_link(sub, path, budget, depth + 1)
                finally:
                    os.close(sub)
                if found is not None:
                    return found
    return None


@dataclasses.dataclass
class ExerciseResult:
    """All cases of one exercise on one submission."""

    exercise: str
    cases: list
    sandbox: dict
    output: bytes = b""

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cases)


def run_exercise(exercise: str, cases, files, limits: Limits, public_only: bool = False,
                 forbid: dict | None = None) -> ExerciseResult:
    """Run ``cases`` against the student ``files`` of one exercise.

    ``files`` is what :func:`read_submission` or :func:`read_student_files`
    returned (a :class:`SymlinkRefused` scores every case 0, status
    ``symlink``). ``forbid`` (package -> reason) defaults to the
    ``FORBIDDEN_IMPORTS`` the cases carry.
    """
    if forbid is None:
        forbid = {k: v for c in cases for k, v in getattr(c, "forbidden_imports", ())}
    session = Session(files, limits, forbid, exercise)
    try:
        results = [run_case(c, session) for c in cases if not (public_only and c.hidden)]
    finally:
        session.close()
    return ExerciseResult(exercise, results, session.sandbox, session.output)
