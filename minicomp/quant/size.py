r"""Sizes in bytes of every quantization scheme, beside float32.

What is counted, per Dense layer with ``n = out · in`` weights:

- **float32**: ``4n`` + bias ``4·out``;
- **uniform b-bit** (packed): ``ceil(n·b / 8)`` + one float32 scale per
  tensor / channel / group + one zero point per scale when affine
  (``ceil(b/8)`` bytes each) + the bias (int32 or float32: 4 bytes each);
- **k-means b-bit**: ``ceil(n·b / 8)`` packed indices (or their Huffman
  code, :func:`~minicomp.quant.huffman.huffman_bytes`) + the float32
  codebook ``4·2^b`` + the bias;
- **integer model** (Jacob et al.): int8 weights, int32 bias, int32
  ``m0`` and ``shift`` per channel, one byte per zero point.

Packing ``b``-bit codes densely is what a file format would do; the int8
kernel keeps one byte per weight, so 8 bits is both.
"""
from __future__ import annotations

import math

import numpy as np

from .. import validate
from .granularity import GRANULARITIES
from .huffman import huffman_bytes
from .ptq import dense_blocks
from .uniform import check_bits


def float_bytes(net) -> int:
    """float32 bytes of the Dense weights and biases of ``net``."""
    return int(sum(4 * (d.W.size + (0 if d.b is None else d.b.size))
                   for d, _ in dense_blocks(net, "float_bytes")))


def uniform_layer_bytes(shape, bits: int, granularity: str = "channel", scheme="symmetric",
                        group_size: int | None = None, bias: bool = True) -> int:
    """Bytes of one (out, in) layer quantized uniformly.

    Examples
    --------
    >>> uniform_layer_bytes((64, 64), 8, "channel")      # 4096 + 64 scales*4 + 64 biases*4
    4608
    >>> uniform_layer_bytes((64, 64), 4, "tensor", "affine", bias=False)   # 2048 + 4 + 1
    2053
    """
    where = "uniform_layer_bytes"
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
            for d in shape)):
        raise ValueError(f"{where}: shape={shape!r}; expected (out, in), two positive ints")
    bits = check_bits(bits, scheme, where=where)
    granularity = validate.choice(granularity, "granularity", GRANULARITIES, where=where)
    bias = validate.flag(bias, "bias", where=where)
    out, n_in = shape
    if granularity == "group" and (isinstance(group_size, bool) or not isinstance(
            group_size, (int, np.integer)) or group_size < 1 or n_in % group_size):
        raise ValueError(f"{where}: group_size={group_size!r}; expected a positive int "
                         f"dividing in_features={n_in}")
    scales = {"tensor": 1, "channel": out,
              "group": out * (n_in // group_size) if group_size else 0}[granularity]
    zero_points = scales * math.ceil(bits / 8) if scheme == "affine" else 0
    return math.ceil(out * n_in * bits / 8) + 4 * scales + zero_points + (4 * out if bias else 0)


def uniform_bytes(net, bits, granularity: str = "channel", scheme="symmetric",
                  group_size=None) -> int:
    """Bytes of every Dense layer of ``net`` at ``bits`` (an int, or one per layer)."""
    where = "uniform_bytes"
    blocks = dense_blocks(net, where)
    bits = [bits] * len(blocks) if np.isscalar(bits) else list(bits)
    if len(bits) != len(blocks):
        raise ValueError(f"{where}: bits has {len(bits)} widths; expected one int or one per "
                         f"Dense layer ({len(blocks)})")
    total = 0
    for k, ((d, _), b) in enumerate(zip(blocks, bits)):
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, np.integer)) or not (
                b == 32 or 1 <= b <= 16):
            raise ValueError(f"{where}: bits[{k}]={b!r}; expected a width in [1, 16], or 32 "
                             "to keep the layer in float32")
        if b == 32:                                        # kept in float (mixed precision)
            total += 4 * (d.W.size + (0 if d.b is None else d.b.size))
        else:
            total += uniform_layer_bytes(d.W.shape, b, granularity, scheme, group_size,
                                         d.b is not None)
    return int(total)


def kmeans_bytes(shared, huffman: bool = False) -> int:
    """Bytes of a k-means-shared net: indices (packed or Huffman) + codebooks + biases."""
    from .kmeans import SharedDense
    validate.flag(huffman, "huffman", where="kmeans_bytes")
    if not any(isinstance(m, SharedDense) for m in getattr(shared, "layers", ())):
        raise TypeError(f"kmeans_bytes: shared is a {type(shared).__name__} without SharedDense "
                        "layers; expected the Sequential of kmeans_quantize")
    total = 0
    for layer in shared.layers:
        if isinstance(layer, SharedDense):
            k = layer.codebook.size
            index = layer.index
            total += huffman_bytes(index, k) if huffman else math.ceil(index.size * layer.bits / 8)
            total += 4 * k + (0 if layer.b is None else 4 * layer.b.size)
    return int(total)


def size_table(net, shared=None, integer=None) -> list[dict]:
    """Rows ``{"scheme", "bytes", "ratio"}`` for float32, int8/int4 and (given) k-means / integer."""
    from .integer import IntegerMLP
    base = float_bytes(net)
    if integer is not None and not isinstance(integer, IntegerMLP):
        raise TypeError(f"size_table: integer is a {type(integer).__name__}; expected an "
                        "IntegerMLP")
    rows = [("float32", base),
            ("int8 per-tensor", uniform_bytes(net, 8, "tensor")),
            ("int8 per-channel", uniform_bytes(net, 8, "channel")),
            ("int4 per-channel", uniform_bytes(net, 4, "channel"))]
    if shared is not None:
        plain = kmeans_bytes(shared)                        # checks it is k-means shared
        bits = next(layer.bits for layer in shared.layers if hasattr(layer, "codebook"))
        rows += [(f"k-means {bits}-bit", plain),
                 (f"k-means {bits}-bit + Huffman", kmeans_bytes(shared, huffman=True))]
    if integer is not None:
        rows.append(("integer-only int8 model", integer.nbytes()))
    return [{"scheme": s, "bytes": int(b), "ratio": base / b} for s, b in rows]
