"""Data augmentation for :func:`minicomp.fit` (``augment=``): a new random version of each batch.

An augmentation is a callable ``augment(X_b, rng) -> X_b`` (same shape);
:func:`minicomp.fit` draws it with its own generator, so a seed still gives
the same run. These two fit MNIST-1D, whose examples are made from templates
by random shifts and noise (Greydanus 2020): shifting or adding noise to an
example gives another plausible example of the same class.
"""
from __future__ import annotations

import numpy as np

from .. import validate as check


def random_shift(max_shift: int = 3):
    """Roll each row by its own random number of positions in ``[-max_shift, max_shift]``.

    Examples
    --------
    >>> shift = random_shift(1)
    >>> shift(np.array([[1.0, 2.0, 3.0]]), np.random.default_rng(0))   # rolled by +1
    array([[3., 1., 2.]])
    """
    k = check.integer(max_shift, "max_shift", low=0, where="random_shift")

    def shift(X_b, rng):
        s = rng.integers(-k, k + 1, size=len(X_b))                       # (B,)
        cols = (np.arange(X_b.shape[1])[None, :] - s[:, None]) % X_b.shape[1]   # (B, D)
        return np.take_along_axis(X_b, cols, axis=1)
    return shift


def gaussian_noise(sigma: float = 0.1):
    """Add independent N(0, sigma²) noise to every entry."""
    sigma = check.number(sigma, "sigma", low=0.0, where="gaussian_noise")

    def noise(X_b, rng):
        return X_b + rng.standard_normal(X_b.shape).astype(X_b.dtype) * sigma
    return noise
