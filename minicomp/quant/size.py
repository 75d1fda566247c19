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

from .huffman import huffman_bytes
from .ptq import dense_blocks


def float_bytes(net) -> int:
    """float32 bytes of the Dense weights and biases of ``net``."""
    return int(sum(4 * (d.W.size + (0 if d.b is None else d.b.size))
                   for d, _ in dense_blocks(net)))


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
    out, n_in = shape
    scales = {"tensor": 1, "channel": out,
              "group": out * (n_in // group_size) if group_size else 0}[granularity]
    zero_points = scales * math.ceil(bits / 8) if scheme == "affine" else 0
    return math.ceil(out * n_in * bits / 8) + 4 * scales + zero_points + (4 * out if bias else 0)


def uniform_bytes(net, bits, granularity: str = "channel", scheme="symmetric",
                  group_size=None) -> int:
    """Bytes of every Dense layer of ``net`` at ``bits`` (an int, or one per layer)."""
    blocks = dense_blocks(net)
    bits = [bits] * len(blocks) if np.isscalar(bits) else list(bits)
    total = 0
    for (d, _), b in zip(blocks, bits):
        if b >= 32:                                        # kept in float (mixed precision)
            total += 4 * (d.W.size + (0 if d.b is None else d.b.size))
        else:
            total += uniform_layer_bytes(d.W.shape, b, granularity, scheme, group_size,
                                         d.b is not None)
    return int(total)


def kmeans_bytes(shared, huffman: bool = False) -> int:
    """Bytes of a k-means-shared net: indices (packed or Huffman) + codebooks + biases."""
    from .kmeans import SharedDense
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
    base = float_bytes(net)
    rows = [("float32", base),
            ("int8 per-tensor", uniform_bytes(net, 8, "tensor")),
            ("int8 per-channel", uniform_bytes(net, 8, "channel")),
            ("int4 per-channel", uniform_bytes(net, 4, "channel"))]
    if shared is not None:
        bits = next(layer.bits for layer in shared.layers if hasattr(layer, "codebook"))
        rows += [(f"k-means {bits}-bit", kmeans_bytes(shared)),
                 (f"k-means {bits}-bit + Huffman", kmeans_bytes(shared, huffman=True))]
    if integer is not None:
        rows.append(("integer-only int8 model", integer.nbytes()))
    return [{"scheme": s, "bytes": int(b), "ratio": base / b} for s, b in rows]
