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


class Optimizer:
    """Base class: holds parameters, the learning rate ``lr`` and ``state``."""

    def __init__(self, params, lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr={lr!r}; expected a positive finite number")
        self.lr = float(lr)
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
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum={momentum!r}; expected 0 <= momentum < 1")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay={weight_decay!r}; expected >= 0")
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
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"Adam: betas={betas!r}; expected two numbers in [0, 1)")
        if eps <= 0 or weight_decay < 0:
            raise ValueError(f"Adam: eps={eps!r} must be > 0, weight_decay={weight_decay!r} >= 0")
        self.betas, self.eps = tuple(betas), eps
        self.weight_decay, self.decoupled = weight_decay, decoupled

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
    return lr0 * gamma ** (t // step_size)


def cosine_schedule(t: int, lr0: float, T: int, lr_min: float = 0.0) -> float:
    r""":math:`\alpha_t = \alpha_{min} + \tfrac12(\alpha_0-\alpha_{min})(1+\cos(\pi\,\min(t,T)/T))`
    (Loshchilov & Hutter 2017, without restarts)."""
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * min(t, T) / T))


class Scheduler:
    """Sets ``optimizer.lr = fn(t)`` at every :meth:`step` (t counts calls)."""

    def __init__(self, optimizer: Optimizer, fn):
        self.optimizer, self.fn, self.t = optimizer, fn, 0
        self.optimizer.lr = fn(0)

    def step(self) -> None:
        self.t += 1
        self.optimizer.lr = self.fn(self.t)


def StepLR(optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> Scheduler:
    """Multiply the learning rate by ``gamma`` every ``step_size`` scheduler steps."""
    if not isinstance(step_size, int) or step_size < 1:
        raise ValueError(f"StepLR: step_size={step_size!r}; expected a positive int")
    lr0 = optimizer.lr
    return Scheduler(optimizer, lambda t: step_schedule(t, lr0, step_size, gamma))


def CosineLR(optimizer: Optimizer, T: int, lr_min: float = 0.0) -> Scheduler:
    """Cosine decay from the current ``lr`` to ``lr_min`` over ``T`` scheduler steps."""
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"CosineLR: T={T!r}; expected a positive int")
    lr0 = optimizer.lr
    return Scheduler(optimizer, lambda t: cosine_schedule(t, lr0, T, lr_min))
