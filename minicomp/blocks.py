"""THE walker over a network's Dense layers, and THE plain-NumPy forward pass.

Every technique that visits a net layer by layer -- pruning criteria and
masks, compaction, OBD/OBS, calibration and quantization, sizes,
deployment -- goes through :func:`dense_blocks`, so they all accept the
same nets and refuse the same ones with the same message. Every technique
that needs the net's outputs or per-layer inputs as arrays (no autograd)
calls :func:`numpy_forward`, which computes exactly what
``net(X)`` computes in eval mode, on inputs checked by :func:`net_inputs`.

A *block* is one Dense layer and the elementwise activation right after
it (Identity when there is none):

    Dense(64 -> 64), ReLU, Dense(64 -> 10)   ->   [(0, Dense, ReLU), (2, Dense, Identity)]
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import validate as check
from .nn import SAME_WIDTH, Dense, Dropout, Identity, Module, Sequential


class Block(NamedTuple):
    """One Dense layer of a Sequential and the activation right after it."""

    index: int                # position of the Dense layer in the Sequential
    dense: Dense
    act: Module               # the activation after it (Identity when there is none)


def dense_blocks(net, where=None) -> list:
    """THE walker: the :class:`Block` s of ``net`` (a Sequential or one Dense), in order.

    Every technique that visits a net's layers goes through this one
    function, so they all accept the same nets: Dense layers, each followed
    by at most one elementwise activation (ReLU, Sigmoid, Tanh, Identity;
    Dropout is the identity at inference and is skipped).

    Raises
    ------
    TypeError
        ``net`` is not a Module, or holds another layer type.
    ValueError
        No Dense layer, an activation before the first Dense, or two
        activations in a row.

    Examples
    --------
    >>> from minicomp import MLP
    >>> [(b.index, b.dense.out_features, type(b.act).__name__)
    ...  for b in dense_blocks(MLP([4, 8, 3]))]
    [(0, 8, 'ReLU'), (2, 3, 'Identity')]
    """
    check.module(net, "net", where=where)
    pre = f"{where}: " if where else ""
    blocks = []
    for i, layer in enumerate(net.layers if isinstance(net, Sequential) else [net]):
        if type(layer) is Dense:
            blocks.append(Block(i, layer, Identity()))
        elif type(layer) not in SAME_WIDTH:
            raise TypeError(f"{pre}layer {i} is a {type(layer).__name__}; expected Dense layers "
                            "with ReLU, Sigmoid, Tanh, Identity or Dropout between them")
        elif isinstance(layer, (Dropout, Identity)):
            continue                                           # the identity at inference
        elif not blocks or not isinstance(blocks[-1].act, Identity):
            raise ValueError(f"{pre}layer {i} ({type(layer).__name__}) follows "
                             f"{'no Dense layer' if not blocks else 'another activation'}; "
                             "expected at most one activation after each Dense layer")
        else:
            blocks[-1] = blocks[-1]._replace(act=layer)
    if not blocks:
        raise ValueError(f"{pre}net has no Dense layer; expected at least one")
    return blocks


def count_macs(net, nonzero: bool = False) -> int:
    r"""Multiply-accumulates of one example's forward pass: :math:`\sum_\ell
    \text{out}_\ell \cdot \text{in}_\ell` over the Dense layers (biases and
    activations are not counted; ``nonzero=True`` counts only the weights that
    are nonzero and not masked, what a sparse kernel multiplies).

    Examples
    --------
    >>> from minicomp import MLP
    >>> count_macs(MLP([64, 32, 10]))          # 64*32 + 32*10
    2368
    """
    nonzero = check.flag(nonzero, "nonzero", where="count_macs")
    total = 0
    for b in dense_blocks(net, where="count_macs"):
        W = b.dense.W.data                                          # (out, in)
        if nonzero:
            mask = getattr(b.dense.W, "mask", None)
            total += int(np.count_nonzero(W if mask is None else W * mask))
        else:
            total += W.size
    return total


def net_inputs(net, X, name: str = "X", where=None, dtype=np.float32) -> np.ndarray:
    """``X`` checked as a batch of inputs of ``net`` (numeric, (N, in), finite), as ``dtype``.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net_inputs(MLP([3, 2]), [[1, 2, 3]]).dtype
    dtype('float32')
    >>> net_inputs(MLP([3, 2]), [[1.0, float("nan"), 3.0]], where="prune")
    Traceback (most recent call last):
        ...
    ValueError: prune: X contains nan at [0, 1]; expected finite numbers
    """
    first = dense_blocks(net, where)[0].dense
    return check.array(getattr(X, "data", X), name, ndim=2, width=first.in_features,
                       where=where, dtype=dtype)


def numpy_forward(net, X, dtype=np.float32, inputs: bool = False, where=None):
    """THE plain-NumPy forward pass (inference: no autograd, no dropout).

    Parameters
    ----------
    net : Sequential or Dense (see :func:`dense_blocks`)
    X : array, shape (N, in)
        Checked: numeric, 2-D, non-empty, the net's input width, finite.
    dtype : float dtype
        Computed in this dtype (float32 as trained; float64 for second-order
        methods that need the precision); an integer dtype is refused.
    inputs : bool
        Also return the input of every Dense layer.

    Returns
    -------
    Y : ndarray, shape (N, out)
        The logits; with ``inputs=True``, ``(Y, [X_0, X_1, ...])``.

    Raises
    ------
    TypeError, ValueError
        What :func:`dense_blocks` and :func:`net_inputs` refuse; ``dtype`` not a
        float dtype; ``inputs`` not a bool.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([2, 2, 1], seed=0)
    >>> bool(np.allclose(numpy_forward(net, [[1.0, -1.0]]), net([[1.0, -1.0]]).data))
    True
    """
    blocks = dense_blocks(net, where)
    try:                                                       # np.int32 gives all-zero logits
        kind = None if dtype is None else np.dtype(dtype).kind
    except (TypeError, ValueError):                            # 'foo': not a dtype at all
        kind = None
    if kind != "f":
        raise (TypeError if kind is None else ValueError)(
            f"{where + ': ' if where else ''}dtype={getattr(dtype, '__name__', dtype)!r}; "
            "expected a float dtype (np.float32 or np.float64)")
    inputs = check.flag(inputs, "inputs", where=where)
    h = net_inputs(net, X, "X", where, dtype)                  # (N, in), finite
    seen = []
    for block in blocks:
        seen.append(h)
        W, b = block.dense.W.data.astype(dtype, copy=False), block.dense.b
        h = h @ W.T                                            # (N, in) -> (N, out)
        if b is not None:
            h = h + b.data.astype(dtype, copy=False)
        h = block.act.numpy(h)
    return (h, seen) if inputs else h
