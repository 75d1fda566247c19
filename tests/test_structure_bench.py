"""Tests of ``minicomp bench structure`` in a tiny mode (the full run is a benchmark)."""
import json

import numpy as np
import pytest

from minicomp import MLP
from minicomp.bench import structure as bench
from minicomp.cli import BENCHMARKS, build_parser

TINY = {"n": 3, "R": 3, "sh_n": 3, "nas_trials": 4, "nas_epochs": 1, "top": 2, "ft": 1,
        "base_epochs": 2, "seeds": (0,)}


@pytest.fixture(scope="module")
def rows():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "QUICK", TINY)
        return bench.run(quick=True)


def test_rows_hold_every_part_and_target(rows):
    hpo, nas, comp = rows
    assert [r["part"] for r in rows] == ["hpo", "nas", "compress"]
    assert hpo["random"]["epochs"]["mean"] == 9 and hpo["halving"]["epochs"]["mean"] == 3 + 3
    assert hpo["optuna"]["epochs"]["mean"] >= 9
    assert 2 * nas["parameters"] <= nas["baseline_parameters"]
    assert nas["pareto_parameters"] and all(0 <= s <= 1 for _, s in nas["pareto_parameters"])
    assert comp["lowrank_params"]["mean"] * 2 <= comp["base_params"]["mean"]
    assert max(comp["fold_error"]["values"] + comp["net2net_error"]["values"]) < 1e-5
    assert all(isinstance(v, bool) for r in rows for v in r["targets"].values())
    assert json.loads(json.dumps(rows))[1]["part"] == "nas"          # what --json prints


def test_format_table_marks_targets(rows):
    text = bench.format_table(rows)
    assert "CPU:" in text and "halving" in text and "Pareto" in text
    assert text.count("targets:") == 3 and ("met" in text or "MISSED" in text)


def test_pareto_plot_is_written(rows, tmp_path):
    path = bench.pareto_plot(rows[1], tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 1000 and path.endswith(".png")


def test_change_is_measured_in_float64():
    net = MLP([4, 3, 2], seed=0)
    X = np.ones((2, 4), np.float32)
    assert bench.logit_change(net, net, X) == 0.0


def test_cli_knows_bench_structure():
    assert "structure" in BENCHMARKS
    args = build_parser().parse_args(["bench", "structure", "--quick", "--json"])
    assert args.what == "structure" and args.quick and args.json
