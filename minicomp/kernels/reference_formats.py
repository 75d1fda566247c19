r"""Naive twins of the N:M sparse and ternary kernels (the oracles of their Numba versions).

Same role as :mod:`minicomp.kernels.reference` (which is full): plain NumPy
loops that define what :mod:`minicomp.kernels.nm` and
:mod:`minicomp.kernels.ternary` compute, bit for bit. Bottom layer: no Numba.

N:M storage (2:4 sparsity, Mishra et al. 2021)
----------------------------------------------
A weight matrix with at most ``n`` nonzeros in every ``m`` consecutive
inputs of a row keeps, per group, ``n`` values and their positions inside
the group: ``values`` (out, in·n/m) float32 and ``indices`` packed at
``b = 2`` bits each for ``m <= 4`` (4 bits for ``m <= 16``, 8 up to 256),
little-endian inside each byte. Then

.. math:: Y_{b,i} = \sum_{k} v_{i,k}\, X_{b,\; m \lfloor k/n \rfloor + j_{i,k}},

summed in a fixed order so that the fast kernel can match it bit for bit:
16 partial sums (one per lane of a 512-bit register), the ``k``-th product
goes to ``acc[k % 16]``, then halves are added, ``acc[j] += acc[j + h]``
for ``h = 8, 4, 2, 1``, and ``Y = acc[0]``.

Ternary weights (BitNet b1.58, Ma et al. 2024)
----------------------------------------------
Weights ``t ∈ {-1, 0, +1}`` are two bitmasks, ``plus`` and ``minus``
(out, ⌈in/64⌉·8) uint8 (each row padded with zeros to whole 64-bit words),
bit ``j % 8`` of byte ``j // 8`` standing for input ``j``; with int8
activations the layer is adds and subtracts only, in int32 (exact in any order):

.. math:: a_{b,i} = \sum_{j:\,t_{ij}=+1} x_{bj} - \sum_{j:\,t_{ij}=-1} x_{bj}.

References
----------
Mishra, A. et al. (2021). Accelerating Sparse Deep Neural Networks. arXiv:2104.08378.
Ma, S. et al. (2024). The Era of 1-bit LLMs: All Large Language Models are in 1.58
Bits. arXiv:2402.17764.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from .reference import add_bias

LANES = 16          # partial sums of the N:M product (one 512-bit register of float32)


class NMMatrix(NamedTuple):
    """An N:M sparse matrix of shape ``(out, in)``: kept values and packed in-group positions.

    values : float32 (out, in·n/m); indices : uint8 (out, ceil(in·n/m · bits / 8));
    n, m : int; shape : (out, in).
    """
    values: np.ndarray
    indices: np.ndarray
    n: int
    m: int
    shape: tuple

    @property
    def bits(self) -> int:
        """Bits per stored position: 2 for m <= 4 (2:4), 4 for m <= 16, else 8."""
        return index_bits(self.m)

    @property
    def nbytes(self) -> int:
        """Bytes held: the values and the packed positions."""
        return int(self.values.nbytes + self.indices.nbytes)

    def toarray(self) -> np.ndarray:
        """The dense float32 matrix (out, in)."""
        W = np.zeros(self.shape, dtype=np.float32)
        pos = unpack_indices(self.indices, self.bits, self.values.shape[1])   # (out, K)
        cols = (np.arange(self.values.shape[1]) // self.n) * self.m + pos      # (out, K)
        np.put_along_axis(W, cols, self.values, axis=1)
        return W


def index_bits(m: int) -> int:
    """Bits that hold a position in a group of ``m``: 2, 4 or 8 (byte-aligned fields)."""
    return 2 if m <= 4 else 4 if m <= 16 else 8


def unpack_indices(packed: np.ndarray, bits: int, K: int) -> np.ndarray:
    """(out, K) int64 positions from the packed uint8 rows (little-endian fields)."""
    k = np.arange(K)
    return (packed[:, k * bits // 8].astype(np.int64) >> (k * bits % 8)) & (2 ** bits - 1)


def to_nm(W, n: int, m: int) -> NMMatrix:
    """Store ``W`` (at most ``n`` nonzeros per ``m`` consecutive inputs) as an :class:`NMMatrix`.

    Groups with fewer nonzeros are padded with zeros at their first free
    positions. One group at a time, as written on paper.

    >>> A = to_nm([[0., 2., 0., 3., 1., 0., 0., 0.]], 2, 4)
    >>> A.values, unpack_indices(A.indices, 2, 4)          # positions in each group
    (array([[2., 3., 1., 0.]], dtype=float32), array([[1, 3, 0, 1]]))
    """
    W = validate.array(W, "W", ndim=2, where="to_nm", dtype=np.float32)
    out, width = W.shape
    check_group(n, m, width, "to_nm")
    K = width // m * n
    values = np.zeros((out, K), dtype=np.float32)
    pos = np.zeros((out, K), dtype=np.int64)
    for i in range(out):
        for g in range(width // m):
            group = W[i, g * m:(g + 1) * m]
            nz = [j for j in range(m) if group[j] != 0]
            if len(nz) > n:
                raise ValueError(f"to_nm: row {i}, group {g} has {len(nz)} nonzeros; "
                                 f"expected at most n={n} in every {m} (apply an N:M mask)")
            keep = sorted(nz + [j for j in range(m) if group[j] == 0][:n - len(nz)])
            values[i, g * n:(g + 1) * n] = group[keep]
            pos[i, g * n:(g + 1) * n] = keep
    return NMMatrix(values, pack_indices(pos, index_bits(m)), n, m, (out, width))


def check_group(n, m, width: int, where: str) -> tuple:
    """``(n, m)`` as ints with 1 <= n <= m <= 256 and m dividing ``width``, else ValueError."""
    m = validate.integer(m, "m", low=1, high=256, where=where)
    n = validate.integer(n, "n", low=1, where=where)
    if n > m or width % m:
        raise ValueError(f"{where}: n={n}, m={m} for {width} inputs; expected N:M with "
                         f"n <= m and m dividing the width")
    return n, m


def pack_indices(pos: np.ndarray, bits: int) -> np.ndarray:
    """Pack (out, K) positions < 2^bits into uint8 rows, little-endian fields."""
    out, K = pos.shape
    packed = np.zeros((out, -(-K * bits // 8)), dtype=np.uint8)
    for k in range(K):
        packed[:, k * bits // 8] |= (pos[:, k] << (k * bits % 8)).astype(np.uint8)
    return packed


def nm_linear(X, A: NMMatrix, bias=None) -> np.ndarray:
    """``Y = X @ W.T + bias`` for ``W`` in N:M storage, summed in the documented order.

    >>> A = to_nm([[0., 2., 0., 3.]], 2, 4)
    >>> nm_linear(np.array([[1., 1., 1., 2.]]), A, bias=[1.0])
    array([[9.]], dtype=float32)
    """
    X = validate.array(X, "X", ndim=2, finite=False, nonempty=False).astype(np.float32)
    out, width = A.shape
    if X.shape[1] != width:
        raise ValueError(f"X has {X.shape[1]} features, the N:M matrix expects {width}")
    K = A.values.shape[1]
    cols = (np.arange(K) // A.n) * A.m + unpack_indices(A.indices, A.bits, K)   # (out, K)
    acc = np.zeros((LANES, X.shape[0], out), dtype=np.float32)     # the 16 partial sums
    for k in range(K):
        acc[k % LANES] += A.values[:, k] * X[:, cols[:, k]]         # (B, out)
    return add_bias(reduce_lanes(acc), bias)


def reduce_lanes(acc: np.ndarray) -> np.ndarray:
    """``acc[0]`` after ``acc[j] += acc[j + h]`` for h = 8, 4, 2, 1 (the documented order)."""
    h = len(acc) // 2
    while h:
        acc = acc[:h] + acc[h:2 * h]
        h //= 2
    return acc[0]


class TernaryMatrix(NamedTuple):
    """Ternary weights ``(out, in)`` as two bitmasks ``plus``, ``minus``: uint8 (out, ⌈in/64⌉·8)."""
    plus: np.ndarray
    minus: np.ndarray
    shape: tuple

    @property
    def nbytes(self) -> int:
        """2 bits per weight (rows padded to 64 weights)."""
        return int(self.plus.nbytes + self.minus.nbytes)

    def toarray(self) -> np.ndarray:
        """The int8 matrix of -1, 0, +1 (out, in)."""
        bits = [np.unpackbits(a, axis=1, bitorder="little")[:, :self.shape[1]]
                for a in (self.plus, self.minus)]
        return (bits[0].astype(np.int8) - bits[1].astype(np.int8))


def check_ternary(T, where: str) -> np.ndarray:
    """``T`` as a 2-D array of -1, 0, +1, else ValueError naming the first bad entry."""
    T = validate.array(T, "T", ndim=2, where=where)
    if not np.isin(T, (-1, 0, 1)).all():
        raise ValueError(f"{where}: T holds {T[~np.isin(T, (-1, 0, 1))][0]}; expected "
                         "only -1, 0 and +1")
    return T


def pack_ternary(T) -> TernaryMatrix:
    """Two bitmasks of a matrix of -1, 0, +1, rows padded to multiples of 64 bits.

    >>> A = pack_ternary([[1, 0, -1, 1, 0, 0, 0, -1]])
    >>> A.plus[:, 0], A.minus[:, 0], A.plus.shape     # bits 0 and 3; bits 2 and 7
    (array([9], dtype=uint8), array([132], dtype=uint8), (1, 8))
    """
    T = check_ternary(T, "pack_ternary")
    out, width = T.shape
    nbytes = -(-width // 64) * 8
    plus = np.zeros((out, nbytes), dtype=np.uint8)
    minus = np.zeros((out, nbytes), dtype=np.uint8)
    for j in range(width):                                          # bit j % 8 of byte j // 8
        plus[:, j // 8] |= ((T[:, j] == 1) << (j % 8)).astype(np.uint8)
        minus[:, j // 8] |= ((T[:, j] == -1) << (j % 8)).astype(np.uint8)
    return TernaryMatrix(plus, minus, (out, width))


def ternary_linear(x_q, A: TernaryMatrix) -> np.ndarray:
    """int32 ``a = x_q @ T.T`` for int8 ``x_q`` (B, in): add where +1, subtract where -1.

    >>> ternary_linear(np.array([[5, 7, 2, 1, 0, 0, 0, 3]], np.int8),
    ...                pack_ternary([[1, 0, -1, 1, 0, 0, 0, -1]]))
    array([[1]], dtype=int32)
    """
    x_q = validate.array(x_q, "x_q", ndim=2, nonempty=False)
    if x_q.dtype != np.int8:
        raise TypeError(f"x_q has dtype {x_q.dtype}; expected int8 activations")
    if x_q.shape[1] != A.shape[1]:
        raise ValueError(f"x_q has {x_q.shape[1]} features, the ternary matrix expects "
                         f"{A.shape[1]}")
    T = A.toarray()                                                 # (out, in)
    a = np.zeros((x_q.shape[0], A.shape[0]), dtype=np.int32)
    for i in range(A.shape[0]):
        a[:, i] = x_q[:, T[i] == 1].astype(np.int32).sum(axis=1) - \
            x_q[:, T[i] == -1].astype(np.int32).sum(axis=1)
    return a
