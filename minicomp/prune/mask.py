r"""Scores to masks, applying masks, and baking them in.

Every pruning criterion in :mod:`minicomp.prune` returns *scores* shaped like
what it ranks: ``(out, in)`` for connections (one per weight
:math:`w_{ij}`), ``(out,)`` for neurons (one per row of ``W``). This file
turns scores into a 0/1 mask with one rule, shared by all criteria:

.. math:: M = \mathbb 1[\text{score} \text{ is not among the } k
          \text{ smallest}], \qquad k = \text{amount} \text{ (int) or }
          \operatorname{round}(\text{amount}\cdot n) \text{ (float)}.

``amount`` follows ``torch.nn.utils.prune``: an int is a count of entries
to remove, a float in [0, 1] a fraction. Ties are broken by position (a
stable sort), so exactly k entries go and the achieved sparsity is the
requested one. Scores of ``-inf`` go first: procedures use that to keep
already-pruned weights pruned.

A mask is a reparametrization :math:`W_\text{eff} = W \odot M`. It is
stored on the parameter (``Parameter.mask``); :func:`apply_mask` zeroes the
weights once, and every optimizer in :mod:`minicomp.optim` re-applies the
mask after each step and to the gradient and the optimizer state, so
momentum, Adam and weight decay never revive a pruned weight.
:func:`remove` bakes masks in (the zeros stay, the masks go).

Global pruning ranks all layers' scores together. Left alone, one global
threshold can remove a whole layer (a layer whose scores are all small),
which disconnects the network. :func:`global_masks` therefore keeps at
least ``min_keep`` entries of every layer: by default 1 % of the layer's
entries, and never fewer than 1 (a stated deviation from a plain global
threshold, as suggested by the layer-collapse reports of Lee et al. 2019).

References
----------
Han, S. et al. (2015). Learning both Weights and Connections for Efficient
Neural Networks. NeurIPS. arXiv:1506.02626.
PyTorch, ``torch.nn.utils.prune`` (``amount`` semantics, ``remove``).
"""
from __future__ import annotations

import math

import numpy as np

from ..nn import Dense


def _check_scores(scores, where: str = "scores") -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError(f"{where} is empty; expected at least one score")
    if np.isnan(scores).any():
        raise ValueError(f"{where} contains NaN; expected real numbers (-inf allowed)")
    return scores


def num_to_prune(amount, n: int) -> int:
    """How many of ``n`` entries ``amount`` removes (int: count, float: fraction).

    Raises
    ------
    TypeError
        ``amount`` is not an int or a float (a bool is refused too).
    ValueError
        A negative count, a count larger than ``n``, or a fraction outside
        [0, 1].

    Examples
    --------
    >>> num_to_prune(0.5, 10), num_to_prune(3, 10), num_to_prune(0.25, 10)
    (5, 3, 2)
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float, np.integer, np.floating)):
        raise TypeError(f"amount={amount!r} ({type(amount).__name__}); expected an int "
                        f"(number of entries to remove) or a float in [0, 1] (a fraction)")
    if isinstance(amount, (int, np.integer)):
        if not 0 <= amount <= n:
            raise ValueError(f"amount={amount} entries to remove; expected an int between 0 "
                             f"and the number of entries, {n}")
        return int(amount)
    if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise ValueError(f"amount={amount!r} as a fraction; expected a float in [0, 1] "
                         f"(use an int to give a count)")
    return round(float(amount) * n)


def mask_from_scores(scores, amount) -> np.ndarray:
    r"""0/1 mask removing the ``amount`` lowest-scoring entries of ``scores``.

    Parameters
    ----------
    scores : array_like
        Any shape: ``(out, in)`` for connections, ``(out,)`` for neurons.
    amount : int or float
        int: number of entries to remove; float in [0, 1]: fraction.

    Returns
    -------
    mask : ndarray of float32, same shape as ``scores``
        0 where removed, 1 where kept; exactly k zeros (see
        :func:`num_to_prune`).

    Raises
    ------
    TypeError, ValueError
        Bad ``amount`` (see :func:`num_to_prune`), NaN or empty scores.

    Examples
    --------
    >>> mask_from_scores([[3., 1.], [0.5, 2.]], 0.5)
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    >>> mask_from_scores([4., 4., 1.], 2)       # a tie: the first one goes
    array([0., 1., 0.], dtype=float32)
    """
    scores = _check_scores(scores)
    k = num_to_prune(amount, scores.size)
    order = np.argsort(scores, axis=None, kind="stable")         # (n,) lowest first
    mask = np.ones(scores.size, dtype=np.float32)
    mask[order[:k]] = 0.0
    return mask.reshape(scores.shape)


def threshold_mask(scores, threshold: float) -> np.ndarray:
    r"""Mask :math:`\mathbb 1[\text{score} \ge \varepsilon]` (seeds 002/004).

    The seeds' rule "remove :math:`\{w : |w| < \varepsilon\}`": the sparsity
    is whatever the threshold gives, unlike :func:`mask_from_scores`.

    Examples
    --------
    >>> threshold_mask(np.abs([[0.005, -0.2], [0.01, -0.001]]), 0.01)
    array([[0., 1.],
           [1., 0.]], dtype=float32)
    """
    scores = _check_scores(scores)
    if not (isinstance(threshold, (int, float, np.number)) and math.isfinite(threshold)):
        raise ValueError(f"threshold={threshold!r}; expected a finite number")
    return (scores >= threshold).astype(np.float32)


def default_min_keep(n: int) -> int:
    """Entries a layer keeps at least under global pruning: 1 %, and at least 1."""
    return max(1, math.ceil(0.01 * n))


def global_masks(scores_list, amount, min_keep=None) -> list:
    r"""Masks for several layers from one global ranking, never emptying a layer.

    The ``k`` globally lowest scores are removed (``amount`` counts or
    fractions over all entries together), except that layer ``l`` always
    keeps its ``min_keep[l]`` highest-scoring entries.

    Parameters
    ----------
    scores_list : sequence of array_like
        One score array per layer (any shapes). Scores must be comparable
        across layers (e.g. normalised) for the ranking to mean anything.
    amount : int or float
        Over all entries of all layers.
    min_keep : int, sequence of int or None
        Entries each layer keeps at least; default
        :func:`default_min_keep` (1 % of the layer, at least 1).

    Returns
    -------
    list of ndarray
        One float32 mask per layer.

    Raises
    ------
    ValueError
        ``amount`` would have to cut into some layer's minimum.

    Examples
    --------
    >>> big, tiny = np.array([5., 6., 7., 8.]), np.array([0.1, 0.2])
    >>> [m.tolist() for m in global_masks([big, tiny], 3)]   # tiny keeps 1
    [[0.0, 0.0, 1.0, 1.0], [0.0, 1.0]]
    """
    scores_list = [_check_scores(s, f"scores_list[{i}]") for i, s in enumerate(scores_list)]
    if not scores_list:
        raise ValueError("scores_list is empty; expected one score array per layer")
    sizes = [s.size for s in scores_list]
    if min_keep is None:
        min_keep = [default_min_keep(n) for n in sizes]
    elif isinstance(min_keep, (int, np.integer)):
        min_keep = [int(min_keep)] * len(sizes)
    if len(min_keep) != len(sizes) or any(not 0 <= m <= n for m, n in zip(min_keep, sizes)):
        raise ValueError(f"min_keep={min_keep!r}; expected one int per layer between 0 and the "
                         f"layer's size {sizes}")
    k = num_to_prune(amount, sum(sizes))
    protected = []                                     # per layer: (n,) bool, top min_keep
    for s, m in zip(scores_list, min_keep):
        top = np.zeros(s.size, dtype=bool)
        if m:
            top[np.argsort(s, axis=None, kind="stable")[-m:]] = True
        protected.append(top)
    candidates = np.concatenate([np.where(p, np.inf, s.ravel())
                                 for s, p in zip(scores_list, protected)])   # (N,)
    available = int(sum(s.size - int(p.sum()) for s, p in zip(scores_list, protected)))
    if k > available:
        raise ValueError(f"amount={amount!r} removes {k} entries but only {available} may go: "
                         f"every layer keeps at least min_keep={list(min_keep)}")
    flat = np.ones(candidates.size, dtype=np.float32)
    flat[np.argsort(candidates, kind="stable")[:k]] = 0.0
    bounds = np.cumsum([0, *sizes])
    return [flat[a:b].reshape(s.shape) for a, b, s in zip(bounds[:-1], bounds[1:], scores_list)]


def apply_mask(param, mask) -> None:
    """Attach ``mask`` to ``param`` (combined with any mask it has) and zero the weights.

    Applying the same mask twice changes nothing.

    Raises
    ------
    ValueError
        ``mask`` does not have the parameter's shape, or is not 0/1.
    """
    mask = np.asarray(mask, dtype=param.dtype)
    if mask.shape != param.shape:
        raise ValueError(f"mask has shape {mask.shape}; expected the parameter's shape "
                         f"{param.shape}")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("mask must contain only 0 and 1")
    if param.mask is not None:
        mask = mask * param.mask
    param.mask = mask
    param.data *= mask


def prune_connections(layer: Dense, mask) -> None:
    """Apply a connection mask ``(out, in)`` to ``layer.W``."""
    apply_mask(layer.W, mask)


def prune_neurons(layer: Dense, neuron_mask) -> None:
    """Remove (mask out) neurons of ``layer``: rows of ``W`` and entries of ``b``.

    Parameters
    ----------
    neuron_mask : array_like, shape (out,)
        0 for a pruned neuron. Its output becomes ``activation(0)``;
        :func:`minicomp.prune.compact` then removes it physically.
    """
    neuron_mask = np.asarray(neuron_mask, dtype=layer.W.dtype)
    if neuron_mask.shape != (layer.out_features,):
        raise ValueError(f"neuron_mask has shape {neuron_mask.shape}; expected "
                         f"({layer.out_features},), one entry per neuron")
    apply_mask(layer.W, np.repeat(neuron_mask[:, None], layer.in_features, axis=1))  # (out, in)
    if layer.b is not None:
        apply_mask(layer.b, neuron_mask)


def dense_layers(net) -> list:
    """The :class:`~minicomp.nn.Dense` layers of ``net``, in forward order."""
    return [m for m in net.modules() if isinstance(m, Dense)]


def remove(net) -> None:
    """Bake every mask of ``net`` into its weights and drop the masks.

    After ``remove`` the zeros are ordinary weights: training may change
    them again. Like ``torch.nn.utils.prune.remove``, but for the whole net.
    """
    for p in net.parameters():
        if p.mask is not None:
            p.data *= p.mask
            p.mask = None


def sparsity(net, weights_only: bool = True) -> float:
    """Fraction of zero entries in the weights (``W`` of every Dense), or all parameters."""
    params = [m.W for m in dense_layers(net)] if weights_only else net.parameters()
    total = sum(p.size for p in params)
    return 1.0 - sum(int(np.count_nonzero(p.data)) for p in params) / total
