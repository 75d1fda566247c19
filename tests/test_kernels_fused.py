"""Whole-model kernels (minicomp.kernels.fused) against their naive twins, and the fused model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.deploy import to_inference
from minicomp.fused_model import FusedModel
from minicomp.kernels import fused_mlp as fused
from minicomp.kernels import reference as R
from minicomp.kernels import reference_fused as RF
from minicomp.kernels.vnni import cpu_vnni
from minicomp.nn import MLP
from minicomp.quant import quantize_mlp

VNNI = [False] + ([True] if cpu_vnni() == "avx512" else [])
DESIGNS = ("serial", "parallel")


@pytest.fixture(autouse=True)
def _no_dispatch_file(monkeypatch):
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")      # decisions in memory only


def int8_layers(rng, widths, dtypes):
    """Random int8 layers of the given widths; layer k reads dtypes[k], writes dtypes[k+1]."""
    layers = []
    for k, (K, N) in enumerate(zip(widths[:-1], widths[1:])):
        lo_x, hi_x = R.dtype_range(dtypes[k])
        lo_y, hi_y = R.dtype_range(dtypes[k + 1])
        layers.append({
            "w_q": rng.integers(-128, 128, (N, K)).astype(np.int8),
            "bias_q": None if rng.random() < 0.3 else rng.integers(-2**16, 2**16, N).astype(
                np.int32),
            "Z_x": int(rng.integers(lo_x, hi_x + 1)), "m0": rng.integers(2**30, 2**31, N),
            "shift": rng.integers(36, 44, N), "Z_y": int(rng.integers(lo_y, hi_y + 1)),
            "relu": bool(rng.random() < 0.6), "x_dtype": dtypes[k], "out_dtype": dtypes[k + 1]})
    for a, b in zip(layers, layers[1:]):
        b["Z_x"] = a["Z_y"]                                  # chained: output = next input
    return layers


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 3), batch=st.integers(1, 70),
       width=st.integers(1, 70), signed=st.lists(st.booleans(), min_size=4, max_size=4))
def test_int8_mlp_codes_equal_the_twin_bit_for_bit(seed, depth, batch, width, signed):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    dtypes = [np.int8 if s else np.uint8 for s in signed[:depth + 1]]
    layers = int8_layers(rng, widths, dtypes)
    S_x, S_y = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.01, 1.0))
    X = (rng.standard_normal((batch, widths[0])) * 4).astype(np.float32)   # some clamp
    codes, Y = RF.int8_mlp(X, layers, S_x, S_y)
    for vnni in VNNI:
        for design in DESIGNS:
            c, y = fused.int8_mlp(X, layers, S_x, S_y, vnni=vnni, design=design)
            assert c.dtype == codes.dtype
            np.testing.assert_array_equal(c, codes)
            np.testing.assert_array_equal(y, Y)


def csr_layers(rng, widths, density):
    csrs, biases, relus = [], [], []
    for K, N in zip(widths[:-1], widths[1:]):
        W = rng.standard_normal((N, K)) * (rng.random((N, K)) < density)
        csrs.append(R.to_csr(W))
        biases.append(None if rng.random() < 0.3 else rng.standard_normal(N).astype(np.float32))
        relus.append(bool(rng.random() < 0.6))
    return csrs, biases, relus


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 3), batch=st.integers(1, 300),
       width=st.integers(1, 90), density=st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_sparse_mlp_is_allclose_to_the_twin(seed, depth, batch, width, density):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    csrs, biases, relus = csr_layers(rng, widths, density)
    X = rng.standard_normal((batch, widths[0])).astype(np.float32)
    expected = RF.sparse_mlp(X, csrs, biases, relus)
    atol = 1e-5 * (1 + np.abs(expected).max(initial=0))            # float32 sums, other order
    for design in ("rowdot_serial", "rowdot_parallel", "axpy_serial", "axpy_parallel"):
        Y = fused.sparse_mlp(X, csrs, biases, relus, design=design)
        np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=atol, err_msg=design)


def test_int8_hand_worked():
    # x_q = rint([1, -0.5] / 0.5) + 10 = [12, 9]; x - Z_x = [2, -1]
    # acc = [1*2 + 2*-1 + 5, -4*2 + 0] = [5, -8]; M = [0.5, 0.25] -> [2.5 -> 3, -2] + 100
    layer = {"w_q": np.array([[1, 2], [-4, 0]], np.int8), "bias_q": np.array([5, 0], np.int32),
             "Z_x": 10, "m0": [1 << 30, 1 << 30], "shift": [31, 32], "Z_y": 100,
             "relu": False, "x_dtype": np.uint8, "out_dtype": np.uint8}
    for vnni in VNNI:
        codes, Y = fused.int8_mlp([[1.0, -0.5]], [layer], 0.5, 1.0, vnni=vnni)
        np.testing.assert_array_equal(codes, [[103, 98]])
        np.testing.assert_array_equal(Y, [[3.0, -2.0]])


def test_kernels_count_finite_inputs():
    rng = np.random.default_rng(0)
    layers = int8_layers(rng, [5, 4, 3], [np.uint8] * 3)
    X = rng.standard_normal((6, 5))
    X[2, 1], X[4, 0] = np.nan, -np.inf
    for vnni in VNNI:
        assert fused.run_int8(X, fused.pack_int8(layers, 0.1, 0.1, vnni), "serial")[2] == 28
    csrs, biases, relus = csr_layers(rng, [5, 4, 3], 0.5)
    packed = fused.pack_sparse(csrs, biases, relus)
    for design in ("rowdot_serial", "axpy_parallel"):
        assert fused.run_sparse(X.astype(np.float32), packed, design, 2)[1] == 28


def test_pack_int8_refuses_layers_that_do_not_chain():
    rng = np.random.default_rng(0)
    layers = int8_layers(rng, [5, 4, 3], [np.uint8] * 3)
    with pytest.raises(ValueError, match="layer 0 outputs 4 uint8 codes but layer 1 takes 4 int8"):
        fused.pack_int8([layers[0], dict(layers[1], x_dtype=np.int8, Z_x=0)], 0.1, 0.1, False)
    with pytest.raises(OverflowError, match="int32 accumulator could overflow"):
        big = dict(layers[0], w_q=np.full((4, 140_000), -128, np.int8), bias_q=None)
        fused.pack_int8([big], 0.1, 0.1, False)


def digits_like(seed=0, sizes=(64, 64, 64, 10)):
    rng = np.random.default_rng(seed)
    net = MLP(list(sizes), seed=seed)
    return net, rng.standard_normal((300, sizes[0])).astype(np.float32)


@pytest.mark.parametrize("batch", [1, 3, 64, 257])
def test_int8_model_fused_equals_layer_by_layer(batch):
    net, X = digits_like()
    model = to_inference(quantize_mlp(net, X))
    Xb = X[:batch]
    np.testing.assert_array_equal(model.forward_int(Xb), model.forward_int(Xb, fused=False))
    np.testing.assert_array_equal(model.predict(Xb), model.predict(Xb, fused=False))
    np.testing.assert_array_equal(model(Xb.astype(np.float64)), model.predict(Xb, fused=False))


@pytest.mark.parametrize("batch", [1, 3, 4, 257])
def test_sparse_model_fused_is_allclose_to_layer_by_layer(batch):
    from minicomp.prune import prune
    net, X = digits_like(1, (64, 300, 100, 10))
    prune(net, "magnitude", 0.93, scope="global")
    model = to_inference(net)
    Xb = X[:batch]
    expected = model.predict(Xb, fused=False)
    np.testing.assert_allclose(model.predict(Xb), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(Xb.astype(np.float64)), expected, rtol=1e-5, atol=1e-5)
    # float64 is cast to float32 first (one compiled variant, the one warm-up builds): the
    # same outputs bit for bit
    np.testing.assert_array_equal(model.predict(Xb.astype(np.float64)), model.predict(Xb))
    assert model.forward_int is not None and not model.int8


def test_forced_designs_give_the_same_result(monkeypatch):
    net, X = digits_like(2)
    model = to_inference(quantize_mlp(net, X))
    X = np.tile(X, (4, 1))                          # 1200 x 8832 MACs: threads are a candidate
    expected = model.forward_int(X, fused=False)
    for name in ("serial", "parallel"):
        monkeypatch.setenv("MINICOMP_KERNEL", f"fused_int8:{name}")
        fm = FusedModel(model)
        assert fm.design(X) == name
        np.testing.assert_array_equal(fm(X)[0], expected)
    monkeypatch.setenv("MINICOMP_KERNEL", "fused_int8:nope")
    with pytest.raises(ValueError, match="nope"):
        FusedModel(model)(X)


def test_a_stalling_parallel_fused_design_is_dropped(monkeypatch, tmp_path):
    # a parallel winner is watched like a sparse layer's (dispatch.observe): once its calls
    # cost more than the serial design's measured time, it is banned and decided again
    from minicomp.kernels import dispatch as D
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    monkeypatch.delenv("MINICOMP_KERNEL", raising=False)
    D.clear()
    net, X = digits_like(3)
    model = to_inference(quantize_mlp(net, X))
    X = np.tile(X, (4, 1))                           # threads are a candidate
    fm = FusedModel(model)
    expected = fm(X)[0]
    key = fm.key + (D.batch_bucket(len(X)),)
    D._memory[fm.family, key] = "parallel"           # as if measured so, then stalling:
    D._watch[fm.family, key] = [0.0, 0, D.WATCH_S]   # serial "takes 0 s"
    fm._names[len(X)] = ("parallel", key)
    for _ in range(D.WATCH):
        np.testing.assert_array_equal(fm(X)[0], expected)
    assert fm._names == {} and D.explain()[-1]["source"] == "stalled"
    assert fm.design(X) == "serial"                  # the ban holds
    np.testing.assert_array_equal(fm(X)[0], expected)
    D.clear()


def test_int8_dtypes_chain_through_the_fused_model():
    # int8 activations inside (x_dtype int8 -> + 128 in the kernel), int8 output codes
    net = MLP([6, 5, 4], seed=0)
    rng = np.random.default_rng(0)
    params = []
    for k, layer in enumerate(net.layers[::2]):
        N, K = layer.W.shape
        params.append({"w_q": rng.integers(-100, 100, (N, K)).astype(np.int8),
                       "bias_q": rng.integers(-500, 500, N).astype(np.int32),
                       "S_x": 0.05 if k == 0 else 0.3, "Z_x": -3 if k == 0 else 7, "S_w": 0.01,
                       "S_y": 0.3 if k == 0 else 0.7, "Z_y": 7 if k == 0 else -20,
                       "x_dtype": np.int8, "out_dtype": np.int8})
    model = to_inference(net, int8=params)
    X = rng.standard_normal((9, 6)).astype(np.float32)
    codes = model.forward_int(X)
    assert codes.dtype == np.int8 and codes.min() < 0
    np.testing.assert_array_equal(codes, model.forward_int(X, fused=False))
    np.testing.assert_array_equal(model.predict(X), model.predict(X, fused=False))


def test_bad_inputs_are_refused_with_the_layer_by_layer_messages():
    net, X = digits_like(3, (8, 6, 3))
    int8_model, sparse_model = to_inference(quantize_mlp(net, X)), to_inference(net)
    bad = X[:4].copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"quantize_input: X contains nan at \[2, 1\]"):
        int8_model.predict(bad)
    with pytest.raises(ValueError, match=r"predict: X contains nan at \[2, 1\]"):
        sparse_model.predict(bad)
    with pytest.raises(ValueError, match="X has 5 features"):
        sparse_model.predict(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="predict: X is a NoneType"):
        sparse_model.predict(None)
    assert int8_model.predict(X[:3].tolist()).shape == (3, 3)            # lists are arrays
    assert sparse_model.predict(np.asfortranarray(X[:3])).shape == (3, 3)
