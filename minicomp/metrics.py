"""Measurements of a model: accuracy, parameter counts, bytes in storage.

Sizes are bytes of a real storage format, never "nonzeros x 4" alone; the
compression issues add CSR, int8 and codebook formats here.
"""
from __future__ import annotations

import numpy as np

from . import validate as check
from .tensor import Tensor


def accuracy(y_hat, y) -> float:
    """Fraction of correct predictions.

    Parameters
    ----------
    y_hat : ndarray or Tensor, shape (N, C) scores or (N,) predicted labels
        Scores may be ``-inf`` (a masked class), not NaN; the prediction is the argmax.
    y : ndarray, shape (N,) integer labels (in ``0..C-1`` for scores)

    Raises
    ------
    TypeError, ValueError
        Not arrays of numbers, empty, not 1-D/2-D, NaN scores, labels that
        are not whole numbers or out of range, or different numbers of
        predictions and labels.

    Examples
    --------
    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), [1, 1])
    0.5
    """
    y_hat = check.array(y_hat.data if isinstance(y_hat, Tensor) else y_hat, "y_hat",
                        ndim=(1, 2), finite=False, where="accuracy")
    if y_hat.dtype.kind == "f" and np.isnan(y_hat).any():       # inf is a score, NaN is not
        at = [int(i) for i in np.argwhere(np.isnan(y_hat))[0]]
        raise ValueError(f"accuracy: y_hat contains nan at {at}; expected scores or labels "
                         "(-inf is fine, e.g. a masked class)")
    if y_hat.ndim == 2:
        pred, C = y_hat.argmax(axis=1), y_hat.shape[1]                # (N, C) -> (N,)
    else:
        pred, C = check.labels(y_hat, "y_hat", where="accuracy"), None
    y = check.labels(y, "y", num_classes=C, where="accuracy")
    if len(pred) != len(y):
        raise ValueError(f"accuracy: y_hat has {len(pred)} predictions (shape {y_hat.shape}) "
                         f"but y has {len(y)} labels; expected one label per prediction")
    return float((pred == y).mean())


def count_parameters(net) -> int:
    """Number of scalars in all parameters (zeros included)."""
    check.module(net, where="count_parameters")
    return int(sum(p.size for p in net.parameters()))


def count_nonzero(net) -> int:
    """Number of nonzero scalars in all parameters."""
    check.module(net, where="count_nonzero")
    return int(sum(np.count_nonzero(p.data) for p in net.parameters()))


def dense_bytes(net) -> int:
    """Bytes of all parameters stored densely in their dtype (float32: 4 each)."""
    check.module(net, where="dense_bytes")
    return int(sum(p.data.nbytes for p in net.parameters()))
