"""OBD against finite differences; OBS against least squares and plain zeroing."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.prune import mask_from_scores
from minicomp.prune.obd import obd_hessian_diagonal, obd_layer_scores, obd_scores
from minicomp.prune.obs import (
    obs_compensate,
    obs_order,
    obs_prune,
    obs_scores,
    reconstruction_error,
)


def _loss64(net, X, y, loss):
    h = X.astype(np.float64)
    for layer in net:
        if hasattr(layer, "W"):
            h = h @ layer.W.data.astype(np.float64).T + layer.b.data.astype(np.float64)
        else:
            h = np.maximum(h, 0)
    if loss == "mse":
        return ((h - y) ** 2).mean()
    h = h - h.max(axis=1, keepdims=True)
    logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def _fd_second(net, layer, i, j, X, y, loss, h=1e-2):
    w = float(layer.W.data[i, j])
    values = []
    for d in (h, 0.0, -h):
        layer.W.data[i, j] = w + d
        values.append(_loss64(net, X, y, loss))
    layer.W.data[i, j] = w
    return (values[0] - 2 * values[1] + values[2]) / h ** 2


def test_obd_diagonal_exact_for_one_hidden_layer_one_output():
    # one ReLU hidden layer, one output, MSE: LeCun's recursion drops nothing
    rng = np.random.default_rng(0)
    net = MLP([3, 5, 1], seed=2)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    diag = obd_hessian_diagonal(net, X, loss="mse")
    for k, layer in enumerate((net[0], net[2])):
        for i in range(layer.W.shape[0]):
            for j in range(layer.W.shape[1]):
                fd = _fd_second(net, layer, i, j, X, y, "mse", h=1e-3)
                assert diag[k][0][i, j] == pytest.approx(fd, rel=2e-3, abs=1e-7)


def test_obd_last_layer_exact_for_cross_entropy():
    rng = np.random.default_rng(1)
    net = MLP([4, 6, 3], seed=0)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    (_, _), (h_W, _) = obd_hessian_diagonal(net, X)
    for i in range(3):
        for j in range(6):
            fd = _fd_second(net, net[2], i, j, X, y, "cross_entropy")
            assert h_W[i, j] == pytest.approx(fd, rel=1e-3, abs=1e-7)
    S = obd_scores(net, X)[1]
    np.testing.assert_allclose(S, 0.5 * h_W * net[2].W.data.astype(float) ** 2)


def _layer_problem(seed=0, n=200, d=12, out=6):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ A * rng.uniform(0.2, 3.0, d)     # correlated, uneven
    return X, rng.normal(size=(out, d))


def test_obs_update_is_the_least_squares_optimum():
    # removing one weight: OBS gives the best remaining row (lstsq on the other inputs)
    X, W = _layer_problem(out=1)
    W_new, mask = obs_prune(W, X, 1, damp=1e-10)
    q = int(np.flatnonzero(mask[0] == 0)[0])
    keep = np.arange(W.shape[1]) != q
    best, *_ = np.linalg.lstsq(X[:, keep], X @ W[0], rcond=None)
    np.testing.assert_allclose(W_new[0, keep], best, rtol=1e-4, atol=1e-5)
    assert W_new[0, q] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_obs_beats_zeroing_and_obd_beats_magnitude(seed):
    X, W = _layer_problem(seed)
    W_obs, mask = obs_prune(W, X, 0.5)
    assert (mask == 0).sum() == 36 and (W_obs[mask == 0] == 0).all()
    zeroed = W * mask                                # same mask, no correction
    assert reconstruction_error(W, W_obs, X) < reconstruction_error(W, zeroed, X)
    err_obd = reconstruction_error(W, W * mask_from_scores(obd_layer_scores(W, X), 0.5), X)
    err_mag = reconstruction_error(W, W * mask_from_scores(np.abs(W), 0.5), X)
    assert reconstruction_error(W, W_obs, X) < err_obd < err_mag


def test_obs_scores_and_errors():
    X, W = _layer_problem()
    S = obs_scores(W, X)
    assert S.shape == W.shape and (S >= 0).all()
    with pytest.raises(ValueError, match="columns"):
        obs_prune(W, X[:, :5], 0.5)
    with pytest.raises(ValueError, match="amount"):
        obs_prune(W, X, 1.5)


def test_obs_order_ranks_the_greedy_removals_and_compensate_is_their_update():
    X, W = _layer_problem(seed=3, out=4)
    order = obs_order(W, X)
    assert sorted(order.ravel()) == list(range(W.size))          # every weight, once
    for k in (1, 13, 30, 47):
        W_obs, mask = obs_prune(W, X, k)
        np.testing.assert_array_equal(mask_from_scores(order, k), mask)   # the same k go
        np.testing.assert_allclose(obs_compensate(W, X, mask), W_obs, rtol=1e-4, atol=1e-5)


def test_obs_compensate_is_least_squares_for_any_mask():
    X, W = _layer_problem(seed=4, out=3)
    mask = np.random.default_rng(0).random(W.shape) < 0.6        # any mask, not OBS's
    W_new = obs_compensate(W, X, mask, damp=1e-10)
    for i in range(3):
        keep = mask[i]
        best, *_ = np.linalg.lstsq(X[:, keep], X @ W[i], rcond=None)
        np.testing.assert_allclose(W_new[i, keep], best, rtol=1e-4, atol=1e-5)
        assert (W_new[i, ~keep] == 0).all()
