r"""Naive twins of the sparse designs that :mod:`minicomp.kernels.reference` has no room for.

The row-major designs of :mod:`minicomp.kernels.sparse_designs` (row
gather-dot, AXPY, serial or parallel) all compute
:func:`minicomp.kernels.reference.sparse_linear`. The feature-major ones
keep the activations transposed, one row per feature, as an inference model
can between layers:

.. math:: Y^T_{i,b} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X^T_{\mathrm{indices}_k,\,b} + \mathrm{bias}_i ,

that is ``Y^T = W X^T + bias[:, None]``, the same numbers as
``sparse_linear(X, ...)`` transposed.

Layer: imports :mod:`minicomp.kernels.reference` only.
"""
from __future__ import annotations

import numpy as np

from .reference import CSR, sparse_linear


def sparse_linear_fm(XT, csr: CSR, bias=None) -> np.ndarray:
    """``Y^T = W X^T + bias``: (in, batch) in, (out, batch) out, one stored entry at a time.

    Parameters
    ----------
    XT : array_like, shape (in, batch); cast to float32
    csr : CSR, shape (out, in)
    bias : array_like, shape (out,), optional

    Returns
    -------
    YT : ndarray, float32, shape (out, batch)

    Examples
    --------
    >>> from minicomp.kernels.reference import to_csr
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]])
    >>> XT = np.array([[1., 0.], [1., 1.], [1., 2.]])          # two inputs as columns
    >>> sparse_linear_fm(XT, to_csr(W))                        # rows: outputs
    array([[2., 2.],
           [4., 6.]], dtype=float32)
    """
    XT = np.asarray(XT)
    if XT.ndim != 2:
        raise ValueError(f"XT must be 2-D (in, batch), got shape {XT.shape}")
    YT = np.zeros((csr.shape[0], XT.shape[1]), dtype=np.float32)   # (out, B)
    for i in range(csr.shape[0]):
        for k in range(int(csr.indptr[i]), int(csr.indptr[i + 1])):
            YT[i] += csr.data[k] * XT[csr.indices[k]].astype(np.float32)   # (B,)
    if bias is not None:
        YT += np.asarray(bias, dtype=np.float32)[:, None]
    return YT


__all__ = ["sparse_linear", "sparse_linear_fm"]
