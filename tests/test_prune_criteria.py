"""Criteria: hand-worked R_i and Wanda, Taylor vs finite differences, norms, random."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.blocks import numpy_forward
from minicomp.prune import activation_importance, prune
from minicomp.prune.activation import wanda_scores
from minicomp.prune.magnitude import magnitude_scores
from minicomp.prune.norm import norm_scores
from minicomp.prune.random import random_scores
from minicomp.prune.taylor import taylor_scores

BUILTIN = {"magnitude": "connection", "random": "connection", "wanda": "connection",
           "taylor": "connection", "obd": "connection", "obs": "connection",
           "activation": "neuron", "taylor_neuron": "neuron", "l1": "neuron", "l2": "neuron",
           "random_neuron": "neuron"}

# The 3x4 fixture: W[i, j] is the weight from input j to neuron i.
W = np.array([[1.0, -2.0, 0.0, 3.0],
              [0.5, 0.0, -1.0, 0.0],
              [-2.0, 1.0, 1.0, -0.5]])
X = np.array([[1.0, -1.0, 2.0, 0.0],
              [3.0, 1.0, 0.0, -2.0]])
# E_n|y_nj| = [(1+3)/2, (1+1)/2, (2+0)/2, (0+2)/2] = [2, 1, 1, 1]
# R_0 = 1*2 + 2*1 + 0*1 + 3*1   = 7
# R_1 = 0.5*2 + 0*1 + 1*1 + 0*1 = 2
# R_2 = 2*2 + 1*1 + 1*1 + 0.5*1 = 6.5
R_EXPECTED = [7.0, 2.0, 6.5]


def test_activation_importance_hand_worked():
    np.testing.assert_allclose(activation_importance(W, X), R_EXPECTED)
    # the same as the per-sample definition (1/N) sum_n sum_j |w_ij y_nj|
    direct = np.mean([[np.sum(np.abs(W[i] * x)) for i in range(3)] for x in X], axis=0)
    np.testing.assert_allclose(activation_importance(W, X), direct)


def test_wanda_hand_worked_and_relation_to_R():
    # ||y_j||_2 = [sqrt(1+9), sqrt(1+1), sqrt(4+0), sqrt(0+4)] = [sqrt 10, sqrt 2, 2, 2]
    norms = np.array([np.sqrt(10), np.sqrt(2), 2.0, 2.0])
    np.testing.assert_allclose(wanda_scores(W, X), np.abs(W) * norms)
    # one sample: the row sums of the Wanda scores are exactly R
    for x in X:
        np.testing.assert_allclose(wanda_scores(W, x[None]).sum(axis=1),
                                   activation_importance(W, x[None]))


def test_norms_and_magnitude_hand_worked():
    np.testing.assert_allclose(norm_scores(W, 1), [6.0, 1.5, 4.5])   # |1|+|-2|+0+|3| ...
    np.testing.assert_allclose(norm_scores(W, 2)[0], np.sqrt(14))      # 1 + 4 + 9
    np.testing.assert_array_equal(magnitude_scores(W), np.abs(W))
    with pytest.raises(ValueError, match="p=3"):
        norm_scores(W, 3)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match=r"X has shape \(2, 3\); expected \(batch, 4\)"):
        activation_importance(W, X[:, :3])
    with pytest.raises(ValueError, match="2-D weight matrix"):
        magnitude_scores(np.ones(3))
    with pytest.raises(TypeError, match="seed"):
        random_scores(3, seed="x")


def _loss64(net, X, y):
    """Cross-entropy of ``net`` in float64, written out independently."""
    h = X.astype(np.float64)
    for layer in net:
        if hasattr(layer, "W"):
            h = h @ layer.W.data.astype(np.float64).T + layer.b.data
        else:
            h = np.maximum(h, 0)
    h = h - h.max(axis=1, keepdims=True)
    logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def _tiny():
    rng = np.random.default_rng(0)
    net = MLP([3, 5, 4], seed=1)
    return net, rng.normal(size=(24, 3)), rng.integers(0, 4, 24)


def test_taylor_first_order_matches_finite_differences():
    net, Xs, ys = _tiny()
    scores = taylor_scores(net, Xs, ys, mode="first_order", batch_size=24)
    h = 1e-3
    for layer, S in zip((net[0], net[2]), scores):
        for (i, j) in [(0, 0), (1, 2), (3, 1)]:
            w = float(layer.W.data[i, j])
            layer.W.data[i, j] = w * (1 + h)
            up = _loss64(net, Xs, ys)
            layer.W.data[i, j] = w * (1 - h)
            down = _loss64(net, Xs, ys)
            layer.W.data[i, j] = w
            fd = (up - down) / (2 * h)                 # d/da L(w (1 + a)) = w dL/dw
            assert S[i, j] == pytest.approx(abs(fd), rel=2e-3, abs=1e-6)


def test_taylor_neuron_matches_finite_differences():
    net, Xs, ys = _tiny()
    h, layer = 1e-3, net[0]
    layer.b.data[:] = np.linspace(-0.2, 0.3, 5)      # a nonzero bias term too
    W0, b0 = layer.W.data.copy(), layer.b.data.copy()
    S = taylor_scores(net, Xs, ys, level="neuron", mode="first_order", batch_size=24)[0]
    for i in range(5):
        values = []
        for a in (1 + h, 1 - h):                     # scale neuron i's row and bias
            layer.W.data[i], layer.b.data[i] = W0[i] * a, b0[i] * a
            values.append(_loss64(net, Xs, ys))
        layer.W.data[i], layer.b.data[i] = W0[i], b0[i]
        assert S[i] == pytest.approx(abs(values[0] - values[1]) / (2 * h), rel=2e-3, abs=1e-6)


def test_taylor_abs_mode_bounds_first_order():
    net, Xs, ys = _tiny()
    exact = taylor_scores(net, Xs, ys, mode="first_order", batch_size=8)
    accumulated = taylor_scores(net, Xs, ys, mode="abs", batch_size=8)
    for e, a in zip(exact, accumulated):             # |mean| <= mean |.|
        assert (e <= a + 1e-7).all()
    with pytest.raises(ValueError, match="level"):
        taylor_scores(net, Xs, ys, level="row")


def test_numpy_forward_inputs_are_what_each_dense_layer_sees():
    net, Xs, _ = _tiny()
    x0, x1 = numpy_forward(net, Xs, inputs=True)[1]
    np.testing.assert_allclose(x0, Xs.astype(np.float32))
    np.testing.assert_allclose(x1, np.maximum(Xs @ net[0].W.data.T + net[0].b.data, 0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("criterion", sorted(BUILTIN))
def test_every_criterion_reaches_the_exact_sparsity(criterion):
    net, Xs, ys = _tiny()
    prune(net, criterion, 0.4, Xs, ys, seed=0)
    if BUILTIN[criterion] == "neuron":
        assert (np.abs(net[0].W.data).sum(axis=1) == 0).sum() == 2   # round(0.4 * 5)
        assert (net[0].b.data[net[0].W.mask[:, 0] == 0] == 0).all()
        assert net[2].W.mask is None                                  # outputs untouched
    else:
        for layer in (net[0], net[2]):
            assert (layer.W.mask == 0).sum() == round(0.4 * layer.W.size)
            assert (layer.W.data[layer.W.mask == 0] == 0).all()


def test_unknown_criterion_and_scope_raise():
    net = _tiny()[0]
    with pytest.raises(ValueError, match="criterion='size'"):
        prune(net, "size", 0.5)
    with pytest.raises(ValueError, match="scope='all'"):
        prune(net, "magnitude", 0.5, scope="all")
    with pytest.raises(ValueError, match="needs calibration inputs X"):
        prune(net, "wanda", 0.5)
