"""Tests of exercise 03 (run in the grader; the student's code runs sandboxed).

Expected values of the hidden cases are computed here, in the grader, by
minicomp.quant (whose affine quantizer is the same formula).
"""
import numpy as np

from minicomp.grading import case
from minicomp.quant import quantize as lib_quantize
from minicomp.quant import scale_zero_point


def expect_array(value, shape, kind, what):
    """Fail with a clear message unless value is an ndarray of this shape and kind."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind in kind, f"{what} has dtype {value.dtype}"


@case(points=2, failure_message="S = (hi - lo) / (2^b - 1) and Z = round(-lo / S), "
      "with the range widened to contain 0")
def qparams_hand_worked(ex):
    # [-1, 3] on 8 bits: S = 4 / 255, Z = round(1 / S) = round(63.75) = 64
    S, Z = ex.affine_qparams(-1.0, 3.0, 8)
    assert abs(float(S) - 4 / 255) < 1e-12, f"S = {S}, expected 4/255"
    assert int(Z) == 64, f"Z = {Z}, expected 64"


@case(points=2, failure_message="q = clip(round(x / S) + Z, 0, 2^b - 1)")
def quantize_hand_worked(ex):
    # S = 0.5, Z = 2, 3 bits (codes 0..7): -1 -> 0, 0.26 -> 3, 9 -> 7 (clipped)
    q = ex.quantize(np.array([-1.0, 0.26, 9.0]), 0.5, 2, 3)
    expect_array(q, (3,), "iu", "quantize(...)")
    np.testing.assert_array_equal(q, [0, 3, 7])


@case(points=1, failure_message="r_hat = S (q - Z)")
def dequantize_hand_worked(ex):
    r = ex.dequantize(np.array([0, 2, 7]), 0.5, 2)
    expect_array(r, (3,), "f", "dequantize(...)")
    np.testing.assert_allclose(r, [-1.0, 0.0, 2.5])


@case(points=2, failure_message="one (S, Z) per row of W")
def per_channel_small(ex):
    # row 0: [0, 1] -> S = 1/15, Z = 0; row 1: [-2, 0] -> S = 2/15, Z = 15 (4 bits)
    S, Z = ex.per_channel_qparams(np.array([[0.0, 1.0], [-2.0, -1.0]]), 4)
    expect_array(S, (2,), "f", "S")
    expect_array(Z, (2,), "iu", "Z")
    np.testing.assert_allclose(S, [1 / 15, 2 / 15])
    np.testing.assert_array_equal(Z, [0, 15])


@case(points=2, hidden=True, failure_message="0 must be exactly representable: "
      "widen the range to contain 0 before computing S")
def zero_exact_positive_range(ex):
    for lo, hi, bits in ((0.5, 2.0, 8), (-3.0, -0.25, 4), (-0.7, 1.3, 2)):
        S, Z = ex.affine_qparams(lo, hi, bits)
        S_ref, Z_ref = scale_zero_point(lo, hi, bits)
        assert abs(float(S) - float(S_ref)) < 1e-12 and int(Z) == int(Z_ref), \
            f"range [{lo}, {hi}] on {bits} bits: got ({S}, {Z}), expected ({S_ref}, {Z_ref})"
        r0 = ex.dequantize(ex.quantize(np.array([0.0]), S, Z, bits), S, Z)
        assert float(r0[0]) == 0.0, f"0 comes back as {r0[0]}"


@case(points=2, hidden=True, failure_message="a zero range (all values 0) needs S = 1, Z = 0")
def zero_range(ex):
    S, Z = ex.affine_qparams(0.0, 0.0, 8)
    assert float(S) == 1.0 and int(Z) == 0, f"got ({S}, {Z}), expected (1.0, 0)"


@case(points=3, hidden=True, failure_message="round trip error must be at most S/2 inside "
      "the range, and values outside saturate")
def random_round_trip(ex):
    rng = np.random.default_rng(3)
    for bits in (2, 4, 8, 12):
        x = rng.standard_normal(200) * rng.uniform(0.1, 5)
        S, Z = ex.affine_qparams(x.min(), x.max(), bits)
        q = ex.quantize(x, S, Z, bits)
        expect_array(q, (200,), "iu", "quantize(...)")
        np.testing.assert_array_equal(q, lib_quantize(x, S, Z, bits).astype(np.int64))
        err = np.abs(ex.dequantize(q, S, Z) - x)
        assert err.max() <= S / 2 + 1e-9, f"max error {err.max()} > S/2 = {S / 2}"


@case(points=3, hidden=True, failure_message="per_channel_qparams must use each row's own "
      "min and max")
def per_channel_random(ex):
    rng = np.random.default_rng(7)
    W = rng.standard_normal((6, 10)) * rng.exponential(1.0, (6, 1))
    W[2] = 0.0                                              # a zero-range row
    S, Z = ex.per_channel_qparams(W, 8)
    expect_array(S, (6,), "f", "S")
    S_ref, Z_ref = scale_zero_point(W.min(axis=1), W.max(axis=1), 8)
    np.testing.assert_allclose(S, S_ref, rtol=1e-12)
    np.testing.assert_array_equal(Z, Z_ref)
