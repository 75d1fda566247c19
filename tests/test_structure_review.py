"""Regressions from the review of minicomp.structure: each bad input found gets a clear error."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.nn import Dense, Dropout, ReLU, Sequential
from minicomp.prune import prune
from minicomp.structure import (
    MLPSpace,
    Real,
    factorize,
    fold_linear,
    lowrank_params,
    merge_neurons,
    optuna_search,
    pareto_front,
    random_nas,
    rank_for_energy,
    remove_layer,
    run_trials,
    rungs,
    successive_halving,
    trial_seeds,
)

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4)).astype(np.float32)


def _score(params, epochs, seed, report=None):
    return 0.5


# 1. factorize when a layer's rank is below the requested rank


def test_factorize_after_neuron_pruning_keeps_the_layers_own_rank():
    net = MLP([4, 8, 3], seed=0)
    prune(net, "activation", 0.75, X=X)                  # 2 of 8 neurons left: rank 2
    for calib in (None, X):
        small, ranks = factorize(net, rank=4, X=calib)
        assert ranks == [2, 3]
        out = small(X).data
        assert np.isfinite(out).all()
        assert np.allclose(out, net(X).data, atol=1e-4)


def test_factorize_all_zero_layer_is_rank_one_zeros():
    net = MLP([4, 8, 3], seed=0)
    net[0].W.data[:] = 0
    small, ranks = factorize(net, rank=4)
    assert ranks[0] == 1
    assert np.isfinite(small(X).data).all()
    assert np.allclose(small(X).data, net(X).data, atol=1e-5)


def test_factorize_layers_checked():
    net = MLP([4, 8, 3], seed=0)
    with pytest.raises(ValueError, match=r"factorize: layers=\[0, 0\]; expected each index"):
        factorize(net, rank=2, layers=[0, 0])
    with pytest.raises(TypeError, match="factorize: layers=0 .int.; expected a list of ints"):
        factorize(net, rank=2, layers=0)
    assert factorize(net, rank=2, layers=np.array([1]))[1] == [2]


# 2. mutate terminates when a hyper entry cannot change


@pytest.mark.parametrize("hyper", [{"lr": Real(0.1, 0.1)}, {"lr": [1, 1.0]},
                                   {"lr": Real(0.1, 0.1), "bs": [8, 8]}])
def test_mutate_never_loops_on_a_constant_hyper_entry(hyper):
    space = MLPSpace(depths=(1,), widths=(8,), hyper=hyper)
    r = np.random.default_rng(0)
    arch = space.sample(r)
    for _ in range(20):
        child = space.mutate(arch, r)
        assert child == arch                                # nothing can change


def test_mutate_changes_a_changeable_hyper_entry():
    space = MLPSpace(depths=(1,), widths=(8,), hyper={"lr": [0.1, 0.2], "c": [1, 1.0]})
    r = np.random.default_rng(0)
    arch = space.sample(r)
    assert space.mutate(arch, r)["lr"] != arch["lr"]


# 3. rungs checks its arguments itself


@pytest.mark.parametrize("args, error, match", [
    ((9, 1, 9, 1), ValueError, r"rungs: eta=1; expected an int >= 2"),
    ((9, 0, 9, 3), ValueError, r"rungs: min_epochs=0; expected an int >= 1"),
    ((0, 1, 9, 3), ValueError, r"rungs: n_trials=0; expected an int >= 1"),
    ((9, 5, 3, 3), ValueError, r"rungs: max_epochs=3; expected an int >= 5"),
    ((9, 1, 9, 2.0), TypeError, r"rungs: eta=2.0"),
])
def test_rungs_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        rungs(*args)


def test_successive_halving_uses_the_same_checks():
    with pytest.raises(ValueError, match="successive_halving: eta=1"):
        successive_halving(_score, {"lr": [0.1]}, 3, 1, 3, eta=1)


# 7. run_trials: lengths and epochs


def test_run_trials_lengths_and_epochs():
    configs = [{"a": 1}, {"a": 2}]
    with pytest.raises(ValueError, match="run_trials: seeds has 1 entries but configs has 2"):
        run_trials(_score, configs, 1, [0])
    with pytest.raises(ValueError, match="run_trials: epochs has 3 entries but configs has 2"):
        run_trials(_score, configs, [1, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"run_trials: epochs\[0\]=-5; expected an int >= 1"):
        run_trials(_score, configs, -5, [0, 1])
    assert [s for s, _, _ in run_trials(_score, configs, 1, np.array([0, 1]))] == [0.5, 0.5]


# 9. fold_linear keeps Dropouts that are not between folded layers


def test_fold_linear_keeps_dropout_after_an_activation():
    net = Sequential(Dense(4, 6), Dropout(0.5), Dense(6, 5), ReLU(), Dropout(0.3),
                     Dense(5, 2), Dropout(0.1))
    folded = fold_linear(net)
    kinds = [type(m).__name__ for m in folded]
    assert kinds == ["Dense", "ReLU", "Dropout", "Dense", "Dropout"]
    assert [m.p for m in folded if isinstance(m, Dropout)] == [0.3, 0.1]
    net.eval()
    folded.eval()
    assert np.allclose(folded(X).data, net(X).data, atol=1e-5)


# 10. small ones


def test_rank_for_energy_huge_singular_values():
    assert rank_for_energy(np.array([1e200, 1e199, 0.0]), 0.9) == 1
    assert rank_for_energy(np.array([1e300, 1e300]), 1.0) == 2


def test_real_checks():
    with pytest.raises(TypeError, match="Real: log='yes'.*expected True or False"):
        Real(0.1, 1, log="yes")
    assert Real(-3, -1).low == -3.0
    with pytest.raises(ValueError, match="Real: low=-3.0; expected a finite number > 0"):
        Real(-3, -1, log=True)


def test_pareto_front_refuses_bools():
    with pytest.raises(TypeError, match="pareto_front: cost has dtype bool"):
        pareto_front([True, False], [0.1, 0.2])


def test_complex_objective_is_refused():
    with pytest.raises(ValueError, match=r"run_trials: the objective returned \(1\+0j\)"):
        run_trials(lambda p, e, s: 1 + 0j, [{}], 1, [0])


# 13. scalars where sequences are expected


def test_scalars_for_sequences():
    net = MLP([4, 8, 3], seed=0)
    with pytest.raises(TypeError, match="merge_neurons: layers=0 .int.; expected a list"):
        merge_neurons(net, X, 1, layers=0)
    with pytest.raises(ValueError, match=r"lowrank_params: shape=\(64,\); expected \(out, in\)"):
        lowrank_params((64,), 1)
    with pytest.raises(ValueError, match="trial_seeds: n=-1; expected an int >= 0"):
        trial_seeds(0, -1)


# 14. remove_layer on a net without hidden layer


def test_remove_layer_without_hidden_layer():
    with pytest.raises(ValueError, match="remove_layer: layer=0, but the net has 1 Dense layer "
                                         "and no hidden layer to remove"):
        remove_layer(MLP([4, 2]), 0)


# 17. the right argument named


def test_random_nas_names_max_macs():
    with pytest.raises(ValueError, match="random_nas: max_macs=0; expected an int >= 1"):
        random_nas(_score, MLPSpace(), (4, 2), 1, 1, max_macs=0)
    with pytest.raises(ValueError, match="random_nas: max_bytes=0"):
        random_nas(_score, MLPSpace(), (4, 2), 1, 1, max_bytes=0)


# 18. optuna_search: objective signature, storage type


def test_optuna_search_objective_without_report():
    pytest.importorskip("optuna")
    with pytest.raises(TypeError, match="optuna_search: objective .* takes no report= "
                                        "argument; expected a callable"):
        optuna_search(lambda p, e, s: 0.5, {"lr": [0.1]}, 1, 1)


def test_optuna_search_storage_type():
    pytest.importorskip("optuna")
    with pytest.raises(TypeError, match="optuna_search: storage is a int; expected None, a "
                                        "storage URL"):
        optuna_search(_score, {"lr": [0.1]}, 1, 1, storage=5)
    assert optuna_search(_score, {"lr": [0.1]}, 2, 1).best.score == 0.5
