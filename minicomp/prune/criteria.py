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
zeros. Neuron criteria leave the output layer alone (its neurons are the
classes). Global rankings normalise each layer's scores by their L2 norm
(as Molchanov et al. do) so that layers of different scale compare.
"""
from __future__ import annotations

import numpy as np

from .activation import activation_importance, layer_inputs, wanda_scores
from .magnitude import magnitude_scores
from .mask import (
    dense_layers,
    global_masks,
    mask_from_scores,
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
    layers = dense_layers(net)
    needs_X = ("wanda", "taylor", "obd", "activation", "taylor_neuron")
    if criterion in needs_X and X is None:
        raise ValueError(f"criterion={criterion!r} needs calibration inputs X")
    if criterion in ("taylor", "taylor_neuron") and y is None:
        raise ValueError(f"criterion={criterion!r} needs the targets y")
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
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
    raise ValueError(f"criterion={criterion!r}; expected one of {CONNECTION + NEURON}")


def _current_mask(m, neuron: bool) -> np.ndarray:
    """1 where the connection (or neuron) is still alive."""
    W_alive = m.W.data != 0 if m.W.mask is None else m.W.mask != 0             # (out, in)
    return W_alive.any(axis=1) if neuron else W_alive


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
    X, y : ndarray, optional
        Calibration data for data-dependent criteria.
    scope : {"layer", "global"}
    layers : list of int, optional
        Indices into the Dense layers to prune. Default: all of them for
        connection criteria, all but the last for neuron criteria.
    seed : int or Generator
        For the random criteria.
    min_keep : int or list of int, optional
        Global scope: entries each layer keeps at least (see
        :func:`~minicomp.prune.mask.global_masks`).

    Returns
    -------
    list of ndarray
        The new mask of each pruned layer ((out, in) or (out,)).
    """
    if scope not in ("layer", "global"):
        raise ValueError(f"scope={scope!r}; expected 'layer' or 'global'")
    neuron = criterion in NEURON
    if not neuron and criterion not in CONNECTION:
        raise ValueError(f"criterion={criterion!r}; expected one of {CONNECTION + NEURON}")
    dense = dense_layers(net)
    if layers is None:
        layers = list(range(len(dense) - 1 if neuron else len(dense)))
    bad = [i for i in layers if not (isinstance(i, int) and 0 <= i < len(dense))]
    if bad or not layers:
        raise ValueError(f"layers={layers!r}; expected indices of Dense layers in "
                         f"[0, {len(dense)})")
    if criterion == "obs":
        if scope != "layer":
            raise ValueError("criterion='obs' prunes layer by layer; use scope='layer'")
        if X is None:
            raise ValueError("criterion='obs' needs calibration inputs X")
        inputs, masks = layer_inputs(net, X), []
        for i in layers:
            W_new, mask = obs_prune(dense[i], inputs[i], amount)
            dense[i].W.data[...] = W_new
            prune_connections(dense[i], mask)
            masks.append(mask)
        return masks
    all_scores = layer_scores(net, criterion, X, y, seed)
    scores = []
    for i in layers:                            # pruned entries first, then by score
        s = np.asarray(all_scores[i], dtype=np.float64)
        scores.append(np.where(_current_mask(dense[i], neuron), s, -np.inf))
    if scope == "layer":
        masks = [mask_from_scores(s, amount) for s in scores]
    else:
        normed = [s / max(np.linalg.norm(s[np.isfinite(s)]), 1e-300) for s in scores]
        masks = global_masks(normed, amount, min_keep)
    for i, mask in zip(layers, masks):
        (prune_neurons if neuron else prune_connections)(dense[i], mask)
    return masks
