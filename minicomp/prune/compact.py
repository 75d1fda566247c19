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
import itertools

import numpy as np

from ..nn import Dense, Dropout, Identity, ReLU, Sequential, Sigmoid, Tanh
from ..tensor import Tensor

ELEMENTWISE = (ReLU, Tanh, Sigmoid, Identity, Dropout)


def _effective(p):
    return p.data * p.mask if p.mask is not None else p.data.copy()


def _new_dense(W, b, like: Dense, W_mask=None) -> Dense:
    layer = Dense(W.shape[1], W.shape[0], bias=b is not None, init=like.init, seed=0)
    layer.W.data[...] = W                                          # (out', in')
    if b is not None:
        layer.b.data[...] = b
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
    >>> from minicomp.prune import prune_neurons
    >>> net = MLP([4, 6, 3], seed=0)
    >>> prune_neurons(net[0], [1, 0, 1, 0, 1, 1])
    >>> small = compact(net)
    >>> small[0].W.shape, small[2].W.shape
    ((4, 4), (3, 4))
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"compact: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    layers = list(net)
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Dense, *ELEMENTWISE)):
            raise TypeError(f"compact: layer {i} is {type(layer).__name__}; expected Dense or "
                            f"an elementwise activation")
    dense_idx = [i for i, m in enumerate(layers) if isinstance(m, Dense)]
    W = {i: _effective(layers[i].W) for i in dense_idx}             # effective weights
    b = {i: None if layers[i].b is None else _effective(layers[i].b) for i in dense_idx}
    masks = {i: layers[i].W.mask for i in dense_idx}
    for k, k_next in itertools.pairwise(dense_idx):
        dead_row = ~W[k].any(axis=1) & (b[k] == 0 if b[k] is not None else True)   # (out_k,)
        unread = ~W[k_next].any(axis=0)                                           # (out_k,)
        keep = ~(dead_row | unread)
        if keep.all():
            continue
        c = np.zeros((1, W[k].shape[0]), dtype=np.float32)         # constant output f(0)
        for m in layers[k + 1:k_next]:
            c = c if isinstance(m, Dropout) else m(Tensor(c)).data      # (1, out_k)
        shift = W[k_next][:, ~keep] @ c[0, ~keep]                  # (out_next,)
        if np.any(shift) and b[k_next] is None:
            raise ValueError(f"compact: layer {k_next} has no bias to absorb the constant "
                             f"output f(0) of removed neurons")
        if b[k_next] is not None:
            b[k_next] = b[k_next] + shift
        W[k], W[k_next] = W[k][keep], W[k_next][:, keep]           # (out', in), (next, out')
        b[k] = None if b[k] is None else b[k][keep]
        if masks[k] is not None:
            masks[k] = masks[k][keep]
        if masks[k_next] is not None:
            masks[k_next] = masks[k_next][:, keep]
    new_layers = [_new_dense(W[i], b[i], m, masks[i]) if isinstance(m, Dense) else
                  copy.deepcopy(m) for i, m in enumerate(layers)]
    small = Sequential(*new_layers)
    small.train(net.training)
    return small
