"""Tiny synthetic classification problems for unit tests and figures."""
from __future__ import annotations


import numpy as np

from .dataset import _check_int, _check_number, _rng


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
    num_classes = _check_int("make_blobs", "num_classes", num_classes, 1)
    n_samples = _check_int("make_blobs", "n_samples", n_samples, num_classes)
    num_features = _check_int("make_blobs", "num_features", num_features, 1)
    std = _check_number("make_blobs", "std", std, 0.0)
    rng = _rng("make_blobs", seed)
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
    num_classes = _check_int("make_spirals", "num_classes", num_classes, 1)
    n_samples = _check_int("make_spirals", "n_samples", n_samples, num_classes)
    noise = _check_number("make_spirals", "noise", noise, 0.0, low_inclusive=True)
    rng = _rng("make_spirals", seed)
    Xs, ys = [], []
    for c, n_c in enumerate(_class_sizes(n_samples, num_classes)):
        radius = np.linspace(0.0, 1.0, n_c)                                       # (n_c,)
        angle = np.linspace(4.0 * c, 4.0 * (c + 1), n_c) + noise * rng.standard_normal(n_c)
        Xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))  # (n_c, 2)
        ys.append(np.full(n_c, c))
    X, y = np.concatenate(Xs), np.concatenate(ys)                                  # (N, 2), (N,)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order].astype(np.int64)
