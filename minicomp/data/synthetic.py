"""Tiny synthetic classification problems for unit tests and figures."""
from __future__ import annotations

import numpy as np

from .. import validate as check


def _class_sizes(n_samples, num_classes):
    """As even as possible: the first ``n_samples % num_classes`` classes get one more."""
    return [n_samples // num_classes + (c < n_samples % num_classes) for c in range(num_classes)]


def make_blobs(n_samples=300, num_classes=3, num_features=2, std=1.0, seed=0):
    """Gaussian blobs, one per class, around centers drawn uniformly in [-5, 5].

    Parameters
    ----------
    n_samples : int >= num_classes
    num_classes : int >= 1
    num_features : int >= 1
    std : float > 0
        Standard deviation of each blob, in every direction.
    seed : int or Generator

    Returns
    -------
    X : ndarray, shape (n_samples, num_features), float32
    y : ndarray, shape (n_samples,), int64
        Classes as balanced as possible, samples in random order.
    """
    num_classes = check.integer(num_classes, "num_classes", low=1, where="make_blobs")
    n_samples = check.integer(n_samples, "n_samples", low=num_classes, where="make_blobs")
    num_features = check.integer(num_features, "num_features", low=1, where="make_blobs")
    std = check.number(std, "std", low=0.0, low_open=True, where="make_blobs")
    rng = check.rng(seed, where="make_blobs")
    centers = rng.uniform(-5, 5, size=(num_classes, num_features))          # (C, D)
    y = np.repeat(np.arange(num_classes), _class_sizes(n_samples, num_classes))  # (N,)
    X = centers[y] + std * rng.standard_normal((n_samples, num_features))   # (N, D)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_spirals(n_samples=300, num_classes=3, noise=0.2, seed=0):
    """Interleaved 2-D spirals, one arm per class (the classic CS231n toy problem).

    Along each arm the radius grows from 0 to 1 while the angle sweeps 4
    radians, starting 4 radians after the previous class's arm; Gaussian
    noise of std ``noise`` is added to the angle. Not linearly separable.

    Parameters
    ----------
    n_samples : int >= num_classes
    num_classes : int >= 1
    noise : float >= 0
    seed : int or Generator

    Returns
    -------
    X : ndarray, shape (n_samples, 2), float32
    y : ndarray, shape (n_samples,), int64
        Classes as balanced as possible, samples in random order.
    """
    num_classes = check.integer(num_classes, "num_classes", low=1, where="make_spirals")
    n_samples = check.integer(n_samples, "n_samples", low=num_classes, where="make_spirals")
    noise = check.number(noise, "noise", low=0.0, where="make_spirals")
    rng = check.rng(seed, where="make_spirals")
    Xs, ys = [], []
    for c, n_c in enumerate(_class_sizes(n_samples, num_classes)):
        radius = np.linspace(0.0, 1.0, n_c)                                       # (n_c,)
        angle = np.linspace(4.0 * c, 4.0 * (c + 1), n_c) + noise * rng.standard_normal(n_c)
        Xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))  # (n_c, 2)
        ys.append(np.full(n_c, c))
    X, y = np.concatenate(Xs), np.concatenate(ys)                                  # (N, 2), (N,)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order].astype(np.int64)
