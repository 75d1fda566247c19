r"""NF4: QLoRA's 4-bit NormalFloat codebook, block absmax scales, double quantization.

Weights of a trained layer are roughly normal, so the 16 codes are placed
at quantiles of :math:`\mathcal N(0, 1)` rather than evenly: 8 positive
values at the quantiles of ``linspace(δ, 1/2, 9)[:-1]``, 7 negative at
those of ``linspace(δ, 1/2, 8)[:-1]``, and an exact zero, all divided by the
largest (``δ = 0.9677``, bitsandbytes' ``create_normal_map``):

.. math:: c = \frac{1}{\max|q|}\,\big\{\Phi^{-1}(p_i)\big\} \cup \{0\},\qquad
          \hat w = s_b \cdot c_{\arg\min_j |w / s_b - c_j|},\qquad s_b = \max_{i\in b}|w_i|

per block ``b`` of 64 weights. **Double quantization** stores the absmax
scales themselves in 8 bits: their mean ``μ`` is subtracted and the rest
goes to FP8 E4M3 with one float32 scale per 256 of them, so the scales cost
``8/64 + 32/(64·256) ≈ 0.127`` bits per weight instead of ``32/64 = 0.5``.

Dettmers, T., Pagnoni, A., Holtzman, A., Zettlemoyer, L. (2023). QLoRA:
Efficient Finetuning of Quantized LLMs. NeurIPS. arXiv:2305.14314.

Deviations: the second-level quantizer is FP8 E4M3 with absmax scaling (the
paper's "8-bit floats, block size 256"; bitsandbytes uses its dynamic 8-bit
map); ties between two codes go to the smaller code index. A rebuilt scale
``μ + r̂`` is never <= 0 for a block whose absmax is > 0: a small block far
below the mean (its residual near ``-μ``) whose residual rounds to below
``-μ`` gets the next E4M3 value up instead (>= the true residual, so the
rebuilt scale is >= its absmax: no clipping, and no block decoding to -0);
float32 rounding aside, and as a last guard, rebuilt scales are clamped to
float32's smallest normal (``TINY``).
"""
from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from .. import validate
from .minifloat import check_codes, decode, encode, max_value
from .mx import blocks

TINY = float(np.finfo(np.float32).tiny)    # the smallest rebuilt block scale

# the table bitsandbytes ships (float32), reproduced by nf4_codebook()
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)


def nf4_codebook(offset: float = 0.9677083) -> np.ndarray:
    """The 16 NF4 values from normal quantiles (equal to :data:`NF4` to float32 rounding).

    >>> bool(np.allclose(nf4_codebook(), NF4, atol=1e-6))
    True
    """
    ppf = NormalDist().inv_cdf
    pos = [ppf(p) for p in np.linspace(offset, 0.5, 9)[:-1]]       # 8 positive
    neg = [-ppf(p) for p in np.linspace(offset, 0.5, 8)[:-1]]      # 7 negative
    v = np.sort(np.array(pos + [0.0] + neg))
    return (v / v.max()).astype(np.float32)


class NF4Tensor(NamedTuple):
    """NF4 codes and their (double-quantized) block scales.

    codes : uint8 (values 0..15), the input's shape; absmax : float32 (..., in/block)
    when not double-quantized, else None; dq : (E4M3 codes (G,), float32 scales
    (ceil(G/256),), float32 mean, 256) or None; block : int.
    """
    codes: np.ndarray
    absmax: np.ndarray | None
    dq: tuple | None
    block: int

    @property
    def nbytes(self) -> float:
        """4 bits per weight + the scales (1 byte each with double quantization, else 4)."""
        scales = self.absmax.nbytes if self.dq is None else \
            self.dq[0].size + 4 * self.dq[1].size + 4
        return self.codes.size / 2 + scales


def nf4_quantize(W, block: int = 64, double_quant: bool = True,
                 dq_block: int = 256) -> NF4Tensor:
    """Quantize finite ``W`` to NF4 in blocks of ``block`` along its last axis.

    Examples
    --------
    >>> t = nf4_quantize(np.array([[2.0, -1.0, 0.0, 0.5]]), block=4, double_quant=False)
    >>> t.codes                                    # w / 2 = 1, -0.5, 0, 0.25
    array([[15,  2,  7, 10]], dtype=uint8)
    >>> nf4_dequantize(t).round(3)                 # 2 * (1, -0.525, 0, 0.246)
    array([[ 2.   , -1.05 ,  0.   ,  0.492]], dtype=float32)
    """
    where = "nf4_quantize"
    V = blocks(W, block, where, "W")                                # (..., G, k)
    validate.array(V, "W", where=where)                             # finite
    double_quant = validate.flag(double_quant, "double_quant", where=where)
    dq_block = validate.integer(dq_block, "dq_block", low=1, where=where)
    absmax = np.abs(V).max(axis=-1).astype(np.float32)              # (..., G)
    dq = None
    if double_quant:
        dq = double_quantize(absmax.ravel(), dq_block)
        absmax_used = double_dequantize(*dq).reshape(absmax.shape)
    else:
        absmax_used = absmax
    s = np.where(absmax_used > 0, absmax_used, 1.0)[..., None]
    mid = (NF4[1:] + NF4[:-1]) / 2                                  # (15,) decision points
    codes = np.searchsorted(mid, np.clip(V / s, -1, 1), side="left").astype(np.uint8)
    return NF4Tensor(codes.reshape(np.shape(W)), None if double_quant else absmax, dq, block)


def nf4_dequantize(t: NF4Tensor) -> np.ndarray:
    """float32 weights ``c[code] · absmax`` of an :class:`NF4Tensor`."""
    where = "nf4_dequantize"
    if not isinstance(t, NF4Tensor):
        raise TypeError(f"{where}: t is a {type(t).__name__}; expected an NF4Tensor")
    codes = check_codes(t.codes, 4, where)                          # ints in 0..15
    block = validate.integer(t.block, "t.block", low=1, where=where)
    if codes.ndim == 0 or codes.shape[-1] % block:
        raise ValueError(f"{where}: t.codes has shape {codes.shape}; expected a last axis "
                         f"that is a multiple of t.block={block}")
    G = codes.size // block
    if t.dq is None:
        absmax = validate.array(t.absmax, "t.absmax (the block scales)", where=where)
    else:
        if not isinstance(t.dq, tuple) or len(t.dq) != 4:
            raise ValueError(f"{where}: t.dq is {type(t.dq).__name__}; expected (codes, "
                             "scales, mean, dq_block) from double_quantize")
        absmax = double_dequantize(*t.dq)
    if absmax.size != G:
        raise ValueError(f"{where}: {absmax.size} block scales for {G} blocks")
    if (absmax < 0).any():
        raise ValueError(f"{where}: t.absmax holds {float(absmax[absmax < 0][0])}; expected "
                         "block scales >= 0 (each block's max |w|)")
    c = NF4[codes.reshape(-1, block)]                               # (G, k)
    return (c * absmax.reshape(-1, 1).astype(np.float32)).reshape(codes.shape)


def double_quantize(absmax, dq_block: int = 256):
    """``(E4M3 codes, float32 scale per dq_block, float32 mean, dq_block)`` of the scales."""
    mu = np.float32(absmax.mean())
    r = np.pad(absmax - mu, (0, -len(absmax) % dq_block)).reshape(-1, dq_block)
    s2 = (np.abs(r).max(axis=1) / max_value("e4m3")).astype(np.float32)     # (G2,)
    s2 = np.where(s2 > 0, s2, np.float32(1.0))
    codes = encode(r / s2[:, None], "e4m3", saturate=True).ravel()[:len(absmax)]
    # a residual rounded down below -mu would rebuild a scale <= 0 (the block decodes to
    # -0): take the E4M3 value above it instead (negative codes: code - 1 is nearer 0)
    rebuilt = double_dequantize(codes, s2, mu, dq_block)           # clamped at TINY
    low = (rebuilt <= TINY) & (absmax > 0) & (codes > 128)
    return np.where(low, codes - 1, codes).astype(np.uint8), s2, mu, dq_block


def double_dequantize(codes, s2, mu, dq_block: int = 256) -> np.ndarray:
    """The float32 block scales back from :func:`double_quantize`'s result."""
    where = "double_dequantize"
    s2, mu = (validate.array(v, f"{name} (a double-quantization scale)", where=where)
              for name, v in (("s2", s2), ("mu", mu)))
    codes = check_codes(codes, 8, where)
    dq_block = validate.integer(dq_block, "dq_block", low=1, where=where)
    if codes.ndim != 1 or s2.ndim != 1 or len(s2) != -(-len(codes) // dq_block):
        raise ValueError(f"{where}: {codes.shape} codes and {s2.shape} scales; expected "
                         f"1-D, one scale per dq_block={dq_block} codes")
    r = decode(np.pad(codes, (0, len(s2) * dq_block - len(codes))), "e4m3")
    scales = (r.reshape(len(s2), -1) * s2[:, None] + mu).ravel()[:len(codes)]
    return np.maximum(scales, TINY).astype(np.float32)          # never <= 0 (see the notes)
