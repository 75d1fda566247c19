r"""Fixed-point numbers: seed 004's :math:`Q(x) = \mathrm{round}(x \cdot Q) / Q`.

With ``f`` fractional bits the quantization factor is :math:`Q = 2^f`; a
real x is stored as the integer :math:`q = \mathrm{round}(x \cdot 2^f)` and
read back as :math:`q / 2^f`. In a signed word of ``bits`` bits,

- **resolution** (one step): :math:`2^{-f}`; rounding error ≤ :math:`2^{-f-1}`;
- **range**: :math:`[-2^{bits-1}, 2^{bits-1} - 1] \cdot 2^{-f}`;
- **overflow**: a value outside the range does not fit the word. We
  saturate (clamp to the nearest end) and count how many values did; a
  real int type would wrap around instead (:func:`wrap_around` shows it).

Seed 004 writes ``Q(x) = round(x·Q)`` and its code ``round(x*Q)/Q`` with
``Q = 256``: that is fixed point with f = 8 and *no* word size -- the
integer part is unbounded, so nothing is saved until a word size is fixed.
Fixed point is uniform quantization with a power-of-two scale
``S = 2^-f`` and ``Z = 0`` (:mod:`minicomp.quant.uniform`).

Clamping is not quantization (seed 002): ``clip(x, -t, t)`` bounds the
range but leaves every value inside it a float32 of 32 bits, so the
number of distinct values -- and the bits needed -- does not drop.
:func:`distinct_values` measures that.

References
----------
Gupta, S. et al. (2015). Deep Learning with Limited Numerical Precision.
ICML. arXiv:1502.02551 (16-bit fixed point with f = 14 trains MNIST nets).
"""
from __future__ import annotations

import numpy as np

from .. import validate
from .uniform import check_finite


def _check(f, bits, where):
    f = validate.integer(f, "f", low=0, high=32, where=where)          # fractional bits
    bits = validate.integer(bits, "bits", low=2, high=32, where=where)  # word, with the sign
    if f >= bits:
        raise ValueError(f"{where}: f={f} fractional bits do not fit a {bits}-bit word with a "
                         f"sign bit; expected f < bits")
    return f, bits


def fixed_point_range(f: int, bits: int) -> tuple[float, float, float]:
    """``(smallest, largest, resolution)`` of signed fixed point with ``f`` fractional bits.

    Examples
    --------
    >>> fixed_point_range(8, 16)          # Q8.8: seed 004's Q = 256 in 16 bits
    (-128.0, 127.99609375, 0.00390625)
    """
    f, bits = _check(f, bits, "fixed_point_range")
    step = 2.0 ** -f
    return -(2 ** (bits - 1)) * step, (2 ** (bits - 1) - 1) * step, step


def to_fixed(x, f: int, bits: int):
    r"""Integer codes :math:`q = \mathrm{clamp}(\mathrm{round}(x \cdot 2^f))` and the overflow count.

    Parameters
    ----------
    x : array_like of finite floats
    f : int, fractional bits (Q = 2^f)
    bits : int, word size including the sign bit (2–32)

    Returns
    -------
    q : ndarray int64
    overflow : int, how many values were outside the range (saturated)

    Examples
    --------
    >>> to_fixed([0.3, -1.0, 200.0], 8, 16)    # 0.3*256 = 76.8 -> 77; 200 overflows
    (array([   77,  -256, 32767]), 1)
    """
    f, bits = _check(f, bits, "to_fixed")
    x = check_finite("x", x, "to_fixed")
    q = np.rint(x * 2.0**f)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    overflow = int(((q < lo) | (q > hi)).sum())
    return np.clip(q, lo, hi).astype(np.int64), overflow


def from_fixed(q, f: int) -> np.ndarray:
    """Real values ``q / 2^f`` (float64).

    >>> from_fixed([77, -256], 8)
    array([ 0.30078125, -1.        ])
    """
    f = validate.integer(f, "f", low=0, high=32, where="from_fixed")
    return validate.array(q, "q", nonempty=False, where="from_fixed", dtype=np.float64) * 2.0**-f


def fixed_point(x, f: int, bits: int) -> np.ndarray:
    r"""Round trip :math:`Q(x) = \mathrm{round}(x \cdot 2^f) / 2^f`, saturating.

    Examples
    --------
    >>> fixed_point([0.3, 0.001, 500.0], 8, 16)
    array([  0.30078125,   0.        , 127.99609375])
    """
    f, bits = _check(f, bits, "fixed_point")
    q, _ = to_fixed(x, f, bits)
    return from_fixed(q, f)


def wrap_around(q, bits: int) -> np.ndarray:
    """What a ``bits``-bit two's-complement register holds for integers ``q`` (no saturation).

    >>> wrap_around([127, 128, 300], 8)
    array([ 127, -128,   44])
    """
    bits = validate.integer(bits, "bits", low=1, high=62, where="wrap_around")
    q = validate.array(q, "q", nonempty=False, where="wrap_around")
    if q.dtype.kind == "f" and not (q == np.rint(q)).all():
        raise ValueError(f"wrap_around: q contains {q[q != np.rint(q)][0]}; expected integers "
                         "(the codes of to_fixed)")
    q = q.astype(np.int64)
    half = 2 ** (bits - 1)
    return (q + half) % (2 * half) - half


def distinct_values(x) -> int:
    """Number of distinct values in ``x``: 2^bits bounds it after quantization.

    >>> x = np.linspace(-1, 1, 1001)
    >>> distinct_values(np.clip(x, -0.5, 0.5)), distinct_values(fixed_point(x, 2, 8))
    (501, 9)
    """
    return int(np.unique(validate.array(x, "x", nonempty=False, where="distinct_values")).size)
