"""Tests of exercise 03 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: exact hand-worked
values for the public cases, ``minicomp.quant`` (the same affine formula)
for the hidden ones. No check is derived from the student's own outputs:
quantize and dequantize are called with the grader's S and Z, and their
results compared with the grader's codes and values -- a huge scale with
all-zero codes earns nothing.
"""
import numpy as np

from minicomp.grading import case

# The exercise says "plain NumPy": the sandbox refuses these imports, with
# this reason, in the student's process (the grader itself may use them).
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_array(value, shape, kind, what):
    """Fail with a clear message unless value is an ndarray of this shape and kind."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind in kind, f"{what} has dtype {value.dtype}"


def expect_qparams(value, what):
    """Fail unless value is a tuple (S, Z) of two real numbers; return it."""
    assert isinstance(value, tuple) and len(value) == 2, \
        f"{what} must return a tuple (S, Z), got {type(value).__name__}"
    for name, v in zip("SZ", value):
        assert isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, (bool, np.bool_)), f"{what}: {name} must be a number, got {type(v).__name__}"
    return value


@case(points=2, failure_message="S = (hi - lo) / (2^b - 1) and Z = round(-lo / S), "
      "with the range widened to contain 0")
def qparams_hand_worked(ex):
    # [-1, 3] on 8 bits: S = 4 / 255, Z = round(1 / S) = round(63.75) = 64
    S, Z = expect_qparams(ex.affine_qparams(-1.0, 3.0, 8), "affine_qparams(-1, 3, 8)")
    assert abs(float(S) - 4 / 255) < 1e-12, f"S = {S}, expected 4/255"
    assert Z == 64, f"Z = {Z}, expected 64"


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
    out = ex.per_channel_qparams(np.array([[0.0, 1.0], [-2.0, -1.0]]), 4)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (S, Z)"
    S, Z = out
    expect_array(S, (2,), "f", "S")
    expect_array(Z, (2,), "iu", "Z")
    np.testing.assert_allclose(S, [1 / 15, 2 / 15])
    np.testing.assert_array_equal(Z, [0, 15])


### BEGIN HIDDEN TESTS
from minicomp.quant import quantize as lib_quantize        # noqa: E402
from minicomp.quant import scale_zero_point                # noqa: E402


def reference_qparams(lo, hi, bits):
    """The grader's (S, Z) as a Python float and int."""
    S, Z = scale_zero_point(lo, hi, bits)
    return float(S), int(Z)


def expect_same_qparams(ex, lo, hi, bits):
    """The student's affine_qparams(lo, hi, bits) equals the grader's; return the grader's."""
    S_ref, Z_ref = reference_qparams(lo, hi, bits)
    S, Z = expect_qparams(ex.affine_qparams(lo, hi, bits), f"affine_qparams({lo}, {hi}, {bits})")
    assert np.isfinite(S) and abs(S - S_ref) <= 1e-12 * S_ref and Z == Z_ref, \
        f"range [{lo}, {hi}] on {bits} bits: got ({S}, {Z}), expected ({S_ref}, {Z_ref})"
    return S_ref, Z_ref


@case(points=2, hidden=True, failure_message="0 must be exactly representable: "
      "widen the range to contain 0 before computing S")
def zero_exact_positive_range(ex):
    for lo, hi, bits in ((0.5, 2.0, 8), (-3.0, -0.25, 4), (-0.7, 1.3, 2)):
        S, Z = expect_same_qparams(ex, lo, hi, bits)
        q = ex.quantize(np.array([0.0]), S, Z, bits)
        expect_array(q, (1,), "iu", "quantize([0], S, Z, bits)")
        assert q[0] == Z, f"0 quantizes to code {q[0]}, expected Z = {Z}"
        r0 = ex.dequantize(np.array([Z]), S, Z)
        expect_array(r0, (1,), "f", "dequantize([Z], S, Z)")
        assert r0[0] == 0.0, f"code Z comes back as {r0[0]}, expected exactly 0"


@case(points=2, hidden=True, failure_message="a zero range (all values 0) needs S = 1, Z = 0")
def zero_range(ex):
    for bits in (8, 3):
        S, Z = expect_qparams(ex.affine_qparams(0.0, 0.0, bits), f"affine_qparams(0, 0, {bits})")
        assert S == 1.0 and Z == 0, f"got ({S}, {Z}), expected (1.0, 0)"
        # the special case must not be the only case: a constant (1.0, 0) fails here
        expect_same_qparams(ex, -0.75, 2.25, bits)


@case(points=3, hidden=True, failure_message="S, Z of a random range, then q = clip(round(x / "
      "S) + Z, 0, 2^b - 1) with values outside the range saturating, and r_hat = S (q - Z)")
def random_round_trip(ex):
    rng = np.random.default_rng(3)
    for bits in (2, 4, 8, 12):
        x = rng.standard_normal(200) * rng.uniform(0.1, 5)
        S, Z = expect_same_qparams(ex, x.min(), x.max(), bits)
        wide = np.concatenate([x, [3 * x.min(), 3 * x.max()]])     # two values saturate
        q_ref = lib_quantize(wide, S, Z, bits).astype(np.int64)    # the grader's codes
        q = ex.quantize(wide, S, Z, bits)
        expect_array(q, (202,), "iu", "quantize(...)")
        np.testing.assert_array_equal(q, q_ref)
        r = ex.dequantize(q_ref, S, Z)
        expect_array(r, (202,), "f", "dequantize(...)")
        r_ref = S * (q_ref.astype(np.float64) - Z)                  # (202,)
        np.testing.assert_allclose(r, r_ref, rtol=1e-12, atol=1e-12 * S)


@case(points=1, hidden=True, failure_message="Z = round(-lo / S) with round half to even "
      "(np.rint): an exact tie 2.5 gives 2, 0.5 gives 0")
def zero_point_ties_to_even(ex):
    # S is exact in each: -lo / S is exactly 0.5 or 2.5; floor(v + 0.5) gives 1 or 3
    for lo, hi, bits, S_exp, Z_exp in ((-0.5, 2.5, 2, 1.0, 0), (-2.5, 0.5, 2, 1.0, 2),
                                       (-1.25, 6.25, 4, 0.5, 2), (-0.5, 254.5, 8, 1.0, 0)):
        S, Z = expect_qparams(ex.affine_qparams(lo, hi, bits),
                              f"affine_qparams({lo}, {hi}, {bits})")
        assert abs(float(S) - S_exp) <= 1e-12 and Z == Z_exp, \
            f"range [{lo}, {hi}] on {bits} bits: got ({S}, {Z}), expected ({S_exp}, {Z_exp})"


@case(points=1, hidden=True, failure_message="q = round(x / S) + Z with round half to even "
      "(np.rint), for negative x / S too")
def quantize_ties_to_even(ex):
    # S = 0.25, Z = 8, 4 bits: x / S = [.5, 1.5, -.5, -1.5, 2.5, -2.5] exactly, whose
    # rint is [0, 2, 0, -2, 2, -2]; half up gives [1, 2, 0, -1, 3, -2], half away
    # from zero [1, 2, -1, -2, 3, -3]
    x = np.array([0.125, 0.375, -0.125, -0.375, 0.625, -0.625])
    q = ex.quantize(x, 0.25, 8, 4)
    expect_array(q, (6,), "iu", "quantize(x, 0.25, 8, 4)")
    np.testing.assert_array_equal(q, [8, 10, 8, 6, 10, 6])


@case(points=3, hidden=True, failure_message="per_channel_qparams must use each row's own "
      "min and max, widened to contain 0")
def per_channel_random(ex):
    rng = np.random.default_rng(7)
    W = rng.standard_normal((8, 10)) * rng.exponential(1.0, (8, 1))
    W[2] = 0.0                                              # a zero-range row
    W[5] = np.abs(W[5]) + 0.5                               # all positive: lo widens to 0
    W[6] = -np.abs(W[6]) - 0.25                             # all negative: hi widens to 0
    out = ex.per_channel_qparams(W, 8)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (S, Z)"
    S, Z = out
    expect_array(S, (8,), "f", "S")
    expect_array(Z, (8,), "iu", "Z")
    S_ref, Z_ref = scale_zero_point(W.min(axis=1), W.max(axis=1), 8)
    np.testing.assert_allclose(S, S_ref, rtol=1e-12)
    np.testing.assert_array_equal(Z, Z_ref)
### END HIDDEN TESTS
