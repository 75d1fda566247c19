"""``minicomp bench prune``: wiring and the statistics it relies on (the run itself is long)."""
import numpy as np
import pytest

from minicomp.bench.prune import _spearman, _xent
from minicomp.cli import build_parser


def test_bench_prune_is_a_cli_choice():
    args = build_parser().parse_args(["bench", "prune", "--quick", "--json"])
    assert (args.what, args.quick, args.json) == ("prune", True, True)


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
