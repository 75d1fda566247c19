r"""The size table of chapter 03: every quantization scheme beside float32.

One row per scheme, each counted by :func:`minicomp.metrics.storage_bytes`
(the one size function; its docstring holds what each format stores):
float32, int8 per tensor and per channel, int4 per channel, and -- when
given -- k-means with packed and with Huffman-coded indices and the
integer-only int8 model.

The ratio of a row is float32 bytes / its bytes.
"""
from __future__ import annotations

from ..metrics import storage_bytes


def size_table(net, shared=None, integer=None) -> list[dict]:
    """Rows ``{"scheme", "bytes", "ratio"}`` for ``net`` and (given) its compressed forms.

    Parameters
    ----------
    net : Sequential of Dense layers (float32)
    shared : Sequential of :func:`~minicomp.quant.kmeans.kmeans_quantize`, optional
    integer : InferenceModel of int8 layers (:func:`minicomp.deploy.to_inference`
        of a QuantizedMLP), optional

    Examples
    --------
    >>> from minicomp import MLP
    >>> rows = size_table(MLP([10, 20, 5]))     # 300 weights + 25 biases
    >>> [(r["scheme"], r["bytes"]) for r in rows][:3]   # int8: 300 + scales*4 + 25*4
    [('float32', 1300), ('int8 per-tensor', 408), ('int8 per-channel', 500)]
    """
    from ..deploy import InferenceModel
    if integer is not None and not (isinstance(integer, InferenceModel) and integer.int8):
        raise TypeError(f"size_table: integer is a {type(integer).__name__}; expected the int8 "
                        "InferenceModel of to_inference(qnet)")
    base = storage_bytes(net)
    rows = [("float32", base),
            ("int8 per-tensor", storage_bytes(net, "int", bits=8, granularity="tensor")),
            ("int8 per-channel", storage_bytes(net, "int", bits=8)),
            ("int4 per-channel", storage_bytes(net, "int", bits=4))]
    if shared is not None:
        books = [m for m in getattr(shared, "layers", ()) if hasattr(m, "codebook")]
        if not books:
            raise TypeError(f"size_table: shared is a {type(shared).__name__} without k-means "
                            "layers; expected the Sequential of kmeans_quantize")
        bits = books[0].bits
        rows += [(f"k-means {bits}-bit", storage_bytes(shared, "codebook")),
                 (f"k-means {bits}-bit + Huffman", storage_bytes(shared, "huffman"))]
    if integer is not None:
        rows.append(("integer-only int8 model", integer.nbytes))
    return [{"scheme": s, "bytes": int(b), "ratio": base / b} for s, b in rows]
