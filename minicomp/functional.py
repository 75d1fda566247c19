r"""Composite ops: built only from the primitives of :mod:`minicomp.tensor`.

None of these functions has backward code: their gradients come from the
primitives they are made of, so they are correct as soon as the primitives
are (and ``tests/test_functional.py`` checks each by finite differences).

=================  ===================================================
function           formula
=================  ===================================================
``sigmoid``        :math:`\sigma(x) = 1/(1+e^{-x}) = \tfrac12\tanh(x/2)+\tfrac12`
``log_softmax``    :math:`x_i - m - \log\sum_j e^{x_j - m}`, :math:`m=\max_j x_j`
``softmax``        :math:`e^{\log\mathrm{softmax}(x)_i}`
``cross_entropy``  :math:`-\frac1N\sum_n\sum_c t_{nc}\log\mathrm{softmax}(z_n)_c`
``mse``            :math:`\frac1{N}\sum (\hat y - y)^2` (mean over all elements)
``kl_div``         :math:`\frac1N\sum_n\sum_c p_{nc}(\log p_{nc}-\log q_{nc})`
=================  ===================================================
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x, W, b=None) -> Tensor:
    """``x @ W.T + b`` with ``W`` of shape (out, in), as in ``nn.Linear``.

    Calls the fused primitive :meth:`Tensor.linear`; the same value and
    gradients as the composite ``x @ W.T + b``.
    """
    return _as_tensor(x).linear(W, b)                      # (N, in) -> (N, out)


def sigmoid(x) -> Tensor:
    """Logistic function, via tanh so that it never overflows."""
    return (_as_tensor(x) * 0.5).tanh() * 0.5 + 0.5


def tanh(x) -> Tensor:
    return _as_tensor(x).tanh()


def relu(x) -> Tensor:
    return _as_tensor(x).relu()


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    r""":math:`\log\sum_j e^{x_j}`, stabilised by subtracting the max first."""
    x = _as_tensor(x)
    m = x.data.max(axis=axis, keepdims=True)              # constant: its gradient cancels
    out = (x - m).exp().sum(axis=axis, keepdims=True).log() + m
    return out if keepdims else out.reshape(np.squeeze(out.data, axis=axis).shape)


def log_softmax(x, axis=-1) -> Tensor:
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``: no overflow, no log(0)."""
    x = _as_tensor(x)
    z = x - x.data.max(axis=axis, keepdims=True)          # largest entry is now 0
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def softmax(x, axis=-1) -> Tensor:
    return log_softmax(x, axis=axis).exp()


def one_hot(labels, num_classes: int, dtype=np.float32) -> np.ndarray:
    """(N,) integer labels -> (N, num_classes) rows of 0/1."""
    labels = np.asarray(labels)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f"one_hot: label {labels[bad][0]} is out of range; "
                         f"expected 0 <= label < {num_classes}")
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _check_targets(logits: Tensor, target) -> np.ndarray:
    """Validate labels or soft targets against (N, C) logits; return (N, C) targets."""
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be 2-D (N, C), got shape {logits.shape}")
    N, C = logits.shape
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.ndim == 1:
        if t.dtype.kind not in "iu":
            raise TypeError(f"cross_entropy: 1-D target must hold integer class labels, "
                            f"got dtype {t.dtype}")
        if t.shape[0] != N:
            raise ValueError(f"cross_entropy: {t.shape[0]} labels for {N} rows of logits")
        bad = (t < 0) | (t >= C)
        if bad.any():
            raise ValueError(f"cross_entropy: label {t[bad][0]} (at index {np.flatnonzero(bad)[0]}) "
                             f"is out of range; expected 0 <= label < {C}")
        return one_hot(t, C, dtype=logits.dtype)
    if t.shape != (N, C):
        raise ValueError(f"cross_entropy: soft targets must have the logits' shape {(N, C)}, "
                         f"got {t.shape}")
    return probability_rows(t, "target", where="cross_entropy")


def probability_rows(t, name: str = "target", where=None, rtol: float = 1e-4) -> np.ndarray:
    """``t`` (N, C) if every row is a probability distribution, else ValueError.

    A row must be >= 0 and sum to 1 within ``rtol`` (float32 softmax rows
    are off by ~1e-7); the message names ``name`` and the first bad row.
    (:func:`minicomp.validate.distributions` checks the array first.)

    Examples
    --------
    >>> probability_rows(np.array([[0.5, 0.5], [2/3, 2/3]]), where="cross_entropy")
    Traceback (most recent call last):
        ...
    ValueError: cross_entropy: target row 1 is [0.6667, 0.6667] (sum 1.333); expected a ...
    """
    t = np.asarray(t)
    sums = t.sum(axis=1, dtype=np.float64)                # (N,); NaN fails the test below
    bad = (t < 0).any(axis=1) | ~(np.abs(sums - 1.0) <= rtol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = np.array2string(np.asarray(t[i], np.float64), precision=4, threshold=8,
                              edgeitems=3, separator=", ")
        raise ValueError(f"{where + ': ' if where else ''}{name} row {i} is {row} (sum "
                         f"{sums[i]:.4g}); expected a probability distribution per row: "
                         "entries >= 0 that sum to 1 (soft targets)")
    return t


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy from raw logits.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
        Unnormalised scores.
    target : ndarray or Tensor
        Either (N,) integer class labels in ``[0, C)`` or (N, C) soft targets
        (each row a probability distribution, e.g. a teacher's softmax:
        entries >= 0 summing to 1 within 1e-4, checked).
    reduction : {"mean", "sum", "none"}

    Notes
    -----
    .. math:: \ell_n = -\sum_c t_{nc}\, \log \mathrm{softmax}(z_n)_c

    With integer labels ``t`` is one-hot, so :math:`\ell_n = -\log
    \mathrm{softmax}(z_n)_{y_n}`. The log-softmax is computed stably.

    Raises
    ------
    ValueError
        Bad shapes, a label outside ``[0, C)`` or a soft-target row that is
        not a probability distribution (the message names it).
    """
    logits = _as_tensor(logits)
    T = _check_targets(logits, target)
    if isinstance(target, Tensor) and target.requires_grad:
        T = target
    logp = log_softmax(logits, axis=1)                        # (N, C)
    if reduction == "mean":                                   # fold -1/N into the constant
        return (logp * (T * (-1.0 / logits.shape[0]))).sum() if not isinstance(T, Tensor) \
            else -(logp * T).sum() * (1.0 / logits.shape[0])
    return _reduce(-(logp * T).sum(axis=1), reduction, "cross_entropy")   # (N,)


def mse(y_hat, y, reduction: str = "mean") -> Tensor:
    r"""Mean squared error :math:`\frac1M\sum_k (\hat y_k - y_k)^2` over all M elements."""
    y_hat = _as_tensor(y_hat)
    y_arr = y.data if isinstance(y, Tensor) else np.asarray(y)
    if y_arr.shape != y_hat.shape:
        raise ValueError(f"mse: y_hat has shape {y_hat.shape} but y has shape {y_arr.shape}")
    sq = (y_hat - y) ** 2
    return _reduce(sq, reduction, "mse")


def kl_div(log_q, p, reduction: str = "batchmean") -> Tensor:
    r"""Kullback-Leibler divergence :math:`KL(p\,\|\,q)` from log-probabilities of q.

    Same argument order and meaning as ``torch.nn.functional.kl_div``:
    ``log_q`` is the *log* of the model's distribution (e.g.
    ``log_softmax(student_logits / T)``), ``p`` the target probabilities
    (e.g. ``softmax(teacher_logits / T)``).

    Notes
    -----
    .. math:: KL = \frac1N \sum_n\sum_c p_{nc}\,(\log p_{nc} - \log q_{nc})

    with :math:`0\log 0 = 0`. ``"batchmean"`` divides the total by N (the
    true mean KL per example); ``"mean"`` would divide by N·C, which is *not*
    the KL divergence.
    """
    log_q = _as_tensor(log_q)
    p_arr = p.data if isinstance(p, Tensor) else np.asarray(p, dtype=log_q.dtype)
    if p_arr.shape != log_q.shape:
        raise ValueError(f"kl_div: p has shape {p_arr.shape} but log_q has shape {log_q.shape}")
    if isinstance(p, Tensor) and p.requires_grad:
        plogp = p * p.clip(np.finfo(p.dtype).tiny, None).log()
    else:                                                  # constant target: 0 log 0 = 0
        plogp = np.where(p_arr > 0, p_arr * np.log(np.where(p_arr > 0, p_arr, 1)), 0)
        plogp = plogp.astype(log_q.dtype)
    terms = plogp - log_q * p                              # (N, C)
    if reduction == "batchmean":
        return terms.sum() * (1.0 / log_q.shape[0])
    return _reduce(terms, reduction, "kl_div")


def _reduce(x: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{who}: reduction={reduction!r}; expected 'mean', 'sum' or 'none'"
                     + (" or 'batchmean'" if who == "kl_div" else ""))
