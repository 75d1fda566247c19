"""The sandbox's walls, one by one: metadata, privileges, symlinks, imports, cleanup.

Each test drives :class:`~minicomp.grading.sandbox.Worker` or
:func:`~minicomp.grading.run.run_exercise` directly (no CLI), so that it
says which wall holds; ``test_grading_adversarial.py`` grades the same
attacks end to end.
"""
import errno
import os
import pathlib
import re
import select
import signal
import stat
import sys
import time

import pytest

from minicomp.grading import landlock, roots, sandbox, seccomp
from minicomp.grading.case import load_cases, load_exercise
from minicomp.grading.grade import grade_student
from minicomp.grading.run import GraderFailure, run_exercise
from minicomp.grading.submission import SymlinkRefused, read_student_files, read_submission
from minicomp.grading.roots import PACKAGE_DIR
from minicomp.grading.sandbox import Limits, SandboxClosed, Worker

LIMITS = Limits(timeout=5)
ISOLATED = landlock.abi_version() >= 1 and seccomp.current_arch() is not None
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="needs Landlock and a known "
                                     "seccomp architecture")
FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, FS_NODUMP_FL = 0x40086602, 0x401C5820, 0x40


def start(source: str, **kw) -> Worker:
    worker = Worker({"exercise.py": source.encode()}, LIMITS, **kw)
    reply = worker.load(time.monotonic() + 20)
    assert reply["status"] == "ok", reply
    return worker


def call(worker, name, *args):
    return worker.call(name, args, {}, time.monotonic() + 20)


# --- metadata: mode, owner, times, extended attributes, inode flags ----------

ATTACK = '''
import ctypes, fcntl, os, struct

def attack(path):
    """Try every metadata change on path; {attempt: "ok" or the error}."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def syscall(*args):
        if libc.syscall(*args) < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    def attempt(name, f):
        try:
            f()
            out[name] = "ok"
        except OSError as e:
            out[name] = f"{type(e).__name__}: {e}"
    attempt("chmod", lambda: os.chmod(path, 0o777))
    attempt("fchmodat2", lambda: syscall(452, -100, path.encode(), 0o777, 0))
    attempt("chown", lambda: os.chown(path, 4242, 4242))
    attempt("chown_same", lambda: os.chown(path, -1, -1))     # still clears set-uid bits
    attempt("lchown", lambda: os.lchown(path, -1, 4242))
    attempt("utime_times", lambda: os.utime(path, (1, 1)))
    attempt("utime_now", lambda: os.utime(path, None))
    attempt("setxattr", lambda: os.setxattr(path, "user.evil", b"1"))
    attempt("removexattr", lambda: os.removexattr(path, "user.keep"))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        out["open"] = f"{type(e).__name__}: {e}"
        return out
    attempt("fchmod", lambda: os.fchmod(fd, 0o777))
    attempt("fchown", lambda: os.fchown(fd, 4242, 4242))
    attempt("futimens", lambda: os.utime(fd, (1, 1)))
    attempt("fsetxattr", lambda: os.setxattr(fd, "user.evil", b"1"))
    attempt("fremovexattr", lambda: os.removexattr(fd, "user.keep"))
    attempt("ioctl_setflags", lambda: fcntl.ioctl(fd, FLAGS, struct.pack("l", NODUMP)))
    attempt("ioctl_fssetxattr", lambda: fcntl.ioctl(fd, FSX, bytes(28)))
    attempt("io_uring_setup", lambda: syscall(425, 8, ctypes.create_string_buffer(120)))
    os.close(fd)
    return out
'''.replace("FLAGS", hex(FS_IOC_SETFLAGS)).replace("FSX", hex(FS_IOC_FSSETXATTR)) \
   .replace("NODUMP", hex(FS_NODUMP_FL))


def metadata(path) -> tuple:
    st = os.stat(path)
    try:
        xattrs = sorted((k, os.getxattr(path, k)) for k in os.listxattr(path))
    except OSError:
        xattrs = None
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, \
        xattrs


def has_user_xattrs(path) -> bool:
    """Set user.keep from the grader side; False when the filesystem has no xattrs."""
    try:
        os.setxattr(path, "user.keep", b"grader")
        return True
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise


@pytest.fixture
def targets(tmp_path):
    """A file outside every root (like tests.py) and one inside a read-only root."""
    outside = tmp_path / "hidden_tests.py"
    inside = pathlib.Path(PACKAGE_DIR) / f".sandbox-target-{os.getpid()}.txt"
    paths = [outside, inside]
    for p in paths:
        p.write_text("grader's file\n")
        os.chmod(p, 0o644)
        os.utime(p, ns=(10**18, 10**18))
    try:
        yield paths
    finally:
        inside.unlink(missing_ok=True)


@needs_isolation
def test_metadata_changes_outside_the_sandbox_are_refused(targets):
    xattrs = [has_user_xattrs(p) for p in targets]
    before = [metadata(p) for p in targets]
    worker = start(ATTACK)
    try:
        results = [call(worker, "attack", str(p)) for p in targets]
    finally:
        worker.close()
    for path, reply, xattr in zip(targets, results, xattrs):
        assert reply["status"] == "ok", reply
        tried = reply["value"]
        if not xattr:
            for key in ("setxattr", "removexattr", "fsetxattr", "fremovexattr"):
                tried.pop(key, None)
        assert "chmod" in tried and "utime_now" in tried
        changed = {k: v for k, v in tried.items() if v == "ok"}
        assert not changed, f"{path}: the student changed {sorted(changed)}"
    assert "fchmod" in results[1]["value"], "the file in a read-only root must be openable"
    assert "Operation not permitted" in results[1]["value"]["fchmod"]
    assert [metadata(p) for p in targets] == before


def test_the_metadata_attack_is_real_without_isolation(tmp_path):
    """Control: without the sandbox the same code does change a file it owns."""
    target = tmp_path / "victim.txt"
    target.write_text("x")
    os.chmod(target, 0o644)
    worker = Worker({"exercise.py": ATTACK.encode()}, Limits(timeout=5, isolate=False))
    try:
        assert worker.load(time.monotonic() + 20)["status"] == "ok"
        tried = call(worker, "attack", str(target))["value"]
    finally:
        worker.close()
    assert tried["chmod"] == "ok" and stat.S_IMODE(os.stat(target).st_mode) == 0o777


def test_seccomp_numbers_match_the_kernel_headers():
    headers = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
               "aarch64": "/usr/include/asm-generic/unistd.h"}
    checked = 0
    for arch, header in headers.items():
        if not os.path.exists(header):
            continue
        known = dict(re.findall(r"#define __NR_(\w+)\s+(\d+)", pathlib.Path(header).read_text()))
        table = seccomp.ARCHES[arch]
        for name, number in {**table.numbers, "ioctl": table.ioctl,
                             "seccomp": table.seccomp}.items():
            if name in known:         # older headers lack the newest calls
                assert int(known[name]) == number, (arch, name)
                checked += 1
        missing = [n for n in seccomp.DENIED if n in known and n not in table.numbers]
        assert not missing, (arch, missing)
    if not checked:
        pytest.skip("no kernel headers to compare with")


def test_seccomp_program_shape_and_unknown_architectures(monkeypatch):
    for arch in seccomp.ARCHES.values():
        prog = seccomp.program(arch)
        assert len(prog) < 256 and prog[-1] == (seccomp.RET_K, 0, 0, seccomp.RET_ALLOW)
        denied = {k for code, _, _, k in prog if code == seccomp.JEQ_K}
        assert set(arch.numbers.values()) <= denied
    assert "chmod" not in seccomp.ARCHES["aarch64"].numbers      # arm64 has fchmodat only
    monkeypatch.setattr(seccomp, "ARCHES", {})
    assert seccomp.install().startswith("no seccomp (architecture")


@needs_isolation
def test_sandbox_report_says_what_was_applied():
    worker = Worker({"exercise.py": b""}, LIMITS)
    try:
        report = worker.load(time.monotonic() + 20)["sandbox"]
    finally:
        worker.close()
    assert report["seccomp"].startswith("metadata changes, new processes and programs, "
                                        "sockets, keyrings and uncounted memory blocked")
    if os.geteuid() == 0:
        assert report["privileges"].startswith(("uid and gid nobody", "uid nobody (real, saved)"))


WALLS = '''
import ctypes, os, resource

def walls():
    """{attempt: the result or the errno}: memory past RLIMIT_AS, programs, writes, files."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def attempt(name, f):
        try:
            out[name] = f()
        except OSError as e:
            out[name] = e.errno

    def syscall(*args):
        return "made" if libc.syscall(*args) >= 0 else ctypes.get_errno()
    attempt("memfd_create", lambda: os.memfd_create("hoard"))
    attempt("memfd_secret", lambda: syscall(447, 0))
    attempt("shmget", lambda: "made" if libc.shmget(0, 1 << 20, 0o600) >= 0
            else ctypes.get_errno())
    attempt("execve", lambda: os.execv("/bin/true", ["true"]))
    attempt("write_own_folder", lambda: open("scratch.txt", "w").close())
    attempt("mkdir_own_folder", lambda: os.mkdir("d"))
    attempt("write_tmpdir", lambda: open(os.environ["TMPDIR"] + "/x", "w").close())
    attempt("dev_null", lambda: open("/dev/null", "w").write("ok"))
    attempt("read_own_file", lambda: len(open("exercise.py").read()) > 0)
    attempt("open_files", lambda: resource.getrlimit(resource.RLIMIT_NOFILE))
    return out
'''


@needs_isolation
def test_uncounted_memory_programs_and_writes_are_refused():
    """memfd (2.4 GB under a 1 GB limit), execve (clears PDEATHSIG), a full TMPDIR."""
    worker = start(WALLS)
    try:
        got = call(worker, "walls")["value"]
    finally:
        worker.close()
    eperm, eacces = errno.EPERM, errno.EACCES
    assert got["memfd_create"] == got["memfd_secret"] == got["execve"] == eperm, got
    assert got["shmget"] == eperm, got
    assert got["write_own_folder"] == got["mkdir_own_folder"] == got["write_tmpdir"] == eacces
    assert got["dev_null"] == 2 and got["read_own_file"] is True
    assert tuple(got["open_files"]) == (LIMITS.open_files,) * 2


def _in_child(fn) -> str:
    """Run fn() in a forked child (privileges cannot come back); its returned text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            text = fn()
        except BaseException as e:    # noqa: BLE001
            text = f"raised {e!r}"
        os.write(w, text.encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        return f.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_drop_privileges_full_or_partial(tmp_path):
    box, closed = tmp_path / "box", tmp_path / "closed"
    box.mkdir()
    (box / "exercise.py").write_text("")
    closed.mkdir(mode=0o700)

    def ids(must_read):
        said = landlock.drop_privileges(must_read, [str(box)])
        return f"{said}|{os.getresuid()}|{os.getresgid()}|{os.getgroups()}"
    full = _in_child(lambda: ids(["/usr"])).split("|")
    assert full[0].startswith("uid and gid nobody"), full
    assert full[1:] == ["(65534, 65534, 65534)", "(65534, 65534, 65534)", "[]"]
    assert os.stat(box).st_uid == os.stat(box / "exercise.py").st_uid == 65534
    partial = _in_child(lambda: ids([str(closed)])).split("|")
    assert f"nobody cannot read {closed}" in partial[0], partial
    assert partial[1:] == ["(65534, 0, 65534)", "(65534, 65534, 65534)", "[]"]


# --- symlinks, at any depth -------------------------------------------------------

def test_symlinks_are_refused_by_name_at_any_depth(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "exercise.py").write_text("def f(): return 1\n")
    student = tmp_path / "subs" / "alice"
    (student / "ex_ok").mkdir(parents=True)
    (student / "ex_ok" / "exercise.py").write_text("x = 1\n")
    (student / "ex_ok" / "tests.py").write_text("stolen = 1\n")
    (student / "ex_ok" / "notes").mkdir()
    os.mkfifo(student / "ex_ok" / "pipe")
    (student / "ex_dir").symlink_to(real)
    (student / "ex_file").mkdir()
    (student / "ex_file" / "exercise.py").symlink_to(real / "exercise.py")
    deep = student / "ex_deep" / "a" / "b"
    deep.mkdir(parents=True)
    (student / "ex_deep" / "exercise.py").write_text("x = 1\n")
    (deep / "sneaky").symlink_to("/etc/passwd")
    names = ["ex_ok", "ex_dir", "ex_file", "ex_deep", "ex_missing"]
    # one exercise folder at a time: each link named where it is (and no
    # tests.py, FIFO or subfolder read)
    assert read_student_files(student / "ex_ok") == {"exercise.py": b"x = 1\n"}
    assert read_student_files(student / "ex_dir") == SymlinkRefused("ex_dir")
    assert read_student_files(student / "ex_file") == SymlinkRefused("ex_file/exercise.py")
    assert read_student_files(student / "ex_deep") == SymlinkRefused("ex_deep/a/b/sneaky")
    assert read_student_files(student / "ex_missing") is None
    # a whole submission holding a link anywhere is refused (EXERCISES.md, rule 7),
    # naming the first link found, relative to the student folder
    got = read_submission(student, names)
    assert got == {n: SymlinkRefused("ex_deep/a/b/sneaky") for n in names}
    clean = tmp_path / "subs" / "carol"
    (clean / "ex_ok").mkdir(parents=True)
    (clean / "ex_ok" / "exercise.py").write_text("x = 1\n")
    assert read_submission(clean, ["ex_ok", "ex_missing"]) == {
        "ex_ok": {"exercise.py": b"x = 1\n"}, "ex_missing": None}
    (clean / "stray").symlink_to(real)            # beside the exercises: still refused
    assert read_submission(clean, ["ex_ok"]) == {"ex_ok": SymlinkRefused("stray")}
    linked = tmp_path / "subs" / "bob"
    linked.symlink_to(student)
    assert read_submission(linked, names) == {n: SymlinkRefused("bob") for n in names}


def _tests_py(tmp_path, body="", header="") -> pathlib.Path:
    path = tmp_path / "tests.py"
    path.write_text("from minicomp.grading import case\n" + header + "\n"
                    "@case\ndef first(ex):\n    assert ex.f() == 1\n\n"
                    "@case(hidden=True)\ndef second(ex):\n    assert ex.f() == 1\n\n"
                    "@case\ndef third(ex):\n    assert ex.f() == 1\n" + body)
    return path


def test_a_refused_symlink_scores_zero_on_every_case(tmp_path):
    cases = load_cases(_tests_py(tmp_path))
    result = run_exercise("01_x", cases, SymlinkRefused("01_x/exercise.py"), LIMITS)
    assert [c.status for c in result.cases] == ["symlink"] * 3 and result.score == 0
    assert "'01_x/exercise.py' is a symbolic link" in result.cases[0].feedback


def test_a_load_failure_is_said_once_then_pointed_to(tmp_path):
    cases = load_cases(_tests_py(tmp_path))
    result = run_exercise("01_x", cases, {"exercise.py": b"def f(:\n"}, LIMITS)
    assert [c.status for c in result.cases] == ["syntax_error"] * 3
    first, hidden, third = result.cases
    assert "SyntaxError" in first.message and "SyntaxError" in first.feedback
    assert third.message == "see case 'first': your file has a syntax error"
    assert "SyntaxError" not in third.feedback and "SyntaxError" not in hidden.feedback


# --- forbidden imports ---------------------------------------------------------

def test_forbidden_imports_are_declared_and_validated(tmp_path):
    cases, config = load_exercise(_tests_py(tmp_path, header="FORBIDDEN_IMPORTS = ('minicomp',)"))
    assert config.forbidden_imports == {"minicomp": "write it in plain NumPy"}
    assert all(c.forbidden_imports == (("minicomp", "write it in plain NumPy"),) for c in cases)
    with pytest.raises(TypeError, match="FORBIDDEN_IMPORTS"):
        load_exercise(_tests_py(tmp_path, header="FORBIDDEN_IMPORTS = 'minicomp'"))
    with pytest.raises(ValueError, match="no dots"):
        load_exercise(_tests_py(tmp_path, header="FORBIDDEN_IMPORTS = ('minicomp.nn',)"))


@needs_isolation
def test_forbidden_imports_are_enforced_in_the_sandbox(tmp_path):
    header = "FORBIDDEN_IMPORTS = {'minicomp': 'write it in plain NumPy'}"
    cases = load_cases(_tests_py(tmp_path, header=header))
    result = run_exercise("02_x", cases, {"exercise.py": b"import minicomp\n"}, LIMITS)
    assert [c.status for c in result.cases] == ["error"] * 3
    assert "exercise 02_x forbids importing minicomp: write it in plain NumPy" \
        in result.cases[0].feedback
    ways = ('def f():\n    import importlib, sys\n    out = [sys.modules.get("minicomp")]\n'
            '    for how in (lambda: __import__("minicomp.nn"),\n'
            '                lambda: importlib.import_module("minicomp.grading"),\n'
            f'                lambda: open({os.path.join(PACKAGE_DIR, "nn.py")!r}).read()):\n'
            '        try:\n            out.append(str(how())[:40])\n'
            '        except (ImportError, OSError) as e:\n'
            '            out.append(type(e).__name__)\n    return out\n')
    worker = start(ways, forbid={"minicomp": "write it in plain NumPy"}, exercise="02_x")
    try:
        got = call(worker, "f")["value"]
    finally:
        worker.close()
    assert got == [None, "ModuleNotFoundError", "ModuleNotFoundError", "PermissionError"]
    allowed = start("import minicomp\ndef f():\n    return minicomp.Tensor.__name__\n")
    try:
        assert call(allowed, "f")["value"] == "Tensor"      # no FORBIDDEN_IMPORTS: allowed
    finally:
        allowed.close()


# --- cleanup ---------------------------------------------------------------------

def test_close_all_kills_live_workers_and_removes_their_folders():
    slow = ("import os, time\nprint('started', flush=True)\ntry:\n"
            "    if os.fork() == 0:\n        time.sleep(60)\nexcept OSError:\n"
            "    pass\ntime.sleep(60)\n")     # the student writes no file: it says so on stdout
    worker = Worker({"exercise.py": slow.encode()}, LIMITS)
    pgid, tmp = worker.proc.pid, worker.tmp
    deadline, said = time.monotonic() + 20, b""
    while b"started" not in said and time.monotonic() < deadline:
        if select.select([worker.proc.stdout.fileno()], [], [], 0.1)[0]:
            said += os.read(worker.proc.stdout.fileno(), 100)
    assert b"started" in said
    assert sandbox.close_all() >= 1
    assert not os.path.exists(tmp)
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    worker.close()                     # the owner's own close still works
    assert worker not in sandbox._LIVE


def test_worker_removes_its_folder_when_the_start_fails(monkeypatch):
    made = []
    real_mkdtemp = sandbox.tempfile.mkdtemp

    def mkdtemp(**kw):
        made.append(real_mkdtemp(**kw))
        return made[-1]

    def broken(*a, **kw):
        raise OSError(errno.EAGAIN, "no more processes")
    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(sandbox.subprocess, "Popen", broken)
    with pytest.raises(OSError, match="no more processes"):
        Worker({"exercise.py": b""}, LIMITS)
    assert made and not os.path.exists(made[0]) and not sandbox._LIVE


def test_close_all_can_refuse_new_workers(monkeypatch):
    monkeypatch.setattr(sandbox, "_REFUSING", [False])
    sandbox.close_all(refuse_new=True)
    with pytest.raises(SandboxClosed):
        Worker({"exercise.py": b""}, LIMITS)


# --- a grader that cannot start a sandbox -----------------------------------------

def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["mkdtemp", "Popen"])
def test_a_grader_failure_is_never_the_students(tmp_path, monkeypatch, where):
    """A full disk (or no process) gives "autograder failed", not a failed case."""
    cases = load_cases(_tests_py(tmp_path))
    swallowing = tmp_path / "swallow"
    swallowing.mkdir()
    (swallowing / "tests.py").write_text(
        "from minicomp.grading import case\n\n@case\ndef swallows(ex):\n"
        "    try:\n        ex.f()\n    except Exception:\n        pass\n")
    student = tmp_path / "subs" / "alice" / "01_x"
    student.mkdir(parents=True)
    (student / "exercise.py").write_text("def f():\n    return 1\n")
    monkeypatch.setattr(sandbox.tempfile if where == "mkdtemp" else sandbox.subprocess,
                        where, _no_space)
    files = {"exercise.py": b"def f():\n    return 1\n"}
    with pytest.raises(GraderFailure, match="No space left on device"):
        run_exercise("01_x", cases, files, LIMITS)
    with pytest.raises(GraderFailure):                 # caught by the test: still raised
        run_exercise("01_x", load_cases(swallowing / "tests.py"), files, LIMITS)
    result = grade_student("alice", tmp_path / "subs" / "alice", {"01_x": cases}, LIMITS)
    assert result.error.startswith("autograder failed: GraderFailure: could not start a "
                                   "sandbox: OSError: [Errno 28]"), result.error
    assert result.score == 0 and result.exercises == []
    assert not sandbox._LIVE


def test_run_exercise_runs_the_public_or_the_hidden_cases_alone(tmp_path):
    cases = load_cases(_tests_py(tmp_path))
    files = {"exercise.py": b"def f():\n    return 1\n"}

    def names(**kw):
        result = run_exercise("01_x", cases, files, LIMITS, **kw)
        assert all(c.status == "passed" for c in result.cases)
        return [c.name for c in result.cases]
    assert names(which="public") == ["first", "third"]
    assert names(which="hidden") == ["second"]
    assert names() == names(which="all") == ["first", "second", "third"]
    with pytest.raises(ValueError, match="which='secret'"):
        run_exercise("01_x", cases, files, LIMITS, which="secret")


# --- forbidden packages, in every package folder ----------------------------------

FORBID = ("minicomp", "torch", "scipy", "sklearn")


def _under(path, readable) -> list:
    real = os.path.realpath(path)
    return [r for r in readable if real == r or real.startswith(r.rstrip("/") + "/")]


def _package_folders(root):
    """site-packages / dist-packages beneath root, by os.walk (not the code under test)."""
    for folder, dirs, _ in os.walk(root):
        yield from (os.path.join(folder, d) for d in dirs
                    if d in ("site-packages", "dist-packages"))
        if folder[len(root):].count(os.sep) >= roots.MAX_DEPTH:
            dirs[:] = []


def test_forbidden_packages_are_unreadable_in_every_package_folder():
    """The red team's scipy was in sys.base_prefix's site-packages, a readable root."""
    folders = {f for r in roots.read_only_roots() for f in _package_folders(r)}
    folders |= {p for p in sys.path if os.path.isdir(p)}
    readable = roots.read_only_roots(FORBID)
    holding = [os.path.join(f, e) for f in sorted(folders) for e in os.listdir(f)
               if e.partition(".")[0] in FORBID]
    assert holding, "no forbidden package installed: nothing to hide"
    for path in holding:
        assert not _under(path, readable), f"{path} is readable beneath {_under(path, readable)}"
    for path in (sys.executable, os.__file__, sys.modules["numpy"].__file__):
        assert _under(path, readable), path         # what the worker needs stays


def test_package_folders_are_searched_where_installations_put_them(tmp_path):
    prefix, extra = tmp_path / "prefix", tmp_path / "elsewhere"
    places = ["lib/python3.11/site-packages", "lib/python3/dist-packages",
              "local/lib/python3.12/dist-packages", "lib64/python3.11/site-packages",
              "lib/google-sdk/platform/bundled/lib/python3.12/site-packages"]
    for place in places:
        (prefix / place / "scipy").mkdir(parents=True)
    first = prefix / places[0]
    for name in ("scipy.libs", "scipy-1.17.dist-info", "torchgen", "numpy"):
        (first / name).mkdir()
    (first / "_scipy_ext.pth").write_text(f"# a comment\nimport os\n{extra}\n")
    (extra / "torch").mkdir(parents=True)
    (first / "torch.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    hidden = roots.hidden_paths({"scipy", "torch"}, [str(prefix)])
    expected = {str((prefix / p / "scipy").resolve()) for p in places}
    expected |= {str((first / "scipy.libs").resolve()), str((extra / "torch").resolve()),
                 str((first / "torch.cpython-311-x86_64-linux-gnu.so").resolve())}
    assert expected <= hidden, sorted(expected - hidden)
    assert not any(h.endswith(("dist-info", "torchgen", "numpy")) for h in hidden)
