r"""Export a compressed model to ONNX: the same predictions in a real runtime (onnxruntime).

:func:`export` writes a :class:`~minicomp.store.CompressedModel` (or its file) as one
ONNX graph (:func:`to_onnx`), input ``X`` float32 (batch, in), output ``Y`` float32 (batch,
classes): ``model.predict``'s scores. Each record becomes (``tests/test_onnx.py`` runs all):

- ``dense`` (and low rank), ``csr``, ``nm``: ``Gemm`` (``transB=1``: ``W`` (out, in) as
  stored), ``Relu``. Pruned and N:M layers are dense initializers holding their zeros
  (ONNX's standard operators have no sparse product): the file is as large as a dense one.
- ``int`` (symmetric or affine, per tensor or channel): the codes stay (int8/uint8, 16-bit
  above 8 bits) under ``DequantizeLinear``; ``fp8_*``: the codes stay as FLOAT8E4M3FN /
  FLOAT8E5M2 under ``DequantizeLinear`` (a scale per row); ``codebook`` and ``huffman``:
  the codebook and the indices (uint8, unpacked) stay, ``W = Gather(codebook, index)``.
- per-group and LSQ ``int``, MX, NVFP4, NF4: dequantized at export by
  :func:`minicomp.store.layers.weights` (opset 21 has no FP4, FP6 or E8M0 type).
- ``int`` activation fake-quantizers: affine as
  :func:`minicomp.quant.uniform.fake_quantize` (float64), LSQ's in float32, as the store.
- ``ternary``: :class:`~minicomp.formats.TernaryDense`'s computation: int8 activations per
  row (absmax / 127, float64), ``MatMulInteger`` with the ternary codes, ``acc (s γ)``.
- ``integer``: :mod:`minicomp.kernels.requant`'s arithmetic, exactly. The input is
  quantized in float64 as :meth:`~minicomp.deploy.InferenceModel.quantize_input` (``Round``
  is half to even, as ``np.rint``); each layer is ``MatMulInteger`` (int32 ``a``), then
  :math:`q_y = \mathrm{clip}(\lfloor n / 2^s \rfloor + Z_y, lo, hi)` with
  :math:`n = (a + q_b) m_0 + 2^{s-1}` (rounding half up, negative ties too). ONNX's
  ``BitShift`` is for unsigned types only and ``Div`` truncates toward zero, so the graph
  shifts :math:`n + 2^{62}`, which lies in :math:`[0, 2^{64})` (:math:`|a m_0| < 2^{62}`):

  .. math:: \lfloor n / 2^s \rfloor = \big((n + 2^{62}) \gg s\big) - 2^{62 - s},

  in uint64 (``Cast`` of ``a``, ``Mul`` by :math:`m_0`, ``Add`` of the constant
  :math:`q_b m_0 + 2^{s-1} + 2^{62}`: arithmetic modulo :math:`2^{64}` that is exact
  because the true sum is in range), then int64: no integer division. The last codes are
  dequantized in float64, :math:`S_y (q - Z_y)`, then cast to float32.
- ensembles: each member's float64 ``Softmax`` (a nested ensemble's probabilities as
  they are), weighted and summed; a cascade: both members, the small one's top probability
  ``Less`` than ``tau``, then ``Where`` (in float64, as the store). Both members run on
  every row: the graph has no data-dependent branch.

So int8 codes are the kernels' bit for bit: no code is rounded from a float32 value, and
no tie rounds differently. Float outputs may differ from the kernels' by the order of
float32 sums (the tests: ``atol = rtol = 1e-5``); where such a sum feeds a rounding (a
fake-quantized activation, a cascade's ``tau``), a value within float32 rounding of a tie
may go the other way, one step: the tests allow that only at such ties, and count them.
The ONNX file is larger than the compressed one (codes unpacked to a byte, pruned weights
dense): ``minicomp bench onnx`` prints both sizes.

References
----------
ONNX operators, opset 21: https://onnx.ai/onnx/operators/. Jacob, B. et al. (2018).
Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .layers import weights
from .records import unpack_codes

OPSET = 21                  # ONNX default domain opset (onnx >= 1.16, onnxruntime >= 1.18)
CODE_TYPES = {np.dtype(np.uint8): 2, np.dtype(np.int8): 3}       # TensorProto.UINT8, INT8
FLOAT, DOUBLE, INT32, INT64, UINT64 = 1, 11, 6, 7, 13           # TensorProto data types
OFFSET = 2**62              # int8 requantization: n + OFFSET >= 0, a multiple of every 2^shift


class Graph:
    """The nodes and initializers of one ONNX graph; every value gets a fresh name.

    >>> g = Graph()
    >>> g.fresh("x"), g.fresh("x")
    ('x_1', 'x_2')
    """

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, value, dtype=None, stem: str = "c") -> str:
        """An initializer holding ``value`` (as ``dtype``); returns its name."""
        from onnx import numpy_helper
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        """One node ``op_type(*inputs)``; returns the name of its (only) output."""
        from onnx import helper
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def linear(g: Graph, x: str, W, b=None, relu: bool = False) -> str:
    """``relu(x W^T + b)``: x float32 (B, in), ``W`` (out, in) array or value name."""
    W = g.const(W, np.float32, "W") if isinstance(W, np.ndarray) else W
    bias = [] if b is None else [g.const(b, np.float32, "b")]
    y = g.op("Gemm", x, W, *bias, transB=1)                        # (B, out)
    return g.op("Relu", y) if relu else y


def codebook_weights(g: Graph, codebook, index) -> str:
    """``W = codebook[index]`` in the graph: (k,) float32 and (out, in) indices < 256."""
    idx = g.op("Cast", g.const(index, np.uint8, "index"), to=INT32)   # (out, in)
    return g.op("Gather", g.const(codebook, np.float32, "codebook"), idx)


def quantize(g: Graph, x: str, S, Z, lo: int, hi: int) -> str:
    """``clip(round(x / S) + Z, lo, hi)`` in float64 (half to even, as ``np.rint``)."""
    t = g.op("Div", g.op("Cast", x, to=DOUBLE), g.const(S, np.float64, "S"))
    t = g.op("Add", g.op("Round", t), g.const(Z, np.float64, "Z"))
    return g.op("Clip", t, g.const(lo, np.float64), g.const(hi, np.float64))


def dequantize(g: Graph, q: str, S, Z) -> str:
    """``S (q - Z)`` in float64 (q float64 or integer codes), cast to float32."""
    q = g.op("Cast", q, to=DOUBLE)
    y = g.op("Mul", g.const(S, np.float64, "S"), g.op("Sub", q, g.const(Z, np.float64, "Z")))
    return g.op("Cast", y, to=FLOAT)


def int8_linear(g: Graph, q: str, w_q, bias_q, Z_x, m0, shift, Z_y, relu: bool,
                x_dtype, out_dtype) -> str:
    """One integer-only layer: codes (B, in) -> codes (B, out), as the int8 kernels."""
    w_t = g.const(np.asarray(w_q, np.int8).T, stem="w_q")                 # (in, out)
    a = g.op("MatMulInteger", q, w_t, g.const(Z_x, x_dtype, "Z_x"))       # (B, out) int32
    m0, shift = np.asarray(m0, np.uint64), np.asarray(shift, np.int64)     # (out,) each
    q_b = np.zeros(len(m0), np.int64) if bias_q is None else np.asarray(bias_q, np.int64)
    c = q_b.astype(np.uint64) * m0 + (np.uint64(1) << (shift - 1).astype(np.uint64)) \
        + np.uint64(OFFSET)                                 # q_b m0 + 2^(s-1) + 2^62, mod 2^64
    u = g.op("Add", g.op("Mul", g.op("Cast", a, to=UINT64), g.const(m0, stem="m0")),
             g.const(c, stem="c"))                          # n + 2^62 in [0, 2^64): exact
    y = g.op("BitShift", u, g.const(shift.astype(np.uint64), stem="shift"), direction="RIGHT")
    y = g.op("Add", g.op("Cast", y, to=INT64),
             g.const(int(Z_y) - (np.int64(OFFSET) >> shift), stem="Z_y"))   # floor(n/2^s) + Z_y
    info = np.iinfo(out_dtype)
    lo = max(int(info.min), int(Z_y)) if relu else int(info.min)
    y = g.op("Clip", y, g.const(lo, np.int64), g.const(int(info.max), np.int64))
    return g.op("Cast", y, to=CODE_TYPES[np.dtype(out_dtype)])


def ternary(g: Graph, x: str, T, gamma: float, b, relu: bool) -> str:
    """:class:`~minicomp.formats.TernaryDense` on codes ``T`` (out, in) in {-1, 0, 1}."""
    xd = g.op("Cast", x, to=DOUBLE)                                         # (B, in)
    amax = g.op("ReduceMax", g.op("Abs", xd), g.const([1], np.int64), keepdims=1)   # (B, 1)
    s = g.op("Where", g.op("Greater", amax, g.const(0.0, np.float64)),
             g.op("Div", amax, g.const(127.0, np.float64)), g.const(1.0, np.float64))
    x_q = g.op("Clip", g.op("Round", g.op("Div", xd, s)), g.const(-128.0, np.float64),
               g.const(127.0, np.float64))
    acc = g.op("MatMulInteger", g.op("Cast", x_q, to=CODE_TYPES[np.dtype(np.int8)]),
               g.const(np.asarray(T, np.int8).T, stem="T"))                # (B, out) int32
    # through int64: onnxruntime would fuse MatMulInteger-Cast-Mul into its float32-only
    # MatMulIntegerToFloat and refuse the graph
    acc = g.op("Cast", g.op("Cast", acc, to=INT64), to=DOUBLE)
    y = g.op("Mul", acc, g.op("Mul", s, g.const(gamma, np.float64)))       # acc (s γ)
    y = g.op("Cast", y, to=FLOAT)
    y = y if b is None else g.op("Add", y, g.const(b, np.float32, "b"))
    return g.op("Relu", y) if relu else y


def act_quant(g: Graph, x: str, meta: dict, p: str) -> str:
    """An ``int`` record's activation fake-quantizer ``{p}_q`` (``p``: "in", "out"), if any."""
    kind, bits = meta.get(f"{p}_q"), meta.get(f"{p}_bits")
    if kind is None:
        return x
    if kind == "affine":
        S, Z = float(meta[f"{p}_S"]), int(meta[f"{p}_Z"])
        return dequantize(g, quantize(g, x, S, Z, 0, 2 ** int(bits) - 1), S, Z)
    S, beta = g.const(meta[f"{p}_S"], np.float32, "S"), g.const(meta[f"{p}_beta"], np.float32)
    lo, hi = (-2 ** (bits - 1), 2 ** (bits - 1) - 1) if meta[f"{p}_signed"] else (0, 2**bits - 1)
    t = g.op("Clip", g.op("Div", g.op("Sub", x, beta), S), g.const(lo, np.float32),
             g.const(hi, np.float32))
    return g.op("Add", g.op("Mul", g.op("Round", t), S), beta)


def int_weights(g: Graph, rec) -> str | None:
    """An ``int`` record's codes under ``DequantizeLinear`` (None: per group, LSQ). Its
    float32 ``(q - Z) S`` is the store's float64 product rounded once: the same weights."""
    A, m = rec.arrays, rec.meta
    if m["scheme"] not in ("symmetric", "affine") or m["granularity"] == "group":
        return None
    bits, out, n_in = int(m["bits"]), *rec.shape
    q = unpack_codes(A["codes"], bits, out * n_in).reshape(out, n_in)       # (out, in)
    code = np.dtype(("u" if m["scheme"] == "affine" else "i") + ("1" if bits <= 8 else "2"))
    q = q if m["scheme"] == "affine" else q - (2 ** (bits - 1) - 1)        # stored q - q_min
    per_row = m["granularity"] == "channel"
    S = A["scales"] if per_row else A["scales"][0]
    inputs = [g.const(q, code, "q"), g.const(S, np.float32, "S")]
    if m["scheme"] == "affine":
        inputs.append(g.const(A["zero_points"] if per_row else A["zero_points"][0], code))
    return g.op("DequantizeLinear", *inputs, axis=0)


def fp8_weights(g: Graph, rec) -> str:
    """FP8 codes (FLOAT8E4M3FN / E5M2) under ``DequantizeLinear``, one scale per row."""
    from onnx import helper
    name = g.fresh("codes")
    kind = 17 if rec.kind == "fp8_e4m3" else 19                        # FLOAT8E4M3FN, E5M2
    g.inits.append(helper.make_tensor(name, kind, rec.shape, rec.arrays["codes"].tobytes(),
                                      raw=True))
    return g.op("DequantizeLinear", name, g.const(rec.arrays["scales"], np.float32), axis=0)


def record(g: Graph, x: str, rec) -> str:
    """One (non-integer) record on ``x`` float32 (B, in) -> (B, out)."""
    A, kind, b = rec.arrays, rec.kind, rec.arrays.get("b")
    if kind == "ternary":
        T = unpack_codes(A["codes"], 2, rec.shape[0] * rec.shape[1]) - 1
        return ternary(g, x, T.reshape(rec.shape), float(A["gamma"][0]), b, rec.relu)
    if kind == "codebook":
        index = unpack_codes(A["index"], int(rec.meta["bits"]), rec.shape[0] * rec.shape[1])
        return linear(g, x, codebook_weights(g, A["codebook"], index.reshape(rec.shape)),
                      b, rec.relu)
    if kind == "huffman":                         # the codec's index and codebook, not W
        from ..quant.sparse_huffman import decode_index
        codec = {k[6:]: v for k, v in rec.meta.items() if k.startswith("codec.")}
        index, codebook, b = decode_index(A, codec)                     # (out, in), (k,)
        return linear(g, x, codebook_weights(g, codebook, index), b, rec.relu)
    W, b = weights(rec)                                  # decoded, checked finite (store)
    kept = int_weights(g, rec) if kind == "int" else fp8_weights(g, rec) if kind.startswith(
        "fp8") else None
    W = W if kept is None else kept
    if kind != "int":
        return linear(g, x, W, b, rec.relu)
    y = linear(g, act_quant(g, x, rec.meta, "in"), W, b, rec.relu)
    return act_quant(g, y, rec.meta, "out")


def integer_chain(g: Graph, x: str, records) -> str:
    """A chain of ``integer`` records: quantize the input, integer layers, dequantize."""
    first, last = records[0], records[-1]
    dtype, info = np.dtype(first.meta["x_dtype"]), np.iinfo(first.meta["x_dtype"])
    q = quantize(g, x, float(first.meta["S_x"]), int(first.arrays["Z_x"][0]), int(info.min),
                 int(info.max))                        # InferenceModel.quantize_input
    q = g.op("Cast", q, to=CODE_TYPES[dtype])                             # (B, in) codes
    for r in records:
        A, m = r.arrays, r.meta
        q = int8_linear(g, q, A["w_q"], A.get("bias_q"), int(A["Z_x"][0]), A["m0"],
                        A["shift"], int(A["Z_y"][0]), r.relu, np.dtype(m["x_dtype"]),
                        np.dtype(m["out_dtype"]))
    return dequantize(g, q, float(last.meta["S_y"]), int(last.arrays["Z_y"][0]))


def probabilities(g: Graph, x: str, model) -> str:
    """A member's class probabilities (B, C) in float64: a chain's softmax of its logits."""
    y = g.op("Cast", structure(g, x, model), to=DOUBLE)
    return g.op("Softmax", y, axis=-1) if model.structure == "chain" else y


def structure(g: Graph, x: str, model) -> str:
    """The output (float32 (B, classes)) of a chain, an ensemble or a cascade on ``x``."""
    if model.structure == "chain":
        layers = list(model.layers)
        if layers[0].kind == "integer":
            return integer_chain(g, x, layers)
        for rec in layers:
            x = record(g, x, rec)
        return x
    P = [probabilities(g, x, m) for m in model.members]    # (B, C) float64 each
    if model.structure == "cascade":
        top = g.op("ReduceMax", P[0], g.const([1], np.int64), keepdims=1)    # (B, 1)
        defer = g.op("Less", top, g.const(model.tau, np.float64, "tau"))
        return g.op("Cast", g.op("Where", defer, P[1], P[0]), to=FLOAT)
    if model.weights is None:                                            # the mean
        P = g.op("Div", g.op("Sum", *P), g.const(float(len(P)), np.float64, "M"))
    else:
        P = g.op("Sum", *[g.op("Mul", p, g.const(w, np.float64, "w"))
                          for p, w in zip(P, model.weights)])
    return g.op("Cast", P, to=FLOAT)


def model_proto(g: Graph, y: str, in_features: int, out_features: int):
    """The checked ``onnx.ModelProto``: input ``X`` (B, in), output ``Y`` (B, out) float32."""
    import onnx
    from onnx import helper
    g.nodes.append(helper.make_node("Identity", [y], ["Y"]))
    graph = helper.make_graph(
        g.nodes, "minicomp", [helper.make_tensor_value_info("X", FLOAT, ["batch", in_features])],
        [helper.make_tensor_value_info("Y", FLOAT, ["batch", out_features])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="minicomp")
    onnx.checker.check_model(model, full_check=True)
    return model


def to_onnx(model, where: str = "to_onnx"):
    """The ``onnx.ModelProto`` of ``model``, checked by ``onnx.checker`` (full check).

    Parameters
    ----------
    model : CompressedModel, or str / os.PathLike of a file :func:`~minicomp.store.save` wrote
    where : str, the public function named in errors

    Returns
    -------
    onnx.ModelProto, opset :data:`OPSET`: input ``X`` float32 (batch, in), output ``Y``
    float32 (batch, classes) -- ``model.predict``'s scores (a chain's logits, an ensemble's
    or a cascade's probabilities).

    Raises
    ------
    TypeError
        ``model`` is neither. ImportError: the ``onnx`` package is not installed.
    ValueError
        A file :func:`~minicomp.store.load` refuses (named), weights that decode to NaN/inf.
    """
    from .model import CompressedModel
    if importlib.util.find_spec("onnx") is None:
        raise ImportError(f"{where}: ONNX export needs the onnx package (pip install onnx)")
    if isinstance(model, (str, os.PathLike)):
        from . import load
        model = load(model)
    if not isinstance(model, CompressedModel):
        raise TypeError(f"{where}: model is a {type(model).__name__}; expected a "
                        "CompressedModel (minicomp.store.pack) or the path of a saved one")
    g = Graph()
    y = structure(g, "X", model)
    return model_proto(g, y, model.in_features, model.out_features)


def export(model, path) -> str:
    """Write ``model`` as an ONNX file at ``path`` (atomically: the old file or the whole new one).

    Parameters
    ----------
    model : CompressedModel, or the path of a saved one (see :func:`to_onnx`)
    path : str or os.PathLike, the ``.onnx`` file; its folder must exist

    Returns
    -------
    str, the path written

    Raises
    ------
    TypeError, ValueError
        As :func:`to_onnx`; nothing is written.
    IsADirectoryError, FileNotFoundError, PermissionError, ValueError
        A target ``open(path, "wb")`` would refuse
        (:func:`minicomp.atomic.check_target`), before the graph is built.
    """
    from ..atomic import atomic_open, check_target
    check_target(path, where="export")
    proto = to_onnx(model, "export")
    with atomic_open(path, "wb", where="export") as f:
        f.write(proto.SerializeToString())
    return os.fspath(path)
