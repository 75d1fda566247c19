"""Smoke tests of ``minicomp bench kernels`` on a tiny grid (speed is never asserted)."""
from __future__ import annotations

import json

import pytest

import minicomp.bench.kernels as bench
import minicomp.bench.record as record
import minicomp.bench.timing as timing
from minicomp.cli import main
from minicomp.kernels import dispatch as D


@pytest.fixture
def tiny_grid(monkeypatch):
    monkeypatch.setattr(bench, "QUICK", {"shapes": ((40, 30),), "batches": (1, 8),
                                         "sparsities": (0.5, 0.99)})
    monkeypatch.setattr(timing, "settle", lambda: True)     # no wait for quiet threads
    real_run = bench.run
    monkeypatch.setattr(bench, "run", lambda quick: real_run(quick, int8=False,
                                                             compile_check=False))


def test_rows_ratios_and_table(tiny_grid):
    rows = bench.run(quick=True)
    sparse = [r for r in rows if r["bench"] == "sparse"]
    assert [(r["batch"], r["sparsity"]) for r in sparse] == [(1, 0.5), (1, 0.99),
                                                             (8, 0.5), (8, 0.99)]
    for r in sparse:
        assert r["ours_s"] > 0 and r["numpy/ours"] == pytest.approx(r["numpy_s"] / r["ours_s"])
    summary = rows[-1]
    assert summary["bench"] == "summary"
    assert summary["targets"][0]["target"] == "99% >= 4x BLAS everywhere"
    # the worst cell's profile: where its time goes, beside the measured read ceiling
    assert summary["targets"][0]["profile"].startswith("40->30 B=")
    assert "ns per weight x example" in summary["targets"][0]["profile"]
    assert summary["read_GBps (16 MiB, 2 threads)"] > 0
    table = bench.format_table(rows)
    assert "40->30" in table and "geometric mean" in table and "GB/s" in table


def test_cli_json(tiny_grid, capsys):
    assert main(["bench", "kernels", "--quick", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["bench"] == "sparse" for r in rows) == 4


def test_geomean():
    # geometric mean of 2 and 8 is 4; missing values (None) are skipped
    assert bench._geomean([2.0, None, 8.0]) == pytest.approx(4.0)
    assert bench._geomean([None]) is None


def test_json_record_compare_and_explain(tiny_grid, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    D.clear()
    path = tmp_path / "run.json"
    assert main(["bench", "kernels", "--quick", "--json", str(path), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "40->30" in out and f"record written to {path}" in out
    assert "kernel dispatch decisions" in out and "sparse [30|40|1|" in out
    doc = json.loads(path.read_text())
    env = doc["environment"]
    assert env["cpu"] and env["versions"]["numpy"] and "numba" in env["versions"]
    assert "OPENBLAS_NUM_THREADS" in env["threads"] and len(doc["rows"]) == 5
    assert doc["decisions"] and doc["decisions"][0]["family"] == "sparse"
    # compare with itself, then with a doctored record where ours was twice as slow
    slow = dict(doc, rows=[dict(r, ours_s=r["ours_s"] * 2) if r["bench"] == "sparse" else r
                           for r in doc["rows"]])
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    assert main(["bench", "kernels", "--quick", "--compare", str(tmp_path / "slow.json")]) == 0
    out = capsys.readouterr().out
    cells = [line for line in out.splitlines() if line.startswith("  batch=")]
    assert len(cells) == 4 and all("ours " in line for line in cells)
    D.clear()


def test_compare_ratios_by_hand():
    old = {"rows": [{"bench": "sparse", "in": 4, "batch": 1, "kernel": "a", "ours_s": 4.0,
                     "numpy/ours": 2.0},
                    {"bench": "sparse", "in": 4, "batch": 8, "ours_s": 1.0}]}
    new = [{"bench": "sparse", "in": 4, "batch": 1, "kernel": "b", "ours_s": 2.0,
            "numpy/ours": 3.0}, {"bench": "sparse", "in": 9, "batch": 1, "ours_s": 1.0}]
    # same cell despite another kernel; in=9 has no earlier cell
    assert record.compare(old, new) == [{"cell": "batch=1 in=4", "time": {"ours_s": 0.5},
                                         "ratio": {"numpy/ours": 1.5}}]
    text = record.format_compare(old, new)
    assert "batch=1 in=4: ours 0.50, numpy/ours 1.50" in text


@pytest.mark.parametrize("content, message", [("{oops", "not a JSON"), ('{"a": 1}', "no rows")])
def test_compare_refuses_a_bad_record_before_running(tmp_path, capsys, content, message):
    path = tmp_path / "old.json"
    path.write_text(content)
    assert main(["bench", "kernels", "--compare", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_interleaved_times_outvote_a_burst_and_wait_for_quiet(monkeypatch):
    # a fake clock: "a" costs 1 ms a call, "b" 2 ms, except in the first round, when a burst
    # of load makes every call of "b" cost 50 ms; before["b"] counts b's rounds
    clock, waits = {"t": 0.0, "round": 0}, []

    def call(name, cost):
        def fn():
            clock["t"] += 0.05 if name == "b" and clock["round"] == 1 else cost
        return fn
    monkeypatch.setattr(timing, "settle", lambda: waits.append(1) or True)
    kw = {"samples": 3, "min_sample": 1e-3, "warmup": 1, "clock": lambda: clock["t"]}
    got = timing.interleaved_times(
        {"a": call("a", 1e-3), "b": call("b", 2e-3), "none": None}, rounds=3,
        before={"b": lambda: clock.update(round=clock["round"] + 1)}, **kw)
    assert got["none"] is None
    assert got["a"] == pytest.approx(1e-3) and got["b"] == pytest.approx(2e-3)  # outvoted
    assert len(waits) == 6 and clock["round"] == 3       # a wait per timing, b's before each
    assert timing.interleaved_times({"a": call("a", 1e-3)}, rounds=1, **kw)["a"] \
        == pytest.approx(1e-3)
