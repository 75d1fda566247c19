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
from ..blocks import dense_blocks
from ..formats.checks import float32_values
from .mask import check_scores, prune_connections
from .procedures import FineTune
from .registry import layer_scores, lookup
from .schedule import cubic_sparsity


def check_nm(n, m, width=None, where=None) -> tuple:
    """``(n, m)`` as ints with 1 <= n <= m (and m dividing ``width``), else ValueError."""
    m = validate.integer(m, "m", low=1, where=where)
    n = validate.integer(n, "n", low=1, where=where)           # n = 0 would keep nothing
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


def check_criterion(criterion, where: str) -> None:
    """ValueError unless ``criterion`` is a registered connection criterion."""
    if lookup(criterion, where).level != "connection":
        raise ValueError(f"{where}: criterion={criterion!r} ranks neurons; N:M needs a "
                         "connection criterion (magnitude, wanda, taylor, ...)")


def nm_prune(net, criterion: str = "magnitude", n: int = 2, m: int = 4, X=None, y=None,
             layers=None, seed=0, **options) -> list:
    """Prune ``net``'s Dense layers in place to N:M by any registered connection criterion.

    Each layer's scores come from :func:`~minicomp.prune.registry.layer_scores`
    (already-pruned weights score ``-inf``, so pruning never revives one), and
    :func:`nm_mask` keeps the ``n`` best of every ``m`` consecutive inputs.

    Parameters
    ----------
    net : Sequential of Dense layers (an MLP)
    criterion : str, a registered criterion of level "connection" (``criteria()``)
    n, m : int, keep ``n`` in every ``m`` (2:4, 4:8, ...); ``m`` divides each layer's width
    X, y : data for data-dependent criteria (``wanda``, ``taylor``, ...)
    layers : sequence of int, optional; default every Dense layer
    seed, **options : as in :func:`~minicomp.prune.registry.prune`

    Returns
    -------
    list of ndarray, the (out, in) mask now on each chosen layer

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([8, 4, 4], seed=0)
    >>> masks = nm_prune(net, "magnitude", 2, 4)
    >>> [is_nm(M, 2, 4) for M in masks], [int(M.sum()) for M in masks]
    ([True, True], [16, 8])
    """
    where = "nm_prune"
    check_criterion(criterion, where)
    dense = [b.dense for b in dense_blocks(net, where)]
    layers = list(range(len(dense))) if layers is None else [
        validate.integer(i, "layers[]", low=0, high=len(dense) - 1, where=where) for i in layers]
    for i in layers:
        check_nm(n, m, dense[i].in_features, where=f"{where}: layer {i}")
    scores = layer_scores(net, criterion, X, y, seed=seed, **options)
    masks = []
    for i in layers:
        W = dense[i].W
        alive = W.data != 0 if W.mask is None else W.mask != 0               # (out, in)
        mask = nm_mask(np.where(alive, scores[i], -np.inf), n, m)
        prune_connections(dense[i], mask)
        masks.append(dense[i].W.mask.copy())
    return masks


def nm_keep(t: int, n: int, m: int, t0: int = 0, steps: int = 2, dt: int = 1) -> int:
    """Weights kept per group of ``m`` at step ``t`` of gradual N:M: ``m`` down to ``n``.

    The cubic schedule (:func:`~minicomp.prune.schedule.cubic_sparsity`) to
    sparsity ``1 - n/m``, rounded to whole weights per group.

    >>> [nm_keep(t, 2, 8, steps=3) for t in range(5)]
    [8, 4, 2, 2, 2]
    """
    n, m = check_nm(n, m, where="nm_keep")
    s = cubic_sparsity(t, 1 - n / m, 0.0, t0, steps, dt)
    return max(n, int(round(m * (1 - s))))


def gradual_nm(net, X, y, n: int = 2, m: int = 4, criterion: str = "magnitude",
               fine_tune=None, steps: int = 4, start_epoch: int = 0, end_epoch=None,
               **options):
    """Train ``net`` while moving it from dense to N:M (keep m, ..., n per group).

    The pattern of :func:`~minicomp.prune.procedures.gradual` with groups:
    a :func:`minicomp.fit` callback prunes with :func:`nm_prune` at the
    schedule's steps (:func:`nm_keep`), between ``start_epoch`` and
    ``end_epoch`` (default two thirds of the epochs); the rest of the run
    recovers. Returns ``net``, exactly N:M.

    Parameters
    ----------
    fine_tune : FineTune, the training run (default ``FineTune()``)
    steps : int, pruning steps from dense to N:M
    criterion, **options : as in :func:`nm_prune`
    """
    where = "gradual_nm"
    fine_tune = FineTune() if fine_tune is None else fine_tune
    if not isinstance(fine_tune, FineTune):
        raise TypeError(f"{where}: fine_tune is a {type(fine_tune).__name__}; expected a "
                        "FineTune")
    n, m = check_nm(n, m, where=where)
    steps = validate.integer(steps, "steps", low=1, where=where)
    end_epoch = max(1, 2 * fine_tune.epochs // 3) if end_epoch is None else end_epoch
    start_epoch = validate.integer(start_epoch, "start_epoch", low=0, where=where)
    end_epoch = validate.integer(end_epoch, "end_epoch", low=start_epoch + 1,
                                 high=fine_tune.epochs, where=where)
    blocks = dense_blocks(net, where)
    for b in blocks:
        check_nm(n, m, b.dense.in_features, where=f"{where}: layer {b.index}")
    check_criterion(criterion, where)                    # before training, not in a callback
    X = validate.array(X, "X", ndim=2, width=blocks[0].dense.in_features, where=where)
    per_epoch = -(-len(X) // fine_tune.batch_size)
    t0 = start_epoch * per_epoch
    dt = max(1, (end_epoch - start_epoch) * per_epoch // steps)
    done = {"keep": m}

    def prune_step(step):
        keep = nm_keep(step.global_step + 1, n, m, t0, steps, dt)
        if keep < done["keep"]:
            nm_prune(net, criterion, keep, m, X, y, **options)
            done["keep"] = keep

    fine_tune(net, X, y, callbacks=[prune_step])
    if done["keep"] > n:                                 # a run too short for the schedule
        nm_prune(net, criterion, n, m, X, y, **options)
    return net


def nm_compress(W, n: int = 2, m: int = 4):
    """Compressed N:M storage of ``W``: ``n`` float32 values and their positions per group.

    Positions are ``log2(m)`` bits rounded up to 2, 4 or 8 (2:4: 2 bits), so a
    2:4 float32 layer takes ``(32 + 2) / 2 = 17`` bits per weight. Returns a
    :class:`minicomp.kernels.reference_formats.NMMatrix` (``.nbytes``,
    ``.toarray()``), the input of :func:`minicomp.kernels.nm.nm_linear`.
    """
    from ..kernels.nm import to_nm                       # Numba loads on first use only
    W = validate.array(W, "W", ndim=2, where="nm_compress")
    return to_nm(float32_values(W, "W", "nm_compress"), n, m)
