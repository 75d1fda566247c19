"""Hyperparameter search: grid, random, successive halving, Optuna; trials through joblib."""
import sys

import numpy as np
import pytest

from minicomp.data import load_digits
from minicomp.structure import (
    MLPObjective,
    Real,
    grid,
    grid_search,
    random_search,
    rungs,
    run_trials,
    successive_halving,
    trial_seeds,
)


def quadratic(params, epochs, seed, report=None):
    """A cheap objective: best at lr = 0.1, width = 32; more epochs help a little."""
    score = -(np.log10(params["lr"]) + 1) ** 2 - abs(params["width"] - 32) / 32 - 1 / epochs
    if report is not None:
        for e in range(epochs):
            if report(e, score - 1 / (e + 1)):
                return score - 1 / (e + 1)
    return score + np.random.default_rng(seed).normal(0, 1e-3)


SPACE = {"lr": Real(1e-3, 1.0, log=True), "width": [8, 16, 32, 64]}


@pytest.fixture(scope="module")
def objective():
    d = load_digits()
    return MLPObjective(d.X_train[:300], d.y_train[:300], d.X_train[300:400],
                        d.y_train[300:400], d.num_classes)


def test_grid_is_every_combination_in_order():
    configs = grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(configs) == 6 and configs[0] == {"a": 1, "b": "x"} and configs[1]["b"] == "y"


def test_grid_search_finds_the_best_cell():
    result = grid_search(quadratic, {"lr": [0.01, 0.1, 1.0], "width": [16, 32]}, epochs=2)
    assert result.best.params == {"lr": 0.1, "width": 32}
    assert result.epochs == 12 and len(result.table()) == 6


def test_random_search_is_reproducible_and_seed_dependent():
    a = random_search(quadratic, SPACE, 12, epochs=3, seed=5)
    b = random_search(quadratic, SPACE, 12, epochs=3, seed=5)
    c = random_search(quadratic, SPACE, 12, epochs=3, seed=6)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.score for t in a.trials] == [t.score for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]
    assert a.epochs == 36


def test_rungs_and_successive_halving_cost():
    assert rungs(27, 1, 27, 3) == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert rungs(10, 2, 5, 2) == [(10, 2), (5, 4), (3, 5)]
    result = successive_halving(quadratic, SPACE, 27, 1, 27, eta=3, seed=0)
    assert result.epochs == 27 + 27 + 27 + 27
    assert [t.info["rung"] for t in result.trials].count(3) == 1
    first = random_search(quadratic, SPACE, 27, epochs=1, seed=0)   # same draws
    assert [t.params for t in result.trials[:27]] == [t.params for t in first.trials]
    best_first = max(first.trials, key=lambda t: t.score)
    assert result.best.score >= best_first.score - 0.05


def test_same_result_with_one_and_two_workers(objective):
    space = {"lr": [0.02, 0.1], "width": [8, 16]}
    one = random_search(objective, space, 4, epochs=1, seed=3, n_jobs=1)
    two = random_search(objective, space, 4, epochs=1, seed=3, n_jobs=2)
    assert [t.score for t in one.trials] == [t.score for t in two.trials]
    assert [t.seed for t in one.trials] == [t.seed for t in two.trials]
    threads = successive_halving(objective, space, 4, 1, 2, eta=2, seed=3, n_jobs=2,
                                 backend="threading")
    alone = successive_halving(objective, space, 4, 1, 2, eta=2, seed=3)
    assert [t.score for t in threads.trials] == [t.score for t in alone.trials]


def test_mlp_objective_trains_and_reports(objective):
    seen = []
    score = objective({"lr": 0.1, "width": 16, "depth": 1}, 3, 0,
                      report=lambda e, s: seen.append((e, s)) or e == 1)
    assert [e for e, _ in seen] == [0, 1] and score == seen[-1][1] and 0.5 < score <= 1
    assert objective({"lr": 0.1, "width": 16, "depth": 1}, 2, 7) == \
        objective({"lr": 0.1, "width": 16, "depth": 1}, 2, 7)
    assert objective.size({"hidden": (8,)}) == 64 * 8 + 8 + 8 * 10 + 10
    assert objective({"lr": 1e6, "width": 16, "depth": 1}, 2, 0) == 0.0   # diverged


def test_mlp_objective_cosine_schedule_and_weight_decay(objective):
    seen = []
    base = {"lr": 0.1, "width": 8, "depth": 1}
    plain = objective.train(base, 2, 0)[0][0].W.data
    cosine = objective.train({**base, "decay": "cosine"}, 2, 0,
                             report=lambda e, s: seen.append(s) and False)[0][0].W.data
    decayed = objective.train({**base, "weight_decay": 0.05}, 2, 0)[0][0].W.data
    assert len(seen) == 2 and not np.allclose(cosine, plain)
    assert np.linalg.norm(decayed) < np.linalg.norm(plain)


def test_trial_seeds_depend_only_on_seed_and_position():
    assert trial_seeds(4, 3) == trial_seeds(4, 5)[:3]
    assert len(set(trial_seeds(4, 50))) == 50


def test_optuna_tpe_with_median_pruner_respects_budget():
    pytest.importorskip("optuna")
    from minicomp.structure import optuna_search
    a = optuna_search(quadratic, SPACE, 30, epochs=4, budget=40, seed=1)
    b = optuna_search(quadratic, SPACE, 30, epochs=4, budget=40, seed=1)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert 40 <= a.epochs < 44
    assert any(t.info["pruned"] for t in a.trials)
    assert abs(np.log10(a.best.params["lr"]) + 1) < 1


def test_optuna_missing_is_a_clear_import_error(monkeypatch):
    from minicomp.structure import optuna_search
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match="pip install optuna"):
        optuna_search(quadratic, SPACE, 3)


@pytest.mark.parametrize("call, error, match", [
    (lambda: grid_search(quadratic, {}, 2), ValueError, "space is empty"),
    (lambda: random_search(quadratic, {"lr": []}, 2, 2), ValueError, r"space\['lr'\] is empty"),
    (lambda: grid_search(quadratic, {"lr": Real(0.1, 1)}, 2), TypeError, "grid needs lists"),
    (lambda: random_search(quadratic, [1, 2], 2, 2), TypeError, "expected a dict"),
    (lambda: random_search(quadratic, SPACE, 2, 0), ValueError, "epochs=0"),
    (lambda: random_search(quadratic, SPACE, 0, 2), ValueError, "n_trials=0"),
    (lambda: successive_halving(quadratic, SPACE, 4, 3, 2), ValueError, "max_epochs=2"),
    (lambda: successive_halving(quadratic, SPACE, 4, 1, 4, eta=1), ValueError, "eta=1"),
    (lambda: random_search(lambda p, e, s: float("nan"), SPACE, 2, 1), ValueError,
     "returned nan"),
    (lambda: random_search(lambda p, e, s: "good", SPACE, 2, 1), ValueError, "finite number"),
    (lambda: random_search(quadratic, SPACE, 2, 1, n_jobs=0), ValueError, "n_jobs=0"),
    (lambda: run_trials(3, [{}], 1, [0]), TypeError, "objective is a int"),
    (lambda: Real(0.0, 1.0, log=True), ValueError, "low=0.0"),
    (lambda: Real(1.0, 0.5), ValueError, "high=0.5"),
])
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_optuna_refuses_bad_budget():
    pytest.importorskip("optuna")
    from minicomp.structure import optuna_search
    with pytest.raises(ValueError, match="budget=0"):
        optuna_search(quadratic, SPACE, 3, budget=0)
    with pytest.raises(ValueError, match="returned inf"):
        optuna_search(lambda p, e, s, report=None: float("inf"), SPACE, 3)
