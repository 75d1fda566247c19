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

from .. import validate
from ..blocks import dense_blocks
from ..nn import Dense, Parameter


def check_scores(scores, name: str = "scores", where=None) -> np.ndarray:
    """``scores`` as float64: numeric, non-empty, no NaN (``-inf`` ranks first, allowed)."""
    scores = validate.array(scores, name, finite=False, where=where).astype(np.float64)
    if np.isnan(scores).any():
        at = [int(i) for i in np.argwhere(np.isnan(scores))[0]]
        raise ValueError(f"{_prefix(where)}{name} contains NaN at {at}; expected real "
                         "numbers (-inf allowed: it ranks first)")
    return scores


def _prefix(where) -> str:
    return f"{where}: " if where else ""


def check_mask(mask, shape, name: str = "mask", of: str = "the parameter's shape",
               where=None) -> np.ndarray:
    """``mask`` as an array of ``shape`` holding only 0 and 1, else ValueError naming it.

    Examples
    --------
    >>> check_mask([[1, 0.5]], (1, 2), where="apply_mask")
    Traceback (most recent call last):
        ...
    ValueError: apply_mask: mask contains 0.5 at [0, 1]; expected only 0 and 1 (0 = pruned)
    """
    mask = validate.array(mask, name, finite=False, nonempty=False, where=where)
    if mask.shape != tuple(shape):
        raise ValueError(f"{_prefix(where)}{name} has shape {mask.shape}; expected "
                         f"{tuple(shape)}, {of}")
    bad = ~np.isin(mask, (0, 1))
    if bad.any():
        at = [int(i) for i in np.argwhere(bad)[0]]
        raise ValueError(f"{_prefix(where)}{name} contains {mask[tuple(at)]} at {at}; "
                         "expected only 0 and 1 (0 = pruned)")
    return mask


def masks_by_layer(masks, shapes: dict, where=None) -> dict:
    """A user's ``{key: mask}`` dict as ``{layer index: checked mask}``.

    Keys are a layer's index in the Sequential (``0``) or its state-dict
    name (``"0.weight"``); ``shapes`` maps each valid index to W's shape.
    An unknown key (or two keys for one layer) is refused by name, listing
    the valid ones; each mask must be 0/1 of W's shape.
    """
    if masks is None:
        return {}
    if not isinstance(masks, dict):
        raise TypeError(f"{_prefix(where)}masks is a {type(masks).__name__}; expected a dict "
                        "{layer index or 'i.weight': 0/1 array}")
    names = {**{i: i for i in shapes}, **{f"{i}.weight": i for i in shapes}}
    out = {}
    for key, mask in masks.items():
        ok = isinstance(key, (str, int, np.integer)) and not isinstance(key, (bool, np.bool_))
        i = names.get(int(key) if isinstance(key, np.integer) else key) if ok else None
        if i is None or i in out:
            why = "names no Dense layer" if i is None else f"gives layer {i} a second mask"
            raise ValueError(f"{_prefix(where)}masks key {key!r} {why}; expected one of "
                             f"{sorted(names, key=str)}")
        out[i] = check_mask(mask, shapes[i], f"masks[{key!r}]", f"layer {i}'s W shape", where)
    return out


def num_to_prune(amount, n: int, where=None) -> int:
    """How many of ``n`` entries ``amount`` removes (int: count, float: fraction).

    NumPy scalars count as ints and floats; a bool is neither.

    Raises
    ------
    TypeError
        ``amount`` is not an int or a float (a bool is refused too).
    ValueError
        A negative count, a count larger than ``n``, or a fraction outside
        [0, 1].

    Examples
    --------
    >>> num_to_prune(0.5, 10), num_to_prune(3, 10), num_to_prune(np.float32(0.25), 10)
    (5, 3, 2)
    """
    pre = _prefix(where)
    n = validate.integer(n, "n", low=0, where=where)
    if isinstance(amount, (bool, np.bool_)) or \
            not isinstance(amount, (int, float, np.integer, np.floating)):
        raise TypeError(f"{pre}amount={amount!r} ({type(amount).__name__}); expected an int "
                        f"(number of entries to remove) or a float in [0, 1] (a fraction)")
    if isinstance(amount, (int, np.integer)):
        if not 0 <= amount <= n:
            raise ValueError(f"{pre}amount={amount} entries to remove; expected an int between "
                             f"0 and the number of entries, {n}")
        return int(amount)
    if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise ValueError(f"{pre}amount={float(amount)!r} as a fraction; expected a float in "
                         f"[0, 1] (use an int to give a count)")
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
    scores = check_scores(scores, where="mask_from_scores")
    k = num_to_prune(amount, scores.size, "mask_from_scores")
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
    scores = check_scores(scores, where="threshold_mask")
    threshold = validate.number(threshold, "threshold", where="threshold_mask")
    return (scores >= threshold).astype(np.float32)


def default_min_keep(n: int) -> int:
    """Entries a layer keeps at least when pruned (any scope): 1 %, and at least 1."""
    return max(1, math.ceil(0.01 * validate.integer(n, "n", low=0, where="default_min_keep")))


def global_masks(scores_list, amount, min_keep=None, where=None) -> list:
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
    min_keep : int, sequence (or int array) of int, or None
        Entries each layer keeps at least; default
        :func:`default_min_keep` (1 % of the layer, at least 1).
    where : str, optional
        Prefix of error messages (the public function that called).

    Returns
    -------
    list of ndarray
        One float32 mask per layer.

    Raises
    ------
    ValueError
        ``amount`` would have to cut into some layer's minimum (so an
        amount of 1.0 is always refused: no layer may be emptied).

    Examples
    --------
    >>> big, tiny = np.array([5., 6., 7., 8.]), np.array([0.1, 0.2])
    >>> [m.tolist() for m in global_masks([big, tiny], 3)]   # tiny keeps 1
    [[0.0, 0.0, 1.0, 1.0], [0.0, 1.0]]
    """
    pre = _prefix(where)
    if not isinstance(scores_list, (list, tuple)):
        raise TypeError(f"{pre}scores_list is a {type(scores_list).__name__}; expected a list "
                        "of score arrays, one per layer")
    scores_list = [check_scores(s, f"scores_list[{i}]", where)
                   for i, s in enumerate(scores_list)]
    if not scores_list:
        raise ValueError(f"{pre}scores_list is empty; expected one score array per layer")
    sizes = [s.size for s in scores_list]
    min_keep = min_keep.tolist() if isinstance(min_keep, np.ndarray) else min_keep
    if min_keep is None:
        min_keep = [default_min_keep(n) for n in sizes]
    elif isinstance(min_keep, (int, np.integer)) and not isinstance(min_keep, bool):
        min_keep = [int(min_keep)] * len(sizes)
    if not isinstance(min_keep, (list, tuple)) or len(min_keep) != len(sizes) or any(
            isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer))
            or not 0 <= m <= n for m, n in zip(min_keep, sizes)):
        raise ValueError(f"{pre}min_keep={min_keep!r}; expected an int or one int per layer "
                         f"between 0 and the layer's size {sizes}")
    k = num_to_prune(amount, sum(sizes), where)
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
        raise ValueError(f"{pre}amount={amount!r} removes {k} entries but only {available} may "
                         f"go: every layer keeps at least min_keep={list(min_keep)}")
    flat = np.ones(candidates.size, dtype=np.float32)
    flat[np.argsort(candidates, kind="stable")[:k]] = 0.0
    bounds = np.cumsum([0, *sizes])
    return [flat[a:b].reshape(s.shape) for a, b, s in zip(bounds[:-1], bounds[1:], scores_list)]


def apply_mask(param, mask) -> None:
    """Attach ``mask`` to ``param`` (combined with any mask it has) and zero the weights.

    Applying the same mask twice changes nothing.

    Raises
    ------
    TypeError
        ``param`` is not a Parameter, or ``mask`` is not numeric.
    ValueError
        ``mask`` does not have the parameter's shape, or is not 0/1.
    """
    if not isinstance(param, Parameter):
        raise TypeError(f"apply_mask: param is a {type(param).__name__}; expected a Parameter "
                        "(e.g. layer.W)")
    mask = check_mask(mask, param.shape, where="apply_mask").astype(param.dtype)
    if param.mask is not None:
        mask = mask * param.mask
    param.mask = mask
    param.data *= mask


def prune_connections(layer: Dense, mask) -> None:
    """Apply a connection mask ``(out, in)`` to ``layer.W``."""
    _check_dense(layer, "prune_connections")
    apply_mask(layer.W, mask)


def _check_dense(layer, where):
    if not isinstance(layer, Dense):
        raise TypeError(f"{where}: layer is a {type(layer).__name__}; expected a Dense layer")


def prune_neurons(layer: Dense, neuron_mask) -> None:
    """Remove (mask out) neurons of ``layer``: rows of ``W`` and entries of ``b``.

    Parameters
    ----------
    neuron_mask : array_like, shape (out,)
        0 for a pruned neuron. Its output becomes ``activation(0)``;
        :func:`minicomp.prune.compact` then removes it physically.
    """
    _check_dense(layer, "prune_neurons")
    neuron_mask = check_mask(neuron_mask, (layer.out_features,), "neuron_mask",
                             "one entry per neuron", "prune_neurons")
    neuron_mask = neuron_mask.astype(layer.W.dtype)
    apply_mask(layer.W, np.repeat(neuron_mask[:, None], layer.in_features, axis=1))  # (out, in)
    if layer.b is not None:
        apply_mask(layer.b, neuron_mask)


def remove(net) -> None:
    """Bake every mask of ``net`` into its weights and drop the masks.

    After ``remove`` the zeros are ordinary weights: training may change
    them again. Like ``torch.nn.utils.prune.remove``, but for the whole net.
    """
    for p in validate.module(net, "net", where="remove").parameters():
        if p.mask is not None:
            p.data *= p.mask
            p.mask = None


def sparsity(net, weights_only: bool = True) -> float:
    """Fraction of zero entries in the weights (``W`` of every Dense), or all parameters."""
    params = [b.dense.W for b in dense_blocks(net, "sparsity")] if validate.flag(
        weights_only, "weights_only", where="sparsity") else net.parameters()
    total = sum(p.size for p in params)
    if not total:
        raise ValueError("sparsity: net has no weights; expected a net with Dense layers")
    return 1.0 - sum(int(np.count_nonzero(p.data)) for p in params) / total
