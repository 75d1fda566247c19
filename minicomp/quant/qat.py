r"""Quantization-aware training: fake quantization forward, straight-through backward.

The forward pass uses quantized weights and activations,
:math:`\hat x = \mathrm{fq}(x) = S\,(\mathrm{clamp}(\mathrm{round}(x/S) + Z) - Z)`,
so the loss sees the rounding error. ``round`` has derivative 0 almost
everywhere, so the backward pass uses the **straight-through estimator**
(STE): the derivative of the identity inside the representable range and
0 outside it, where the value was clipped,

.. math:: \frac{\partial \hat x}{\partial x} =
          \mathbf 1\big[S(q_{min} - Z) \le x \le S(q_{max} - Z)\big].

:func:`fake_quantize_ste` is that op written as a new engine primitive (its own
``_backward`` closure, like ``relu`` in :mod:`minicomp.tensor`).
:class:`QATMLP` wraps a float MLP (sharing its parameters): weights are
fake-quantized per output channel with min-max scales recomputed at every
step, activations with moving-average min-max ranges that freeze in eval
mode. :func:`qat_finetune` fine-tunes it from the float model through
:func:`minicomp.fit`; :meth:`QATMLP.to_quantized` then gives the
:class:`~minicomp.quant.ptq.QuantizedMLP` with the learned ranges.

References
----------
Bengio, Y., Léonard, N. & Courville, A. (2013). Estimating or Propagating
Gradients Through Stochastic Neurons. arXiv:1308.3432 (the STE).
Jacob, B. et al. (2018). arXiv:1712.05877, section 3 (simulated quantization
in training, EMA ranges).
Krishnamoorthi, R. (2018). arXiv:1806.08342, section 3.2.

Deviations: scales get no gradient (no LSQ/PACT); the bias stays float
during training and is put on its int32 grid by ``to_quantized``.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import numpy_forward
from ..nn import Module, ReLU
from ..optim import SGD, CosineLR
from ..tensor import Tensor, accumulate
from ..train import fit
from .granularity import QTensor, quantize_tensor
from .observers import MovingAverageMinMaxObserver
from .ptq import QuantizedMLP, QuantLayer, check_inputs, relu_blocks
from .uniform import check_bits, fake_quantize, real_range


def fake_quantize_ste(x: Tensor, S, Z, bits: int, scheme: str = "affine") -> Tensor:
    """:func:`~minicomp.quant.uniform.fake_quantize` of a Tensor, with the STE gradient:
    the identity inside the range, 0 outside.

    Parameters
    ----------
    x : Tensor
    S, Z : scale(s) and zero point(s), broadcastable to ``x`` (constants)
    bits : int
    scheme : {"affine", "symmetric"}

    Examples
    --------
    >>> x = Tensor([-2.0, 0.3, 0.9, 5.0], requires_grad=True)
    >>> y = fake_quantize_ste(x, 0.5, 0, 2, "symmetric")   # range [-0.5, 0.5]
    >>> y.data
    array([-0.5,  0.5,  0.5,  0.5], dtype=float32)
    >>> y.sum().backward(); x.grad                         # 1 inside, 0 outside
    array([0., 1., 0., 0.], dtype=float32)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"fake_quantize_ste: x is a {type(x).__name__}; expected a Tensor "
                        "(use fake_quantize for arrays)")
    lo, hi = real_range(S, Z, bits, scheme)
    y = fake_quantize(x.data, S, Z, bits, scheme).astype(x.data.dtype)
    out = Tensor._make(y, (x,), "fake_quantize_ste")
    if out.requires_grad:
        def _backward():
            inside = (x.data >= lo) & (x.data <= hi)       # clipped values get no gradient
            accumulate(x, out.grad * inside)
        out._backward = _backward
    return out


def weight_qparams(W: np.ndarray, bits: int, granularity: str = "channel"):
    """Symmetric min-max scales of ``W`` (as in PTQ), and Z = 0."""
    q = quantize_tensor(W, bits, "symmetric", granularity)
    return q.S, q.Z


class QATMLP(Module):
    """Fake-quantized view of a float MLP for training (parameters are shared).

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers; its weights are trained in place
    bits : int, weight bits (symmetric)
    bits_a : int or None, activation bits (affine); None: float activations
    granularity : {"tensor", "channel"}
    c : float, moving-average weight of the activation observers
    X_init : ndarray, optional; inputs that initialise the activation ranges
    """

    def __init__(self, net, bits: int = 4, bits_a: int | None = 8, granularity="channel",
                 c: float = 0.01, X_init=None):
        where = "QATMLP"
        self.net, self.blocks = net, relu_blocks(net, where)
        bits = check_bits(bits, "symmetric", where=where)
        bits_a = None if bits_a is None else check_bits(bits_a, "affine", "bits_a", where)
        granularity = validate.choice(granularity, "granularity", ("tensor", "channel"),
                                      where=where)
        self.bits, self.bits_a, self.granularity = bits, bits_a, granularity
        self.n_in = self.blocks[0].dense.in_features
        self.observers = [MovingAverageMinMaxObserver(c) for _ in range(len(self.blocks) + 1)]
        if X_init is not None and bits_a is not None:
            X_init = check_inputs(self.n_in, X_init, "X_init", where, "batch")
            self._observe_float(X_init.astype(np.float32))

    def _observe_float(self, x):
        Y, inputs = numpy_forward(self.net, x, inputs=True)
        for observer, h in zip(self.observers, [*inputs, Y]):          # (N, width) each
            observer.observe(h)

    def parameters(self):
        return self.net.parameters()

    def named_parameters(self, prefix: str = ""):
        return self.net.named_parameters(prefix)

    def _act(self, x: Tensor, k: int) -> Tensor:
        if self.bits_a is None:
            return x
        if self.training:
            self.observers[k].observe(x.data)
        S, Z = self.observers[k].qparams(self.bits_a, "affine")
        return fake_quantize_ste(x, S, Z, self.bits_a, "affine")

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(check_inputs(self.n_in, x, "x", "QATMLP",
                                                                "batch").astype(np.float32))
        if x.data.ndim != 2 or x.data.shape[1] != self.n_in or not np.isfinite(x.data).all():
            check_inputs(self.n_in, x.data, "x", "QATMLP", "batch")        # raises, clearly
        x = self._act(x, 0)
        for k, (_, dense, act) in enumerate(self.blocks):
            S, Z = weight_qparams(dense.W.data, self.bits, self.granularity)
            W_hat = fake_quantize_ste(dense.W, S, Z, self.bits, "symmetric")    # (out, in)
            x = x.linear(W_hat, dense.b)                                        # (N, out)
            x = self._act(x.relu() if isinstance(act, ReLU) else x, k + 1)
        return x

    def to_quantized(self) -> QuantizedMLP:
        """The learned model as a :class:`QuantizedMLP` (same grids as the forward pass)."""
        layers, S_x = [], None
        S_in, Z_in = (self.observers[0].qparams(self.bits_a) if self.bits_a else (None, None))
        S_x = S_in
        for k, (_, dense, act) in enumerate(self.blocks):
            Wq: QTensor = quantize_tensor(dense.W.data, self.bits, "symmetric", self.granularity)
            b = np.zeros(Wq.q.shape[0]) if dense.b is None else dense.b.data.astype(np.float64)
            if self.bits_a is not None:
                S_b = S_x * np.broadcast_to(Wq.S, (len(b), 1))[:, 0]             # (out,)
                b = np.rint(b / S_b) * S_b
            S_y, Z_y = (self.observers[k + 1].qparams(self.bits_a) if self.bits_a
                        else (None, None))
            layers.append(QuantLayer(Wq, b.astype(np.float32), isinstance(act, ReLU), S_y, Z_y))
            S_x = S_y
        return QuantizedMLP(layers, S_in, Z_in, self.bits_a)


def training_data(net, X, y, epochs, where) -> tuple:
    """``(X, y, epochs)`` of a quantization-aware fine-tuning of ``net``, checked: X float32
    (N, in), one label per row within the net's outputs, epochs >= 1 (before CosineLR)."""
    blocks = relu_blocks(net, where)
    X = check_inputs(blocks[0].dense.in_features, X, "X", where, "training set")
    y = validate.labels(y, "y", n=len(X), num_classes=blocks[-1].dense.out_features,
                        where=where)
    return X.astype(np.float32), y, validate.integer(epochs, "epochs", low=1, where=where)


def qat_finetune(net, X, y, bits: int = 4, bits_a: int | None = 8, epochs: int = 5,
                 lr: float = 0.01, momentum: float = 0.9, batch_size: int = 32,
                 granularity: str = "channel", seed=0, quiet: bool = True):
    """Fine-tune ``net`` (in place) with fake quantization; return ``(QATMLP, History)``.

    SGD with momentum and a cosine schedule, through :func:`minicomp.fit`.
    The activation ranges start from the float net's ranges on ``X``.

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers, trained in float
    X, y : training inputs (N, in) and integer labels (N,)
    bits, bits_a : weight bits (symmetric) and activation bits (affine, or None)
    epochs, lr, momentum, batch_size : the fine-tuning recipe
    granularity : {"tensor", "channel"} of the weight scales
    seed : int or Generator, shuffling seed
    quiet : bool, no progress bar

    Returns
    -------
    qat : QATMLP in eval mode (``qat.to_quantized()`` gives the QuantizedMLP)
    history : History of :func:`minicomp.fit`
    """
    X, y, epochs = training_data(net, X, y, epochs, "qat_finetune")
    qat = QATMLP(net, bits, bits_a, granularity, X_init=X[:1024])
    opt = SGD(net.parameters(), lr=lr, momentum=momentum)
    history = fit(qat, X, y, optimizer=opt, epochs=epochs, batch_size=batch_size, seed=seed,
                  scheduler=CosineLR(opt, T=epochs), quiet=quiet, desc=f"QAT W{bits}")
    qat.eval()
    return qat, history
