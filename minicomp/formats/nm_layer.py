r"""An inference layer on the N:M kernel: ``y = x Wᵀ + b`` with ``W`` stored as N:M.

Keeps the ``n`` largest |w| of every ``m`` consecutive inputs of a row
(:func:`minicomp.prune.nm_mask`; pass an already N:M-pruned ``W`` to keep
its pattern) in the compressed storage of :mod:`minicomp.kernels.nm`:
float32 values and 2-bit positions (2:4: 17 bits per weight).

Mishra, A. et al. (2021). Accelerating Sparse Deep Neural Networks. arXiv:2104.08378.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from .checks import float32_values, layer_bias


class NMDense:
    """``y = x Wᵀ + b`` (optionally ReLU) on :func:`minicomp.kernels.nm.nm_linear`.

    Parameters
    ----------
    W : array_like (out, in), ``in`` a multiple of ``m``; b : array_like (out,), optional
    n, m : int, keep ``n`` of every ``m`` (2:4)
    relu : bool

    Examples
    --------
    >>> layer = NMDense([[0.5, -2.0, 0.1, 1.0]], [1.0])          # keeps -2 and 1
    >>> layer(np.array([[1.0, 1.0, 1.0, 1.0]])), layer.nbytes    # -2 + 1 + 1; 8 + 1 + 4
    (array([[0.]], dtype=float32), 13)
    """

    def __init__(self, W, b=None, n: int = 2, m: int = 4, relu: bool = False):
        from ..kernels.nm import to_nm                       # Numba only when used
        from ..prune.nm import nm_mask        # here: prune.nm uses .checks of this package
        W = validate.array(W, "W", ndim=2, where="NMDense")
        W = float32_values(W, "W", "NMDense").astype(np.float32)
        self.A = to_nm(W * nm_mask(np.abs(W), n, m).astype(np.float32), n, m)
        self.b = layer_bias(b, len(W), "NMDense")
        self.relu = validate.flag(relu, "relu", where="NMDense")

    @property
    def nbytes(self) -> int:
        """Values + packed positions + the float32 bias."""
        return self.A.nbytes + (0 if self.b is None else self.b.nbytes)

    def __call__(self, X) -> np.ndarray:
        from ..kernels.nm import nm_linear
        y = nm_linear(X, self.A, self.b)
        return np.maximum(y, 0) if self.relu else y
