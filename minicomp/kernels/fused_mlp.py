r"""Pack a whole MLP once, then run it in one call of a :mod:`minicomp.kernels.fused` kernel.

:func:`pack_int8` and :func:`pack_sparse` lay every layer's arrays end to
end (one weight array, one per-channel array, one table of offsets, so a
kernel call takes a handful of arguments, not a few per layer);
:func:`run_int8` and :func:`run_sparse` allocate the outputs and call the
kernel of a design; :func:`int8_mlp` and :func:`sparse_mlp` do all three
per call, with the arguments and results of their naive twins in
:mod:`minicomp.kernels.reference_fused` (for tests).

Packing, int8: layer ``k``'s input width ``K`` is padded to ``Kp`` (a
multiple of 4 for ``vpdpbusd``, 16 for the plain loops) with zero weights;
its weights are stored ``[panel of 64 outputs][k/4][j][lane][q] =
W[64 p + 16 j + lane, 4 (k/4) + q]`` (VNNI) or as (N_pad4, Kp) rows; the
bias is folded, ``β_i = q_{b,i} - (Z_x + o_x) Σ_j w_ij``, exactly as
:class:`~minicomp.kernels.int8.Int8Kernel` (which checks every layer,
including the int32 worst case) computes it. Every layer's input has its own
zero-padded columns in the kernel's activation block, so padding stays zero.

Layer: imports :mod:`~minicomp.kernels.fused`, :mod:`~minicomp.kernels.int8`
and :mod:`~minicomp.kernels.reference`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .fused import KERNELS, quantize_input
from .int8 import Int8Kernel
from .reference import CSR, dtype_range


class PackedInt8(NamedTuple):
    """An int8 MLP as the fused kernels read it (:func:`pack_int8`)."""
    qio: np.ndarray     # (8,) float64: S_x, Z_x, lo_x, hi_x, o_x, S_y, Z_y, last layer signed
    meta: np.ndarray    # (L, 11) int64: K, N, Kp, x0, y0, w0, c0, Z_y, lo, hi, o_y
    W: np.ndarray       # int8, every layer's weights, packed (vnni panels or (N_pad4, Kp) rows)
    chan: np.ndarray    # (4, Σ N) int64: folded bias, m0, 2^(shift-1), shift
    vnni: bool


def pack_int8(layers, S_x: float, S_y: float, vnni: bool) -> PackedInt8:
    """Pack an int8 MLP once for the ``int8_vnni_*`` (``vnni``) or ``int8_loops_*`` kernels.

    Parameters
    ----------
    layers : list of dict
        One per layer, the integers of :class:`~minicomp.kernels.int8.Int8Kernel`
        (which checks them): ``w_q, bias_q, Z_x, m0, shift, Z_y, relu, x_dtype,
        out_dtype``; layer k's ``out_dtype`` is layer k+1's ``x_dtype``.
    S_x, S_y : float
        The input's scale (quantization, with layer 0's ``Z_x``) and the output's
        (dequantization, with the last ``Z_y``).
    vnni : bool

    Raises
    ------
    TypeError, ValueError, OverflowError
        What :class:`~minicomp.kernels.int8.Int8Kernel` refuses; layers that do not chain.
    """
    for k, (a, b) in enumerate(zip(layers, layers[1:])):
        if (np.shape(a["w_q"])[0], np.dtype(a["out_dtype"])) != (np.shape(b["w_q"])[1],
                                                                    np.dtype(b["x_dtype"])):
            raise ValueError(f"pack_int8: layer {k} outputs {np.shape(a['w_q'])[0]} "
                             f"{np.dtype(a['out_dtype'])} codes but layer {k + 1} takes "
                             f"{np.shape(b['w_q'])[1]} {np.dtype(b['x_dtype'])}")
    meta, W, chan, x0, w0, c0 = [], [], [], 0, 0, 0
    offsets = [128 if np.dtype(p["x_dtype"]) == np.int8 else 0 for p in layers]
    for k, p in enumerate(layers):
        kern = Int8Kernel(p["w_q"], p["bias_q"], p["Z_x"], p["m0"], p["shift"], p["Z_y"],
                          relu=p["relu"], out_dtype=p["out_dtype"], x_dtype=p["x_dtype"],
                          path="blocked")                       # checks; folded bias
        (N, K), step = kern.shape, 64 if vnni else 4
        Kp = -(-K // 4) * 4 if vnni else -(-K // 16) * 16
        Wp = np.zeros((-(-N // step) * step, Kp), np.int8)      # (N_pad, Kp), zero-padded
        Wp[:N, :K] = p["w_q"]
        if vnni:                                                # [panel][k/4][j][lane][q]
            Wp = Wp.reshape(-1, 4, 16, Kp // 4, 4).transpose(0, 3, 1, 2, 4)
        o_y = offsets[k + 1] if k + 1 < len(layers) else 0
        meta.append((K, N, Kp, x0, x0 + Kp, w0, c0, kern.Z_y, kern.lo, kern.hi, o_y))
        W.append(Wp.ravel())
        chan.append(np.stack([kern.bias.astype(np.int64), kern.m0, kern.rnd, kern.shift]))
        x0, w0, c0 = x0 + Kp, w0 + Wp.size, c0 + N
    lo, hi = dtype_range(layers[0]["x_dtype"], "x_dtype")
    last = layers[-1]
    qio = np.array([S_x, layers[0]["Z_x"], lo, hi, offsets[0], S_y, last["Z_y"],
                    np.dtype(last["out_dtype"]) == np.int8], np.float64)
    return PackedInt8(qio, np.array(meta, np.int64), np.concatenate(W),
                      np.concatenate(chan, axis=1), bool(vnni))


class PackedSparse(NamedTuple):
    """A CSR MLP as the fused kernels read it (:func:`pack_sparse`)."""
    meta: np.ndarray    # (L, 6) int64: in, out, x0, y0 (activation offsets), p0 (ptr), relu
    data: np.ndarray    # float32, every layer's values
    indices: np.ndarray  # uint16 or uint32, column indices
    ptr: np.ndarray     # int64, each layer's row pointers into data (out + 1 per layer)
    bias: np.ndarray    # float32, indexed like the activations: layer k's at y0 (0 if none)


def pack_sparse(csrs, biases, relus) -> PackedSparse:
    """Pack the CSR layers ``csrs[k]`` (out, in) with bias (or None) and ReLU flags, once."""
    meta, x0, p0 = [], 0, 0
    wide = max(c.shape[1] for c in csrs) > 65536
    for c, r in zip(csrs, relus):
        meta.append((c.shape[1], c.shape[0], x0, x0 + c.shape[1], p0, bool(r)))
        x0, p0 = x0 + c.shape[1], p0 + c.shape[0] + 1
    starts = np.cumsum([0] + [c.nnz for c in csrs])
    ptr = np.concatenate([c.indptr.astype(np.int64) + s for c, s in zip(csrs, starts)])
    bias = np.zeros(x0 + csrs[-1].shape[0], np.float32)        # indexed like the activations
    for (_, N, _, y0, _, _), b in zip(meta, biases):
        bias[y0:y0 + N] = 0 if b is None else b
    return PackedSparse(np.array(meta, np.int64), np.concatenate([c.data for c in csrs]),
                        np.concatenate([c.indices for c in csrs]).astype(
                            np.uint32 if wide else np.uint16), ptr, bias)


def run_int8(X, packed: PackedInt8, design: str = "serial", threads: int = 1):
    """``(codes, Y, finite)``: last-layer codes (B, out) uint8 bytes, float32 outputs, and
    how many entries of ``X`` (float, (B, in), C-contiguous) were finite."""
    B, N = X.shape[0], int(packed.meta[-1, 1])
    codes, Y = np.empty((B, N), np.uint8), np.empty((B, N), np.float32)   # (B, out)
    U = np.empty(X.shape, np.uint8)                                        # (B, in) codes
    finite = quantize_input(X, packed.qio, U)
    kernel = KERNELS[f"int8_{'vnni' if packed.vnni else 'loops'}_{design}"]
    kernel(U, packed.qio, packed.meta, packed.W, packed.chan, codes, Y, max(1, min(threads, B)))
    return codes, Y, int(finite)


def run_sparse(X, packed: PackedSparse, design: str = "axpy_serial", threads: int = 1):
    """``(Y, finite)``: float32 outputs (B, out) and how many entries of ``X`` were finite."""
    Y = np.empty((X.shape[0], int(packed.meta[-1, 1])), np.float32)      # (B, out)
    finite = KERNELS["sparse_" + design](X, packed.meta, packed.data, packed.indices,
                                         packed.ptr, packed.bias, Y, max(1, min(threads,
                                                                                X.shape[0])))
    return Y, int(finite)


def int8_mlp(X, layers, S_x, S_y, vnni: bool = False, design: str = "serial"):
    """The fused int8 MLP in one call: ``(codes, Y)``, packing on every call (for tests).

    Same arguments and results as :func:`minicomp.kernels.reference_fused.int8_mlp`;
    ``codes`` in the last layer's ``out_dtype``.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    codes, Y, _ = run_int8(X, pack_int8(layers, S_x, S_y, vnni), design, 2)
    return codes.view(layers[-1]["out_dtype"]), Y


def sparse_mlp(X, csrs, biases, relus, design: str = "axpy_serial"):
    """The fused CSR MLP in one call (for tests): float32 (B, out), allclose to
    :func:`minicomp.kernels.reference_fused.sparse_mlp`."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    for c in csrs:
        if not isinstance(c, CSR):
            raise TypeError(f"csrs must hold CSR matrices, got {type(c).__name__}")
    return run_sparse(X, pack_sparse(csrs, biases, relus), design, 2)[0]
