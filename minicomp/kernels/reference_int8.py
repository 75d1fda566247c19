r"""Naive twins of the K-blocked int8 designs (the oracles of their Numba versions).

Same role as :mod:`minicomp.kernels.reference` (which is full): plain NumPy
loops that define, bit for bit, what the packed VNNI kernels of
:mod:`minicomp.kernels.vnni` compute -- the weight layout they read and the
order in which they add. Bottom layer: no Numba.

Packed weights (fbgemm-style, Khudia et al. 2021)
-------------------------------------------------
``W`` (out, in) int8, zero-padded to ``out_pad`` (a multiple of 64) and
``in_pad = 4 k4``, is stored panel by panel, 64 outputs a panel, then group
of 4 inputs, then vector ``j`` of 16 outputs, lane, input in the group:

.. math:: wp[(((p\, k_4 + k)\, 4 + j)\, 16 + l)\, 4 + q] = W_{64p + 16j + l,\; 4k + q}.

K-blocked accumulation
----------------------
For each panel the kernel walks the groups in blocks of ``kc`` (the block's
weights, 256·kc bytes, stay in L1) and adds each block's dot products into
an int32 accumulator in *wrapping* arithmetic:

.. math:: a \leftarrow \big((a + \textstyle\sum_{k \in \text{block}} \sum_q
          x_{b,4k+q}\, wp[\dots]) \bmod 2^{32}\big) \text{ as int32}.

Addition modulo 2^32 is associative, so the result is the plain sum modulo
2^32 for every ``kc``: the twin makes that visible (and the tests check it
against :func:`minicomp.kernels.reference.int8_linear`). The epilogue then
adds the folded bias (wrapping again) and requantizes in int64, as
:func:`minicomp.kernels.requant.requantize_tile`.

References
----------
Khudia, D. et al. (2021). FBGEMM: Enabling High-Performance Low-Precision Deep
Learning Inference. arXiv:2101.05615. Jacob, B. et al. (2018). Quantization and
Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference. CVPR.
"""
from __future__ import annotations

import numpy as np

PANEL = 64              # outputs per panel: 4 vectors of 16 int32 lanes


def wrap32(a) -> np.ndarray:
    """int64 values taken modulo 2^32 into [-2^31, 2^31), as int64 (what int32 adds keep).

    >>> wrap32(np.array([2**31, -2**31 - 1, 5])).tolist()
    [-2147483648, 2147483647, 5]
    """
    a = np.asarray(a, np.int64)
    return ((a + 2**31) & 0xFFFFFFFF) - 2**31


def pack_panels(W) -> tuple[np.ndarray, int]:
    """The packed layout of :func:`minicomp.kernels.vnni.pack`, one byte at a time.

    Returns ``(wp, k4)``: int8 of length ``out_pad · 4 k4`` and ``in_pad / 4``.

    >>> wp, k4 = pack_panels(np.arange(6, dtype=np.int8).reshape(1, 6))
    >>> k4, wp.shape, wp[:4].tolist(), wp[256:260].tolist()
    (2, (512,), [0, 1, 2, 3], [4, 5, 0, 0])
    """
    N, K = W.shape
    n_p, k4 = -(-N // PANEL), -(-K // 4)
    wp = np.zeros(n_p * PANEL * 4 * k4, np.int8)
    for o in range(N):
        p, j, lane = o // PANEL, o % PANEL // 16, o % 16
        for k in range(K):
            wp[(((p * k4 + k // 4) * 4 + j) * 16 + lane) * 4 + k % 4] = W[o, k]
    return wp, k4


def kblocked_accumulate(x, wp, k4: int, n_out: int, kc: int) -> np.ndarray:
    """The int32 accumulators of the K-blocked kernel, block by block, wrapping.

    Parameters
    ----------
    x : ndarray of uint8, shape (batch, in ≤ 4 k4) (missing inputs count as 0)
    wp, k4 : from :func:`pack_panels`
    n_out : int, the layer's outputs
    kc : int ≥ 1, groups of 4 inputs per K block

    Returns
    -------
    acc : ndarray of int64 in the int32 range, shape (batch, n_out)

    >>> wp, k4 = pack_panels(np.array([[1, -2, 3, 4, 5]], np.int8))
    >>> kblocked_accumulate(np.array([[1, 1, 1, 1, 255]], np.uint8), wp, k4, 1, 1).tolist()
    [[1281]]
    """
    B = x.shape[0]
    x_pad = np.zeros((B, 4 * k4), np.int64)                             # (B, in_pad)
    x_pad[:, :x.shape[1]] = x
    n_p = -(-n_out // PANEL)
    blocks = wp.astype(np.int64).reshape(n_p, k4, PANEL, 4)             # (P, k4, 64, q)
    acc = np.zeros((B, n_p * PANEL), np.int64)                          # (B, out_pad)
    for p in range(n_p):
        cols = slice(p * PANEL, (p + 1) * PANEL)
        for kk in range(0, k4, kc):
            part = np.zeros((B, PANEL), np.int64)                       # this block's sums
            for k in range(kk, min(kk + kc, k4)):
                for q in range(4):
                    part += x_pad[:, 4 * k + q, None] * blocks[p, k, :, q][None, :]
            acc[:, cols] = wrap32(acc[:, cols] + part)
    return acc[:, :n_out]


def kblocked_linear(x, wp, k4: int, kc: int, q, Z_y: int, lo: int, hi: int) -> np.ndarray:
    """The output of every kernel of :data:`minicomp.kernels.vnni.KERNELS`, bit for bit.

    ``q`` (4, out) int64: folded bias, ``m0``, ``rnd = 2^(shift-1)``, ``shift``;
    the codes are clamped to ``[lo, hi]`` and returned as bytes (uint8; int8
    codes as their two's complement).

    >>> wp, k4 = pack_panels(np.array([[2, 2]], np.int8))
    >>> q = np.array([[1], [1 << 30], [1 << 30], [31]])          # M = 0.5, bias 1
    >>> kblocked_linear(np.array([[3, 4]], np.uint8), wp, k4, 1, q, 10, 0, 255).tolist()
    [[18]]
    """
    acc = kblocked_accumulate(x, wp, k4, q.shape[1], kc)                # (B, out)
    a = wrap32(acc + q[0])                                              # + folded bias
    y = ((a * q[1] + q[2]) >> q[3]) + Z_y                               # round half up
    return (np.clip(y, lo, hi) & 0xFF).astype(np.uint8)
