r"""Block formats: OCP microscaling (MXFP8/6/4, MXINT8) and NVFP4.

A block of ``k`` consecutive values along the last axis shares one scale
``X``; each value keeps a small element code ``P_i``, and :math:`v_i = X P_i`.

**MX** (OCP MX v1.0, section 6.3): ``k = 32``, ``X`` a power of two stored
in E8M0,

.. math:: X = 2^{\lfloor \log_2 \max_i |V_i| \rfloor - e_{\max}},\qquad
          P_i = \mathrm{sat}\big(\mathrm{round}(V_i / X)\big),

with :math:`e_{\max}` the exponent of the element format's largest normal
(E4M3: 8, E5M2: 15, E3M2: 4, E2M3: 2, E2M1: 2, INT8: 0) and rounding to
nearest even, saturating to ±max. MXINT8's element is an int8 ``q`` read as
``q / 64`` (1.6 fixed point), clamped to ``[-127, 127]``.

**NVFP4** (NVIDIA 2025): ``k = 16`` E2M1 elements, the block scale in E4M3
(not a power of two), and one float32 tensor scale ``g`` so that block
scales fit E4M3's range:

.. math:: g = \frac{\max|W|}{6 \cdot 448},\qquad
          s_b = \mathrm{e4m3}\Big(\frac{\max_{i \in b} |V_i|}{6\, g}\Big),\qquad
          P_i = \mathrm{e2m1}\big(V_i / (s_b\, g)\big).

Deviations: a block holding NaN or inf gets the E8M0 NaN scale (255) and
decodes to NaN (the spec leaves non-finite blocks to the implementation);
an all-zero block gets the smallest scale ``2^-127``; NVFP4 refuses NaN/inf.
The sizes count bits: MXFP4 is ``4 + 8/32 = 4.25`` bits per value.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from .checks import float32_values
from .minifloat import decode, decode_e8m0, encode, max_value, minifloat

# name -> (element format, e_max of the element, element bits)
MX_FORMATS = {
    "mxfp8_e4m3": ("e4m3", 8, 8), "mxfp8_e5m2": ("e5m2", 15, 8),
    "mxfp6_e3m2": ("e3m2", 4, 6), "mxfp6_e2m3": ("e2m3", 2, 6),
    "mxfp4": ("e2m1", 2, 4), "mxint8": ("int8", 0, 8),
}


class BlockTensor(NamedTuple):
    """Codes of a block format and its scales.

    Attributes
    ----------
    codes : ndarray, uint8 (int8 for MXINT8), the shape of the input
    scales : ndarray, uint8, shape (..., in / block): E8M0 (MX) or E4M3 (NVFP4) codes
    fmt : str, a key of :data:`MX_FORMATS` or ``"nvfp4"``
    block : int
    tensor_scale : float, NVFP4's float32 ``g`` (1.0 for MX)
    """
    codes: np.ndarray
    scales: np.ndarray
    fmt: str
    block: int
    tensor_scale: float = 1.0

    @property
    def nbytes(self) -> float:
        """Bytes at the format's bit widths: elements + block scales (+ 4 for NVFP4's ``g``)."""
        bits = 4 if self.fmt == "nvfp4" else MX_FORMATS[self.fmt][2]
        return self.codes.size * bits / 8 + self.scales.size + 4 * (self.fmt == "nvfp4")


def blocks(x, block: int, where: str, name: str = "x") -> np.ndarray:
    """``x`` as float64, shape (..., in / block, block); clear errors for bad widths
    and for finite values beyond float32's range (NaN / inf are the caller's)."""
    block = validate.integer(block, "block", low=1, where=where)
    x = validate.array(x, name, finite=False, where=where, dtype=np.float64)
    float32_values(x, name, where)
    if x.ndim == 0 or x.shape[-1] % block:
        raise ValueError(f"{where}: {name} has shape {x.shape}; expected a last axis that is a "
                         f"multiple of block={block} (pad it, or pick a block size dividing "
                         "the width)")
    return x.reshape(*x.shape[:-1], x.shape[-1] // block, block)


def mx_quantize(x, fmt: str = "mxfp4", block: int = 32) -> BlockTensor:
    """Encode ``x`` in the MX format ``fmt``, blocks of ``block`` along the last axis.

    Examples
    --------
    >>> t = mx_quantize(np.array([[0.1, -1.0, 3.0, 5.0]]), "mxfp4", block=4)
    >>> int(t.scales[0, 0]) - 127, mx_dequantize(t)     # X = 2^(2-2) = 1: plain E2M1
    (0, array([[ 0., -1.,  3.,  4.]], dtype=float32))
    """
    where = "mx_quantize"
    fmt = validate.choice(fmt, "fmt", tuple(MX_FORMATS), where=where)
    elem, e_max, _ = MX_FORMATS[fmt]
    V = blocks(x, block, where)                                     # (..., G, k)
    amax = np.abs(V).max(axis=-1)                                   # (..., G)
    bad = ~np.isfinite(amax)
    _, exp = np.frexp(np.where(bad | (amax == 0), 1.0, amax))      # amax = f 2^exp, f in [.5, 1)
    shared = np.where(amax == 0, -127, np.clip(exp - 1 - e_max, -127, 127))
    P = np.where(bad[..., None], 0.0, V) / np.ldexp(1.0, shared)[..., None]   # exact
    if elem == "int8":
        codes = np.clip(np.rint(P * 64), -127, 127).astype(np.int8)
    else:
        codes = encode(P, elem, saturate=True)
    scales = np.where(bad, 255, shared + 127).astype(np.uint8)
    return BlockTensor(codes.reshape(np.shape(x)), scales, fmt, block)


def mx_dequantize(t: BlockTensor) -> np.ndarray:
    """float32 values of an MX :class:`BlockTensor` (NaN where the scale is NaN)."""
    t = check_block_tensor(t, "mx_dequantize")
    elem = MX_FORMATS[t.fmt][0]
    if elem == "int8":                                   # int8 codes; the rest: decode's check
        if t.codes.dtype.kind not in "iu":
            raise TypeError(f"mx_dequantize: t.codes has dtype {t.codes.dtype}; expected "
                            "int8 codes for mxint8")
        if t.codes.size and (t.codes.min() < -128 or t.codes.max() > 127):
            raise ValueError(f"mx_dequantize: t.codes holds {t.codes.min()}.."
                             f"{t.codes.max()}; expected int8 codes in "
                             "[-128, 127] for mxint8")
    P = t.codes.astype(np.float64) / 64 if elem == "int8" else decode(t.codes, elem)
    P = P.reshape(*t.scales.shape, t.block)
    return (P * decode_e8m0(t.scales)[..., None]).reshape(t.codes.shape).astype(np.float32)


def nvfp4_quantize(x, block: int = 16) -> BlockTensor:
    """Encode finite ``x`` in NVFP4: E2M1 values, E4M3 block scales, a float32 tensor scale.

    >>> t = nvfp4_quantize(np.array([[6.0, 3.0, 1.0, 0.2]]), block=4)
    >>> nvfp4_dequantize(t)                    # 0.2 is nearer 0 than 0.5 (times 1)
    array([[6., 3., 1., 0.]], dtype=float32)
    """
    where = "nvfp4_quantize"
    V = blocks(x, block, where).astype(np.float32)                 # (..., G, k), as in float32
    if not np.isfinite(V).all():
        validate.array(V, "x", where=where)                        # names the first NaN/inf
    amax = float(np.abs(V).max())
    g = np.float32(amax / (6 * 448) if amax > 0 else 1.0)
    s = decode(encode(np.abs(V).max(axis=-1) / (6 * g), "e4m3", saturate=True), "e4m3")
    denom = (s * g)[..., None]                                      # (..., G, 1)
    P = np.divide(V, denom, out=np.zeros_like(V), where=denom > 0)
    codes = encode(P, "e2m1", saturate=True)
    return BlockTensor(codes.reshape(np.shape(x)), encode(s, "e4m3"), "nvfp4", block, float(g))


def nvfp4_dequantize(t: BlockTensor) -> np.ndarray:
    """float32 values of an NVFP4 :class:`BlockTensor`: ``e2m1(P) · e4m3(s_b) · g``."""
    t = check_block_tensor(t, "nvfp4_dequantize")
    P = decode(t.codes, "e2m1").reshape(*t.scales.shape, t.block)
    s = decode(t.scales, "e4m3")[..., None] * np.float32(t.tensor_scale)
    return (P * s).reshape(t.codes.shape).astype(np.float32)


def check_block_tensor(t, where: str) -> BlockTensor:
    """``t`` with array codes and scales (lists accepted), or TypeError / ValueError
    unless it is a consistent :class:`BlockTensor`."""
    if not isinstance(t, BlockTensor):
        raise TypeError(f"{where}: t is a {type(t).__name__}; expected a BlockTensor "
                        "(from mx_quantize or nvfp4_quantize)")
    t = t._replace(codes=validate.array(t.codes, "t.codes", nonempty=False, where=where),
                   scales=validate.array(t.scales, "t.scales", nonempty=False, where=where))
    want = "nvfp4" if where.startswith("nvfp4") else tuple(MX_FORMATS)
    if (t.fmt != want) if isinstance(want, str) else (t.fmt not in want):
        raise ValueError(f"{where}: t.fmt={t.fmt!r}; expected {want!r}")
    g = t.tensor_scale
    if not isinstance(g, (float, np.floating)) or not np.isfinite(g) or g <= 0:
        raise ValueError(f"{where}: tensor_scale={g!r}; expected a finite float > 0")
    block = validate.integer(t.block, "t.block", low=1, where=where)
    if t.codes.ndim == 0 or t.codes.ndim != t.scales.ndim or \
            t.codes.shape[:-1] != t.scales.shape[:-1] or \
            t.codes.shape[-1] != t.scales.shape[-1] * block:
        raise ValueError(f"{where}: codes {t.codes.shape} and scales {t.scales.shape} "
                         f"disagree with block={t.block}")
    return t


def element_max(fmt: str) -> float:
    """Largest element value of an MX format (E4M3: 448; INT8: 127/64)."""
    elem = MX_FORMATS[validate.choice(fmt, "fmt", tuple(MX_FORMATS), where="element_max")][0]
    return 127 / 64 if elem == "int8" else max_value(minifloat(elem))
