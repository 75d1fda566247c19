r"""The N:M sparse kernel: ``Y = X @ W.T + b`` from kept values and 2-bit positions, in Numba.

Same functions and bit-identical results as the naive twins in
:mod:`minicomp.kernels.reference_formats` (:func:`to_nm`, :func:`nm_linear`):

.. math:: Y_{b,i} = \sum_k v_{i,k}\, X_{b,\, m\lfloor k/n \rfloor + j_{i,k}} + \mathrm{bias}_i

with the products summed in 16 partial sums (the ``k``-th into ``acc[k % 16]``,
then halves added, h = 8, 4, 2, 1): the order is part of the definition, so
no fast-math flags (no reassociation, no fused multiply-add).

Two paths (:func:`choose_path`):

- ``"avx512"`` -- 2:4 with ``in`` a multiple of 32 on a CPU with AVX-512:
  every 32 inputs (8 groups) hold 16 kept values, whose 2-bit positions are
  one 32-bit word. The word is broadcast, shifted per lane and masked into
  16 indices into the 32 inputs, and one two-source permute
  (``vpermi2ps``, emitted through a Numba ``@intrinsic``) gathers the 16
  inputs from two registers: a multiply and an add per 16 weights, no
  scalar index arithmetic and no memory gather.
- ``"scalar"`` -- any N:M, any CPU: one kept value at a time, positions
  unpacked with shifts.

A 2:4 layer reads ``n/m`` of the float32 weights plus 2 bits per kept value,
about 53 % of the dense bytes, which bounds what a memory-bound product at
batch 1 can gain (< 1.9x). Threads split the output rows when the work
(kept values × batch) passes :data:`PARALLEL_WORK`.

Compilation: top-level ``@njit(cache=True)`` functions, compiled on first
call; the AVX-512 ones only where the CPU has it. Layer: imports
:mod:`minicomp.kernels.reference_formats` only.
"""
from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import validate
from .reference_formats import LANES, NMMatrix, add_bias, check_group, index_bits

PARALLEL_WORK = 200_000        # kept values * batch above which rows go to threads
ROWS_PER_TASK = 64             # output rows per parallel task
_F16, _I32, _I64 = ir.VectorType(ir.FloatType(), 16), ir.IntType(32), ir.IntType(64)
_V16 = ir.VectorType(_I32, 16)


def to_nm(W, n: int, m: int) -> NMMatrix:
    """Vectorized :func:`minicomp.kernels.reference_formats.to_nm` (same result).

    >>> to_nm([[0., 2., 0., 3.]], 2, 4).values
    array([[2., 3.]], dtype=float32)
    """
    W = validate.array(W, "W", ndim=2, where="to_nm", dtype=np.float32)
    out, width = W.shape
    n, m = check_group(n, m, width, "to_nm")
    G = W.reshape(out, width // m, m)                               # (out, groups, m)
    nz = G != 0
    counts = nz.sum(axis=2)
    if (counts > n).any():
        i, g = np.argwhere(counts > n)[0]
        raise ValueError(f"to_nm: row {i}, group {g} has {counts[i, g]} nonzeros; expected "
                         f"at most n={n} in every {m} (apply an N:M mask)")
    # nonzeros first, then the first free (zero) positions; kept positions ascending
    pos = np.sort(np.argsort(~nz, axis=2, kind="stable")[:, :, :n], axis=2)   # (out, G, n)
    values = np.take_along_axis(G, pos, axis=2).reshape(out, -1)
    bits = index_bits(m)
    pos = pos.reshape(out, -1).astype(np.uint8)                     # (out, K)
    per = 8 // bits                                                 # fields per byte
    pos = np.pad(pos, ((0, 0), (0, -pos.shape[1] % per))).reshape(out, -1, per)
    packed = (pos << (np.arange(per, dtype=np.uint8) * bits)).sum(axis=2, dtype=np.uint8)
    return NMMatrix(values, packed, n, m, (out, width))


@functools.cache
def cpu_avx512() -> bool:
    """Whether the CPU Numba compiles for has AVX-512F (``NUMBA_CPU_FEATURES`` if set)."""
    if numba.config.CPU_FEATURES is not None:
        return "+avx512f" in numba.config.CPU_FEATURES.split(",")
    from llvmlite import binding
    return bool(binding.get_host_cpu_features().get("avx512f", False))


def choose_path(A: NMMatrix) -> str:
    """``"avx512"`` for 2:4 with ``in % 32 == 0`` on an AVX-512 CPU, else ``"scalar"``."""
    fast = A.n == 2 and A.m == 4 and A.shape[1] % 32 == 0 and A.shape[1] > 0
    return "avx512" if fast and cpu_avx512() else "scalar"


@intrinsic
def _lanes_24(typingctx, x, v, c32, acc):
    """``acc[l] = Σ_c v[16c + l] · x[32c + 4(l // 2) + pos]``: 16 lanes, ``vpermi2ps``."""
    def codegen(context, builder, signature, args):
        x_p, v_p, c_p, acc_p = (context.make_array(t)(context, builder, a).data
                                for t, a in zip(signature.args, args))
        chunks = cgutils.unpack_tuple(builder, context.make_array(signature.args[2])(
            context, builder, args[2]).shape, 1)[0]
        perm = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            _F16, [_F16, _V16, _F16]), "llvm.x86.avx512.vpermi2var.ps.512")
        shifts = ir.Constant(_V16, [2 * lane for lane in range(16)])     # field of lane l
        groups = ir.Constant(_V16, [4 * (lane // 2) for lane in range(16)])
        total = cgutils.alloca_once_value(builder, ir.Constant(_F16, [0.0] * 16))
        with cgutils.for_range(builder, chunks) as loop:
            c = loop.index

            def vec(ptr, offset):
                return builder.load(builder.bitcast(builder.gep(ptr, [offset]),
                                                    _F16.as_pointer()), align=4)
            lo = vec(x_p, builder.mul(c, ir.Constant(_I64, 32)))           # inputs 32c..+15
            hi = vec(x_p, builder.add(builder.mul(c, ir.Constant(_I64, 32)),
                                      ir.Constant(_I64, 16)))              # 32c+16..+31
            word = builder.insert_element(ir.Constant(_V16, ir.Undefined),
                                          builder.load(builder.gep(c_p, [c])),
                                          ir.Constant(_I32, 0))
            word = builder.shuffle_vector(word, word, ir.Constant(_V16, [0] * 16))
            idx = builder.add(builder.and_(builder.lshr(word, shifts),
                                           ir.Constant(_V16, [3] * 16)), groups)
            xs = builder.call(perm, [lo, idx, hi])                         # 16 kept inputs
            vals = vec(v_p, builder.mul(c, ir.Constant(_I64, 16)))
            builder.store(builder.fadd(builder.load(total), builder.fmul(vals, xs)), total)
        builder.store(builder.load(total), builder.bitcast(acc_p, _F16.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.void(x, v, c32, acc), codegen


@njit(inline="always")
def _reduce(acc):
    """The documented order: ``acc[j] += acc[j + h]`` for h = 8, 4, 2, 1."""
    h = LANES // 2
    while h:
        for j in range(h):
            acc[j] += acc[j + h]
        h //= 2
    return acc[0]


@njit(inline="always")
def _columns(c, n, m, bits, cols):
    """``cols[k]``: the input column of kept value ``k`` (positions unpacked, no division)."""
    mask, per = (1 << bits) - 1, 8 // bits
    sh = 2 if bits == 2 else 1 if bits == 4 else 0                  # k // per = k >> sh
    k = 0
    for g in range(cols.shape[0] // n):
        for _ in range(n):
            cols[k] = g * m + ((np.int64(c[k >> sh]) >> ((k & (per - 1)) * bits)) & mask)
            k += 1


@njit(inline="always")
def _lanes(x, v, cols, acc):
    """Scalar path: lane ``l`` sums ``v[k] · x[cols[k]]`` for k = l, l + 16, ... in order,
    four lanes at a time (four independent chains of additions)."""
    K = v.shape[0]
    for l0 in range(0, LANES, 4):
        a0 = a1 = a2 = a3 = np.float32(0.0)
        k = l0
        while k + 3 < K:
            a0 += v[k] * x[cols[k]]
            a1 += v[k + 1] * x[cols[k + 1]]
            a2 += v[k + 2] * x[cols[k + 2]]
            a3 += v[k + 3] * x[cols[k + 3]]
            k += LANES
        if k < K:
            a0 += v[k] * x[cols[k]]
        if k + 1 < K:
            a1 += v[k + 1] * x[cols[k + 1]]
        if k + 2 < K:
            a2 += v[k + 2] * x[cols[k + 2]]
        acc[l0], acc[l0 + 1], acc[l0 + 2], acc[l0 + 3] = a0, a1, a2, a3


@njit(cache=True, boundscheck=False)
def _rows_avx512(X, values, c32, Y, i0, i1):
    acc = np.empty(LANES, dtype=np.float32)
    for i in range(i0, i1):
        for b in range(X.shape[0]):
            _lanes_24(X[b], values[i], c32[i], acc)
            Y[b, i] = _reduce(acc)


@njit(cache=True, boundscheck=False)
def _rows_scalar(X, values, packed, n, m, bits, Y, i0, i1):
    acc = np.empty(LANES, dtype=np.float32)
    cols = np.empty(values.shape[1], dtype=np.int64)               # one row's columns
    for i in range(i0, i1):
        _columns(packed[i], n, m, bits, cols)
        for b in range(X.shape[0]):
            _lanes(X[b], values[i], cols, acc)
            Y[b, i] = _reduce(acc)


@njit(cache=True, parallel=True)
def _parallel_avx512(X, values, c32, Y):
    out = Y.shape[1]
    for t in prange((out + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        _rows_avx512(X, values, c32, Y, t * ROWS_PER_TASK, min(out, (t + 1) * ROWS_PER_TASK))


@njit(cache=True, parallel=True)
def _parallel_scalar(X, values, packed, n, m, bits, Y):
    out = Y.shape[1]
    for t in prange((out + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        _rows_scalar(X, values, packed, n, m, bits, Y, t * ROWS_PER_TASK,
                     min(out, (t + 1) * ROWS_PER_TASK))


def check_nm_matrix(A, where: str = "nm_linear") -> None:
    """TypeError / ValueError unless ``A`` is a consistent :class:`NMMatrix`."""
    if not isinstance(A, NMMatrix):
        raise TypeError(f"{where}: A is a {type(A).__name__}; expected an NMMatrix (see to_nm)")
    out, width = A.shape
    n, m = check_group(A.n, A.m, width, where)
    K = width // m * n
    if A.values.shape != (out, K) or A.values.dtype != np.float32:
        raise ValueError(f"{where}: A.values has shape {A.values.shape} ({A.values.dtype}); "
                         f"expected ({out}, {K}) float32")
    if A.indices.shape != (out, -(-K * A.bits // 8)) or A.indices.dtype != np.uint8:
        raise ValueError(f"{where}: A.indices has shape {A.indices.shape}; expected "
                         f"({out}, {-(-K * A.bits // 8)}) uint8")


def nm_linear(X, A: NMMatrix, bias=None, path: str = "auto") -> np.ndarray:
    """``Y = X @ W.T + bias`` with ``W`` in N:M storage, on Numba kernels.

    Parameters
    ----------
    X : array_like of float, shape (batch, in) (cast to float32; NaN propagates)
    A : NMMatrix, from :func:`to_nm`
    bias : array_like, shape (out,), optional
    path : {"auto", "avx512", "scalar"}; "auto" is :func:`choose_path`

    Returns
    -------
    Y : ndarray, float32, (batch, out), bit-identical to the naive twin on every path

    >>> nm_linear(np.array([[1., 1., 1., 2.]]), to_nm([[0., 2., 0., 3.]], 2, 4), [1.0])
    array([[9.]], dtype=float32)
    """
    check_nm_matrix(A)
    path = validate.choice(path, "path", ("auto", "avx512", "scalar"), where="nm_linear")
    if path == "avx512" and choose_path(A) != "avx512":
        raise ValueError("nm_linear: path='avx512' needs 2:4, in % 32 == 0 and an AVX-512 "
                         f"CPU; this is {A.n}:{A.m}, in={A.shape[1]} (use path='auto')")
    path = choose_path(A) if path == "auto" else path
    X = validate.array(X, "X", ndim=2, finite=False, nonempty=False, where="nm_linear")
    if X.dtype.kind != "f":
        raise TypeError(f"nm_linear: X has dtype {X.dtype}; expected floats")
    if X.shape[1] != A.shape[1]:
        raise ValueError(f"nm_linear: X has {X.shape[1]} features, the N:M matrix "
                         f"expects {A.shape[1]}")
    if bias is not None:
        bias = validate.array(bias, "bias", finite=False, where="nm_linear")
        if bias.shape != (A.shape[0],):
            raise ValueError(f"nm_linear: bias has shape {bias.shape}; expected "
                             f"({A.shape[0]},), one per output")
    X = np.ascontiguousarray(X, dtype=np.float32)
    Y = np.zeros((X.shape[0], A.shape[0]), dtype=np.float32)
    if X.shape[0] and A.values.size:
        parallel = A.values.size * X.shape[0] >= PARALLEL_WORK and numba.get_num_threads() > 1
        values = np.ascontiguousarray(A.values)
        if path == "avx512":
            c32 = np.ascontiguousarray(A.indices).view(np.uint32)   # 16 positions per word
            if parallel:
                _parallel_avx512(X, values, c32, Y)
            else:
                _rows_avx512(X, values, c32, Y, 0, Y.shape[1])
        else:
            args = (X, values, np.ascontiguousarray(A.indices), A.n, A.m, A.bits, Y)
            _parallel_scalar(*args) if parallel else _rows_scalar(*args, 0, Y.shape[1])
    return add_bias(Y, bias)
