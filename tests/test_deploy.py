"""Inference models (minicomp.deploy) against the float model and the int8 reference."""
from __future__ import annotations

import numpy as np
import pytest

from minicomp.deploy import Int8Dense, SparseDense, to_inference
from minicomp.kernels import reference as R
from minicomp.nn import MLP, Dense, Sequential, Sigmoid
from minicomp.prune.mask import apply_mask
from minicomp.train import predict


def masked_mlp(seed=0, sizes=(64, 48, 32, 10), sparsity=0.8):
    net = MLP(sizes, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in net:
        if isinstance(layer, Dense):
            apply_mask(layer.W, (rng.random(layer.W.shape) >= sparsity).astype(np.float32))
    return net


@pytest.mark.parametrize("batch", [1, 5, 130])
def test_masked_mlp_matches_float_model(batch):
    net = masked_mlp()
    X = np.random.default_rng(1).standard_normal((batch, 64)).astype(np.float32)
    model = to_inference(net)                                   # masks from W.mask
    assert [layer.relu for layer in model.layers] == [True, True, False]
    np.testing.assert_allclose(model.predict(X), predict(net, X), rtol=1e-5, atol=1e-5)
    nnz = sum(int((layer.W.data != 0).sum()) for layer in net if isinstance(layer, Dense))
    assert sum(layer.csr.nnz for layer in model.layers) == nnz


def test_dropout_and_identity_are_skipped_relu_is_fused():
    from minicomp.nn import Dropout, Identity, ReLU
    net = Sequential(Dense(5, 4, seed=0), Dropout(0.5, seed=0), ReLU(), Identity(),
                     Dense(4, 2, seed=1))
    model = to_inference(net)
    assert [layer.relu for layer in model.layers] == [True, False]
    X = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(model(X), predict(net, X), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="before any Dense"):
        to_inference(Sequential(ReLU(), Dense(5, 4, seed=0)))


def test_mask_dict_by_index_or_name():
    net = MLP([6, 4, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    keep = np.zeros((4, 6))
    keep[:, :2] = 1                                              # only inputs 0 and 1
    for masks in ({0: keep}, {"0.weight": keep}):
        model = to_inference(net, masks=masks)
        assert model.layers[0].csr.nnz == 8
        W0 = net[0].W.data * keep
        hidden = np.maximum(X @ W0.T + net[0].b.data, 0)          # (3, 4)
        expected = hidden @ net[2].W.data.T + net[2].b.data       # (3, 3)
        np.testing.assert_allclose(model(X), expected, rtol=1e-5, atol=1e-6)


def minmax_qparams(r):
    """uint8 asymmetric (scale, zero point) covering [min(r, 0), max(r, 0)]."""
    lo, hi = min(float(r.min()), 0.0), max(float(r.max()), 0.0)
    S = (hi - lo) / 255 if hi > lo else 1.0
    return S, int(np.clip(round(-lo / S), 0, 255))


def int8_params(net, X_calib):
    """Per-channel symmetric int8 weights, min-max uint8 activations, int32 bias."""
    dense = [layer for layer in net if isinstance(layer, Dense)]
    acts = [X_calib]                                              # float inputs of each layer
    h = X_calib
    for k, layer in enumerate(dense):
        h = h @ layer.W.data.T + layer.b.data
        if k < len(dense) - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    params = []
    for k, layer in enumerate(dense):
        W = layer.W.data.astype(np.float64)                         # (out, in)
        S_w = np.maximum(np.abs(W).max(axis=1), 1e-12) / 127        # (out,)
        w_q = np.clip(np.rint(W / S_w[:, None]), -127, 127).astype(np.int8)
        S_x, Z_x = minmax_qparams(acts[k])
        S_y, Z_y = minmax_qparams(acts[k + 1])
        bias_q = np.rint(layer.b.data / (S_x * S_w)).astype(np.int32)
        params.append({"w_q": w_q, "bias_q": bias_q, "x_scale": S_x, "x_zero_point": Z_x,
                           "w_scale": S_w, "y_scale": S_y, "y_zero_point": Z_y})
    return params


def test_int8_mlp_integers_equal_the_reference():
    net = MLP([64, 48, 32, 10], seed=3)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 64)).astype(np.float32)
    params = int8_params(net, X[:100])
    model = to_inference(net, int8=params)
    # the reference chain, written out
    q = model.layers[0].quantize_input(X)                       # (200, 64) uint8
    for k, p in enumerate(params):
        m0, shift = R.quantize_multiplier(p["x_scale"] * p["w_scale"] / p["y_scale"])
        q = R.int8_linear(q, p["x_zero_point"], p["w_q"], p["bias_q"], m0, shift,
                          p["y_zero_point"], relu=k < 2)
    np.testing.assert_array_equal(model.forward_int(X), q)
    # and close to the float model: quantization noise only
    y_float, y_int8 = predict(net, X), model.predict(X)
    assert np.abs(y_int8 - y_float).max() < 0.1 * np.abs(y_float).max()
    assert (y_int8.argmax(1) == y_float.argmax(1)).mean() > 0.9


def test_int8_dense_hand_worked():
    # x - Z_x = [2, -1]; acc = [1*2 + 2*-1 + 5, -4*2 + 0 + 0] = [5, -8]
    # M = 0.5 * [1, 0.5] / 1 = [0.5, 0.25]: [2.5 -> 3 (half up), -2]; + Z_y 100
    layer = Int8Dense(np.array([[1, 2], [-4, 0]], np.int8), np.array([5, 0], np.int32),
                      x_scale=0.5, x_zero_point=10, w_scale=[1.0, 0.5], y_scale=1.0,
                      y_zero_point=100)
    np.testing.assert_array_equal(layer(np.array([[12, 9]], np.uint8)), [[103, 98]])


def test_bad_inputs_raise_clear_errors():
    net = MLP([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match="not both"):
        to_inference(net, masks={}, int8=[])
    with pytest.raises(ValueError, match="2 Dense layers"):
        to_inference(net, int8=[{}])
    with pytest.raises(ValueError, match="Sigmoid"):
        to_inference(Sequential(Dense(4, 3, seed=0), Sigmoid()))
    with pytest.raises(TypeError, match="Sequential"):
        to_inference(Dense(4, 3, seed=0))
    ok = {"w_q": np.ones((3, 4), np.int8), "bias_q": None, "x_scale": 0.1, "x_zero_point": 0,
              "w_scale": 0.01, "y_scale": 0.2, "y_zero_point": 0}
    for bad, match in (({"x_scale": np.nan}, "x_scale must be finite"),
                       ({"w_scale": [0.1, -1, 0.1]}, "w_scale must be finite"),
                       ({"w_q": np.ones((3, 4), np.int16)}, "int8"),
                       ({"bias_q": np.zeros(3, np.int64)}, "int32"),
                       ({"y_zero_point": 300}, "y_zero_point")):
        with pytest.raises((TypeError, ValueError), match=match):
            Int8Dense(**{**ok, **bad})
    layer = Int8Dense(**ok)
    with pytest.raises(TypeError, match="uint8"):
        layer(np.ones((1, 4), np.int8))
    second = dict(ok, w_q=np.ones((2, 3), np.int8), x_scale=0.3)  # 0.3 != layer 0's 0.2
    with pytest.raises(ValueError, match="layer 1 expects"):
        to_inference(net, int8=[ok, second])
    with pytest.raises(ValueError, match="bias must have"):
        SparseDense.from_dense(np.eye(3), bias=np.ones(2))
