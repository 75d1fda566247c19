r"""Naive twins of the whole-model kernels (:mod:`minicomp.kernels.fused`): layer by layer.

A fused kernel runs a whole MLP in one call; its twin is the chain it must
equal, written with the reference kernels of :mod:`minicomp.kernels.reference`
one layer at a time, in plain NumPy:

- :func:`int8_mlp`: quantize the float input,
  ``q = clamp(rint(X / S_x) + Z_x)`` in layer 0's ``x_dtype``; then
  :func:`~minicomp.kernels.reference.int8_linear` per layer; then dequantize
  the last codes, ``Y = S_y (q - Z_y)`` in float64, cast to float32. The
  fused kernel's codes and ``Y`` must equal these bit for bit.
- :func:`sparse_mlp`: ``h ← max(W h + b, 0)`` (ReLU where asked) with
  :func:`~minicomp.kernels.reference.sparse_linear` per layer; the fused
  kernel's output must be allclose (float sums in another order).

Same names and arguments as the fast kernels (the design arguments are
accepted and ignored). Layer: imports :mod:`minicomp.kernels.reference` only.
"""
from __future__ import annotations

import numpy as np

from . import reference


def int8_mlp(X, layers, S_x, S_y, vnni: bool = False, design: str = "serial"):
    """``(codes, Y)`` of an int8 MLP on float inputs ``X`` (batch, in), layer by layer.

    Parameters
    ----------
    X : array_like of float, shape (batch, in), finite
    layers : list of dict
        ``w_q, bias_q, Z_x, m0, shift, Z_y, relu, x_dtype, out_dtype`` per layer
        (the integers of :func:`~minicomp.kernels.reference.int8_linear`).
    S_x, S_y : float -- the input's scale (with layer 0's ``Z_x``) and the output's
    vnni, design : ignored (the fast kernel's choices)

    Returns
    -------
    codes : ndarray (batch, out) of the last ``out_dtype``
    Y : ndarray (batch, out) float32, ``S_y (codes - Z_y)``

    Examples
    --------
    >>> layer = {"w_q": np.array([[1, 2], [-4, 0]], np.int8), "bias_q": np.array([5, 0], np.int32),
    ...          "Z_x": 10, "m0": [1 << 30, 1 << 30], "shift": [31, 32], "Z_y": 100,
    ...          "relu": False, "x_dtype": np.uint8, "out_dtype": np.uint8}
    >>> codes, Y = int8_mlp([[1.0, -0.5]], [layer], S_x=0.5, S_y=1.0)   # x_q = [12, 9]
    >>> codes, Y                          # acc = [5, -8]; M = [0.5, 0.25] -> [3, -2] + 100
    (array([[103,  98]], dtype=uint8), array([[ 3., -2.]], dtype=float32))
    """
    X = np.asarray(X, dtype=np.float64)                              # (B, in)
    first, last = layers[0], layers[-1]
    lo, hi = reference.dtype_range(first["x_dtype"], "x_dtype")
    q = np.clip(np.rint(X / S_x) + first["Z_x"], lo, hi).astype(first["x_dtype"])  # (B, in)
    for p in layers:
        q = reference.int8_linear(q, p["Z_x"], p["w_q"], p["bias_q"], p["m0"], p["shift"],
                                  p["Z_y"], relu=p["relu"], out_dtype=p["out_dtype"])
    return q, (S_y * (q.astype(np.float64) - last["Z_y"])).astype(np.float32)   # (B, out)


def sparse_mlp(X, csrs, biases, relus, design: str = "axpy_serial") -> np.ndarray:
    """Outputs (batch, out) float32 of the CSR layers ``csrs`` (each (out, in)), layer by layer.

    ``biases[k]`` is (out,) or None, ``relus[k]`` applies ``max(h, 0)``; ``design`` is ignored.

    >>> I = reference.to_csr(np.eye(2))
    >>> sparse_mlp([[1.0, -2.0]], [I, I], [None, np.array([0.5, 0.5])], [True, False])
    array([[1.5, 0.5]], dtype=float32)
    """
    h = np.asarray(X, dtype=np.float32)                              # (B, in)
    for csr, bias, relu in zip(csrs, biases, relus):
        h = reference.sparse_linear(h, csr, bias)                    # (B, out)
        if relu:
            h = np.maximum(h, 0)
    return h
