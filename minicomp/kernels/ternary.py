r"""The ternary kernel: int8 activations times {-1, 0, +1} weights without a multiplication.

Same result (int32, exact) as :func:`minicomp.kernels.reference_formats.ternary_linear`:

.. math:: a_{b,i} = \sum_{j:\,t_{ij}=+1} x_{bj} - \sum_{j:\,t_{ij}=-1} x_{bj}.

Design (bit-serial, as in binary/ternary network kernels): split each int8
activation into its 8 two's-complement bit planes,
:math:`x_j = \sum_{k<7} 2^k x_j^{(k)} - 2^7 x_j^{(7)}`, each plane a 64-bit
word per 64 inputs. Then the sum of the activations selected by a 64-bit
weight mask ``P`` is, plane by plane, a count of ones:

.. math:: \sum_{j \in P} x_j = \sum_{k<7} 2^k\, \mathrm{popcount}(P \,\&\, X^{(k)})
          - 2^7\, \mathrm{popcount}(P \,\&\, X^{(7)}).

Per 64 weights: 16 ANDs and 16 popcounts (a population count is adding
ones), one subtraction per plane, and 8 shifts per output at the end; no
multiplication. The 8 planes of a word are contiguous: one 512-bit vector,
ANDed with the broadcast weight word and counted by ``llvm.ctpop`` on 8
lanes (a Numba ``@intrinsic``; one ``vpopcntq`` on CPUs with
AVX512-VPOPCNTDQ, a few shuffles and adds elsewhere). The
weights stream at 2 bits each, a sixteenth of float32's bytes; the
activations' planes (B × in bytes) stay in cache.

Threads split the output rows above :data:`PARALLEL_WORK` weights × batch.
Compilation: top-level ``@njit(cache=True)``, compiled on first call.
Layer: imports :mod:`minicomp.kernels.reference_formats` only.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import validate
from .reference_formats import TernaryMatrix, check_ternary

PARALLEL_WORK = 2_000_000      # weights * batch above which rows go to threads
_I32, _I64 = ir.IntType(32), ir.IntType(64)
_V8 = ir.VectorType(_I64, 8)


def pack_ternary(T) -> TernaryMatrix:
    """Vectorized :func:`minicomp.kernels.reference_formats.pack_ternary` (same result).

    >>> pack_ternary([[1, 0, -1, 1, 0, 0, 0, -1]]).plus[:, 0]
    array([9], dtype=uint8)
    """
    T = check_ternary(T, "pack_ternary")
    pad = ((0, 0), (0, -T.shape[1] % 64))
    return TernaryMatrix(np.packbits(np.pad(T == 1, pad), axis=1, bitorder="little"),
                         np.packbits(np.pad(T == -1, pad), axis=1, bitorder="little"),
                         T.shape)


@intrinsic
def _plane_counts(typingctx, Xp, p, q, acc):
    """``acc[k] = Σ_w popcount(p[w] & Xp[w, k]) - popcount(q[w] & Xp[w, k])``, 8 planes as
    one vector of 8 uint64 (``llvm.ctpop``: ``vpopcntq`` where the CPU has it)."""
    def codegen(context, builder, signature, args):
        x_p, p_p, q_p, acc_p = (context.make_array(t)(context, builder, a).data
                                for t, a in zip(signature.args, args))
        words = cgutils.unpack_tuple(builder, context.make_array(signature.args[1])(
            context, builder, args[1]).shape, 1)[0]
        ctpop = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V8, [_V8]),
                                               "llvm.ctpop.v8i64")
        total = cgutils.alloca_once_value(builder, ir.Constant(_V8, [0] * 8))

        def broadcast(ptr, w):
            v = builder.insert_element(ir.Constant(_V8, ir.Undefined),
                                       builder.load(builder.gep(ptr, [w])), ir.Constant(_I32, 0))
            return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, 8), [0] * 8))
        with cgutils.for_range(builder, words) as loop:
            w = loop.index
            planes = builder.load(builder.bitcast(builder.gep(
                x_p, [builder.mul(w, ir.Constant(_I64, 8))]), _V8.as_pointer()), align=8)
            plus = builder.call(ctpop, [builder.and_(broadcast(p_p, w), planes)])
            minus = builder.call(ctpop, [builder.and_(broadcast(q_p, w), planes)])
            builder.store(builder.add(builder.load(total), builder.sub(plus, minus)), total)
        builder.store(builder.load(total), builder.bitcast(acc_p, _V8.as_pointer()), align=8)
        return context.get_dummy_value()
    return types.void(Xp, p, q, acc), codegen


@njit(cache=True, boundscheck=False)
def _planes(X, out):
    """``out[b, w, k]``: bit ``j % 64`` is bit ``k`` of ``X[b, 64 w + j % 64]``."""
    out[:] = 0
    for b in range(X.shape[0]):
        for j in range(X.shape[1]):
            v = np.uint64(np.uint8(X[b, j]))                        # two's complement bits
            w, s = j >> 6, np.uint64(j & 63)
            for k in range(8):
                out[b, w, k] |= ((v >> np.uint64(k)) & np.uint64(1)) << s


@njit(inline="always")
def _row(Xp, p, q, acc):
    """One output: plane counts of (plus - minus) in ``acc`` (8,), then shifts."""
    _plane_counts(Xp, p, q, acc)
    a = np.int64(0)
    for k in range(7):
        a += acc[k] << k
    return np.int32(a - (acc[7] << 7))


@njit(cache=True, boundscheck=False)
def _rows(Xp, plus, minus, A, i0, i1):
    acc = np.empty(8, dtype=np.int64)                               # one scratch per call
    for i in range(i0, i1):
        for b in range(A.shape[0]):
            A[b, i] = _row(Xp[b], plus[i], minus[i], acc)


@njit(cache=True, boundscheck=False)
def _serial(Xp, plus, minus, A):
    _rows(Xp, plus, minus, A, 0, A.shape[1])


@njit(cache=True, parallel=True, boundscheck=False)
def _parallel(Xp, plus, minus, A):
    step = 64                                                       # output rows per task
    for c in prange((A.shape[1] + step - 1) // step):
        _rows(Xp, plus, minus, A, c * step, min(c * step + step, A.shape[1]))


def ternary_linear(x_q, A: TernaryMatrix) -> np.ndarray:
    """int32 ``x_q @ T.T`` for int8 ``x_q`` (B, in) and packed ternary ``A`` (out, in).

    >>> ternary_linear(np.array([[5, 7, 2, 1, 0, 0, 0, 3]], np.int8),
    ...                pack_ternary([[1, 0, -1, 1, 0, 0, 0, -1]]))
    array([[1]], dtype=int32)
    """
    if not isinstance(A, TernaryMatrix):
        raise TypeError(f"ternary_linear: A is a {type(A).__name__}; expected a "
                        "TernaryMatrix (see pack_ternary)")
    out, width = A.shape
    words = -(-width // 64)
    for name, a in (("plus", A.plus), ("minus", A.minus)):
        if a.dtype != np.uint8 or a.shape != (out, 8 * words):
            raise ValueError(f"ternary_linear: A.{name} has shape {a.shape} ({a.dtype}); "
                             f"expected ({out}, {8 * words}) uint8 (see pack_ternary)")
    x_q = validate.array(x_q, "x_q", ndim=2, nonempty=False, where="ternary_linear")
    if x_q.dtype != np.int8:
        raise TypeError(f"ternary_linear: x_q has dtype {x_q.dtype}; expected int8")
    if x_q.shape[1] != width:
        raise ValueError(f"ternary_linear: x_q has {x_q.shape[1]} features, the ternary "
                         f"matrix expects {width}")
    a = np.zeros((x_q.shape[0], out), dtype=np.int32)
    if x_q.shape[0] and out and width:
        Xp = np.empty((x_q.shape[0], words, 8), dtype=np.uint64)   # (B, words, planes)
        _planes(np.ascontiguousarray(x_q), Xp)
        plus = np.ascontiguousarray(A.plus).view(np.uint64)        # (out, words)
        minus = np.ascontiguousarray(A.minus).view(np.uint64)
        big = out * width * x_q.shape[0] >= PARALLEL_WORK and numba.get_num_threads() > 1
        (_parallel if big else _serial)(Xp, plus, minus, a)
    return a
