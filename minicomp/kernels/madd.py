r"""Go further: the AVX2 ``vpmaddwd`` micro-kernel of the int8 layer, for CPUs without VNNI.

**What the instruction does.** ``vpmaddwd`` multiplies 16 int16 by 16
int16 and adds each adjacent pair of products into one of 8 int32 lanes.
**Why it is optional.** The portable kernel
(:mod:`minicomp.kernels.blocked`) computes the same integers on any CPU
and LLVM already vectorizes it; this file shows what placing the
instruction by hand (a Numba ``@intrinsic`` emitting LLVM IR) buys on an
AVX2 CPU without VNNI (1.6--2.2×, measured below) and what it costs to read.

AVX2 has no exact 8-bit dot product (``vpmaddubsw`` saturates its 16-bit
pair sums: 255·127·2 > 2^15). Its exact tool is ``vpmaddwd``: 16 int16 × 16
int16 products, adjacent pairs summed into 8 int32 lanes,

.. math:: \mathrm{acc}_l \mathrel{+}= a_{2l}\, b_{2l} + a_{2l+1}\, b_{2l+1},

so with activations and weights widened to int16 (``x`` per call, ``W`` once
when packing) it does 16 exact multiply-adds per instruction, twice the 8 of
the loop LLVM vectorizes from the plain blocked kernel (which multiplies
int32 lanes whose high halves are zero).

**Packing.** ``W`` (out, in) → int16 ``[out/16][in/4][2][2][8][2]``: per
strip of 16 outputs (contiguous) and group of 4 inputs ``k..k+3``, for each
half ``h`` (inputs ``k+2h, k+2h+1``) two vectors of 8 outputs × 2 inputs. A
tile of 4 batch rows × 16 outputs keeps 8 accumulators (``ymm``: AVX2 has
16); per half it loads 2 weight vectors, broadcasts the pair
``x[b, k+2h : k+2h+2]`` and issues 8 ``vpmaddwd``. A strip runs block by
block of 512 inputs, each block over the whole batch, so the block's
weights (16 KiB) stay in L1 while the activations stream past. Exact:
|x·w| ≤ 255·128, the pair sums fit int32 and the accumulators wrap like
the other kernels (see :mod:`minicomp.kernels.int8`); the epilogue is
:func:`minicomp.kernels.requant.requantize_tile`.

Measured on a 2-core Zen 3 VM (AVX2, no VNNI), one thread, CPU time:
about one ``vpmaddwd`` per cycle (58 GMAC/s at 4096², batch 32), the
ceiling for exact arithmetic here; 1.0--2.3× float32 BLAS and 0.7--1.0×
torch fbgemm (whose ``vpmaddubsw`` does 32 products per instruction with
saturating 16-bit pair sums) at batch ≥ 32; 1.6--2.2× the blocked kernel.
On a Zen 5 compiling for Zen 3 (AVX2 only; OpenBLAS forced to its Haswell
kernel), one thread each: 1.7--2.0× float32 BLAS at batch ≥ 32 (about 95
GMAC/s per core); K blocks of 256 to 1024 inputs and 6-row tiles changed
nothing, the multiply-add and add ports are the limit.

Deviations: the widened weights take twice the memory of int8 (it is the
activations' bandwidth that matters at batch ≥ 32; at batch 1 the blocked
kernel reads half the bytes). ``Int8Kernel(path="auto")`` takes it on a
CPU with AVX2 but no VNNI; the register-blocked kernel remains the
portable fallback.

Shape contract: ``x`` uint8 (B, in), C-contiguous, widened inside the
kernels (:func:`widen` is the same step in NumPy); ``wp`` from :func:`pack`;
``bias, m0, rnd, shift`` (out,); ``out`` uint8 (B, out).

Layer: imports :mod:`minicomp.kernels.requant` only.

References
----------
Intel (2023). Intel 64 and IA-32 Architectures Software Developer's Manual,
PMADDWD. Khudia, D. et al. (2021). FBGEMM. arXiv:2101.05615.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .requant import requantize_tile

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_V8, _V16h = ir.VectorType(_I32, 8), ir.VectorType(ir.IntType(16), 16)


def _make_tile(rows):
    """An intrinsic ``tile(x16, b0, kk, w16, w0, nk, acc)``: ``rows`` rows × 16 outputs.

    ``acc[r, :16] += Σ_k x16[b0 + r, k] W[o, k]`` over the ``nk`` groups of 4
    inputs from group ``kk``, for the 16 outputs ``o`` of the strip whose group
    ``kk`` starts at element ``w0`` of ``w16``; ``acc`` is int32 2-D (any row
    stride). One row keeps the two input pairs in separate accumulators (4
    independent add chains instead of 2: the adds do not wait on each other).
    """
    split = 2 if rows == 1 else 1

    @intrinsic
    def tile(typingctx, x, b0, kk, w, w0, nk, acc):
        def codegen(context, builder, signature, args):
            x_arr = context.make_array(signature.args[0])(context, builder, args[0])
            w_arr = context.make_array(signature.args[3])(context, builder, args[3])
            acc_arr = context.make_array(signature.args[6])(context, builder, args[6])
            ldx = cgutils.unpack_tuple(builder, x_arr.strides, 2)[0]    # bytes per row
            lda = cgutils.unpack_tuple(builder, acc_arr.strides, 2)[0]
            x_base = builder.gep(builder.bitcast(x_arr.data, ir.IntType(8).as_pointer()), [
                builder.add(builder.mul(args[1], ldx), builder.mul(args[2], ir.Constant(_I64, 8)))])
            w_base = builder.gep(w_arr.data, [args[4]])                 # int16 elements
            acc_base = builder.bitcast(acc_arr.data, ir.IntType(8).as_pointer())
            fnty = ir.FunctionType(_V8, [_V16h, _V16h])
            madd = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx2.pmadd.wd")
            ptrs, accs = {}, {}
            for r in range(rows):                                       # acc[r, 8j : 8j+8]
                for j in range(2):
                    off = builder.add(builder.mul(lda, ir.Constant(_I64, r)),
                                      ir.Constant(_I64, 32 * j))
                    ptrs[r, j] = builder.bitcast(builder.gep(acc_base, [off]), _V8.as_pointer())
                    accs[r, j, 0] = cgutils.alloca_once_value(
                        builder, builder.load(ptrs[r, j], align=4))
                    if split == 2:
                        accs[r, j, 1] = cgutils.alloca_once_value(builder, ir.Constant(_V8, None))
            with cgutils.for_range(builder, args[5]) as loop:          # nk groups of 4 inputs
                k = loop.index
                for h in range(2):                                      # inputs 4k+2h, 4k+2h+1
                    W_kh = []
                    for j in range(2):                                  # (8 outputs x 2) int16
                        off = builder.add(builder.mul(k, ir.Constant(_I64, 64)),
                                          ir.Constant(_I64, 32 * h + 16 * j))
                        ptr = builder.bitcast(builder.gep(w_base, [off]), _V16h.as_pointer())
                        W_kh.append(builder.load(ptr, align=1))
                    for r in range(rows):                               # x16[b0+r, 4k+2h : +2]
                        off = builder.add(builder.mul(ldx, ir.Constant(_I64, r)), builder.add(
                            builder.mul(k, ir.Constant(_I64, 8)), ir.Constant(_I64, 4 * h)))
                        ptr = builder.bitcast(builder.gep(x_base, [off]), _I32.as_pointer())
                        x2 = builder.insert_element(ir.Constant(_V8, ir.Undefined), builder.load(
                            ptr, align=1), ir.Constant(_I32, 0))
                        x2 = builder.bitcast(builder.shuffle_vector(
                            x2, x2, ir.Constant(_V8, [0] * 8)), _V16h)  # broadcast the pair
                        for j in range(2):
                            a = accs[r, j, h % split]
                            prod = builder.call(madd, [x2, W_kh[j]])
                            builder.store(builder.add(builder.load(a), prod), a)
            for (r, j), ptr in ptrs.items():
                total = builder.load(accs[r, j, 0])
                if split == 2:
                    total = builder.add(total, builder.load(accs[r, j, 1]))
                builder.store(total, ptr, align=4)
            return context.get_dummy_value()
        return types.void(x, b0, kk, w, w0, nk, acc), codegen
    return tile


_tile_4, _tile_1 = _make_tile(4), _make_tile(1)
KB = 128            # K block, in groups of 4 inputs: a strip's block, 16 x 512 x 2 B, sits in L1


@njit(inline="always")
def _strips(s0, s1, x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """Strips ``s0..s1-1`` of 16 outputs, K block by K block, each block over
    the whole batch: the block's weights stay in L1 while the batch streams past."""
    B, N = out.shape
    acc = np.empty((B, 16), np.int32)                                   # (B, 16)
    for s in range(s0, s1):
        acc[:] = 0
        for kk in range(0, k4, KB):
            w0, nk = (s * k4 + kk) * 64, min(KB, k4 - kk)
            for b0 in range(0, B - 3, 4):
                _tile_4(x, b0, kk, wp, w0, nk, acc[b0:])
            for b in range(B - B % 4, B):                               # batch tail
                _tile_1(x, b, kk, wp, w0, nk, acc[b:])
        requantize_tile(acc, B, 0, 16 * s, min(16, N - 16 * s), bias, m0, rnd, shift, Z_y, lo,
                        hi, out)


@njit(inline="always")
def _widen(x, k4):
    """:func:`widen` compiled into the kernels: no Python-level allocation and copy per
    call (``minicomp bench int8`` prints the per-call overhead)."""
    B, K = x.shape
    x16 = np.zeros((B, 4 * k4), np.int16)                               # (B, in_pad)
    for b in range(B):
        for k in range(K):
            x16[b, k] = x[b, k]
    return x16


@njit(cache=True)
def madd_serial(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """All strips on one thread; ``x`` uint8 (B, in), writes ``out`` (B, out)."""
    N = out.shape[1]
    _strips(0, (N + 15) // 16, _widen(x, k4), wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def madd_parallel(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out, threads):
    """The strips split in ``threads`` contiguous runs; writes ``out`` (B, out)."""
    N = out.shape[1]
    n = (N + 15) // 16
    chunks = min(n, threads)
    x16 = _widen(x, k4)                         # once, before the threads start
    for c in prange(chunks):                    # contiguous runs of strips per thread
        _strips(c * n // chunks, (c + 1) * n // chunks, x16, wp, k4, bias, m0, rnd, shift,
                Z_y, lo, hi, out)


def pack(W):
    """Widen int8 weights (out, in) to int16 and pack them, zero-padded.

    Returns ``(wp, k4)``: ``wp[strip][k group][h][j][lane][q] =
    W[16 strip + 8 j + lane, 4 k + 2 h + q]``, ``k4 = in_pad / 4``; each strip
    of 16 outputs is contiguous.

    >>> wp, k4 = pack(np.arange(6, dtype=np.int8).reshape(1, 6))
    >>> k4, wp.dtype, wp[:2].tolist(), wp[32:34].tolist(), wp[64:66].tolist()
    (2, dtype('int16'), [0, 1], [2, 3], [4, 5])
    """
    N, K = W.shape
    N_pad, k4 = -(-N // 16) * 16, -(-K // 4)
    W_pad = np.zeros((N_pad, 4 * k4), np.int16)                         # (N_pad, K_pad)
    W_pad[:N, :K] = W
    W6 = W_pad.reshape(N_pad // 16, 2, 8, k4, 2, 2)                     # (S, j, lane, k4, h, q)
    return np.ascontiguousarray(W6.transpose(0, 3, 4, 1, 2, 5)).ravel(), k4


def widen(x, k4):
    """uint8 activations (B, in) as int16 (B, 4 k4), zero-padded: what the tiles read (the
    kernels do this step themselves, compiled).

    >>> widen(np.array([[1, 255]], np.uint8), 1)
    array([[  1, 255,   0,   0]], dtype=int16)
    """
    x16 = np.zeros((x.shape[0], 4 * k4), np.int16)                      # (B, in_pad)
    x16[:, :x.shape[1]] = x
    return x16
