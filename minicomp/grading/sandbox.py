"""One sandboxed student process: start it, call into it, kill it.

A :class:`Worker` is a fresh ``python -I`` subprocess (isolated mode: no
``PYTHON*`` variables, no user site, no current directory on the path) in
its own session and process group, started in a new temporary directory
that holds only the student's files (which it may read, never write). It
runs :mod:`.worker`, which ties its life to the grader's, gives up root
and drops into namespaces, rlimits, Landlock (:mod:`.landlock`) and a
seccomp filter (:mod:`.seccomp`) before loading the student's code.
Requests and replies travel over two dedicated pipes; the student's stdout
and stderr are two other pipes, drained while waiting and kept up to
:attr:`Limits.output_bytes` each. Every wait has a wall-clock
deadline; past it, the whole process group gets ``SIGKILL``.

Every live worker is registered: :func:`close_all` (thread-safe, also run
at interpreter exit, meant for the grader's ``SIGINT``/``SIGTERM``/``SIGHUP``
handlers) kills them all and removes their temporary directories, so no
copy of a student's code is left behind by an interrupted grade.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

from . import protocol
from .roots import PACKAGE_DIR, read_only_roots
from .tree import remove_tree

# Start the worker without running minicomp/__init__.py: the student process then
# holds only the grading modules it needs (protocol, worker, landlock, seccomp),
# never the engine (a student must not find an autograd in the garbage collector).
BOOT = ("import sys, types\n"
        "for name in ('minicomp', 'minicomp.grading'):\n"
        "    m = types.ModuleType(name)\n"
        "    m.__path__ = [sys.argv[1] + '/' + name.replace('.', '/')]\n"
        "    sys.modules[name] = m\n"
        "from minicomp.grading.worker import main\nmain(sys.argv[2])")


@dataclasses.dataclass
class Limits:
    """Resource limits of one student process (all enforced by the kernel)."""

    timeout: float = 10.0              # wall-clock seconds per call
    submission_timeout: float = 120.0  # wall-clock seconds per exercise of a submission
    memory_mb: int = 1024              # address space (RLIMIT_AS)
    fsize_mb: int = 16                 # largest file it may write (RLIMIT_FSIZE)
    nproc: int = 16                    # processes + threads (RLIMIT_NPROC)
    open_files: int = 256              # file descriptors (RLIMIT_NOFILE)
    output_bytes: int = 65536          # stdout / stderr kept, each
    max_message_mb: int = 64           # largest reply accepted
    isolate: bool = True               # namespaces, Landlock, seccomp when the kernel has them

    @property
    def load_timeout(self) -> float:
        """Seconds to start Python + NumPy and run the file's top level (>= 10)."""
        return max(self.timeout, 10.0)

    def __post_init__(self):
        for key in ("timeout", "submission_timeout", "memory_mb", "fsize_mb", "nproc",
                    "open_files"):
            value = getattr(self, key)
            if not value > 0:
                raise ValueError(f"{key} must be > 0, got {value!r}")


_LIVE: set = set()                     # every Worker not yet closed
_LIVE_LOCK = threading.RLock()         # reentrant: a signal handler may interrupt its holder
_REFUSING = [False]                    # set by close_all(refuse_new=True)


def close_all(refuse_new: bool = False) -> int:
    """Kill every live worker's process group, remove its temporary directory.

    Thread-safe and idempotent; returns how many workers were stopped.
    Their pipes are left to each one's :meth:`Worker.close` (another thread
    may be reading them). With ``refuse_new``, every later :class:`Worker`
    raises :class:`SandboxClosed`: the grader is shutting down.
    """
    with _LIVE_LOCK:
        _REFUSING[0] = _REFUSING[0] or refuse_new
        workers = list(_LIVE)
    for worker in workers:
        worker.kill()
        worker.remove_tmp()
    return len(workers)


atexit.register(close_all)


class SandboxClosed(BaseException):
    """No new student process may start: :func:`close_all` refused new workers.

    A ``BaseException`` (like ``KeyboardInterrupt``): a grader shutting down
    must not turn it into one more failed case or a partial grade.
    """


class WorkerTimeout(Exception):
    """The student process did not answer before the deadline (it was killed)."""


class WorkerCrashed(Exception):
    """The student process died or broke the protocol; the message says how."""


class Worker:
    """A started student process serving calls into ``files['exercise.py']``.

    Parameters
    ----------
    files : dict of str to bytes
        The student's files, written into a fresh temporary directory.
    limits : Limits
    forbid : dict of str to str, optional
        Top-level packages the student may not import, each with the
        reason shown (see :class:`.worker.ForbiddenImports`). When it
        names ``minicomp``, minicomp's folder is not readable either.
    exercise : str
        The exercise's name, for those messages.

    Raises
    ------
    SandboxClosed
        After ``close_all(refuse_new=True)``.
    OSError
        The grader could not start it: no room for its folder or files,
        no process (:class:`.run.Session` calls that a grader failure).

    Notes
    -----
    The process gets ``SIGKILL`` when the thread that created this
    Worker exits (``PR_SET_PDEATHSIG``), and so when the grader dies,
    however: create, use and close a Worker in one thread.
    """

    def __init__(self, files: dict, limits: Limits, forbid: dict | None = None,
                 exercise: str = "this exercise"):
        self.limits, self.proc = limits, None
        with _LIVE_LOCK:
            if _REFUSING[0]:
                raise SandboxClosed("the grader is shutting down: no new student process")
            self.tmp = tempfile.mkdtemp(prefix="minicomp-sandbox-")
            _LIVE.add(self)
        try:
            self._start(files, limits, dict(forbid or {}), exercise)
        except BaseException:
            self.close()
            raise

    def _start(self, files: dict, limits: Limits, forbid: dict, exercise: str) -> None:
        for name, data in files.items():
            with open(os.path.join(self.tmp, name), "wb") as f:
                f.write(data)
        roots = read_only_roots(forbid)   # forbidden packages: unreadable, not only unimportable
        self.out, self.err = bytearray(), bytearray()
        self.out_total = self.err_total = 0
        self._next_id = 0
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        cfg = {"fds": [req_r, rep_w], "tmp": self.tmp, "isolate": limits.isolate,
               "file": os.path.join(self.tmp, "exercise.py"), "root": os.path.dirname(PACKAGE_DIR),
               "read_only": roots, "max_message": 1 << 26, "forbid": forbid,
               "exercise": exercise, "grader": os.getpid(),
               "limits": {"memory": limits.memory_mb << 20, "fsize": limits.fsize_mb << 20,
                          "nproc": limits.nproc, "nofile": limits.open_files,
                          "cpu": int(limits.submission_timeout + limits.timeout) + 2}}
        env = {"PATH": "/usr/bin:/bin", "HOME": self.tmp, "TMPDIR": self.tmp,
               "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "NUMBA_CACHE_DIR":
               os.path.join(self.tmp, ".numba"), **{k: "1" for k in (
                   "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")}}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", BOOT, cfg["root"], json.dumps(cfg)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(req_r, rep_w), cwd=self.tmp, env=env, start_new_session=True)
        finally:
            os.close(req_r)
            os.close(rep_w)
        for fd in (self._req_w, self._rep_r, self.proc.stdout.fileno(),
                   self.proc.stderr.fileno()):
            os.set_blocking(fd, False)

    def load(self, deadline: float) -> dict:
        """Wait for the student's file to load: ``{"status", "message", "sandbox"}``."""
        reply = self._exchange(b"", deadline)
        reply["sandbox"] = json.loads(reply.get("sandbox") or "{}")
        return reply

    def call(self, name: str, args: tuple, kwargs: dict, deadline: float) -> dict:
        """Send one call, return the worker's reply (see :mod:`.worker`)."""
        self._next_id += 1
        payload = protocol.encode({"id": self._next_id, "name": name,
                                   "args": list(args), "kwargs": dict(kwargs)})
        reply = self._exchange(payload, deadline)
        if reply.get("id") != self._next_id:
            self.kill()
            raise WorkerCrashed("the student process sent a reply out of turn")
        return reply

    def _exchange(self, payload: bytes, deadline: float) -> dict:
        pending = memoryview(struct.pack(">Q", len(payload)) + payload if payload else b"")
        buf, limit = bytearray(), self.limits.max_message_mb << 20
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._rep_r, selectors.EVENT_READ)
            for f in (self.proc.stdout, self.proc.stderr):
                if not f.closed:
                    sel.register(f.fileno(), selectors.EVENT_READ)
            if pending:
                sel.register(self._req_w, selectors.EVENT_WRITE)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise WorkerTimeout()
                for key, _ in sel.select(min(remaining, 1.0)):
                    fd = key.fd
                    if fd == self._req_w:
                        try:
                            pending = pending[os.write(fd, pending[:1 << 16]):]
                        except BrokenPipeError:
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(fd)
                    elif fd == self._rep_r:
                        chunk = os.read(fd, 1 << 20)
                        if not chunk:
                            raise WorkerCrashed(self._death())
                        buf += chunk
                        if len(buf) >= 8:
                            (n,) = struct.unpack_from(">Q", buf)
                            if n > limit:
                                self.kill()
                                raise WorkerCrashed(f"a reply of {n} bytes exceeds "
                                                    f"{self.limits.max_message_mb} MB")
                            if len(buf) >= 8 + n:
                                return self._decode(bytes(buf[8:8 + n]))
                    else:
                        self._drain(fd, sel)
        finally:
            sel.close()

    def _decode(self, frame: bytes) -> dict:
        try:
            reply = protocol.decode(frame)
        except protocol.NotPlainData as e:
            self.kill()
            raise WorkerCrashed(f"the student process sent a malformed reply ({e})") from None
        if type(reply) is not dict or "status" not in reply:
            self.kill()
            raise WorkerCrashed("the student process sent a malformed reply")
        return reply

    def _drain(self, fd: int, sel) -> None:
        is_out = fd == self.proc.stdout.fileno()
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            sel.unregister(fd)
            return
        kept = self.out if is_out else self.err
        room = self.limits.output_bytes - len(kept)
        if room > 0:
            kept += chunk[:room]
        if is_out:
            self.out_total += len(chunk)
        else:
            self.err_total += len(chunk)

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        if code is None:
            return "the student process closed its reply channel"
        if code < 0:
            name = signal.Signals(-code).name
            why = {"SIGKILL": " (killed: memory or process limit?)",
                   "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)",
                   "SIGSEGV": " (segmentation fault)"}.get(name, "")
            return f"the student process was killed by {name}{why}"
        return f"the student process exited with code {code} (os._exit or exit?)"

    def kill(self) -> None:
        """Kill the whole process group (idempotent) and reap the worker."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def remove_tmp(self) -> None:
        """Remove the temporary directory (again, if a dying process still wrote to it)."""
        for _ in range(10):
            try:
                remove_tree(self.tmp)             # any depth, no link followed
            except OSError:
                pass
            if not os.path.lexists(self.tmp):
                return
            time.sleep(0.05)

    def close(self) -> None:
        """Kill the process group, close the pipes, remove the temporary directory."""
        self.kill()
        for fd in (getattr(self, "_req_w", None), getattr(self, "_rep_r", None)):
            try:
                os.close(fd)
            except (OSError, TypeError):
                pass
        if self.proc is not None:
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()
        self.remove_tmp()
        with _LIVE_LOCK:
            _LIVE.discard(self)
