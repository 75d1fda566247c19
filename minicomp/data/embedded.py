"""Datasets that ship with packages: scikit-learn's digits and MNIST-1D (generated locally)."""
from __future__ import annotations

import functools
import random

import numpy as np

from .. import validate as check
from .dataset import Dataset, split_validation, train_test_split


def load_digits(test_size=0.25, seed=0, standardize=True, validation=0.0) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (offline), split and standardized.

    Parameters
    ----------
    test_size : float in (0, 1)
        Fraction of each class held out for testing.
    seed : int or Generator
        Seed of the stratified splits (same seed, same splits).
    standardize : bool
        Subtract the *train* set's per-feature mean and divide by its std
        (the rows left after the validation part is carved out). Pixels that
        never vary there are divided by 1, not 0. Otherwise pixel values are
        left in 0..16.
    validation : float in [0, 1)
        Fraction of each class of the train part moved to ``X_val, y_val``
        (:func:`~minicomp.data.split_validation`), after the test part is
        drawn: the test set is the same for every ``validation``.

    Returns
    -------
    Dataset
        1,797 images in all, 64 features, 10 classes, name ``"digits"``.

    Raises
    ------
    TypeError, ValueError
        Bad ``test_size``, ``seed``, ``standardize`` or ``validation`` (NaN,
        bools and values outside [0, 1) refused, naming the value).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_digits()
    >>> X_train.shape, X_test.shape
    ((1347, 64), (450, 64))
    >>> data = load_digits(validation=0.1)
    >>> data.X_train.shape, data.X_val.shape, data.X_test.shape
    ((1211, 64), (136, 64), (450, 64))
    """
    from sklearn.datasets import load_digits as sklearn_digits

    test_size = check.number(test_size, "test_size", low=0.0, high=1.0, low_open=True,
                             high_open=True, where="load_digits")
    seed = check.rng(seed, where="load_digits")
    standardize = check.flag(standardize, "standardize", where="load_digits")
    check.number(validation, "validation", low=0.0, high=1.0, high_open=True, where="load_digits")
    digits = sklearn_digits()
    X, y = digits.data.astype(np.float64), digits.target.astype(np.int64)   # (1797, 64), (1797,)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size, seed, stratify=True)
    X_train, y_train, X_val, y_val = split_validation(X_train, y_train, validation, seed,
                                                      "load_digits")
    if standardize:                                      # statistics of the training rows only
        mean = X_train.mean(axis=0)                                          # (64,)
        std = X_train.std(axis=0)                                            # (64,)
        std = np.where(std > 0, std, 1.0)                                    # constant pixels: / 1
        X_train, X_val, X_test = ((part - mean) / std for part in (X_train, X_val, X_test))
    return Dataset(X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test,
                   name="digits", num_classes=10, X_val=X_val.astype(np.float32), y_val=y_val)


@functools.lru_cache(maxsize=8)
def _mnist1d_arrays(num_samples, train_split, seed):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)          # seeds and uses NumPy's and Python's global generators
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = (data["x"].astype(np.float32), data["y"].astype(np.int64),
              data["x_test"].astype(np.float32), data["y_test"].astype(np.int64))
    for a in arrays:
        a.flags.writeable = False          # the cached copy must never change
    return arrays


def load_mnist1d(num_samples=5000, train_split=0.8, seed=42, validation=0.0) -> Dataset:
    """MNIST-1D (Greydanus, 2020), generated locally -- never downloaded.

    Ten 1-D "digit" templates of 40 points each, randomly padded, shifted,
    scaled, sheared and noised. Hard enough that an MLP and a CNN differ,
    small enough to train in seconds.

    Parameters
    ----------
    num_samples : int >= 10
        Total samples, rounded down to a multiple of 10 (one tenth per class).
    train_split : float in (0, 1)
        Fraction of the samples in the train part.
    seed : int or Generator
        Seed of the generator, and of the validation split. The defaults
        give the standard dataset: 4,000 train and 1,000 test samples.
    validation : float in [0, 1)
        Fraction of each class of the train part moved to ``X_val, y_val``
        (:func:`~minicomp.data.split_validation`); the test set is unchanged.

    Returns
    -------
    Dataset
        40 features (float32, zero mean / unit std overall), 10 classes, name ``"mnist1d"``.

    Raises
    ------
    TypeError, ValueError
        Bad ``num_samples``, ``train_split``, ``seed`` or ``validation`` (NaN,
        bools, values outside [0, 1) refused), or a part would be empty.

    Notes
    -----
    The ``mnist1d`` generator seeds NumPy's and Python's *global* random
    state; this function saves and restores both, so callers see no change.
    Results are cached in-process: a repeated call is free and returns copies.
    """
    num_samples = check.integer(num_samples, "num_samples", low=10, where="load_mnist1d")
    train_split = check.number(train_split, "train_split", low=0.0, high=1.0, low_open=True,
                               high_open=True, where="load_mnist1d")
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**32))   # mnist1d needs an int seed for np.random.seed
    seed = check.integer(seed, "seed", low=0, high=2**32 - 1, where="load_mnist1d")
    check.number(validation, "validation", low=0.0, high=1.0, high_open=True, where="load_mnist1d")
    n = num_samples // 10 * 10
    n_train = int(n * train_split)         # the same rule as mnist1d's split
    if not 0 < n_train < n:
        raise ValueError(f"load_mnist1d: train_split={train_split} with num_samples={num_samples} "
                         f"gives {n_train} train and {n - n_train} test samples, expected both > 0")
    X_train, y_train, X_test, y_test = (a.copy() for a in
                                        _mnist1d_arrays(num_samples, train_split, seed))
    X_train, y_train, X_val, y_val = split_validation(X_train, y_train, validation, seed,
                                                      "load_mnist1d")
    return Dataset(X_train, y_train, X_test, y_test, name="mnist1d", num_classes=10,
                   X_val=X_val, y_val=y_val)
