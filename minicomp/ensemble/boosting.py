r"""Sequential fusion (2): SAMME, multi-class AdaBoost -- each model improves on the last.

Start with uniform example weights :math:`w_i = 1/N`. For rounds
:math:`m = 1..M`: fit a weak learner :math:`h_m` to the weighted data, then

.. math::

    \mathrm{err}_m = \frac{\sum_i w_i\,[h_m(x_i) \ne y_i]}{\sum_i w_i}, \qquad
    \alpha_m = \eta\left(\log\frac{1-\mathrm{err}_m}{\mathrm{err}_m} + \log(K-1)\right),

    w_i \leftarrow w_i \exp\big(\alpha_m [h_m(x_i) \ne y_i]\big) \text{ (then normalised)},

and predict :math:`\arg\max_k \sum_m \alpha_m [h_m(x) = k]`. The
:math:`\log(K-1)` term is what makes it multi-class: a learner only needs
to beat chance, :math:`\mathrm{err}_m < 1 - 1/K`, not 1/2. Boosting stops
at a learner no better than chance (it is dropped) or a perfect one.

A perfect learner (:math:`\mathrm{err}_m = 0`, where the formula gives
:math:`\alpha_m = \infty`) gets :math:`\alpha_m = 1` whatever the round,
as in scikit-learn's ``AdaBoostClassifier``: as the first learner it alone
decides; after earlier rounds it is one more vote of weight 1, which
learners with larger :math:`\alpha` may outvote. The weights are kept as
logarithms and normalised by their maximum, so a large learning rate
cannot overflow them.

The weak learner is any ``fit_learner(X, y, w, rng) -> predict`` (labels).
:func:`net_learner` trains a small MLP on a **weighted resample** of the data
(boosting by resampling; a stated deviation from reweighting the loss, since
:func:`~minicomp.train.fit` has no per-example weights). With a learner that
takes weights directly (a decision stump), the rounds are exactly
scikit-learn's ``AdaBoostClassifier`` (checked in the tests).

References
----------
Zhu, J., Zou, H., Rosset, S., Hastie, T. (2009). Multi-class AdaBoost.
Statistics and Its Interface 2, 349-360.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import validate as check
from ..nn import MLP
from ..optim import SGD
from ..structure.fold import int_list
from ..train import fit, predict


@dataclass
class Boosted:
    """The rounds of :func:`samme`."""

    learners: list = field(default_factory=list)    # predict callables X -> labels, in order
    alphas: list = field(default_factory=list)      # alpha_m of each kept learner
    errors: list = field(default_factory=list)      # weighted training error err_m
    num_classes: int = 2


def samme(fit_learner, X, y, num_classes: int, rounds: int = 10, learning_rate: float = 1.0,
          seed=0) -> Boosted:
    """Fit ``rounds`` weak learners by SAMME (see the module docstring).

    Parameters
    ----------
    fit_learner : callable ``(X, y, w, rng) -> predict``
        Trains one weak learner on examples weighted by ``w`` (sums to 1) and
        returns a function mapping inputs to integer labels.
    X : array (N, D); y : int labels (N,)
    num_classes : int >= 2
    rounds : int >= 1
    learning_rate : float > 0
        :math:`\\eta`, shrinks every :math:`\\alpha_m`.
    seed : int or Generator
        Passed (as a Generator) to ``fit_learner``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments; a learner whose predictions are not (N,) integer
        labels in 0..num_classes-1; a ``fit_learner`` from :func:`net_learner`
        with another class count; the first learner is no better than chance
        (nothing to boost).
    """
    where = "samme"
    if not callable(fit_learner):
        raise TypeError(f"{where}: fit_learner is a {type(fit_learner).__name__}; expected a "
                        "callable (X, y, w, rng) -> predict, e.g. net_learner([16])")
    K = check.integer(num_classes, "num_classes", low=2, where=where)
    X = check.array(X, "X", ndim=2, dtype=np.float32, where=where)
    y = check.labels(y, "y", n=len(X), num_classes=K, where=where)
    rounds = check.integer(rounds, "rounds", low=1, where=where)
    eta = check.number(learning_rate, "learning_rate", low=0.0, low_open=True, where=where)
    rng = check.rng(seed, where=where)
    if getattr(fit_learner, "num_classes", K) != K:
        raise ValueError(f"{where}: fit_learner makes nets of {fit_learner.num_classes} "
                         f"classes but num_classes={K}; expected the same class count")
    model, w = Boosted(num_classes=K), np.full(len(X), 1.0 / len(X))        # (N,)
    log_w = np.zeros(len(X))                                                # log w + const
    for m in range(rounds):
        h = fit_learner(X, y, w, rng)
        if not callable(h):
            raise TypeError(f"{where}: fit_learner returned a {type(h).__name__}; expected a "
                            "predict callable X -> labels")
        wrong = _predictions(h, X, K, m, where) != y                        # (N,)
        err = float(np.average(wrong, weights=w))
        if err >= 1.0 - 1.0 / K - 1e-12:                                    # chance or worse
            if not model.learners:
                raise ValueError(f"{where}: the first learner has weighted error {err:.3f} >= "
                                 f"1 - 1/K = {1 - 1 / K:.3f}; expected a learner better than "
                                 "chance")
            break
        alpha = 1.0 if err <= 0 else eta * (np.log((1 - err) / err) + np.log(K - 1))
        model.learners.append(h)
        model.alphas.append(float(alpha))
        model.errors.append(err)
        if err <= 0:                                                        # perfect: stop
            break
        log_w = log_w + alpha * wrong                                       # (N,) up-weight errors
        w = np.exp(log_w - log_w.max())                                     # max 1: no overflow
        w = np.clip(w / w.sum(), np.finfo(np.float64).eps, None)
    return model


def _predictions(h, X, K, m, where):
    """The labels ``h(X)`` of round ``m``'s learner, checked: (N,) ints in 0..K-1."""
    try:
        return check.labels(h(X), f"the round-{m} learner's predictions h(X)", n=len(X),
                            num_classes=K, where=where)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e} (one class label per row of X)") from None


def samme_scores(model: Boosted, X) -> np.ndarray:
    r"""Class scores :math:`\sum_m \alpha_m [h_m(x) = k]`, shape (N, K)."""
    if not isinstance(model, Boosted):
        raise TypeError(f"samme_scores: model is a {type(model).__name__}; expected the "
                        "Boosted that samme returns")
    X = check.array(X, "X", ndim=2, dtype=np.float32, where="samme_scores")
    S = np.zeros((len(X), model.num_classes))                               # (N, K)
    for h, alpha in zip(model.learners, model.alphas):
        S[np.arange(len(X)), np.asarray(h(X))] += alpha
    return S


def samme_predict(model: Boosted, X) -> np.ndarray:
    """The boosted prediction ``argmax_k`` of :func:`samme_scores` (ties: lowest class)."""
    return samme_scores(model, X).argmax(axis=1)


def net_learner(num_classes: int, hidden=(16,), epochs: int = 10, lr: float = 0.05,
                batch_size: int = 64):
    """A ``fit_learner`` for :func:`samme`: an MLP trained on a weighted resample.

    Each call draws N examples with replacement, with probabilities ``w``,
    and trains ``MLP([D, *hidden, num_classes])`` on them (SGD, momentum 0.9).
    """
    K = check.integer(num_classes, "num_classes", low=2, where="net_learner")
    hidden = int_list(hidden, "hidden", low=1, where="net_learner")
    epochs = check.integer(epochs, "epochs", low=1, where="net_learner")

    def fit_learner(X, y, w, rng):
        idx = rng.choice(len(X), size=len(X), p=w)                          # (N,) resample
        net = MLP([X.shape[1], *hidden, K],
                  seed=int(rng.integers(2**31)))
        opt = SGD(net.parameters(), lr=lr, momentum=0.9)
        fit(net, X[idx], y[idx], optimizer=opt, epochs=epochs, batch_size=batch_size,
            seed=rng, quiet=True)
        return lambda Z: predict(net, Z).argmax(axis=1)

    fit_learner.num_classes = K                          # samme checks it against its own
    return fit_learner
