"""Adversarial submissions, each graded through the real ``minicomp grade`` CLI.

Every submission is the reference solution of ``exercises/01_autograd``
with the body of ``relu_backward`` replaced by an attack (or the whole
file broken). ``relu_backward`` is called by exactly two cases worth 1
point each, so an attack must cost those 2 points -- with the right
status -- and nothing else: the honest score is 8/10, and the grader
must finish and write every report. Submissions holding a symbolic link
(a file, the exercise folder, something nested, the student folder) score
0 with the status ``symlink``; an attack on file metadata changes nothing.
"""
import csv
import glob
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from minicomp.grading.landlock import abi_version
from minicomp.grading.seccomp import current_arch

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
SOURCE = (EXERCISES / "01_autograd" / "exercise.py").read_text()
RELU_SOLUTION = "    return grad_out * (x > 0)\n"
RELU_CASES = ("relu_backward_small", "relu_backward_random")
LANDLOCK = abi_version() >= 4
# package folders outside the grader's environment that hold a forbidden package
# (a red team imported scipy from sys.base_prefix's site-packages)
OTHER_SCIPY = sorted(d for pattern in (sys.base_prefix + "/lib/python3*/site-packages",
                                       "/usr/lib/python3/dist-packages",
                                       "/usr/local/lib/python3*/dist-packages",
                                       "/usr/lib/python3*/site-packages")
                     for d in glob.glob(pattern) if os.path.isdir(os.path.join(d, "scipy")))
SIGNAL_SCOPE = abi_version() >= 6
# student_id -> what is a link; every one scores 0 with the status "symlink"
# student id -> (the path named in the refusal, what it is said to be)
IPC_KEY = 0x5254A1C0                   # a SysV key only the sysv_ipc attack uses
LINKS = {"symlink_to_tests": ("01_autograd/exercise.py", "is a symbolic link"),
         "symlinked_exercise_folder": ("01_autograd", "is a symbolic link"),
         "nested_symlink": ("01_autograd/lib/data", "is a symbolic link"),
         "symlinked_student_folder": ("symlinked_student_folder", "is a symbolic link"),
         "symlink_beside_exercises": ("notes", "is a symbolic link"),
         "hardlink_to_solution": ("01_autograd/exercise.py",
                                  "is a hard link to one of the instructor's files"),
         "link_past_the_scan_depth": ("01_autograd/d", "holds folders nested more than 32 "
                                                       "levels deep")}


def metadata_attack(targets) -> str:
    """relu_backward that tries to change the targets' metadata; honest only if all fail."""
    return with_relu_body(
        "import fcntl, os, struct\nchanged = []\n"
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    tries = [lambda: os.chmod(path, 0o777), lambda: os.chown(path, -1, -1),\n"
        "             lambda: os.utime(path, (1, 1)), lambda: os.utime(path, None),\n"
        "             lambda: os.setxattr(path, 'user.evil', b'1')]\n"
        "    try:\n        fd = os.open(path, os.O_RDONLY)\n"
        "        tries += [lambda: os.fchmod(fd, 0o777), lambda: os.utime(fd, (1, 1)),\n"
        "                  lambda: fcntl.ioctl(fd, 0x40086602, struct.pack('l', 0x40))]\n"
        "    except OSError:\n        pass\n"
        "    for attempt in tries:\n        try:\n            attempt()\n"
        "            changed.append(path)\n        except OSError:\n            pass\n"
        "return x * 0 if changed else grad_out * (x > 0)")


def file_metadata(path):
    st = os.stat(path)
    try:
        xattrs = sorted(os.listxattr(path))
    except OSError:
        xattrs = None
    return st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, xattrs


def solution_source() -> str:
    """The reference solution without its markers: what a perfect student hands in."""
    return "".join(line for line in SOURCE.splitlines(keepends=True)
                   if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def with_relu_body(body: str, prelude: str = "") -> str:
    """The perfect submission with relu_backward's body replaced by ``body``."""
    src = solution_source()
    assert RELU_SOLUTION in src
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return prelude + src.replace(RELU_SOLUTION, indented)


def attacks(out_dir, port, exercises=EXERCISES, targets=()):
    """student_id -> (source, expected relu status, expected total score)."""
    tests_py = exercises / "01_autograd" / "tests.py"
    table = {
        # mode, owner, times, xattrs, inode flags: all refused, so the honest answer stands
        "metadata": (metadata_attack(targets), "passed", 10),
        "infinite_loop": (with_relu_body("while True:\n    pass"), "timeout", 8),
        "memory_bomb": (with_relu_body(
            "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))"),
            ("error", "crashed", "timeout"), 8),        # MemoryError, or slow on a busy box
        "fork_bomb": (with_relu_body(
            "import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass"), "timeout", 8),
        "os_exit": (with_relu_body("import os\nos._exit(0)"), "crashed", 8),
        "sys_exit": (with_relu_body("import sys\nsys.exit(0)"), "error", 8),
        "prints_passed": (with_relu_body(
            "print('passed'); print('public tests passed: 3/3')\n"
            "import sys; sys.stderr.write('[passed]\\n')\nreturn x * 0"), "failed", 8),
        "forged_reply": (with_relu_body(
            # minicomp is a forbidden import here: forge the frame by hand
            # (8-byte length, 4-byte JSON length, the JSON of a dict, no arrays)
            "import json, os, struct, sys\n"
            "rep = json.loads(sys.argv[2])['fds'][1]\n"
            "doc = json.dumps({'$dict': [['id', 999], ['status', 'ok'], "
            "['value', 1]]}).encode()\n"
            "body = struct.pack('>I', len(doc)) + doc\n"
            "os.write(rep, struct.pack('>Q', len(body)) + body)\n"
            "while True:\n    pass"), "crashed", 8),
        "always_equal": (with_relu_body(
            "class Yes:\n    def __eq__(self, other): return True\n"
            "    def __array__(self, *a, **k): raise TypeError\nreturn Yes()"), "failed", 8),
        "patches_numpy_testing": (with_relu_body("return x * 0", prelude=(
            "import numpy.testing\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\n"
            "numpy.testing.assert_array_equal = lambda *a, **k: None\n")), "failed", 8),
        # patching builtins breaks the student's own process for every case
        "patches_builtins": (with_relu_body("return x * 0", prelude=(
            "import builtins\nbuiltins.isinstance = lambda *a: True\n"
            "builtins.AssertionError = Exception\n")), "crashed", 0),
        "ndarray_subclass": (with_relu_body(
            "import numpy as np\nclass Sure(np.ndarray):\n"
            "    def __eq__(self, other): return True\n"
            "    def __ne__(self, other): return False\n"
            "return np.zeros_like(x).view(Sure)"), "failed", 8),
        "reads_hidden_tests": (with_relu_body(f"return open({str(tests_py)!r}).read()"),
                               "error", 8),
        "network": (with_relu_body(
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "return grad_out * (x > 0)"), "error", 8),
        "writes_reports": (with_relu_body(
            "import json, os\n"
            "json.dump({'score': 100}, open('results.json', 'w'))\n"
            f"open({str(out_dir / 'grades.csv')!r}, 'w').write('writes_reports,10,10,10')\n"
            "return grad_out * (x > 0)"), "error", 8),
        # the grader and every other process are out of reach: the honest answer stands
        "kills_grader": (with_relu_body(
            "import os, signal\nfor target in (os.getppid(), -1):\n    try:\n"
            "        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\n"
            "return grad_out * (x > 0)"), "passed", 10),
        "syntax_error": (solution_source().replace("def relu_backward(x, grad_out):",
                                                   "def relu_backward(x, grad_out)"),
                         "syntax_error", 0),
        "missing_function": (solution_source().replace("def relu_backward(", "def relu_bw("),
                             "missing", 8),
        "loops_at_import": (with_relu_body("return x", prelude="while True:\n    pass\n"),
                            "timeout", 0),
        "floods_stdout": (with_relu_body(
            "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n"
            "return grad_out * (x > 0)"), "passed", 10),
        # found by a red team: leave the process group, then stall until killed
        "setsid_survivor": (with_relu_body(
            "import os, time\ntry:\n    os.setsid()\nexcept OSError:\n    pass\n"
            "time.sleep(600)"), "timeout", 8),
        # SysV IPC that would outlive the sandbox (and carry hidden inputs to another case,
        # or hold memory RLIMIT_AS does not count): refused, shmget returns -1
        "sysv_ipc": (with_relu_body(
            "import ctypes\nlibc = ctypes.CDLL(None)\n"
            f"libc.shmget({IPC_KEY}, 4096, 0o1666)\nreturn grad_out * (x > 0)"), "passed", 10),
        # the grader's session keyring: read it, plant a key
        "keyring": (with_relu_body(
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.syscall(248, b'user', b'planted_by_student', b'x', 1, -3) > 0:\n"
            "    return grad_out * (x > 0)\nraise PermissionError(ctypes.get_errno())"),
            "error", 8),
        # any socket (a root-only UNIX socket, AF_VSOCK): refused before it exists
        "unix_socket": (with_relu_body(
            "import socket\nsocket.socket(socket.AF_UNIX)\nreturn grad_out * (x > 0)"),
            "error", 8),
        # the forbidden torch, after removing the import guard: its files are unreadable
        "forbidden_import_bypass": (with_relu_body(
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path\n"
            "                    if type(f).__name__ != 'ForbiddenImports']\n"
            "import torch\nreturn grad_out * (x > 0)"), "error", 8),
        # an autograd found in the garbage collector: the engine was never loaded
        "engine_from_gc": (with_relu_body(
            "import gc, types\n"
            "mods = [o for o in gc.get_objects() if isinstance(o, types.ModuleType)\n"
            "        and o.__name__ in ('minicomp.nn', 'minicomp.tensor')]\n"
            "if not mods:\n    raise LookupError('no engine')\nreturn grad_out * (x > 0)"),
            "error", 8),
        # a tree too deep for a recursive rmtree: its own folder is read-only, so the
        # file fails at import (PermissionError)
        "deep_tree": (with_relu_body("return grad_out * (x > 0)", prelude=(
            "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n")),
            "error", 0),
        # a full disk zeroed the next students (the grader could not make their folders):
        # the student writes nothing, not even in its own folder
        "fills_disk": (with_relu_body(
            "import os\nwith open(os.path.join(os.environ['TMPDIR'], 'filler'), 'wb') as f:\n"
            "    f.write(b'x' * 2**24)\nreturn grad_out * (x > 0)"), "error", 8),
        "writes_own_folder": (with_relu_body(
            "open('notes.txt', 'w').write('hello')\nreturn grad_out * (x > 0)"), "error", 8),
        # files in RAM are not counted by RLIMIT_AS (a red team held 2.4 GB under 1 GB;
        # 1 GB here, past the 768 MB limit of the fixture)
        "memfd_hoard": (with_relu_body(
            "import os\nfds = []\nfor _ in range(64):\n"
            "    fds.append(os.memfd_create('hoard'))\n"
            "    os.write(fds[-1], b'x' * 2**24)\nreturn grad_out * (x > 0)"), "error", 8),
        # a new program would clear the parent-death signal
        "execs_a_program": (with_relu_body(
            "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'pass'])"),
            "error", 8),
        "hoards_file_descriptors": (with_relu_body(
            "fds = [open('/dev/null') for _ in range(1000)]\nreturn grad_out * (x > 0)"),
            "error", 8),
        # the red team's scipy: no import guard, another package folder first on sys.path
        "forbidden_import_other_folder": (with_relu_body(
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path\n"
            "                    if type(f).__name__ != 'ForbiddenImports']\n"
            f"sys.path[:0] = {OTHER_SCIPY!r}\nsys.path_importer_cache.clear()\n"
            "import scipy\nreturn grad_out * (x > 0)"), "error", 8),
    }
    if not SIGNAL_SCOPE:              # without signal scoping it could kill the grader
        del table["kills_grader"]
    return table


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every attack (plus the reference) once, through the CLI."""
    tmp = tmp_path_factory.mktemp("adversarial")
    subs, out, exercises = tmp / "subs", tmp / "out", tmp / "exercises"
    shutil.copytree(EXERCISES / "01_autograd", exercises / "01_autograd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    connections = []

    def accept():
        while server.fileno() != -1:
            try:
                connections.append(server.accept())
            except OSError:
                pass
    threading.Thread(target=accept, daemon=True).start()
    targets = [tmp / "outside.txt", REPO / "minicomp" / f".adversarial-{os.getpid()}.txt"]
    for path in targets:                     # outside every root, and in a read-only root
        path.write_text("the grader's\n")
        try:
            os.setxattr(path, "user.keep", b"1")
        except OSError:
            pass
    before = [file_metadata(p) for p in targets]
    table = attacks(out, server.getsockname()[1], exercises, targets)
    table["reference"] = (solution_source(), "passed", 10)
    for sid, (source, _, _) in table.items():
        folder = subs / sid / "01_autograd"
        folder.mkdir(parents=True)
        (folder / "exercise.py").write_text(source)
    for sid in LINKS:
        make_link_submission(subs, sid, exercises, tmp / "elsewhere")
        table[sid] = (None, "symlink", 0)
    sandbox_tmp = tmp / "tmpdir"                # where the sandbox folders are made
    sandbox_tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(sandbox_tmp)}
    proc = subprocess.run(
        [sys.executable, "-m", "minicomp", "grade", str(subs), "--exercises", str(exercises),
         "--out", str(out / "grades.csv"), "--gradescope", str(out / "gs"), "--jobs", "2",
         "--timeout", "2", "--memory", "768", "--quiet"],
        check=False, capture_output=True, text=True, env=env, timeout=240)
    server.close()
    after = [file_metadata(p) for p in targets]
    targets[1].unlink()
    return {"proc": proc, "out": out, "table": table, "connections": connections,
            "metadata": (before, after), "sandbox_tmp": sandbox_tmp}


def make_link_submission(subs, sid, exercises, elsewhere):
    """One of LINKS: a perfect or instructor's exercise reached through a link."""
    perfect = elsewhere / sid / "01_autograd"
    perfect.mkdir(parents=True)
    (perfect / "exercise.py").write_text(solution_source())
    folder = subs / sid / "01_autograd"
    if sid == "symlinked_student_folder":
        (subs / sid).symlink_to(elsewhere / sid)
        return
    if sid == "symlinked_exercise_folder":
        (subs / sid).mkdir()
        folder.symlink_to(exercises / "01_autograd")          # the instructor's own
        return
    folder.mkdir(parents=True)
    if sid == "symlink_to_tests":
        (folder / "exercise.py").symlink_to(exercises / "01_autograd" / "tests.py")
        return
    if sid == "hardlink_to_solution":     # an archive's hard link to the instructor's copy
        os.link(exercises / "01_autograd" / "exercise.py", folder / "exercise.py")
        return
    (folder / "exercise.py").write_text(solution_source())
    if sid == "symlink_beside_exercises":                     # not an exercise: still refused
        (subs / sid / "notes").symlink_to(exercises)
    elif sid == "link_past_the_scan_depth":                   # too deep to be searched
        deep = folder.joinpath(*["d"] * 40)
        deep.mkdir(parents=True)
        (deep / "link").symlink_to(exercises / "01_autograd" / "tests.py")
    else:                                                     # nested_symlink
        (folder / "lib").mkdir()
        (folder / "lib" / "data").symlink_to(exercises / "01_autograd" / "tests.py")


def results(graded, sid):
    return json.loads((graded["out"] / "gs" / sid / "results.json").read_text())


def test_grader_finishes_and_writes_every_report(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    assert [r["student_id"] for r in rows] == sorted(graded["table"])
    for sid in graded["table"]:
        assert (graded["out"] / "feedback" / f"{sid}.txt").is_file()
        assert results(graded, sid)["tests"]


@pytest.mark.parametrize("sid", sorted(attacks(pathlib.Path("/x"), 1)) + ["reference"]
                         + sorted(LINKS))
def test_attack_gets_only_its_honest_points(graded, sid):
    _, relu_status, total = graded["table"][sid]
    if sid in ("reads_hidden_tests", "network", "writes_reports", "deep_tree", "fills_disk",
               "writes_own_folder") and not LANDLOCK:
        pytest.skip("needs Landlock ABI >= 4")
    if sid in ("memfd_hoard", "execs_a_program") and current_arch() is None:
        pytest.skip("needs a seccomp filter (a known architecture)")
    if sid == "forbidden_import_other_folder" and not OTHER_SCIPY:
        pytest.skip("scipy is installed in no package folder but the grader's own")
    doc = results(graded, sid)
    assert doc["score"] == total, json.dumps(doc, indent=1)[:3000]
    row = next(r for r in csv.DictReader((graded["out"] / "grades.csv").open())
               if r["student_id"] == sid)
    assert float(row["raw_score"]) == total and float(row["max_score"]) == 10
    for test in doc["tests"]:
        case = test["name"].split(": ", 1)[1]
        if case in RELU_CASES or total == 0:
            statuses = relu_status if isinstance(relu_status, tuple) else (relu_status,)
            assert test["output"].startswith(tuple(f"[{x}]" for x in statuses)), \
                (case, test["output"])
            assert test["score"] == (test["max_score"] if relu_status == "passed" else 0)
        else:
            assert test["status"] == "passed", (case, test["output"])


def test_hidden_tests_never_leak(graded):
    hidden_code = ("default_rng(1)", "numerical_grad(", "x[0, 0] = x[2, 1] = 0.0")
    for path in graded["out"].rglob("*"):
        if path.is_file():
            text = path.read_text()
            for secret in hidden_code:
                assert secret not in text, f"{secret!r} leaked into {path}"
    for test in results(graded, "reference")["tests"]:
        if "random" in test["name"] or "large_logits" in test["name"]:
            assert test["visibility"] == "after_published"


@pytest.mark.skipif(not LANDLOCK, reason="needs Landlock ABI >= 4")
def test_sandbox_denials_are_the_reason(graded):
    def relu_output(sid):
        return next(t["output"] for t in results(graded, sid)["tests"]
                    if t["name"].endswith("relu_backward_small"))
    assert "PermissionError" in relu_output("reads_hidden_tests")
    assert re.search(r"PermissionError|OSError|unreachable", relu_output("network"))
    assert graded["connections"] == []
    assert "not plain data" in relu_output("always_equal")
    assert "ndarray subclass" in relu_output("ndarray_subclass")
    assert "Landlock ABI" in results(graded, "reference")["output"]


@pytest.mark.parametrize("sid", sorted(LINKS))
def test_a_symlink_is_refused_by_name(graded, sid):
    doc = results(graded, sid)
    shown = next(t["output"] for t in doc["tests"] if t["name"].endswith("relu_backward_small"))
    path, what = LINKS[sid]
    assert shown.startswith("[symlink]") and f"'{path}' {what}" in shown, shown


def test_the_metadata_attack_changed_nothing(graded):
    before, after = graded["metadata"]
    assert after == before


def test_nothing_outlives_the_grading(graded):
    """No student process, sandbox folder, SysV object or planted key survives."""
    assert graded["proc"].returncode == 0
    assert list(graded["sandbox_tmp"].iterdir()) == []
    workers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"minicomp.grading.worker" in cmdline and str(graded["sandbox_tmp"]).encode() \
                in pathlib.Path(f"/proc/{pid}/environ").read_bytes():
            workers.append(pid)
    assert workers == []
    if os.path.exists("/proc/sysvipc/shm"):
        keys = [int(line.split()[0]) for line in
                pathlib.Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
        assert IPC_KEY not in keys
    if os.path.exists("/proc/keys"):
        assert "planted_by_student" not in pathlib.Path("/proc/keys").read_text()


def _workers_of(sandbox_tmp) -> list:
    """Live (not zombie) sandbox processes whose TMPDIR lies in sandbox_tmp."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
        except (OSError, IndexError):
            continue
        if state != "Z" and b"minicomp.grading.worker" in cmdline \
                and f"TMPDIR={sandbox_tmp}/".encode() in environ:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_student_processes_die_with_the_grader(tmp_path, signum):
    """A grader killed outright (or its terminal closed) leaves no student process behind."""
    folder = tmp_path / "subs" / "sleeper" / "01_autograd"
    folder.mkdir(parents=True)
    (folder / "exercise.py").write_text("import time\ntime.sleep(600)\n")
    sandbox_tmp = tmp_path / "tmpdir"
    sandbox_tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(sandbox_tmp)}
    grader = subprocess.Popen(
        [sys.executable, "-m", "minicomp", "grade", str(tmp_path / "subs"), "--exercises",
         str(EXERCISES / "01_autograd"), "--out", str(tmp_path / "out" / "grades.csv"),
         "--timeout", "60", "--quiet"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and grader.poll() is None:
            workers = [pid for pid in _workers_of(sandbox_tmp) if b"sleep(600)" in next(
                (p.read_bytes() for p in sandbox_tmp.glob("*/exercise.py")), b"")]
            if workers:
                break
            time.sleep(0.1)
        assert workers, grader.stderr.read().decode()[-2000:] if grader.poll() else "no worker"
        time.sleep(1.0)                # into the PID namespace, down to time.sleep
        workers = _workers_of(sandbox_tmp)
        os.kill(grader.pid, signum)
        code = grader.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _workers_of(sandbox_tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _workers_of(sandbox_tmp) == [], f"{len(workers)} started, survivors left"
        if signum == signal.SIGHUP:    # handled like SIGINT / SIGTERM: cleaned up, 128 + 1
            assert code == 129 and list(sandbox_tmp.iterdir()) == []
            assert "interrupted by SIGHUP" in grader.stderr.read().decode()
        else:
            assert code == -signal.SIGKILL
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait()
        grader.stderr.close()
        for pid in _workers_of(sandbox_tmp):           # only the ones this test started
            os.kill(pid, signal.SIGKILL)
