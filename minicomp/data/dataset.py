"""The :class:`Dataset` container, splits and seeded minibatches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import validate as check


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of a classification dataset, with an optional validation part.

    Unpacks like a tuple: ``X_train, y_train, X_test, y_test = load_digits()``.
    The validation part (``load_digits(validation=0.1)``) is carved from the
    training part, so ``X_train`` does not contain it; every choice
    (threshold, sensitivity, early stopping, ...) is made on it, and the test
    set is kept for the final number.

    Attributes
    ----------
    X_train : ndarray, shape (N_train, D), float32
    y_train : ndarray, shape (N_train,), int64
    X_test : ndarray, shape (N_test, D), float32
    y_test : ndarray, shape (N_test,), int64
    name : str
    num_classes : int
    X_val : ndarray, shape (N_val, D), float32
        Shape (0, D) when there is no validation part (the default).
    y_val : ndarray, shape (N_val,), int64
        Shape (0,) when there is no validation part.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    num_classes: int
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self):
        where = f"Dataset {self.name!r}"
        num_classes = check.integer(self.num_classes, "num_classes", low=1, where=where)
        for part in ("train", "test", "val"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if part == "val" and X is None and y is None:       # no validation part
                width = check.array(self.X_train, "X_train", where=where).shape[-1]
                X, y = np.zeros((0, width), np.float32), np.zeros(0, np.int64)
            nonempty = part != "val"
            X = check.array(X, f"X_{part}", nonempty=nonempty, where=where)
            y = check.array(y, f"y_{part}", nonempty=nonempty, where=where)
            if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
                raise ValueError(f"{where}: {part} X has shape {X.shape} and y has "
                                 f"shape {y.shape}, expected (N, D) and (N,)")
            y = check.labels(y, f"y_{part}", num_classes=num_classes, where=where) \
                if len(y) else y.astype(np.int64)
            object.__setattr__(self, f"X_{part}", X)        # frozen: set once, checked
            object.__setattr__(self, f"y_{part}", y)
        object.__setattr__(self, "num_classes", num_classes)
        for part in ("test", "val"):
            width = getattr(self, f"X_{part}").shape[1]
            if self.X_train.shape[1] != width:
                raise ValueError(f"Dataset {self.name!r}: X_train has {self.X_train.shape[1]} "
                                 f"features but X_{part} has {width}, expected the same number")

    @property
    def num_features(self) -> int:
        """Number of input features ``D``."""
        return self.X_train.shape[1]

    @property
    def validation(self):
        """``(X_val, y_val)``, or None without a validation part: ``fit(..., validation=)``."""
        return (self.X_val, self.y_val) if len(self.y_val) else None

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __repr__(self) -> str:
        val = f", val={self.X_val.shape}" if len(self.y_val) else ""
        return (f"Dataset({self.name!r}, train={self.X_train.shape}{val}, "
                f"test={self.X_test.shape}, num_classes={self.num_classes})")


def _rows(value, name, where, **options) -> np.ndarray:
    """``value`` as an array of numbers with at least one axis (one row per sample)."""
    arr = check.array(value, name, where=where, **options)
    if arr.ndim == 0:
        raise ValueError(f"{where}: {name} is a scalar ({arr.item()!r}); expected an array with "
                         "one row per sample")
    return arr


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
    TypeError, ValueError
        ``X`` or ``y`` empty, not numbers or with NaN/inf; ``y`` not whole
        numbers when ``stratify``; ``len(X) != len(y)``, ``test_size`` outside
        (0, 1), or a part would be empty.
    """
    where = "train_test_split"
    test_size = check.number(test_size, "test_size", low=0.0, high=1.0, low_open=True,
                             high_open=True, where=where)
    rng = check.rng(seed, where=where)
    X, y = _rows(X, "X", where), _rows(y, "y", where)
    if check.flag(stratify, "stratify", where=where):       # classes: whole numbers
        check.labels(y, "y (stratify=True)", where=where)
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


def split_validation(X, y, validation, seed, where="split_validation"):
    """Carve a stratified, seeded validation part out of a training part.

    The one place every loader makes its validation split
    (:func:`~minicomp.data.load_digits`, :func:`~minicomp.data.load_mnist1d`,
    :func:`~minicomp.data.load_mnist`), with :func:`train_test_split`.

    Parameters
    ----------
    X : ndarray, shape (N, D)
    y : ndarray, shape (N,) integer labels
    validation : float in [0, 1)
        Fraction of each class moved to the validation part; 0 gives an empty
        one, of shapes (0, D) and (0,).
    seed : int or Generator
    where : str
        The public function named in error messages.

    Returns
    -------
    X_train, y_train, X_val, y_val : ndarray
        The rest of the training part, then the validation part.

    Raises
    ------
    TypeError, ValueError
        ``validation`` not a finite number in [0, 1) (bools refused), or so
        small or large that a part would be empty.

    Examples
    --------
    >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> [a.shape for a in split_validation(X, y, 0.4, seed=0)]
    [(6, 2), (6,), (4, 2), (4,)]
    >>> [a.shape for a in split_validation(X, y, 0.0, seed=0)]
    [(10, 2), (10,), (0, 2), (0,)]
    """
    validation = check.number(validation, "validation", low=0.0, high=1.0, high_open=True,
                              where=where)
    if validation == 0.0:
        return X, y, X[:0], y[:0]                       # (0, D), (0,): no validation part
    try:
        X_train, X_val, y_train, y_val = train_test_split(X, y, validation, seed, stratify=True)
    except ValueError as e:
        raise ValueError(f"{where}: validation={validation} leaves an empty part of the "
                         f"{len(y)} training samples ({e}); expected a fraction that keeps "
                         "samples on both sides") from None
    return X_train, y_train, X_val, y_val


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of minibatches :func:`batches` yields for ``n`` samples."""
    n = check.integer(n, "n", low=0, where="num_batches")
    batch_size = check.integer(batch_size, "batch_size", low=1, where="num_batches")
    drop_last = check.flag(drop_last, "drop_last", where="num_batches")
    return n // batch_size if drop_last else -(-n // batch_size)     # -(-a // b) == ceil(a / b)


def batches(X, y=None, batch_size=32, shuffle=True, seed=None, drop_last=False):
    """Iterate over minibatches of ``(X, y)``, each sample once per pass.

    Parameters
    ----------
    X : array_like, shape (N, ...)
        Numbers (NaN is left to the consumer); a list is made an array.
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
        Bad ``batch_size`` or ``seed``; ``X`` or ``y`` not arrays of numbers;
        ``len(X) != len(y)``.

    Examples
    --------
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [len(y_b) for X_b, y_b in batches(X, y, batch_size=2, seed=0)]
    [2, 2, 1]
    """
    # Check arguments now: the generator below only runs on the first next().
    batch_size = check.integer(batch_size, "batch_size", low=1, where="batches")
    rng = np.random.default_rng() if seed is None else check.rng(seed, where="batches")
    shuffle = check.flag(shuffle, "shuffle", where="batches")
    drop_last = check.flag(drop_last, "drop_last", where="batches")
    X = _rows(X, "X", "batches", finite=False, nonempty=False)
    y = None if y is None else _rows(y, "y", "batches", finite=False, nonempty=False)
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
