"""Adversarial submissions, each graded through the real ``minicomp grade`` CLI.

Every submission is the reference solution of ``exercises/01_autograd``
with the body of ``relu_backward`` replaced by an attack (or the whole
file broken). ``relu_backward`` is called by exactly two cases worth 1
point each, so an attack must cost those 2 points -- with the right
status -- and nothing else: the honest score is 8/10, and the grader
must finish and write every report.
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

import pytest

from minicomp.grading.landlock import abi_version

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
SOURCE = (EXERCISES / "01_autograd" / "exercise.py").read_text()
RELU_SOLUTION = "    return grad_out * (x > 0)\n"
RELU_CASES = ("relu_backward_small", "relu_backward_random")
LANDLOCK = abi_version() >= 4
SIGNAL_SCOPE = abi_version() >= 6


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


def attacks(out_dir, port, exercises=EXERCISES):
    """student_id -> (source, expected relu status, expected total score)."""
    tests_py = exercises / "01_autograd" / "tests.py"
    table = {
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
            "import json, os, sys\nfrom minicomp.grading import protocol\n"
            "rep = json.loads(sys.argv[2])['fds'][1]\n"
            "protocol.write_frame(rep, protocol.encode({'id': 999, 'status': 'ok', "
            "'value': grad_out * (x > 0)}))\nwhile True:\n    pass"), "crashed", 8),
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
    table = attacks(out, server.getsockname()[1], exercises)
    table["reference"] = (solution_source(), "passed", 10)
    for sid, (source, _, _) in table.items():
        folder = subs / sid / "01_autograd"
        folder.mkdir(parents=True)
        (folder / "exercise.py").write_text(source)
    link = subs / "symlink_to_tests" / "01_autograd"
    link.mkdir(parents=True)
    (link / "exercise.py").symlink_to(exercises / "01_autograd" / "tests.py")
    table["symlink_to_tests"] = (None, "missing", 0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "minicomp", "grade", str(subs), "--exercises", str(exercises),
         "--out", str(out / "grades.csv"), "--gradescope", str(out / "gs"), "--jobs", "2",
         "--timeout", "2", "--memory", "768", "--quiet"],
        check=False, capture_output=True, text=True, env=env, timeout=240)
    server.close()
    return {"proc": proc, "out": out, "table": table, "connections": connections}


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


@pytest.mark.parametrize("sid", sorted(attacks(pathlib.Path("/x"), 1)) + [
    "reference", "symlink_to_tests"])
def test_attack_gets_only_its_honest_points(graded, sid):
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
