"""Offline datasets, tiny synthetic problems and minibatches.

Nothing here downloads anything:

- :func:`load_digits` -- scikit-learn's bundled 8x8 digits (1,797 images);
- :func:`load_mnist1d` -- MNIST-1D, *generated* locally by the ``mnist1d`` package;
- :func:`load_mnist` -- MNIST / Fashion-MNIST from IDX files you already have;
- :func:`make_blobs`, :func:`make_spirals` -- 2-D toy problems for plots;
- :func:`batches` -- seeded minibatches for a training loop.

Every function that uses randomness takes ``seed``: an ``int`` or a
``numpy.random.Generator``. The same seed always gives the same numbers.

The IDX format (MNIST's file format) is a 4-byte magic number
``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian ``uint32`` sizes,
then the values, big-endian, in row-major order. :func:`read_idx` and
:func:`write_idx` implement it in a few lines each.
"""
from __future__ import annotations

import functools
import gzip
import math
import os
import random
import struct
import tempfile
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Dataset", "batches", "load_digits", "load_mnist", "load_mnist1d", "make_blobs",
    "make_spirals", "num_batches", "read_idx", "train_test_split", "write_idx",
]


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


# ---------------------------------------------------------------- argument checks

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


# ---------------------------------------------------------------- splitting and batching

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


# ---------------------------------------------------------------- small real datasets

def load_digits(test_size=0.25, seed=0, standardize=True) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (offline), split and standardized.

    Parameters
    ----------
    test_size : float in (0, 1)
        Fraction of each class held out for testing.
    seed : int or Generator
        Seed of the stratified split (same seed, same split).
    standardize : bool
        Subtract the *train* set's per-feature mean and divide by its std.
        Pixels that never vary in the train set are divided by 1, not 0.
        Otherwise pixel values are left in 0..16.

    Returns
    -------
    Dataset
        1,797 images in all, 64 features, 10 classes, name ``"digits"``.

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_digits()
    >>> X_train.shape, X_test.shape
    ((1347, 64), (450, 64))
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    X, y = digits.data.astype(np.float64), digits.target.astype(np.int64)   # (1797, 64), (1797,)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size, seed, stratify=True)
    if standardize:
        mean = X_train.mean(axis=0)                                          # (64,)
        std = X_train.std(axis=0)                                            # (64,)
        std = np.where(std > 0, std, 1.0)                                    # constant pixels: / 1
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    return Dataset(X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test,
                   name="digits", num_classes=10)


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


def load_mnist1d(num_samples=5000, train_split=0.8, seed=42) -> Dataset:
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
        Seed of the generator. The defaults give the standard dataset:
        4,000 train and 1,000 test samples.

    Returns
    -------
    Dataset
        40 features (float32, zero mean / unit std overall), 10 classes, name ``"mnist1d"``.

    Raises
    ------
    TypeError, ValueError
        Bad ``num_samples``, ``train_split`` or ``seed``, or a part would be empty.

    Notes
    -----
    The ``mnist1d`` generator seeds NumPy's and Python's *global* random
    state; this function saves and restores both, so callers see no change.
    Results are cached in-process: a repeated call is free and returns copies.
    """
    num_samples = _check_int("load_mnist1d", "num_samples", num_samples, 10)
    train_split = _check_number("load_mnist1d", "train_split", train_split, 0.0, 1.0)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**32))   # mnist1d needs an int seed for np.random.seed
    seed = _check_int("load_mnist1d", "seed", seed, 0)
    if seed >= 2**32:
        raise ValueError(f"load_mnist1d: seed must be < 2**32 (np.random.seed's limit), got {seed}")
    n = num_samples // 10 * 10
    n_train = int(n * train_split)         # the same rule as mnist1d's split
    if not 0 < n_train < n:
        raise ValueError(f"load_mnist1d: train_split={train_split} with num_samples={num_samples} "
                         f"gives {n_train} train and {n - n_train} test samples, expected both > 0")
    arrays = [a.copy() for a in _mnist1d_arrays(num_samples, train_split, seed)]
    return Dataset(*arrays, name="mnist1d", num_classes=10)


# ---------------------------------------------------------------- IDX files (MNIST's format)

# IDX type code of each dtype; the values are stored big-endian in the file.
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
              np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
_IDX_TYPES = {code: dtype.newbyteorder(">") for dtype, code in _IDX_CODES.items()}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (MNIST's format), raw or gzip-compressed.

    Compression is detected from the first two bytes (gzip's ``1f 8b``),
    not from the file name.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Shape and dtype from the header, in native byte order.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Corrupt or truncated gzip data, or a malformed IDX file: too short for
        a header, bad magic number, unknown type code, 0 or more than 4
        dimensions, or more or fewer data bytes than the header announces.
        Every message starts with the file's path.
    """
    path = _as_path("read_idx", path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:     # BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an IDX header (at least 4 bytes)")
    zero0, zero1, code, ndim = raw[:4]
    magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{path}: bad magic number 0x{magic:08X}, expected an IDX file "
                         f"(0x0000TTNN: two zero bytes, type code TT, NN dimensions)")
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (magic number "
                         f"0x{magic:08X}), expected one of {known}")
    if not 1 <= ndim <= 4:
        raise ValueError(f"{path}: {ndim} dimensions in magic number 0x{magic:08X}, expected 1 to 4")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{path}: header truncated: {ndim} dimensions need {header_len} "
                         f"header bytes, found {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = _IDX_TYPES[code]
    expected, found = math.prod(shape) * dtype.itemsize, len(raw) - header_len
    if found < expected:
        raise ValueError(f"{path}: truncated: expected {expected} bytes of data for shape "
                         f"{shape}, found {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected bytes after the data: expected "
                         f"{expected} bytes of data for shape {shape}, found {found}")
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))            # native byte order, writable copy


def write_idx(path, array) -> str:
    """Write ``array`` to an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    The file is written to a temporary name in the same directory and then
    renamed, so an interrupted write never leaves a half-written file.

    Parameters
    ----------
    path : str or os.PathLike
    array : array_like with 1 to 4 dimensions
        dtype uint8, int8, int16, int32, float32 or float64 (cast first if
        needed, e.g. ``labels.astype(np.uint8)``).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    TypeError
        ``path`` is not a path, or the dtype has no IDX type code.
    ValueError
        ``array`` has 0 or more than 4 dimensions.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> _ = write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(p)
    array([3, 1, 4], dtype=uint8)
    """
    path = _as_path("write_idx", path)
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: array has dtype {array.dtype}, expected one of "
                        f"{', '.join(str(d) for d in _IDX_CODES)}")
    if not 1 <= array.ndim <= 4:
        raise ValueError(f"write_idx: array has {array.ndim} dimensions (shape {array.shape}), "
                         f"expected 1 to 4")
    header = struct.pack(f">4B{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload = header + array.astype(_IDX_TYPES[code]).tobytes()    # big-endian, row-major
    if path.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)                    # mtime=0: same array, same bytes
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find_idx(directory, stem):
    for name in (stem, stem + ".gz"):      # prefer the uncompressed file if both exist
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    contents = sorted(os.listdir(directory))
    raise FileNotFoundError(f"load_mnist: found neither {stem} nor {stem}.gz in {directory}; "
                            f"it contains {contents[:20]}{' ...' if len(contents) > 20 else ''}")


def _read_checked(path, ndim):
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        found = (_IDX_CODES[array.dtype] << 8) | array.ndim
        raise ValueError(f"{path}: magic number 0x{found:08X} ({array.dtype}, shape {array.shape}), "
                         f"expected 0x{0x0800 | ndim:08X} (uint8, {ndim} dimensions)")
    return array


def load_mnist(path, normalize=True) -> Dataset:
    """MNIST or Fashion-MNIST from the four standard IDX files in a directory.

    Parameters
    ----------
    path : str or os.PathLike
        Directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each may
        end in ``.gz``. Nothing is downloaded: get the files yourself.
    normalize : bool
        Scale pixels from 0..255 to [0, 1].

    Returns
    -------
    Dataset
        Images flattened to ``rows * cols`` features (784 for MNIST), 10
        classes, named after the directory.

    Raises
    ------
    TypeError
        ``path`` is not a str or os.PathLike.
    FileNotFoundError
        ``path`` is not a directory, or a file is missing (the message lists
        the names looked for and the directory's contents).
    ValueError
        A malformed file (see :func:`read_idx`), images that are not 3-D
        uint8, labels that are not 1-D uint8 or not in 0..9, different numbers
        of images and labels, or train and test images of different sizes.
    """
    directory = _as_path("load_mnist", path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"load_mnist: path must be a directory holding the MNIST files, "
                                f"got {directory!r}")
    parts = []
    for images_stem, labels_stem in (_MNIST_FILES[:2], _MNIST_FILES[2:]):
        images_path, labels_path = _find_idx(directory, images_stem), _find_idx(directory, labels_stem)
        images = _read_checked(images_path, ndim=3)                  # (N, rows, cols)
        labels = _read_checked(labels_path, ndim=1)                  # (N,)
        if len(images) != len(labels):
            raise ValueError(f"load_mnist: {images_path} has {len(images)} images but "
                             f"{labels_path} has {len(labels)} labels, expected the same number")
        bad = np.flatnonzero(labels > 9)
        if bad.size:
            raise ValueError(f"{labels_path}: label {labels[bad[0]]} at index {bad[0]}, "
                             f"expected labels in 0..9")
        X = images.reshape(len(images), -1).astype(np.float32)      # (N, rows * cols)
        if normalize:
            X /= 255.0
        parts += [X, labels.astype(np.int64), images.shape[1:]]
    if parts[2] != parts[5]:
        raise ValueError(f"load_mnist: train images are {parts[2]} but test images are "
                         f"{parts[5]} in {directory}, expected the same size")
    name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
    return Dataset(parts[0], parts[1], parts[3], parts[4], name=name, num_classes=10)


# ---------------------------------------------------------------- toy problems

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
