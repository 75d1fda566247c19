"""The code that runs inside the sandbox: load the student's file, serve calls.

Started by :mod:`minicomp.grading.sandbox` as ``python -I -c BOOT root
config``. In order, before any student code runs: tie its life to the
grader's (:func:`_tie_to_grader`), import NumPy, give up root
(:func:`.landlock.drop_privileges`), enter new user/network/PID
namespaces (forking so that the rest runs as process 1 of the PID
namespace), lower the resource limits (open files too), apply Landlock
(read-only everywhere, its own folder included: the student writes
nothing but ``/dev/null``, so it cannot fill the grader's disk), install
the seccomp filter (:mod:`.seccomp`), take the repository off ``sys.path``,
``chdir`` into the temporary directory and block the imports the exercise
forbids (:class:`ForbiddenImports`). Then it executes the student's file
as module ``exercise`` and answers
requests ``{"id", "name", "args", "kwargs"}`` read from one pipe with
replies on another (never stdout, which belongs to the student):

    {"id": k, "status": "ok", "value": plain}
    {"id": k, "status": "error" | "missing" | "invalid", "message": str}

A process forked by the student never replies (its pid differs).
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import sys
import traceback
import types

from . import protocol

LIMITS = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU,
          "fsize": resource.RLIMIT_FSIZE, "nproc": resource.RLIMIT_NPROC,
          "nofile": resource.RLIMIT_NOFILE}
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _tie_to_grader(grader_pid) -> None:
    """Die (``SIGKILL``) when the grader does; exit now if it already died.

    Set first thing, and again after the privilege drop (a change of the
    effective uid or gid clears the parent-death signal). The signal
    fires when the *thread* that started this process exits: the grader
    starts each worker from the thread that then uses and closes it (its
    main thread for ``check``, ``validate`` and the probe; for ``grade``, a
    thread of the pool of ``phases.grade_class``, whose threads all live
    until both phases of the whole class are graded), so it never fires
    early. The check after ``prctl`` covers a grader that died before it:
    this process was then handed to another parent.
    """
    if grader_pid is None or not sys.platform.startswith("linux"):
        return
    _die_with_parent()
    if os.getppid() != grader_pid:
        os._exit(1)


def _set_limits(limits: dict, own_user_count: bool) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, which in LIMITS.items():
        if key not in limits:
            continue
        value = int(limits[key])
        if key == "nproc" and not own_user_count:
            if not os.path.isdir("/proc"):
                continue                      # cannot count what is running: no limit
            value += _tasks_of_my_user()      # shared count: add what is running
        hard = value + 1 if key == "cpu" else value
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:   # a hard limit can only be lowered
            value, hard = min(value, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (value, hard))


def _tasks_of_my_user() -> int:
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return count


def _must_read(cfg: dict) -> list:
    """What Python may still open after the privilege drop (see drop_privileges)."""
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return [*cfg["read_only"], *(p for p in sys.path if os.path.isdir(p)),
            *sorted({f for f in files if isinstance(f, str)})]


def _sandbox(cfg: dict) -> dict:
    from . import landlock, seccomp
    report = {"namespaces": "off", "privileges": "unchanged (isolation off)",
              "seccomp": "off", "landlock": {"abi": 0, "filesystem": False,
                                             "network": False, "signals": False}}
    if cfg["isolate"]:
        report["privileges"] = landlock.drop_privileges(_must_read(cfg), [cfg["tmp"]])
        report["namespaces"] = landlock.unshare_namespaces()
        _tie_to_grader(cfg.get("grader"))    # again: the uid change cleared it
        if "PID" in report["namespaces"]:
            _become_pid_one(cfg["fds"])
    _set_limits(cfg["limits"], report["namespaces"].startswith("user"))
    if cfg["isolate"]:
        report["landlock"] = landlock.restrict([*cfg["read_only"], cfg["tmp"]], [],
                                               ["/dev/null"])
        report["seccomp"] = seccomp.install()   # last: it refuses execve, prctl(PDEATHSIG)
    return report


class ForbiddenImports:
    """A ``sys.meta_path`` finder refusing the top-level packages an exercise forbids.

    Installed first in ``sys.meta_path`` after the forbidden modules were
    taken out of ``sys.modules``, so ``import``, ``__import__``,
    ``importlib.import_module`` and ``sys.modules[...]`` all miss them,
    with a message that says why. This is the explanation, not the wall:
    the wall is that the forbidden packages' files are not among the
    sandbox's readable roots (:mod:`.roots`), so code that removes this
    finder still cannot load them, and the worker never loaded minicomp's
    engine, so the garbage collector holds none of it.
    """

    def __init__(self, exercise: str, reasons: dict):
        self.exercise, self.reasons = exercise, dict(reasons)

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.reasons:
            raise ModuleNotFoundError(f"exercise {self.exercise} forbids importing {top}: "
                                      f"{self.reasons[top]}", name=fullname)
        return None

    def install(self) -> None:
        for name in list(sys.modules):
            if name.partition(".")[0] in self.reasons:
                del sys.modules[name]
        sys.meta_path.insert(0, self)


def _become_pid_one(fds) -> None:
    """Fork: the child (process 1 of the new PID namespace) goes on; this waits.

    The waiting parent stays in the worker's process group, so the
    grader's ``killpg`` reaches it and process 1 (which cannot leave the
    group: :mod:`.seccomp` refuses ``setsid``); the kernel then kills the
    rest of the namespace. Process 1 also dies with its parent
    (``PR_SET_PDEATHSIG``, which the filter then forbids to undo), and
    exits at once if the parent died before that (its end of a pipe is
    closed: ``getppid`` says 0 across the namespace). The parent exits
    the way its child did.
    """
    alive_r, alive_w = os.pipe()       # the parent holds alive_w until it dies
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _die_with_parent()
        if select.select([alive_r], [], [], 0)[0]:
            os._exit(1)               # end of file: the parent is gone
        os.close(alive_r)
        return
    os.close(alive_r)
    for fd in (*fds, 0, 1, 2):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _describe_exception(e: BaseException, filename: str) -> str:
    try:
        head = f"{type(e).__name__}: {e}"
    except BaseException:             # noqa: BLE001 -- a student __str__ that raises
        head = type(e).__name__
    if isinstance(e, SystemExit):
        head += " (the code called sys.exit)"
    try:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == filename]
        where = "".join(traceback.format_list(frames[-5:]))
        where = where.replace(os.path.dirname(filename) + os.sep, "")
    except BaseException:             # noqa: BLE001 -- never fail while reporting
        where = ""
    return (head[:2000] + ("\n" + where[-2000:] if where else "")).rstrip()


def _load(path: str):
    """Execute the student's file as a fresh module; (module, status, message)."""
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
    except (SyntaxError, ValueError) as e:
        return None, "syntax_error", f"{type(e).__name__}: {e}"
    module = types.ModuleType("exercise")
    module.__file__ = path
    sys.modules["exercise"] = module
    try:
        exec(code, module.__dict__)   # noqa: S102 -- in the sandbox, after Landlock
    except BaseException as e:        # noqa: BLE001 -- anything the student raises
        return None, "error", "loading your file raised " + _describe_exception(e, path)
    return module, "ok", ""


def _serve(module, path: str, req: int, rep: int, limit: int, main_pid: int,
           encode=protocol.encode, decode=protocol.decode,
           write_frame=protocol.write_frame, read_frame=protocol.read_frame) -> None:
    while True:
        frame = read_frame(req, limit)
        if frame is None:
            return
        request = decode(frame)
        reply = {"id": request["id"], "status": "ok"}
        fn = getattr(module, request["name"], None)
        if fn is None:
            reply.update(status="missing", message=f"your file defines no {request['name']!r}")
        elif not callable(fn):
            reply.update(status="error", message=f"{request['name']!r} is not a function")
        else:
            try:
                value = fn(*request["args"], **request["kwargs"])
            except BaseException as e:  # noqa: BLE001
                reply.update(status="error", message=_describe_exception(e, path))
            else:
                try:
                    encode(value)     # validate first: the reason names the value
                    reply["value"] = value
                except protocol.NotPlainData as e:
                    reply.update(status="invalid", message=f"returned {e}")
                except BaseException as e:  # noqa: BLE001 -- e.g. a MemoryError
                    reply.update(status="invalid", message="returned a value that "
                                 f"cannot be sent: {type(e).__name__}")
        if os.getpid() != main_pid:
            os._exit(0)               # a child the student forked: never replies
        payload = encode(reply)
        write_frame(rep, payload)


def main(config_json: str) -> None:
    """Entry point inside the sandbox (see the module docstring)."""
    cfg = json.loads(config_json)
    _tie_to_grader(cfg.get("grader"))  # before anything else: no orphan student process
    req, rep = cfg["fds"]
    try:
        report = _sandbox(cfg)
    except OSError as e:
        protocol.write_frame(rep, protocol.encode({"status": "sandbox_failed",
                                                   "message": f"{e}"}))
        return
    main_pid = os.getpid()            # after the fork into the PID namespace
    root = cfg["root"]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != root]
    sys.path_importer_cache.pop(root, None)
    os.chdir(cfg["tmp"])
    for name in [n for n in sys.modules if n == "minicomp" or n.startswith("minicomp.")]:
        del sys.modules[name]         # the boot's stubs: the student's import is a fresh one
    if cfg.get("forbid"):
        ForbiddenImports(cfg.get("exercise", "this exercise"), cfg["forbid"]).install()
    module, status, message = _load(cfg["file"])
    if os.getpid() != main_pid:
        os._exit(0)
    protocol.write_frame(rep, protocol.encode(
        {"status": status, "message": message, "sandbox": json.dumps(report)}))
    if module is not None:
        _serve(module, cfg["file"], req, rep, cfg["max_message"], main_pid)
