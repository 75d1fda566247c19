r"""Apply a criterion to a whole network: scores per layer, then masks.

One entry point, :func:`prune`, for every criterion of this package, by
name:

============== ========== =============================================
name           ranks      score
============== ========== =============================================
``magnitude``  connection :math:`|w_{ij}|` (Han et al. 2015)
``random``     connection uniform random (the baseline)
``wanda``      connection :math:`|w_{ij}|\,\lVert y_j\rVert_2` (Sun et al. 2023)
``taylor``     connection :math:`|w\,\partial L/\partial w|` (Molchanov et al. 2017)
``obd``        connection :math:`\tfrac12 h_{qq} w_q^2` (LeCun et al. 1990)
``obs``        connection OBS with weight update, layer-wise (Hassibi & Stork 1993)
``activation`` neuron     :math:`R_i = \sum_j |w_{ij} y_j|` (seed 000)
``taylor_neuron`` neuron  :math:`|\sum_j w_{ij}\partial L/\partial w_{ij} + b_i\partial L/\partial b_i|`
``l1``, ``l2`` neuron     :math:`\lVert w_{i,:}\rVert_p` (Li et al. 2017)
``random_neuron`` neuron  uniform random
============== ========== =============================================

``amount`` is the *total* sparsity of each layer (layer scope) or of all
the chosen layers (global scope): entries already pruned are ranked first
(score :math:`-\infty`), so pruning again to a higher level only adds
zeros; a *lower* level than a layer already has is refused (a mask never
claims less sparsity than the net has). In both scopes every layer keeps
at least ``min_keep`` entries (default 1 %, at least 1), so no amount
empties a layer. Neuron criteria leave the output layer alone (its neurons
are the classes). Global rankings normalise each layer's scores by their
L2 norm (as Molchanov et al. do) so that layers of different scale compare.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from .activation import activation_importance, layer_inputs, net_inputs, wanda_scores
from .magnitude import magnitude_scores
from .mask import (
    dense_layers,
    global_masks,
    num_to_prune,
    prune_connections,
    prune_neurons,
)
from .norm import norm_scores
from .obd import obd_scores
from .obs import obs_prune
from .random import random_scores
from .taylor import taylor_scores

CONNECTION = ("magnitude", "random", "wanda", "taylor", "obd", "obs")
NEURON = ("activation", "taylor_neuron", "l1", "l2", "random_neuron")


def layer_scores(net, criterion: str, X=None, y=None, seed=0) -> list:
    """Scores of every Dense layer of ``net`` for ``criterion`` (see the table).

    ``X`` (and ``y`` for ``taylor``/``taylor_neuron``) is the calibration data.
    ``obs`` has no standalone scores here (see :func:`prune`).
    """
    where = "layer_scores"
    layers = dense_layers(net, where)
    criterion = validate.choice(criterion, "criterion", CONNECTION + NEURON, where=where)
    needs_X = ("wanda", "taylor", "obd", "activation", "taylor_neuron")
    if criterion in needs_X and X is None:
        raise ValueError(f"{where}: criterion={criterion!r} needs calibration inputs X")
    if criterion in ("taylor", "taylor_neuron") and y is None:
        raise ValueError(f"{where}: criterion={criterion!r} needs the targets y (class labels)")
    rng = validate.rng(seed, "seed", where=where)
    if criterion == "magnitude":
        return [magnitude_scores(m) for m in layers]
    if criterion == "random":
        return [random_scores(m.W.shape, rng) for m in layers]
    if criterion == "random_neuron":
        return [random_scores(m.out_features, rng) for m in layers]
    if criterion == "wanda":
        return [wanda_scores(m, x) for m, x in zip(layers, layer_inputs(net, X))]
    if criterion == "activation":
        return [activation_importance(m, x) for m, x in zip(layers, layer_inputs(net, X))]
    if criterion in ("taylor", "taylor_neuron"):
        level = "connection" if criterion == "taylor" else "neuron"
        return taylor_scores(net, X, y, level=level)
    if criterion == "obd":
        return obd_scores(net, X)
    if criterion in ("l1", "l2"):
        return [norm_scores(m, p=int(criterion[1])) for m in layers]
    raise ValueError(f"{where}: criterion={criterion!r} has no standalone scores; use prune()")


def _current_mask(m, neuron: bool) -> np.ndarray:
    """1 where the connection (or neuron) is still alive."""
    W_alive = m.W.data != 0 if m.W.mask is None else m.W.mask != 0             # (out, in)
    return W_alive.any(axis=1) if neuron else W_alive


def _check_layers(layers, n: int, where: str) -> list:
    ok = isinstance(layers, (list, tuple, range)) and len(layers) > 0 and all(
        isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) and 0 <= i < n
        for i in layers) and len({int(i) for i in layers}) == len(layers)
    if not ok:
        raise ValueError(f"{where}: layers={layers!r}; expected a non-empty list of distinct "
                         f"indices of Dense layers in [0, {n})")
    return [int(i) for i in layers]


def _refuse_less(alive, amount, where: str, what: str) -> None:
    """Pruning only removes: refuse an amount below the sparsity ``alive`` already has."""
    n = sum(a.size for a in alive)
    pruned = n - sum(int(a.sum()) for a in alive)
    if pruned > num_to_prune(amount, n, where):
        raise ValueError(f"{where}: {what} already {pruned / n:.0%} sparse ({pruned} of {n} "
                         f"entries pruned) but amount={amount!r} asks for "
                         f"{num_to_prune(amount, n)}; pruning can only remove more: to prune "
                         f"to {amount!r} start from the unpruned weights")


def prune(net, criterion: str, amount, X=None, y=None, scope: str = "layer", layers=None,
          seed=0, min_keep=None) -> list:
    """Prune ``net`` in place by ``criterion`` to sparsity ``amount``.

    Parameters
    ----------
    net : Sequential (an MLP)
    criterion : str
        A name from the table above.
    amount : int or float
        Entries (connections or neurons) to remove, in total, per layer
        (``scope="layer"``) or over all chosen layers (``"global"``).
        Already-pruned entries count: an amount below the current sparsity
        is refused (pruning never revives a weight, and the returned mask
        would not be the one on the net).
    X, y : ndarray, optional
        Calibration data for data-dependent criteria (finite, (N, in); y:
        one class label per row for the Taylor criteria).
    scope : {"layer", "global"}
    layers : list of int, optional
        Indices into the Dense layers to prune. Default: all of them for
        connection criteria, all but the last for neuron criteria.
    seed : int or Generator
        For the random criteria.
    min_keep : int or list of int, optional
        Entries each chosen layer keeps at least, in both scopes (see
        :func:`~minicomp.prune.mask.global_masks`); default 1 % of the
        layer and at least 1, so no layer is ever emptied.

    Returns
    -------
    list of ndarray
        The mask now on each pruned layer ((out, in) or (out,)).

    Raises
    ------
    TypeError, ValueError
        Bad names, amounts, layers or data; an amount that would empty a
        layer (below ``min_keep``) or is below the current sparsity.
    """
    where = "prune"
    dense = dense_layers(net, where)
    if not dense:
        raise ValueError(f"{where}: net has no Dense layer to prune")
    criterion = validate.choice(criterion, "criterion", CONNECTION + NEURON, where=where)
    scope = validate.choice(scope, "scope", ("layer", "global"), where=where)
    neuron = criterion in NEURON
    if layers is None:
        layers = list(range(len(dense) - 1 if neuron else len(dense)))
    layers = _check_layers(layers, len(dense), where)
    alive = [_current_mask(dense[i], neuron) for i in layers]
    for i, a in zip(layers, alive) if scope == "layer" else ():
        num_to_prune(amount, a.size, f"{where}: layer {i}")          # type and range first
    if X is not None:
        X = net_inputs(net, X, where=where)                          # finite, (N, in)
    seed = validate.rng(seed, "seed", where=where)
    if isinstance(min_keep, (list, tuple)) and len(min_keep) != len(layers):
        raise ValueError(f"{where}: min_keep={min_keep!r}; expected an int or one int per "
                         f"chosen layer ({len(layers)})")
    keep = min_keep if isinstance(min_keep, (list, tuple)) else [min_keep] * len(layers)
    if scope == "layer":
        for i, a in zip(layers, alive):
            _refuse_less([a], amount, where, f"layer {i} is")
    else:
        _refuse_less(alive, amount, where, "the chosen layers are")
    if criterion == "obs":
        if scope != "layer":
            raise ValueError(f"{where}: criterion='obs' prunes layer by layer; use scope='layer'")
        if X is None:
            raise ValueError(f"{where}: criterion='obs' needs calibration inputs X")
        inputs = layer_inputs(net, X)
        for i, m in zip(layers, keep):                              # min_keep, as below
            global_masks([np.ones(dense[i].W.shape)], amount, m and [m], f"{where}: layer {i}")
        for i in layers:
            W_new, mask = obs_prune(dense[i], inputs[i], amount)
            dense[i].W.data[...] = W_new
            prune_connections(dense[i], mask)
        return [dense[i].W.mask.copy() for i in layers]
    all_scores = layer_scores(net, criterion, X, y, seed)
    scores = []
    for i, a in zip(layers, alive):             # pruned entries first, then by score
        scores.append(np.where(a, np.asarray(all_scores[i], dtype=np.float64), -np.inf))
    if scope == "layer":
        masks = [global_masks([s], amount, m and [m], f"{where}: layer {i}")[0]
                 for i, s, m in zip(layers, scores, keep)]
    else:
        normed = [s / max(np.linalg.norm(s[np.isfinite(s)]), 1e-300) for s in scores]
        masks = global_masks(normed, amount, min_keep, where)
    for i, mask in zip(layers, masks):
        (prune_neurons if neuron else prune_connections)(dense[i], mask)
    return [_current_mask(dense[i], neuron).astype(np.float32) for i in layers]
