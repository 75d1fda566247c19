r"""Optimizers and learning-rate schedules.

Gradient descent, exactly as in seed 003:

.. math:: \theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t)

"Stochastic" gradient descent is the same update with :math:`\nabla J`
estimated on a random minibatch (see chapter 00: the randomness is in the
sample, not in a random vector multiplying the gradient).

Masks. A :class:`~minicomp.nn.Parameter` may carry ``mask`` (0/1, same
shape). Every optimizer here then (1) multiplies the gradient by the mask
before the update, (2) multiplies the weights by the mask after it and (3)
multiplies every per-parameter state buffer (momentum, Adam moments) by the
mask. So a pruned weight stays exactly 0 through momentum, Adam and weight
decay. The state of parameter ``p`` is ``optimizer.state[p]`` (a dict of
arrays), where a pruning method can reach it too.
"""
from __future__ import annotations

import math

import numpy as np

from . import validate as check


class Optimizer:
    """Base class: holds parameters, the learning rate ``lr`` and ``state``.

    Raises
    ------
    TypeError, ValueError
        ``params`` is not an iterable of Parameters (a Module is named as
        such: pass ``net.parameters()``), is empty or repeats one; ``lr`` or
        a subclass's hyperparameter is not a finite number in its range
        (NumPy scalars are fine, bools are not). The message names the
        argument and the value.
    """

    def __init__(self, params, lr: float):
        where = type(self).__name__
        self.params = check.parameters(params, where=where)
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{where}: params holds the same Parameter more than once; expected "
                             "each once (it would be updated twice per step)")
        self.lr = check.number(lr, "lr", low=0, low_open=True, where=where)
        self.state = {p: {} for p in self.params}   # parameter -> {buffer name: array}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for p in self.params:
            if p.grad is None:
                continue
            mask = getattr(p, "mask", None)
            self._update(p, p.grad, self.state[p], mask)
            if mask is not None:                        # keep pruned weights pruned
                p.data *= mask
                for buf in self.state[p].values():
                    if isinstance(buf, np.ndarray) and buf.shape == p.shape:
                        buf *= mask

    def _update(self, p, g, state, mask):
        raise NotImplementedError(f"{type(self).__name__} must define _update")


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum, Nesterov and weight decay.

    .. math::
        g_t &= \nabla J(\theta_t) + \lambda\theta_t \\
        v_t &= \mu v_{t-1} + g_t \qquad (v_0 = g_0) \\
        \theta_{t+1} &= \theta_t - \alpha\,(g_t + \mu v_t \text{ if Nesterov else } v_t)

    With ``momentum=0`` and ``weight_decay=0`` this is exactly
    :math:`\theta_{t+1} = \theta_t - \alpha\nabla J(\theta_t)`. The momentum
    form is PyTorch's (Sutskever et al. 2013), so runs can be compared.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        momentum = check.number(momentum, "momentum", low=0.0, high=1.0, high_open=True,
                                where="SGD")
        nesterov = check.flag(nesterov, "nesterov", where="SGD")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        weight_decay = check.number(weight_decay, "weight_decay", low=0.0, where="SGD")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, p, g, state, mask):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if mask is not None:
            g = g * mask
        if self.momentum:
            v = state.get("momentum")
            if v is None:
                v = state["momentum"] = np.array(g, dtype=p.dtype)
            else:
                v *= self.momentum
                v += g
            g = g + self.momentum * v if self.nesterov else v
        p.data -= self.lr * g


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), with L2 weight decay or decoupled (AdamW).

    .. math::
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \theta_{t+1} &= \theta_t - \alpha\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)}+\epsilon}

    ``weight_decay`` adds :math:`\lambda\theta` to the gradient (Adam's L2);
    with ``decoupled=True`` it instead shrinks the weights directly,
    :math:`\theta \leftarrow \theta - \alpha\lambda\theta` (AdamW,
    Loshchilov & Hutter 2019).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list, np.ndarray)) or len(betas) != 2:
            raise (ValueError if isinstance(betas, (tuple, list, np.ndarray)) else TypeError)(
                f"Adam: betas={betas!r}; expected a pair (beta1, beta2) of numbers in [0, 1)")
        self.betas = tuple(check.number(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True,
                                        where="Adam") for i, b in enumerate(betas))
        self.eps = check.number(eps, "eps", low=0.0, low_open=True, where="Adam")
        self.weight_decay = check.number(weight_decay, "weight_decay", low=0.0, where="Adam")
        self.decoupled = check.flag(decoupled, "decoupled", where="Adam")

    def _update(self, p, g, state, mask):
        b1, b2 = self.betas
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p.data
        if mask is not None:
            g = g * mask
        if not state:
            state["m"] = np.zeros_like(p.data)
            state["v"] = np.zeros_like(p.data)
            state["t"] = 0
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        m_hat_scale = 1.0 / (1 - b1 ** t)
        v_hat_scale = 1.0 / (1 - b2 ** t)
        if self.weight_decay and self.decoupled:
            p.data -= self.lr * self.weight_decay * p.data
        p.data -= self.lr * (m * m_hat_scale) / (np.sqrt(v * v_hat_scale) + self.eps)


# ---- learning-rate schedules: pure functions of the step count t --------
def step_schedule(t: int, lr0: float, step_size: int, gamma: float = 0.1) -> float:
    r""":math:`\alpha_t = \alpha_0\,\gamma^{\lfloor t / \text{step\_size}\rfloor}`."""
    t = check.integer(t, "t", low=0, where="step_schedule")
    step_size = check.integer(step_size, "step_size", low=1, where="step_schedule")
    gamma = check.number(gamma, "gamma", low=0.0, low_open=True, where="step_schedule")
    lr0 = check.number(lr0, "lr0", low=0.0, low_open=True, where="step_schedule")
    return lr0 * gamma ** (t // step_size)


def cosine_schedule(t: int, lr0: float, T: int, lr_min: float = 0.0) -> float:
    r""":math:`\alpha_t = \alpha_{min} + \tfrac12(\alpha_0-\alpha_{min})(1+\cos(\pi\,\min(t,T)/T))`
    (Loshchilov & Hutter 2017, without restarts)."""
    t = check.integer(t, "t", low=0, where="cosine_schedule")
    T = check.integer(T, "T", low=1, where="cosine_schedule")
    lr0 = check.number(lr0, "lr0", low=0.0, low_open=True, where="cosine_schedule")
    lr_min = check.number(lr_min, "lr_min", low=0.0, where="cosine_schedule")
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * min(t, T) / T))


def _optimizer(optimizer, where) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{where}: optimizer is a {type(optimizer).__name__}; expected a "
                        "minicomp Optimizer, e.g. SGD(net.parameters(), lr=0.1)")
    return optimizer


class Scheduler:
    """Sets ``optimizer.lr = fn(t)`` at every :meth:`step` (t counts calls).

    Every learning rate ``fn`` returns is checked before it is set: a finite
    number >= 0 (0 is where a cosine decay to ``lr_min=0`` ends), else
    TypeError/ValueError naming the step, e.g. ``Scheduler: fn(3)=nan``.
    """

    def __init__(self, optimizer: Optimizer, fn):
        if not callable(fn):
            raise TypeError(f"Scheduler: fn is a {type(fn).__name__}; expected a callable "
                            "fn(t) -> learning rate")
        self.optimizer, self.fn = _optimizer(optimizer, "Scheduler"), fn
        self._set(0)

    def _set(self, t: int) -> None:                   # checked first: a refusal changes nothing
        lr = check.number(self.fn(t), f"fn({t})", low=0.0, where="Scheduler")
        self.optimizer.lr, self.t = lr, t

    def step(self) -> None:
        self._set(self.t + 1)


def StepLR(optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> Scheduler:
    """Multiply the learning rate by ``gamma`` every ``step_size`` scheduler steps."""
    lr0 = check.number(_optimizer(optimizer, "StepLR").lr, "optimizer.lr", low=0.0,
                       low_open=True, where="StepLR")          # e.g. 0 where a cosine ended
    step_size = check.integer(step_size, "step_size", low=1, where="StepLR")
    gamma = check.number(gamma, "gamma", low=0.0, low_open=True, where="StepLR")
    return Scheduler(optimizer, lambda t: step_schedule(t, lr0, step_size, gamma))


def CosineLR(optimizer: Optimizer, T: int, lr_min: float = 0.0) -> Scheduler:
    """Cosine decay from the current ``lr`` to ``lr_min`` over ``T`` scheduler steps."""
    lr0 = check.number(_optimizer(optimizer, "CosineLR").lr, "optimizer.lr", low=0.0,
                       low_open=True, where="CosineLR")        # e.g. 0 where a cosine ended
    T = check.integer(T, "T", low=1, where="CosineLR")
    lr_min = check.number(lr_min, "lr_min", low=0.0, high=lr0, where="CosineLR")
    return Scheduler(optimizer, lambda t: cosine_schedule(t, lr0, T, lr_min))
