"""Architecture search: space, random search, regularized evolution, Pareto, budgets."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.blocks import count_macs
from minicomp.data import load_digits
from minicomp.metrics import count_parameters, storage_bytes
from minicomp.structure import (
    MLPObjective,
    MLPSpace,
    arch_cost,
    evolution,
    pareto_front,
    random_nas,
)

SIZES = (64, 10)


def capacity(params, epochs, seed):
    """A cheap objective: saturating in the parameter count, a little seeded noise."""
    n = arch_cost(params, *SIZES)["parameters"]
    return 1 - np.exp(-n / 3000) + np.random.default_rng(seed).normal(0, 1e-3)


def test_space_samples_and_mutations_stay_in_the_space():
    space = MLPSpace(depths=(1, 2, 3), widths=(8, 16, 32), activations=("relu", "tanh"))
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        for a in (arch, child):
            assert len(a["hidden"]) in space.depths and set(a["hidden"]) <= {8, 16, 32}
            assert a["activation"] in ("relu", "tanh")
        assert child != arch or len(space.depths) == 1


def test_space_with_hyperparameters_samples_and_mutates_them():
    space = MLPSpace(depths=(1,), widths=(8,), hyper={"batch_size": [16, 32], "lr": [0.1]})
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    assert set(arch) == {"hidden", "activation", "batch_size", "lr"} and arch["lr"] == 0.1
    child = space.mutate(arch, rng)                   # the only possible move
    assert child["batch_size"] != arch["batch_size"] and child["hidden"] == (8,)
    with pytest.raises(ValueError, match="space is empty|batch_size"):
        MLPSpace(hyper={"batch_size": []})


def test_arch_cost_agrees_with_the_library_counts():
    arch = {"hidden": (32, 16), "activation": "tanh"}
    net = MLP([64, 32, 16, 10], activation="tanh")
    assert arch_cost(arch, *SIZES) == {"parameters": count_parameters(net),
                                       "macs": count_macs(net), "bytes": storage_bytes(net)}
    assert arch_cost(arch, *SIZES)["macs"] == 64 * 32 + 32 * 16 + 16 * 10


def test_random_nas_respects_mac_and_byte_budgets():
    space = MLPSpace()
    result = random_nas(capacity, space, SIZES, 20, epochs=1, max_macs=3000, max_bytes=12000,
                        seed=0)
    assert all(t.info["macs"] <= 3000 and t.info["bytes"] <= 12000 for t in result.trials)
    assert len(result.trials) == 20 and result.best.info["macs"] <= 3000


def test_evolution_is_reproducible_improves_and_ages():
    space = MLPSpace(depths=(1, 2), widths=(8, 16, 32, 64, 96))
    a = evolution(capacity, space, SIZES, 30, epochs=1, population=8, sample=3, seed=2)
    b = evolution(capacity, space, SIZES, 30, epochs=1, population=8, sample=3, seed=2)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    first, last = a.trials[:8], a.trials[-8:]
    assert np.mean([t.score for t in last]) > np.mean([t.score for t in first])
    assert [t.number for t in a.trials] == list(range(30))


def test_nas_same_result_with_one_and_two_workers():
    d = load_digits()
    obj = MLPObjective(d.X_train[:200], d.y_train[:200], d.X_train[200:300],
                       d.y_train[200:300], 10)
    space = MLPSpace(depths=(1,), widths=(8, 16))
    one = evolution(obj, space, SIZES, 4, epochs=1, population=2, sample=1, batch=2, seed=1)
    two = evolution(obj, space, SIZES, 4, epochs=1, population=2, sample=1, batch=2, seed=1,
                    n_jobs=2)
    assert [(t.params, t.score) for t in one.trials] == [(t.params, t.score) for t in two.trials]


def test_pareto_front_hand_worked_and_property():
    idx = pareto_front([100, 200, 150, 300, 50], [0.90, 0.95, 0.89, 0.95, 0.80])
    assert idx.tolist() == [4, 0, 1]
    rng = np.random.default_rng(0)
    c, s = rng.integers(0, 20, 60), rng.random(60).round(1)
    front = set(pareto_front(c, s).tolist())
    for i in range(60):
        dominated = np.any((c <= c[i]) & (s >= s[i]) & ((c < c[i]) | (s > s[i])))
        assert (i in front) == (not dominated)


@pytest.mark.parametrize("call, error, match", [
    (lambda: MLPSpace(widths=()), ValueError, "widths=()"),
    (lambda: MLPSpace(activations=("swish",)), ValueError, "activation='swish'"),
    (lambda: MLPSpace(depths=(1, -1)), ValueError, r"depths\[1\]=-1"),
    (lambda: random_nas(capacity, MLPSpace(), SIZES, 2, 1, max_macs=0), ValueError,
     "macs=0"),
    (lambda: random_nas(capacity, MLPSpace(), SIZES, 2, 1, max_bytes=-5), ValueError,
     "bytes=-5"),
    (lambda: random_nas(capacity, MLPSpace(depths=(2,)), SIZES, 2, 1, max_macs=100),
     ValueError, "no architecture within"),
    (lambda: random_nas(capacity, {"depth": [1]}, SIZES, 2, 1), TypeError, "MLPSpace"),
    (lambda: random_nas(capacity, MLPSpace(), SIZES, 0, 1), ValueError, "n_trials=0"),
    (lambda: evolution(capacity, MLPSpace(), SIZES, 4, 1, population=3, sample=4),
     ValueError, "sample=4"),
    (lambda: random_nas(lambda p, e, s: float("inf"), MLPSpace(), SIZES, 2, 1), ValueError,
     "returned inf"),
    (lambda: pareto_front([1.0, np.nan], [0.5, 0.6]), ValueError, "nan"),
    (lambda: pareto_front([1.0, 2.0], [0.5, np.inf]), ValueError, "inf"),
    (lambda: pareto_front([1.0, 2.0], [0.5]), ValueError, "cost has 2"),
])
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
