r"""N:M (semi-structured) masks: keep the N largest scores in every M consecutive weights.

.. math:: M_{i,\,gM + k} = \mathbb 1\big[s_{i,\,gM+k} \text{ is among the } N
          \text{ largest of } s_{i,\,gM},\dots,s_{i,\,gM+M-1}\big]

Groups run along the input dimension of ``W`` (its last axis, ``(out, in)``):
every row keeps exactly N of each M consecutive weights, so 2:4 is 50 %
sparsity with a fixed pattern that sparse tensor cores (and a kernel that
stores N values and their 2-bit positions per group) can exploit. Ties go to
the earlier position (a stable sort), as in :func:`.mask.mask_from_scores`.

Mishra, A. et al. (2021). Accelerating Sparse Deep Neural Networks.
arXiv:2104.08378 (NVIDIA's 2:4 sparsity).
"""
from __future__ import annotations

import numpy as np

from .. import validate
from .mask import check_scores


def check_nm(n, m, width=None, where=None) -> tuple:
    """``(n, m)`` as ints with 1 <= n <= m (and m dividing ``width``), else ValueError."""
    m = validate.integer(m, "m", low=1, where=where)
    n = validate.integer(n, "n", low=0, where=where)
    if n > m:
        raise ValueError(f"{where + ': ' if where else ''}n={n} > m={m}; expected N:M with "
                         "N <= M (N kept in every M consecutive weights, e.g. 2:4)")
    if width is not None and width % m:
        raise ValueError(f"{where + ': ' if where else ''}the last axis has {width} entries, "
                         f"not a multiple of m={m}; expected groups of m consecutive weights")
    return n, m


def nm_mask(scores, n: int = 2, m: int = 4) -> np.ndarray:
    """0/1 mask keeping the ``n`` highest ``scores`` of every ``m`` along the last axis.

    Parameters
    ----------
    scores : ndarray, shape (..., in), ``in`` a multiple of ``m``
        Importance of each weight (e.g. ``|W|``); NaN is refused.
    n, m : int
        Keep ``n`` of every ``m`` consecutive entries (2:4, 4:8, ...).

    Examples
    --------
    >>> nm_mask(np.array([[0.1, -3.0, 2.0, 0.5, 1, 1, 1, 1]]), 2, 4)
    array([[0., 0., 1., 1., 1., 1., 0., 0.]])

    (``-3.0`` is a score, not a weight: pass ``np.abs(W)`` for magnitude.)
    """
    scores = check_scores(scores, where="nm_mask")
    n, m = check_nm(n, m, scores.shape[-1], where="nm_mask")
    groups = scores.reshape(-1, m)                                  # (G, m)
    order = np.argsort(-groups, axis=1, kind="stable")[:, :n]       # (G, n) kept positions
    mask = np.zeros_like(groups)
    np.put_along_axis(mask, order, 1.0, axis=1)
    return mask.reshape(scores.shape)


def is_nm(mask, n: int, m: int) -> bool:
    """True if every group of ``m`` along the last axis has at most ``n`` nonzeros."""
    mask = np.asarray(mask)
    n, m = check_nm(n, m, mask.shape[-1], where="is_nm")
    return bool(((mask.reshape(-1, m) != 0).sum(axis=1) <= n).all())
