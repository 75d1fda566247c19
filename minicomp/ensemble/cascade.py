r"""Sequential fusion (1): a confidence cascade of a small and a large model.

The small model always runs; it answers when it is confident, otherwise the
example is passed on to the large model:

.. math::

    \hat y(x) = \begin{cases} \arg\max_c p_s(c \mid x) & \max_c p_s(c \mid x) \ge \tau \\
                              \arg\max_c p_\ell(c \mid x) & \text{otherwise} \end{cases}

Average compute per example, in multiply-accumulates, with :math:`d` the
fraction of examples deferred:

.. math:: \overline{\text{MACs}} = \text{MACs}_s + d \cdot \text{MACs}_\ell

:math:`\tau = 0` never defers (only the small model's cost); a :math:`\tau`
above every top probability always defers (both costs: the small model has
already run). :math:`\tau` is chosen on a validation split
(:func:`choose_tau`: the cheapest reaching an accuracy, or the most
accurate within a compute budget), never on the test set.

References
----------
Viola, P., Jones, M. (2001). Rapid Object Detection using a Boosted Cascade
of Simple Features. CVPR. (The cascade idea.)
Wang, X., Kondratyuk, D., et al. (2022). Wisdom of Committees: An Overlooked
Approach to Faster and More Accurate Models. ICLR. (Confidence cascades of nets.)
"""
from __future__ import annotations

import numpy as np

from .. import validate as check
from ..blocks import count_macs
from ..metrics import accuracy
from .parallel import check_members, check_probabilities, member_probabilities


def check_tau(tau, where=None) -> float:
    """``tau`` as a float in [0, 1] (a probability threshold), else ValueError/TypeError."""
    return check.number(tau, "tau", low=0.0, high=1.0, where=where)


def cascade_predict(P_small, P_large, tau: float) -> tuple:
    """Predictions of the cascade and which examples were deferred to the large model.

    Parameters
    ----------
    P_small, P_large : array, shape (N, C)
        Class probabilities of the small and the large model on the same examples.
    tau : float in [0, 1]
        The small model answers when its top probability is >= tau.

    Returns
    -------
    y_hat : ndarray of int64, shape (N,)
    deferred : ndarray of bool, shape (N,)
        True where the large model answered.

    Examples
    --------
    >>> P_s = [[0.9, 0.1], [0.6, 0.4]]            # top probabilities 0.9 and 0.6
    >>> P_l = [[0.2, 0.8], [0.3, 0.7]]
    >>> cascade_predict(P_s, P_l, 0.8)            # example 1 is deferred: 0.6 < 0.8
    (array([0, 1]), array([False,  True]))
    """
    where = "cascade_predict"
    tau = check_tau(tau, where)
    P_s = check_probabilities(P_small, "P_small", where, single=True)[0]   # (N, C)
    P_l = check_probabilities(P_large, "P_large", where, single=True)[0]   # (N, C)
    if P_s.shape != P_l.shape:
        raise ValueError(f"{where}: P_small has shape {P_s.shape} but P_large has {P_l.shape}; "
                         "expected the same examples and classes")
    deferred = P_s.max(axis=1) < tau                                   # (N,)
    y_hat = np.where(deferred, P_l.argmax(axis=1), P_s.argmax(axis=1))  # (N,)
    return y_hat.astype(np.int64), deferred


def cascade_cost(deferred, macs_small: int, macs_large: int) -> float:
    """Average MACs per example: the small model always, the large one on the deferred ones.

    Examples
    --------
    >>> cascade_cost([False, True, False, False], 100, 1000)   # 100 + 1/4 * 1000
    350.0
    """
    where = "cascade_cost"
    d = check.array(deferred, "deferred", ndim=1, where=where)
    if d.dtype.kind != "b":
        raise TypeError(f"{where}: deferred has dtype {d.dtype}; expected bools (True where "
                        "the large model answered)")
    small = check.integer(macs_small, "macs_small", low=0, where=where)
    large = check.integer(macs_large, "macs_large", low=0, where=where)
    return float(small + d.mean() * large)


def cascade_curve(small, large, X, y, taus=None) -> list:
    """Accuracy and average MACs of the cascade for each ``tau``.

    Parameters
    ----------
    small, large : nets with the same input width and classes
    X, y : the examples (a validation split to choose tau; the test split to report)
    taus : sequence of floats in [0, 1], optional
        Default: 0, 0.05, ..., 1.

    Returns
    -------
    list of dict
        One per tau: ``tau``, ``accuracy``, ``macs`` (average per example),
        ``deferred`` (fraction sent to the large model).
    """
    where = "cascade_curve"
    taus = np.linspace(0.0, 1.0, 21) if taus is None else \
        check.array(taus, "taus", ndim=1, where=where)
    taus = [check_tau(t, where) for t in taus.tolist()]
    _, n_in, C = check_members([small, large], where, name="[small, large]")
    X = check.array(X, "X", ndim=2, width=n_in, dtype=np.float32, where=where)
    y = check.labels(y, "y", n=len(X), num_classes=C, where=where)
    P = member_probabilities([small, large], X)                         # (2, N, C)
    macs_s, macs_l = count_macs(small), count_macs(large)
    rows = []
    for tau in taus:
        y_hat, deferred = cascade_predict(P[0], P[1], tau)
        rows.append({"tau": tau, "accuracy": accuracy(y_hat, y),
                     "macs": cascade_cost(deferred, macs_s, macs_l),
                     "deferred": float(deferred.mean())})
    return rows


def choose_tau(curve, target=None, budget=None) -> dict:
    """A row of a (validation) :func:`cascade_curve`, by one of two rules.

    - ``target`` (an accuracy): the cheapest row with accuracy >= target
      (ties in cost: the more accurate); the most accurate row if none does.
    - ``budget`` (MACs per example): the most accurate row whose average
      MACs are <= budget (ties: the cheaper); the cheapest row if none is.

    Examples
    --------
    >>> rows = [{"tau": 0.5, "accuracy": 0.80, "macs": 10.0},
    ...         {"tau": 0.9, "accuracy": 0.90, "macs": 40.0},
    ...         {"tau": 1.0, "accuracy": 0.91, "macs": 110.0}]
    >>> choose_tau(rows, target=0.895)["tau"], choose_tau(rows, budget=50)["tau"]
    (0.9, 0.9)
    """
    where = "choose_tau"
    if (target is None) == (budget is None):
        raise ValueError(f"{where}: target={target!r}, budget={budget!r}; expected exactly one "
                         "of them (an accuracy to reach, or MACs per example to stay within)")
    if not isinstance(curve, (list, tuple)) or not curve:
        raise ValueError(f"{where}: curve={curve!r}; expected the non-empty list of rows "
                         "that cascade_curve returns")
    for i, row in enumerate(curve):
        if not isinstance(row, dict):
            raise TypeError(f"{where}: curve[{i}] is a {type(row).__name__}; expected a dict "
                            "row of cascade_curve (tau, accuracy, macs)")
        for key in ("accuracy", "macs"):
            if key not in row:
                raise ValueError(f"{where}: curve[{i}] has no {key!r} (keys {sorted(row)}); "
                                 "expected the rows that cascade_curve returns")
            check.number(row[key], f"curve[{i}][{key!r}]", low=0.0, where=where)
    if budget is not None:
        budget = check.number(budget, "budget", low=0.0, where=where)
        within = [r for r in curve if r["macs"] <= budget]
        if not within:
            return min(curve, key=lambda r: (r["macs"], -r["accuracy"]))
        return max(within, key=lambda r: (r["accuracy"], -r["macs"]))
    target = check.number(target, "target", low=0.0, high=1.0, where=where)
    good = [r for r in curve if r["accuracy"] >= target]
    if not good:
        return max(curve, key=lambda r: (r["accuracy"], -r["macs"]))
    return min(good, key=lambda r: (r["macs"], -r["accuracy"]))
