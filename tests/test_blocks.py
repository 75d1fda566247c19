"""THE walker (dense_blocks) and THE NumPy forward (numpy_forward)."""
import numpy as np
import pytest

from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.nn import MLP, Dense, Dropout, Identity, ReLU, Sequential, Sigmoid, Tanh
from minicomp.tensor import no_grad


def test_blocks_of_an_mlp_pair_each_dense_with_its_activation():
    blocks = dense_blocks(MLP([4, 8, 6, 3], activation="tanh"))
    assert [b.index for b in blocks] == [0, 2, 4]
    assert [type(b.act).__name__ for b in blocks] == ["Tanh", "Tanh", "Identity"]
    assert [b.dense.W.shape for b in blocks] == [(8, 4), (6, 8), (3, 6)]


def test_dropout_and_identity_are_skipped_and_one_dense_is_a_net():
    net = Sequential(Identity(), Dense(2, 3), Dropout(0.3), ReLU(), Identity(), Dense(3, 1))
    blocks = dense_blocks(net)
    assert [(b.index, type(b.act).__name__) for b in blocks] == [(1, "ReLU"), (5, "Identity")]
    layer = Dense(2, 2)
    assert dense_blocks(layer)[0].dense is layer


@pytest.mark.parametrize("net, error, pattern", [
    (Sequential(ReLU(), Dense(2, 2)), ValueError, "layer 0 .ReLU. follows no Dense layer"),
    (Sequential(Dense(2, 2), ReLU(), Tanh()), ValueError, "layer 2 .Tanh. follows another"),
    (Sequential(Dense(2, 2), Sequential(Dense(2, 2))), TypeError, "layer 1 is a Sequential"),
    (Sequential(ReLU()), ValueError, "no Dense layer"),
    ("MLP", TypeError, "net is a str"),
])
def test_walker_refuses_what_no_technique_supports(net, error, pattern):
    with pytest.raises(error, match=pattern):
        dense_blocks(net, "walk")


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-6)])
def test_numpy_forward_equals_the_engine_in_eval_mode(activation, dtype, tol):
    net = MLP([5, 7, 4, 3], activation=activation, seed=1)
    X = np.random.default_rng(0).standard_normal((9, 5))
    with no_grad():
        want = net(X.astype(np.float32)).data
    Y, inputs = numpy_forward(net, X, dtype=dtype, inputs=True)
    assert Y.dtype == dtype and Y.shape == (9, 3)
    np.testing.assert_allclose(Y, want, rtol=tol, atol=tol)
    assert [x.shape for x in inputs] == [(9, 5), (9, 7), (9, 4)]
    np.testing.assert_allclose(inputs[0], X.astype(dtype))


def test_numpy_forward_ignores_dropout_like_eval_mode():
    net = Sequential(Dense(3, 4, seed=0), Dropout(0.5, seed=0), ReLU(), Dense(4, 2, seed=1))
    X = np.ones((2, 3), np.float32)
    net.eval()
    np.testing.assert_allclose(numpy_forward(net, X), net(X).data, rtol=1e-6)


def test_sigmoid_twin_is_the_logistic_function_and_saturates_without_overflow():
    h = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    with np.errstate(over="raise"):
        got = Sigmoid.numpy(h)
    np.testing.assert_allclose(got, 1.0 / (1.0 + np.exp(-np.clip(h, -50, 50))), atol=1e-15)


@pytest.mark.parametrize("X, error, pattern", [
    (np.ones((2, 4)), ValueError, "X has 4 features .* expected 5"),
    (np.ones(5), ValueError, "X has shape \\(5,\\)"),
    (np.full((1, 5), np.nan), ValueError, "X contains nan at \\[0, 0\\]"),
    (np.zeros((0, 5)), ValueError, "X is empty"),
    ([["a"] * 5], TypeError, "X has dtype <U1"),
])
def test_numpy_forward_checks_its_input(X, error, pattern):
    with pytest.raises(error, match="fwd: " + pattern):
        numpy_forward(MLP([5, 3]), X, where="fwd")


def test_count_macs_dense_and_nonzero():
    from minicomp.blocks import count_macs
    from minicomp.prune import prune
    net = MLP([6, 4, 3], seed=0)
    assert count_macs(net) == 6 * 4 + 4 * 3
    prune(net, "magnitude", 10)                      # 10 of each layer's weights masked
    assert count_macs(net, nonzero=True) == 36 - 2 * 10
    with pytest.raises(TypeError, match="nonzero"):
        count_macs(net, nonzero="yes")
