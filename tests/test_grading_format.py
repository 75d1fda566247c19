"""The grading format: protocol, @case, release, reports, and the CLI verbs on real exercises."""
import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicomp.cli import main
from minicomp.grading import case, load_cases
from minicomp.grading.protocol import NotPlainData, decode, encode
from minicomp.grading.release import (
    build_release,
    release,
    strip_hidden,
    strip_solutions,
)
from minicomp.grading.report import results_json
from minicomp.grading.sandbox import Limits

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "minicomp", *map(str, args)],
                          check=False, capture_output=True, text=True, env=ENV, timeout=120, **kw)


# --- protocol ---------------------------------------------------------------

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | hnp.arrays(st.sampled_from([np.float32, np.float64, np.int8, np.uint16, np.bool_]),
                 hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=60, deadline=None)
@given(plain)
def test_protocol_round_trip_keeps_types_dtypes_shapes(value):
    assert same(decode(encode(value)), value)


def test_protocol_special_values_and_numpy_scalars():
    value = (float("nan"), float("-inf"), 1 + 2j, np.float32(1.5), {3: "a"})
    back = decode(encode(value))
    assert np.isnan(back[0]) and back[1] == float("-inf") and back[2] == 1 + 2j
    assert type(back[3]) is np.float32 and back[3] == 1.5 and back[4] == {3: "a"}


@pytest.mark.parametrize("bad, reason", [
    (object(), "not plain data"),
    (np.array(["a"]), "not numeric"),
    (np.array([object()], dtype=object), "not numeric"),
    (np.zeros(2).view(np.matrix), "ndarray subclass"),
    ((int,), "builtins.type is not plain data"),
    ({(1, 2): 3}, "dict key"),
])
def test_protocol_refuses_non_plain_data_with_a_reason(bad, reason):
    with pytest.raises(NotPlainData, match=reason):
        encode(bad)


def test_protocol_refuses_deep_nesting_and_malformed_bytes():
    deep = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(NotPlainData, match="deeper"):
        encode(deep)
    with pytest.raises(NotPlainData, match="malformed"):
        decode(b"\x00\x00\x00\x05{bad}")
    pickled = encode(np.zeros(2))[:-4]             # a truncated array blob
    with pytest.raises(NotPlainData):
        decode(pickled)


# --- @case --------------------------------------------------------------------

def test_case_decorator_keys_and_validation():
    @case(points=3, hidden=True, name="shown", success_message="yes", failure_message="no")
    def some_case(ex):
        pass
    assert (some_case.name, some_case.points, some_case.hidden) == ("shown", 3.0, True)
    assert (some_case.success_message, some_case.failure_message) == ("yes", "no")
    with pytest.raises(ValueError, match="points"):
        case(points=-1)
    with pytest.raises(TypeError, match="hidden"):
        case(hidden="yes")


def test_load_cases_refuses_duplicates(tmp_path):
    (tmp_path / "tests.py").write_text(
        "from minicomp.grading import case\n"
        "@case(name='a')\ndef one(ex): pass\n@case(name='a')\ndef two(ex): pass\n")
    with pytest.raises(ValueError, match="duplicate"):
        load_cases(tmp_path / "tests.py")


# --- release ------------------------------------------------------------------

def test_strip_hidden_drops_blocks_and_hidden_cases():
    src = ("@case(points=1)\ndef a(ex):\n    pass\n\n"
           "@case(points=2, hidden=True)\ndef b(ex):\n    pass\n\n"
           "### BEGIN HIDDEN TESTS\nSECRET = 42\n### END HIDDEN TESTS\n")
    out = strip_hidden(src)
    assert "def a(ex)" in out and "def b" not in out and "SECRET" not in out


MINIMAL_TESTS = "from minicomp.grading import case\n\n\n@case\ndef c(ex):\n    ex.f(1)\n"


@pytest.mark.parametrize("broken", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_release_refuses_unbalanced_markers_and_writes_nothing(tmp_path, broken):
    src = tmp_path / "src" / "01_x"
    src.mkdir(parents=True)
    (src / "tests.py").write_text(MINIMAL_TESTS)       # an exercise folder has its tests
    (src / "exercise.py").write_text("def f(x):\n" + "".join(
        f"    {line}\n" for line in broken.splitlines()) + "    return x\n")
    proc = cli("release", tmp_path / "src", tmp_path / "out")
    assert proc.returncode == 2 and "exercise.py:" in proc.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError):
        strip_solutions(broken)


def test_release_refuses_when_a_solution_line_would_survive(tmp_path):
    src = tmp_path / "src" / "01_x"
    src.mkdir(parents=True)
    (src / "tests.py").write_text(MINIMAL_TESTS)
    (src / "exercise.py").write_text("def f(x):\n    ### BEGIN SOLUTION\n"
                                     "    return x * 12345\n    ### END SOLUTION\n")
    (src / "README.md").write_text("Hint: return x * 12345\n")
    with pytest.raises(ValueError, match="would survive"):
        release(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_release_of_the_real_exercises_has_no_secrets(tmp_path):
    proc = cli("release", EXERCISES, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    for path in (tmp_path / "out").rglob("*.py"):
        assert "BEGIN SOLUTION" not in path.read_text()
    released_tests = (tmp_path / "out" / "01_autograd" / "tests.py").read_text()
    assert "hidden=True" not in released_tests and "default_rng" not in released_tests
    assert [c.hidden for c in load_cases(tmp_path / "out" / "01_autograd" / "tests.py")] \
        == [False, False, False]
    stub = (tmp_path / "out" / "01_autograd" / "exercise.py").read_text()
    assert stub.count("raise NotImplementedError") == 3
    assert "grad_out @ B.T" not in stub
    assert set(build_release(EXERCISES)) == {
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()}


# --- validate, check, grade on the real exercises -----------------------------------

def test_validate_reference_solutions_score_full_marks():
    assert main(["validate", str(EXERCISES)]) == 0


def test_validate_invert_released_stubs_score_zero():
    assert main(["validate", str(EXERCISES), "--invert"]) == 0


def test_validate_one_exercise_folder(capsys):
    assert main(["validate", str(EXERCISES / "01_autograd"), "--invert"]) == 0
    out = capsys.readouterr().out
    assert "01_autograd: 0/" in out
    assert all(name not in out for name in ("02_importance", "03_quantization"))


def test_check_counts_public_tests_only(tmp_path, capsys):
    release(EXERCISES, tmp_path / "rel")
    assert main(["check", str(tmp_path / "rel" / "01_autograd")]) == 1
    out = capsys.readouterr().out
    assert "public tests passed: 0/3" in out and "all tests passed" not in out
    assert "NotImplementedError" in out
    # the instructor's copy (still holding SOLUTION markers) is refused, not run
    assert main(["check", str(EXERCISES / "01_autograd" / "exercise.py")]) == 2
    assert "instructor's copy" in capsys.readouterr().err


def test_grading_is_deterministic_and_reports_follow_the_schema(tmp_path):
    rel = tmp_path / "rel"
    release(EXERCISES, rel)
    subs = tmp_path / "subs"
    for sid, src in (("a", EXERCISES / "01_autograd"), ("b", rel / "01_autograd")):
        (subs / sid / "01_autograd").mkdir(parents=True)
        (subs / sid / "01_autograd" / "exercise.py").write_bytes((src / "exercise.py").read_bytes())
    runs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        assert main(["grade", str(subs), "--exercises", str(EXERCISES), "--out",
                     str(out / "grades.csv"), "--gradescope", str(out / "gs"), "--jobs", "2",
                     "--quiet"]) == 0
        runs.append(list(csv.DictReader((out / "grades.csv").open())))
    assert runs[0] == runs[1]
    assert runs[0][0]["01_autograd"] == "10" and runs[0][1]["01_autograd"] == "0"
    assert runs[0][0]["student_id"] == "a" and "raw_score" in runs[0][0]
    doc = json.loads((tmp_path / "out0" / "gs" / "a" / "results.json").read_text())
    assert set(doc) == {"score", "execution_time", "output", "visibility", "tests"}
    for test in doc["tests"]:
        assert set(test) == {"score", "max_score", "status", "name", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published")
    feedback = (tmp_path / "out0" / "feedback" / "b.txt").read_text().splitlines()
    rows = [line.split() for line in feedback if line.startswith("  ") and "/" in line
            and not line.startswith("      ")]
    public = [r[0] for r in rows if r[-1] != "(hidden)"]
    hidden = [r[0] for r in rows if r[-1] == "(hidden)"]
    assert public.count("error") >= 3 and hidden.count("error") >= 4   # the stubs raise


def test_missing_exercise_folder_and_no_isolation_are_reported(tmp_path):
    (tmp_path / "subs" / "nobody_home").mkdir(parents=True)
    out = tmp_path / "out"
    assert main(["grade", str(tmp_path / "subs"), "--exercises", str(EXERCISES), "--out",
                 str(out / "g.csv"), "--gradescope", str(out / "gs"), "--no-isolation",
                 "--quiet"]) == 0
    doc = json.loads((out / "gs" / "nobody_home" / "results.json").read_text())
    assert doc["score"] == 0 and "isolation switched OFF" in doc["output"]
    assert all(t["output"].startswith("[missing]") for t in doc["tests"])


@pytest.mark.parametrize("sid", ["=1+1", " =1+1", "  +cmd", "-2", "@SUM(A1)", "\u3000=1"])
def test_csv_cells_never_start_a_formula_even_after_spaces(sid):
    from minicomp.grading.grade import StudentResult
    from minicomp.grading.report import csv_cell, csv_text
    rows = list(csv.reader(csv_text([StudentResult(sid, [], 1.0)], ["=ex"]).splitlines()))
    assert rows[0][-1] == "'=ex" and rows[1][0] == "'" + sid
    assert csv_cell("alice") == "alice" and csv_cell("a=1") == "a=1"
    assert csv_cell("\t=1") == "'\t=1" and csv_cell("\r=1") == "'\r=1"


def test_grader_internal_error_gives_autograder_failed_not_a_pass(tmp_path, monkeypatch):
    from minicomp.grading import grade as grade_module
    from minicomp.grading import phases
    subs = tmp_path / "subs" / "s1" / "01_autograd"
    subs.mkdir(parents=True)
    (subs / "exercise.py").write_bytes((EXERCISES / "01_autograd" / "exercise.py").read_bytes())

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(phases, "run_exercise", broken)        # where grade() calls it
    summary = grade_module.grade(tmp_path / "subs", EXERCISES, tmp_path / "g.csv",
                                 gradescope=tmp_path / "gs", progress=False,
                                 limits=Limits(timeout=5))
    (student,) = summary["students"]
    assert student.score == 0 and "autograder failed" in student.error
    doc = results_json(student, summary["header"])
    assert doc["score"] == 0 and doc["tests"][-1]["name"] == "Autograder failed"
    assert "raw_score" in (tmp_path / "g.csv").read_text()


def test_bench_grade_times_synthetic_submissions():
    from minicomp.bench.grade import format_table, time_grading
    row = time_grading(["01_autograd"], 8)
    # 8 students cycle reference x4, stub x2, syntax error, missing: 7 cases each
    assert row["submissions"] == 8 and row["cases"] == 56 and row["wall_s"] > 0
    assert "01_autograd" in format_table([row])


def test_worker_caps_student_output_and_keeps_the_reply_channel_apart():
    import time

    from minicomp.grading.sandbox import Worker
    source = (b"import sys\n"
              b"def shout(n):\n"
              b"    sys.stdout.write('passed\\n' * n)\n"
              b"    sys.stderr.write('e' * 8 * n)\n"
              b"    return n\n")
    worker = Worker({"exercise.py": source}, Limits(timeout=5))
    try:
        assert worker.load(time.monotonic() + 10)["status"] == "ok"
        reply = worker.call("shout", (2**17,), {}, time.monotonic() + 10)
        # 7 * 2**17 bytes to stdout and 2**20 to stderr, far beyond a pipe's 64 KiB
        # buffer: at least 64 KiB were drained from each, and only 64 KiB are kept
        assert reply == {"id": 1, "status": "ok", "value": 2**17}
        assert len(worker.out) == 65536 and worker.out_total > 65536
        assert len(worker.err) == 65536 and worker.err_total > 65536
        assert bytes(worker.out[:14]) == b"passed\npassed\n"
    finally:
        worker.close()
    with pytest.raises(ValueError, match="timeout"):
        Limits(timeout=0)


def test_results_json_shows_only_the_public_phase_time():
    """A hidden case could encode its inputs in how long it takes: never shown."""
    from minicomp.grading.phases import StudentResult
    from minicomp.grading.report import results_json
    student = StudentResult("s", [], 0.0, seconds=61.5, public_seconds=1.25)
    assert results_json(student, "header")["execution_time"] == 1.25
