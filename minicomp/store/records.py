r"""The compressed model: a chain of layer records, or an ensemble / cascade of models.

Every record is one dense layer :math:`y = x W^\top + b` (then ``max(y, 0)``
if ``relu``) stored in one format (its ``kind``): a dict of named arrays
(the payload: ``nbytes`` is the sum of their ``nbytes``), a dict ``meta``
of JSON scalars (in the file's header, not counted), and ``relu``. Every
``meta`` has ``out`` and ``in`` (ints >= 1); ``n = out * in``; ``b`` is
the optional float32 bias (out,) of every kind but ``integer``. Packed
codes are little-endian bit streams: bit ``k`` of code ``i`` is stream bit
``i * bits + k``, stream bit ``j`` is bit ``j % 8`` of byte ``j // 8``
(:func:`pack_codes`), ``ceil(count * bits / 8)`` uint8 bytes.

Schema (kind: arrays dtype shape; meta; how predict computes)
--------------------------------------------------------------
``dense``      ``W`` float32 (out, in). ``X @ W.T + b`` in NumPy.
``csr``        ``data`` float32 (nnz,), ``indices`` (nnz,) and ``indptr``
               (out+1,) in the narrowest unsigned dtype holding ``in - 1`` /
               ``nnz`` (:func:`~minicomp.kernels.reference.index_dtype`);
               meta ``nnz``. :class:`minicomp.deploy.SparseDense` (the
               sparse kernel).
``nm``         ``values`` float32 (out, in·n/m), ``indices`` uint8 (out,
               ceil(in·n/m · bits / 8)), positions packed as
               :mod:`minicomp.kernels.nm` does (bits 2 for m <= 4, 4 for m
               <= 16, else 8), ascending in each group and < m; meta ``n``,
               ``m``. The N:M kernel.
``int``        ``codes`` uint8 (ceil(n·bits/8),): code ``q`` stored as
               ``q - q_min`` (``q_min`` the scheme's lowest code);
               ``scales`` float32 (1,) | (out,) | (out·in/g,) for
               granularity tensor | channel | group (row-major groups of
               ``group_size`` inputs); ``zero_points`` (same count) uint8
               (bits <= 8) or uint16, scheme ``affine`` only; ``offsets``
               float32 (out,), scheme ``lsq`` with meta ``offset`` only.
               meta ``bits``, ``scheme`` (symmetric: codes
               ±(2^(b-1)-1), W = S q; affine: codes 0..2^b-1, W = S (q - Z);
               lsq: codes -2^(b-1)..2^(b-1)-1, W = float32(q S + offset) in
               float32 arithmetic, LSQ/LSQ+), ``granularity``,
               ``group_size`` (0 unless group), ``offset`` (bool). Weights
               are dequantized at load (float64 ``S (q - Z)`` cast to
               float32 for symmetric / affine; a QuantizedMLP's float64
               scales are stored in float32, as ``storage_bytes`` counts
               them, so a weight can differ from its ``W_hat`` by an ulp).
               Activation fake-quantizers, optional, ``p`` in ``("in",
               "out")`` (``in`` before the product, ``out`` after the
               ReLU; checked at load): ``{p}_q`` = ``"affine"``
               (``{p}_S`` float, ``{p}_Z`` int, ``{p}_bits``:
               :func:`~minicomp.quant.uniform.fake_quantize`, as
               :class:`~minicomp.quant.ptq.QuantizedMLP`) or ``"lsq"``
               (``{p}_S`` float32 step, ``{p}_beta`` float32 offset,
               ``{p}_bits``, ``{p}_signed``: ``float32(rint(clip((x - beta)
               / S, -Q_n, Q_p)) S + beta)``, as LSQ's learned quantizers).
``integer``    ``w_q`` int8 (out, in), ``bias_q`` int32 (out,) optional,
               ``m0``, ``shift`` int32 (out,), ``Z_x`` (1,) and ``Z_y`` (1,)
               in meta ``x_dtype`` / ``out_dtype`` ("uint8" or "int8"); meta
               ``S_x``, ``S_y`` floats. A model of ``integer`` records is one
               :class:`minicomp.deploy.InferenceModel` of
               :class:`~minicomp.deploy.Int8Dense` (the int8 kernels): input
               quantized with the first ``S_x``, ``Z_x``, output ``S_y (q -
               Z_y)`` of the last (the other scales are not needed once
               ``m0``, ``shift`` are known). Integer records never mix with
               others.
``codebook``   ``codebook`` float32 (2^bits,), ``index`` uint8 (ceil(n·bits/8),)
               packed; meta ``bits``. ``W = codebook[index]``, then dense.
``huffman``    the arrays and meta of :func:`minicomp.quant.sparse_huffman.encode`
               (``codebook`` float32 (k,), ``gap_lengths``, ``index_lengths``,
               ``gaps``, ``indices`` uint8 streams, ``bias`` int8 or float32
               (out,) optional; meta keys prefixed ``codec.``); decoded at
               load with its ``decode`` (``W = codebook[index]``), then dense.
``fp8_e4m3``,  ``codes`` uint8 (out, in), ``scales`` float32 (out,):
``fp8_e5m2``   ``W = decode(codes) * scale_row`` (per-row scaled FP8).
MX formats     (``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e3m2``, ``mxfp6_e2m3``,
               ``mxfp4``, ``mxint8``): ``codes`` uint8 (ceil(out·P·bits/8),)
               with rows padded with zeros to ``P``, a multiple of 32 (mxint8:
               the int8 codes' two's-complement bytes); ``scales`` uint8 E8M0 (out, P/32).
               :func:`~minicomp.formats.mx_dequantize`, then dense.
``nvfp4``      ``codes`` uint8 (ceil(out·P/2),) E2M1, P a multiple of 16;
               ``scales`` uint8 E4M3 (out, P/16); ``tensor_scale`` float32 (1,).
``nf4``        ``codes`` uint8 (out·P/2,), P a multiple of 64; ``dq_codes`` uint8
               E4M3 (G,), G = out·P/64; ``dq_scales`` float32 (ceil(G/256),);
               ``dq_mean`` float32 (1,): :func:`~minicomp.formats.nf4_dequantize`.
``ternary``    ``codes`` uint8 (ceil(n·2/8),) holding ``T + 1`` (T in {-1, 0, 1});
               ``gamma`` float32 (1,). :class:`~minicomp.formats.TernaryDense`'s
               computation on the ternary kernel (int8 activations per row).

A model (:class:`~minicomp.store.model.CompressedModel`) is ``structure`` "chain" (``layers``),
"ensemble" (``members``, ``weights`` or None: the weighted mean of the
members' softmax probabilities) or "cascade" (``members = [small, large]``,
``tau``: an example goes to the large model when the small one's top
probability is < tau, :func:`minicomp.ensemble.cascade.cascade_predict`).
A chain outputs logits, the others probabilities.

References
----------
Han, S., Mao, H. & Dally, W. J. (2016). Deep Compression. ICLR. arXiv:1510.00149 (csr,
codebook, huffman). Mishra, A. et al. (2021). arXiv:2104.08378 (nm). Jacob, B. et al.
(2018). arXiv:1712.05877 (integer). Esser, S. K. et al. (2020). LSQ. arXiv:1902.08153
(int, scheme lsq). Micikevicius, P. et al. (2022). FP8 Formats for Deep Learning.
arXiv:2209.05433; OCP (2023). Microscaling Formats (MX) v1.0 (MX). Dettmers, T. et al.
(2023). QLoRA. arXiv:2305.14314 (nf4). Ma, S. et al. (2024). arXiv:2402.17764 (ternary).
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels.reference import index_dtype
from ..kernels.reference_formats import index_bits
from ..formats.mx import MX_FORMATS

FORMAT_KINDS = ("fp8_e4m3", "fp8_e5m2", *MX_FORMATS, "nvfp4", "nf4")
KINDS = ("dense", "csr", "nm", "int", "integer", "codebook", "huffman", "ternary",
         *FORMAT_KINDS)
BLOCK = {**{name: 32 for name in MX_FORMATS}, "nvfp4": 16, "nf4": 64}
ELEMENT_BITS = {**{name: bits for name, (_, _, bits) in MX_FORMATS.items()}, "nvfp4": 4,
                "nf4": 4}
F4, U1, I1, I4 = (np.dtype(t) for t in ("<f4", "u1", "i1", "<i4"))


def pack_codes(codes, bits: int) -> np.ndarray:
    """Unsigned ``codes`` (< 2^bits) as a little-endian bit stream, ceil(n·bits/8) bytes.

    >>> pack_codes(np.array([1, 2, 3]), 2)        # 01 + 10 << 2 + 11 << 4 = 0b111001
    array([57], dtype=uint8)
    """
    codes = np.asarray(codes).ravel().astype(np.uint64)                  # (n,)
    if bits == 8:
        return codes.astype(np.uint8)
    planes = (codes[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)   # (n, bits)
    return np.packbits(planes.astype(np.uint8).ravel(), bitorder="little")


def unpack_codes(packed, bits: int, count: int) -> np.ndarray:
    """The first ``count`` codes (int64) of :func:`pack_codes`' stream.

    >>> unpack_codes(np.array([57], np.uint8), 2, 3)
    array([1, 2, 3])
    """
    if bits == 8:
        return packed[:count].astype(np.int64)
    planes = np.unpackbits(packed, bitorder="little")[:count * bits].reshape(count, bits)
    return planes.astype(np.int64) @ (1 << np.arange(bits, dtype=np.int64))      # (count,)


def packed_size(count: int, bits: int) -> int:
    """Bytes of ``count`` codes of ``bits`` bits: ``ceil(count * bits / 8)``."""
    return math.ceil(count * bits / 8)


def spec(kind: str, meta: dict) -> dict:
    """``name -> (dtype, shape, required)`` of a record's arrays, from its kind and meta.

    Raises ``KeyError`` / ``TypeError`` for missing or mistyped meta (the loader names them).

    >>> spec("dense", {"out": 2, "in": 3})["W"]
    (dtype('float32'), (2, 3), True)
    """
    out, n_in = int(meta["out"]), int(meta["in"])
    n, bias = out * n_in, {"b": (F4, (out,), False)}
    check_meta(kind, meta)
    if kind == "dense":
        return {"W": (F4, (out, n_in), True), **bias}
    if kind == "csr":
        nnz = int(meta["nnz"])
        return {"data": (F4, (nnz,), True), "indices": (index_dtype(max(n_in - 1, 0)), (nnz,),
                True), "indptr": (index_dtype(nnz), (out + 1,), True), **bias}
    if kind == "nm":
        N, M = int(meta["n"]), int(meta["m"])
        K, bits = n_in // M * N, index_bits(M)
        return {"values": (F4, (out, K), True), "indices": (U1, (out, packed_size(K, bits)),
                True), **bias}
    if kind == "int":
        bits, scheme, g = int(meta["bits"]), meta["scheme"], meta["granularity"]
        S = {"tensor": 1, "channel": out, "group": n // max(int(meta["group_size"]), 1)}[g]
        arrays = {"codes": (U1, (packed_size(n, bits),), True), "scales": (F4, (S,), True)}
        if scheme == "affine":
            arrays["zero_points"] = (np.dtype("<u2") if bits > 8 else U1, (S,), True)
        if scheme == "lsq" and meta["offset"]:
            arrays["offsets"] = (F4, (out,), True)
        return {**arrays, **bias}
    if kind == "integer":
        x_dtype, out_dtype = (np.dtype(meta[k]) for k in ("x_dtype", "out_dtype"))
        return {"w_q": (I1, (out, n_in), True), "bias_q": (I4, (out,), False),
                "m0": (I4, (out,), True), "shift": (I4, (out,), True),
                "Z_x": (x_dtype, (1,), True), "Z_y": (out_dtype, (1,), True)}
    if kind == "codebook":
        bits = int(meta["bits"])
        return {"codebook": (F4, (2**bits,), True), "index": (U1, (packed_size(n, bits),),
                True), **bias}
    if kind == "ternary":
        return {"codes": (U1, (packed_size(n, 2),), True), "gamma": (F4, (1,), True), **bias}
    if kind.startswith("fp8"):
        return {"codes": (U1, (out, n_in), True), "scales": (F4, (out,), True), **bias}
    if kind in BLOCK:
        block = BLOCK[kind]
        P = -(-n_in // block) * block                                     # padded width
        arrays = {"codes": (U1, (packed_size(out * P, ELEMENT_BITS[kind]),), True)}
        if kind == "nf4":
            G = out * P // block
            arrays.update(dq_codes=(U1, (G,), True), dq_scales=(F4, (-(-G // 256),), True),
                          dq_mean=(F4, (1,), True))
        else:
            arrays["scales"] = (U1, (out, P // block), True)
        if kind == "nvfp4":
            arrays["tensor_scale"] = (F4, (1,), True)
        return {**arrays, **bias}
    raise KeyError(kind)                                                    # huffman: the codec's


def check_meta(kind: str, meta: dict) -> None:
    """ValueError unless the meta values a kind reads are in their ranges (the schema)."""
    typed = [k for k in ("bits", "group_size", "nnz", "n", "m") if k in meta and (
        isinstance(meta[k], bool) or not isinstance(meta[k], (int, np.integer)))] + [
        k for k in ("S_x", "S_y") if k in meta and (isinstance(meta[k], bool) or
                                                     not isinstance(meta[k], (int, float)))]
    if typed:
        raise ValueError(f"a record of kind {kind!r} has meta {[(k, meta[k]) for k in typed]}; "
                         "expected ints (bits, group_size, nnz, n, m) and numbers (S_x, S_y)")
    bad = None
    if kind == "int":
        low = 2 if meta["scheme"] == "symmetric" else 1
        if meta["scheme"] not in ("symmetric", "affine", "lsq") or not (
                low <= int(meta["bits"]) <= 16) or meta["granularity"] not in (
                "tensor", "channel", "group") or (meta["granularity"] == "group" and (
                int(meta["group_size"]) < 1 or int(meta["in"]) % int(meta["group_size"]))):
            bad = ("scheme", "bits", "granularity", "group_size")
        for p in ("in", "out"):
            if meta.get(f"{p}_q") not in (None, "affine", "lsq"):
                bad = (f"{p}_q",)
    elif kind == "codebook" and not 1 <= int(meta["bits"]) <= 8:
        bad = ("bits",)
    elif kind == "nm" and not (1 <= int(meta["n"]) <= int(meta["m"]) <= 256
                               and int(meta["in"]) % int(meta["m"]) == 0):
        bad = ("n", "m")
    elif kind == "csr" and not 0 <= int(meta["nnz"]) <= int(meta["out"]) * int(meta["in"]):
        bad = ("nnz",)
    elif kind == "integer" and not {meta["x_dtype"], meta["out_dtype"]} <= {"uint8", "int8"}:
        bad = ("x_dtype", "out_dtype")
    if bad:
        raise ValueError(f"a record of kind {kind!r} has meta "
                         f"{[(k, meta.get(k)) for k in bad]}; expected the values of the schema "
                         "(minicomp.store.records)")


def check_arrays(kind: str, meta: dict, arrays: dict, where: str) -> None:
    """ValueError unless ``arrays`` are exactly the schema's names, dtypes and shapes
    (:func:`spec`; the Huffman codec checks its own arrays at decode)."""
    if kind == "huffman":                # entries: at most one per position and per bit
        entries = meta.get("codec.entries")
        if (meta.get("codec.rows"), meta.get("codec.cols")) != (meta["out"], meta["in"]) or \
                not isinstance(entries, int) or not isinstance(
                    meta.get("codec.gap_stream_bits"), int) or entries > min(
                    meta["out"] * meta["in"], meta["codec.gap_stream_bits"]):
            raise ValueError(f"{where}: codec rows, cols, entries ({meta.get('codec.rows')}, "
                             f"{meta.get('codec.cols')}, {entries}); expected ({meta['out']}, "
                             f"{meta['in']}, at most out * in and the gap stream's bits)")
        return
    try:
        want = spec(kind, meta)
    except ValueError as e:                                       # check_meta's: say where
        raise ValueError(f"{where}: {e}") from None
    got = {k: (a.dtype, a.shape) for k, a in arrays.items()}
    expected = {k: (d, s) for k, (d, s, req) in want.items() if req or k in arrays}
    if got != expected:
        raise ValueError(f"{where}: {kind} arrays {_show(got)}; expected {_show(expected)}")


def check_record(rec, where: str) -> None:
    """TypeError / ValueError unless ``rec`` is a :class:`Record` of a known kind, ``out`` and
    ``in`` ints >= 1, and ndarrays that are exactly its schema's (:func:`check_arrays`)."""
    if not isinstance(rec, Record) or not all(isinstance(a, np.ndarray)
                                              for a in rec.arrays.values()):
        got = [type(a).__name__ for a in rec.arrays.values()] if isinstance(rec, Record) else ""
        raise TypeError(f"{where}: a {type(rec).__name__} {got}; expected a Record of ndarrays")
    if rec.kind not in KINDS or any(isinstance(rec.meta.get(k), bool) or not isinstance(
            rec.meta.get(k), (int, np.integer)) or rec.meta[k] < 1 for k in ("out", "in")):
        raise ValueError(f"{where}: kind {rec.kind!r}, meta out={rec.meta.get('out')!r}, "
                         f"in={rec.meta.get('in')!r}; expected a kind of {KINDS}, ints >= 1")
    try:
        check_arrays(rec.kind, rec.meta, rec.arrays, where)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where} ({rec.kind}) lacks meta {e} or has a mistyped one; "
                         "expected the schema's keys (minicomp.store.records)") from None


def _show(d: dict) -> str:
    return ", ".join(f"{k} {np.dtype(t).name}{list(s)}" for k, (t, s) in sorted(d.items()))


class Record:
    """One layer: ``kind``, ``arrays`` (str -> ndarray), ``meta`` (JSON scalars), ``relu``.

    Examples
    --------
    >>> r = Record("dense", {"W": np.ones((2, 3), np.float32)}, {"out": 2, "in": 3})
    >>> r.nbytes, r.shape
    (24, (2, 3))
    """

    def __init__(self, kind: str, arrays: dict, meta: dict, relu: bool = False):
        self.kind, self.arrays, self.meta, self.relu = kind, dict(arrays), dict(meta), relu
        self.runtime = None          # the callable of store.layers.build, made on first use
        self.nnz = None              # store.layers.nonzeros, counted on first use

    @property
    def shape(self) -> tuple:
        """``(out, in)`` of the layer."""
        return int(self.meta["out"]), int(self.meta["in"])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays: the record's share of the payload."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    def __repr__(self):
        return (f"Record({self.kind!r}, {self.shape[1]} -> {self.shape[0]}, "
                f"{self.nbytes} bytes, relu={self.relu})")
