r"""Uniform quantization: affine :math:`r = S(q - Z)` and symmetric :math:`r = S q`.

A real value r is stored as an integer code q of ``bits`` bits:

.. math:: q = \mathrm{clamp}\big(\mathrm{round}(r / S) + Z,\ q_{min},\ q_{max}\big),
          \qquad \hat r = S (q - Z).

- **affine** (asymmetric): unsigned codes ``q ∈ [0, 2^b − 1]``; the range
  ``[lo, hi]`` is first widened to contain 0, then
  ``S = (hi − lo) / (2^b − 1)`` and ``Z = round(−lo / S)``. Because ``Z`` is
  an integer, the real value 0 is represented *exactly* (ReLU outputs and
  zero padding stay exact).
- **symmetric**: signed codes in the narrow range
  ``q ∈ [−(2^{b−1} − 1), 2^{b−1} − 1]`` (int8: −127..127), ``Z = 0`` and
  ``S = max(|lo|, |hi|) / (2^{b−1} − 1)``.

Inside the range the error is at most half a step, ``|r − r̂| ≤ S/2``
(round to nearest); outside it the value saturates. Stochastic rounding
(``floor(r/S + u)``, u ~ U[0, 1)) is unbiased, ``E[r̂] = r`` inside the
range (Gupta et al. 2015).

Bit widths 1–16 are accepted. One bit means two codes {0, 1}: with the
affine scheme that is the two levels {0, S} (or {−S, 0}), one of which is
the real 0 -- not binarization to ±1. The symmetric scheme has no 1-bit
form (its narrow range is the single code 0) and refuses it.

A **zero-range** tensor (every value 0 once the range includes 0, e.g. an
all-zero row) has no natural step; we then use ``S = 1`` and ``Z = 0``
(affine) so that it quantizes to ``Z`` and reconstructs exactly, with no
division by zero. A constant nonzero tensor is not zero-range: its range
widened to 0 is ``[0, c]`` and c reconstructs exactly as the top code.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
Krishnamoorthi, R. (2018). Quantizing deep convolutional networks for
efficient inference: a whitepaper. arXiv:1806.08342.
Gupta, S. et al. (2015). Deep Learning with Limited Numerical Precision.
ICML. arXiv:1502.02551.

Deviations: rounding is NumPy's ``rint`` (half to even) where PyTorch
uses the same and TFLite rounds half away from zero; the difference is
only on exact ties.
"""
from __future__ import annotations

import numpy as np

from .. import validate

SCHEMES = ("affine", "symmetric")
ROUNDINGS = ("nearest", "stochastic")


def check_bits(bits, scheme: str = "affine", name: str = "bits", where=None) -> int:
    """Validate a bit width (1–16; 2–16 for ``symmetric``) and return it as int.

    ``name`` is how the caller spells the argument (e.g. ``"choices[2]"``)
    and ``where`` the public function, both used in the message.

    Examples
    --------
    >>> check_bits(np.int64(4)), check_bits(8, "symmetric")
    (4, 8)
    >>> check_bits(True)
    Traceback (most recent call last):
        ...
    TypeError: bits=True (bool); expected an int >= 1 and <= 16
    """
    scheme = validate.choice(scheme, "scheme", SCHEMES, where=where)
    bits = validate.integer(bits, name, low=1, high=16, where=where)
    if scheme == "symmetric" and bits < 2:
        raise ValueError(f"{_pre(where)}{name}=1 with scheme='symmetric': its narrow range "
                         "[-(2^0 - 1), 2^0 - 1] is the single code 0; use bits >= 2, "
                         "or scheme='affine' for the two levels {0, S}")
    return int(bits)


def qrange(bits, scheme: str = "affine") -> tuple[int, int]:
    """Integer code range ``(q_min, q_max)``.

    Examples
    --------
    >>> qrange(8, "affine"), qrange(8, "symmetric"), qrange(1, "affine")
    ((0, 255), (-127, 127), (0, 1))
    """
    bits = check_bits(bits, scheme)
    if scheme == "affine":
        return 0, 2**bits - 1
    return -(2**(bits - 1) - 1), 2**(bits - 1) - 1


def code_dtype(bits, scheme: str = "affine") -> np.dtype:
    """Narrowest NumPy integer dtype that holds the codes (uint8/int8/uint16/int16)."""
    bits = check_bits(bits, scheme)
    if scheme == "affine":
        return np.dtype(np.uint8 if bits <= 8 else np.uint16)
    return np.dtype(np.int8 if bits <= 8 else np.int16)


def _pre(where) -> str:
    return f"{where}: " if where else ""


def check_finite(name: str, x, where=None) -> np.ndarray:
    """``x`` as a float64 array of numbers (may be empty); ValueError naming ``name``
    and the position if it holds NaN or inf (a thin layer over :func:`minicomp.validate.array`).

    Examples
    --------
    >>> check_finite("W", [[1.0, float("inf")]], where="quantize_tensor")
    Traceback (most recent call last):
        ...
    ValueError: quantize_tensor: W contains non-finite values (inf at [0, 1]); expected ...
    """
    x = validate.array(getattr(x, "data", x), name, finite=False, nonempty=False, where=where)
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        at = [int(i) for i in np.argwhere(~np.isfinite(x))[0]]
        pos = f" at {at}" if at else ""                             # a 0-d x has no position
        raise ValueError(f"{_pre(where)}{name} contains non-finite values ({x[tuple(at)]}"
                         f"{pos}); expected finite numbers")
    return x


def _scale_zero(S, Z, shape, where=None, codes=None):
    """Scales (finite, > 0) and integer zero points, both broadcastable to ``shape``;
    with ``codes = (q_min, q_max, what)`` every zero point must be one of those codes."""
    S = validate.array(S, "S", finite=False, where=where).astype(np.float64)
    if not (np.isfinite(S).all() and (S > 0).all()):
        raise ValueError(f"{_pre(where)}scale S must be finite and > 0, got {S.ravel()[:4]}")
    Z = validate.array(Z, "Z", where=where)
    if not (Z == np.rint(Z)).all():
        raise ValueError(f"{_pre(where)}zero point Z must hold integers, got {Z.ravel()[:4]}")
    if codes is not None and ((Z < codes[0]) | (Z > codes[1])).any():
        at = [int(i) for i in np.argwhere((Z < codes[0]) | (Z > codes[1]))[0]]
        what = f"Z={Z.item():g}" if Z.ndim == 0 else f"Z contains {Z[tuple(at)]:g} at {at}"
        raise ValueError(f"{_pre(where)}{what}; expected an int in [{codes[0]}, {codes[1]}], "
                         f"the code range of {codes[2]}")
    try:
        np.broadcast_shapes(S.shape, Z.shape, shape)
    except ValueError:
        raise ValueError(f"{_pre(where)}S {S.shape} and Z {Z.shape} do not broadcast to the "
                         f"values' shape {shape}; expected a scalar or one per channel/group"
                         ) from None
    return S, Z


def scale_zero_point(lo, hi, bits, scheme: str = "affine"):
    r"""Scale S and zero point Z that map the range ``[lo, hi]`` onto the codes.

    Parameters
    ----------
    lo, hi : float or ndarray (one per channel/group), ``lo <= hi``
    bits : int in [1, 16] ([2, 16] for symmetric)
    scheme : {"affine", "symmetric"}

    Returns
    -------
    S : ndarray float64, > 0, the shape of ``lo``
    Z : ndarray int64 (0 for symmetric)

    Raises
    ------
    ValueError
        Bad bits or scheme, non-finite bounds, or ``lo > hi``.

    Notes
    -----
    Affine: :math:`S = (\max(hi,0) - \min(lo,0)) / (q_{max} - q_{min})`,
    :math:`Z = \mathrm{clamp}(q_{min} - \mathrm{round}(\min(lo, 0) / S))`.
    Symmetric: :math:`S = \max(|lo|, |hi|) / q_{max}`, :math:`Z = 0`.
    A zero range gives S = 1 (see the module docstring).

    Examples
    --------
    >>> S, Z = scale_zero_point(-1.0, 3.0, 2)      # 4 units over 3 steps
    >>> float(S), int(Z)                           # 0 -> code 1 (exact)
    (1.3333333333333333, 1)
    >>> S, Z = scale_zero_point(0.0, 0.0, 8)       # zero range: S = 1
    >>> float(S), int(Z)
    (1.0, 0)
    """
    q_min, q_max = qrange(bits, scheme)
    lo, hi = check_finite("lo", lo), check_finite("hi", hi)
    if lo.size == 0 or hi.size == 0:
        raise ValueError("scale_zero_point: lo and hi are empty; expected a range")
    if (lo > hi).any():
        raise ValueError(f"lo must be <= hi, got lo={lo.ravel()[0]}, hi={hi.ravel()[0]}")
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)          # the range contains 0
    if scheme == "affine":
        S = (hi - lo) / (q_max - q_min)
        S = np.where(S > 0, S, 1.0)                            # zero range: any S is exact
        Z = np.clip(q_min - np.rint(lo / S), q_min, q_max).astype(np.int64)
    else:
        S = np.maximum(-lo, hi) / q_max
        S = np.where(S > 0, S, 1.0)
        Z = np.zeros(S.shape, dtype=np.int64)
    return S, Z


def quantize(x, S, Z, bits, scheme: str = "affine", rounding: str = "nearest", seed=None):
    r"""Integer codes :math:`q = \mathrm{clamp}(\mathrm{round}(x/S) + Z, q_{min}, q_{max})`.

    Parameters
    ----------
    x : array_like of finite floats
    S, Z : scale(s) > 0 and zero point(s), broadcastable to ``x``
    bits : int in [1, 16]
    scheme : {"affine", "symmetric"}
    rounding : {"nearest", "stochastic"}
    seed : int or Generator, for stochastic rounding

    Returns
    -------
    q : ndarray of :func:`code_dtype` (uint8/int8 up to 8 bits, else 16-bit)

    Raises
    ------
    ValueError
        NaN/inf in ``x``, a scale that is not positive, a zero point outside
        ``qrange(bits, scheme)``, bad bits/scheme/rounding.

    Examples
    --------
    >>> quantize([-1.0, 0.0, 0.4, 3.0, 9.0], 4 / 3, 1, 2)   # 9 saturates
    array([0, 1, 1, 3, 3], dtype=uint8)
    """
    q_min, q_max = qrange(bits, scheme)
    rounding = validate.choice(rounding, "rounding", ROUNDINGS)
    x = check_finite("x", x)
    S, Z = _scale_zero(S, Z, x.shape, codes=(q_min, q_max, f"bits={bits}, {scheme!r}"))
    t = x / S
    if rounding == "nearest":
        t = np.rint(t)
    else:
        rng = np.random.default_rng() if seed is None else validate.rng(seed, "seed")
        t = np.floor(t + rng.random(t.shape))                  # E[floor(t + u)] = t
    q = np.clip(t + Z, q_min, q_max)
    return q.astype(code_dtype(bits, scheme))


def dequantize(q, S, Z=0) -> np.ndarray:
    r"""Real values :math:`\hat r = S (q - Z)`, float32.

    Examples
    --------
    >>> dequantize(np.array([0, 1, 3], np.uint8), 0.5, 1)
    array([-0.5,  0. ,  1. ], dtype=float32)
    """
    q = validate.array(q, "q", nonempty=False, where="dequantize").astype(np.float64)
    S, Z = _scale_zero(S, Z, q.shape, "dequantize")
    return (S * (q - Z)).astype(np.float32)


def fake_quantize(x, S, Z, bits, scheme: str = "affine", rounding: str = "nearest",
                  seed=None) -> np.ndarray:
    r"""``dequantize(quantize(x))``: floats restricted to the quantization grid.

    Examples
    --------
    >>> fake_quantize([0.1, 0.26, 1.0], 0.25, 0, 4)
    array([0.  , 0.25, 1.  ], dtype=float32)
    """
    return dequantize(quantize(x, S, Z, bits, scheme, rounding, seed), S, Z)


def fake_quantizer(S, Z, bits, scheme: str = "affine"):
    """``x -> fake_quantize(x, S, Z, bits, scheme)`` for one scalar ``S``, ``Z``, checked once.

    The same arithmetic, bit for bit (the codes are cast to their dtype and
    back, as :func:`quantize` and :func:`dequantize` do), without checking
    the parameters again on every call; ``x`` must be finite (not checked).
    For a model that fake-quantizes its activations on every batch.

    Examples
    --------
    >>> fq = fake_quantizer(0.25, 0, 4)
    >>> fq(np.array([0.1, 0.26, 1.0]))
    array([0.  , 0.25, 1.  ], dtype=float32)
    """
    q_min, q_max = qrange(bits, scheme)
    S, Z = _scale_zero(S, Z, (), "fake_quantizer", (q_min, q_max, f"bits={bits}, {scheme!r}"))
    if S.ndim or Z.ndim:
        raise ValueError(f"fake_quantizer: S of shape {S.shape} and Z of shape {Z.shape}; "
                         "expected one scalar each (per-tensor activations)")
    dtype = code_dtype(bits, scheme)

    def run(x) -> np.ndarray:
        t = np.rint(np.asarray(x, dtype=np.float64) / S)
        q = np.clip(t + Z, q_min, q_max).astype(dtype)                 # codes
        return (S * (q.astype(np.float64) - Z)).astype(np.float32)
    return run


def real_range(S, Z, bits, scheme: str = "affine"):
    """Real interval ``[S(q_min − Z), S(q_max − Z)]`` that is not clipped
    (the real counterpart of :func:`qrange`).

    Examples
    --------
    >>> real_range(0.5, 2, 3)                     # codes 0..7
    (-1.0, 2.5)
    """
    q_min, q_max = qrange(bits, scheme)
    S, Z = _scale_zero(S, Z, (), "real_range", (q_min, q_max, f"bits={bits}, {scheme!r}"))
    lo, hi = S * (q_min - Z), S * (q_max - Z)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)
