r"""Check gradients against central finite differences, in float64.

.. math:: \frac{\partial f}{\partial x_k} \approx
          \frac{f(x + \epsilon e_k) - f(x - \epsilon e_k)}{2\epsilon}

The error of the central difference is :math:`O(\epsilon^2)`; in float64
with :math:`\epsilon = 10^{-6}` it is around :math:`10^{-9}` relative to the
gradient, far below what a wrong backward formula produces. Non-scalar
outputs are reduced to a scalar with a fixed random projection
:math:`L = \sum_i r_i\, f(x)_i` so that every output element is checked.
"""
from __future__ import annotations

import numpy as np

from . import validate as check
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0, raise_exception=True):
    """Compare ``backward()`` of ``fn(*inputs)`` with finite differences.

    Parameters
    ----------
    fn : callable
        Takes Tensors (one per input) and returns a Tensor.
    *inputs : array_like or Tensor
        Points at which to check. They are copied to float64 Tensors with
        ``requires_grad=True``; the caller's arrays are never modified.
    eps : float
        Finite-difference step.
    atol, rtol : float
        Pass when ``|analytic - numeric| <= atol + rtol * |numeric|``
        for every element.
    seed : int
        Seed of the random projection used for non-scalar outputs.
    raise_exception : bool
        Raise :class:`GradcheckError` on a mismatch (default) or return False.

    Raises
    ------
    TypeError, ValueError
        Up front: ``fn`` not callable, an input not finite numbers (NaN/inf
        named) or a list of Tensors, ``eps`` <= 0, ``atol`` or ``rtol`` < 0.

    Returns
    -------
    bool
        True when every gradient matches.

    Examples
    --------
    >>> import numpy as np
    >>> from minicomp import gradcheck
    >>> gradcheck(lambda a: (a * a).sum(), np.array([1.0, -2.0]))
    True
    """
    where = "gradcheck"
    if not callable(fn):
        raise TypeError(f"{where}: fn={fn!r} ({type(fn).__name__}); expected a callable "
                        "fn(*tensors) -> Tensor (f must be callable)")
    if not inputs:
        raise ValueError("gradcheck: give at least one input")
    for i, x in enumerate(inputs):
        if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
            raise TypeError(f"{where}: inputs[{i}] is a {type(x).__name__} of Tensors; expected "
                            "one array or Tensor per argument of fn: gradcheck(fn, *tensors)")
    xs = [np.array(check.array(x, f"inputs[{i}]", nonempty=False, where=where), np.float64)
          for i, x in enumerate(inputs)]                   # finite numbers, copied
    eps = check.number(eps, "eps", low=0.0, low_open=True, where=where)
    atol, rtol = (check.number(v, k, low=0.0, where=where) for k, v in (("atol", atol),
                                                                       ("rtol", rtol)))
    raise_exception = check.flag(raise_exception, "raise_exception", where=where)
    probe = fn(*[Tensor(x) for x in xs])
    if not isinstance(probe, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(probe).__name__}")
    R = check.rng(seed, where=where).standard_normal(probe.shape)  # projection weights

    def scalar(*arrays) -> float:                      # L(x) = sum(R * f(x)) in float64
        return float((fn(*[Tensor(a) for a in arrays]).data.astype(np.float64) * R).sum())

    leaves = [Tensor(x.copy(), requires_grad=True) for x in xs]
    out = fn(*leaves)
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned dtype {out.dtype} for float64 inputs; "
                        f"keep the computation in float64")
    (out * R).sum().backward()
    for i, (x, leaf) in enumerate(zip(xs, leaves)):
        analytic = np.zeros_like(x) if leaf.grad is None else np.asarray(leaf.grad)
        numeric = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            old = x[k]
            x[k] = old + eps
            f_plus = scalar(*xs)
            x[k] = old - eps
            f_minus = scalar(*xs)
            x[k] = old
            numeric[k] = (f_plus - f_minus) / (2 * eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        bad = excess > 0
        if bad.any():
            if not raise_exception:
                return False
            k = tuple(int(j) for j in np.unravel_index(np.argmax(excess), x.shape))
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}): {int(bad.sum())} of {x.size} "
                f"gradient entries differ; worst at index {k}: analytic "
                f"{analytic[k]:.8g}, numeric {numeric[k]:.8g} (atol={atol}, rtol={rtol})")
    return True
