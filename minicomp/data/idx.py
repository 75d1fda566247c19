"""MNIST's IDX file format: read, write, and load a whole MNIST / Fashion-MNIST directory.

The IDX format is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``,
then ``ndim`` big-endian ``uint32`` sizes, then the values, big-endian, in
row-major order. :func:`read_idx` and :func:`write_idx` implement it in a few
lines each.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from .. import validate as check
from ..atomic import atomic_open, check_target
from .dataset import Dataset, split_validation

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
    IsADirectoryError
        ``path`` is a directory.
    ValueError
        Corrupt or truncated gzip data, or a malformed IDX file: too short for
        a header, bad magic number, unknown type code, 0 or more than 4
        dimensions, or more or fewer data bytes than the header announces.
        Every message starts with the file's path.
    """
    path = check.path(path, where="read_idx")
    if os.path.isdir(path):
        raise IsADirectoryError(f"read_idx: {path} is a directory; expected an IDX file (for "
                                "the four MNIST files of a directory use load_mnist)")
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
        ``array`` has 0 or more than 4 dimensions; ``path`` exists and is not
        a regular file (a device, a FIFO: refused, never replaced).
    IsADirectoryError, FileNotFoundError, NotADirectoryError, PermissionError
        ``path`` cannot be written (see :func:`minicomp.atomic.check_target`);
        all are raised before anything is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> _ = write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(p)
    array([3, 1, 4], dtype=uint8)
    """
    path = check_target(path, where="write_idx")
    array = check.array(array, "array", finite=False, nonempty=False, where="write_idx")
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
    with atomic_open(path, where="write_idx") as f:                    # all or nothing
        f.write(payload)
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


def load_mnist(path, normalize=True, validation=0.0, seed=0) -> Dataset:
    """MNIST or Fashion-MNIST from the four standard IDX files in a directory.

    Parameters
    ----------
    path : str or os.PathLike
        Directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each may
        end in ``.gz``. Nothing is downloaded: get the files yourself.
    normalize : bool
        Scale pixels from 0..255 to [0, 1].
    validation : float in [0, 1)
        Fraction of each class of the train files moved to ``X_val, y_val``
        (:func:`~minicomp.data.split_validation`); the test files are unchanged.
    seed : int or Generator
        Seed of the validation split.

    Returns
    -------
    Dataset
        Images flattened to ``rows * cols`` features (784 for MNIST), 10
        classes, named after the directory.

    Raises
    ------
    TypeError
        ``path`` is not a str or os.PathLike, ``normalize`` not a bool, ``validation``
        not a number or ``seed`` not a non-negative int or Generator.
    FileNotFoundError
        ``path`` does not exist, or a file is missing (the message lists
        the names looked for and the directory's contents).
    NotADirectoryError
        ``path`` exists but is not a directory (e.g. one of the IDX files).
    ValueError
        A malformed file (see :func:`read_idx`), 0 images, images that are not 3-D
        uint8, labels that are not 1-D uint8 or not in 0..9, different numbers
        of images and labels, or train and test images of different sizes;
        ``validation`` NaN or outside [0, 1).
    """
    directory = check.path(path, where="load_mnist")
    normalize = check.flag(normalize, "normalize", where="load_mnist")
    check.number(validation, "validation", low=0.0, high=1.0, high_open=True, where="load_mnist")
    seed = check.rng(seed, where="load_mnist")
    if not os.path.isdir(directory):
        exists = os.path.exists(directory)
        raise (NotADirectoryError if exists else FileNotFoundError)(
            f"load_mnist: path={directory!r} {'is not a directory' if exists else 'does not exist'}"
            "; it must be a directory holding the four MNIST IDX files")
    parts = []
    for images_stem, labels_stem in (_MNIST_FILES[:2], _MNIST_FILES[2:]):
        images_path, labels_path = _find_idx(directory, images_stem), _find_idx(directory, labels_stem)
        images = _read_checked(images_path, ndim=3)                  # (N, rows, cols)
        labels = _read_checked(labels_path, ndim=1)                  # (N,)
        if images.size == 0:
            raise ValueError(f"load_mnist: {images_path} holds {len(images)} images of "
                             f"{images.shape[1]}x{images.shape[2]} pixels; expected at least "
                             "one image of at least one pixel")
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
    X_train, y_train, X_val, y_val = split_validation(parts[0], parts[1], validation, seed,
                                                      "load_mnist")
    return Dataset(X_train, y_train, parts[3], parts[4], name=name, num_classes=10,
                   X_val=X_val, y_val=y_val)
