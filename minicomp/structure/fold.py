r"""Layer-count compression: fold linear layers exactly; remove a layer by folding it.

Two Dense layers with no nonlinearity between them are one linear map:

.. math:: W_2 (W_1 x + b_1) + b_2 = (W_2 W_1)\,x + (W_2 b_1 + b_2),

so :func:`fold_linear` replaces every such run by one Dense layer with
:math:`W = W_2 W_1` (out_2, in_1) and :math:`b = W_2 b_1 + b_2`; the outputs
do not change (the products are taken in float64). The folded layer has
fewer parameters only when the middle width is large: a bottleneck
(e.g. a low-rank pair, :mod:`~minicomp.structure.lowrank`) is cheaper
unfolded, and the folding is then a *speed* choice (one matmul, not two).

:func:`remove_layer` drops hidden layer k's activation and folds layer k
into layer k+1: the net loses one layer, and the only change to its
function is the missing nonlinearity, which fine-tuning (or distillation
from the original) then repairs. This is the natural initialization for
"fewer layers" (seed 001): every weight the student starts from is the
teacher's.

References
----------
Seed 001 (层数压缩, layer-count compression).
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR (folding linear ops).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..blocks import dense_blocks
from ..nn import Identity, Sequential
from ..prune.compact import dense_from


def _affine(dense):
    W = dense.W.data.astype(np.float64)                        # (out, in)
    b = np.zeros(len(W)) if dense.b is None else dense.b.data.astype(np.float64)
    return W, b, dense.b is not None


def int_list(value, name, *, low=0, high=None, unique=False, where=None) -> list:
    """``value`` (a list/tuple/1-D array of ints) as a list of ints in [low, high].

    ``unique=True`` also refuses repeats (a layer listed twice).

    Examples
    --------
    >>> int_list((0, 2), "layers", high=2)
    [0, 2]
    >>> int_list(0, "layers", where="factorize")
    Traceback (most recent call last):
        ...
    TypeError: factorize: layers=0 (int); expected a list of ints, e.g. [0]
    """
    pre = f"{where}: " if where else ""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{pre}{name}={value!r} ({type(value).__name__}); expected a list of "
                        "ints, e.g. [0]")
    out = [check.integer(v, f"{name}[{i}]", low=low, high=high, where=where)
           for i, v in enumerate(value)]
    if unique and len(set(out)) < len(out):
        raise ValueError(f"{pre}{name}={out}; expected each index at most once")
    return out


def sequential_blocks(net, where):
    """The blocks of ``net``, which must be a Sequential (TypeError otherwise)."""
    if not isinstance(net, Sequential):
        raise TypeError(f"{where}: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    return dense_blocks(net, where)


def fold_linear(net) -> Sequential:
    """A copy of ``net`` with each run of Dense layers joined by no activation folded into one.

    Parameters
    ----------
    net : Sequential of Dense layers and elementwise activations

    Returns
    -------
    Sequential
        Same outputs (up to float32 rounding); ``net`` is not modified.
        Dropout layers between folded layers are dropped (the identity at
        inference); the others (after an activation, or after the last
        layer) are kept in place, as are the activations.

    Raises
    ------
    TypeError, ValueError
        What :func:`~minicomp.blocks.dense_blocks` refuses; ``net`` not a Sequential.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([4, 3, 2, 5], activation="identity", seed=0)    # three Dense, no activation
    >>> small = fold_linear(net)
    >>> [type(m).__name__ for m in small], small[0].W.shape
    (['Dense'], (5, 4))
    >>> X = np.ones((2, 4), np.float32)
    >>> bool(np.allclose(small(X).data, net(X).data, atol=1e-5))
    True
    """
    blocks = sequential_blocks(net, "fold_linear")
    ends = [b.index for b in blocks[1:]] + [len(net.layers)]      # where each block's tail ends
    layers, k = [], 0
    while k < len(blocks):
        W, b, has_b = _affine(blocks[k].dense)
        while isinstance(blocks[k].act, Identity) and k + 1 < len(blocks):
            W2, b2, has_b2 = _affine(blocks[k + 1].dense)
            W, b, has_b = W2 @ W, W2 @ b + b2, has_b or has_b2  # (out2, in1), (out2,)
            k += 1
        layers.append(dense_from(W, b if has_b else None, blocks[k].dense.init))
        layers += [copy.deepcopy(m) for m in net.layers[blocks[k].index + 1:ends[k]]
                   if not isinstance(m, Identity)]              # activation, Dropout after it
        k += 1
    folded = Sequential(*layers)
    folded.train(net.training)
    return folded


def remove_layer(net, layer: int) -> Sequential:
    """A copy of ``net`` without hidden layer ``layer``: its activation dropped, folded forward.

    Parameters
    ----------
    net : Sequential
    layer : int
        Index into the Dense layers (0 .. number of Dense layers - 2; the
        output layer cannot be removed).

    Returns
    -------
    Sequential
        One Dense layer fewer. Its function differs from ``net``'s only by
        the removed nonlinearity; fine-tune or distill it afterwards.

    Raises
    ------
    TypeError, ValueError
        ``net`` not a Sequential; ``layer`` not an int in range.

    Examples
    --------
    >>> from minicomp import MLP
    >>> [m.W.shape for m in remove_layer(MLP([8, 6, 4, 3]), 1) if hasattr(m, "W")]
    [(6, 8), (3, 6)]
    """
    blocks = sequential_blocks(net, "remove_layer")
    if len(blocks) < 2:
        raise ValueError(f"remove_layer: layer={layer!r}, but the net has {len(blocks)} Dense "
                         "layer and no hidden layer to remove; expected a net with >= 2 Dense "
                         "layers")
    layer = check.integer(layer, "layer", low=0, high=len(blocks) - 2, where="remove_layer")
    W1, b1, has1 = _affine(blocks[layer].dense)
    W2, b2, has2 = _affine(blocks[layer + 1].dense)
    merged = dense_from(W2 @ W1, W2 @ b1 + b2 if has1 or has2 else None,  # (out2, in1)
                        blocks[layer + 1].dense.init)
    skip = {blocks[layer].index, blocks[layer + 1].index}
    act_at = [i for i in range(blocks[layer].index + 1, blocks[layer + 1].index)]
    layers = []
    for i, m in enumerate(net.layers):
        if i == blocks[layer + 1].index:
            layers.append(merged)
        elif i not in skip and i not in act_at:
            layers.append(copy.deepcopy(m))
    small = Sequential(*layers)
    small.train(net.training)
    return small
