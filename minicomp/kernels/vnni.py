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
issues 16 ``vpdpbusd``. (AVX-VNNI has 16 ymm registers, not 32 zmm: there a
tile is 1 row × 64 outputs, 8 ymm accumulators, the weights read from L1 as
memory operands.) Lanes are outputs, so there is no horizontal sum and
the requantization epilogue (:func:`minicomp.kernels.requant.requantize_tile`)
reads accumulators in output order. Design and measurements:
the project notes ``shared/references/kernel-probe-findings.md`` (fbgemm-style packing).

The instruction needs unsigned activations: int8 activations are shifted by
+128 (``x ^ 0x80``, with ``Z_x + 128``) by the caller, which also folds
``-Z_x Σ_j w_ij`` into the bias, so the kernel computes ``Σ_j x_j w_ij``.

**Emulated variant.** ``vpdpbusd`` is one call in the generated IR; the
``"emulated"`` kind replaces it by generic LLVM vector code with the same
semantics (zero-/sign-extend, multiply, add groups of 4), so the packing,
tiling and epilogue of this path run and are tested on any CPU. Only the
``native`` kinds need the instruction.

Deviations: loads are declared ``align=1`` (NumPy buffers are not 64-byte
aligned; assuming it crashes); no K-blocking (a panel's weights, 64 × in
bytes, stay in L2 up to in ≈ 16k on the measured CPU).

Shape contract: ``x`` uint8 (B, 4 k4) C-contiguous (:func:`pad`); ``wp``
from :func:`pack`; ``bias, m0, rnd, shift`` (out,); ``out`` uint8 (B, out).

Layer: imports :mod:`minicomp.kernels.requant` only; the CPU detection
(:func:`cpu_features`, :func:`cpu_vnni`) that the dispatcher uses lives here.

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


def _make_tile(rows, dot):
    """An intrinsic ``tile(x, b0, w, w0, k4, acc)``: ``acc[:rows] = x[b0:b0+rows] · panel``.

    ``x`` is uint8 (B, 4·k4) C-contiguous, ``w`` the packed int8 weights and
    ``w0`` the byte offset of the panel, ``acc`` int32 (≥ rows, 64).
    """
    @intrinsic
    def tile(typingctx, x, b0, w, w0, k4, acc):
        def codegen(context, builder, signature, args):
            x_arr = context.make_array(signature.args[0])(context, builder, args[0])
            w_arr = context.make_array(signature.args[2])(context, builder, args[2])
            acc_arr = context.make_array(signature.args[5])(context, builder, args[5])
            ldx = cgutils.unpack_tuple(builder, x_arr.strides, 2)[0]    # bytes per row
            x_base = builder.gep(x_arr.data, [builder.mul(args[1], ldx)])
            w_base = builder.gep(w_arr.data, [args[3]])
            accs = [[cgutils.alloca_once_value(builder, ir.Constant(_V16, None))
                     for _ in range(NR)] for _ in range(rows)]          # registers after mem2reg
            with cgutils.for_range(builder, args[4]) as loop:          # k4 groups of 4 inputs
                k = loop.index
                W_k = []
                for j in range(NR):                                     # 4 x (16 outputs x 4 k)
                    off = builder.add(builder.mul(k, ir.Constant(_I64, 64 * NR)),
                                      ir.Constant(_I64, 64 * j))
                    ptr = builder.bitcast(builder.gep(w_base, [off]), _V16.as_pointer())
                    W_k.append(builder.load(ptr, align=1))
                for r in range(rows):                                   # x[b0+r, 4k:4k+4]
                    off = builder.add(builder.mul(ir.Constant(_I64, r), ldx),
                                      builder.mul(k, ir.Constant(_I64, 4)))
                    ptr = builder.bitcast(builder.gep(x_base, [off]), _I32.as_pointer())
                    x4 = builder.insert_element(ir.Constant(_V16, ir.Undefined),
                                                builder.load(ptr, align=1), ir.Constant(_I32, 0))
                    x4 = builder.shuffle_vector(x4, x4, ir.Constant(_V16, [0] * 16))  # broadcast
                    for j in range(NR):
                        builder.store(dot(builder, builder.load(accs[r][j]), x4, W_k[j]),
                                      accs[r][j])
            for r in range(rows):
                for j in range(NR):
                    ptr = builder.gep(acc_arr.data, [ir.Constant(_I64, r * PANEL + 16 * j)])
                    builder.store(builder.load(accs[r][j]),
                                  builder.bitcast(ptr, _V16.as_pointer()), align=4)
            return context.get_dummy_value()
        return types.void(x, b0, w, w0, k4, acc), codegen
    return tile


# Intrinsics are inlined into the kernels below; each kernel is a top-level
# cached function (one per instruction kind, serial and parallel).
_tile_avx512_4, _tile_avx512_1 = _make_tile(MR, _dot_avx512), _make_tile(1, _dot_avx512)
_tile_avx_1 = _make_tile(1, _dot_avx)
_tile_emu_4, _tile_emu_1 = _make_tile(MR, _dot_emulated), _make_tile(1, _dot_emulated)


@njit(inline="always")
def _tiles(kind, t0, t1, x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    """Tiles ``t0..t1-1`` (panel-major: all row blocks of a panel in a row)."""
    B, N = out.shape
    n_rb = (B + MR - 1) // MR
    acc = np.empty((MR, PANEL), np.int32)                               # (MR, 64)
    for t in range(t0, t1):
        p, rb = t // n_rb, t % n_rb
        b0, n0, w0 = rb * MR, p * PANEL, p * k4 * 64 * NR
        rows, cols = min(MR, B - b0), min(PANEL, N - p * PANEL)
        if rows == MR and kind != 1:            # AVX-VNNI: 1-row tiles only (16 ymm)
            if kind == 0:
                _tile_avx512_4(x, b0, wp, w0, k4, acc)
            else:
                _tile_emu_4(x, b0, wp, w0, k4, acc)
            requantize_tile(acc, MR, b0, n0, cols, bias, m0, rnd, shift, Z_y, lo, hi, out)
        else:
            for r in range(rows):
                if kind == 0:
                    _tile_avx512_1(x, b0 + r, wp, w0, k4, acc)
                elif kind == 1:
                    _tile_avx_1(x, b0 + r, wp, w0, k4, acc)
                else:
                    _tile_emu_1(x, b0 + r, wp, w0, k4, acc)
                requantize_tile(acc, 1, b0 + r, n0, cols, bias, m0, rnd, shift, Z_y, lo, hi,
                              out)


# `kind` is a compile-time literal in each kernel (numba.literally is not
# needed: the branch on a constant folds away, so a kernel only contains the
# instruction it uses -- the avx512 one cannot even be compiled elsewhere).
@njit(cache=True)
def _vnni512_serial(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    _tiles(0, 0, n, x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnni512_parallel(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out, threads):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    chunks = min(n, threads)
    for c in prange(chunks):                    # contiguous runs of tiles per thread
        _tiles(0, c * n // chunks, (c + 1) * n // chunks, x, wp, k4, bias, m0, rnd, shift,
               Z_y, lo, hi, out)


@njit(cache=True)
def _vnniavx_serial(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    _tiles(1, 0, n, x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnniavx_parallel(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out, threads):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    chunks = min(n, threads)
    for c in prange(chunks):
        _tiles(1, c * n // chunks, (c + 1) * n // chunks, x, wp, k4, bias, m0, rnd, shift,
               Z_y, lo, hi, out)


@njit(cache=True)
def _vnniemu_serial(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    _tiles(2, 0, n, x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out)


@njit(cache=True, parallel=True)
def _vnniemu_parallel(x, wp, k4, bias, m0, rnd, shift, Z_y, lo, hi, out, threads):
    B, N = out.shape
    n = ((N + PANEL - 1) // PANEL) * ((B + MR - 1) // MR)
    chunks = min(n, threads)
    for c in prange(chunks):
        _tiles(2, c * n // chunks, (c + 1) * n // chunks, x, wp, k4, bias, m0, rnd, shift,
               Z_y, lo, hi, out)


KERNELS = {("avx512", False): _vnni512_serial, ("avx512", True): _vnni512_parallel,
           ("avx", False): _vnniavx_serial, ("avx", True): _vnniavx_parallel,
           ("emulated", False): _vnniemu_serial, ("emulated", True): _vnniemu_parallel}


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
