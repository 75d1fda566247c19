"""Layer folding and removal, node merging, low-rank factorization, Net2Net growth."""
import numpy as np
import pytest

from minicomp import MLP, Dense, Sequential, fit, predict
from minicomp.metrics import count_parameters
from minicomp.nn import ReLU, Tanh
from minicomp.structure import (
    deepen,
    factorize,
    fold_linear,
    lowrank_params,
    merge_errors,
    merge_neurons,
    rank_for_budget,
    rank_for_energy,
    remove_layer,
    truncated_svd,
    widen,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 12)).astype(np.float32)


def test_fold_linear_gives_identical_outputs_and_one_layer_per_run():
    net = Sequential(Dense(12, 9, seed=0), Dense(9, 7, seed=1), ReLU(), Dense(7, 5, seed=2),
                     Dense(5, 4, bias=False, seed=3), Dense(4, 3, seed=4))
    folded = fold_linear(net)
    assert [type(m).__name__ for m in folded] == ["Dense", "ReLU", "Dense"]
    assert folded[0].W.shape == (7, 12) and folded[2].W.shape == (3, 7)
    assert np.abs(predict(folded, X) - predict(net, X)).max() < 1e-5


def test_fold_linear_of_a_factorized_net_gives_back_the_weights():
    net = MLP([12, 8, 3], seed=0)
    big, ranks = factorize(net, rank=8)                     # full rank of layer 0
    assert ranks == [8, 3]
    back = fold_linear(big)
    np.testing.assert_allclose(back[0].W.data, net[0].W.data, atol=1e-5)
    np.testing.assert_allclose(back[2].W.data, net[2].W.data, atol=1e-5)


def test_fold_linear_matches_torch_linears():
    torch = pytest.importorskip("torch")
    net = MLP([12, 6, 5, 3], activation="identity", seed=0)
    seq = torch.nn.Sequential(*(torch.nn.Linear(m.in_features, m.out_features) for m in net))
    seq.load_state_dict({k: torch.tensor(v) for k, v in net.state_dict().items()})
    with torch.no_grad():
        expected = seq(torch.tensor(X)).numpy()
    assert np.abs(predict(fold_linear(net), X) - expected).max() < 1e-5


def test_remove_layer_folds_it_forward():
    net = MLP([12, 8, 6, 3], seed=0)
    small = remove_layer(net, 1)
    assert [m.W.shape for m in small if isinstance(m, Dense)] == [(8, 12), (3, 8)]
    np.testing.assert_allclose(small[2].W.data, net[4].W.data @ net[2].W.data, rtol=1e-5,
                               atol=1e-6)
    linear = MLP([12, 8, 6, 3], activation="identity", seed=0)      # no nonlinearity lost
    assert np.abs(predict(remove_layer(linear, 0), X) - predict(linear, X)).max() < 1e-5
    with pytest.raises(ValueError, match="layer=2"):
        remove_layer(net, 2)                                        # the output layer


def test_truncated_svd_full_rank_reproduces_W_and_matches_eckart_young():
    W = RNG.standard_normal((7, 5))
    A, B = truncated_svd(W, rank=5)
    np.testing.assert_allclose(A @ B, W, atol=1e-12)
    S = np.linalg.svd(W, compute_uv=False)
    A, B = truncated_svd(W, rank=2)
    assert A.shape == (7, 2) and B.shape == (2, 5)
    np.testing.assert_allclose(np.linalg.norm(W - A @ B) ** 2, np.sum(S[2:] ** 2), rtol=1e-10)


def test_truncated_svd_matches_torch():
    torch = pytest.importorskip("torch")
    W = RNG.standard_normal((9, 6))
    U, S, Vh = torch.linalg.svd(torch.tensor(W), full_matrices=False)
    expected = (U[:, :3] * S[:3] @ Vh[:3]).numpy()
    A, B = truncated_svd(W, rank=3)
    np.testing.assert_allclose(A @ B, expected, atol=1e-10)


@pytest.mark.parametrize("energy", [0.3, 0.5, 0.9, 0.99, 1.0])
def test_chosen_rank_meets_the_energy_and_is_the_smallest(energy):
    W = RNG.standard_normal((20, 16)) @ np.diag(0.7 ** np.arange(16))
    S = np.linalg.svd(W, compute_uv=False)
    E = np.cumsum(S**2) / np.sum(S**2)
    r = rank_for_energy(S, energy)
    assert E[r - 1] >= energy - 1e-12 and (r == 1 or E[r - 2] < energy)
    A, _ = truncated_svd(W, energy=energy)
    assert A.shape[1] == r


def test_parameter_counts_and_budget():
    assert lowrank_params((64, 64), 8) == 8 * 128 + 64
    assert lowrank_params((10, 64), 3, bias=False) == 3 * 74
    assert rank_for_budget((64, 64), 1100) == 8
    net = MLP([64, 64, 10], seed=0)
    small, ranks = factorize(net, rank=8, layers=[0])
    assert ranks == [8] and count_parameters(small) == lowrank_params((64, 64), 8) + 650


def test_factorize_on_data_fits_the_outputs_better_and_is_exact_at_full_rank():
    net = MLP([12, 10, 3], seed=0)
    Xc = X * np.linspace(0.1, 3.0, 12)                            # anisotropic inputs
    plain, _ = factorize(net, rank=4, layers=[0])
    aware, _ = factorize(net, rank=4, layers=[0], X=Xc)
    ref = predict(Sequential(net[0]), Xc)
    err_plain = np.linalg.norm(predict(Sequential(plain[0], plain[1]), Xc) - ref)
    err_aware = np.linalg.norm(predict(Sequential(aware[0], aware[1]), Xc) - ref)
    assert err_aware < err_plain
    full, _ = factorize(net, rank=10, X=Xc)
    assert np.abs(predict(full, Xc) - predict(net, Xc)).max() < 1e-4
    A = np.linalg.norm(aware[1].W.data, axis=0)                   # balanced factors
    B = np.linalg.norm(aware[0].W.data, axis=1)
    assert A.max() < 10 * B.max() and B.max() < 10 * A.max()


@pytest.mark.parametrize("call, error, match", [
    (lambda: factorize(MLP([4, 3]), rank=1, X=np.full((2, 4), np.inf)), ValueError, "inf"),
    (lambda: truncated_svd(np.ones((3, 4)), rank=4), ValueError,
     r"rank=4; expected an int >= 1 and <= 3"),
    (lambda: truncated_svd(np.ones((3, 4)), rank=0), ValueError, "rank=0"),
    (lambda: truncated_svd(np.ones((3, 4))), ValueError, "exactly one"),
    (lambda: truncated_svd(np.ones((3, 4)), energy=1.5), ValueError, "energy=1.5"),
    (lambda: truncated_svd(np.full((2, 2), np.nan), rank=1), ValueError, "nan"),
    (lambda: rank_for_energy(np.array([1.0, 2.0]), 0.5), ValueError, "decreasing"),
    (lambda: factorize(MLP([4, 3, 2]), rank=2, layers=[5]), ValueError, r"layers\[0\]=5"),
])
def test_lowrank_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_merge_errors_hand_worked():
    A = np.array([[0., 1., 5.], [1., 3., 5.], [2., 5., 5.]])      # a1 = 2 a0 + 1; a2 = 5
    E, S, C = merge_errors(A)
    assert E[0, 1] == 0 and S[0, 1] == 2 and C[0, 1] == 1
    assert E[1, 0] == 0 and S[1, 0] == 0.5 and C[1, 0] == -0.5
    assert E[2, 0] == np.sqrt(2 / 3)                              # constant fits nothing
    assert np.isinf(np.diag(E)).all()


def test_merge_exact_duplicates_and_dead_neurons_keeps_the_function():
    net = MLP([12, 10, 6, 3], seed=0)
    net[0].W.data[7] = 3 * net[0].W.data[2]                       # scaled copy (ReLU: exact)
    net[0].b.data[7] = 3 * net[0].b.data[2]
    net[2].W.data[4] = 0                                          # a dead neuron: f(b) const
    net[2].b.data[4] = 0.5
    small, merges = merge_neurons(net, X, 1)
    assert [m.W.shape[0] for m in small if isinstance(m, Dense)] == [9, 5, 3]
    assert {(m["layer"], m["removed"]) for m in merges} == {(0, 7), (1, 4)} or \
        {(m["layer"], m["kept"]) for m in merges} >= {(0, 7)}
    assert np.abs(predict(small, X) - predict(net, X)).max() < 1e-4


def test_merge_is_better_than_dropping_on_near_duplicates():
    net = MLP([12, 16, 3], seed=1)
    for i in range(8):                                           # 8 near-copies
        net[0].W.data[8 + i] = 2.0 * net[0].W.data[i] + 1e-3 * RNG.standard_normal(12)
        net[0].b.data[8 + i] = 2.0 * net[0].b.data[i]
    merged, merges = merge_neurons(net, X, 0.5)
    assert merged[0].W.shape == (8, 12) and len(merges) == 8
    dropped = Sequential(Dense(12, 8), ReLU(), Dense(8, 3))
    dropped[0].W.data[...] = net[0].W.data[:8]
    dropped[0].b.data[...] = net[0].b.data[:8]
    dropped[2].W.data[...] = net[2].W.data[:, :8]
    dropped[2].b.data[...] = net[2].b.data
    err_merge = np.abs(predict(merged, X) - predict(net, X)).max()
    err_drop = np.abs(predict(dropped, X) - predict(net, X)).max()
    assert err_merge < 0.05 * err_drop


def test_merge_bad_input():
    net = MLP([12, 4, 3], seed=0)
    with pytest.raises(ValueError, match="removes all 4"):
        merge_neurons(net, X, 4)
    with pytest.raises(ValueError, match=r"layers\[0\]=1"):
        merge_neurons(net, X, 1, layers=[1])
    with pytest.raises(ValueError, match="nan"):
        merge_neurons(net, np.full((3, 12), np.nan), 1)
    with pytest.raises(TypeError, match="Sequential"):
        merge_neurons(Dense(12, 3), X, 1)


def test_widen_and_deepen_keep_the_function():
    net = MLP([12, 6, 5, 3], seed=0)
    big = deepen(widen(widen(net, 0, 11, seed=1), 1, 9, seed=2), 1)
    assert [m.W.shape for m in big if isinstance(m, Dense)] == \
        [(11, 12), (9, 11), (9, 9), (3, 9)]
    assert np.abs(predict(big, X) - predict(net, X)).max() < 1e-5
    tanh = MLP([12, 6, 3], activation="tanh", seed=0)
    assert np.abs(predict(widen(tanh, 0, 10), X) - predict(tanh, X)).max() < 1e-5
    noisy = widen(net, 0, 11, seed=1, noise=0.1)
    assert np.abs(predict(noisy, X) - predict(net, X)).max() > 1e-4


def test_grown_net_keeps_training():
    y = (X[:, 0] > 0).astype(np.int64)
    net = MLP([12, 4, 2], seed=0)
    fit(net, X, y, epochs=3, quiet=True)
    big = deepen(widen(net, 0, 8, seed=0, noise=0.01), 0)
    history = fit(big, X, y, epochs=5, quiet=True)
    assert history.loss[-1] < history.loss[0]


def test_grow_bad_input():
    net = MLP([12, 6, 3], seed=0)
    with pytest.raises(ValueError, match="width=4"):
        widen(net, 0, 4)
    with pytest.raises(ValueError, match="layer=1"):
        widen(net, 1, 8)
    with pytest.raises(ValueError, match="Tanh"):
        deepen(Sequential(Dense(12, 6), Tanh(), Dense(6, 3)), 0)
    with pytest.raises(ValueError, match="no hidden layer"):
        deepen(Sequential(Dense(12, 3)), 0)
    with pytest.raises(ValueError, match="noise=-1"):
        widen(net, 0, 8, noise=-1.0)
