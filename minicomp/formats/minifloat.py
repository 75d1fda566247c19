r"""Small floating-point formats bit by bit: FP8 (E4M3, E5M2), FP6 (E3M2, E2M3), FP4 (E2M1), E8M0.

A code of ``1 + e + m`` bits is a sign ``s``, an exponent field ``E`` and a
mantissa field ``M``; with the bias ``b = 2^{e-1} - 1``

.. math:: v = (-1)^s \cdot \begin{cases}
          2^{1-b} \cdot M / 2^m & E = 0 \text{ (subnormal)}\\
          2^{E-b} \cdot (1 + M / 2^m) & E > 0 \text{ (normal)}.\end{cases}

The formats differ in what the top codes mean: E5M2 follows IEEE 754
(``E`` all ones is inf when ``M = 0``, else NaN), E4M3 ("fn": finite and
NaN) gives only ``S.1111.111`` to NaN and has no inf (max 448), and the
FP6 / FP4 element formats of the MX spec have neither (every code is a
number). E8M0 is the MX block scale: 8 exponent bits, no sign, no mantissa,
:math:`v = 2^{E - 127}`, code 255 is NaN.

Encoding is round to nearest, ties to the even code (the one whose last
mantissa bit is 0), done here with a table: the positive values in code
order are increasing, so the code of :math:`|x|` is found by comparing it
with the midpoints of neighbouring values. Overflow follows ``ml_dtypes``
(the bit-exact oracle in the tests): beyond the largest finite value E5M2
gives inf and E4M3 NaN, unless ``saturate=True`` (the MX and NVFP4
conversions), which clamps finite values to ±max; FP6 / FP4 always saturate.

Micikevicius, P. et al. (2022). FP8 Formats for Deep Learning. arXiv:2209.05433.
Open Compute Project (2023). OCP Microscaling Formats (MX) v1.0 Specification.

Deviations: NaN given to FP6 / FP4 (which cannot hold it) raises ValueError
(``ml_dtypes`` silently returns a zero); E8M0 rounds as ``ml_dtypes`` does
(to the nearest power of two, ties up: 3 -> 4), and 0 or negatives give its NaN.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate


class Minifloat(NamedTuple):
    """A small float format: field widths, bias, and what its top codes mean."""
    name: str
    exp_bits: int
    man_bits: int
    specials: str           # "ieee" (inf and NaNs), "fn" (one NaN per sign), "none"
    ml_dtype: str           # the ml_dtypes type with the same codes

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return 2 ** (self.exp_bits - 1) - 1


MINIFLOATS = {
    "e4m3": Minifloat("e4m3", 4, 3, "fn", "float8_e4m3fn"),        # FP8, max 448
    "e5m2": Minifloat("e5m2", 5, 2, "ieee", "float8_e5m2"),        # FP8, max 57344, inf
    "e3m2": Minifloat("e3m2", 3, 2, "none", "float6_e3m2fn"),      # FP6, max 28
    "e2m3": Minifloat("e2m3", 2, 3, "none", "float6_e2m3fn"),      # FP6, max 7.5
    "e2m1": Minifloat("e2m1", 2, 1, "none", "float4_e2m1fn"),      # FP4, max 6
}


def minifloat(name) -> Minifloat:
    """The :class:`Minifloat` called ``name``; ValueError listing the known ones."""
    return MINIFLOATS[validate.choice(name, "fmt", tuple(MINIFLOATS), where="minifloat")]


def decode_table(fmt) -> np.ndarray:
    """float64 value of every code ``0 .. 2^bits - 1`` (NaN / ±inf where the format says).

    Examples
    --------
    >>> decode_table("e2m1")[:8]                     # the positive FP4 values
    array([0. , 0.5, 1. , 1.5, 2. , 3. , 4. , 6. ])
    """
    f = fmt if isinstance(fmt, Minifloat) else minifloat(fmt)
    code = np.arange(2 ** f.bits)
    E = (code >> f.man_bits) & (2 ** f.exp_bits - 1)                    # exponent field
    M = code & (2 ** f.man_bits - 1)                                    # mantissa field
    frac = M / 2.0 ** f.man_bits
    v = np.where(E == 0, frac * 2.0 ** (1 - f.bias), (1 + frac) * 2.0 ** (E - f.bias))
    top = E == 2 ** f.exp_bits - 1
    if f.specials == "ieee":
        v = np.where(top, np.where(M == 0, np.inf, np.nan), v)
    elif f.specials == "fn":
        v = np.where(top & (M == 2 ** f.man_bits - 1), np.nan, v)
    sign = code >> (f.bits - 1)
    return np.where(sign == 1, -v, v)


def max_value(fmt) -> float:
    """The largest finite value of the format (448 for E4M3, 6 for E2M1)."""
    return float(np.nanmax(np.where(np.isinf(t := decode_table(fmt)), np.nan, t)))


def encode(x, fmt="e4m3", saturate: bool = False) -> np.ndarray:
    """Codes (uint8) of the values of the format nearest to ``x``, ties to even.

    Parameters
    ----------
    x : array_like of real numbers (NaN and ±inf allowed, see the module notes)
    fmt : {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1"}
    saturate : bool
        Clamp finite values beyond the largest to ±max (instead of inf / NaN).

    Examples
    --------
    >>> encode([1.0, 0.3, 464.0, 500.0, -0.0], "e4m3")    # 464: tie -> 448 (even)
    array([ 56,  42, 126, 127, 128], dtype=uint8)
    >>> encode([500.0], "e4m3", saturate=True)           # 448 instead of NaN
    array([126], dtype=uint8)
    """
    f = fmt if isinstance(fmt, Minifloat) else minifloat(fmt)
    saturate = validate.flag(saturate, "saturate", where="encode")
    with np.errstate(invalid="ignore"):                      # signalling NaNs become quiet
        x = validate.array(x, "x", finite=False, nonempty=False, where="encode",
                           dtype=np.float64)
    half = 2 ** (f.bits - 1)                                  # codes of the positive half
    table = decode_table(f)[:half]                            # increasing while finite
    n_finite = int(np.isfinite(table).sum())
    values = table[:n_finite]
    if f.specials != "none":                                  # the overflow code, as if the
        ulp = values[-1] - values[-2]                         # exponent went on
        values = np.append(values, values[-1] + ulp)
    a = np.abs(x)
    nan = np.isnan(x)
    if f.specials == "none" and nan.any():
        raise ValueError(f"encode: x contains nan at {np.argwhere(nan)[0].tolist()}; "
                         f"{f.name} has no NaN code (it is an MX element format)")
    if saturate or f.specials == "none":                      # inf stays inf / NaN, except
        keep = np.isinf(a) & (f.specials != "none")           # in formats without specials
        a = np.where(keep, a, np.minimum(a, values[n_finite - 1]))
    mid = (values[:-1] + values[1:]) / 2                      # exact: few significant bits
    lo = np.searchsorted(mid, a, side="left")                 # a <= mid[lo]: code lo or less
    tie = (lo < len(mid)) & (a == mid[np.minimum(lo, len(mid) - 1)]) & (lo % 2 == 1)
    code = np.minimum(lo + tie, len(values) - 1)              # a tie goes to the even code
    if f.specials == "ieee":
        code = np.where(nan, half - 2, code)                  # 0.11111.10: the quiet NaN
    elif f.specials == "fn":
        code = np.where(nan, half - 1, code)                  # S.1111.111
    sign = np.signbit(x).astype(np.int64) * half
    return (code + sign).astype(np.uint8)


def decode(codes, fmt="e4m3") -> np.ndarray:
    """float32 values of ``codes`` (integers in ``[0, 2^bits)``).

    >>> decode([56, 42, 126, 127], "e4m3").tolist()
    [1.0, 0.3125, 448.0, nan]
    """
    f = fmt if isinstance(fmt, Minifloat) else minifloat(fmt)
    codes = check_codes(codes, f.bits, "decode")
    return decode_table(f).astype(np.float32)[codes]


def check_codes(codes, bits: int, where: str) -> np.ndarray:
    """``codes`` as an integer array within ``[0, 2^bits)``, else TypeError / ValueError."""
    codes = validate.array(codes, "codes", nonempty=False, where=where)
    if codes.dtype.kind not in "ui":
        raise TypeError(f"{where}: codes has dtype {codes.dtype}; expected integer codes")
    if codes.size and (codes.min() < 0 or codes.max() >= 2 ** bits):
        raise ValueError(f"{where}: codes holds {int(codes.min())}..{int(codes.max())}; "
                         f"expected {bits}-bit codes in [0, {2 ** bits})")
    return codes.astype(np.int64)


def round_to(x, fmt="e4m3", saturate: bool = False) -> np.ndarray:
    """``decode(encode(x))``: ``x`` rounded to the format (float32)."""
    return decode(encode(x, fmt, saturate), fmt)


def encode_e8m0(x) -> np.ndarray:
    """E8M0 codes of positive ``x``: the nearest power of two ``2^(code - 127)``.

    Ties (``1.5 · 2^k``) go up, as ``ml_dtypes`` does; 0, negatives, NaN, inf
    and values beyond ``2^127`` give code 255 (NaN); below ``2^-127``, code 0.

    >>> encode_e8m0([1.0, 3.0, 0.7, 0.0])
    array([127, 129, 126, 255], dtype=uint8)
    """
    with np.errstate(invalid="ignore"):
        x = validate.array(x, "x", finite=False, nonempty=False, where="encode_e8m0",
                           dtype=np.float64)
    ok = np.isfinite(x) & (x > 0)
    frac, exp = np.frexp(np.where(ok, x, 1.0))                # x = frac * 2^exp, frac in [.5, 1)
    k = exp - 1 + (frac >= 0.75)                              # nearest power, ties up
    code = np.maximum(k + 127, 0)
    return np.where(ok & (code <= 254), code, 255).astype(np.uint8)


def decode_e8m0(codes) -> np.ndarray:
    """``2^(code - 127)`` as float32 (2^-127 is a float32 subnormal), code 255 is NaN.

    >>> decode_e8m0([127, 129, 255])
    array([ 1.,  4., nan], dtype=float32)
    """
    codes = check_codes(codes, 8, "decode_e8m0")
    return np.where(codes == 255, np.nan, np.ldexp(1.0, codes - 127)).astype(np.float32)
