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
    with pytest.raises(ValueError, match="to_inference: layer 0 .ReLU. follows no Dense layer"):
        to_inference(Sequential(ReLU(), Dense(5, 4, seed=0)))


def test_one_dense_layer_is_a_net():
    layer = Dense(4, 3, seed=0)
    X = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(to_inference(layer)(X), predict(layer, X), rtol=1e-5, atol=1e-6)


def test_sizes_are_storage_bytes():
    net = MLP([4, 3, 2], seed=0)
    # CSR of the full 3x4 and 2x3 layers: 12*4 + 12 + 4, 6*4 + 6 + 3; biases 3*4, 2*4
    assert to_inference(net).nbytes == (64 + 12) + (33 + 8)
    ok = {"w_q": np.ones((3, 4), np.int8), "bias_q": np.zeros(3, np.int32), "S_x": 0.1,
          "Z_x": 0, "S_w": 0.01, "S_y": 0.2, "Z_y": 0}
    # 12 int8 weights + int32 bias, m0, shift per channel + Z_x, Z_y
    assert Int8Dense(**ok).nbytes == 12 + 3 * 3 * 4 + 2


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
        params.append({"w_q": w_q, "bias_q": bias_q, "S_x": S_x, "Z_x": Z_x, "S_w": S_w,
                       "S_y": S_y, "Z_y": Z_y})
    return params


def test_int8_mlp_integers_equal_the_reference():
    net = MLP([64, 48, 32, 10], seed=3)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 64)).astype(np.float32)
    params = int8_params(net, X[:100])
    model = to_inference(net, int8=params)
    # the reference chain, written out
    S_x, Z_x = params[0]["S_x"], params[0]["Z_x"]
    q = np.clip(np.rint(X.astype(np.float64) / S_x) + Z_x, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(model.quantize_input(X), q)   # (200, 64) uint8
    for k, p in enumerate(params):
        m0, shift = R.quantize_multiplier(p["S_x"] * p["S_w"] / p["S_y"])
        q = R.int8_linear(q, p["Z_x"], p["w_q"], p["bias_q"], m0, shift, p["Z_y"], relu=k < 2)
    np.testing.assert_array_equal(model.forward_int(X), q)
    # and close to the float model: quantization noise only
    y_float, y_int8 = predict(net, X), model.predict(X)
    assert np.abs(y_int8 - y_float).max() < 0.1 * np.abs(y_float).max()
    assert (y_int8.argmax(1) == y_float.argmax(1)).mean() > 0.9
    last = params[-1]
    np.testing.assert_array_equal(y_int8, (last["S_y"] * (q.astype(np.float64) - last["Z_y"]))
                                  .astype(np.float32))


def test_int8_dense_hand_worked():
    # x - Z_x = [2, -1]; acc = [1*2 + 2*-1 + 5, -4*2 + 0 + 0] = [5, -8]
    # M = 0.5 * [1, 0.5] / 1 = [0.5, 0.25]: [2.5 -> 3 (half up), -2]; + Z_y 100
    layer = Int8Dense(np.array([[1, 2], [-4, 0]], np.int8), np.array([5, 0], np.int32),
                      S_x=0.5, Z_x=10, S_w=[1.0, 0.5], S_y=1.0, Z_y=100)
    np.testing.assert_array_equal(layer(np.array([[12, 9]], np.uint8)), [[103, 98]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -0.1])
@pytest.mark.parametrize("which", ["S_w", "S_x", "S_y"])
def test_int8_dense_refuses_bad_scales(which, bad):
    # the scales give M = S_x S_w / S_y = 0.05 * 0.1 / 0.01 = 0.5; x - Z_x = (2, 0, -1):
    # acc = [-1, -13] -> [-0.5 -> 0 (half up), -6.5 -> -6] + Z_y 128
    scales = {"S_w": 0.1, "S_x": 0.05, "S_y": 0.01}
    w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    layer = Int8Dense(w_q, None, Z_x=128, Z_y=128, **scales)
    np.testing.assert_array_equal(layer(np.array([[130, 128, 127]], np.uint8)), [[128, 122]])
    with pytest.raises(ValueError, match=f"Int8Dense: {which}=.*expected a finite positive"):
        Int8Dense(w_q, None, Z_x=0, Z_y=0, **{**scales, which: bad})


def test_bad_inputs_raise_clear_errors():
    net = MLP([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match="not both"):
        to_inference(net, masks={}, int8=[])
    with pytest.raises(ValueError, match="2 Dense layers"):
        to_inference(net, int8=[{}])
    with pytest.raises(TypeError, match="the Sigmoid after the Dense layer at 0"):
        to_inference(Sequential(Dense(4, 3, seed=0), Sigmoid()))
    with pytest.raises(TypeError, match="to_inference: net is a str"):
        to_inference("Sequential")
    ok = {"w_q": np.ones((3, 4), np.int8), "bias_q": None, "S_x": 0.1, "Z_x": 0,
          "S_w": 0.01, "S_y": 0.2, "Z_y": 0}
    for bad, match in (({"S_x": np.nan}, "S_x=nan; expected a finite positive"),
                       ({"S_w": [0.1, -1, 0.1]}, "S_w=.*expected a finite positive"),
                       ({"w_q": np.ones((3, 4), np.int16)}, "int8"),
                       ({"bias_q": np.zeros(3, np.int64)}, "int32"),
                       ({"Z_y": 300}, r"Z_y=300; expected an int in \[0, 255\]"),
                       ({"Z_x": 1.5}, r"Z_x=1\.5")):
        with pytest.raises((TypeError, ValueError), match=match):
            Int8Dense(**{**ok, **bad})
    layer = Int8Dense(**ok)
    with pytest.raises(TypeError, match="uint8"):
        layer(np.ones((1, 4), np.int8))
    second = dict(ok, w_q=np.ones((2, 3), np.int8), S_x=0.3)     # 0.3 != layer 0's 0.2
    with pytest.raises(ValueError, match="layer 1 expects"):
        to_inference(net, int8=[ok, second])
    with pytest.raises(ValueError, match="bias must have"):
        SparseDense.from_dense(np.eye(3), bias=np.ones(2))
