r"""Parallel fusion: members trained side by side, their predictions combined.

Probability averaging (the members' class probabilities, mean over members):

.. math:: \bar p(y \mid x) = \frac{1}{M} \sum_{m=1}^{M} \operatorname{softmax}(z_m(x))_y

Majority vote: each member votes for its argmax class; the class with most
votes wins, and a **tie goes to the lowest class index** among the tied
classes (the rule of ``np.argmax`` on the vote counts; stated so that the
result never depends on member order).

Averaging *logits* instead, :math:`\operatorname{softmax}(\frac1M\sum_m
z_m)`, is a different rule: a member with large logits (an over-confident
net) dominates it, whereas each member's probabilities are bounded by 1.
:func:`average_logits` exists to show that difference.

References
----------
Dietterich, T. (2000). Ensemble Methods in Machine Learning. MCS.
Lakshminarayanan, B., Pritzel, A., Blundell, C. (2017). Simple and Scalable
Predictive Uncertainty Estimation using Deep Ensembles. NeurIPS.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import validate as check
from ..metrics import accuracy
from ..nn import io_features
from ..train import predict


def check_members(members, where=None, *, name="members", widths=True) -> tuple:
    """``(list of members, in_features, num_classes)``; every member a Module of the same widths.

    ``name`` is how the caller calls the list (``nets``); ``widths=False``
    accepts Modules whose widths :func:`~minicomp.nn.io_features` cannot tell.

    Raises
    ------
    TypeError
        ``members`` is not a non-empty list/tuple of Modules.
    ValueError
        An empty ensemble; a member whose input or output width is unknown
        (a custom Module without ``in_features``/``out_features``); members
        with different input widths or class counts.
    """
    pre = f"{where}: " if where else ""
    if not isinstance(members, (list, tuple)):
        raise TypeError(f"{pre}{name} is a {type(members).__name__}; expected a list of "
                        "trained nets, e.g. [net_a, net_b]")
    if not members:
        raise ValueError(f"{pre}{name} is empty; expected at least one net (an empty "
                         "ensemble has no prediction)")
    sizes = [io_features(check.module(m, f"{name}[{i}]", where=where))
             for i, m in enumerate(members)]
    for i, (n_in, n_out) in enumerate(sizes):
        if widths and (n_in is None or n_out is None):
            raise ValueError(f"{pre}{name}[{i}] is a {type(members[i]).__name__} whose input "
                             f"and output widths are unknown (io_features gives {(n_in, n_out)}"
                             "); expected a Sequential of Dense layers or a Module with int "
                             "in_features and out_features")
        if n_in != sizes[0][0]:
            raise ValueError(f"{pre}{name}[{i}] takes {n_in} input features but {name}[0] "
                             f"takes {sizes[0][0]}; expected members of the same input width")
        if n_out != sizes[0][1]:
            raise ValueError(f"{pre}{name}[{i}] has {n_out} classes but {name}[0] has "
                             f"{sizes[0][1]}; expected the same class count for every member")
    return list(members), sizes[0][0], sizes[0][1]


def member_logits(members, X, where="member_logits") -> np.ndarray:
    """Every member's logits on ``X``, stacked: shape (M, N, C)."""
    members, n_in, _ = check_members(members, where)
    X = check.array(X, "X", ndim=2, width=n_in, dtype=np.float32, where=where)
    return np.stack([predict(m, X) for m in members])              # (M, N, C)


def member_probabilities(members, X, T: float = 1.0) -> np.ndarray:
    """Every member's class probabilities ``softmax(z / T)`` on ``X``: shape (M, N, C)."""
    T = check.number(T, "T", low=0.0, low_open=True, where="member_probabilities")
    Z = member_logits(members, X, "member_probabilities")          # (M, N, C)
    return F.softmax(Z.astype(np.float64) / T).data                # (M, N, C), rows sum to 1


def check_probabilities(P, name: str = "P", where=None, *, single=False) -> np.ndarray:
    """``P`` (M, N, C) as float64, each member's rows probability distributions (NaN refused).

    A single (N, C) array is taken as one member. ``single=True``: only
    (N, C) is accepted (one model's probabilities; (M, N, C) is refused).
    """
    P = check.array(P, name, ndim=2 if single else (2, 3), where=where)   # finite: no NaN
    P = P[None] if P.ndim == 2 else P                              # (M, N, C)
    check.distributions(P.reshape(-1, P.shape[-1]), f"{name} (members x rows)",
                        floats=True, where=where)
    return P.astype(np.float64)


def average_probabilities(P, weights=None) -> np.ndarray:
    r"""The (weighted) mean of the members' probabilities: (M, N, C) -> (N, C).

    Parameters
    ----------
    P : array, shape (M, N, C)
        Member probabilities (e.g. :func:`member_probabilities`).
    weights : array, shape (M,), optional
        Non-negative, summing to 1 (e.g. :func:`~minicomp.ensemble.hybrid.fit_simplex_weights`).
        Default: :math:`1/M` each.

    Examples
    --------
    >>> P = [[[0.9, 0.1]], [[0.3, 0.7]]]        # two members, one example
    >>> average_probabilities(P)                # [(0.9 + 0.3) / 2, (0.1 + 0.7) / 2]
    array([[0.6, 0.4]])
    """
    where = "average_probabilities"
    P = check_probabilities(P, where=where)                        # (M, N, C)
    if weights is None:
        return P.mean(axis=0)                                      # (N, C)
    w = check_weights(weights, len(P), where)
    return np.tensordot(w, P, axes=1)                              # (M,) . (M, N, C) -> (N, C)


def check_weights(weights, M: int, where=None) -> np.ndarray:
    """``weights`` as (M,) float64 on the simplex (>= 0, sum 1 within 1e-6), else ValueError."""
    w = check.array(weights, "weights", ndim=1, where=where)
    if w.dtype.kind == "b":
        raise TypeError(f"{where + ': ' if where else ''}weights has dtype bool; expected "
                        f"{M} non-negative numbers summing to 1, one per member")
    w = w.astype(np.float64)
    if len(w) != M or (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"{where + ': ' if where else ''}weights={np.round(w, 4).tolist()}; "
                         f"expected {M} non-negative numbers summing to 1, one per member")
    return w


def average_logits(Z) -> np.ndarray:
    r""":math:`\operatorname{softmax}(\frac1M\sum_m z_m)`: (M, N, C) logits -> (N, C).

    Not the same as :func:`average_probabilities` (see the module docstring):

    >>> Z = np.array([[[10.0, 0.0]], [[0.0, 3.0]], [[0.0, 3.0]]])
    >>> average_logits(Z).argmax(axis=1)      # mean logits [10/3, 2]: class 0
    array([0])
    >>> average_probabilities(F.softmax(Z).data).argmax(axis=1)   # [0.37, 0.63]: class 1
    array([1])
    """
    Z = check.array(Z, "Z", ndim=3, where="average_logits").astype(np.float64)
    return F.softmax(Z.mean(axis=0)).data                          # (N, C)


def majority_vote(votes, num_classes: int) -> np.ndarray:
    """The most voted class of each example; a tie goes to the lowest class index.

    Parameters
    ----------
    votes : array of int, shape (M, N)
        Each member's predicted class of each example.
    num_classes : int

    Returns
    -------
    ndarray of int64, shape (N,)

    Examples
    --------
    >>> majority_vote([[0, 2], [1, 2], [1, 0]], 3)   # [0,1,1] -> 1; [2,2,0] -> 2
    array([1, 2])
    >>> majority_vote([[2], [1]], 3)                 # one vote each for 2 and 1: tie -> 1
    array([1])
    """
    where = "majority_vote"
    C = check.integer(num_classes, "num_classes", low=1, where=where)
    V = check.array(votes, "votes", ndim=2, where=where)           # (M, N)
    V = check.labels(V.ravel(), "votes", num_classes=C, where=where).reshape(V.shape)
    counts = np.zeros((V.shape[1], C), dtype=np.int64)             # (N, C)
    for row in V:                                                  # one member at a time
        counts[np.arange(V.shape[1]), row] += 1
    return counts.argmax(axis=1)                                   # first max: lowest index


def accuracy_vs_members(P, y) -> list:
    """Accuracy of the average of the first k members, for k = 1..M."""
    P = check_probabilities(P, where="accuracy_vs_members")        # (M, N, C)
    S = np.cumsum(P, axis=0)                                       # (M, N, C): sums of first k
    return [accuracy(S[k], y) for k in range(len(P))]              # argmax of sum = of mean
