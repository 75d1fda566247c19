"""A minicomp net as a scikit-learn classifier (the "with the library" side of hybrid fusion).

Kept apart so that ``import minicomp.ensemble`` does not import scikit-learn:
:mod:`minicomp.ensemble` loads this file the first time ``NetClassifier`` is
asked for.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from .. import functional as F
from .. import validate as check
from ..optim import SGD
from ..train import fit, predict
from .parallel import check_members


class NetClassifier(ClassifierMixin, BaseEstimator):
    """A minicomp net as a scikit-learn classifier.

    Parameters
    ----------
    net : Module
        A trained net (outputs: logits of ``C`` classes, labels ``0..C-1``).
    epochs : int
        0 (default): ``fit`` trains nothing -- the net is *prefit*; it only
        records ``classes_`` (wrap it in ``sklearn.frozen.FrozenEstimator``
        for ``VotingClassifier``, or use ``StackingClassifier(cv="prefit")``).
        > 0: ``fit`` trains a copy of ``net`` from its current weights for
        that many epochs (SGD, ``lr``, momentum 0.9).
    lr : float
    seed : int
    """

    def __init__(self, net=None, epochs: int = 0, lr: float = 0.05, seed: int = 0):
        self.net, self.epochs, self.lr, self.seed = net, epochs, lr, seed

    def fit(self, X, y):
        check.module(self.net, "net", where="NetClassifier.fit")
        _, n_in, C = check_members([self.net], "NetClassifier.fit")
        epochs = check.integer(self.epochs, "epochs", low=0, where="NetClassifier.fit")
        X = check.array(X, "X", ndim=2, width=n_in, dtype=np.float32, where="NetClassifier.fit")
        y = check.labels(y, "y", n=len(X), num_classes=C, where="NetClassifier.fit")
        self.net_ = copy.deepcopy(self.net)
        if epochs:
            opt = SGD(self.net_.parameters(), lr=self.lr, momentum=0.9)
            fit(self.net_, X, y, optimizer=opt, epochs=epochs, seed=self.seed, quiet=True)
        self.classes_ = np.arange(C)
        self.n_features_in_ = n_in
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (N, C); NotFittedError before :meth:`fit`."""
        if not hasattr(self, "net_"):
            raise NotFittedError("NetClassifier.predict_proba: this NetClassifier is not "
                                 "fitted yet; call fit(X, y) first (epochs=0: records classes_ "
                                 "only)")
        return F.softmax(predict(self.net_, X).astype(np.float64)).data

    def predict(self, X) -> np.ndarray:
        """Predicted class labels, (N,)."""
        P = self.predict_proba(X)                                   # (N, C); checks fitted
        return self.classes_[P.argmax(axis=1)]
