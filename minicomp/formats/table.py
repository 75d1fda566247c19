r"""Every format on the same weights: simulated (decoded) weights and bytes including scales.

For a weight matrix ``W`` (out, in), :func:`simulate` returns
``decode(encode(W))`` in float32, the weights a network in that format
computes with; :func:`format_bytes` counts what it stores: codes at their
bit width plus every scale (and the float32 bias if asked). Block formats
pad each row with zeros to a whole number of blocks (counted in the bytes).

Scales where the format itself has none: FP8 E4M3 / E5M2 get one float32
scale per output row, ``max|W_i| / max_fp8`` (per-channel scaled FP8, as
inference engines store FP8 weights); int8 / int4 are the symmetric
per-channel quantizers of :func:`minicomp.quant.quantize_tensor`.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from ..quant.granularity import quantize_tensor
from .minifloat import max_value, round_to
from .mx import MX_FORMATS, mx_dequantize, mx_quantize, nvfp4_dequantize, nvfp4_quantize
from .nf4 import nf4_dequantize, nf4_quantize
from .ternary import ternary_weights

# name -> (bits per weight, scale bits per row, block size, scale bits per block,
#          bits per tensor)
LAYOUT = {
    "fp32": (32, 0, 1, 0, 0),
    "int8": (8, 32, 1, 0, 0), "int4": (4, 32, 1, 0, 0),
    "fp8_e4m3": (8, 32, 1, 0, 0), "fp8_e5m2": (8, 32, 1, 0, 0),
    **{name: (bits, 0, 32, 8, 0) for name, (_, _, bits) in MX_FORMATS.items()},
    "nvfp4": (4, 0, 16, 8, 32),
    "nf4": (4, 0, 64, 8, 32),             # double quantization: E4M3 scale per 64, + mean,
    "ternary": (2, 0, 1, 0, 32),          # + a float32 per 256 scales (counted below)
}
FORMAT_NAMES = tuple(LAYOUT)


def check_format(fmt, where: str) -> str:
    """``fmt`` if it is a known format name, else ValueError listing them."""
    return validate.choice(fmt, "fmt", FORMAT_NAMES, where=where)


def _padded(W, block):
    pad = -W.shape[1] % block
    return np.pad(W, ((0, 0), (0, pad))) if pad else W


def simulate(W, fmt: str) -> np.ndarray:
    """``W`` (out, in) as the format stores it, decoded to float32.

    >>> simulate(np.array([[0.3, -1.0, 2.0, 6.5]]), "fp8_e4m3").round(4)  # scale 6.5/448
    array([[ 0.2902, -1.0446,  2.0893,  6.5   ]], dtype=float32)
    """
    fmt = check_format(fmt, "simulate")
    W = validate.array(W, "W", ndim=2, where="simulate", dtype=np.float64)
    if fmt == "fp32":
        return W.astype(np.float32)
    if fmt in ("int8", "int4"):
        return quantize_tensor(W, int(fmt[3:]), "symmetric", "channel").dequantize().astype(
            np.float32)
    if fmt.startswith("fp8"):
        amax = np.abs(W).max(axis=1, keepdims=True)
        s = np.where(amax > 0, amax / max_value(fmt[4:]), 1.0)
        return (round_to(W / s, fmt[4:], saturate=True) * s).astype(np.float32)
    if fmt == "ternary":
        return ternary_weights(W)
    block = LAYOUT[fmt][2]
    P = _padded(W, block)
    if fmt == "nvfp4":
        out = nvfp4_dequantize(nvfp4_quantize(P, block))
    elif fmt == "nf4":
        out = nf4_dequantize(nf4_quantize(P, block))
    else:
        out = mx_dequantize(mx_quantize(P, fmt, block))
    return out[:, :W.shape[1]]


def format_bytes(shape, fmt: str, bias: bool = True) -> float:
    """Bytes of an (out, in) layer in ``fmt``: codes + scales (+ float32 bias).

    >>> format_bytes((10, 64), "mxfp4", bias=False)        # 640 * 4 bits + 20 scales
    340.0
    """
    fmt = check_format(fmt, "format_bytes")
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
        raise ValueError(f"format_bytes: shape={shape!r}; expected (out, in), two ints > 0")
    out, width = (validate.integer(d, f"shape[{i}]", low=1, where="format_bytes")
                  for i, d in enumerate(shape))                    # a bool is no dimension
    bits, row_bits, block, block_bits, tensor_bits = LAYOUT[fmt]
    blocks = math.ceil(width / block)
    total = out * (blocks * block * bits + row_bits + blocks * block_bits * (block > 1))
    total += tensor_bits
    if fmt == "nf4":                                      # one float32 per 256 block scales
        total += 32 * math.ceil(out * blocks / 256)
    return total / 8 + 4 * out * bool(bias)


def quantize_net(net, fmt: str):
    """A copy of ``net`` whose Dense weights are ``simulate(W, fmt)`` (biases stay float32)."""
    fmt = check_format(fmt, "quantize_net")
    net = copy.deepcopy(net)
    for b in dense_blocks(net, "quantize_net"):
        b.dense.W.data[...] = simulate(b.dense.W.data, fmt)
    return net


def net_bytes(net, fmt: str) -> float:
    """Bytes of every Dense layer of ``net`` in ``fmt``, biases in float32."""
    return sum(format_bytes(b.dense.W.shape, fmt, bias=b.dense.b is not None)
               for b in dense_blocks(net, "net_bytes"))
