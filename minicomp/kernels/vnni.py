r"""Go further: the VNNI fast path of the int8 layer, ``vpdpbusd`` through a Numba ``@intrinsic``.

**What the instruction does.** ``vpdpbusd`` multiplies 64 unsigned by 64
signed bytes and adds each group of 4 products into one of 16 int32 lanes:
an 8-bit dot product in one instruction. **Why it is optional.** Only
CPUs with AVX-512 VNNI or AVX-VNNI have it, and the portable kernel
(:mod:`minicomp.kernels.blocked`) computes the same integers everywhere;
this file shows how far hand-placed instructions go (several times the
portable kernel at batch ≥ 32: ``minicomp bench int8``) and what it costs
to read.

Per instruction, for lanes ``l = 0..15``:

.. math:: \mathrm{acc}_l \mathrel{+}= \sum_{q=0}^{3} a_{4l+q}\, b_{4l+q},
          \qquad a \in [0, 255],\ b \in [-128, 127],

in wrapping int32 arithmetic (no saturation). LLVM never forms it from plain
loops (it finds only the 16-bit form ``vpdpwssd``), so we emit it ourselves.

**Micro-kernel.** The weights ``W`` (out, in) are packed once to
``[out/64][in/4][4][16][4]``: for each panel of 64 outputs and each group of
4 inputs ``k..k+3``, four 64-byte vectors whose lane ``l`` holds
``W[o, k:k+4]`` of output ``o = 16 j + l``. A tile of 4 batch rows × 64
outputs keeps 16 accumulator vectors in registers; per ``k`` group it loads
4 weight vectors, broadcasts ``x[b, k:k+4]`` (4 bytes) to all lanes and
issues 16 ``vpdpbusd``. A 6-row tile keeps 24 (29 of the 32 registers in use),
so each weight vector loaded serves 6 rows, not 4; rows go in 6-row tiles,
then 4-row ones (8 rows as 4 + 4), then single rows (``minicomp bench kernels
--compare`` against a run from before shows the change per cell). (AVX-VNNI
has 16 ymm registers, not 32 zmm: there a tile is 1 row × 64 outputs, 8 ymm
accumulators, the weights read from L1 as memory operands.) With AVX-512 one
row keeps two accumulator sets (even and odd groups), so batch 1 has 8
independent add chains. Lanes are outputs, so
there is no horizontal sum and the requantization epilogue
(:func:`minicomp.kernels.requant.requantize_tile`) reads accumulators in
output order. Design and measurements: the project notes
``shared/references/kernel-probe-findings.md`` (fbgemm-style packing).

**K-blocking.** Every kernel takes a block size ``kc`` (groups of 4
inputs): a work unit (a panel, or a panel on part of the batch when panels
are fewer than threads) walks K block by block, each block over all its
row tiles, adding into an int32 buffer ``acc`` (rows, 64). With
``kc = k_block()`` a block's weights (256·kc bytes) fill half of L1 and
are reused by every row tile; with ``kc = k4`` the panel streams from L2
(which the whole packed ``W`` of a 1024² layer fits). Which is faster
depends on the CPU and the shape, so :class:`minicomp.kernels.int8.Int8Kernel`
measures both (:mod:`minicomp.kernels.dispatch`). On the 2-core AMD EPYC
(Zen 5) it was written on, the 4 × 64 tile made about 480 GMAC/s per core
from L1, the L2 stream kept up, and the two tied within noise (``minicomp
bench kernels --explain`` prints both designs' measured times on yours).
The dispatcher's 10 % margin, which favours the design listed first, applies
only between a serial and a parallel design (``threaded``), so between
these two the faster wins; ``Int8Kernel`` lists the blocked ones first
(they win exact ties).

The instruction needs unsigned activations: int8 activations are shifted by
+128 (``x ^ 0x80``, with ``Z_x + 128``) by the caller, which also folds
``-Z_x Σ_j w_ij`` into the bias, so the kernel computes ``Σ_j x_j w_ij``.

**Emulated variant.** ``vpdpbusd`` is one call in the generated IR; the
``"emulated"`` kind replaces it by generic LLVM vector code with the same
semantics (zero-/sign-extend, multiply, add groups of 4), so the packing,
tiling and epilogue of this path run and are tested on any CPU. Only the
``native`` kinds need the instruction.

Deviations: loads are declared ``align=1`` (NumPy buffers are not 64-byte
aligned; assuming it crashes). Naive twins (layout, blocked wrapping sums):
:mod:`minicomp.kernels.reference_int8`.

Shape contract (:data:`KERNELS`): ``x`` uint8 (B, 4 k4) C-contiguous
(:func:`pad`); ``wp`` from :func:`pack`; ``kc ≥ 1``; ``q`` int64 (4, out):
folded bias, ``m0``, ``rnd``, ``shift``; ``out`` uint8 (B, out).

Layer: imports :mod:`minicomp.kernels.requant`, and the cache sizes from
:mod:`minicomp.kernels.dispatch_cache`; the CPU detection
(:func:`cpu_features`, :func:`cpu_vnni`, :func:`l1d_bytes`) lives here.

References
----------
Intel (2023). Intel 64 and IA-32 Architectures Software Developer's Manual,
VPDPBUSD. Khudia, D. et al. (2021). FBGEMM: Enabling High-Performance
Low-Precision Deep Learning Inference. arXiv:2101.05615 (weight packing).
"""
from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .dispatch_cache import cache_bytes
from .requant import requantize_tile

MR, NR = 4, 4                   # tile: MR batch rows x NR vectors of 16 outputs
PANEL = 16 * NR                 # outputs per packed panel
_I32, _I64 = ir.IntType(32), ir.IntType(64)
_V16 = ir.VectorType(_I32, 16)


@functools.cache
def cpu_features() -> frozenset:
    """The CPU features Numba compiles for, as LLVM names them (``"avx2"``, ...).

    ``NUMBA_CPU_FEATURES`` when set (a portable build), otherwise the host's.
    """
    if numba.config.CPU_FEATURES is not None:
        return frozenset(f[1:] for f in numba.config.CPU_FEATURES.split(",") if f[:1] == "+")
    from llvmlite import binding
    return frozenset(k for k, on in binding.get_host_cpu_features().items() if on)


def cpu_vnni() -> str | None:
    """Which ``vpdpbusd`` the CPU Numba compiles for has: ``"avx512"``, ``"avx"`` or None."""
    feats = cpu_features()
    if {"avx512f", "avx512bw", "avx512vnni"} <= feats:
        return "avx512"
    if {"avx2", "avxvnni"} <= feats:
        return "avx"
    return None


def _dot_avx512(builder, acc, a, b):
    fnty = ir.FunctionType(_V16, [_V16, _V16, _V16])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
    return builder.call(fn, [acc, a, b])


def _dot_avx(builder, acc, a, b):
    """AVX-VNNI has 256-bit registers: two ``vpdpbusd ymm`` per 16 lanes."""
    v8 = ir.VectorType(_I32, 8)
    fnty = ir.FunctionType(v8, [v8, v8, v8])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.256")
    halves = []
    for h in range(2):
        sel = ir.Constant(v8, list(range(8 * h, 8 * h + 8)))
        acc_h, a_h, b_h = (builder.shuffle_vector(v, v, sel) for v in (acc, a, b))
        halves.append(builder.call(fn, [acc_h, a_h, b_h]))
    return builder.shuffle_vector(halves[0], halves[1], ir.Constant(_V16, list(range(16))))


def _dot_emulated(builder, acc, a, b):
    """Same result as ``vpdpbusd`` in generic LLVM vector code (any CPU)."""
    v64i8, v64 = ir.VectorType(ir.IntType(8), 64), ir.VectorType(_I32, 64)
    prod = builder.mul(builder.zext(builder.bitcast(a, v64i8), v64),    # u8 * s8
                       builder.sext(builder.bitcast(b, v64i8), v64))    # (64,) int32
    for q in range(4):                                                  # lane l += prod[4l+q]
        sel = ir.Constant(_V16, [4 * lane + q for lane in range(16)])
        acc = builder.add(acc, builder.shuffle_vector(prod, prod, sel))
    return acc


def _make_tile(rows, dot, split=1):
    """An intrinsic ``tile(x, b0, kk, w, w0, nk, acc)``: ``acc[:rows] += x[b0:b0+rows] · block``.

    The block is ``nk`` groups of 4 inputs from group ``kk`` of the panel
    whose group ``kk`` starts at byte ``w0`` of the packed ``w``; ``x`` is
    uint8 (B, 4·k4) C-contiguous, ``acc`` int32 (≥ rows, 64), any row stride:
    it is loaded first and stored back. ``split=2`` keeps two accumulator
    sets (even and odd groups): one row then has 8 independent add chains.
    """

    @intrinsic
    def tile(typingctx, x, b0, kk, w, w0, nk, acc):
        def codegen(context, builder, signature, args):
            x_arr, w_arr, acc_arr = (context.make_array(signature.args[i])(
                context, builder, args[i]) for i in (0, 3, 6))
            ldx = cgutils.unpack_tuple(builder, x_arr.strides, 2)[0]    # bytes per row
            lda = cgutils.unpack_tuple(builder, acc_arr.strides, 2)[0]

            def c64(v):
                return ir.Constant(_I64, v)
            x_base = builder.gep(x_arr.data, [builder.add(builder.mul(args[1], ldx),
                                                          builder.mul(args[2], c64(4)))])
            w_base = builder.gep(w_arr.data, [args[4]])
            a_base = builder.bitcast(acc_arr.data, ir.IntType(8).as_pointer())
            ptrs = {(r, j): builder.bitcast(builder.gep(a_base, [builder.add(
                builder.mul(lda, c64(r)), c64(64 * j))]), _V16.as_pointer())
                for r in range(rows) for j in range(NR)}
            accs = {(h, r, j): cgutils.alloca_once_value(builder, builder.load(ptr, align=4)
                                                         if h == 0 else ir.Constant(_V16, None))
                    for h in range(split) for (r, j), ptr in ptrs.items()}  # registers

            def group(k, h):                    # k-th group of 4 inputs into set h
                W_k = [builder.load(builder.bitcast(builder.gep(w_base, [builder.add(
                    builder.mul(k, c64(64 * NR)), c64(64 * j))]), _V16.as_pointer()), align=1)
                    for j in range(NR)]                                 # 4 x (16 outputs x 4 k)
                for r in range(rows):                                   # x[b0+r, 4k:4k+4]
                    ptr = builder.gep(x_base, [builder.add(builder.mul(c64(r), ldx),
                                                           builder.mul(k, c64(4)))])
                    x4 = builder.insert_element(ir.Constant(_V16, ir.Undefined), builder.load(
                        builder.bitcast(ptr, _I32.as_pointer()), align=1), ir.Constant(_I32, 0))
                    x4 = builder.shuffle_vector(x4, x4, ir.Constant(_V16, [0] * 16))  # broadcast
                    for j in range(NR):
                        a = accs[h, r, j]
                        builder.store(dot(builder, builder.load(a), x4, W_k[j]), a)
            with cgutils.for_range(builder, builder.udiv(args[5], c64(split))) as loop:
                for h in range(split):
                    group(builder.add(builder.mul(loop.index, c64(split)), c64(h)), h)
            if split == 2:                                              # odd nk: last group
                with builder.if_then(builder.trunc(args[5], ir.IntType(1))):
                    group(builder.sub(args[5], c64(1)), 0)
            for (r, j), ptr in ptrs.items():
                total = builder.load(accs[0, r, j])
                if split == 2:
                    total = builder.add(total, builder.load(accs[1, r, j]))
                builder.store(total, ptr, align=4)
            return context.get_dummy_value()
        return types.void(x, b0, kk, w, w0, nk, acc), codegen
    return tile


# Intrinsics are inlined into the kernels below; each kernel is a top-level
# cached function (one per instruction kind, serial and parallel).
_tile_avx512_4, _tile_avx512_1 = _make_tile(MR, _dot_avx512), _make_tile(1, _dot_avx512, 2)
_tile_avx512_6, _tile_emu_6 = _make_tile(6, _dot_avx512), _make_tile(6, _dot_emulated)
_tile_avx_1 = _make_tile(1, _dot_avx)              # 2 sets would need all 16 ymm registers
_tile_emu_4, _tile_emu_1 = _make_tile(MR, _dot_emulated), _make_tile(1, _dot_emulated, 2)


@njit(inline="always")
def _panels(kind, u0, u1, n_rg, x, wp, k4, kc, q, Z_y, lo, hi, out):
    """Work units ``u0..u1-1``: unit ``u`` is panel ``u // n_rg`` on row group ``u % n_rg``.

    For each block of ``kc`` groups (its 64 × 4 kc weight bytes stay in L1)
    every row tile of the group (6 rows, then 4, then 1; AVX-VNNI: 1-row tiles,
    it has 16 ymm registers) adds into ``acc``, which then goes through the epilogue.
    """
    B, N = out.shape
    rows_g = -(-((B + MR - 1) // MR) // n_rg) * MR                      # rows per group
    acc = np.empty((rows_g, PANEL), np.int32)                           # (rows_g, 64)
    for u in range(u0, u1):
        p, g = u // n_rg, u % n_rg
        r0, r1 = g * rows_g, min(B, (g + 1) * rows_g)
        n6 = (r1 - r0) // 6 if kind != 1 else 0                         # 6-row tiles, then
        if n6 and 2 <= (r1 - r0) - 6 * n6 <= 3:                         # 4-row ones: 8 rows
            n6 -= 1                                                     # are 4 + 4, not 6 + 1 + 1
        n4 = ((r1 - r0) - 6 * n6) // 4 if kind != 1 else 0
        acc[:] = 0
        for kk in range(0, k4, kc):
            nk, w0 = min(kc, k4 - kk), (p * k4 + kk) * 64 * NR
            b = r0
            for _ in range(n6):
                if kind == 0:
                    _tile_avx512_6(x, b, kk, wp, w0, nk, acc[b - r0:])
                else:
                    _tile_emu_6(x, b, kk, wp, w0, nk, acc[b - r0:])
                b += 6
            for _ in range(n4):
                if kind == 0:
                    _tile_avx512_4(x, b, kk, wp, w0, nk, acc[b - r0:])
                else:
                    _tile_emu_4(x, b, kk, wp, w0, nk, acc[b - r0:])
                b += MR
            for b in range(b, r1):                                      # batch tail
                if kind == 0:
                    _tile_avx512_1(x, b, kk, wp, w0, nk, acc[b - r0:])
                elif kind == 1:
                    _tile_avx_1(x, b, kk, wp, w0, nk, acc[b - r0:])
                else:
                    _tile_emu_1(x, b, kk, wp, w0, nk, acc[b - r0:])
        requantize_tile(acc, r1 - r0, r0, p * PANEL, min(PANEL, N - p * PANEL), q[0], q[1],
                        q[2], q[3], Z_y, lo, hi, out)


@njit(inline="always")
def _split(kind, x, wp, k4, kc, q, Z_y, lo, hi, out, threads):
    """Panels × row groups in ``threads`` contiguous runs (rows split when panels are few)."""
    n_p, n_rb = (out.shape[1] + PANEL - 1) // PANEL, (out.shape[0] + MR - 1) // MR
    n_rg = min(n_rb, 1 if n_p % threads == 0 else threads)
    n = n_p * n_rg
    chunks = min(n, threads)
    for c in prange(chunks):
        _panels(kind, c * n // chunks, (c + 1) * n // chunks, n_rg, x, wp, k4, kc, q, Z_y, lo,
                hi, out)


# `kind` is a compile-time literal in each kernel (numba.literally is not
# needed: the branch on a constant folds away, so a kernel only contains the
# instruction it uses -- the avx512 one cannot even be compiled elsewhere).
@njit(cache=True)
def _vnni512_serial(x, wp, k4, kc, q, Z_y, lo, hi, out):
    _panels(0, 0, (out.shape[1] + PANEL - 1) // PANEL, 1, x, wp, k4, kc, q, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnni512_parallel(x, wp, k4, kc, q, Z_y, lo, hi, out, threads):
    _split(0, x, wp, k4, kc, q, Z_y, lo, hi, out, threads)


@njit(cache=True)
def _vnniavx_serial(x, wp, k4, kc, q, Z_y, lo, hi, out):
    _panels(1, 0, (out.shape[1] + PANEL - 1) // PANEL, 1, x, wp, k4, kc, q, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnniavx_parallel(x, wp, k4, kc, q, Z_y, lo, hi, out, threads):
    _split(1, x, wp, k4, kc, q, Z_y, lo, hi, out, threads)


@njit(cache=True)
def _vnniemu_serial(x, wp, k4, kc, q, Z_y, lo, hi, out):
    _panels(2, 0, (out.shape[1] + PANEL - 1) // PANEL, 1, x, wp, k4, kc, q, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnniemu_parallel(x, wp, k4, kc, q, Z_y, lo, hi, out, threads):
    _split(2, x, wp, k4, kc, q, Z_y, lo, hi, out, threads)


KERNELS = {("avx512", False): _vnni512_serial, ("avx512", True): _vnni512_parallel,
           ("avx", False): _vnniavx_serial, ("avx", True): _vnniavx_parallel,
           ("emulated", False): _vnniemu_serial, ("emulated", True): _vnniemu_parallel}


def l1d_bytes() -> int:
    """This core's L1 data cache in bytes (Linux sysfs), 32 KiB if unknown."""
    return cache_bytes(1) or 32 * 1024


def k_block() -> int:
    """Groups of 4 inputs per K block: a panel's block, 256 bytes a group, fills half of L1.

    >>> k_block() * 256 <= max(l1d_bytes() // 2, 16 * 256)
    True
    """
    return max(16, l1d_bytes() // 2 // (64 * NR))


def pack(W):
    """Pack int8 weights (out, in) for the micro-kernel, zero-padded.

    Returns
    -------
    wp : ndarray of int8, shape (out_pad/64 · in_pad/4 · 4 · 16 · 4,)
        ``[panel][k group][vector j][lane][q] = W[64 panel + 16 j + lane, 4 k + q]``
        with ``out_pad``, ``in_pad`` rounded up to multiples of 64 and 4.
    k4 : int
        ``in_pad / 4``.

    Examples
    --------
    >>> wp, k4 = pack(np.arange(6, dtype=np.int8).reshape(1, 6))
    >>> k4, wp.shape, wp[:4].tolist(), wp[256:260].tolist()
    (2, (512,), [0, 1, 2, 3], [4, 5, 0, 0])
    """
    N, K = W.shape
    N_pad, k4 = -(-N // PANEL) * PANEL, -(-K // 4)
    W_pad = np.zeros((N_pad, 4 * k4), np.int8)                          # (N_pad, K_pad)
    W_pad[:N, :K] = W
    W5 = W_pad.reshape(N_pad // PANEL, NR, 16, k4, 4)                   # (P, j, lane, k4, q)
    return np.ascontiguousarray(W5.transpose(0, 3, 1, 2, 4)).ravel(), k4  # (P, k4, j, lane, q)


def pad(x, k4):
    """uint8 activations (B, in) zero-padded to (B, 4 k4); ``x`` itself if in = 4 k4.

    >>> pad(np.array([[1, 2, 3, 4, 5]], np.uint8), 2)
    array([[1, 2, 3, 4, 5, 0, 0, 0]], dtype=uint8)
    """
    if x.shape[1] == 4 * k4:
        return x
    x_pad = np.zeros((x.shape[0], 4 * k4), np.uint8)                    # (B, in_pad)
    x_pad[:, :x.shape[1]] = x
    return x_pad
