r"""Physically remove pruned neurons: a smaller dense network, same outputs.

Structured pruning that only zeroes rows leaves the matrices as large as
before (a common complaint about toolkits). :func:`compact` deletes them.
For consecutive Dense layers k and k+1 with an elementwise activation f
between them, neuron i of layer k is *dead* when its effective row and
bias are zero (:math:`w^{(k)}_{i,:} = 0`, :math:`b^{(k)}_i = 0`), or when
nothing reads it (column i of :math:`W^{(k+1)}` is zero). Its output is
then the constant :math:`c = f(0)` (0 for ReLU and tanh, 1/2 for the
sigmoid), so removing row i of :math:`W^{(k)}`, entry i of
:math:`b^{(k)}` and column i of :math:`W^{(k+1)}` and adding

.. math:: b^{(k+1)} \leftarrow b^{(k+1)} + W^{(k+1)}_{:,i}\, f(0)

leaves every output unchanged (up to float rounding). The first layer's
inputs and the last layer's outputs are never removed.

References
----------
Zmora, N. et al. Distiller "thinning" (removal of pruned structures).
Li, H. et al. (2017). Pruning Filters for Efficient ConvNets. ICLR.
"""
from __future__ import annotations

import copy

import numpy as np

from ..blocks import dense_blocks
from ..nn import Dense, Sequential


def _effective(p):
    return p.data * p.mask if p.mask is not None else p.data.copy()


def dense_from(W, b, init: str = "he", W_mask=None) -> Dense:
    """A Dense layer holding ``W`` (out, in), ``b`` (out,) or no bias (``b=None``), and
    ``W_mask`` as its pruning mask unless it keeps everything (``init`` is recorded only)."""
    layer = Dense(W.shape[1], W.shape[0], bias=b is not None, init=init, seed=0)
    layer.W.data[...] = W                                          # (out, in)
    if b is not None:
        layer.b.data[...] = b                                      # (out,)
    if W_mask is not None and not W_mask.all():                    # keep sparsity masks
        layer.W.mask = W_mask.astype(layer.W.dtype)
    return layer


def compact(net) -> Sequential:
    """A new, smaller Sequential without the dead hidden neurons of ``net``.

    Parameters
    ----------
    net : Sequential of Dense layers and elementwise activations

    Returns
    -------
    Sequential
        Same outputs as ``net`` on any input; ``net`` is not modified.
        Remaining connection masks are carried over.

    Raises
    ------
    TypeError
        ``net`` is not a Sequential, or holds a layer that is neither Dense
        nor an elementwise activation.

    Examples
    --------
    >>> from minicomp import MLP
    >>> from minicomp.prune.mask import prune_neurons
    >>> net = MLP([4, 6, 3], seed=0)
    >>> prune_neurons(net[0], [1, 0, 1, 0, 1, 1])
    >>> small = compact(net)
    >>> small[0].W.shape, small[2].W.shape
    ((4, 4), (3, 4))
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"compact: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    blocks = dense_blocks(net, "compact")
    W = [_effective(b.dense.W) for b in blocks]                     # effective weights
    bias = [None if b.dense.b is None else _effective(b.dense.b) for b in blocks]
    masks = [b.dense.W.mask for b in blocks]
    for k in range(len(blocks) - 1):                                # block k feeds block k + 1
        dead_row = ~W[k].any(axis=1) & (bias[k] == 0 if bias[k] is not None else True)
        unread = ~W[k + 1].any(axis=0)                              # (out_k,)
        keep = ~(dead_row | unread)                                 # (out_k,)
        if keep.all():
            continue
        c = blocks[k].act.numpy(np.zeros(W[k].shape[0], np.float32))   # (out_k,) f(0)
        shift = W[k + 1][:, ~keep] @ c[~keep]                      # (out_next,)
        if np.any(shift) and bias[k + 1] is None:
            raise ValueError(f"compact: layer {blocks[k + 1].index} has no bias to absorb the "
                             f"constant output f(0) of removed neurons")
        if bias[k + 1] is not None:
            bias[k + 1] = bias[k + 1] + shift
        W[k], W[k + 1] = W[k][keep], W[k + 1][:, keep]              # (out', in), (next, out')
        bias[k] = None if bias[k] is None else bias[k][keep]
        if masks[k] is not None:
            masks[k] = masks[k][keep]
        if masks[k + 1] is not None:
            masks[k + 1] = masks[k + 1][:, keep]
    layers = copy.deepcopy(list(net))                               # activations, dropout
    for blk, W_k, b_k, mask_k in zip(blocks, W, bias, masks):
        layers[blk.index] = dense_from(W_k, b_k, blk.dense.init, mask_k)
    small = Sequential(*layers)
    small.train(net.training)
    return small
