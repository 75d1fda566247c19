"""Smoke tests of ``minicomp bench kernels`` on a tiny grid (speed is never asserted)."""
from __future__ import annotations

import json

import pytest

import minicomp.bench.kernels as bench
from minicomp.cli import main


@pytest.fixture
def tiny_grid(monkeypatch):
    monkeypatch.setattr(bench, "QUICK", {"shapes": ((40, 30),), "batches": (1, 8),
                                         "sparsities": (0.5, 0.99)})
    monkeypatch.setattr(bench, "PAUSE", 0.0)
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
    table = bench.format_table(rows)
    assert "40->30" in table and "geometric mean" in table


def test_cli_json(tiny_grid, capsys):
    assert main(["bench", "kernels", "--quick", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["bench"] == "sparse" for r in rows) == 4


def test_geomean():
    # geometric mean of 2 and 8 is 4; missing values (None) are skipped
    assert bench._geomean([2.0, None, 8.0]) == pytest.approx(4.0)
    assert bench._geomean([None]) is None
