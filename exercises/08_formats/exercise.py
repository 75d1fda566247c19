"""Exercise 08: FP8 E4M3 bit by bit, and one MX block (MXFP8 with an E8M0 scale).

FP8 E4M3 ("fn": finite and NaN) packs a value in 8 bits, s.EEEE.MMM, bias 7:

    E = 0:       v = (-1)^s * 2^-6 * M / 8           (subnormal: 0, 2^-9, ..., 7 * 2^-9)
    E = 1..15:   v = (-1)^s * 2^(E - 7) * (1 + M / 8)
    except       s.1111.111 (codes 127 and 255), which is NaN; the largest value is
                 0.1111.110 = 448. There is no infinity.

Encoding rounds to the nearest value; a tie (x exactly halfway between two
values) goes to the even code (the one whose last mantissa bit is 0). Here
the encoder SATURATES: finite values beyond ±448, and ±inf, become ±448;
NaN becomes code 127. The sign of -0.0 is kept (code 128).

An MX block (OCP Microscaling spec) of k values shares one power-of-two
scale X = 2^e stored in E8M0 (code e + 127, one byte), with

    e = floor(log2(max |x_i|)) - 8        (8: the exponent of E4M3's largest value)
    codes_i = E4M3(x_i / X), saturating    and  decoded x_i = E4M3value(codes_i) * X.

A block of zeros gets e = -127 (scale code 0).

Write in plain NumPy (chapter 08, sections 2 and 3):

1. ``e4m3_decode(codes)`` -> float64 array of the values of integer codes (0..255);
2. ``e4m3_encode(x)`` -> integer codes (uint8 or int64 array) of float array ``x``;
3. ``mx_encode_block(x)`` -> ``(scale_code, codes)``: an int in [0, 254] and the
   E4M3 codes of the 1-D block ``x``;
4. ``mx_decode_block(scale_code, codes)`` -> float64 array of the block's values.

Run ``minicomp check exercises/08_formats`` to run the public tests.
"""
import numpy as np


def e4m3_decode(codes):
    """Values (float64) of E4M3 codes; NaN for codes 127 and 255."""
    ### BEGIN SOLUTION
    c = np.asarray(codes).astype(np.int64)
    s, E, M = c >> 7, (c >> 3) & 15, c & 7
    v = np.where(E == 0, M / 8 * 2.0 ** -6, (1 + M / 8) * 2.0 ** (E - 7))
    v = np.where((E == 15) & (M == 7), np.nan, v)
    return np.where(s == 1, -v, v)
    ### END SOLUTION


def e4m3_encode(x):
    """Codes of x rounded to E4M3: nearest, ties to even, saturating to ±448."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    values = e4m3_decode(np.arange(127))                    # codes 0..126, increasing
    mid = (values[:-1] + values[1:]) / 2
    a = np.minimum(np.abs(x), 448.0)
    lo = np.searchsorted(mid, a, side="left")               # a <= mid[lo]
    tie = (lo < len(mid)) & (a == mid[np.minimum(lo, len(mid) - 1)]) & (lo % 2 == 1)
    code = lo + tie
    code = np.where(np.isnan(x), 127, code + 128 * np.signbit(x))
    return code.astype(np.int64)
    ### END SOLUTION


def mx_encode_block(x):
    """(scale_code, codes) of the block x: E8M0 scale 2^(floor(log2 amax) - 8), E4M3 codes."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    amax = np.abs(x).max()
    e = -127 if amax == 0 else int(np.clip(np.floor(np.log2(amax)) - 8, -127, 127))
    return e + 127, e4m3_encode(x / 2.0 ** e)
    ### END SOLUTION


def mx_decode_block(scale_code, codes):
    """Values (float64) of an MX block: E4M3 values times 2^(scale_code - 127)."""
    ### BEGIN SOLUTION
    return e4m3_decode(codes) * 2.0 ** (int(scale_code) - 127)
    ### END SOLUTION
