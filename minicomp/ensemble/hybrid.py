r"""Hybrid fusion: learned combinations of the members' probabilities.

**Weights on the simplex** fitted by log-loss on a validation split:

.. math::

    \min_{w \in \Delta} -\frac1N \sum_i \log \sum_m w_m\, p_m(y_i \mid x_i), \qquad
    \Delta = \{w : w_m \ge 0,\ \textstyle\sum_m w_m = 1\}

The loss is convex in :math:`w`. We write :math:`w = \operatorname{softmax}(a)`
and run Adam on :math:`a` through :mod:`minicomp.functional` (no backward
code of our own): every iterate is on the simplex by construction. A weight
that should be 0 is only approached (:math:`a_m \to -\infty`), a stated
deviation from an exact constrained solver (scipy's SLSQP, the test oracle,
reaches the same loss).

**Stacking** (Wolpert 1992): a small meta-model (by default multinomial
logistic regression, ``MLP([M*C, C])``) takes the members' probabilities
side by side as features (as scikit-learn's ``StackingClassifier`` does
with ``predict_proba``). It is trained on the validation split -- the
members never saw it -- and evaluated on held-out data only.

:class:`NetClassifier` wraps a trained net as a scikit-learn estimator
(``fit`` / ``predict`` / ``predict_proba`` / ``classes_``), so that
``VotingClassifier`` (members wrapped in ``sklearn.frozen.FrozenEstimator``)
and ``StackingClassifier(cv="prefit")`` combine the *same* members.

References
----------
Wolpert, D. (1992). Stacked Generalization. Neural Networks 5(2), 241-259.
Caruana, R., et al. (2004). Ensemble Selection from Libraries of Models. ICML.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import validate as check
from ..nn import MLP, Parameter
from ..optim import SGD, Adam
from ..structure.fold import int_list
from ..tensor import Tensor
from ..train import fit, predict
from .parallel import check_probabilities


def _probabilities_and_labels(P, y, where):
    P = check_probabilities(P, where=where)                           # (M, N, C)
    y = check.labels(y, "y", n=P.shape[1], num_classes=P.shape[2], where=where)
    return P, y


def log_loss(P, y) -> float:
    r"""Mean negative log-probability of the true class, :math:`-\frac1N\sum_i\log p(y_i)`.

    ``P`` is one model's probabilities, shape (N, C) (average an ensemble's
    first: :func:`~minicomp.ensemble.parallel.average_probabilities`); ``y``
    the labels (N,).

    Examples
    --------
    >>> round(log_loss([[0.5, 0.5], [0.25, 0.75]], [0, 1]), 4)   # -(log .5 + log .75) / 2
    0.4904
    """
    P = check_probabilities(P, where="log_loss", single=True)          # (1, N, C)
    y = check.labels(y, "y", n=P.shape[1], num_classes=P.shape[2], where="log_loss")
    p = P[0, np.arange(len(y)), y]                                     # (N,)
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def simplex_log_loss(a, P_y):
    r"""The objective of :func:`fit_simplex_weights` as a Tensor (composite: no backward code).

    :math:`-\frac1N\sum_i \log \sum_m \operatorname{softmax}(a)_m\, P_y[i, m]`
    with ``a`` (M, 1) the softmax parameters and ``P_y`` (N, M) each member's
    probability of the true class.
    """
    w = F.softmax(a, axis=0)                                            # (M, 1) on the simplex
    return -((Tensor(P_y) @ w).clip(1e-12, None).log().mean())          # (N, M) @ (M, 1) -> (N, 1)


def fit_simplex_weights(P_val, y_val, steps: int = 300, lr: float = 0.1) -> np.ndarray:
    """Weights on the simplex minimising the log-loss of the weighted average (validation!).

    Parameters
    ----------
    P_val : array, shape (M, N, C)
        Member probabilities on a validation split.
    y_val : int labels, shape (N,)
    steps : int
        Adam steps on the softmax parameters (full batch).
    lr : float

    Returns
    -------
    w : ndarray, shape (M,), non-negative, summing to 1
    """
    where = "fit_simplex_weights"
    P, y = _probabilities_and_labels(P_val, y_val, where)
    steps = check.integer(steps, "steps", low=1, where=where)
    lr = check.number(lr, "lr", low=0.0, low_open=True, where=where)
    P_y = P[:, np.arange(len(y)), y].T                                  # (N, M): p_m(y_i)
    a = Parameter(np.zeros((len(P), 1)), dtype=np.float64)              # (M, 1), w = softmax(a)
    opt = Adam([a], lr=lr)
    for _ in range(steps):
        L = simplex_log_loss(a, P_y)
        opt.zero_grad()
        L.backward()
        opt.step()
    w = F.softmax(a, axis=0).data[:, 0]                                 # (M,)
    return w / w.sum()


def stack_features(P) -> np.ndarray:
    """The stacking meta-model's input: members' probabilities side by side, (N, M*C)."""
    P = check_probabilities(P, where="stack_features")                  # (M, N, C)
    return P.transpose(1, 0, 2).reshape(P.shape[1], -1).astype(np.float32)  # (N, M*C)


def fit_stacker(P_val, y_val, hidden=(), epochs: int = 50, lr: float = 0.05, seed=0):
    """Train a meta-model ``MLP([M*C, *hidden, C])`` on validation-split member probabilities.

    Returns the meta-net; its output on :func:`stack_features` of new member
    probabilities are the stacked logits (:func:`stack_probabilities`).
    """
    where = "fit_stacker"
    P, y = _probabilities_and_labels(P_val, y_val, where)
    hidden = int_list(hidden, "hidden", low=1, where=where)
    M, _, C = P.shape
    meta = MLP([M * C, *hidden, C], seed=seed)
    opt = SGD(meta.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    fit(meta, stack_features(P), y, optimizer=opt, epochs=epochs, batch_size=32, seed=seed,
        quiet=True)
    return meta


def stack_probabilities(meta, P) -> np.ndarray:
    """The stacked ensemble's class probabilities on member probabilities ``P``: (N, C)."""
    return F.softmax(predict(meta, stack_features(P)).astype(np.float64)).data
