r"""Mixed precision (seed 001's 混合量化): per-layer bit widths chosen by measured sensitivity.

Seed 001: "quantize some parameters to integers, keep others in float".
Layers differ in how much rounding hurts them, so each Dense layer ``l``
gets its own weight width :math:`b_l \in` ``choices`` (32 = keep float32).

1. **Sensitivity**: for every layer and width, quantize *only that layer*
   (symmetric, per channel) and measure the loss on held-out data,
   :math:`\Delta_l(b) = L(\text{net with } W_l \to \hat W_l^{(b)}) - L(\text{net})`.
2. **Choice under a size budget** (greedy, as a knapsack heuristic): start
   with every layer at the widest choice; while the model is larger than
   ``budget`` bytes, take the step to the next narrower width with the
   smallest sensitivity increase per byte saved.

Deviations: sensitivities are measured one layer at a time and added
(interactions ignored), as in HAWQ-style and Distiller's sensitivity
analysis; the search is greedy, not an exact knapsack.

References
----------
Dong, Z. et al. (2019). HAWQ: Hessian AWare Quantization of Neural Networks
with Mixed-Precision. ICCV. arXiv:1905.03696.
Wang, K. et al. (2019). HAQ: Hardware-Aware Automated Quantization with
Mixed Precision. CVPR. arXiv:1811.08886.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from ..metrics import storage_bytes
from ..train import evaluate
from .granularity import quantize_tensor
from .ptq import check_inputs


def check_choices(choices, where=None) -> list[int]:
    """Bit widths to choose from: non-empty, increasing, each in [2, 16] (symmetric) or 32.

    Examples
    --------
    >>> check_choices((2, np.int64(4), 32))
    [2, 4, 32]
    >>> check_choices((33,), where="mixed_precision")
    Traceback (most recent call last):
        ...
    ValueError: mixed_precision: choices[0]=33; expected a bit width in [2, 16] ...
    """
    pre = f"{where}: " if where else ""
    if isinstance(choices, (str, bytes, dict)) or not hasattr(choices, "__len__") or not len(
            choices):
        raise ValueError(f"{pre}choices={choices!r}; expected a non-empty sequence of bit "
                         "widths (2..16, or 32 to keep a layer in float32)")
    out = []
    for i, b in enumerate(choices):
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, np.integer)):
            raise TypeError(f"{pre}choices[{i}]={b!r} ({type(b).__name__}); expected a bit "
                            "width: an int in [2, 16], or 32 to keep float32")
        if b != 32 and not 2 <= b <= 16:
            raise ValueError(f"{pre}choices[{i}]={b}; expected a bit width in [2, 16] "
                             "(symmetric weights), or 32 to keep float32")
        out.append(int(b))
    if any(a >= b for a, b in zip(out, out[1:])):
        raise ValueError(f"{pre}choices={out}; expected strictly increasing bit widths")
    return out


def _data(net, X, y, where):
    blocks = dense_blocks(net, where)
    X = check_inputs(blocks[0].dense.in_features, X, "X", where, "held-out set")
    return X, validate.labels(y, "y", n=len(X), num_classes=blocks[-1].dense.out_features,
                              where=where)


def layer_sensitivity(net, X, y, choices=(2, 4, 8)) -> np.ndarray:
    """``Δ[l, c]``: loss increase when only layer ``l`` has ``choices[c]``-bit weights.

    Parameters
    ----------
    net : Sequential of Dense layers and activations (restored after each trial)
    X, y : held-out data
    choices : bit widths to try (32 = float, Δ = 0)

    Returns
    -------
    ndarray float64, shape (layers, len(choices)); 0 for choices >= 32
    """
    choices = check_choices(choices, "layer_sensitivity")
    X, y = _data(net, X, y, "layer_sensitivity")
    base = evaluate(net, X, y)["loss"]
    blocks = dense_blocks(net)
    delta = np.zeros((len(blocks), len(choices)))
    for l, (_, dense, _) in enumerate(blocks):
        W = dense.W.data.copy()
        for c, b in enumerate(choices):
            if b >= 32:
                continue
            quantize_weights_one(dense, b)
            delta[l, c] = evaluate(net, X, y)["loss"] - base
            dense.W.data[...] = W                          # restore
    return delta


def quantize_weights_one(dense, bits: int) -> None:
    """Fake-quantize one Dense layer's weights in place (symmetric, per channel)."""
    dense.W.data[...] = quantize_tensor(dense.W.data, bits, "symmetric", "channel").dequantize()


def choose_bits(delta, shapes, choices, budget: int) -> list[int]:
    """Greedy per-layer widths with total bytes ≤ ``budget`` (see the module docstring).

    Parameters
    ----------
    delta : ndarray (layers, len(choices)) from :func:`layer_sensitivity`
    shapes : list of (out, in) weight shapes
    choices : increasing bit widths (32 = float)
    budget : int, bytes

    Raises
    ------
    ValueError
        Even the narrowest width for every layer exceeds the budget.

    Examples
    --------
    >>> delta = np.array([[0.9, 0.1, 0.0], [0.05, 0.01, 0.0]])  # layer 1 is robust
    >>> choose_bits(delta, [(10, 10), (10, 10)], (2, 4, 8), budget=300)
    [8, 2]
    """
    where = "choose_bits"
    choices = check_choices(choices, where)
    budget = validate.number(budget, "budget", low=0, low_open=True, where=where)
    if not isinstance(shapes, (list, tuple)) or not shapes or any(
            len(np.shape(s)) != 1 or len(s) != 2 or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in s)
            for s in shapes):
        raise ValueError(f"{where}: shapes={shapes!r}; expected a non-empty list of (out, in) "
                         "weight shapes")
    delta = validate.array(delta, "delta", ndim=2, where=where)
    if delta.shape != (len(shapes), len(choices)):
        raise ValueError(f"{where}: delta has shape {delta.shape}; expected (layers, choices) = "
                         f"{(len(shapes), len(choices))}")

    def nbytes(b, shape):                                 # int-b per channel, or float32
        return storage_bytes(tuple(shape), "int", bits=b)

    level = [len(choices) - 1] * len(shapes)              # index into choices, widest first
    total = sum(nbytes(choices[-1], s) for s in shapes)
    smallest = sum(nbytes(choices[0], s) for s in shapes)
    if smallest > budget:
        raise ValueError(f"budget={budget} bytes is below the smallest model "
                         f"({smallest} bytes at {choices[0]} bits everywhere)")
    while total > budget:
        best, best_cost = None, np.inf
        for l, s in enumerate(shapes):
            if level[l] == 0:
                continue
            saved = nbytes(choices[level[l]], s) - nbytes(choices[level[l] - 1], s)
            cost = (delta[l, level[l] - 1] - delta[l, level[l]]) / max(saved, 1)
            if cost < best_cost:
                best, best_cost = l, cost
        total -= nbytes(choices[level[best]], shapes[best])
        level[best] -= 1
        total += nbytes(choices[level[best]], shapes[best])
    return [choices[i] for i in level]


def mixed_precision(net, X, y, budget: int, choices=(2, 4, 8, 32)):
    """Measure sensitivities, choose widths under ``budget`` and return ``(net_q, bits, bytes)``.

    Parameters
    ----------
    net : Sequential of Dense layers and activations (not modified)
    X, y : held-out data on which sensitivities are measured
    budget : int, bytes of the quantized weights (+ scales and biases)
    choices : increasing bit widths; 32 keeps a layer in float32

    Returns
    -------
    net_q : a copy of ``net``, each layer's weights fake-quantized to its width
    bits : list of int, one width per Dense layer
    nbytes : int, the size in bytes (:func:`~minicomp.metrics.storage_bytes`, ``"int"``)
    """
    where = "mixed_precision"
    blocks = dense_blocks(net, where)
    choices = check_choices(choices, where)
    validate.number(budget, "budget", low=0, low_open=True, where=where)
    X, y = _data(net, X, y, where)
    delta = layer_sensitivity(net, X, y, choices)
    shapes = [b.dense.W.shape for b in blocks]
    bits = choose_bits(delta, shapes, choices, budget)
    net_q = copy.deepcopy(net)
    for block, b in zip(dense_blocks(net_q), bits):
        if b < 32:
            quantize_weights_one(block.dense, b)
    return net_q, bits, storage_bytes(net_q, "int", bits=bits)

