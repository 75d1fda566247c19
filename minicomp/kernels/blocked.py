r"""The portable int8 kernel: a register-blocked u8 × s8 dot product in plain Numba.

For activations ``x`` (B, K) uint8 and weights ``W`` (out_pad4, K) int8 it
computes, then requantizes (:func:`minicomp.kernels.requant.requantize_tile`),

.. math:: \mathrm{acc}_{bi} = \sum_{k} x_{bk}\, W_{ik}

in wrapping int32 arithmetic (why that is exact: :mod:`minicomp.kernels.int8`).
It runs on any CPU Numba supports; no intrinsic, no packing beyond padding
the outputs to a multiple of 4 (:func:`pack`).

**Register block.** A tile is 2 batch rows × 4 outputs, 8 int32
accumulators, so each loaded ``x`` byte is used 4 times and each ``w`` byte
twice; LLVM vectorizes the ``k`` loop (with ``vpmaddwd``, or ``vpdpwssd``
where available). Every sum is wrapped back to int32 (``np.int32(...)``):
otherwise Numba promotes to int64 and the loop runs at half width. The 8
accumulator vectors fit AVX2's 16 registers; a 4 × 4 block (best with
AVX-512's 32 registers, see the probe findings) spills there and ran 2×
slower (2.0 vs 1.0 ms, 1024², B=32).

Shape contract: ``x`` (B, K) uint8 C-contiguous; ``W`` (out_pad4, K)
int8; ``bias, m0, rnd, shift`` (out,); ``out`` (B, out) uint8.

Compilation: :func:`blocked_serial` and :func:`blocked_parallel` are
top-level ``@njit(cache=True)`` kernels, compiled on their first call.

Layer: imports :mod:`minicomp.kernels.requant` only.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .requant import requantize_tile


@njit(inline="always")
def _block24(x, b0, W, i0, acc):
    """``acc[r, c] = Σ_k x[b0+r, k] W[i0+c, k]`` for r < 2, c < 4, in int32."""
    x0, x1 = x[b0], x[b0 + 1]                                           # (K,) each
    w0, w1, w2, w3 = W[i0], W[i0 + 1], W[i0 + 2], W[i0 + 3]             # (K,) each
    a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = np.int32(0)
    for k in range(x.shape[1]):
        p0, p1 = np.int32(x0[k]), np.int32(x1[k])
        q0, q1, q2, q3 = np.int32(w0[k]), np.int32(w1[k]), np.int32(w2[k]), np.int32(w3[k])
        a00 = np.int32(a00 + p0 * q0)
        a01 = np.int32(a01 + p0 * q1)
        a02 = np.int32(a02 + p0 * q2)
        a03 = np.int32(a03 + p0 * q3)
        a10 = np.int32(a10 + p1 * q0)
        a11 = np.int32(a11 + p1 * q1)
        a12 = np.int32(a12 + p1 * q2)
        a13 = np.int32(a13 + p1 * q3)
    acc[0, 0], acc[0, 1], acc[0, 2], acc[0, 3] = a00, a01, a02, a03
    acc[1, 0], acc[1, 1], acc[1, 2], acc[1, 3] = a10, a11, a12, a13


@njit(inline="always")
def _block14(x, b, W, i0, acc, r):
    """``acc[r, c] = Σ_k x[b, k] W[i0+c, k]`` for c < 4 (the batch tail)."""
    xb, w0, w1, w2, w3 = x[b], W[i0], W[i0 + 1], W[i0 + 2], W[i0 + 3]    # (K,) each
    a0 = a1 = a2 = a3 = np.int32(0)
    for k in range(x.shape[1]):
        p = np.int32(xb[k])
        a0 = np.int32(a0 + p * np.int32(w0[k]))
        a1 = np.int32(a1 + p * np.int32(w1[k]))
        a2 = np.int32(a2 + p * np.int32(w2[k]))
        a3 = np.int32(a3 + p * np.int32(w3[k]))
    acc[r, 0], acc[r, 1], acc[r, 2], acc[r, 3] = a0, a1, a2, a3


@njit(inline="always")
def _tiles(t0, t1, x, W, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """Tiles ``t0..t1-1`` of 2 rows × 4 outputs (output-block-major)."""
    B, N = out.shape
    n_rb = (B + 1) // 2
    acc = np.empty((2, 4), np.int32)
    for t in range(t0, t1):
        i0, b0 = (t // n_rb) * 4, (t % n_rb) * 2
        rows, cols = min(2, B - b0), min(4, N - i0)
        if rows == 2:
            _block24(x, b0, W, i0, acc)
        else:
            _block14(x, b0, W, i0, acc, 0)
        requantize_tile(acc, rows, b0, i0, cols, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True)
def blocked_serial(x, W, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """All tiles on one thread; writes ``out`` (B, out)."""
    B, N = out.shape
    _tiles(0, ((N + 3) // 4) * ((B + 1) // 2), x, W, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def blocked_parallel(x, W, bias, m0, rnd, shift, Z_y, lo, hi, out, threads):
    """The tiles split in ``threads`` contiguous runs; writes ``out`` (B, out)."""
    B, N = out.shape
    n = ((N + 3) // 4) * ((B + 1) // 2)
    chunks = min(n, threads)       # (numba.get_num_threads() here would block caching)
    for c in prange(chunks):                    # contiguous runs of tiles per thread
        _tiles(c * n // chunks, (c + 1) * n // chunks, x, W, bias, m0, rnd, shift, Z_y, lo, hi,
               out)


def pack(W):
    """The weights (out, in) zero-padded to (out_pad4, in), ``out_pad4`` a multiple of 4.

    >>> pack(np.ones((5, 2), np.int8)).shape
    (8, 2)
    """
    N, K = W.shape
    W_pad = np.zeros((-(-N // 4) * 4, K), np.int8)                      # (out_pad4, in)
    W_pad[:N] = W
    return W_pad
