"""Measurements of a model: accuracy, parameter counts, bytes in storage.

Sizes are bytes of a real storage format, never "nonzeros x 4" alone; the
compression issues add CSR, int8 and codebook formats here.
"""
from __future__ import annotations

import numpy as np


def accuracy(y_hat, y) -> float:
    """Fraction of correct predictions.

    Parameters
    ----------
    y_hat : ndarray or Tensor, shape (N, C) scores or (N,) predicted labels
    y : ndarray, shape (N,) integer labels
    """
    y_hat = np.asarray(getattr(y_hat, "data", y_hat))
    y = np.asarray(y)
    pred = y_hat.argmax(axis=1) if y_hat.ndim == 2 else y_hat     # (N, C) -> (N,)
    if pred.shape != y.shape:
        raise ValueError(f"accuracy: predictions of shape {pred.shape} vs labels of shape {y.shape}")
    return float((pred == y).mean()) if len(y) else float("nan")


def count_parameters(net) -> int:
    """Number of scalars in all parameters (zeros included)."""
    return int(sum(p.size for p in net.parameters()))


def count_nonzero(net) -> int:
    """Number of nonzero scalars in all parameters."""
    return int(sum(np.count_nonzero(p.data) for p in net.parameters()))


def dense_bytes(net) -> int:
    """Bytes of all parameters stored densely in their dtype (float32: 4 each)."""
    return int(sum(p.data.nbytes for p in net.parameters()))
