r"""``pack``: what the library produces -> a :class:`~minicomp.store.model.CompressedModel`.

One converter per source; the encoders are the library's own (``to_csr``,
``quantize_tensor``, ``kmeans_quantize``, ``to_nm``, ``mx_quantize``,
``nvfp4_quantize``, ``nf4_quantize``, ``ternary_quantize``, the PIPE Huffman
codec), and each record holds exactly the arrays of the schema in
:mod:`minicomp.store.records`, so ``model.nbytes`` is the library's byte
count: :func:`minicomp.metrics.storage_bytes` for dense / csr / int /
integer / codebook, ``ceil`` of :func:`minicomp.formats.format_bytes` for
FP8 / MX / NVFP4 / NF4 / ternary (it returns a float; every layer's count
is whole bytes except odd code counts, which the packed stream rounds up),
:class:`~minicomp.formats.NMDense`'s ``nbytes`` for N:M, the codec's ``nbytes``
(:mod:`minicomp.quant.sparse_huffman`: relative positions and Huffman-coded
gaps and indices, an int8 bias when exact) for ``huffman`` -- a different
layout from ``storage_bytes(..., "huffman")``, which Huffman-codes every
index of the dense matrix. LSQ+ weights store
an extra float32 offset per output channel (``4 * out`` bytes that
``storage_bytes`` does not know). Pruned weights stay exactly zero in every
format: 0 is a code of each of them (symmetric: code 0; affine: the integer
zero point; the minifloats and NF4 have an exact 0; a codebook reserves
entry 0 = 0.0 for the pruned weights, :func:`~minicomp.quant.kmeans_quantize`).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate
from ..formats.minifloat import encode, max_value
from ..formats.mx import mx_quantize, nvfp4_quantize
from ..formats.nf4 import nf4_quantize
from ..formats.ternary import ternary_quantize
from ..kernels.reference import index_dtype
from ..nn import Module, ReLU
from ..quant.granularity import QTensor, quantize_tensor
from ..quant.uniform import qrange
from .model import Cascade, CompressedModel, Ensemble
from .records import BLOCK, ELEMENT_BITS, FORMAT_KINDS, Record, pack_codes

FMTS = ("auto", "dense", "csr", "nm", "int", "integer", "codebook", "huffman", "ternary",
        *FORMAT_KINDS)
OPTIONS = {"int": ("bits", "granularity", "scheme", "group_size"), "nm": ("n", "m"),
           "codebook": ("bits",), "huffman": ("bits",), "integer": ("X_calib",)}


def _meta(W) -> dict:
    return {"out": int(W.shape[0]), "in": int(W.shape[1])}


def _bias(b) -> dict:
    return {} if b is None else {"b": np.ascontiguousarray(b, np.float32)}


def int_record(Q, b, relu, acts=None) -> Record:
    """An ``int`` record of a :class:`~minicomp.quant.granularity.QTensor` (symmetric/affine)."""
    q = np.asarray(Q.q).astype(np.int64)
    low = qrange(Q.bits, Q.scheme)[0]
    arrays = {"codes": pack_codes(q - low, Q.bits),
              "scales": np.asarray(Q.S, np.float32).ravel()}
    if Q.scheme == "affine":
        arrays["zero_points"] = np.asarray(Q.Z).ravel().astype(np.uint16 if Q.bits > 8
                                                                else np.uint8)
    meta = {**_meta(q), "bits": int(Q.bits), "scheme": Q.scheme,
            "granularity": Q.granularity, "group_size": int(Q.group_size or 0),
            "offset": False, **(acts or {})}
    return Record("int", {**arrays, **_bias(b)}, meta, relu)


def _affine(p: str, S, Z, bits) -> dict:
    return {} if bits is None else {f"{p}_q": "affine", f"{p}_S": float(S), f"{p}_Z": int(Z),
                                    f"{p}_bits": int(bits)}


def _lsq(p: str, S, beta, bits, signed) -> dict:
    return {f"{p}_q": "lsq", f"{p}_S": float(np.float32(S)), f"{p}_beta": float(np.float32(beta)),
            f"{p}_bits": int(bits), f"{p}_signed": bool(signed)}


def _quantized_mlp(qnet) -> list:
    """``int`` records of a :class:`~minicomp.quant.ptq.QuantizedMLP`: its forward exactly,
    up to the float32 storage of the weight scales."""
    records = []
    for k, L in enumerate(qnet.qlayers):
        acts = _affine("in", qnet.S_in, qnet.Z_in, qnet.bits_a) if k == 0 else {}
        acts.update(_affine("out", L.S_y, L.Z_y, qnet.bits_a))
        records.append(int_record(L.W, L.b_hat, L.relu, acts))
    return records


def _learned(model) -> list:
    """``int`` records of LSQ's :class:`~minicomp.quant.lsq.LearnedQuantMLP` (its forward)."""
    from ..quant.lsq import int_range
    records, bits, bits_a = [], model.bits, model.bits_a
    Qn, Qp = int_range(bits, True)
    for k, (_, dense, act) in enumerate(model.blocks):
        W, b, relu = dense.W.data, None if dense.b is None else dense.b.data, isinstance(act, ReLU)
        acts = {}
        if bits_a is not None and k == 0:
            acts = _lsq("in", model.s_a[0].data, model.beta_in.data, bits_a, True)
        if bits_a is not None and relu:
            s = model.s_a[k + 1]
            step = (s * (1.0 / (2 ** bits_a - 1))).data if model.acts == "pact" else s.data
            acts.update(_lsq("out", step, 0.0, bits_a, False))
        if model.weights == "ternary":                  # codes {-1, 0, 1}: symmetric 2 bits
            T, gamma = ternary_quantize(W)
            Q = QTensor(T, np.float64(gamma), np.zeros(()), 2, "symmetric", "tensor")
            records.append(int_record(Q, b, relu, acts))
            continue
        s, beta = model.s_w[k].data, model.beta_w[k]                    # (out, 1) each
        beta = 0.0 if beta is None else beta.data
        q = np.rint(np.clip((W - beta) / s, -Qn, Qp)).astype(np.int64)  # as _lsq computes
        arrays = {"codes": pack_codes(q + Qn, bits), "scales": s.ravel().astype(np.float32)}
        if model.beta_w[k] is not None:
            arrays["offsets"] = model.beta_w[k].data.ravel().astype(np.float32)
        meta = {**_meta(W), "bits": bits, "scheme": "lsq", "granularity": "channel",
                "group_size": 0, "offset": "offsets" in arrays, **acts}
        records.append(Record("int", {**arrays, **_bias(b)}, meta, relu))
    return records


def _inference(model) -> list:
    """``csr`` or ``integer`` records of a :class:`~minicomp.deploy.InferenceModel`."""
    records = []
    for m in model.layers:
        if model.int8:
            arrays = {"w_q": m.w_q, "m0": m.m0.astype(np.int32), "shift": m.shift.astype(np.int32),
                      "Z_x": np.array([m.Z_x], m.x_dtype), "Z_y": np.array([m.Z_y], m.out_dtype)}
            if m.bias_q is not None:
                arrays["bias_q"] = np.asarray(m.bias_q, np.int32)
            meta = {**_meta(m.w_q), "S_x": m.S_x, "S_y": m.S_y, "x_dtype": m.x_dtype.name,
                    "out_dtype": m.out_dtype.name}
            records.append(Record("integer", arrays, meta, m.relu))
            continue
        records.append(csr_record(m.csr, m.bias, m.relu))
    return records


def csr_record(c, b, relu) -> Record:
    """A ``csr`` record of a :class:`~minicomp.kernels.reference.CSR` (narrowest indices)."""
    out, n_in = c.shape
    arrays = {"data": c.data, "indices": c.indices.astype(index_dtype(max(n_in - 1, 0))),
              "indptr": c.indptr.astype(index_dtype(c.nnz))}
    return Record("csr", {**arrays, **_bias(b)}, {"out": out, "in": n_in, "nnz": c.nnz}, relu)


def _shared(layers, relus, fmt) -> list:
    """``codebook`` (or ``huffman``) records of k-means :class:`SharedDense` layers."""
    records = []
    for L, relu in zip(layers, relus):
        b = None if L.b is None else L.b.data.astype(np.float32)
        index, codebook = L.index, L.codebook.data.astype(np.float32)
        if fmt == "huffman":
            from ..quant.sparse_huffman import encode as huffman_encode
            enc = huffman_encode(index, codebook, b)
            meta = {**_meta(index), **{f"codec.{k}": v for k, v in enc.meta.items()}}
            records.append(Record("huffman", enc.arrays, meta, relu))
            continue
        arrays = {"codebook": codebook, "index": pack_codes(index, L.bits)}
        records.append(Record("codebook", {**arrays, **_bias(b)},
                              {**_meta(index), "bits": L.bits}, relu))
    return records


def _format_record(W, b, relu, fmt) -> Record:
    """An FP8 / MX / NVFP4 / NF4 / ternary record of ``W`` (out, in)."""
    out, n_in = W.shape
    if fmt == "ternary":
        T, gamma = ternary_quantize(W)
        arrays = {"codes": pack_codes(T.astype(np.int64) + 1, 2),
                  "gamma": np.array([gamma], np.float32)}
    elif fmt.startswith("fp8"):
        amax = np.abs(W).max(axis=1).astype(np.float64)                  # (out,)
        s = np.where(amax > 0, amax / max_value(fmt[4:]), 1.0)[:, None]   # as simulate
        arrays = {"codes": encode(W / s, fmt[4:], saturate=True),        # (out, in)
                  "scales": s.ravel().astype(np.float32)}
    else:
        block = BLOCK[fmt]
        P = np.pad(W.astype(np.float64), ((0, 0), (0, -n_in % block)))  # (out, padded)
        if fmt == "nf4":
            t = nf4_quantize(P, block)
            arrays = {"codes": pack_codes(t.codes, 4), "dq_codes": t.dq[0],
                      "dq_scales": np.asarray(t.dq[1], np.float32),
                      "dq_mean": np.array([t.dq[2]], np.float32)}
        else:
            t = nvfp4_quantize(P, block) if fmt == "nvfp4" else mx_quantize(P, fmt, block)
            codes = t.codes.view(np.uint8) if fmt == "mxint8" else t.codes
            arrays = {"codes": pack_codes(codes, ELEMENT_BITS[fmt]), "scales": t.scales}
            if fmt == "nvfp4":
                arrays["tensor_scale"] = np.array([t.tensor_scale], np.float32)
    return Record(fmt, {**arrays, **_bias(b)}, _meta(W), relu)


def _net(net, fmt, options) -> list:
    """Records of a net of Dense (+ ReLU) layers, masks applied, in ``fmt``."""
    from ..quant.ptq import relu_blocks
    blocks = relu_blocks(net, "pack")
    layers = []
    for k, (_, d, act) in enumerate(blocks):
        W = validate.array(d.W.data if d.W.mask is None else d.W.data * d.W.mask,
                           f"layer {k} weights", ndim=2, where="pack", dtype=np.float32)
        b = None if d.b is None else validate.array(d.b.data, f"layer {k} bias", where="pack",
                                                    dtype=np.float32)
        layers.append((W, b, isinstance(act, ReLU)))
    if fmt in ("codebook", "huffman"):
        from ..quant.kmeans import kmeans_quantize
        net = copy.deepcopy(net)
        for (_, d, _), (W, _, _) in zip(dense_of(net), layers):   # pruned zeros: entry 0
            if d.W.mask is None and not W.all():
                d.W.mask = (W != 0).astype(np.float32)
        shared = kmeans_quantize(net, **options)
        return _shared([m for m in shared.layers if hasattr(m, "codebook")],
                       [r for _, _, r in layers], fmt)
    if fmt == "integer":
        from ..deploy import to_inference
        from ..quant.ptq import quantize_mlp
        if "X_calib" not in options:
            raise TypeError("pack: fmt='integer' of a float net needs X_calib=, a calibration "
                            "set (N, in)")
        return _inference(to_inference(quantize_mlp(net, options["X_calib"])))
    records = []
    for W, b, relu in layers:
        if fmt == "dense" or (fmt == "int" and options.get("bits") == 32):
            records.append(Record("dense", {"W": W, **_bias(b)}, _meta(W), relu))
        elif fmt == "csr":
            from ..kernels.sparse import to_csr
            records.append(csr_record(to_csr(W), b, relu))
        elif fmt == "nm":
            from ..formats.nm_layer import NMDense
            A = NMDense(W, b, relu=relu, **options).A
            records.append(Record("nm", {"values": A.values, "indices": A.indices, **_bias(b)},
                                  {**_meta(W), "n": A.n, "m": A.m}, relu))
        elif fmt == "int":
            o = {"bits": 8, "scheme": "symmetric", "granularity": "channel", **options}
            records.append(int_record(quantize_tensor(W, o["bits"], o["scheme"],
                                      o["granularity"], o.get("group_size")), b, relu))
        else:
            records.append(_format_record(W, b, relu, fmt))
    return records


def dense_of(net) -> list:
    """THE walker's blocks of ``net`` (:func:`minicomp.blocks.dense_blocks`)."""
    from ..blocks import dense_blocks
    return dense_blocks(net, "pack")


def pack(obj, fmt: str = "auto", **options) -> CompressedModel:
    """Convert ``obj`` into a :class:`~minicomp.store.model.CompressedModel` (``obj`` unchanged).

    Parameters
    ----------
    obj : a Sequential / MLP / Dense net (masks applied), a low-rank net, an
        :class:`~minicomp.deploy.InferenceModel`, a :class:`~minicomp.quant.ptq.QuantizedMLP`
        (PTQ, GPTQ, AdaRound), LSQ's :class:`~minicomp.quant.lsq.LearnedQuantMLP`, a k-means
        net of :class:`~minicomp.quant.kmeans.SharedDense`, an :class:`Ensemble`, a
        :class:`Cascade`, or a CompressedModel (returned as is)
    fmt : {"auto", "dense", "csr", "nm", "int", "integer", "codebook", "huffman", "ternary",
        "fp8_e4m3", "fp8_e5m2", "mxfp8_e4m3", ..., "mxfp4", "mxint8", "nvfp4", "nf4"}
        "auto": what ``obj`` is (a net: "csr" if a layer has a mask, else "dense"; a
        QuantizedMLP: "int"; a k-means net: "codebook"). Members of ensembles get it too.
    **options : "int": ``bits`` (8), ``granularity`` ("channel"), ``scheme`` ("symmetric"),
        ``group_size``; "nm": ``n``, ``m`` (2, 4); "codebook" / "huffman" of a float net:
        ``bits`` (k-means); "integer" of a float net: ``X_calib``.

    Raises
    ------
    TypeError
        ``obj`` of another type, an option the format does not take, any option for an
        object quantized already (its codes are stored as they are).
    ValueError
        An unknown ``fmt``, a format ``obj`` cannot be stored in, NaN/inf weights, bad options.
    """
    fmt = validate.choice(fmt, "fmt", FMTS, where="pack")
    if isinstance(obj, CompressedModel):
        _expect(fmt, (), "CompressedModel (packed already)", options)
        return obj
    if isinstance(obj, (Ensemble, Cascade)):
        members = obj.members if isinstance(obj, Ensemble) else [obj.small, obj.large]
        packed = [pack(m, fmt, **options) for m in members]
        if isinstance(obj, Ensemble):
            return CompressedModel(members=packed, structure="ensemble", weights=obj.weights)
        return CompressedModel(members=packed, structure="cascade", tau=obj.tau)
    unknown = set(options) - set(OPTIONS.get(fmt, ()))
    if unknown:
        raise TypeError(f"pack: options {sorted(unknown)} with fmt={fmt!r}; expected "
                        f"{list(OPTIONS.get(fmt, ())) or 'none'}")
    from ..deploy import InferenceModel
    from ..quant.lsq import LearnedQuantMLP
    from ..quant.ptq import QuantizedMLP
    kind = type(obj).__name__
    if isinstance(obj, InferenceModel):
        want = "integer" if obj.int8 else "csr"
        _expect(fmt, (want,), kind, options)
        return CompressedModel(_inference(obj))
    if isinstance(obj, QuantizedMLP):
        _expect(fmt, ("int", "integer"), kind, options)
        if fmt == "integer":
            from ..deploy import to_inference
            return CompressedModel(_inference(to_inference(obj)))
        return CompressedModel(_quantized_mlp(obj))
    if isinstance(obj, LearnedQuantMLP):
        _expect(fmt, ("int",), kind, options)
        return CompressedModel(_learned(obj))
    if not isinstance(obj, Module):
        raise TypeError(f"pack: obj is a {kind}; expected a net, an InferenceModel, a "
                        "QuantizedMLP, a LearnedQuantMLP, a k-means net, an Ensemble, a "
                        "Cascade or a CompressedModel")
    shared = [m for m in getattr(obj, "layers", [obj]) if hasattr(m, "codebook")]
    if shared:
        _expect(fmt, ("codebook", "huffman"), "k-means net", options)
        relus = [isinstance(nxt, ReLU) for nxt in _after(obj, shared)]
        return CompressedModel(_shared(shared, relus, "huffman" if fmt == "huffman"
                                       else "codebook"))
    if fmt == "auto":
        fmt = "csr" if any(b.dense.W.mask is not None for b in dense_of(obj)) else "dense"
    return CompressedModel(_net(obj, fmt, options))


def _after(net, shared) -> list:
    """The layer after each k-means layer of ``net`` (None at the end)."""
    layers = list(net.layers)
    return [layers[i + 1] if i + 1 < len(layers) else None
            for i, m in enumerate(layers) if any(m is s for s in shared)]


def _expect(fmt, allowed, kind, options):
    """``fmt`` and ``options`` of an object quantized already: its own format, no options."""
    if fmt != "auto" and fmt not in allowed:
        raise ValueError(f"pack: fmt={fmt!r} for a {kind}; expected 'auto'"
                         + (f" or one of {list(allowed)}" if allowed else ""))
    if options:
        raise TypeError(f"pack: options {sorted(options)} for a {kind}, quantized already; "
                        "expected none (they apply to float nets)")

