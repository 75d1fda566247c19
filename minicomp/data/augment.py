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


def _batch(X_b, rng, where) -> tuple:
    """A batch ``(B, D)`` of numbers and a NumPy Generator, or a clear error."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng is a {type(rng).__name__}; expected a "
                        "numpy.random.Generator (fit passes its own)")
    return check.array(X_b, "X_b", ndim=2, finite=False, where=where), rng


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
        X_b, rng = _batch(X_b, rng, "random_shift")
        s = rng.integers(-k, k + 1, size=len(X_b))                       # (B,)
        cols = (np.arange(X_b.shape[1])[None, :] - s[:, None]) % X_b.shape[1]   # (B, D)
        return np.take_along_axis(X_b, cols, axis=1)
    return shift


def gaussian_noise(sigma: float = 0.1):
    """Add independent N(0, sigma²) noise to every entry."""
    sigma = check.number(sigma, "sigma", low=0.0, where="gaussian_noise")

    def noise(X_b, rng):
        X_b, rng = _batch(X_b, rng, "gaussian_noise")
        dtype = X_b.dtype if X_b.dtype.kind == "f" else np.float64       # ints: noise in float
        return (X_b + rng.standard_normal(X_b.shape) * sigma).astype(dtype)
    return noise
