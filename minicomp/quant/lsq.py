r"""Learned quantizers: LSQ and LSQ+ learn the step size (and offset), PACT the clipping range.

**LSQ** (Esser et al. 2020). With :math:`u = (v - \beta)/s` and the integer
range :math:`[-Q_n, Q_p]` (signed b bits: :math:`Q_n = 2^{b-1}`,
:math:`Q_p = 2^{b-1} - 1`; unsigned: :math:`0, 2^b - 1`),

.. math:: \hat v = s\, \mathrm{round}\big(\mathrm{clip}(u, -Q_n, Q_p)\big) + \beta,

and the step size gets a gradient through the straight-through estimator
(``round`` passes the gradient of the identity), scaled by
:math:`g = 1/\sqrt{N Q_p}` (``N`` values share ``s``) so that its updates
are as large, relative to ``s``, as the weights' are relative to them:

.. math:: \frac{\partial \hat v}{\partial s} = g \cdot \begin{cases}
          \mathrm{round}(u) - u & -Q_n < u < Q_p \\ -Q_n & u \le -Q_n \\
          Q_p & u \ge Q_p \end{cases},\qquad
          \frac{\partial \hat v}{\partial v} = \mathbb 1[-Q_n < u < Q_p].

Initialisation: :math:`s = 2\,\mathrm{mean}|v| / \sqrt{Q_p}`.
**LSQ+** (Bhalgat et al. 2020) adds the learned offset :math:`\beta`, with
:math:`\partial \hat v / \partial \beta = g \cdot \mathbb 1[\text{clipped}]`.
**PACT** (Choi et al. 2018) learns the clip of a ReLU, :math:`y = \mathrm{clip}(x, 0,
\alpha)` quantized on :math:`2^b - 1` steps of :math:`\alpha / (2^b - 1)`, with
:math:`\partial \hat y / \partial \alpha = \mathbb 1[x \ge \alpha]` (plus
the rounding residual's STE term, as in LSQ) and an L2 penalty on α.

:class:`LearnedQuantMLP` trains a float MLP (sharing its parameters) with
these quantizers through :func:`minicomp.fit`; ``weights="ternary"`` gives
BitNet b1.58's absmean ternary weights with the identity STE
(:mod:`minicomp.formats.ternary`).

Esser, S. K. et al. (2020). Learned Step Size Quantization. ICLR. arXiv:1902.08153.
Bhalgat, Y. et al. (2020). LSQ+: Improving low-bit quantization through learnable
offsets and better initialization. CVPR Workshops. arXiv:2004.09576.
Choi, J. et al. (2018). PACT: Parameterized Clipping Activation for Quantized Neural
Networks. arXiv:1805.06085.

Deviations: one step size per output channel for weights (the paper: per
layer), one per layer for activations; the net's input gets LSQ+ (signed,
offset) at the activation bits, the logits stay float; PACT's α gradient
includes the rounding residual inside the range (as LSQ's does), which the
paper's STE drops.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..formats.ternary import ternary_quantize
from ..functional import cross_entropy
from ..nn import Dropout, Module, Parameter, ReLU
from ..optim import SGD, CosineLR
from ..tensor import Tensor, accumulate, unbroadcast
from ..train import fit
from .ptq import check_inputs, relu_blocks
from .qat import training_data
from .uniform import check_bits


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(Q_n, Q_p)``: ``(2^(b-1), 2^(b-1) - 1)`` signed, ``(0, 2^b - 1)`` unsigned."""
    return (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def check_tensor(t, name: str, where: str, like=None, positive: bool = False,
                 what: str = "finite numbers") -> Tensor:
    """``t`` if it is a Tensor of finite numbers (> 0 if ``positive``) whose shape
    broadcasts to ``like``'s without growing it; TypeError / ValueError naming the
    first bad element otherwise. One ``isfinite`` pass: it runs every training step."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: {name} is a {type(t).__name__}; expected a Tensor")
    d = t.data
    if not (np.isfinite(d).all() and (not positive or (d > 0).all())):
        bad = ~np.isfinite(d) | (d <= 0) if positive else ~np.isfinite(d)
        i = int(np.flatnonzero(bad)[0])
        at = f" at {[int(k) for k in np.unravel_index(i, d.shape)]}" if d.ndim else ""
        raise ValueError(f"{where}: {name} holds {float(d.ravel()[i])!r}{at}; expected {what}")
    if like is not None:
        try:
            ok = np.broadcast_shapes(d.shape, like.data.shape) == like.data.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}: {name} has shape {d.shape}; expected one that "
                             f"broadcasts to {like.data.shape} without growing it (a scalar "
                             "per tensor, or (out, 1) per output channel of an (out, in) "
                             "weight)")
    return t


def lsq_quantize(v: Tensor, s: Tensor, bits: int, signed: bool = True, beta=None,
                 grad_scale: float | None = None) -> Tensor:
    """LSQ fake quantization of ``v`` with learned step ``s`` (and LSQ+ offset ``beta``).

    Parameters
    ----------
    v : Tensor of finite numbers
    s : Tensor of finite step sizes > 0 (a Parameter, usually): a scalar, or a
        shape that broadcasts to ``v``'s without growing it ((out, 1) per channel)
    bits : int
    signed : bool, the integer range (see :func:`int_range`)
    beta : Tensor broadcastable to ``v`` (as ``s``), optional: the LSQ+ offset
    grad_scale : float > 0, optional; default ``1/sqrt(N · Q_p)``, N = v.size / s.size

    Examples
    --------
    >>> v, s = Tensor([0.26, 0.9, -3.0], requires_grad=True), Tensor(0.5, requires_grad=True)
    >>> y = lsq_quantize(v, s, 2, grad_scale=1.0)        # range [-2, 1] * 0.5
    >>> y.data
    array([ 0.5,  0.5, -1. ], dtype=float32)
    >>> y.sum().backward(); v.grad, round(float(s.grad), 2)  # (1 - 0.52) + 1 - 2
    (array([1., 0., 0.], dtype=float32), -0.52)
    """
    where = "lsq_quantize"
    check_tensor(v, "v", where)
    check_tensor(s, "s", where, v, positive=True, what="finite step sizes > 0")
    if beta is not None:
        check_tensor(beta, "beta", where, v)
    bits = validate.integer(bits, "bits", low=1, high=16, where=where)
    signed = validate.flag(signed, "signed", where=where)
    if grad_scale is not None:
        grad_scale = validate.number(grad_scale, "grad_scale", low=0, low_open=True,
                                     where=where)
    return _lsq(v, s, bits, signed, beta, grad_scale)


def _lsq(v: Tensor, s: Tensor, bits: int, signed: bool, beta, grad_scale) -> Tensor:
    """:func:`lsq_quantize` on checked arguments."""
    Qn, Qp = int_range(bits, signed)
    if grad_scale is None:
        grad_scale = 1.0 / np.sqrt(v.data.size / s.data.size * max(Qp, 1))
    b = 0.0 if beta is None else beta.data
    u = (v.data - b) / s.data
    q = np.rint(np.clip(u, -Qn, Qp))
    out = Tensor._make((q * s.data + b).astype(v.data.dtype), (v, s) + (
        (beta,) if beta is not None else ()), "lsq_quantize")
    if out.requires_grad:
        def _backward():
            inside = (u > -Qn) & (u < Qp)
            g = out.grad
            if v.requires_grad:
                accumulate(v, g * inside)
            if s.requires_grad:                          # round(u) - u inside, the bound outside
                ds = g * (q - np.where(inside, u, 0.0)) * grad_scale
                accumulate(s, unbroadcast(ds, s.data.shape).astype(s.data.dtype))
            if beta is not None and beta.requires_grad:
                accumulate(beta, unbroadcast(g * ~inside * grad_scale,
                                             beta.data.shape).astype(beta.data.dtype))
        out._backward = _backward
    return out


def lsq_init(v: np.ndarray, bits: int, signed: bool = True) -> float:
    """The paper's initial step ``2 mean|v| / sqrt(Q_p)`` (at least 1e-8)."""
    return max(2 * float(np.abs(v).mean()) / np.sqrt(int_range(bits, signed)[1]), 1e-8)


def pact_quantize(x: Tensor, alpha: Tensor, bits: int) -> Tensor:
    """PACT: ``clip(x, 0, alpha)`` on ``2^bits - 1`` steps, ``alpha`` learned.

    >>> x, a = Tensor([-1.0, 0.5, 3.0], requires_grad=True), Tensor(2.0, requires_grad=True)
    >>> y = pact_quantize(x, a, 2); y.data              # steps of 2/3
    array([0.       , 0.6666667, 2.       ], dtype=float32)
    >>> y.sum().backward(); x.grad, round(float(a.grad), 3)  # (1 - 0.75)/3 + 1
    (array([0., 1., 0.], dtype=float32), 1.083)
    """
    where = "pact_quantize"
    check_tensor(x, "x", where)
    check_tensor(alpha, "alpha", where, x, positive=True, what="finite clipping values > 0")
    # clip(x, 0, a) quantized = LSQ with s = a / (2^b - 1), unsigned, no gradient scale
    bits = validate.integer(bits, "bits", low=1, high=16, where=where)
    return _lsq(x, alpha * (1.0 / (2 ** bits - 1)), bits, False, None, 1.0)


class LearnedQuantMLP(Module):
    """A float MLP trained with learned quantizers (its parameters are shared).

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU) layers; Dropout is refused (the
        quantized forward pass walks the Dense blocks and would skip it)
    bits, bits_a : weight and activation bits (``bits_a=None``: float activations)
    weights : {"lsq", "lsq+", "ternary"}; step per output channel (+ offset for lsq+)
    acts : {"lsq", "pact"}; the hidden (post-ReLU) activations, unsigned
    X_init : ndarray (N, in), inputs that initialise the activation steps
    pact_decay : float, L2 penalty on PACT's α (in :meth:`loss`)
    """

    def __init__(self, net, bits: int = 3, bits_a: int | None = 3, weights: str = "lsq",
                 acts: str = "lsq", X_init=None, pact_decay: float = 1e-4):
        where = "LearnedQuantMLP"
        self.net, self.blocks = net, relu_blocks(net, where)
        if any(isinstance(layer, Dropout) for layer in getattr(net, "layers", [net])):
            raise TypeError(f"{where}: net holds Dropout, which the quantized forward pass "
                            "would skip while training; expected a net without Dropout "
                            "(remove it, or train with dropout before quantizing)")
        self.bits = check_bits(bits, "symmetric", where=where)
        self.bits_a = None if bits_a is None else validate.integer(   # the input is signed:
            bits_a, "bits_a", low=2, high=16, where=where)            # 1 bit has Q_p = 0
        self.weights = validate.choice(weights, "weights", ("lsq", "lsq+", "ternary"),
                                       where=where)
        self.acts = validate.choice(acts, "acts", ("lsq", "pact"), where=where)
        self.pact_decay = validate.number(pact_decay, "pact_decay", low=0, where=where)
        self.n_in = self.blocks[0].dense.in_features
        self.s_w, self.beta_w = [], []
        for _, dense, _ in self.blocks:
            W = dense.W.data                                                 # (out, in)
            self.s_w.append(Parameter([[lsq_init(row, self.bits)] for row in W]))   # (out, 1)
            self.beta_w.append(Parameter(np.zeros((len(W), 1))) if weights == "lsq+" else None)
        self.s_a, self.beta_in = [], Parameter(0.0)
        if self.bits_a is not None:
            X = check_inputs(self.n_in, X_init, "X_init", where, "batch").astype(np.float32)
            self._init_acts(X)

    def _init_acts(self, X):
        from ..blocks import numpy_forward
        _, inputs = numpy_forward(self.net, X, inputs=True)                 # [(N, in_l)]
        self.beta_in.data[...] = X.mean()
        self.s_a = [Parameter(lsq_init(inputs[0] - X.mean(), self.bits_a))]
        for h in inputs[1:]:                                                 # post-ReLU
            init = np.percentile(h, 99.9) if self.acts == "pact" else lsq_init(
                h, self.bits_a, signed=False)
            self.s_a.append(Parameter(max(float(init), 1e-3)))

    def named_parameters(self, prefix: str = ""):
        yield from self.net.named_parameters(prefix)
        extra = [("s_w", self.s_w), ("beta_w", self.beta_w), ("s_a", self.s_a)]
        for name, params in extra:
            for k, p in enumerate(params):
                if p is not None and not (name == "s_w" and self.weights == "ternary"):
                    yield f"{prefix}{name}.{k}", p
        if self.bits_a is not None:
            yield f"{prefix}beta_in", self.beta_in

    def quantized_weight(self, k: int, W: Tensor) -> Tensor:
        """Layer ``k``'s weight as the forward pass uses it."""
        if self.weights == "ternary":
            T, gamma = ternary_quantize(W.data)
            out = Tensor._make((T * gamma).astype(W.data.dtype), (W,), "ternary_ste")
            if out.requires_grad:
                def _backward():                                 # identity STE (BitNet)
                    accumulate(W, out.grad)
                out._backward = _backward
            return out
        return lsq_quantize(W, self.s_w[k], self.bits, True, self.beta_w[k])

    def _act(self, x: Tensor, k: int) -> Tensor:
        if self.bits_a is None:
            return x
        if k == 0:
            return lsq_quantize(x, self.s_a[0], self.bits_a, True, self.beta_in)
        if self.acts == "pact":
            return pact_quantize(x, self.s_a[k], self.bits_a)
        return lsq_quantize(x, self.s_a[k], self.bits_a, signed=False)

    def loss(self, logits: Tensor, y) -> Tensor:
        """Cross-entropy, plus PACT's ``pact_decay/2 · Σ α²`` when ``acts="pact"``."""
        L = cross_entropy(logits, y)
        if self.acts == "pact" and self.pact_decay and self.bits_a is not None:
            for alpha in self.s_a[1:]:
                L = L + (alpha * alpha).sum() * (self.pact_decay / 2)
        return L

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(check_inputs(
            self.n_in, x, "x", "LearnedQuantMLP", "batch").astype(np.float32))
        x = self._act(x, 0)
        for k, (_, dense, act) in enumerate(self.blocks):
            x = x.linear(self.quantized_weight(k, dense.W), dense.b)                # (N, out)
            if isinstance(act, ReLU):
                x = self._act(x.relu(), k + 1)
        return x


def lsq_finetune(net, X, y, bits: int = 3, bits_a: int | None = 3, weights: str = "lsq",
                 acts: str = "lsq", epochs: int = 10, lr: float = 0.01, momentum: float = 0.9,
                 batch_size: int = 32, seed=0, validation=None, quiet: bool = True):
    """Fine-tune ``net`` (in place) with learned quantizers; return ``(model, History)``.

    Same recipe as :func:`minicomp.quant.qat_finetune` (SGD with momentum, cosine
    schedule, through :func:`minicomp.fit`); the step sizes train with the weights.
    """
    where = "lsq_finetune"
    X, y, epochs = training_data(net, X, y, epochs, where)
    model = LearnedQuantMLP(net, bits, bits_a, weights, acts, X_init=X[:1024])
    opt = SGD(model.parameters(), lr=lr, momentum=momentum)
    history = fit(model, X, y, loss=model.loss, optimizer=opt, epochs=epochs,
                  batch_size=batch_size, seed=seed,
                  scheduler=CosineLR(opt, T=epochs), validation=validation, quiet=quiet,
                  desc=f"LSQ W{bits}A{bits_a}")
    model.eval()
    return model, history
