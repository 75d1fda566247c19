"""Tests of ``minicomp bench formats`` in a tiny mode (ratios are printed, never asserted)."""
import numpy as np

from minicomp.bench import formats as bench


def test_tiny_run_has_every_row_and_formats():
    rows = bench.run(quick=True, shapes=((64, 32),), batches=(1, 3), floats=2000, threads=1)
    speed = [r for r in rows if r["bench"] == "speed"]
    assert [(r["in"], r["batch"]) for r in speed] == [(64, 1), (64, 3)]
    for r in speed:
        assert all(r[k + "_s"] > 0 and r["numpy/" + k] > 0 for k in bench.KERNELS)
    exact = [r for r in rows if r["bench"] == "exact"]
    assert exact and all(r.get("mismatches", 0) == 0 for r in exact)
    summary = rows[-1]
    assert summary["bench"] == "summary" and "cores" in summary["cpu"]
    assert summary["threads"] == 1
    text = bench.format_table(rows)
    assert "BLAS/nm" in text and "CPU:" in text and "64->32" in text


def test_two_four_is_exactly_two_of_four():
    W = bench.two_four(np.random.default_rng(0).standard_normal((8, 16)))
    assert ((W.reshape(-1, 4) != 0).sum(axis=1) == 2).all()


def test_summary_marks_targets():
    rows = [{"bench": "speed", "in": 4096, "out": 4096, "batch": 1, "numpy/nm": 1.5,
             "numpy/ternary": 1.0}]
    targets = {t["target"].split()[0]: t["met"] for t in bench.summary(rows)["targets"]}
    assert targets == {"nm": True, "ternary": False}
