r"""Fixed-point requantization shared by every int8 path: its constants and its epilogue.

An int32 accumulator ``a`` of output channel ``i`` becomes an 8-bit code
(Jacob et al. 2018, eq. 7, with the real multiplier ``M_i = m_{0,i}
2^{-s_i}`` in fixed point):

.. math:: q_{y} = \mathrm{clamp}\Big(Z_y + \big\lfloor (a\, m_{0,i}
          + 2^{s_i-1}) / 2^{s_i} \big\rfloor,\ lo,\ hi\Big),

computed in int64 (``|a · m0| < 2^31 · 2^31 = 2^62``), rounding half up;
``lo = Z_y`` under ReLU (the real value 0), else the type's minimum. The
integers are those of :func:`minicomp.kernels.reference.requantize`.

- :func:`requant_params` checks ``m0``, ``shift`` and ``Z_y`` once, when a
  layer is built, and returns the per-channel constants the kernels take
  (:class:`Requant`), ``2^{s-1}`` precomputed.
- :func:`requantize_tile` is the epilogue every int8 kernel (blocked, madd,
  VNNI) runs on its tile of accumulators; Numba inlines it there.

Shape contract of the epilogue: ``acc`` int32 (rows', cols') with
rows' ≥ rows, cols' ≥ cols; ``bias, m0, rnd, shift`` (out,); ``out``
uint8 (batch, out), int8 codes stored as their two's-complement bytes.

Layer: above :mod:`minicomp.kernels.reference` only (``dtype_range``); the
kernels of :mod:`~minicomp.kernels.blocked`, :mod:`~minicomp.kernels.madd`
and :mod:`~minicomp.kernels.vnni` import it.

Caveat: Numba's on-disk cache checks only the file a kernel is defined in,
so after editing :func:`requantize_tile` delete the cached kernels
(``find minicomp -name '*.nbi' -delete``) or they keep the old epilogue.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .reference import dtype_range

INT32_MAX = 2**31 - 1


class Requant(NamedTuple):
    """Per-channel requantization constants, in the order the kernels take them."""
    m0: np.ndarray          # (out,) int64, in [1, 2^31)
    rnd: np.ndarray         # (out,) int64, 2^(shift - 1): rounds half up
    shift: np.ndarray       # (out,) int64, in [1, 62]
    Z_y: int                # the output zero point
    lo: int                 # lower clamp: Z_y with ReLU, else the type's minimum
    hi: int                 # upper clamp: the type's maximum


def zero_point(name: str, value, dtype, dtype_name: str) -> int:
    """``value`` as a Python int inside the range of ``dtype`` (uint8 or int8).

    Raises ``TypeError`` if ``dtype`` is not 8-bit (naming ``dtype_name``)
    or ``value`` not an integer, ``ValueError`` if it is out of range.

    >>> zero_point("Z_x", np.uint8(128), np.uint8, "x_dtype")
    128
    """
    lo, hi = dtype_range(dtype, dtype_name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return int(value)


def _per_channel(name, value, n, lo, hi):
    v = np.asarray(value)
    if v.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers (see quantize_multiplier), got {v.dtype}")
    if v.shape not in ((), (n,)):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {v.shape}")
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {v.min()}..{v.max()}")
    return np.broadcast_to(v.astype(np.int64), (n,)).copy()            # (out,)


def requant_params(m0, shift, Z_y, n: int, relu: bool = False,
                   out_dtype=np.uint8) -> Requant:
    """Check and broadcast the requantization of ``n`` output channels.

    Parameters
    ----------
    m0, shift : int or ndarray (n,) of ints, from
        :func:`~minicomp.kernels.reference.quantize_multiplier`; m0 in
        [1, 2^31), shift in [1, 62]
    Z_y : int, the output zero point, in ``out_dtype``'s range
    n : int, number of output channels
    relu : bool
    out_dtype : uint8 or int8

    Returns
    -------
    Requant

    Raises
    ------
    TypeError, ValueError
        The message names the argument and the bad value.

    Examples
    --------
    >>> q = requant_params(1 << 30, 31, 128, 2, relu=True)
    >>> q.m0.tolist(), q.rnd.tolist(), (q.Z_y, q.lo, q.hi)
    ([1073741824, 1073741824], [1073741824, 1073741824], (128, 128, 255))
    """
    Z_y = zero_point("Z_y", Z_y, out_dtype, "out_dtype")
    lo, hi = dtype_range(out_dtype)
    m0 = _per_channel("m0", m0, n, 1, INT32_MAX)                        # (out,)
    shift = _per_channel("shift", shift, n, 1, 62)                      # (out,)
    rnd = np.int64(1) << (shift - 1)                                    # (out,) 2^(s-1)
    return Requant(m0, rnd, shift, Z_y, max(lo, Z_y) if relu else lo, hi)


@njit(inline="always")
def requantize_tile(acc, rows, b0, n0, cols, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """``out[b0+r, n0+c] = requantize(acc[r, c] + bias[n0+c])`` for r < rows, c < cols.

    The sum wraps to int32 (as the kernels' accumulators do), then the
    multiply-shift runs in int64; the clamped code is stored as a byte.
    """
    bs, ms = bias[n0:n0 + cols], m0[n0:n0 + cols]                     # (cols,) slices: the
    rs, ss = rnd[n0:n0 + cols], shift[n0:n0 + cols]                     # c loop vectorizes
    for r in range(rows):
        a_r, o_r = acc[r], out[b0 + r, n0:n0 + cols]                    # (cols',), (cols,)
        for c in range(cols):
            a = np.int64(np.int32(np.int64(a_r[c]) + bs[c]))             # wraps mod 2^32
            y = ((a * ms[c] + rs[c]) >> ss[c]) + Z_y                    # round half up
            o_r[c] = np.uint8(min(max(y, lo), hi) & 0xFF)               # int8: two's complement
