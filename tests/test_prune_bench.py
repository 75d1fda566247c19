"""``minicomp bench prune``: wiring and the statistics it relies on (the run itself is long)."""
import numpy as np
import pytest

from minicomp.bench.prune import _spearman, _xent
from minicomp.cli import build_parser


def test_bench_prune_is_a_cli_choice():
    args = build_parser().parse_args(["bench", "prune", "--quick", "--json"])
    assert (args.what, args.quick) == ("prune", True) and args.json     # True, or "-" (stdout)


def test_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    b = a + rng.normal(size=50)
    assert _spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert _spearman(a, -a) == pytest.approx(-1.0)


def test_xent_matches_the_library_loss():
    from minicomp import F
    rng = np.random.default_rng(1)
    Z, y = rng.normal(size=(7, 4)), rng.integers(0, 4, 7)
    assert _xent(Z, y) == pytest.approx(float(F.cross_entropy(Z, y).data), rel=1e-6)


def test_timing_rows_and_targets_in_quick_mode():
    # the timing of run(), on an untrained pruned net (speed does not depend on training)
    from minicomp import MLP
    from minicomp.bench.prune import format_table, timing_targets
    from minicomp.bench.inference import inference_time
    from minicomp.prune import prune, size_report
    net = MLP([16, 30, 10], seed=0)
    prune(net, "magnitude", 0.93, scope="global")
    sizes = {k: v for k, v in size_report(net).items() if k != "layers"}
    X = np.random.default_rng(0).standard_normal((40, 16)).astype(np.float32)
    timing = [{"hidden": "30", "batch": b, **sizes, **inference_time(net, X[:b], samples=1)}
              for b in (1, 40)]
    assert timing[0]["design"] in ("rowdot_serial", "axpy_serial")        # by measurement
    assert timing[1]["design"] == "axpy_serial"                         # the only candidate
    targets = timing_targets(timing)
    assert list(targets) == ["MLP 30 batch 1 fused >= 1.0x float",
                             "MLP 30 batch 40 fused >= 1.3x float"]
    assert all(v == (t["float/fused"] >= (1.0 if t["batch"] == 1 else 1.3))
               for v, t in zip(targets.values(), timing))
    text = format_table({"compression": [], "structured": [], "reconstruction": [],
                         "correlation": {"net": "n", "seeds": [0], "spearman": {}},
                         "timing": timing})
    assert "5. inference" in text and "layer by layer" in text and "targets: MLP 30" in text
