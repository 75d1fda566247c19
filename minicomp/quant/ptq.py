r"""Post-training quantization (PTQ) of an MLP's weights and activations.

No retraining: weights are quantized from their own values (symmetric,
per channel or per tensor), activations from ranges observed on a small
**calibration set**. The result, :class:`QuantizedMLP`, is the *simulated*
quantized model: it computes in float32 but every weight, bias and
activation lies on its quantization grid,

.. math:: \hat x_0 = \mathrm{fq}(x;\ S_0, Z_0), \qquad
          \hat x_{l+1} = \mathrm{fq}\big(\mathrm{relu}(\hat x_l \hat W_l^\top
          + \hat b_l);\ S_{l+1}, Z_{l+1}\big),

with :math:`\hat W_l = S_{w} q_w` (int codes), the bias on the int32 grid of
scale :math:`S_l S_w` (:math:`\hat b = S_l S_w \mathrm{round}(b / (S_l S_w))`,
as in the integer model) and :math:`\mathrm{fq}` the affine fake-quantizer
of :mod:`minicomp.quant.uniform`. Calibration observes the *float*
network's activations after each ReLU (so hidden ranges start at 0 and
the zero point is 0); ``minicomp.deploy.to_inference(qnet)`` runs the
same model in integers only (:mod:`minicomp.quant.integer`).

References
----------
Jacob, B. et al. (2018). arXiv:1712.05877.
Krishnamoorthi, R. (2018). arXiv:1806.08342, section 3 (PTQ, per-channel
weights, per-layer activations).

Deviations: only ``Dense`` layers each followed by ``ReLU`` or nothing
(:func:`relu_blocks` over the walker :func:`minicomp.blocks.dense_blocks`;
the nets of :class:`minicomp.MLP` with ReLU); per-group weights keep a
float bias (a group has no single accumulator scale).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import validate
from ..blocks import dense_blocks, numpy_forward
from ..nn import Identity, Module, ReLU
from ..tensor import Tensor
from .granularity import GRANULARITIES, QTensor, quantize_tensor
from .observers import OBSERVERS, make_observer
from .uniform import check_bits, check_finite, fake_quantize


def relu_blocks(net, where=None) -> list:
    """THE walker's blocks of ``net``, each Dense followed by ReLU or nothing.

    Quantized and int8 models fuse the ReLU as a clamp at the zero point;
    other activations (Sigmoid, Tanh) have no such form here.

    Raises
    ------
    TypeError
        What :func:`minicomp.blocks.dense_blocks` refuses, or another activation.

    Examples
    --------
    >>> from minicomp import MLP
    >>> [type(b.act).__name__ for b in relu_blocks(MLP([2, 3, 1]))]
    ['ReLU', 'Identity']
    """
    blocks = dense_blocks(net, where)
    for b in blocks:
        if not isinstance(b.act, (ReLU, Identity)):
            raise TypeError(f"{where + ': ' if where else ''}the {type(b.act).__name__} after "
                            f"the Dense layer at {b.index} is not supported; expected ReLU or "
                            "no activation (quantization fuses ReLU as a clamp)")
    return blocks


def check_inputs(in_features: int, X, name: str = "X_calib", where=None,
                 what: str = "calibration set", varied: bool = False) -> np.ndarray:
    """A non-empty, finite (N, ``in_features``) batch of numbers, as float64.

    ``varied=True`` (calibration) also refuses a batch whose values are all
    equal: it has no range to observe, so every activation range would be a
    single point and the quantized net would collapse.

    Examples
    --------
    >>> check_inputs(3, np.zeros((0, 3)), where="calibrate")
    Traceback (most recent call last):
        ...
    ValueError: calibrate: X_calib has shape (0, 3); expected a non-empty (N, 3) calibration set
    >>> check_inputs(2, np.zeros((4, 2)), where="calibrate", varied=True)
    Traceback (most recent call last):
        ...
    ValueError: calibrate: X_calib has all its 8 values equal to 0.0: a zero-range calibration \
set (nothing to observe); expected real inputs, e.g. a few hundred training rows
    """
    pre = f"{where}: " if where else ""
    if X is None:
        raise TypeError(f"{pre}{name} is None; expected a {what} (N, {in_features})")
    X = validate.array(getattr(X, "data", X), name, finite=False, nonempty=False, where=where)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"{pre}{name} has shape {X.shape}; expected a non-empty "
                         f"(N, {in_features}) {what}")
    validate.array(X, name, width=in_features, finite=False, where=where)
    X = check_finite(name, X, where)
    if varied and X.min() == X.max():
        raise ValueError(f"{pre}{name} has all its {X.size} values equal to {X.flat[0]}: a "
                         f"zero-range {what} (nothing to observe); expected real inputs, e.g. "
                         "a few hundred training rows")
    return X


def calibrate(net, X_calib, observer: str = "minmax", bits_a: int = 8, batch_size: int = 256,
              **observer_kwargs) -> list:
    """Observe the float net's activations: input, then each block's output.

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers (see :func:`relu_blocks`)
    X_calib : ndarray (N, in), the calibration set (N >= 1)
    observer : {"minmax", "moving_average", "percentile", "mse"}
    bits_a : int, activation bits (used by the "mse" observer's search)
    batch_size : int, rows per forward pass
    **observer_kwargs : passed to the observer's constructor

    Returns
    -------
    list of Observer, ``len(blocks) + 1`` of them.

    Raises
    ------
    ValueError
        ``X_calib`` has no rows (empty calibration set), the wrong width,
        holds NaN/inf or only one value repeated (zero range).
    """
    blocks = relu_blocks(net, "calibrate")
    X_calib = check_inputs(blocks[0].dense.in_features, X_calib, "X_calib", "calibrate",
                           varied=True)
    observer = validate.choice(observer, "observer", sorted(OBSERVERS), where="calibrate")
    batch_size = validate.integer(batch_size, "batch_size", low=1, where="calibrate")
    if observer == "mse":
        observer_kwargs.setdefault("bits", bits_a)
    observers = [make_observer(observer, **observer_kwargs) for _ in range(len(blocks) + 1)]
    for start in range(0, len(X_calib), batch_size):
        Y, inputs = numpy_forward(net, X_calib[start:start + batch_size], inputs=True,
                                  where="calibrate")
        for observer, x in zip(observers, [*inputs, Y]):                    # (B, width) each
            observer.observe(x)
    return observers


@dataclass
class QuantLayer:
    """One quantized Dense (+ ReLU) block of a :class:`QuantizedMLP`."""

    W: QTensor               # weight codes and scales (symmetric)
    b_hat: np.ndarray        # bias on its grid, float32 (out,)
    relu: bool
    S_y: float | None        # output activation scale (None: not quantized)
    Z_y: int | None


class QuantizedMLP(Module):
    """The simulated-quantization model of :func:`quantize_mlp` (float32 arithmetic)."""

    def __init__(self, layers, S_in, Z_in, bits_a):
        self.qlayers, self.S_in, self.Z_in, self.bits_a = layers, S_in, Z_in, bits_a
        self.W_hat = [layer.W.dequantize() for layer in layers]              # (out, in) each

    def _fq(self, x, S, Z):
        return x if self.bits_a is None else fake_quantize(x, S, Z, self.bits_a, "affine")

    def forward(self, x):
        x = validate.array(getattr(x, "data", x), "x", ndim=2, width=self.qlayers[0].W.q.shape[1],
                           where="QuantizedMLP", dtype=np.float32)          # (N, in), finite
        x = self._fq(x, self.S_in, self.Z_in)
        for layer, W_hat in zip(self.qlayers, self.W_hat):
            x = x @ W_hat.T + layer.b_hat                                    # (N, out)
            x = np.maximum(x, 0) if layer.relu else x
            x = self._fq(x, layer.S_y, layer.Z_y)
        return Tensor(x)

    def extra_repr(self):
        w = self.qlayers[0].W
        return f"W{w.bits} {w.granularity}, A{self.bits_a}, {len(self.qlayers)} layers"


def quantize_mlp(net, X_calib=None, bits: int = 8, bits_a: int | None = 8,
                 granularity: str = "channel", observer: str = "minmax",
                 group_size: int | None = None, **observer_kwargs) -> QuantizedMLP:
    """Post-training quantization of an MLP (the float net is not modified).

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers, e.g. :class:`minicomp.MLP`
    X_calib : ndarray (N, in), the calibration set (needed when ``bits_a``)
    bits : int, weight bits (symmetric, 2–16)
    bits_a : int or None, activation bits (affine, unsigned); None keeps
        activations in float (weight-only quantization)
    granularity : {"tensor", "channel", "group"} of the weights
    observer : {"minmax", "moving_average", "percentile", "mse"}
    group_size : int, for ``granularity="group"``

    Returns
    -------
    QuantizedMLP

    Raises
    ------
    ValueError
        Empty or zero-range (all values equal) calibration set, NaN/inf
        weights or inputs, bad bits.
    TypeError
        A layer other than Dense / ReLU; ``X_calib`` None with ``bits_a``.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([4, 8, 3], seed=0)
    >>> X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    >>> qnet = quantize_mlp(net, X, bits=8)
    >>> err = np.abs(qnet(X).data - net(X).data).max()
    >>> bool(err < 0.05)
    True
    """
    where = "quantize_mlp"
    blocks = relu_blocks(net, where)
    check_bits(bits, "symmetric", where=where)
    if bits_a is not None:
        check_bits(bits_a, "affine", "bits_a", where)
    validate.choice(granularity, "granularity", GRANULARITIES, where=where)
    validate.choice(observer, "observer", sorted(OBSERVERS), where=where)
    for k, block in enumerate(blocks):                       # before calibration runs them
        check_finite(f"layer {k} weights", block.dense.W.data, where)
    if X_calib is None and bits_a is not None:
        raise TypeError(f"{where}: X_calib is None; expected a calibration set (N, "
                        f"{blocks[0].dense.in_features}) to quantize activations, or bits_a=None "
                        "for weight-only quantization")
    if X_calib is not None:
        X_calib = check_inputs(blocks[0].dense.in_features, X_calib, "X_calib", where,
                               varied=True)
    observers = calibrate(net, X_calib, observer, bits_a, **observer_kwargs) \
        if bits_a is not None else None
    S_in, Z_in = observers[0].qparams(bits_a) if observers else (None, None)
    S_x, layers = S_in, []
    for k, (_, dense, act) in enumerate(blocks):
        W = check_finite(f"layer {k} weights", dense.W.data)
        Wq = quantize_tensor(W, bits, "symmetric", granularity, group_size)
        b = np.zeros(W.shape[0]) if dense.b is None else check_finite(f"layer {k} bias",
                                                                      dense.b.data)
        if bits_a is not None and granularity != "group":
            S_b = S_x * np.broadcast_to(Wq.S, (W.shape[0], 1))[:, 0]          # (out,)
            b_hat = np.rint(b / S_b) * S_b                                   # int32 grid
        else:
            b_hat = b
        S_y, Z_y = observers[k + 1].qparams(bits_a) if observers else (None, None)
        layers.append(QuantLayer(Wq, b_hat.astype(np.float32), isinstance(act, ReLU), S_y, Z_y))
        S_x = S_y
    return QuantizedMLP(layers, S_in, Z_in, bits_a)


def quantize_weights(net, bits: int = 8, granularity: str = "channel", scheme="symmetric",
                     group_size: int | None = None) -> None:
    """Replace every Dense weight of ``net`` by its fake-quantized value, in place.

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers
    bits, granularity, scheme, group_size : as in
        :func:`~minicomp.quant.granularity.quantize_tensor`
    """
    for k, block in enumerate(relu_blocks(net, "quantize_weights")):
        W = check_finite(f"layer {k} weights", block.dense.W.data, "quantize_weights")
        W_q = quantize_tensor(W, bits, scheme, granularity, group_size)
        block.dense.W.data[...] = W_q.dequantize()
