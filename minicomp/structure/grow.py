r"""Growth (seed 003): widen a layer or deepen the net without changing its function (Net2Net).

**Net2WiderNet.** To widen hidden layer k from n to n' neurons, pick a
mapping :math:`g: \{1..n'\} \to \{1..n\}` that is the identity on the first
n and random beyond, copy the incoming weights of the replicated
neurons, and divide their outgoing weights by how many copies share them:

.. math:: W^{(k)}_{new}[j,:] = W^{(k)}[g(j),:],\quad b^{(k)}_{new}[j] = b^{(k)}[g(j)],\quad
          W^{(k+1)}_{new}[:,j] = \frac{W^{(k+1)}[:,g(j)]}{|\{j' : g(j') = g(j)\}|} .

Each copy outputs the same value, and the copies' outgoing weights sum to
the original, so the next layer's input is unchanged for any activation.

**Net2DeeperNet.** Insert after hidden layer k a Dense(n, n) layer with
:math:`W = I`, :math:`b = 0`, followed by the same activation f. The new
layer computes :math:`f(I\,h) = f(h)`, which is h when
:math:`f(f(z)) = f(z)`: true for ReLU (and the identity), not for tanh or
the sigmoid, which are refused.

Both are exact up to float32 rounding (the weights are copied or divided
by small integers). Training continues from the grown net. A neuron and
its copy get the same gradient on their incoming weights, so Chen et al.
add a little noise to break the symmetry (``noise``), which gives up
exactness by the size of the noise.

References
----------
Chen, T., Goodfellow, I., Shlens, J. (2016). Net2Net: Accelerating
Learning via Knowledge Transfer. ICLR. arXiv:1511.05641.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..nn import Identity, ReLU, Sequential
from .fold import dense_from, sequential_blocks


def _hidden(blocks, layer, where):
    if len(blocks) < 2:
        raise ValueError(f"{where}: net has one Dense layer and no hidden layer to grow")
    return check.integer(layer, "layer", low=0, high=len(blocks) - 2, where=where)


def widen(net, layer: int, width: int, seed=0, noise: float = 0.0) -> Sequential:
    """A copy of ``net`` with hidden layer ``layer`` widened to ``width`` neurons (Net2WiderNet).

    Parameters
    ----------
    net : Sequential
    layer : int
        Index into the Dense layers of a hidden layer (not the output one).
    width : int
        New number of neurons, >= the current one.
    seed : int or Generator
        Chooses which neurons are replicated.
    noise : float
        Std of Gaussian noise added to the replicas' incoming weights
        (relative to the layer's weight std); 0 keeps the function exactly.

    Raises
    ------
    TypeError, ValueError
        ``net`` not a Sequential; ``layer`` not a hidden layer; ``width``
        smaller than the layer; ``noise`` < 0.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([3, 2, 1], seed=0)
    >>> big = widen(net, 0, 5)
    >>> big[0].W.shape, big[2].W.shape
    ((5, 3), (1, 5))
    >>> X = np.ones((4, 3), np.float32)
    >>> bool(np.allclose(big(X).data, net(X).data, atol=1e-6))
    True
    """
    blocks = sequential_blocks(net, "widen")
    k = _hidden(blocks, layer, "widen")
    d, nxt = blocks[k].dense, blocks[k + 1].dense
    n = d.out_features
    width = check.integer(width, "width", low=n, where="widen")
    noise = check.number(noise, "noise", low=0.0, where="widen")
    rng = check.rng(seed, where="widen")
    g = np.concatenate([np.arange(n), rng.integers(n, size=width - n)])    # (n',) g(j)
    copies = np.bincount(g, minlength=n)                                   # (n,)
    W = d.W.data[g].copy()                                                 # (n', in)
    if noise > 0 and width > n:
        W[n:] += noise * d.W.data.std() * rng.standard_normal(W[n:].shape)
    b = None if d.b is None else d.b.data[g]                               # (n',)
    W_next = nxt.W.data[:, g] / copies[g]                                  # (out, n')
    layers = [copy.deepcopy(m) for m in net.layers]
    layers[blocks[k].index] = dense_from(W, b, d.init)
    layers[blocks[k + 1].index] = dense_from(
        W_next, None if nxt.b is None else nxt.b.data, nxt.init)
    grown = Sequential(*layers)
    grown.train(net.training)
    return grown


def deepen(net, layer: int) -> Sequential:
    """A copy of ``net`` with an identity layer (and activation) after hidden layer ``layer``.

    Parameters
    ----------
    net : Sequential
    layer : int
        Index into the Dense layers of a hidden layer; its activation must
        be ReLU or none (then f(I h) = h).

    Raises
    ------
    TypeError, ValueError
        ``net`` not a Sequential; ``layer`` not a hidden layer; an
        activation for which the identity layer changes the function.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([3, 4, 2], seed=0)
    >>> deep = deepen(net, 0)
    >>> [type(m).__name__ for m in deep]
    ['Dense', 'ReLU', 'Dense', 'ReLU', 'Dense']
    >>> X = np.ones((2, 3), np.float32)
    >>> bool(np.allclose(deep(X).data, net(X).data, atol=1e-6))
    True
    """
    blocks = sequential_blocks(net, "deepen")
    k = _hidden(blocks, layer, "deepen")
    act = blocks[k].act
    if not isinstance(act, (ReLU, Identity)):
        raise ValueError(f"deepen: layer {k} is followed by {type(act).__name__}; expected ReLU "
                         f"or no activation (an identity layer then keeps the function: "
                         f"f(f(z)) = f(z) fails for {type(act).__name__})")
    n = blocks[k].dense.out_features
    new = [dense_from(np.eye(n, dtype=np.float32), np.zeros(n, np.float32),
                      blocks[k].dense.init)]
    new += [ReLU()] if isinstance(act, ReLU) else []
    cut = blocks[k + 1].index                         # insert just before the next Dense
    layers = [copy.deepcopy(m) for m in net.layers]
    grown = Sequential(*layers[:cut], *new, *layers[cut:])
    grown.train(net.training)
    return grown
