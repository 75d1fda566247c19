r"""The runtime of one record (see :mod:`minicomp.store.records`): decode, then run.

:func:`weights` decodes a record to its float32 ``W`` (out, in) and bias,
the weights the layer computes with (for the integer kind, the int8 codes
as floats); :func:`build` returns the callable ``X (B, in) -> Y (B, out)``
float32 that :meth:`~minicomp.store.CompressedModel.predict` chains: the
sparse, N:M and ternary kernels for ``csr``, ``nm`` and ``ternary``, NumPy
float32 ``X @ W.T + b`` for the kinds decoded at load (dense, int,
codebook, huffman, FP8 / MX / NVFP4 / NF4), with the ``int`` kind's
activation fake-quantizers around it; a decoded codebook or huffman
layer with at most half its weights nonzero (a pruned one: Deep
Compression's output) runs as CSR on the sparse kernel instead.
``integer`` records, and chains whose every layer runs on the sparse
kernel, run as one :class:`~minicomp.deploy.InferenceModel`, all layers
in one compiled call (:mod:`minicomp.store.model`).
Every decoded ``W`` is checked finite here (a corrupt code can decode to NaN).

Bit-identical predictions: every runtime is a function of the stored bytes
alone, except that the sparse kernel's designs sum in different orders and the
fastest is measured and remembered per shape and batch
(:mod:`minicomp.kernels.sparse`): a loaded ``csr`` layer gives the saved one's
bits on the same design (one machine's dispatch cache picks it again; forced
with ``MINICOMP_KERNEL``), else equal values to float32 rounding.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..formats.minifloat import decode
from ..formats.mx import BlockTensor, mx_dequantize, nvfp4_dequantize
from ..formats.nf4 import NF4Tensor, nf4_dequantize
from ..kernels.reference import CSR
from ..quant.uniform import dequantize, fake_quantizer, qrange
from .records import BLOCK, ELEMENT_BITS, unpack_codes

SPARSE_KINDS = ("codebook", "huffman")   # decoded at load; pruned ones run sparse
SPARSE_DENSITY = 0.5                     # at most half the weights nonzero: CSR and its kernel


def _int_weights(rec) -> np.ndarray:
    """``W`` of an ``int`` record (see the schema): float32 (out, in)."""
    A, m = rec.arrays, rec.meta
    out, n_in = rec.shape
    bits, scheme = int(m["bits"]), m["scheme"]
    low = -2 ** (bits - 1) if scheme == "lsq" else qrange(bits, scheme)[0]
    q = unpack_codes(A["codes"], bits, out * n_in) + low                     # (n,)
    if scheme == "lsq":
        q = q.astype(np.float32).reshape(out, n_in)
        W = q * A["scales"].reshape(out, 1)                                 # float32
        return (W + A["offsets"].reshape(out, 1)) if m["offset"] else W
    S = A["scales"].astype(np.float64)
    Z = A["zero_points"].astype(np.int64) if scheme == "affine" else np.zeros(S.size, np.int64)
    if m["granularity"] == "tensor":
        return dequantize(q.reshape(out, n_in), S[0], Z[0])
    if m["granularity"] == "channel":
        return dequantize(q.reshape(out, n_in), S.reshape(out, 1), Z.reshape(out, 1))
    g = int(m["group_size"])
    return dequantize(q.reshape(out, n_in // g, g), S.reshape(out, -1, 1),
                      Z.reshape(out, -1, 1)).reshape(out, n_in)


def _format_weights(rec) -> np.ndarray:
    """``W`` of an FP8 / MX / NVFP4 / NF4 record: float32 (out, in)."""
    A, kind = rec.arrays, rec.kind
    out, n_in = rec.shape
    if kind.startswith("fp8"):
        return decode(A["codes"], kind[4:]) * A["scales"][:, None]           # (out, in)
    block = BLOCK[kind]
    P = -(-n_in // block) * block                                         # padded width
    codes = unpack_codes(A["codes"], ELEMENT_BITS[kind], out * P).reshape(out, P)
    if kind == "nf4":
        dq = (A["dq_codes"], A["dq_scales"], A["dq_mean"][0], 256)
        W = nf4_dequantize(NF4Tensor(codes.astype(np.uint8), None, dq, block))
    elif kind == "nvfp4":
        W = nvfp4_dequantize(BlockTensor(codes.astype(np.uint8), A["scales"], kind, block,
                                         float(A["tensor_scale"][0])))
    else:
        codes = codes.astype(np.uint8).view(np.int8) if kind == "mxint8" else codes
        W = mx_dequantize(BlockTensor(codes, A["scales"], kind, block))
    return np.ascontiguousarray(W[:, :n_in])


def _nm_matrix(rec):
    """The :class:`~minicomp.kernels.reference_formats.NMMatrix` of an ``nm`` record, its
    positions checked: ascending within each group and < m, as ``to_nm`` writes them (the
    kernel sums a repeated position, ``toarray`` keeps one: they would disagree)."""
    from ..kernels.reference_formats import NMMatrix, unpack_indices
    N, M = int(rec.meta["n"]), int(rec.meta["m"])
    A = NMMatrix(rec.arrays["values"], rec.arrays["indices"], N, M, rec.shape)
    pos = unpack_indices(A.indices, A.bits, A.values.shape[1]).reshape(rec.shape[0], -1, N)
    if (pos >= M).any() or (np.diff(pos, axis=2) <= 0).any():        # (out, groups, n)
        raise ValueError(f"store: an nm record's positions {pos.reshape(-1)[:8].tolist()}...; "
                         f"expected ascending positions < m={M} in each group")
    return A


def weights(rec) -> tuple:
    """``(W float32 (out, in), b float32 (out,) or None)`` of a record, decoded.

    Raises
    ------
    ValueError
        The decoded weights hold NaN/inf (a corrupt code), or the codec refuses the arrays.
    """
    A, kind = rec.arrays, rec.kind
    out, n_in = rec.shape
    b = A.get("b")
    if kind == "dense":
        W = A["W"]
    elif kind == "csr":
        W = CSR(A["data"], A["indices"], A["indptr"], (out, n_in)).toarray()
    elif kind == "nm":
        W = _nm_matrix(rec).toarray()
    elif kind == "int":
        W = _int_weights(rec)
    elif kind == "integer":
        W, b = A["w_q"].astype(np.float32), None
    elif kind == "codebook":
        W = A["codebook"][unpack_codes(A["index"], int(rec.meta["bits"]), out * n_in)]
    elif kind == "ternary":
        W = (unpack_codes(A["codes"], 2, out * n_in) - 1).astype(np.float32) * A["gamma"][0]
    elif kind == "huffman":
        from ..quant.sparse_huffman import decode as huffman_decode
        meta = {k[6:]: v for k, v in rec.meta.items() if k.startswith("codec.")}
        W, b = huffman_decode(A, meta)
    else:
        W = _format_weights(rec)
    W = np.asarray(W, np.float32).reshape(out, n_in)
    validate.array(W, f"the decoded weights of a {kind!r} record", where="store")
    return W, b


def nonzeros(rec) -> int:
    """Nonzero weights of a record's decoded ``W`` (biases excluded), decoded once: cached,
    or counted by :func:`build` when it decodes ``W`` anyway."""
    if rec.nnz is None:
        rec.nnz = int(np.count_nonzero(weights(rec)[0]))
    return rec.nnz


def _fake_quant(meta: dict, p: str):
    """The activation fake-quantizer ``{p}_q`` of an int record's meta, or None."""
    kind, where = meta.get(f"{p}_q"), f"store: an int record's meta (activations {p!r})"
    if kind is None:
        return None
    bits = validate.integer(meta[f"{p}_bits"], f"{p}_bits", low=1, high=16, where=where)
    S = validate.number(meta[f"{p}_S"], f"{p}_S", low=0, low_open=True, where=where)
    if kind == "affine":
        Z = validate.integer(meta[f"{p}_Z"], f"{p}_Z", low=0, high=2**bits - 1, where=where)
        return fake_quantizer(S, Z, bits, "affine")                 # as fake_quantize
    S = validate.number(np.float32(S), f"float32 {p}_S", low=0, low_open=True, where=where)
    S, beta = np.float32(S), np.float32(validate.number(meta[f"{p}_beta"], f"{p}_beta",
                                                         where=where))
    signed = validate.flag(meta[f"{p}_signed"], f"{p}_signed", where=where)
    from ..quant.lsq import int_range
    Qn, Qp = int_range(bits, signed)                                   # as lsq_quantize
    return lambda x: (np.rint(np.clip((x - beta) / S, -Qn, Qp)) * S + beta).astype(x.dtype)


def _dense(W, b, relu, before=None, after=None):
    """``X @ W.T + b`` (then ReLU), float32, with optional fake-quantizers around it."""
    def run(X):
        X = X if before is None else before(X)
        Y = X @ W.T                                                   # (B, in) -> (B, out)
        if b is not None:
            Y = Y + b
        Y = np.maximum(Y, 0) if relu else Y
        return Y if after is None else after(Y)
    return run


def build(rec):
    """The callable ``X float32 (B, in) -> Y float32 (B, out)`` of a record (cached)."""
    if rec.runtime is not None:
        return rec.runtime
    A, kind, relu = rec.arrays, rec.kind, rec.relu
    b = A.get("b")
    if kind == "csr":
        from ..deploy import SparseDense
        layer = SparseDense(CSR(A["data"], A["indices"], A["indptr"], rec.shape), b, relu)
    elif kind == "nm":
        from ..kernels.nm import nm_linear
        M = _nm_matrix(rec)                                                # checked

        def layer(X):
            Y = nm_linear(X, M, b)
            return np.maximum(Y, 0) if relu else Y
    elif kind == "ternary":
        from ..formats.ternary import TernaryDense
        from ..kernels.ternary import pack_ternary
        W, _ = weights(rec)
        layer = TernaryDense.__new__(TernaryDense)      # its __call__ on the stored codes
        layer.A = pack_ternary((unpack_codes(A["codes"], 2, W.size) - 1).astype(
            np.int8).reshape(rec.shape))
        layer.gamma, layer.b, layer.relu = float(A["gamma"][0]), b, relu
    elif kind == "integer":
        raise TypeError("store: integer records run as one InferenceModel (the model's job)")
    else:
        W, b = weights(rec)
        rec.nnz = int(np.count_nonzero(W))
        if kind in SPARSE_KINDS and rec.nnz <= SPARSE_DENSITY * W.size:
            from ..deploy import SparseDense
            layer = SparseDense.from_dense(W, b, relu=relu)        # pruned: the sparse kernel
        else:
            layer = _dense(W, b, relu, _fake_quant(rec.meta, "in"),
                           _fake_quant(rec.meta, "out"))
    rec.runtime = layer
    return layer
