"""Run an exercise's cases against one student file: the ``ex`` proxy and its session.

The case bodies run here, in the grader, with the grader's own NumPy;
each ``ex.name(*args)`` is sent to the sandboxed :class:`~.sandbox.Worker`
and only plain data comes back. A worker that times out or dies is
killed and the *next* case starts a fresh one, so one bad function costs
only the cases that call it. Problems found at load time (syntax error,
missing file, a refused submission, an exception or endless loop at import)
are the same for every case: each case scores 0 without starting again,
the first public one says why in full and the others point to it.

Submissions are read by :mod:`.submission`, which follows no link: a
refused submission (:class:`~.submission.SymlinkRefused`: a link in it, a
hard link to the instructor's files, or too large to search) scores 0 on
every case with the status ``symlink``, naming the path.

When the *grader* cannot start a sandbox (no disk space for its folder,
no process, a sandbox that cannot be set up), the case does not fail:
:class:`GraderFailure` leaves :func:`run_exercise`, and the caller gives
the student an "autograder failed" entry instead of a grade.
"""
from __future__ import annotations

import dataclasses
import time

from .case import CaseResult
from .sandbox import Limits, Worker, WorkerCrashed, WorkerTimeout
from .submission import SymlinkRefused

SHORT = {"syntax_error": "your file has a syntax error", "missing": "nothing to run",
         "timeout": "loading your file timed out", "error": "loading your file raised an error",
         "symlink": "your submission was refused unread"}


class StudentFailure(BaseException):
    """A call into the student's code did not return a value.

    A ``BaseException``, so that a test's ``except Exception`` cannot
    swallow it; the session also remembers it, so a swallowed failure
    still fails the case.
    """

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class GraderFailure(Exception):
    """The grader could not start a sandbox: nobody's fault in the student's code.

    An ``Exception``, so that the grader's handler around each student
    (``except Exception`` in :mod:`.phases`) turns it into the "autograder
    failed" entry. :func:`run_case` re-raises it even when a test body
    swallowed it (the session remembers it).
    """


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
            self.fatal = StudentFailure("missing", "the submission has no readable exercise.py "
                                        "(a regular file of at most 1 MB)"
                                        if files is not None else "the submission has no "
                                        "folder for this exercise")
        self.deadline = time.monotonic() + limits.submission_timeout
        self.sandbox = {}
        self.failure = None
        self.broken = None             # a GraderFailure: the whole exercise is void
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
        try:
            worker = Worker(self.files, self.limits, self.forbid, self.exercise)
        except OSError as e:          # its folder, its files, Popen: the grader's own
            self.broken = GraderFailure(f"could not start a sandbox: {type(e).__name__}: {e}")
            raise self.broken from e
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
        if reply["status"] == "sandbox_failed":     # before any student code ran
            self._close(worker)
            self.broken = GraderFailure(f"could not set up the sandbox: {reply.get('message')}")
            raise self.broken
        if reply["status"] != "ok":
            self._close(worker)
            self.fatal = StudentFailure(reply["status"], reply.get("message", ""))
            raise self.fatal
        return worker

    def call(self, name: str, args: tuple, kwargs: dict):
        """Call ``name(*args, **kwargs)`` in the sandbox; return the plain value."""
        if self.broken is not None:
            raise self.broken
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
    """Run one case; exactly one outcome, with a message, never a pass by accident.

    Raises
    ------
    GraderFailure
        The grader could not start the sandbox (even if the test caught it).
    """
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
    if session.broken is not None:
        raise session.broken          # never the student's failure, even if caught
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


WHICH = ("all", "public", "hidden")


def run_exercise(exercise: str, cases, files, limits: Limits, which: str = "all",
                 forbid: dict | None = None) -> ExerciseResult:
    """Run ``cases`` against the student ``files`` of one exercise.

    Parameters
    ----------
    exercise : str
        The exercise's name (shown in messages).
    cases : list of Case
    files : dict, SymlinkRefused or None
        What :func:`read_submission` or :func:`read_student_files` returned
        (a :class:`SymlinkRefused` scores every case 0, status ``symlink``).
    limits : Limits
        ``submission_timeout`` bounds this call (each call starts its own
        student process and loads the file anew).
    which : {"all", "public", "hidden"}
        The cases run, in their order. Grading in two phases -- every
        student's ``"public"`` cases first, then every ``"hidden"`` one
        (:mod:`.phases`) -- keeps hidden inputs out of every text a student
        sees: a hidden case cannot leave a trace (file access times, say)
        that a later public case reports. ``check`` runs ``"public"``.
    forbid : dict of str to str, optional
        Package -> reason; defaults to the ``FORBIDDEN_IMPORTS`` the cases carry.

    Returns
    -------
    ExerciseResult
        The selected cases only.

    Raises
    ------
    GraderFailure
        The grader could not start a sandbox: no case result is the
        student's; give the student an "autograder failed" entry.
    """
    if which not in WHICH:
        raise ValueError(f"which={which!r}; expected one of {WHICH}")
    if forbid is None:
        forbid = {k: v for c in cases for k, v in getattr(c, "forbidden_imports", ())}
    chosen = [c for c in cases if which == "all" or bool(c.hidden) == (which == "hidden")]
    session = Session(files, limits, forbid, exercise)
    try:
        results = [run_case(c, session) for c in chosen]
    finally:
        session.close()
    return ExerciseResult(exercise, results, session.sandbox, session.output)
