r"""Whole-model kernels: every layer of a small MLP in ONE compiled call.

On the MLPs students use (64-64-10 on digits, the pruned 300-100) one
layer is a few microseconds of arithmetic, and calling a kernel per layer
(argument checks, input quantization, allocation, dequantization) costs
more than the matrix work. A fused kernel takes the float input batch and
returns the float output; in between, activations stay in the kernel's own
layout and never go back to Python:

- **int8** (Jacob et al. 2018): the input is quantized first by
  :func:`quantize_input`, ``u = clamp(rint(x / S_x) + Z_x) + o_x`` (``o =
  128`` for int8 codes, stored as unsigned bytes, ``0`` for uint8), the one
  small kernel compiled per input dtype; each layer accumulates
  ``a_i = Σ_j u_j w_ij + β_i`` in int32 (``β_i = q_{b,i} - (Z_x + o_x) Σ_j
  w_ij``, the folded bias of :class:`~minicomp.kernels.int8.Int8Kernel`) and
  requantizes it to the next layer's codes,

  .. math:: q_{y,i} = \mathrm{clamp}\big(Z_y + \lfloor (a_i m_{0,i} + 2^{s_i-1})
            / 2^{s_i} \rfloor,\ lo,\ hi\big)

  (ReLU = the lower clamp ``lo = Z_y``), exactly as
  :func:`minicomp.kernels.requant.requantize_tile`; only the last layer's
  codes are dequantized, ``y = S_y (q - Z_y)`` in float64, then float32.
  Codes are bit-exact with the per-layer chain.
- **sparse** (CSR): ``h ← relu(W h + b)`` layer after layer, with
  activations *feature-major* (``h^T``: (features, batch), so each stored
  weight updates a contiguous row of the batch: no transposes between
  layers) for a batch >= 4, and one example at a time with a 4-accumulator
  gather-dot for smaller batches. Allclose to the per-layer chain.

Designs (each a top-level ``@njit(cache=True)`` kernel in :data:`KERNELS`):
``int8_vnni`` (the ``vpdpbusd`` instruction through a Numba ``@intrinsic``:
4 × 16 output lanes per 4 inputs, AVX-512 VNNI CPUs only), ``int8_loops``
(plain loops, 4 outputs × 16-input blocks that LLVM vectorizes; any CPU),
``sparse_rowdot`` and ``sparse_axpy``; each ``_serial`` or ``_parallel``.
Threads split the *batch*: each runs its rows through every layer, with no
synchronisation between layers.

Shape contract: ``X`` float32/float64 (B, in), C-contiguous (the int8
kernels take its codes ``U``, uint8 (B, in), from :func:`quantize_input`); the model
packed by :mod:`minicomp.kernels.fused_mlp` (which also runs these kernels:
``run_int8``, ``run_sparse``); outputs (B, out). Layer: no other kernel
file (the bottom, beside reference); the naive twins are in
:mod:`minicomp.kernels.reference_fused`.

Deviations: the kernels read ``X`` unchecked; :func:`quantize_input` and the sparse
ones return how many of its entries were finite (the caller refuses NaN/inf);
``int8_vnni`` needs
AVX-512 VNNI (AVX-VNNI-only CPUs run ``int8_loops``).

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS = 64           # batch rows per block: a block's activations of every layer stay in L1
_I32, _I64, _V16 = ir.IntType(32), ir.IntType(64), ir.VectorType(ir.IntType(32), 16)


@intrinsic
def _panel(typingctx, x, r, x0, w, w0, k4, acc):
    """``acc[:64] = Σ_k x[r, x0+k] W[o, k]`` for the 64 outputs of the panel at byte ``w0``.

    ``w`` packed as ``[k/4][j][lane][q] = W[16 j + lane, 4 k/4 + q]``; 16 ``vpdpbusd``
    lanes × 4 vectors held in registers over the ``k4`` groups of 4 inputs.
    """
    def codegen(context, builder, sig, args):
        x_arr = context.make_array(sig.args[0])(context, builder, args[0])
        w_arr = context.make_array(sig.args[3])(context, builder, args[3])
        acc_arr = context.make_array(sig.args[6])(context, builder, args[6])
        ldx = cgutils.unpack_tuple(builder, x_arr.strides, 2)[0]
        x_base = builder.gep(x_arr.data, [builder.add(builder.mul(args[1], ldx), args[2])])
        w_base = builder.gep(w_arr.data, [args[4]])
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            _V16, [_V16, _V16, _V16]), "llvm.x86.avx512.vpdpbusd.512")
        accs = [cgutils.alloca_once_value(builder, ir.Constant(_V16, None)) for _ in range(4)]
        with cgutils.for_range(builder, args[5]) as loop:
            k = loop.index
            ptr = builder.bitcast(builder.gep(x_base, [builder.mul(k, ir.Constant(_I64, 4))]),
                                  _I32.as_pointer())
            x4 = builder.insert_element(ir.Constant(_V16, ir.Undefined),
                                        builder.load(ptr, align=1), ir.Constant(_I32, 0))
            x4 = builder.shuffle_vector(x4, x4, ir.Constant(_V16, [0] * 16))    # broadcast
            for j in range(4):
                off = builder.add(builder.mul(k, ir.Constant(_I64, 256)), ir.Constant(_I64, 64 * j))
                wv = builder.load(builder.bitcast(builder.gep(w_base, [off]), _V16.as_pointer()),
                                  align=1)
                builder.store(builder.call(fn, [builder.load(accs[j]), x4, wv]), accs[j])
        for j in range(4):
            ptr = builder.gep(acc_arr.data, [ir.Constant(_I64, 16 * j)])
            builder.store(builder.load(accs[j]), builder.bitcast(ptr, _V16.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.void(x, r, x0, w, w0, k4, acc), codegen


@njit(inline="always")
def _dot4(x, w0, w1, w2, w3, acc):
    """``acc[c] = Σ_k x[k] w_c[k]`` for the 4 weight rows ``w_c`` (Kp,), in int32."""
    a0 = a1 = a2 = a3 = np.int32(0)
    for k in range(x.shape[0]):
        p = np.int32(x[k])
        a0 = np.int32(a0 + p * np.int32(w0[k]))
        a1 = np.int32(a1 + p * np.int32(w1[k]))
        a2 = np.int32(a2 + p * np.int32(w2[k]))
        a3 = np.int32(a3 + p * np.int32(w3[k]))
    acc[0], acc[1], acc[2], acc[3] = a0, a1, a2, a3


@njit(inline="always")
def _requantize(acc, bias, m0, rnd, shift, Z_y, lo, hi, o_y, out):
    """``out[c] = clamp(Z_y + (a m0 + rnd) >> shift) + o_y`` for the (cols,) slices given:
    :func:`~minicomp.kernels.requant.requantize_tile`, spelled out (1-D: it vectorizes)."""
    for c in range(out.shape[0]):
        a = np.int64(np.int32(np.int64(acc[c]) + bias[c]))             # wraps mod 2^32
        y = ((a * m0[c] + rnd[c]) >> shift[c]) + Z_y                     # round half up
        y = lo if y < lo else y
        y = hi if y > hi else y
        out[c] = np.uint8((y + o_y) & 0xFF)                            # int8: + 128 or bytes


@njit(cache=True)
def quantize_input(X, qio, U):
    """``U = clamp(rint(X / S_x) + Z_x) + o_x`` as bytes (B, in); returns how many entries
    of ``X`` were finite. Compiled per input dtype (float32, float64): the layer kernels
    below take these codes, so they are compiled once, not once per input dtype."""
    S_x, Z_x, lo, hi, o_x = qio[0], qio[1], qio[2], qio[3], qio[4]
    finite = 0
    for b in range(X.shape[0]):
        x, u = X[b], U[b]
        for k in range(X.shape[1]):
            v = np.float64(x[k])
            finite += abs(v) < np.inf
            v = np.rint(v / S_x) + Z_x
            v = lo if v < lo else v
            u[k] = np.uint8(np.int32(hi if v > hi else v) + o_x)
    return finite


@njit(inline="always")
def _int8_block(kind, b0, b1, U, qio, meta, W, chan, act, acc, codes, Y):
    """Rows b0..b1 (<= ROWS) of the input codes ``U`` through every layer."""
    L, rows = meta.shape[0], b1 - b0
    for r in range(rows):                                      # the input codes, into L1
        act[r, :meta[0, 0]] = U[b0 + r]
    bias, m0, rnd, shift = chan[0], chan[1], chan[2], chan[3]
    for l in range(L):
        N, Kp, x0, y0, w0, c0 = meta[l, 1], meta[l, 2], meta[l, 3], meta[l, 4], meta[l, 5], \
            meta[l, 6]
        Z_y, lo_y, hi_y, o_y = meta[l, 7], meta[l, 8], meta[l, 9], meta[l, 10]
        for r in range(rows):
            x = act[r, x0:x0 + Kp]                             # (Kp,) this layer's input
            for n0 in range(0, N, 64):                         # panels of 64 outputs
                i, cols = c0 + n0, min(64, N - n0)
                if kind == 0:
                    _panel(act, r, x0, W, w0 + n0 * Kp, Kp // 4, acc)
                else:
                    for c in range(0, cols, 4):
                        w = w0 + (n0 + c) * Kp
                        _dot4(x, W[w:w + Kp], W[w + Kp:w + 2 * Kp], W[w + 2 * Kp:w + 3 * Kp],
                              W[w + 3 * Kp:w + 4 * Kp], acc[c:c + 4])
                _requantize(acc, bias[i:i + cols], m0[i:i + cols], rnd[i:i + cols],
                            shift[i:i + cols], Z_y, lo_y, hi_y, o_y,
                            act[r, y0 + n0:y0 + n0 + cols])
    N, y0 = meta[L - 1, 1], meta[L - 1, 4]
    S_y, Z_y, signed = qio[5], qio[6], qio[7] != 0
    for r in range(rows):                                      # dequantize the last layer
        q, code, y = act[r, y0:y0 + N], codes[b0 + r], Y[b0 + r]
        for c in range(N):
            v = np.int32(np.int8(q[c])) if signed else np.int32(q[c])   # the code's value
            code[c] = q[c]
            y[c] = np.float32(S_y * (np.float64(v) - Z_y))


@njit(inline="always")
def _int8_rows(kind, b0, b1, U, qio, meta, W, chan, codes, Y):
    L = meta.shape[0]
    act = np.zeros((min(ROWS, b1 - b0), meta[L - 1, 4] + meta[L - 1, 1]), np.uint8)
    acc = np.empty(64, np.int32)
    for r0 in range(b0, b1, ROWS):
        _int8_block(kind, r0, min(r0 + ROWS, b1), U, qio, meta, W, chan, act, acc, codes, Y)


# The row loops are compiled once and *called* by the serial and the parallel kernel,
# not inlined in both (each caller still re-optimizes the linked callee; `minicomp
# warmup` prints the compile times). They take the input codes, whatever X's dtype was.
@njit(cache=True)
def _rows_vnni(b0, b1, U, qio, meta, W, chan, codes, Y):
    _int8_rows(0, b0, b1, U, qio, meta, W, chan, codes, Y)      # kind 0 is a literal


@njit(cache=True)
def _rows_loops(b0, b1, U, qio, meta, W, chan, codes, Y):
    _int8_rows(1, b0, b1, U, qio, meta, W, chan, codes, Y)      # (no VNNI code here)


@njit(cache=True)
def int8_vnni_serial(U, qio, meta, W, chan, codes, Y, threads):
    _rows_vnni(0, U.shape[0], U, qio, meta, W, chan, codes, Y)


@njit(cache=True, parallel=True)
def int8_vnni_parallel(U, qio, meta, W, chan, codes, Y, threads):
    B = U.shape[0]
    for t in prange(threads):                   # contiguous runs of rows per thread
        _rows_vnni(t * B // threads, (t + 1) * B // threads, U, qio, meta, W, chan, codes, Y)


@njit(cache=True)
def int8_loops_serial(U, qio, meta, W, chan, codes, Y, threads):
    _rows_loops(0, U.shape[0], U, qio, meta, W, chan, codes, Y)


@njit(cache=True, parallel=True)
def int8_loops_parallel(U, qio, meta, W, chan, codes, Y, threads):
    B = U.shape[0]
    for t in prange(threads):
        _rows_loops(t * B // threads, (t + 1) * B // threads, U, qio, meta, W, chan, codes, Y)


# ------------------------------------------------------------------------- sparse
@njit(inline="always", boundscheck=False)
def _gather_dot(data, indices, h, x0, lo, hi):
    """Σ_k data[k] h[x0 + indices[k]] over k in [lo, hi), four accumulators."""
    a0 = a1 = a2 = a3 = np.float32(0.0)
    k = lo
    while k + 4 <= hi:
        a0 += data[k] * h[x0 + indices[k]]
        a1 += data[k + 1] * h[x0 + indices[k + 1]]
        a2 += data[k + 2] * h[x0 + indices[k + 2]]
        a3 += data[k + 3] * h[x0 + indices[k + 3]]
        k += 4
    while k < hi:
        a0 += data[k] * h[x0 + indices[k]]
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True, boundscheck=False)
def _sparse_rowdot(b0, b1, X, meta, data, indices, ptr, bias, Y):
    """Examples b0..b1 one at a time; ``h`` holds every layer's input, then the output."""
    L = meta.shape[0]
    h = np.empty(meta[L - 1, 3] + meta[L - 1, 1], np.float32)
    finite = 0
    for b in range(b0, b1):
        for k in range(meta[0, 0]):
            h[k] = X[b, k]
            finite += abs(h[k]) < np.inf
        for l in range(L):
            N, x0, y0, p0, relu = meta[l, 1], meta[l, 2], meta[l, 3], meta[l, 4], meta[l, 5]
            for i in range(N):
                s = _gather_dot(data, indices, h, x0, ptr[p0 + i], ptr[p0 + i + 1]) + bias[y0 + i]
                h[y0 + i] = max(s, np.float32(0.0)) if relu else s
        N, y0 = meta[L - 1, 1], meta[L - 1, 3]
        for c in range(N):
            Y[b, c] = h[y0 + c]
    return finite


@njit(cache=True, fastmath={"contract"}, boundscheck=False)
def _sparse_axpy(b0, b1, X, meta, data, indices, ptr, bias, Y):
    """Examples b0..b1 feature-major: ``hT`` (features, nb), each weight updates a row."""
    L, nb = meta.shape[0], b1 - b0
    hT = np.empty((meta[L - 1, 3] + meta[L - 1, 1], nb), np.float32)
    finite = 0
    for b in range(nb):
        x = X[b0 + b]
        for k in range(meta[0, 0]):
            finite += abs(x[k]) < np.inf
    for k in range(meta[0, 0]):                                # X^T, once
        h = hT[k]
        for b in range(nb):
            h[b] = X[b0 + b, k]
    for l in range(L):
        N, x0, y0, p0, relu = meta[l, 1], meta[l, 2], meta[l, 3], meta[l, 4], meta[l, 5]
        for i in range(N):
            a = hT[y0 + i]                                     # (nb,)
            a[:] = 0.0
            k, hi = ptr[p0 + i], ptr[p0 + i + 1]
            while k + 4 <= hi:                                 # 4 stored weights per pass
                v0, v1, v2, v3 = data[k], data[k + 1], data[k + 2], data[k + 3]
                r0, r1 = hT[x0 + indices[k]], hT[x0 + indices[k + 1]]
                r2, r3 = hT[x0 + indices[k + 2]], hT[x0 + indices[k + 3]]
                for b in range(nb):                            # in order: 4 chained FMAs
                    a[b] = (((a[b] + v0 * r0[b]) + v1 * r1[b]) + v2 * r2[b]) + v3 * r3[b]
                k += 4
            while k < hi:
                v0, r0 = data[k], hT[x0 + indices[k]]
                for b in range(nb):
                    a[b] += v0 * r0[b]
                k += 1
            bi = bias[y0 + i]                                  # the bias last, as a layer adds it
            if relu:
                for b in range(nb):
                    a[b] = max(a[b] + bi, np.float32(0.0))
            else:
                for b in range(nb):
                    a[b] += bi
    N, y0 = meta[L - 1, 1], meta[L - 1, 3]
    for b in range(nb):
        for c in range(N):
            Y[b0 + b, c] = hT[y0 + c, b]
    return finite


@njit(cache=True)
def sparse_rowdot_serial(X, meta, data, indices, ptr, bias, Y, threads):
    return _sparse_rowdot(0, X.shape[0], X, meta, data, indices, ptr, bias, Y)


@njit(cache=True, parallel=True)
def sparse_rowdot_parallel(X, meta, data, indices, ptr, bias, Y, threads):
    B = X.shape[0]
    finite = np.zeros(threads, np.int64)
    for t in prange(threads):
        finite[t] = _sparse_rowdot(t * B // threads, (t + 1) * B // threads, X, meta, data,
                                   indices, ptr, bias, Y)
    return finite.sum()


@njit(cache=True)
def sparse_axpy_serial(X, meta, data, indices, ptr, bias, Y, threads):
    finite = 0
    for b0 in range(0, X.shape[0], 4 * ROWS):                  # blocks of 256 examples
        finite += _sparse_axpy(b0, min(b0 + 4 * ROWS, X.shape[0]), X, meta, data, indices,
                               ptr, bias, Y)
    return finite


@njit(cache=True, parallel=True)
def sparse_axpy_parallel(X, meta, data, indices, ptr, bias, Y, threads):
    B = X.shape[0]
    finite = np.zeros(threads, np.int64)
    for t in prange(threads):
        finite[t] = _sparse_axpy(t * B // threads, (t + 1) * B // threads, X, meta, data,
                                 indices, ptr, bias, Y)
    return finite.sum()


KERNELS = {f"{family}_{design}": kernel for family, design, kernel in (
    ("int8_vnni", "serial", int8_vnni_serial), ("int8_vnni", "parallel", int8_vnni_parallel),
    ("int8_loops", "serial", int8_loops_serial), ("int8_loops", "parallel", int8_loops_parallel),
    ("sparse_rowdot", "serial", sparse_rowdot_serial),
    ("sparse_rowdot", "parallel", sparse_rowdot_parallel),
    ("sparse_axpy", "serial", sparse_axpy_serial),
    ("sparse_axpy", "parallel", sparse_axpy_parallel))}
