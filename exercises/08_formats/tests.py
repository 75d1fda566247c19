"""Tests of exercise 08 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: hand-worked codes for
the public cases, ``ml_dtypes`` (the bit-exact FP8 / E8M0 types NumPy lacks)
for the hidden ones. Decode and encode are checked on their own; the MX
decoder gets the grader's scale and codes.
"""
import numpy as np

from minicomp.grading import case

# "plain NumPy": the sandbox refuses these in the student's process
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn", "ml_dtypes")
# the grader's oracle for the hidden cases: `minicomp grade` refuses to start without it,
# and `minicomp gradescope` adds it to the autograder's requirements
GRADER_REQUIRES = ("ml_dtypes>=0.4",)


def expect_array(value, shape, kind, what):
    """Fail with a clear message unless value is an ndarray of this shape and kind."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind in kind, f"{what} has dtype {value.dtype}"


def expect_codes(ex, x, expected, what):
    codes = ex.e4m3_encode(np.asarray(x, dtype=np.float64))
    expect_array(codes, np.shape(expected), "iu", what)
    bad = np.flatnonzero(codes.astype(np.int64) != expected)
    assert bad.size == 0, (f"{what}: {bad.size} codes differ, e.g. x={np.ravel(x)[bad[:3]]} "
                           f"gave {codes.ravel()[bad[:3]]}, expected {np.ravel(expected)[bad[:3]]}")


@case(points=2, failure_message="E = 0 is subnormal (2^-6 * M/8), else 2^(E-7) * (1 + M/8); "
      "s.1111.111 is NaN")
def decode_hand_worked(ex):
    # 0 -> 0; 1 = 0.0000.001 -> 2^-9; 8 = 0.0001.000 -> 2^-6; 56 = 0.0111.000 -> 1;
    # 126 = 0.1111.110 -> 448; 127 -> NaN; 128 -> -0; 184 = 1.0111.000 -> -1
    v = ex.e4m3_decode(np.array([0, 1, 8, 56, 126, 127, 128, 184]))
    expect_array(v, (8,), "f", "e4m3_decode(...)")
    np.testing.assert_array_equal(v, [0, 2.0**-9, 2.0**-6, 1, 448, np.nan, 0, -1])
    assert np.signbit(v[6]), "code 128 is -0.0"


@case(points=2, failure_message="nearest E4M3 value, ties to the even code, saturating to 448")
def encode_hand_worked(ex):
    # 1 -> 56; 0.3 lies between 0.28125 (41) and 0.3125 (42), nearer 42; 464 is halfway
    # between 448 (126) and 480 (would be 127): even 126; 1000 saturates to 448 (126);
    # -0.0 -> 128; 2^-10 is halfway between 0 and 2^-9: even 0; 3 * 2^-10 between
    # 2^-9 (1) and 2^-8 (2): even 2
    expect_codes(ex, [1.0, 0.3, 464.0, 1000.0, -0.0, 2.0**-10, 3 * 2.0**-10],
                 np.array([56, 42, 126, 126, 128, 0, 2]), "e4m3_encode(...)")


@case(points=2, failure_message="e = floor(log2(max|x|)) - 8, scale code e + 127, "
      "codes = E4M3(x / 2^e)")
def mx_hand_worked(ex):
    # max |x| = 7 = 1.75 * 2^2: e = floor(2.81) - 8 = -6, scale code 121; x * 64 = 6.4,
    # -64, 192, 448: 6.4 -> 6.5 (77), -64 (232), 192 (116), 448 (126)
    out = ex.mx_encode_block(np.array([0.1, -1.0, 3.0, 7.0]))
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (scale_code, codes)"
    scale, codes = out
    assert isinstance(scale, (int, np.integer)) and scale == 121, f"scale code {scale}, " \
        "expected 121"
    expect_array(codes, (4,), "iu", "codes")
    np.testing.assert_array_equal(codes, [77, 232, 116, 126])
    v = ex.mx_decode_block(121, np.array([77, 232, 116, 126]))
    expect_array(v, (4,), "f", "mx_decode_block(121, ...)")
    np.testing.assert_array_equal(v, [6.5 / 64, -1.0, 3.0, 7.0])


### BEGIN HIDDEN TESTS
def ml():
    import ml_dtypes                                           # the grader's oracle
    return ml_dtypes


def oracle_codes(x):
    """ml_dtypes' E4M3 codes of x with saturation (clip to ±448 first; NaN -> 127)."""
    x = np.asarray(x, dtype=np.float64)
    codes = np.clip(x, -448, 448).astype(ml().float8_e4m3fn).view(np.uint8).astype(np.int64)
    return np.where(np.isnan(x), 127, codes)


@case(points=3, hidden=True, failure_message="decode every code 0..255 (subnormals, NaN, sign)")
def decode_all_codes(ex):
    codes = np.arange(256)
    expected = codes.astype(np.uint8).view(ml().float8_e4m3fn).astype(np.float64)
    v = ex.e4m3_decode(codes)
    expect_array(v, (256,), "f", "e4m3_decode(0..255)")
    np.testing.assert_array_equal(v, expected)
    assert np.array_equal(np.signbit(v), np.signbit(expected)), "the sign bit, also of 0"


@case(points=3, hidden=True, failure_message="round to the nearest E4M3 value on random data")
def encode_random(ex):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(5000) * np.exp(rng.uniform(-9, 7, 5000))     # 2^-13 .. 2^10
    expect_codes(ex, x, oracle_codes(x), "e4m3_encode(random)")


@case(points=2, hidden=True, failure_message="an exact tie goes to the even code "
      "(last mantissa bit 0), for negative values too")
def encode_ties(ex):
    values = np.arange(127).astype(np.uint8).view(ml().float8_e4m3fn).astype(np.float64)
    mid = (values[:-1] + values[1:]) / 2                              # every tie
    x = np.concatenate([mid, -mid])
    expect_codes(ex, x, oracle_codes(x), "e4m3_encode(midpoints)")


@case(points=2, hidden=True, failure_message="saturate: beyond ±448 and ±inf give ±448; "
      "NaN gives 127")
def encode_saturation(ex):
    x = np.array([448.0, 449.0, 479.0, 480.0, 1e30, np.inf, -500.0, -np.inf, np.nan, 2.5])
    expect_codes(ex, x, oracle_codes(x), "e4m3_encode(large)")


@case(points=1, hidden=True, failure_message="subnormals: steps of 2^-9 below 2^-6")
def encode_subnormals(ex):
    x = np.random.default_rng(9).uniform(-2.0**-6, 2.0**-6, 2000)
    expect_codes(ex, x, oracle_codes(x), "e4m3_encode(subnormal range)")


def oracle_block(x):
    amax = np.abs(x).max()
    e = -127 if amax == 0 else int(np.floor(np.log2(amax))) - 8
    return e + 127, oracle_codes(x / 2.0**e)


@case(points=3, hidden=True, failure_message="the shared E8M0 exponent of each block and "
      "the E4M3 codes of x / 2^e")
def mx_encode_random(ex):
    rng = np.random.default_rng(10)
    for scale in (1e-3, 0.7, 1.0, 3e2, 2.0**-20):
        x = rng.standard_normal(32) * scale
        s_ref, c_ref = oracle_block(x)
        out = ex.mx_encode_block(x)
        assert isinstance(out, tuple) and len(out) == 2, "return a tuple (scale_code, codes)"
        s, c = out
        assert isinstance(s, (int, np.integer)) and s == s_ref, \
            f"block of scale {scale}: scale code {s}, expected {s_ref}"
        expect_array(c, (32,), "iu", "codes")
        np.testing.assert_array_equal(c, c_ref)
    out = ex.mx_encode_block(np.zeros(32))
    assert isinstance(out, tuple) and out[0] == 0, "a block of zeros has scale code 0"


@case(points=2, hidden=True, failure_message="values = E4M3 value * 2^(scale_code - 127)")
def mx_decode_random(ex):
    rng = np.random.default_rng(11)
    for scale_code in (100, 127, 140):
        codes = rng.integers(0, 256, 32)
        codes[codes % 128 == 127] = 0                                  # no NaN codes
        e4m3 = codes.astype(np.uint8).view(ml().float8_e4m3fn).astype(np.float64)
        v = ex.mx_decode_block(scale_code, codes)
        expect_array(v, (32,), "f", f"mx_decode_block({scale_code}, ...)")
        np.testing.assert_array_equal(v, e4m3 * 2.0 ** (scale_code - 127))
### END HIDDEN TESTS
