r"""Trained model → inference-only model on the sparse and int8 kernels.

Scope: :class:`SparseDense` (CSR weights, :mod:`minicomp.kernels.sparse`),
:class:`Int8Dense` (int8 weights, int32 accumulation, fixed-point
requantization, :mod:`minicomp.kernels.int8`), :class:`InferenceModel` and
:func:`to_inference`, which turns a trained :class:`~minicomp.nn.Sequential`
or :class:`~minicomp.nn.MLP` into one. Inference only: no gradients, no
training mode, NumPy arrays in and out.

Sparse: each Dense layer ``y = x W^T + b`` keeps only the entries of ``W``
that are nonzero and not masked, in CSR; predictions are allclose to the
float model's.

int8 (Jacob et al. 2018): activations are ``r = S (q - Z)`` with uint8/int8
``q``; weights are int8 with ``Z_w = 0`` and one scale per output channel.
A layer computes

.. math:: q_{y,i} = Z_y + M_i \Big(\sum_j (q_{x,j} - Z_x) q_{w,ij}
          + q_{b,i}\Big),\qquad M_i = S_x S_{w,i} / S_y \approx m_{0,i} 2^{-shift_i},

a ReLU after the layer is fused (lower clamp ``Z_y``). The model quantizes
its float input once with the first layer's ``(S_x, Z_x)``, runs integers
through every layer and dequantizes the last output. Its integers equal
those of :func:`minicomp.kernels.reference.int8_linear` layer by layer.

Deviation: only Dense, ReLU and Identity (and Dropout, which is the identity
at inference) are supported; other activations raise ``ValueError``.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import validate
from .kernels import reference
from .kernels.int8 import Int8Linear
from .kernels.sparse import check_csr, kernel_arrays, sparse_linear, to_csr
from .nn import Dense, Dropout, Identity, ReLU, Sequential
from .prune.mask import check_mask, masks_by_layer

INT8_KEYS = ("w_q", "bias_q", "x_scale", "x_zero_point", "w_scale", "y_scale", "y_zero_point")
INT8_OPTIONAL = ("m0", "shift", "x_dtype", "out_dtype")


class SparseDense:
    """Inference-only dense layer with CSR weights: ``y = x W^T + b``.

    Parameters
    ----------
    csr : CSR, shape (out, in), checked once here
    bias : array_like, shape (out,), optional
    relu : bool
        Apply ``max(y, 0)`` after the product (a fused ReLU).

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
        self._kernel_csr = kernel_arrays(csr)                      # index dtypes of the kernels
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
        """Bytes of the stored weights and bias."""
        return self.csr.nbytes + (0 if self.bias is None else self.bias.nbytes)

    def __call__(self, X) -> np.ndarray:
        Y = sparse_linear(X, self._kernel_csr, self.bias, check=False)  # (B, out)
        return np.maximum(Y, 0, out=Y) if self.relu else Y

    def __repr__(self):
        out_features, in_features = self.csr.shape
        density = self.csr.nnz / max(out_features * in_features, 1)
        return f"SparseDense({in_features} -> {out_features}, density={density:.3f})"


class Int8Dense:
    r"""Inference-only int8 dense layer: uint8/int8 in, uint8/int8 out.

    Parameters
    ----------
    w_q : ndarray of int8, shape (out, in)
    bias_q : ndarray of int32, shape (out,), or None; scale ``S_x S_w``
    x_scale, x_zero_point : float, int -- the input's quantization
    w_scale : float or array_like (out,) -- the weights' (symmetric) scales
    y_scale, y_zero_point : float, int -- the output's quantization
    relu : bool -- fuse a ReLU (lower clamp at ``y_zero_point``)
    x_dtype, out_dtype : uint8 or int8
    m0, shift : int32 arrays (out,), optional
        The fixed-point multiplier; by default computed with
        :func:`~minicomp.kernels.reference.quantize_multiplier` from
        :math:`M = S_x S_w / S_y`.

    Raises
    ------
    TypeError
        ``w_q`` not int8, ``bias_q`` not int32, unsupported 8-bit dtypes.
    ValueError
        Non-finite or non-positive scales, zero points outside their dtype.
    OverflowError
        (fast kernel) Some output's worst-case int32 accumulator could overflow.

    Notes
    -----
    Runs on :class:`minicomp.kernels.int8.Int8Linear` (weights packed once,
    VNNI where the CPU has it, else AVX2, else plain Numba), which gives the
    same integers as :func:`minicomp.kernels.reference.int8_linear`.

    Examples
    --------
    >>> layer = Int8Dense(np.array([[1, 2], [-4, 0]], np.int8), np.array([10, 0], np.int32),
    ...                   x_scale=0.5, x_zero_point=128, w_scale=1.0, y_scale=1.0,
    ...                   y_zero_point=128, relu=True)
    >>> layer(np.array([[130, 128]], np.uint8))   # acc = [2+10, -8]; M = 0.5 -> [6, -4]
    array([[134, 128]], dtype=uint8)
    """

    def __init__(self, w_q, bias_q, x_scale, x_zero_point, w_scale, y_scale, y_zero_point,
                 relu=False, x_dtype=np.uint8, out_dtype=np.uint8, m0=None, shift=None):
        self.w_q = np.ascontiguousarray(w_q)
        if self.w_q.dtype != np.int8 or self.w_q.ndim != 2:
            raise TypeError(f"w_q must be a 2-D int8 array, got {self.w_q.dtype} {self.w_q.shape}")
        out_features = self.w_q.shape[0]
        self.bias_q = None if bias_q is None else np.asarray(bias_q)   # int32: Int8Linear checks
        self.x_dtype, self.out_dtype = np.dtype(x_dtype), np.dtype(out_dtype)
        for name, dtype, zp in (("x", self.x_dtype, x_zero_point),
                                ("y", self.out_dtype, y_zero_point)):
            lo, hi = reference._qrange(dtype, "x_dtype" if name == "x" else "out_dtype")
            zp = validate.integer(zp, f"{name}_zero_point", where="Int8Dense")
            if not lo <= zp <= hi:
                raise ValueError(f"{name}_zero_point must lie in [{lo}, {hi}], got {zp}")
        scales = {"x_scale": x_scale, "w_scale": w_scale, "y_scale": y_scale}
        for name, s in scales.items():
            s = validate.array(s, name, finite=False, where="Int8Dense", dtype=np.float64)
            if not (np.isfinite(s).all() and (s > 0).all()) or s.shape not in (
                    (), (out_features,) if name == "w_scale" else ()):
                raise ValueError(f"{name} must be finite and positive, one number (w_scale: "
                                 f"or one per output, ({out_features},)), got {s}")
        self.x_scale, self.y_scale = float(x_scale), float(y_scale)
        self.w_scale = np.broadcast_to(np.asarray(w_scale, np.float64), (out_features,))
        self.x_zero_point, self.y_zero_point = int(x_zero_point), int(y_zero_point)
        self.relu = validate.flag(relu, "relu", where="Int8Dense")
        if m0 is None or shift is None:
            m0, shift = reference.quantize_multiplier(
                self.x_scale * self.w_scale / self.y_scale)         # (out,)
        self._layer = Int8Linear(self.w_q, self.bias_q, self.x_zero_point, m0, shift,
                                 self.y_zero_point, relu=self.relu, out_dtype=self.out_dtype,
                                 x_dtype=self.x_dtype)             # checks m0, shift, bias_q
        self.m0, self.shift = (v.astype(np.int32) for v in (self._layer.m0, self._layer.shift))

    def __call__(self, x_q) -> np.ndarray:
        x_q = np.asarray(x_q)
        if x_q.dtype != self.x_dtype:
            raise TypeError(f"x_q must be {self.x_dtype}, got {x_q.dtype}")
        return self._layer(x_q)

    def quantize_input(self, X) -> np.ndarray:
        """``q = clamp(round(X / S_x) + Z_x)`` in the input dtype; NaN/inf refused (no code)."""
        lo, hi = reference._qrange(self.x_dtype)
        X = validate.array(X, "X", ndim=2, width=self.w_q.shape[1], where="Int8Dense")  # finite
        q = np.rint(np.asarray(X, np.float64) / self.x_scale) + self.x_zero_point
        return np.clip(q, lo, hi).astype(self.x_dtype)

    def dequantize_output(self, y_q) -> np.ndarray:
        """``S_y (q - Z_y)`` as float32."""
        return (self.y_scale * (y_q.astype(np.float64) - self.y_zero_point)).astype(np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored weights, bias and multipliers."""
        return sum(a.nbytes for a in (self.w_q, self.m0, self.shift, self.bias_q) if a is not None)

    def __repr__(self):
        return f"Int8Dense({self.w_q.shape[1]} -> {self.w_q.shape[0]}, relu={self.relu})"


class InferenceModel:
    """A chain of :class:`SparseDense` or :class:`Int8Dense` layers; float in, float out.

    For int8 layers, ``X`` is quantized once by the first layer and the last
    layer's output is dequantized; :meth:`forward_int` returns the integers.
    ``X`` is checked here (numbers, (batch, in), no NaN/inf), not in the kernels.
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
        self.int8, self.in_features = kind is Int8Dense, shapes[0][1]

    def forward_int(self, X) -> np.ndarray:
        """int8 models: the last layer's output integers."""
        if not self.int8:
            raise TypeError("forward_int is only defined for int8 models")
        q = self.layers[0].quantize_input(X)                      # (B, in) 8-bit
        for layer in self.layers:
            q = layer(q)                                          # (B, out) 8-bit
        return q

    def predict(self, X) -> np.ndarray:
        """Outputs for ``X`` (batch, in), float32."""
        if self.int8:
            return self.layers[-1].dequantize_output(self.forward_int(X))
        Y = validate.array(X, "X", ndim=2, width=self.in_features, where="predict",
                           dtype=np.float32)                     # (B, in), finite
        for layer in self.layers:
            Y = layer(Y)
        return Y

    __call__ = predict

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    def __repr__(self):
        return "InferenceModel(\n" + "\n".join(f"  {m!r}" for m in self.layers) + "\n)"


def _dense_with_relu(net):
    """[(index, Dense, relu_follows)] of a Sequential, refusing unsupported layers."""
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a Sequential or MLP, got {type(net).__name__}")
    found = []                        # Identity/Dropout are the identity at inference
    for i, layer in enumerate(net):
        if isinstance(layer, Dense):
            found.append([i, layer, False])
        elif isinstance(layer, ReLU):
            if not found:
                raise ValueError(f"to_inference: the ReLU at {i} comes before any Dense layer")
            found[-1][2] = True           # relu(relu(y)) = relu(y)
        elif not isinstance(layer, (Identity, Dropout)):
            raise ValueError(f"to_inference: layer {i} is {type(layer).__name__}; "
                             "only Dense, ReLU, Identity and Dropout are supported")
    if not found:
        raise ValueError("to_inference: net has no Dense layer")
    return found


def to_inference(net, masks=None, int8=None) -> InferenceModel:
    """Turn a trained Sequential/MLP into an inference-only model on the kernels.

    Parameters
    ----------
    net : Sequential or MLP of Dense layers with ReLU/Identity/Dropout between
    masks : dict, optional
        Sparse model (the default when ``int8`` is None). 0/1 arrays of each
        ``W``'s shape, keyed by layer index (``0``) or state-dict name
        (``"0.weight"``); a layer without one uses ``W.mask`` if set. The
        entries kept are those with a nonzero weight and a nonzero mask.
    int8 : list of dict, optional
        int8 model: one dict per Dense layer, in order, with the keys
        ``w_q`` (int8 (out, in)), ``bias_q`` (int32 (out,) or None),
        ``x_scale``, ``x_zero_point``, ``w_scale`` (scalar or (out,)),
        ``y_scale``, ``y_zero_point`` and optionally ``m0``, ``shift``,
        ``x_dtype``, ``out_dtype`` -- the arguments of :class:`Int8Dense`.
        Layer ``k``'s output quantization must be layer ``k + 1``'s input
        one. A ReLU after a Dense layer is fused into it.

    Returns
    -------
    InferenceModel

    Raises
    ------
    TypeError, ValueError
        Unsupported layers; unknown mask keys, masks not 0/1 of W's shape;
        int8 settings of the wrong number, keys or ``w_q`` shape, or whose
        quantization does not chain; both ``masks`` and ``int8``.

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
    """
    if masks is not None and int8 is not None:
        raise ValueError("to_inference: pass masks (sparse) or int8, not both")
    found = _dense_with_relu(net)
    if int8 is None:
        masks = masks_by_layer(masks, {i: d.W.shape for i, d, _ in found}, "to_inference")
        layers = []
        for i, dense, relu in found:
            mask = masks.get(i, dense.W.mask)
            bias = None if dense.b is None else dense.b.data
            layers.append(SparseDense.from_dense(dense.W.data, bias, mask, relu))
        return InferenceModel(layers)
    n = len(int8) if isinstance(int8, (list, tuple)) else f"a {type(int8).__name__}, not"
    if n != len(found):
        raise ValueError(f"to_inference: int8 has {n} layer sets, net has {len(found)} Dense "
                         "layers; expected a list of one dict per Dense layer")
    layers = [_int8_layer(k, params, dense.W.shape, relu)
              for k, ((_, dense, relu), params) in enumerate(zip(found, int8))]
    for k, (a, b) in enumerate(itertools.pairwise(layers)):
        if (a.y_scale, a.y_zero_point, a.out_dtype) != (b.x_scale, b.x_zero_point, b.x_dtype):
            raise ValueError(f"to_inference: int8 layer {k} outputs (scale {a.y_scale}, zero "
                             f"point {a.y_zero_point}, {a.out_dtype}) but layer {k + 1} "
                             f"expects ({b.x_scale}, {b.x_zero_point}, {b.x_dtype})")
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
