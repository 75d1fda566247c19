r"""Ternary weights (BitNet b1.58): W / mean|W| rounded to {-1, 0, +1}, int8 activations.

.. math:: \gamma = \frac{1}{nm}\sum_{ij} |W_{ij}|,\qquad
          T = \mathrm{clip}\big(\mathrm{round}(W / (\gamma + \epsilon)), -1, 1\big),
          \qquad \hat W = \gamma\, T,

and activations per row (token) to int8 by their absmax,
:math:`x_q = \mathrm{clip}(\mathrm{round}(127\, x / \max|x|), -128, 127)`.
A layer is then :math:`y = \gamma \frac{\max|x|}{127} (x_q T^\top) + b`,
where :math:`x_q T^\top` needs only additions and subtractions
(:mod:`minicomp.kernels.ternary`). log2(3) = 1.58 bits carry a weight's
information; stored as two bitmasks it takes 2 bits.

Ma, S. et al. (2024). The Era of 1-bit LLMs: All Large Language Models are
in 1.58 Bits. arXiv:2402.17764 (and Wang, H. et al. 2023, BitNet, arXiv:2310.11453).

Training (QAT with the identity straight-through gradient, as the paper does)
is :class:`minicomp.quant.lsq.LearnedQuantMLP` with ``weights="ternary"``.

Deviations: one ``γ`` per tensor (as in the paper); the activation scale
is per row of the batch; a row of zeros gets scale 1.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from .checks import float32_values, layer_bias

EPS = 1e-5          # the paper's epsilon in W / (gamma + eps)


def ternary_quantize(W) -> tuple[np.ndarray, float]:
    """``(T, gamma)``: int8 ternary codes of finite ``W`` and its absmean scale.

    The paper's ``eps = 1e-5`` is added to ``gamma`` in the division, so when
    ``gamma`` itself is below about ``eps`` (weights of magnitude ~1e-5 and
    smaller) ``W / (gamma + eps)`` is under 1/2 and every weight becomes 0:
    rescale such weights first if they matter.

    >>> T, g = ternary_quantize(np.array([[0.9, -0.1, -1.4, 0.4]]))   # gamma = 0.7
    >>> T, round(g, 3)                          # W/gamma = 1.29, -0.14, -2, 0.57
    (array([[ 1,  0, -1,  1]], dtype=int8), 0.7)
    """
    W = validate.array(W, "W", where="ternary_quantize", dtype=np.float64)
    float32_values(W, "W", "ternary_quantize")
    gamma = float(np.abs(W).mean())
    return np.clip(np.rint(W / (gamma + EPS)), -1, 1).astype(np.int8), gamma


def ternary_weights(W) -> np.ndarray:
    """``gamma · T``: ``W`` rounded to its ternary grid (float32)."""
    T, gamma = ternary_quantize(W)
    return (T * gamma).astype(np.float32)


def quantize_activations(X) -> tuple[np.ndarray, np.ndarray]:
    """``(x_q int8 (B, in), scale (B, 1))`` with ``X ≈ scale · x_q``, absmax per row.

    >>> quantize_activations(np.array([[0.5, -1.0, 0.25]]))[0]
    array([[  64, -127,   32]], dtype=int8)
    """
    X = validate.array(X, "X", ndim=2, where="quantize_activations", dtype=np.float64)
    amax = np.abs(X).max(axis=1, keepdims=True)                     # (B, 1)
    scale = np.where(amax > 0, amax / 127, 1.0)
    return np.clip(np.rint(X / scale), -128, 127).astype(np.int8), scale


class TernaryDense:
    """Inference layer ``y = γ s_x (x_q Tᵀ) + b`` on the add/subtract kernel.

    Parameters
    ----------
    W : array_like (out, in); b : array_like (out,), optional
    relu : bool, apply ReLU to the output
    """

    def __init__(self, W, b=None, relu: bool = False):
        from ..kernels.ternary import pack_ternary               # Numba only when used
        W = validate.array(W, "W", ndim=2, where="TernaryDense")
        T, self.gamma = ternary_quantize(W)
        self.A = pack_ternary(T)
        self.b = layer_bias(b, len(T), "TernaryDense")
        self.relu = validate.flag(relu, "relu", where="TernaryDense")

    @property
    def nbytes(self) -> int:
        """2 bits per weight (rows padded to 64) + γ (4 bytes) + the float32 bias."""
        return self.A.nbytes + 4 + (0 if self.b is None else self.b.nbytes)

    def __call__(self, X) -> np.ndarray:
        from ..kernels.ternary import ternary_linear
        X = validate.array(X, "x", ndim=2, where="TernaryDense", dtype=np.float64)
        if X.shape[1] != self.A.shape[1]:
            raise ValueError(f"TernaryDense: x has {X.shape[1]} features (shape {X.shape}); "
                             f"expected {self.A.shape[1]}, the width of W")
        x_q, s = quantize_activations(X)
        y = (ternary_linear(x_q, self.A) * (s * self.gamma)).astype(np.float32)
        y = y if self.b is None else y + self.b
        return np.maximum(y, 0) if self.relu else y
