r"""Equivalent transformations: AWQ and SmoothQuant, one per-input-channel scale each.

For a Dense layer :math:`y = xW^\top + b` and any positive :math:`s`,

.. math:: y = (x\,\mathrm{diag}(s)^{-1})\,(W\mathrm{diag}(s))^\top + b,

and when x is the output of a previous Dense (+ ReLU) layer, the division
folds into that layer's rows (:func:`~minicomp.ptq.equalize.scale_neurons`):
the float net is unchanged, but what gets quantized changes. Equalization
(:mod:`.equalize`) picks s from the weights; these two pick it from
**activation statistics** on a calibration set:

- **SmoothQuant** (for W8A8: activations with outlier channels are hard to
  quantize per tensor, weights are easy) moves the difficulty into the
  weights, :math:`s_j = \max|X_j|^\alpha / \max|W_{:,j}|^{1-\alpha}`,
  :math:`\alpha \in [0, 1]` (0.5 balances both).
- **AWQ** (weight-only, low bits): channels with large activations are
  *salient* -- their weights' rounding errors are multiplied by large
  inputs. Scaling their weights up before rounding (and the inputs down)
  shrinks those errors: :math:`s_j = \overline{|X_j|}^{\alpha}` (normalised),
  with :math:`\alpha` searched on a grid to minimise
  :math:`\lVert X (Q(W\mathrm{diag}(s))\mathrm{diag}(s)^{-1})^\top - XW^\top\rVert_F^2`.

:func:`protect_channels` is AWQ's motivating ablation: keep the weights of a
few input channels in float and quantize the rest.

References
----------
Xiao, G. et al. (2023). SmoothQuant: Accurate and Efficient Post-Training
Quantization for Large Language Models. ICML. arXiv:2211.10438.
Lin, J. et al. (2024). AWQ: Activation-aware Weight Quantization for LLM
Compression and Acceleration. MLSys. arXiv:2306.00978.

Deviations: the scale of layer k folds into layer k-1, so the first Dense
layer (whose input is the data) is left alone; no clipping search in AWQ.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate
from ..blocks import numpy_forward
from ..quant.granularity import quantize_tensor
from ..quant.ptq import relu_blocks
from ..quant.uniform import check_bits
from .equalize import scale_neurons
from .layerwise import calibration_set


def check_alpha(alpha, where: str) -> float:
    """``alpha`` as a float in [0, 1], else ValueError naming it."""
    return validate.number(alpha, "alpha", low=0, high=1, where=where)


def smoothquant_scales(X, W, alpha: float = 0.5) -> np.ndarray:
    r""":math:`s_j = \max|X_j|^\alpha / \max|W_{:,j}|^{1-\alpha}` (1 where either is 0).

    >>> smoothquant_scales(np.array([[4.0, 1.0]]), np.array([[1.0, 1.0]]), 0.5)
    array([2., 1.])
    """
    alpha = check_alpha(alpha, "smoothquant_scales")
    a = np.abs(np.asarray(X, dtype=np.float64)).max(axis=0)            # (in,)
    w = np.abs(np.asarray(W, dtype=np.float64)).max(axis=0)            # (in,)
    ok = (a > 0) & (w > 0)
    return np.where(ok, np.where(ok, a, 1.0) ** alpha / np.where(ok, w, 1.0) ** (1 - alpha),
                    1.0)


def _fold(net, X_calib, choose, where):
    """Copy of ``net``; for each layer k >= 1, ``s = choose(X_k, W_k)`` folded into k-1."""
    X_calib = calibration_set(net, X_calib, where)
    net = copy.deepcopy(net)
    blocks = relu_blocks(net, where)
    for k in range(1, len(blocks)):
        _, inputs = numpy_forward(net, X_calib, np.float64, inputs=True, where=where)
        s = choose(inputs[k], blocks[k].dense.W.data.astype(np.float64))  # (in_k,)
        scale_neurons(blocks[k - 1].dense, blocks[k].dense, s)
    return net


def smoothquant(net, X_calib, alpha: float = 0.5):
    """A copy of ``net`` (same function) with activation outliers moved into the weights.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([4, 8, 3], seed=0)
    >>> X = np.random.default_rng(0).normal(size=(32, 4))
    >>> bool(np.allclose(smoothquant(net, X)(X).data, net(X).data, atol=1e-5))
    True
    """
    alpha = check_alpha(alpha, "smoothquant")
    return _fold(net, X_calib, lambda X, W: smoothquant_scales(X, W, alpha), "smoothquant")


def awq_scales(X, W, bits: int = 4, granularity: str = "channel",
               group_size: int | None = None, grid: int = 20):
    r"""AWQ's :math:`s = \overline{|X_j|}^{\alpha}` for the best :math:`\alpha` on ``grid``
    points of [0, 1), and that :math:`\alpha` (0 means no scaling: s = 1)."""
    X = np.asarray(X, dtype=np.float64)
    a = np.maximum(np.abs(X).mean(axis=0), 1e-8)                       # (in,)
    Y = X @ W.T                                                        # (N, out)
    best = (np.inf, None, None)
    for alpha in np.arange(grid) / grid:
        s = a ** alpha
        s = s / np.sqrt(s.max() * s.min())                             # centred around 1
        W_hat = quantize_tensor(W * s, bits, "symmetric", granularity,
                                group_size).dequantize() / s           # (out, in)
        err = float(((X @ W_hat.T - Y) ** 2).sum())
        if err < best[0]:
            best = (err, s, float(alpha))
    return best[1], best[2]


def awq(net, X_calib, bits: int = 4, granularity: str = "channel",
        group_size: int | None = None, grid: int = 20):
    """A copy of ``net`` (same function) scaled for ``bits``-bit weight-only quantization.

    Quantize the result with the same bits and granularity (e.g.
    ``quantize_mlp(awq(net, X, 4), X, 4, None)``).
    """
    where = "awq"
    check_bits(bits, "symmetric", where=where)
    grid = validate.integer(grid, "grid", low=1, where=where)
    return _fold(net, X_calib, lambda X, W: awq_scales(X, W, bits, granularity, group_size,
                                                       grid)[0], where)


def salient_channels(X, fraction: float = 0.01) -> np.ndarray:
    """Indices of the ``fraction`` of input channels with the largest mean ``|X_j|`` (>= 1)."""
    fraction = validate.number(fraction, "fraction", low=0, high=1, where="salient_channels")
    a = np.abs(np.asarray(X, dtype=np.float64)).mean(axis=0)           # (in,)
    k = max(1, int(round(fraction * len(a))))
    return np.argsort(-a, kind="stable")[:k]


def protect_channels(W, channels, bits: int = 4, granularity: str = "channel"):
    """``W`` quantized (symmetric, round-to-nearest) except the input columns ``channels``,
    which stay float (AWQ's "keep 1 % of the channels in FP16")."""
    W = np.asarray(W, dtype=np.float64)
    W_hat = quantize_tensor(W, bits, "symmetric", granularity).dequantize().astype(np.float64)
    W_hat[:, channels] = W[:, channels]
    return W_hat
