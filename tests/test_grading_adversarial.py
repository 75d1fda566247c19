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
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import types

import pytest

from minicomp.grading import grade as grade_module
from minicomp.grading import run as run_module
from minicomp.grading.case import CaseResult
from minicomp.grading.landlock import abi_version
from minicomp.grading.report import results_json

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
SOURCE = (EXERCISES / "01_autograd" / "exercise.py").read_text()
RELU_SOLUTION = "    return grad_out * (x > 0)\n"
RELU_CASES = ("relu_backward_small", "relu_backward_random")
LANDLOCK = abi_version() >= 4
SIGNAL_SCOPE = abi_version() >= 6
# student_id -> what is a link; every one scores 0 with the status "symlink"
LINKS = {"symlink_to_tests": "01_autograd/exercise.py",
         "symlinked_exercise_folder": "01_autograd",
         "nested_symlink": "01_autograd/lib/data",
         "symlinked_student_folder": "symlinked_student_folder"}


def symlink_not_gradable(sid):
    """Why the CLI cannot grade this link case yet (another module's change), or None."""
    fake = types.SimpleNamespace(exercises=[types.SimpleNamespace(exercise="e", cases=[
        CaseResult("c", "symlink", 0.0, 1.0, False)])], error="", score=0.0, seconds=0.0)
    try:
        results_json(fake, "header")
    except KeyError:
        return "report.py does not render the status 'symlink' yet"
    if sid == "symlinked_student_folder" and \
            grade_module.read_submission is not run_module.read_submission:
        return "grade.py does not read submissions with run.read_submission yet"
    return None


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
    skipped = {sid: symlink_not_gradable(sid) for sid in LINKS}
    for sid in (sid for sid, why in skipped.items() if why is None):
        make_link_submission(subs, sid, exercises, tmp / "elsewhere")
        table[sid] = (None, "symlink", 0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "minicomp", "grade", str(subs), "--exercises", str(exercises),
         "--out", str(out / "grades.csv"), "--gradescope", str(out / "gs"), "--jobs", "2",
         "--timeout", "2", "--memory", "768", "--quiet"],
        check=False, capture_output=True, text=True, env=env, timeout=240)
    server.close()
    after = [file_metadata(p) for p in targets]
    targets[1].unlink()
    return {"proc": proc, "out": out, "table": table, "connections": connections,
            "skipped": skipped, "metadata": (before, after)}


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
    else:                                                     # nested_symlink
        (folder / "exercise.py").write_text(solution_source())
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
    if sid in LINKS and graded["skipped"][sid]:
        pytest.skip(graded["skipped"][sid])
    _, relu_status, total = graded["table"][sid]
    if sid in ("reads_hidden_tests", "network", "writes_reports") and not LANDLOCK:
        pytest.skip("needs Landlock ABI >= 4")
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
    if graded["skipped"][sid]:
        pytest.skip(graded["skipped"][sid])
    doc = results(graded, sid)
    shown = next(t["output"] for t in doc["tests"] if t["name"].endswith("relu_backward_small"))
    assert shown.startswith("[symlink]") and f"'{LINKS[sid]}' is a symbolic link" in shown, shown


def test_the_metadata_attack_changed_nothing(graded):
    before, after = graded["metadata"]
    assert after == before
