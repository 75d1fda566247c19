"""Equalization, bias correction, SmoothQuant and AWQ: same float function, better grids."""
import copy

import numpy as np
import pytest

from minicomp import MLP, predict
from minicomp.blocks import numpy_forward
from minicomp.ptq import awq, bias_correction, cross_layer_equalize, smoothquant
from minicomp.ptq.equalize import (
    channel_ranges,
    equalization_scales,
    expected_inputs,
    scale_neurons,
)
from minicomp.ptq.transforms import (
    awq_scales,
    protect_channels,
    salient_channels,
    smoothquant_scales,
)
from minicomp.quant import quantize_mlp, quantize_tensor


def _outlier_net(scale=50.0, channels=(0,), seed=0):
    net = MLP([6, 8, 8, 3], seed=seed)
    s = np.ones(8)
    s[list(channels)] = 1.0 / scale                  # neuron up by `scale`, its weights down
    scale_neurons(net[0], net[2], s)
    return net


def _X(n=64, width=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, width)).astype(np.float32)


@pytest.mark.parametrize("fn", [cross_layer_equalize,
                                lambda net: smoothquant(net, _X(), 0.5),
                                lambda net: smoothquant(net, _X(), 1.0),
                                lambda net: awq(net, _X(), 3)])
def test_float_outputs_are_unchanged(fn):
    net = _outlier_net()
    X = _X(seed=1)
    out = fn(net)
    assert out is not net
    assert np.abs(predict(out, X) - predict(net, X)).max() < 1e-5


def test_equalization_makes_ranges_match():
    net = _outlier_net()
    r = channel_ranges(net)[0]
    assert r.max() / r.min() > 10                              # the ranges differ by >= 10x
    eq = cross_layer_equalize(net)
    for first, second in ((eq[0], eq[2]), (eq[2], eq[4])):
        np.testing.assert_allclose(np.abs(first.W.data).max(1), np.abs(second.W.data).max(0),
                                   rtol=1e-4)
    np.testing.assert_allclose(equalization_scales(np.array([[4.0], [1.0]]),
                                                   np.array([[1.0, 4.0]])), [2.0, 0.5])


def test_equalization_rescues_per_tensor_weights():
    net, X = _outlier_net(), _X(256)
    Y = predict(net, X)
    before = np.abs(quantize_mlp(net, X, 4, None, "tensor")(X).data - Y).mean()
    after = np.abs(quantize_mlp(cross_layer_equalize(net), X, 4, None, "tensor")(X).data
                   - Y).mean()
    assert after < 0.5 * before


def test_empirical_bias_correction_removes_the_mean_error():
    net = MLP([6, 4], seed=0)                                  # one layer: exact
    X = _X(128) + 1.0
    q_plain = quantize_mlp(net, X, 3, None, "tensor")
    q_corr = quantize_mlp(bias_correction(net, 3, "tensor", X=X), X, 3, None, "tensor")
    Y = predict(net, X)
    np.testing.assert_allclose((q_corr(X).data - Y).mean(0), 0, atol=1e-5)
    assert np.abs((q_plain(X).data - Y).mean(0)).max() > 1e-3
    W = net[0].W.data.astype(np.float64)
    eps = quantize_tensor(W, 3, granularity="tensor").dequantize() - W
    np.testing.assert_allclose(bias_correction(net, 3, X=X)[0].b.data,
                               net[0].b.data - eps @ X.mean(0), rtol=1e-5, atol=1e-6)


def test_analytic_means_match_sampling():
    net = MLP([6, 8, 8, 3], seed=1)
    X = np.random.default_rng(0).standard_normal((200_000, 6))
    _, inputs = numpy_forward(net, X, np.float64, inputs=True)
    analytic = expected_inputs(net)
    np.testing.assert_allclose(analytic[1], inputs[1].mean(0), atol=0.01)   # exact after 1
    # deeper, the independence assumption of the module docstring is only approximate
    np.testing.assert_allclose(analytic[2], inputs[2].mean(0), atol=0.25)
    assert np.corrcoef(analytic[2], inputs[2].mean(0))[0, 1] > 0.8


def test_smoothquant_and_awq_scales():
    np.testing.assert_allclose(smoothquant_scales([[4.0, 1.0]], [[1.0, 1.0]], 0.5), [2, 1])
    np.testing.assert_allclose(smoothquant_scales([[4.0, 1.0]], [[1.0, 9.0]], 0.0), [1, 1 / 9])
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(100, 8)), rng.normal(size=(4, 8))
    X[:, 2] *= 30                                                  # a salient channel
    W[:, 2] /= 30
    s, alpha = awq_scales(X, W, bits=3)
    assert alpha > 0 and s.argmax() == 2
    W_rtn = quantize_tensor(W, 3).dequantize()
    W_awq = quantize_tensor(W * s, 3).dequantize() / s
    assert ((X @ (W_awq - W).T) ** 2).sum() < ((X @ (W_rtn - W).T) ** 2).sum()
    assert list(salient_channels(X, 0.1)) == [2]
    W_p = protect_channels(W, [2], 3)
    np.testing.assert_array_equal(W_p[:, 2], W[:, 2])
    assert ((X @ (W_p - W).T) ** 2).sum() < ((X @ (W_rtn - W).T) ** 2).sum()


def test_smoothquant_flattens_activation_outliers():
    net, X = _outlier_net(), _X(256)
    _, before = numpy_forward(net, X, inputs=True)
    _, after = numpy_forward(smoothquant(net, X, 0.5), X, inputs=True)
    spread = [np.abs(x).max(0).max() / np.abs(x).max(0).mean() for x in (before[1], after[1])]
    assert spread[1] < spread[0] / 2


def test_bad_inputs_are_named():
    net, X = _outlier_net(), _X()
    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha="):
            smoothquant(net, X, alpha)
    with pytest.raises(ValueError, match="X_calib"):
        smoothquant(net, X[:, :5])
    with pytest.raises(ValueError, match="X_calib"):
        awq(net, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="bits=17"):
        awq(net, X, 17)
    with pytest.raises(ValueError, match="bits=1"):
        bias_correction(net, 1)
    with pytest.raises(ValueError, match="granularity"):
        bias_correction(net, 8, "group")
    with pytest.raises(ValueError, match="X"):
        bias_correction(net, 8, X=X[:, :3])
    with pytest.raises(ValueError, match="input_mean"):
        bias_correction(net, 8, input_mean=np.zeros(5))
    with pytest.raises(ValueError, match="max_sweeps=0"):
        cross_layer_equalize(net, max_sweeps=0)
    with pytest.raises(ValueError, match="s has shape"):
        scale_neurons(net[0], net[2], -np.ones(8))
    with pytest.raises(TypeError, match="Tanh"):
        cross_layer_equalize(MLP([3, 4, 2], activation="tanh"))
    assert copy.deepcopy(net)[0].W.data.shape == (8, 6)


def test_bias_correction_arguments():
    net, X = _outlier_net(), _X()
    with pytest.raises(ValueError, match="bias_correction: X and input_mean/input_var given"):
        bias_correction(net, 8, X=X, input_mean=np.zeros(6))
    with pytest.raises(ValueError, match=r"shapes \(5,\) and \(6,\); expected \(6,\)"):
        bias_correction(net, 8, input_mean=np.zeros(5))       # the shapes, not "{mu.shape}"
    with pytest.raises(ValueError, match="input_var holds -1.0, a variance < 0"):
        bias_correction(net, 8, input_var=-np.ones(6))
