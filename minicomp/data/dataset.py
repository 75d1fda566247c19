"""The :class:`Dataset` container, argument checks, splits and seeded minibatches."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of a classification dataset.

    Unpacks like a tuple: ``X_train, y_train, X_test, y_test = load_digits()``.

    Attributes
    ----------
    X_train : ndarray, shape (N_train, D), float32
    y_train : ndarray, shape (N_train,), int64
    X_test : ndarray, shape (N_test, D), float32
    y_test : ndarray, shape (N_test,), int64
    name : str
    num_classes : int
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    num_classes: int

    def __post_init__(self):
        for part, X, y in (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test)):
            if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
                raise ValueError(f"Dataset {self.name!r}: {part} X has shape {X.shape} and y has "
                                 f"shape {y.shape}, expected (N, D) and (N,)")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"Dataset {self.name!r}: X_train has {self.X_train.shape[1]} features "
                             f"but X_test has {self.X_test.shape[1]}, expected the same number")

    @property
    def num_features(self) -> int:
        """Number of input features ``D``."""
        return self.X_train.shape[1]

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}, "
                f"num_classes={self.num_classes})")


# ---- argument checks

def _check_int(where, name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _check_number(where, name, value, low, high=math.inf, low_inclusive=False):
    """Check ``low < value < high`` (or ``low <= value`` if ``low_inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {value!r} ({type(value).__name__})")
    ok_low = value >= low if low_inclusive else value > low
    if not (ok_low and value < high):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{where}: {name} must be in {bracket}{low}, {high}), got {value!r}")
    return float(value)


def _rng(where, seed, allow_none=False) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None and allow_none:
        return np.random.default_rng()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    expected = "a non-negative int" + (", None" if allow_none else "") + " or a numpy Generator"
    raise TypeError(f"{where}: seed must be {expected}, got {seed!r}")


def _as_path(where, path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


# ---- splitting and batching

def train_test_split(X, y, test_size=0.25, seed=0, stratify=True):
    """Split ``X, y`` at random into a train part and a test part.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
    y : ndarray, shape (N,) integer labels
    test_size : float in (0, 1)
        Fraction of the samples (of each class, if ``stratify``) put in the test part.
    seed : int or Generator
    stratify : bool
        Keep each class's proportion the same in both parts.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        In scikit-learn's order (note: *not* the order of :class:`Dataset`).

    Raises
    ------
    ValueError
        ``len(X) != len(y)``, ``test_size`` outside (0, 1), or a part would be empty.
    """
    test_size = _check_number("train_test_split", "test_size", test_size, 0.0, 1.0)
    rng = _rng("train_test_split", seed)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} samples but y has {len(y)}, expected the same")
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    train, test = [], []
    for idx in groups:                              # idx: the samples of one class
        idx = rng.permutation(idx)
        n_test = round(len(idx) * test_size)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train = rng.permutation(np.concatenate(train))  # mix the classes again
    test = rng.permutation(np.concatenate(test))
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"train_test_split: test_size={test_size} leaves {len(train)} train and "
                         f"{len(test)} test samples out of {len(y)}, expected both non-empty")
    return X[train], X[test], y[train], y[test]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of minibatches :func:`batches` yields for ``n`` samples."""
    n = _check_int("num_batches", "n", n, 0)
    batch_size = _check_int("num_batches", "batch_size", batch_size, 1)
    return n // batch_size if drop_last else -(-n // batch_size)     # -(-a // b) == ceil(a / b)


def batches(X, y=None, batch_size=32, shuffle=True, seed=None, drop_last=False):
    """Iterate over minibatches of ``(X, y)``, each sample once per pass.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
        Anything with ``len`` that can be indexed by an integer array.
    y : ndarray, shape (N,), optional
        Labels; if None, the batches are ``X_b`` alone.
    batch_size : int
        Samples per batch; the last batch may be smaller unless ``drop_last``.
    shuffle : bool
        Visit the samples in a random order (else in order 0, 1, ..., N-1).
    seed : int, Generator or None
        The same int gives the same order; None gives a fresh random order.
        Pass one Generator to get a new order every epoch.
    drop_last : bool
        Skip the final batch if it is smaller than ``batch_size``.

    Returns
    -------
    iterator of (X_b, y_b) tuples, or of X_b if ``y`` is None

    Raises
    ------
    TypeError, ValueError
        Bad ``batch_size`` or ``seed``; ``len(X) != len(y)``.

    Examples
    --------
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [len(y_b) for X_b, y_b in batches(X, y, batch_size=2, seed=0)]
    [2, 2, 1]
    """
    # Check arguments now: the generator below only runs on the first next().
    batch_size = _check_int("batches", "batch_size", batch_size, 1)
    rng = _rng("batches", seed, allow_none=True)
    n = len(X)
    if y is not None and len(y) != n:
        raise ValueError(f"batches: X has {n} samples but y has {len(y)}, expected the same number")
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n

    def generate():
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]     # (B,) with B <= batch_size
            yield X[idx] if y is None else (X[idx], y[idx])

    return generate()
