r"""THE path from what the library produces to an inference model on the kernels.

:func:`to_inference` takes a pruned (masked) net, a
:class:`~minicomp.quant.ptq.QuantizedMLP` or per-layer int8 settings and
returns one :class:`InferenceModel`: a chain of :class:`SparseDense` (CSR
weights, :mod:`minicomp.kernels.sparse`; predictions allclose to the float
net's) or :class:`Int8Dense` (int8 weights, int32 accumulation, fixed-point
requantization, an :class:`~minicomp.kernels.int8.Int8Kernel`) layers, ReLUs
fused. The model runs all its layers in one compiled call
(:mod:`minicomp.fused_model`), or layer by layer (``fused=False``).

int8 (Jacob et al. 2018): values are ``r = S (q - Z)`` with uint8/int8
codes ``q``; weights are int8 with ``Z_w = 0`` and one scale ``S_w`` per
output channel. A layer computes

.. math:: q_{y,i} = Z_y + M_i \Big(\sum_j (q_{x,j} - Z_x) q_{w,ij}
          + q_{b,i}\Big),\qquad M_i = S_x S_{w,i} / S_y \approx m_{0,i} 2^{-shift_i},

a fused ReLU being the lower clamp ``Z_y``. The model quantizes its float
input once (:meth:`InferenceModel.quantize_input`), runs integers through
every layer and dequantizes the last output. Its integers equal those of
:func:`minicomp.kernels.reference.int8_linear` layer by layer, and for
``to_inference(qnet)`` those of :func:`minicomp.quant.integer.simulate_codes`.

Deviation: only Dense, ReLU and Identity (and Dropout, the identity at
inference) are supported; other activations raise ``TypeError``.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import validate
from .fused_model import FusedModel
from .kernels.int8 import Int8Kernel
from .kernels.reference import dtype_range, quantize_multiplier
from .kernels.sparse import SparseKernel, check_csr, to_csr
from .metrics import storage_bytes
from .nn import ReLU
from .prune.mask import check_mask, masks_by_layer
from .quant.integer import int8_settings
from .quant.ptq import QuantizedMLP, relu_blocks

INT8_KEYS = ("w_q", "bias_q", "S_x", "Z_x", "S_w", "S_y", "Z_y")
INT8_OPTIONAL = ("m0", "shift", "x_dtype", "out_dtype")


class SparseDense:
    """Inference-only dense layer with CSR weights: ``y = x W^T + b``.

    ``csr``: CSR (out, in), checked once here; ``bias``: (out,) or None; ``relu``: apply
    ``max(y, 0)`` after the product (a fused ReLU).

    Examples
    --------
    >>> layer = SparseDense.from_dense(np.array([[0., 2.], [-1., 0.]]), bias=[0., 1.])
    >>> layer(np.array([[1., 1.]], np.float32))
    array([[2., 0.]], dtype=float32)
    """

    def __init__(self, csr, bias=None, relu: bool = False):
        check_csr(csr)
        validate.array(csr.data, "csr.data", nonempty=False, where="SparseDense")  # no NaN
        self.csr, self.relu = csr, validate.flag(relu, "relu", where="SparseDense")
        self._kernel = SparseKernel(csr, check=False)             # designs found once per batch
        self.bias = None if bias is None else validate.array(
            bias, "bias", nonempty=False, where="SparseDense", dtype=np.float32)
        if self.bias is not None and self.bias.shape != (csr.shape[0],):
            raise ValueError(f"bias must have shape ({csr.shape[0]},), got {self.bias.shape}")

    @classmethod
    def from_dense(cls, W, bias=None, mask=None, relu: bool = False):
        """Build from a dense ``W`` (out, in) and an optional 0/1 ``mask``."""
        if mask is not None:
            mask = check_mask(mask, np.shape(W), of="W's shape", where="SparseDense.from_dense")
        return cls(to_csr(W, mask), bias, relu)

    @property
    def nbytes(self) -> int:
        """Bytes of the CSR weights and float32 bias (:func:`~minicomp.metrics.storage_bytes`)."""
        return storage_bytes(self.csr, "csr", bias=self.bias is not None)

    def __call__(self, X) -> np.ndarray:
        Y = self._kernel(X)                                         # (B, out)
        if self.bias is not None:
            Y += self.bias
        return np.maximum(Y, 0, out=Y) if self.relu else Y

    def __repr__(self):
        out_features, in_features = self.csr.shape
        density = self.csr.nnz / max(out_features * in_features, 1)
        return f"SparseDense({in_features} -> {out_features}, density={density:.3f})"


class Int8Dense:
    r"""Inference-only int8 dense layer: 8-bit codes in and out, on
    :class:`minicomp.kernels.int8.Int8Kernel` (weights packed once; VNNI, AVX2 or plain Numba).

    Parameters
    ----------
    w_q : ndarray of int8, shape (out, in)
    bias_q : ndarray of int32, shape (out,), or None; on the grid ``S_x S_w``
    S_x, Z_x : float, int -- the input's scale and zero point
    S_w : float or array_like (out,) -- the weights' (symmetric) scales
    S_y, Z_y : float, int -- the output's scale and zero point
    relu : bool -- fuse a ReLU (lower clamp at ``Z_y``)
    x_dtype, out_dtype : uint8 or int8
    m0, shift : int32 arrays (out,), optional
        The fixed-point multiplier; by default computed with
        :func:`~minicomp.kernels.reference.quantize_multiplier` from
        :math:`M = S_x S_w / S_y`.

    Raises
    ------
    TypeError, ValueError, OverflowError
        ``w_q`` not int8, ``bias_q`` not int32, unsupported dtypes; non-finite or non-positive
        scales, zero points outside their dtype; a worst-case int32 accumulator overflow.

    Examples
    --------
    >>> layer = Int8Dense(np.array([[1, 2], [-4, 0]], np.int8), np.array([10, 0], np.int32),
    ...                   S_x=0.5, Z_x=128, S_w=1.0, S_y=1.0, Z_y=128, relu=True)
    >>> layer(np.array([[130, 128]], np.uint8))   # acc = [2+10, -8]; M = 0.5 -> [6, -4]
    array([[134, 128]], dtype=uint8)
    """

    def __init__(self, w_q, bias_q, S_x, Z_x, S_w, S_y, Z_y, relu=False,
                 x_dtype=np.uint8, out_dtype=np.uint8, m0=None, shift=None):
        where = "Int8Dense"
        self.w_q = np.ascontiguousarray(w_q)
        if self.w_q.dtype != np.int8 or self.w_q.ndim != 2:
            raise TypeError(f"{where}: w_q is {self.w_q.dtype} of shape {self.w_q.shape}; "
                            "expected a 2-D int8 array")
        out_features = self.w_q.shape[0]
        self.bias_q = None if bias_q is None else np.asarray(bias_q)   # int32: Int8Kernel checks
        self.x_dtype, self.out_dtype = np.dtype(x_dtype), np.dtype(out_dtype)
        for name, dtype, Z in (("Z_x", self.x_dtype, Z_x), ("Z_y", self.out_dtype, Z_y)):
            lo, hi = dtype_range(dtype, "x_dtype" if name == "Z_x" else "out_dtype")
            if not lo <= validate.integer(Z, name, where=where) <= hi:
                raise ValueError(f"{where}: {name}={Z}; expected an int in [{lo}, {hi}], "
                                 f"the range of {dtype}")
        for name, S in (("S_x", S_x), ("S_w", S_w), ("S_y", S_y)):
            S = validate.array(S, name, finite=False, where=where, dtype=np.float64)
            if not (np.isfinite(S).all() and (S > 0).all()) or S.shape not in (
                    (), (out_features,) if name == "S_w" else ()):
                raise ValueError(f"{where}: {name}={S}; expected a finite positive number"
                                 + (f" or one per output, ({out_features},)"
                                    if name == "S_w" else ""))
        self.S_x, self.S_y = float(S_x), float(S_y)
        self.S_w = np.broadcast_to(np.asarray(S_w, np.float64), (out_features,))   # (out,)
        self.Z_x, self.Z_y = int(Z_x), int(Z_y)
        self.relu = validate.flag(relu, "relu", where=where)
        if m0 is None or shift is None:
            m0, shift = quantize_multiplier(self.S_x * self.S_w / self.S_y)   # (out,) each
        self._kernel = Int8Kernel(self.w_q, self.bias_q, self.Z_x, m0, shift, self.Z_y,
                                  relu=self.relu, out_dtype=self.out_dtype,
                                  x_dtype=self.x_dtype)            # checks m0, shift, bias_q
        self.m0, self.shift = (v.astype(np.int32) for v in (self._kernel.m0, self._kernel.shift))

    def __call__(self, x_q) -> np.ndarray:
        x_q = np.asarray(x_q)
        if x_q.dtype != self.x_dtype:
            raise TypeError(f"Int8Dense: x_q is {x_q.dtype}; expected {self.x_dtype} codes")
        return self._kernel(x_q)                                   # (B, in) -> (B, out)

    @property
    def nbytes(self) -> int:
        """Bytes of the integer layer (:func:`~minicomp.metrics.storage_bytes`, "integer")."""
        return storage_bytes(self.w_q.shape, "integer", bias=self.bias_q is not None)

    def __repr__(self):
        return f"Int8Dense({self.w_q.shape[1]} -> {self.w_q.shape[0]}, relu={self.relu})"


class InferenceModel:
    """A chain of :class:`SparseDense` or :class:`Int8Dense` layers; float in, float out.

    :meth:`predict` and :meth:`forward_int` run every layer in ONE compiled call
    (:class:`minicomp.fused_model.FusedModel`, packed on first use: change no layer after
    that); ``fused=False`` runs the layers one by one, with the same int8 codes (bit for bit)
    and allclose floats. For int8 layers, :meth:`predict` is :meth:`quantize_input`, then
    integers through every layer (:meth:`forward_int`), then the last layer's output
    dequantized. ``X`` is checked by :meth:`predict` and :meth:`forward_int` (numbers,
    (batch, in), no NaN/inf), not by the layers: ``model.layers[k](x)`` computes on anything.
    """

    def __init__(self, layers):
        self.layers = list(layers) if isinstance(layers, (list, tuple)) else layers
        kind = type(self.layers[0]) if isinstance(self.layers, list) and self.layers else None
        if kind not in (SparseDense, Int8Dense) or any(type(m) is not kind for m in self.layers):
            raise TypeError("InferenceModel: layers must be a non-empty list of SparseDense "
                            "layers or of Int8Dense layers (not mixed)")
        shapes = [m.csr.shape if kind is SparseDense else m.w_q.shape for m in self.layers]
        for k, ((out, _), (_, n_in)) in enumerate(itertools.pairwise(shapes)):
            if out != n_in:
                raise ValueError(f"InferenceModel: layer {k} has {out} outputs but layer "
                                 f"{k + 1} takes {n_in} inputs")
        self.int8, self.in_features, self._fused = kind is Int8Dense, shapes[0][1], None

    def quantize_input(self, X) -> np.ndarray:
        """int8 models: ``q_x = clamp(round(X / S_x) + Z_x)`` in the first layer's input
        dtype, the only float step before the integers (``X`` finite: NaN has no code)."""
        if not self.int8:
            raise TypeError("InferenceModel: quantize_input and forward_int are only defined "
                            "for int8 models")
        first = self.layers[0]
        X = validate.array(X, "X", ndim=2, width=self.in_features, where="quantize_input",
                           dtype=np.float64)                     # (B, in), finite
        lo, hi = dtype_range(first.x_dtype, "x_dtype")
        return np.clip(np.rint(X / first.S_x) + first.Z_x, lo, hi).astype(first.x_dtype)

    def _run(self, X, where):
        self._fused = self._fused or FusedModel(self)           # packed on first use
        return self._fused(X, where)                              # (codes, Y)

    def forward_int(self, X, fused: bool = True) -> np.ndarray:
        """int8 models: the last layer's output codes for float inputs ``X``."""
        if fused and self.int8:
            return self._run(X, "quantize_input")[0]            # (B, out) 8-bit
        q = self.quantize_input(X)                                # (B, in) 8-bit
        for layer in self.layers:
            q = layer(q)                                          # (B, out) 8-bit
        return q

    def predict(self, X, fused: bool = True) -> np.ndarray:
        """Outputs for ``X`` (batch, in), float32 (int8: ``S_y (q_y - Z_y)``)."""
        if fused:
            return self._run(X, "quantize_input" if self.int8 else "predict")[1]
        if self.int8:
            last = self.layers[-1]
            q_y = self.forward_int(X, fused=False).astype(np.float64)
            return (last.S_y * (q_y - last.Z_y)).astype(np.float32)
        Y = validate.array(X, "X", ndim=2, width=self.in_features, where="predict",
                           dtype=np.float32)                     # (B, in), finite
        for layer in self.layers:
            Y = layer(Y)
        return Y

    __call__ = predict

    @property
    def nbytes(self) -> int:
        """Bytes of every layer (:func:`~minicomp.metrics.storage_bytes`)."""
        return sum(layer.nbytes for layer in self.layers)

    def __repr__(self):
        return "InferenceModel(\n" + "\n".join(f"  {m!r}" for m in self.layers) + "\n)"


def to_inference(net, masks=None, int8=None) -> InferenceModel:
    """Turn what the library produces into one inference-only model on the kernels.

    Parameters
    ----------
    net : Sequential, MLP or Dense (ReLU/Identity/Dropout between Dense layers), or a
        :class:`~minicomp.quant.ptq.QuantizedMLP` (symmetric int8 weights per tensor or
        channel, 8-bit activations): its integer-only model, whose codes equal
        :func:`~minicomp.quant.integer.simulate_codes`. A net gives a sparse model, or an
        int8 one with ``int8``.
    masks : dict, optional
        Sparse model (the default when ``int8`` is None). 0/1 arrays of each ``W``'s shape,
        keyed by layer index (``0``) or state-dict name (``"0.weight"``); a layer without one
        uses ``W.mask`` if set. Entries kept: nonzero weight and nonzero mask.
    int8 : list of dict, optional
        int8 model: one dict per Dense layer, in order, with the arguments of
        :class:`Int8Dense`: ``w_q`` (int8 (out, in)), ``bias_q`` (int32 (out,) or None),
        ``S_x``, ``Z_x``, ``S_w`` (scalar or (out,)), ``S_y``, ``Z_y``, optionally ``m0``,
        ``shift``, ``x_dtype``, ``out_dtype``. Layer ``k``'s ``(S_y, Z_y)`` must be layer
        ``k + 1``'s ``(S_x, Z_x)``. A ReLU after a Dense layer is fused into it.

    Returns
    -------
    InferenceModel

    Raises
    ------
    TypeError, ValueError
        Unsupported layers; NaN/inf weights (named: ``2.weight``); bad mask keys, shapes or
        values; int8 settings of the wrong number, keys or ``w_q`` shape, or not chaining; both
        masks and int8; a QuantizedMLP not int8 (symmetric weights per tensor/channel).

    Examples
    --------
    >>> from minicomp.nn import MLP
    >>> net = MLP([4, 3, 2], seed=0)
    >>> model = to_inference(net, masks={0: np.eye(3, 4)})
    >>> model
    InferenceModel(
      SparseDense(4 -> 3, density=0.250)
      SparseDense(3 -> 2, density=1.000)
    )
    >>> from minicomp.quant import quantize_mlp
    >>> X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    >>> to_inference(quantize_mlp(net, X)).forward_int(X).dtype
    dtype('uint8')
    """
    if isinstance(net, QuantizedMLP):
        if masks is not None or int8 is not None:
            raise ValueError("to_inference: net is a QuantizedMLP, which holds its int8 "
                             "settings; expected masks=None and int8=None")
        return InferenceModel([Int8Dense(**p) for p in int8_settings(net, "to_inference")])
    if masks is not None and int8 is not None:
        raise ValueError("to_inference: pass masks (sparse) or int8, not both")
    blocks = relu_blocks(net, "to_inference")
    if int8 is None:
        for name, p in net.named_parameters():                 # NaN/inf named: "2.weight"
            validate.array(p.data, name, nonempty=False, where="to_inference")
        masks = masks_by_layer(masks, {b.index: b.dense.W.shape for b in blocks},
                               "to_inference")
        return InferenceModel([SparseDense.from_dense(
            dense.W.data, None if dense.b is None else dense.b.data,
            masks.get(i, dense.W.mask), isinstance(act, ReLU)) for i, dense, act in blocks])
    n = len(int8) if isinstance(int8, (list, tuple)) else f"a {type(int8).__name__}, not"
    if n != len(blocks):
        raise ValueError(f"to_inference: int8 has {n} layer sets, net has {len(blocks)} Dense "
                         "layers; expected a list of one dict per Dense layer")
    layers = [_int8_layer(k, params, dense.W.shape, isinstance(act, ReLU))
              for k, ((_, dense, act), params) in enumerate(zip(blocks, int8))]
    for k, (a, b) in enumerate(itertools.pairwise(layers)):
        if (a.S_y, a.Z_y, a.out_dtype) != (b.S_x, b.Z_x, b.x_dtype):
            raise ValueError(f"to_inference: int8 layer {k} outputs (S_y={a.S_y}, Z_y={a.Z_y}, "
                             f"{a.out_dtype}) but layer {k + 1} expects (S_x={b.S_x}, "
                             f"Z_x={b.Z_x}, {b.x_dtype})")
    return InferenceModel(layers)


def _int8_layer(k, params, shape, relu) -> Int8Dense:
    """Layer ``k`` from its int8 settings (the :class:`Int8Dense` keys, ``w_q`` of W's shape)."""
    keys = set(params) if isinstance(params, dict) else set()
    if not isinstance(params, dict) or keys - set(INT8_KEYS + INT8_OPTIONAL) or set(
            INT8_KEYS) - keys:
        raise ValueError(f"to_inference: int8[{k}] is a {type(params).__name__} with keys "
                         f"{sorted(keys, key=str)}; expected a dict with {INT8_KEYS} and "
                         f"optionally {INT8_OPTIONAL} (a ReLU is fused from the net)")
    if np.shape(params["w_q"]) != shape:
        raise ValueError(f"to_inference: int8[{k}]['w_q'] has shape {np.shape(params['w_q'])}; "
                         f"expected the shape of Dense layer {k}'s W, {shape}")
    try:
        return Int8Dense(**params, relu=relu)
    except (TypeError, ValueError) as e:                        # name the layer
        raise type(e)(f"to_inference: int8[{k}]: {e}") from None
