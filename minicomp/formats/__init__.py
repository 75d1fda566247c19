"""Number formats: FP8 / FP6 / FP4, E8M0, MX block formats, NVFP4, NF4, ternary.

One file per family; each starts with its bit layout and its paper.

- :mod:`.minifloat`: ``encode`` / ``decode`` of E4M3, E5M2, E3M2, E2M3,
  E2M1 (round to nearest even, saturation, NaN rules) and E8M0 scales;
- :mod:`.mx`: OCP microscaling (MXFP8 / MXFP6 / MXFP4 / MXINT8, blocks of
  32 with an E8M0 scale) and NVFP4 (blocks of 16, E4M3 scales, a float32
  tensor scale);
- :mod:`.nf4`: QLoRA's NormalFloat4 codebook with double quantization;
- :mod:`.ternary`: BitNet b1.58's absmean ternary weights, int8
  activations, and :class:`~.ternary.TernaryDense` on the add/subtract
  kernel of :mod:`minicomp.kernels.ternary`;
- :mod:`.nm_layer`: :class:`~.nm_layer.NMDense` on the 2:4 kernel of
  :mod:`minicomp.kernels.nm`;
- :mod:`.checks`: the argument checks they share (float32's range, a
  layer's bias);
- :mod:`.table`: every format on the same weights (``simulate``,
  ``quantize_net``) and its bytes with scales (``format_bytes``).

Learned quantizers (LSQ, LSQ+, PACT, ternary QAT) are in
:mod:`minicomp.quant.lsq`; N:M sparsity in :mod:`minicomp.prune.nm` and
:mod:`minicomp.kernels.nm`.

=============== ===================== ===== ============================ ==========
format          element               bits  scale                        bits/weight
=============== ===================== ===== ============================ ==========
``fp8_e4m3``    E4M3 (max 448, NaN)   8     float32 per row              8 + 32/in
``fp8_e5m2``    E5M2 (IEEE: inf, NaN) 8     float32 per row              8 + 32/in
``mxfp8_e4m3``  E4M3                  8     E8M0 per 32                  8.25
``mxfp8_e5m2``  E5M2                  8     E8M0 per 32                  8.25
``mxfp6_e3m2``  E3M2 (max 28)         6     E8M0 per 32                  6.25
``mxfp6_e2m3``  E2M3 (max 7.5)        6     E8M0 per 32                  6.25
``mxfp4``       E2M1 (max 6)          4     E8M0 per 32                  4.25
``mxint8``      int8 / 64             8     E8M0 per 32                  8.25
``nvfp4``       E2M1                  4     E4M3 per 16 + float32        4.5
``nf4``         16 normal quantiles   4     E4M3 per 64 (double quant.)  ≈ 4.127
``ternary``     {-1, 0, +1}           2     float32 per tensor           2 (1.58)
``int8``/int4   symmetric integers    8/4   float32 per row              b + 32/in
=============== ===================== ===== ============================ ==========

Examples
--------
>>> import numpy as np
>>> from minicomp.formats import encode, decode, mx_quantize, mx_dequantize
>>> encode([1.0, 448.0, 1000.0], "e4m3")          # 1000 overflows to NaN
array([ 56, 126, 127], dtype=uint8)
>>> mx_dequantize(mx_quantize(np.full((1, 32), 0.3), "mxfp4"))[0, :2]   # 0.3*16 = 4.8 -> 4
array([0.25, 0.25], dtype=float32)
"""
from .minifloat import decode, decode_e8m0, encode, encode_e8m0, round_to
from .mx import mx_dequantize, mx_quantize, nvfp4_dequantize, nvfp4_quantize
from .nf4 import nf4_dequantize, nf4_quantize
from .nm_layer import NMDense
from .table import FORMAT_NAMES, format_bytes, net_bytes, quantize_net, simulate
from .ternary import TernaryDense, ternary_quantize

__all__ = [                       # the entry points, in the order of the chapter
    "encode", "decode", "round_to", "encode_e8m0", "decode_e8m0",
    "mx_quantize", "mx_dequantize", "nvfp4_quantize", "nvfp4_dequantize",
    "nf4_quantize", "nf4_dequantize", "ternary_quantize", "TernaryDense", "NMDense",
    "FORMAT_NAMES", "simulate", "format_bytes", "quantize_net", "net_bytes",
]
