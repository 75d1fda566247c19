"""MX, NVFP4, NF4, ternary and the format table: oracles, properties, bytes, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import MLP
from minicomp.formats import minifloat as F
from minicomp.formats import mx, nf4, table, ternary

ml_dtypes = pytest.importorskip("ml_dtypes")


def weights(seed=0, shape=(16, 128), spread=8.0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(shape) * np.exp(rng.uniform(-spread, spread, (shape[0], 1)))
    return W.astype(np.float32)


def ml(elem):
    return getattr(ml_dtypes, F.MINIFLOATS[elem].ml_dtype)


@pytest.mark.parametrize("fmt", tuple(mx.MX_FORMATS))
def test_mx_matches_the_spec_computed_with_ml_dtypes(fmt):
    elem, e_max, _ = mx.MX_FORMATS[fmt]
    W = weights()
    W[0, :32] = 0                                          # an all-zero block
    W[1, 40] = np.nan                                      # a block with NaN -> NaN scale
    V = W.astype(np.float64).reshape(16, 4, 32)
    amax = np.abs(V).max(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        X = 2.0 ** np.where(amax > 0, np.floor(np.log2(amax)) - e_max, -127)   # E8M0 scale
    P = V / X[..., None]
    if elem == "int8":
        expected = np.clip(np.round(P * 64), -127, 127) / 64
    else:
        top = float(ml_dtypes.finfo(ml(elem)).max)
        expected = np.clip(P, -top, top).astype(ml(elem)).astype(np.float64)
    expected = (expected * X[..., None]).reshape(W.shape).astype(np.float32)
    expected[1, 32:64] = np.nan
    t = mx.mx_quantize(W, fmt)
    np.testing.assert_array_equal(mx.mx_dequantize(t), expected)
    assert t.scales[1, 1] == 255 and t.scales[0, 0] == 0
    assert t.nbytes == W.size * mx.MX_FORMATS[fmt][2] / 8 + W.size / 32


def test_nvfp4_matches_its_definition_with_ml_dtypes():
    W = weights(1, (8, 64), spread=2.0)
    t = mx.nvfp4_quantize(W)
    g = np.float32(np.abs(W).max() / (6 * 448))
    V = W.reshape(8, 4, 16)
    s = (np.abs(V).max(-1) / (6 * g)).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    P = np.clip(V / (s * g)[..., None], -6, 6).astype(ml_dtypes.float4_e2m1fn)
    expected = (P.astype(np.float32) * (s[..., None] * g)).reshape(W.shape)
    np.testing.assert_array_equal(mx.nvfp4_dequantize(t), expected)
    assert t.nbytes == W.size / 2 + W.size / 16 + 4
    assert np.abs(mx.nvfp4_dequantize(t) - W).max() <= np.abs(W).max() / 6   # half a step


def test_hand_worked_mxfp4_block():
    # amax 5 = 1.25 * 2^2 -> shared exponent 2 - e_max(E2M1) = 2 - 2 = 0: X = 1;
    # E2M1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6: 0.1 -> 0, 5 -> 4 (tie 4|6 -> even code 4)
    t = mx.mx_quantize([[0.1, -1.0, 3.0, 5.0]], "mxfp4", block=4)
    assert int(t.scales[0, 0]) == 127
    np.testing.assert_array_equal(mx.mx_dequantize(t), [[0, -1, 3, 4]])


def test_nf4_codebook_and_nearest_code():
    np.testing.assert_allclose(nf4.nf4_codebook(), nf4.NF4, atol=2e-7)
    W = weights(2, (8, 128), spread=1.0)
    t = nf4.nf4_quantize(W, double_quant=False)
    s = np.abs(W.reshape(-1, 64)).max(axis=1, keepdims=True)
    dist = np.abs(W.reshape(-1, 64)[..., None] / s[..., None] - nf4.NF4)     # (G, 64, 16)
    assert np.array_equal(t.codes.reshape(-1, 64), dist.argmin(axis=-1))
    np.testing.assert_allclose(nf4.nf4_dequantize(t), nf4.NF4[t.codes] * np.repeat(
        s, 64).reshape(W.shape), rtol=1e-6)


def test_nf4_double_quantization_bytes_and_error():
    W = weights(3, (64, 512), spread=0.5)
    single, double = nf4.nf4_quantize(W, double_quant=False), nf4.nf4_quantize(W)
    assert single.nbytes * 8 / W.size == 4.5
    assert double.nbytes * 8 / W.size == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=2e-3)
    e1 = np.abs(nf4.nf4_dequantize(single) - W).mean()
    e2 = np.abs(nf4.nf4_dequantize(double) - W).mean()
    assert e2 < 1.05 * e1                                  # the 8-bit scales cost little


def test_ternary_absmean():
    T, gamma = ternary.ternary_quantize([[0.9, -0.1, -1.4, 0.4]])
    assert T.tolist() == [[1, 0, -1, 1]] and gamma == pytest.approx(0.7)
    x_q, s = ternary.quantize_activations([[0.5, -1.0, 0.0]])
    assert x_q.tolist() == [[64, -127, 0]] and s[0, 0] == pytest.approx(1 / 127)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), fmt=st.sampled_from(table.FORMAT_NAMES))
def test_simulate_is_idempotent_and_bytes_add_up(seed, fmt):
    W = weights(seed, (4, 64), spread=1.0)
    once = table.simulate(W, fmt)
    assert once.shape == W.shape and np.isfinite(once).all()
    if fmt not in ("nvfp4", "nf4", "int4", "int8", "ternary", "fp8_e4m3", "fp8_e5m2"):
        np.testing.assert_array_equal(table.simulate(once, fmt), once)   # power-of-2 scales
    assert table.format_bytes((4, 64), fmt, bias=False) <= 4 * 64 * 4


def test_format_table_bytes():
    assert table.format_bytes((10, 64), "fp32") == 10 * 64 * 4 + 40
    assert table.format_bytes((10, 64), "mxfp4", bias=False) == 10 * 64 / 2 + 20
    assert table.format_bytes((10, 40), "mxfp4", bias=False) == 10 * 64 / 2 + 20   # padded
    assert table.format_bytes((1, 64), "ternary", bias=False) == 16 + 4
    net = MLP([64, 32, 10], seed=0)
    assert table.net_bytes(net, "int8") == (32 * 64 + 32 * 4 + 32 * 4) + (10 * 32 + 80)
    q = table.quantize_net(net, "mxfp4")
    assert not np.array_equal(q[0].W.data, net[0].W.data)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="multiple of block=32"):
        mx.mx_quantize(np.ones((2, 48)), "mxfp8_e4m3")
    with pytest.raises(ValueError, match="multiple of block=64"):
        nf4.nf4_quantize(np.ones((2, 48)))
    with pytest.raises(ValueError, match="fmt='mxfp5'"):
        mx.mx_quantize(np.ones((1, 32)), "mxfp5")
    with pytest.raises(ValueError, match="fmt='fp16'"):
        table.simulate(np.ones((1, 32)), "fp16")
    with pytest.raises(ValueError, match="nan"):
        mx.nvfp4_quantize(np.full((1, 16), np.nan))
    with pytest.raises(ValueError, match="nan"):
        nf4.nf4_quantize(np.full((1, 64), np.nan))
    t = mx.nvfp4_quantize(np.ones((1, 16)))
    with pytest.raises(ValueError, match="tensor_scale=nan"):
        mx.nvfp4_dequantize(t._replace(tensor_scale=float("nan")))
    q = nf4.nf4_quantize(np.ones((1, 64)), double_quant=False)
    with pytest.raises(ValueError, match="absmax.*nan"):
        nf4.nf4_dequantize(q._replace(absmax=np.array([np.nan], np.float32)))
    with pytest.raises(TypeError, match="BlockTensor"):
        mx.mx_dequantize(np.ones(3))
    with pytest.raises(ValueError, match="nan"):
        ternary.ternary_quantize([[np.nan, 1.0]])


def test_nf4_double_quantization_never_rebuilds_a_scale_at_or_below_zero():
    W = np.r_[np.ones(64), np.full(64, 0.01), np.full(64, 0.3)][None]    # the reviewer's case
    t = nf4.nf4_quantize(W)
    assert (nf4.double_dequantize(*t.dq) > 0).all()
    middle = nf4.nf4_dequantize(t)[0, 64:128]
    assert not np.signbit(middle).any()                                  # was -0.0
    np.testing.assert_allclose(middle, 0.01, rtol=0.2)
    np.testing.assert_allclose(nf4.nf4_dequantize(t)[0, :64], 1.0)


def test_nf4_and_mx_dequantize_check_their_input():
    q = nf4.nf4_quantize(np.ones((1, 64)), double_quant=False)
    with pytest.raises(ValueError, match=r"nf4_dequantize: codes holds 16..16; expected 4-bit"):
        nf4.nf4_dequantize(q._replace(codes=np.full((1, 64), 16)))
    with pytest.raises(TypeError, match="nf4_dequantize: codes has dtype float64"):
        nf4.nf4_dequantize(q._replace(codes=np.ones((1, 64))))
    with pytest.raises(ValueError, match="nf4_dequantize: t.block=0; expected an int >= 1"):
        nf4.nf4_dequantize(q._replace(block=0))
    with pytest.raises(ValueError, match="multiple of t.block=48"):
        nf4.nf4_dequantize(q._replace(block=48))
    with pytest.raises(ValueError, match="t.absmax holds -1.0; expected block scales >= 0"):
        nf4.nf4_dequantize(q._replace(absmax=np.array([-1.0], np.float32)))
    np.testing.assert_array_equal(nf4.nf4_dequantize(q._replace(codes=q.codes.tolist())),
                                  nf4.nf4_dequantize(q))
    t = mx.mx_quantize(np.ones((1, 32)), "mxint8")
    as_lists = t._replace(codes=t.codes.tolist(), scales=t.scales.tolist())   # no AttributeError
    np.testing.assert_array_equal(mx.mx_dequantize(as_lists), mx.mx_dequantize(t))
    with pytest.raises(ValueError, match=r"mx_dequantize: t.codes holds 300..300; expected int8"):
        mx.mx_dequantize(t._replace(codes=np.full((1, 32), 300)))
    with pytest.raises(TypeError, match="mx_dequantize: t.codes has dtype float64"):
        mx.mx_dequantize(t._replace(codes=np.full((1, 32), 1.5)))


def test_nf4_bytes_agree_and_shapes_are_ints():
    for shape in [(4, 64), (1000, 640), (3, 64 * 300)]:
        assert table.format_bytes(shape, "nf4", bias=False) == \
            nf4.nf4_quantize(np.ones(shape)).nbytes            # 4 * 64 / 2 + 4 + 4 + 4 = 140
    assert table.format_bytes((4, 64), "nf4", bias=False) == 140
    with pytest.raises(TypeError, match=r"format_bytes: shape\[0\]=True \(bool\)"):
        table.format_bytes((True, 40), "int8")


@pytest.mark.parametrize("fn, name", [
    (lambda x: nf4.nf4_quantize(x), "nf4_quantize: W"),
    (lambda x: mx.nvfp4_quantize(x[:, :16]), "nvfp4_quantize: x"),
    (lambda x: mx.mx_quantize(x[:, :32]), "mx_quantize: x"),
    (lambda x: ternary.ternary_quantize(x), "ternary_quantize: W"),
])
def test_values_beyond_float32_are_refused(fn, name):
    x = np.ones((1, 64))
    x[0, 5] = 1e300
    with pytest.raises(ValueError, match=rf"{name} holds 1e\+300, beyond float32's range "
                                         r"\(3.4e\+38\)"):
        fn(x)


def test_ternary_dense_and_nm_dense_are_exported():
    from minicomp.formats import NMDense, TernaryDense
    from minicomp.prune import is_nm, nm_keep
    assert NMDense and TernaryDense and is_nm([[1, 1, 0, 0]], 2, 4) and nm_keep(0, 2, 4) == 4
