r"""The int8 kernel: checks, folds the bias, picks a CPU path (the top layer).

Same signature and bit-exact results as
:func:`minicomp.kernels.reference.int8_linear` (Jacob et al. 2018):
:func:`int8_linear`, or :class:`Int8Kernel` to pack the weights once.

.. math:: q_{y,bi} = \mathrm{clamp}\Big(Z_y + \big\lfloor (a_{bi}\, m_{0,i}
          + 2^{s_i-1}) / 2^{s_i} \big\rfloor\Big),\qquad
          a_{bi} = \sum_j x_{bj}\, w_{ij} + \underbrace{q_{b,i}
          - Z_x \textstyle\sum_j w_{ij}}_{\text{folded bias } \beta_i}.

Subtracting the zero point once per output (``β``, computed when the kernel
is built) instead of once per product leaves a pure u8 × s8 dot product:
the shape the ``vpdpbusd`` instruction computes. int8 activations are moved
to uint8 by ``x + 128`` (a bit flip, ``x ^ 0x80``) with ``Z_x + 128``: the
differences ``x - Z_x`` are unchanged.

**Names.** The formula's (as in :mod:`minicomp.quant` and
:mod:`minicomp.deploy`): ``x_q, Z_x, w_q, bias_q, m0, shift, Z_y``, with
``M = S_x S_w / S_y ≈ m0 · 2^-shift``. A kernel takes integers only, no
scales: it is a ``…_linear`` function or a ``…Kernel`` object (packed
weights + the chosen path). The *layer*, with scales, is
:class:`minicomp.deploy.Int8Dense`, which runs an :class:`Int8Kernel`.

**Paths** (:func:`choose_path`; ``"auto"`` takes the first the CPU has):

- ``"vnni"`` -- *go further*: a ``vpdpbusd`` micro-kernel on packed weights,
  emitted through a Numba ``@intrinsic`` (:mod:`minicomp.kernels.vnni`);
  only where the CPU has AVX-512 VNNI or AVX-VNNI. ``"vnni_emulated"`` runs
  the same kernel with the instruction replaced by generic vector code (for
  tests on any CPU; slow, never chosen by "auto").
- ``"madd"`` -- *go further*: the exact AVX2 ``vpmaddwd`` kernel
  (:mod:`minicomp.kernels.madd`), for AVX2 CPUs without VNNI.
- ``"blocked"`` -- the portable kernel, plain Numba, any CPU: a 2 × 4
  register block (:mod:`minicomp.kernels.blocked`).

Every path accumulates in int32 and ends in the same fixed-point epilogue
(:func:`minicomp.kernels.requant.requantize_tile`). This module is the top
layer: it imports requant, blocked, madd and vnni, and none of them
imports it. Shape contract: ``w_q`` (out, in) int8, ``x_q`` (B, in)
uint8 or int8 → (B, out) ``out_dtype``.

**int32 is exact.** The kernels add in wrapping int32 arithmetic, whose
result is the true sum modulo 2^32, so it is the true sum whenever that fits
in int32, even if partial sums wrap. The kernel proves it fits for every
input when it is built: ``max|x - Z_x| · Σ_j |w_ij| + |q_{b,i}| < 2^31``
per output (max|x - Z_x| ≤ 255, |w| ≤ 128, so every layer with
in_features ≤ 65,536 and |bias| < 2^23 passes); otherwise it refuses with
``OverflowError``. Requantization runs in int64 (|a · m0| < 2^62).

Compilation: top-level ``@njit(cache=True)`` kernels, compiled on their
first call; serial below 2·10^6 multiply-adds per call, where starting the
thread pool (5--10 µs) costs more than it saves.

Deviations from the reference: a kernel whose worst case could overflow
int32 is refused when built (the reference fails only on data that
overflows); ``m0`` must lie in [1, 2^31) and ``shift`` in [1, 62].

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import numba
import numpy as np

from . import blocked, madd, vnni
from .requant import INT32_MAX, requant_params, zero_point

PARALLEL_MACS = 2_000_000       # multiply-adds per call above which threads pay off
PATHS = ("auto", "vnni", "vnni_emulated", "madd", "blocked")


def choose_path(path: str = "auto") -> str:
    """The kernel ``Int8Kernel(..., path=path)`` runs on this CPU.

    ``"auto"``: ``"vnni"`` when :func:`minicomp.kernels.vnni.cpu_vnni` finds
    the instruction, else ``"madd"`` on a CPU with AVX2, else ``"blocked"``.

    Raises
    ------
    ValueError
        ``path`` is not one of ``PATHS``.
    RuntimeError
        ``path="vnni"`` and the CPU has no VNNI (``"madd"``: no AVX2).

    >>> choose_path("blocked")
    'blocked'
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if path == "auto":
        path = ("vnni" if vnni.cpu_vnni() else
                "madd" if "avx2" in vnni.cpu_features() else "blocked")
    if path == "vnni" and not vnni.cpu_vnni():
        raise RuntimeError("path='vnni' needs a CPU with avx512_vnni or avx_vnni")
    if path == "madd" and "avx2" not in vnni.cpu_features():
        raise RuntimeError("path='madd' needs a CPU with avx2")
    return path


class Int8Kernel:
    """The int8 kernel, weights packed once: ``Int8Kernel(...)(x_q)`` = ``int8_linear(x_q, ...)``.

    Integers in and out, no scales (the layer is :class:`minicomp.deploy.Int8Dense`).

    Parameters
    ----------
    w_q : ndarray of int8, shape (out, in)
    bias_q : ndarray of int32, shape (out,), or None (zeros)
    Z_x : int, the input zero point, in ``x_dtype``'s range
    m0, shift : int or ndarray (out,) of ints, from ``quantize_multiplier``;
        m0 in [1, 2^31), shift in [1, 62]
    Z_y : int, the output zero point, in ``out_dtype``'s range
    relu : bool
    out_dtype, x_dtype : uint8 or int8
    path : {"auto", "vnni", "vnni_emulated", "madd", "blocked"}
        The CPU path (:func:`choose_path`). "auto": VNNI when the CPU has it,
        else "madd" on a CPU with AVX2, else "blocked". "vnni_emulated" runs
        the VNNI kernel with the instruction replaced by generic vector code
        (for tests; slow).
    parallel : bool or None
        None: threads above ``PARALLEL_MACS`` multiply-adds per call.

    Raises
    ------
    TypeError, ValueError
        Wrong dtypes, shapes or out-of-range parameters (the message names them).
    OverflowError
        If some output's worst case ``max|x - Z_x| · Σ|w| + |bias|`` exceeds int32.
    RuntimeError
        If ``path="vnni"`` and the CPU has no VNNI (``"madd"``: no AVX2).

    Examples
    --------
    >>> from minicomp.kernels.reference import quantize_multiplier
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> m0, shift = quantize_multiplier(0.5)
    >>> kernel = Int8Kernel(w_q, np.array([10, 0], np.int32), 128, m0, shift, 128,
    ...                     relu=True, path="blocked")
    >>> kernel(np.array([[130, 128, 127]], np.uint8))    # acc = [9, -13]
    array([[133, 128]], dtype=uint8)
    """

    def __init__(self, w_q, bias_q, Z_x, m0, shift, Z_y, relu=False,
                 out_dtype=np.uint8, x_dtype=np.uint8, path="auto", parallel=None):
        if not isinstance(w_q, np.ndarray) or w_q.dtype != np.int8 or w_q.ndim != 2:
            raise TypeError(f"w_q must be a 2-D int8 ndarray, got {getattr(w_q, 'dtype', type(w_q))}"
                            f" {np.shape(w_q)}")
        N, K = w_q.shape
        if bias_q is None:
            bias_q = np.zeros(N, np.int32)
        bias_q = np.asarray(bias_q)
        if bias_q.dtype != np.int32 or bias_q.shape != (N,):
            raise TypeError(f"bias_q must be int32 of shape ({N},), got {bias_q.dtype} {bias_q.shape}")
        self.x_dtype, self.out_dtype = np.dtype(x_dtype), np.dtype(out_dtype)
        Z_x = zero_point("Z_x", Z_x, self.x_dtype, "x_dtype")
        q = requant_params(m0, shift, Z_y, N, relu, self.out_dtype)
        self.m0, self.rnd, self.shift, self.Z_y, self.lo, self.hi = q          # (out,) x3, ints
        Z_xu = Z_x + 128 if self.x_dtype == np.int8 else Z_x    # Z_x of the uint8 x the paths read
        W64 = w_q.astype(np.int64)                                          # (out, in)
        worst = max(Z_xu, 255 - Z_xu) * np.abs(W64).sum(1) + np.abs(bias_q.astype(np.int64))
        if N and worst.max() > INT32_MAX:
            i = int(worst.argmax())
            raise OverflowError(f"int32 accumulator could overflow: output {i} has worst case "
                                f"{int(worst[i])} > 2^31 - 1 (in_features={K}); reduce "
                                "in_features, the weights or the bias")
        self.bias = (bias_q - Z_xu * W64.sum(1)).astype(np.int32)           # (out,) mod 2^32
        self.shape, self.relu = (N, K), bool(relu)
        self.path, self.parallel = choose_path(path), parallel
        if self.path == "blocked":
            self.W = blocked.pack(w_q)                                      # (out_pad4, in)
        elif self.path == "madd":
            self.W, self.k4 = madd.pack(w_q)                                # int16, packed
        else:
            self.W, self.k4 = vnni.pack(w_q)                                # int8, packed
            self.kind = vnni.cpu_vnni() if self.path == "vnni" else "emulated"

    def __call__(self, x_q):
        """The output codes, ``out_dtype`` (batch, out), for ``x_q`` (batch, in)."""
        N, K = self.shape
        if not isinstance(x_q, np.ndarray) or x_q.ndim != 2:
            raise ValueError(f"x_q must be a 2-D ndarray (batch, {K}), got a "
                             f"{type(x_q).__name__} of shape {np.shape(x_q)}")
        if x_q.dtype != self.x_dtype:
            raise TypeError(f"x_q must be {self.x_dtype} (the layer's x_dtype), got {x_q.dtype}")
        if x_q.shape[1] != K:
            raise ValueError(f"x_q has {x_q.shape[1]} features, the layer expects {K}")
        B = x_q.shape[0]
        if self.x_dtype == np.int8:
            x = np.ascontiguousarray(x_q).view(np.uint8) ^ np.uint8(0x80)   # (B, in), x + 128
        else:
            x = np.ascontiguousarray(x_q)                                   # (B, in)
        out = np.empty((B, N), np.uint8)                                    # (B, out)
        if B == 0 or N == 0:
            return out.view(self.out_dtype)
        parallel = B * K * N >= PARALLEL_MACS if self.parallel is None else self.parallel
        args = (self.bias, self.m0, self.rnd, self.shift, self.Z_y, self.lo, self.hi, out)
        if parallel:
            args += (numba.get_num_threads(),)
        if self.path == "blocked":
            (blocked.blocked_parallel if parallel else blocked.blocked_serial)(x, self.W, *args)
        elif self.path == "madd":
            (madd.madd_parallel if parallel else madd.madd_serial)(
                madd.widen(x, self.k4), self.W, self.k4, *args)             # x: (B, in_pad) int16
        else:
            vnni.KERNELS[self.kind, bool(parallel)](
                vnni.pad(x, self.k4), self.W, self.k4, *args)               # x: (B, in_pad)
        return out.view(self.out_dtype)


def int8_linear(x_q, Z_x, w_q, bias_q, m0, shift, Z_y,
                relu=False, out_dtype=np.uint8) -> np.ndarray:
    """The int8 kernel in one call, bit-exact with :func:`minicomp.kernels.reference.int8_linear`.

    Packs the weights on every call; build an :class:`Int8Kernel` once for speed.

    Examples
    --------
    >>> from minicomp.kernels.reference import quantize_multiplier
    >>> x_q = np.array([[130, 128, 127]], np.uint8)
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> m0, shift = quantize_multiplier(0.5)
    >>> int8_linear(x_q, 128, w_q, np.array([10, 0], np.int32), m0, shift, 128, relu=True)
    array([[133, 128]], dtype=uint8)
    """
    x_q = np.asarray(x_q)
    if x_q.dtype not in (np.uint8, np.int8):
        raise TypeError(f"x_q must be uint8 or int8, got {x_q.dtype}")
    return Int8Kernel(w_q, bias_q, Z_x, m0, shift, Z_y, relu=relu,
                      out_dtype=out_dtype, x_dtype=x_q.dtype)(x_q)
