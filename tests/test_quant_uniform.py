"""Tests of minicomp.quant: fixed point, uniform quantizers, granularity, observers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.quant import (
    dequantize,
    fake_quantize,
    fixed_point,
    quantize,
    quantize_tensor,
    scale_zero_point,
    to_fixed,
)
from minicomp.quant.fixed_point import distinct_values, fixed_point_range, wrap_around
from minicomp.quant.granularity import quantization_error
from minicomp.quant.observers import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    PercentileObserver,
)
from minicomp.quant.uniform import qrange, real_range

floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)
arrays = st.lists(floats, min_size=1, max_size=40).map(np.array)
bits_st = st.integers(2, 16)
schemes = st.sampled_from(["affine", "symmetric"])


# ---- fixed point (seed 004) ------------------------------------------------
def test_fixed_point_hand_worked():
    # Q = 2^8 = 256: 0.3 * 256 = 76.8 -> 77 -> 77/256 = 0.30078125
    assert fixed_point([0.3], 8, 16)[0] == 77 / 256
    assert fixed_point_range(8, 16) == (-128.0, 32767 / 256, 1 / 256)
    q, overflow = to_fixed([1000.0, -1000.0, 1.0], 8, 16)      # +-1000 do not fit Q8.8
    assert overflow == 2 and q.tolist() == [32767, -32768, 256]
    assert wrap_around([128], 8).tolist() == [-128]              # an int8 wraps, we saturate


def test_clamp_is_not_quantization():
    x = np.linspace(-1, 1, 2001)
    clamped = np.clip(x, -0.01, 0.01)                            # seed 002's "quantization"
    assert distinct_values(clamped) == 21                        # still floats in between
    assert distinct_values(fixed_point(x, 4, 8)) == 33           # 2 * 16 + 1 grid points


def test_fixed_point_bad_input():
    with pytest.raises(ValueError, match="f=8"):
        to_fixed([1.0], 8, 8)
    with pytest.raises(ValueError, match="non-finite"):
        fixed_point([np.nan], 4, 8)


# ---- uniform -------------------------------------------------------------
def test_scale_zero_point_hand_worked():
    S, Z = scale_zero_point(-1.0, 3.0, 8)          # 4 / 255 per step; 0 at code 64 (63.75)
    assert S == pytest.approx(4 / 255) and Z == 64
    S, Z = scale_zero_point(-0.5, 2.0, 8, "symmetric")   # 2 / 127
    assert S == pytest.approx(2 / 127) and Z == 0
    assert qrange(4, "symmetric") == (-7, 7) and qrange(16, "affine") == (0, 65535)


@settings(max_examples=60, deadline=None)
@given(arrays, bits_st, schemes)
def test_round_trip_error_at_most_half_a_step(x, bits, scheme):
    S, Z = scale_zero_point(x.min(), x.max(), bits, scheme)
    x_hat = dequantize(quantize(x, S, Z, bits, scheme), S, Z).astype(np.float64)
    assert np.all(np.abs(x - x_hat) <= S / 2 * (1 + 1e-6) + 1e-6 * np.abs(x))


@settings(max_examples=60, deadline=None)
@given(arrays, st.integers(1, 16))
def test_zero_is_exactly_representable(x, bits):
    S, Z = scale_zero_point(x.min(), x.max(), bits, "affine")
    assert fake_quantize([0.0], S, Z, bits)[0] == 0.0
    q0 = quantize([0.0], S, Z, bits)[0]
    assert dequantize(q0, S, Z) == 0.0


@settings(max_examples=60, deadline=None)
@given(arrays, bits_st, schemes)
def test_quantization_is_monotone(x, bits, scheme):
    S, Z = scale_zero_point(x.min(), x.max(), bits, scheme)
    order = np.argsort(x, kind="stable")
    q = quantize(x[order], S, Z, bits, scheme).astype(np.int64)
    assert np.all(np.diff(q) >= 0)


def test_saturates_outside_the_range():
    lo, hi = real_range(0.5, 2, 3)                                   # codes 0..7 -> [-1, 2.5]
    assert (lo, hi) == (-1.0, 2.5)
    assert fake_quantize([-5.0, 9.0], 0.5, 2, 3).tolist() == [-1.0, 2.5]


def test_stochastic_rounding_is_unbiased_and_seeded():
    x = np.full(20000, 0.3)
    q = quantize(x, 1.0, 0, 8, rounding="stochastic", seed=0)       # floor(0.3 + u)
    assert abs(q.mean() - 0.3) < 0.02
    assert np.array_equal(q, quantize(x, 1.0, 0, 8, rounding="stochastic", seed=0))


def test_one_bit_means_two_levels_one_of_them_zero():
    S, Z = scale_zero_point(-0.2, 1.0, 1)      # S = 1.2 / 1, Z = round(0.2 / 1.2) = 0
    assert float(S) == pytest.approx(1.2) and int(Z) == 0
    levels = set(fake_quantize([-0.2, 0.0, 0.4, 1.0], S, Z, 1).tolist())
    assert levels == {0.0, float(np.float32(1.2))}
    with pytest.raises(ValueError, match="symmetric"):
        scale_zero_point(-1.0, 1.0, 1, "symmetric")


@pytest.mark.parametrize("bits", [0, 17, -3])
def test_bits_outside_1_16_are_refused(bits):
    with pytest.raises(ValueError, match=f"bits={bits}"):
        quantize([1.0], 1.0, 0, bits)
    with pytest.raises(ValueError, match="bits"):
        quantize_tensor(np.ones((2, 2)), bits)


def test_bits_type_and_nan_inf_are_refused():
    with pytest.raises(TypeError, match="bits"):
        quantize([1.0], 1.0, 0, 8.0)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="non-finite"):
            quantize([1.0, bad], 1.0, 0, 8)
        with pytest.raises(ValueError, match="W contains non-finite"):
            quantize_tensor(np.array([[1.0, bad]]), 8)
    with pytest.raises(ValueError, match="scale S"):
        quantize([1.0], 0.0, 0, 8)


@pytest.mark.parametrize("scheme", ["affine", "symmetric"])
@pytest.mark.parametrize("granularity", ["tensor", "channel", "group"])
def test_zero_range_tensors_reconstruct_exactly(scheme, granularity):
    W = np.zeros((3, 4))                                            # all equal (zero range)
    q = quantize_tensor(W, 8, scheme, granularity, group_size=2)
    assert np.all(np.asarray(q.S) == 1.0)                           # documented S = 1
    assert np.array_equal(q.dequantize(), W)
    W = np.full((2, 4), 0.7)                                        # constant, nonzero
    assert np.allclose(quantize_tensor(W, 8, scheme, granularity, 2).dequantize(), 0.7)


# ---- granularity ---------------------------------------------------------
def test_outlier_channel_per_tensor_vs_per_channel():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((8, 16)) * 0.05
    W[3] *= 100                                                      # one outlier channel
    W_t = quantize_tensor(W, 4, granularity="tensor").dequantize()
    W_c = quantize_tensor(W, 4, granularity="channel").dequantize()
    normal = np.arange(8) != 3
    # per tensor, the step is max|W| / 7 ~ 0.7 > every normal weight: they all round to 0
    assert np.all(W_t[normal] == 0)
    assert quantization_error(W[normal], W_c[normal]) < \
        quantization_error(W[normal], W_t[normal]) / 10
    assert quantization_error(W, W_c) <= quantization_error(W, W_t)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(2, 8), schemes, st.integers(0, 10**6))
def test_per_channel_never_worse_than_per_tensor(out, n_in, bits, scheme, seed):
    W = np.random.default_rng(seed).standard_normal((out, n_in)) * \
        np.random.default_rng(seed + 1).exponential(1.0, (out, 1))
    q_t = quantize_tensor(W, bits, scheme, "tensor")
    q_c = quantize_tensor(W, bits, scheme, "channel")
    # each channel's step is no larger than the tensor's, so its error bound is no larger
    assert np.all(np.asarray(q_c.S) <= np.asarray(q_t.S) * (1 + 1e-12))
    row_t = ((W - q_t.dequantize()) ** 2).sum(axis=1)
    row_c = ((W - q_c.dequantize()) ** 2).sum(axis=1)
    bound = (np.asarray(q_c.S).ravel() / 2) ** 2 * n_in
    assert np.all(row_c <= bound * (1 + 1e-5) + 1e-12)
    assert row_c.sum() <= row_t.sum() + bound.sum()


def test_per_group_scales_and_bad_group_size():
    W = np.arange(12.0).reshape(2, 6)
    q = quantize_tensor(W, 8, "affine", "group", group_size=3)
    assert q.num_scales == 4 and q.dequantize().shape == (2, 6)
    assert np.allclose(q.dequantize(), W, atol=np.asarray(q.S).max() / 2 + 1e-6)
    with pytest.raises(ValueError, match="group_size=4"):
        quantize_tensor(W, 8, "affine", "group", group_size=4)


# ---- observers -------------------------------------------------------------
def test_observers_hand_worked():
    mm = MinMaxObserver()
    mm.observe([[1.0, -2.0]])
    mm.observe([5.0])
    assert mm.range() == (-2.0, 5.0)
    ema = MovingAverageMinMaxObserver(c=0.5)
    ema.observe([0.0, 8.0])
    ema.observe([0.0, 4.0])                       # 8 + 0.5 * (4 - 8) = 6
    assert ema.range() == (0.0, 6.0)
    p = PercentileObserver(p=99.0)
    p.observe(np.arange(1001.0))                  # percentiles 1 and 99 of 0..1000
    assert p.range() == pytest.approx((10.0, 990.0))


def test_mse_observer_clips_an_outlier_and_lowers_the_error():
    x = np.concatenate([np.random.default_rng(0).standard_normal(5000), [60.0]])
    obs = MSEObserver(bits=4)
    obs.observe(x)
    S, Z = obs.qparams(4)
    S0, Z0 = scale_zero_point(x.min(), x.max(), 4)
    assert np.mean((x - fake_quantize(x, S, Z, 4)) ** 2) < np.mean((x - fake_quantize(x, S0, Z0, 4)) ** 2)


@pytest.mark.parametrize("cls", [MinMaxObserver, MovingAverageMinMaxObserver,
                                 PercentileObserver, MSEObserver])
def test_empty_calibration_set_is_a_clear_error(cls):
    obs = cls()
    obs.observe(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="calibration set is empty"):
        obs.range()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=40),
       st.floats(1e-3, 10.0), st.integers(1, 16), st.sampled_from(["affine", "symmetric"]),
       st.integers(0, 2**16 - 1))
def test_fake_quantizer_is_fake_quantize_bit_for_bit(x, S, bits, scheme, z):
    # the parameters checked once; the arithmetic (and the sign of a zero) unchanged
    from minicomp.quant.uniform import fake_quantize, fake_quantizer
    bits = max(bits, 2) if scheme == "symmetric" else bits       # 1-bit symmetric: refused
    q_min, q_max = qrange(bits, scheme)
    Z = 0 if scheme == "symmetric" else q_min + z % (q_max - q_min + 1)
    x = np.array(x, np.float32)
    want, got = fake_quantize(x, S, Z, bits, scheme), fake_quantizer(S, Z, bits, scheme)(x)
    assert got.dtype == want.dtype == np.float32
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


def test_fake_quantizer_checks_its_parameters_once():
    from minicomp.quant.uniform import fake_quantizer
    with pytest.raises(ValueError, match="scale S"):
        fake_quantizer(0.0, 0, 8)
    with pytest.raises(ValueError, match="Z=300"):
        fake_quantizer(0.1, 300, 8)
    with pytest.raises(ValueError, match="one scalar each"):
        fake_quantizer([0.1, 0.2], 0, 8)
