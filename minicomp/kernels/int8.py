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
layer: it imports requant, blocked, madd, vnni and dispatch, and none of them
imports it. Shape contract: ``w_q`` (out, in) int8, ``x_q`` (B, in)
uint8 or int8 → (B, out) ``out_dtype``.

**int32 is exact.** The kernels add in wrapping int32 arithmetic, whose
result is the true sum modulo 2^32, so it is the true sum whenever that fits
in int32, even if partial sums wrap. The kernel proves it fits for every
input when it is built: ``max|x - Z_x| · Σ_j |w_ij| + |q_{b,i}| < 2^31``
per output (max|x - Z_x| ≤ 255, |w| ≤ 128, so every layer with
in_features ≤ 65,536 and |bias| < 2^23 passes); otherwise it refuses with
``OverflowError``. Requantization runs in int64 (|a · m0| < 2^62).

**Designs, chosen by measurement.** Each path has serial and parallel
kernels (the VNNI path also K-blocked ones, when ``in`` exceeds one L1
block: :func:`minicomp.kernels.vnni.k_block`). The first call of a kernel
on a batch size bucket (:func:`~minicomp.kernels.dispatch.batch_bucket`)
times the candidates on the real arguments
(:func:`minicomp.kernels.dispatch.choose`, cached on disk per CPU) and
the kernel keeps the winner; later calls pay a dict lookup. A parallel
winner's calls are timed and reported (:func:`~minicomp.kernels.dispatch.observe`):
if they stall more than the serial design costs, it is dropped. Threads are
not even tried below ``PARALLEL_MIN`` multiply-adds per call, where
starting the pool (microseconds) costs more than the whole product.
Names: ``<path>_serial``, ``<path>_parallel``, ``<path>_kb_serial``,
``<path>_kb_parallel`` (:meth:`Int8Kernel.designs`);
``MINICOMP_KERNEL=int8:vnni_serial`` forces one, ``Int8Kernel(...)(x_q,
design=...)`` runs one. Every design gives the same integers (tests: each against the twins).

Compilation: top-level ``@njit(cache=True)`` kernels, compiled on their
first call (the first measured call compiles every candidate once).

Deviations from the reference: a kernel whose worst case could overflow
int32 is refused when built (the reference fails only on data that
overflows); ``m0`` must lie in [1, 2^31) and ``shift`` in [1, 62].

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from . import blocked, dispatch, madd, vnni
from .requant import INT32_MAX, requant_params, zero_point

PARALLEL_MIN = 1 << 19          # multiply-adds per call below which threads are not even tried
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
        None: serial or parallel, whichever the first call measures faster
        (:meth:`designs`); True / False: only those. Parallel designs split
        the work into as many chunks as Numba had threads when the kernel
        was built.

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
            raise TypeError("w_q must be a 2-D int8 ndarray, got "
                            f"{getattr(w_q, 'dtype', type(w_q))} {np.shape(w_q)}")
        N, K = w_q.shape
        if bias_q is None:
            bias_q = np.zeros(N, np.int32)
        bias_q = np.asarray(bias_q)
        if bias_q.dtype != np.int32 or bias_q.shape != (N,):
            raise TypeError(f"bias_q must be int32 of shape ({N},), got {bias_q.dtype} "
                            f"{bias_q.shape}")
        self.x_dtype, self.out_dtype = np.dtype(x_dtype), np.dtype(out_dtype)
        self._signed_x, self._signed_out = self.x_dtype == np.int8, self.out_dtype == np.int8
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
        self._runs, self.decisions, self._chosen = self._build(w_q), {}, {}

    def _build(self, w_q) -> dict:
        """Pack the weights for the path; design name -> ``run(x, out)`` on prepared ``x``."""
        args = (self.bias, self.m0, self.rnd, self.shift, self.Z_y, self.lo, self.hi)
        p, n = self.path, numba.get_num_threads()      # read once: costly per call
        if p == "blocked":
            W = self.W = blocked.pack(w_q)                                  # (out_pad4, in)
            self._prep = None
            ser, par = blocked.blocked_serial, blocked.blocked_parallel
            return {f"{p}_serial": lambda x, out: ser(x, W, *args, out),
                    f"{p}_parallel": lambda x, out: par(x, W, *args, out, n)}
        if p == "madd":
            (W, k4), self._prep = madd.pack(w_q), None                      # int16, packed
            ser, par = madd.madd_serial, madd.madd_parallel
            self.W, self.k4 = W, k4
            return {f"{p}_serial": lambda x, out: ser(x, W, k4, *args, out),
                    f"{p}_parallel": lambda x, out: par(x, W, k4, *args, out, n)}
        (W, k4), kind = vnni.pack(w_q), vnni.cpu_vnni() if p == "vnni" else "emulated"
        self.W, self.k4, self.kind = W, k4, kind                            # int8, packed
        self._prep = None if w_q.shape[1] == 4 * k4 else vnni.pad
        q = np.stack([self.bias.astype(np.int64), self.m0, self.rnd, self.shift])  # (4, out)
        zy, lo, hi = self.Z_y, self.lo, self.hi
        ser, par = vnni.KERNELS[kind, False], vnni.KERNELS[kind, True]
        runs, kc = {}, vnni.k_block()
        if k4 > kc:             # K-blocked first: a panel's block stays in L1 (module doc)
            runs[f"{p}_kb_serial"] = lambda x, out: ser(x, W, k4, kc, q, zy, lo, hi, out)
            runs[f"{p}_kb_parallel"] = lambda x, out: par(x, W, k4, kc, q, zy, lo, hi, out, n)
        runs[f"{p}_serial"] = lambda x, out: ser(x, W, k4, k4, q, zy, lo, hi, out)
        runs[f"{p}_parallel"] = lambda x, out: par(x, W, k4, k4, q, zy, lo, hi, out, n)
        return runs

    def designs(self, batch: int) -> list[str]:
        """The designs measured for ``batch`` rows, in preference order.

        Parallel ones need ``numba.get_num_threads() > 1`` and at least
        ``PARALLEL_MIN`` multiply-adds per call (starting threads costs
        microseconds); ``parallel`` True/False keeps only those / the others.
        """
        N, K = self.shape
        par_ok = numba.get_num_threads() > 1 and batch * N * K >= PARALLEL_MIN
        keep = {None: lambda n: par_ok or not n.endswith("parallel"),
                True: lambda n: n.endswith("parallel"),
                False: lambda n: not n.endswith("parallel")}[self.parallel]
        return [n for n in self._runs if keep(n)]

    def _check(self, x_q):
        N, K = self.shape
        if not isinstance(x_q, np.ndarray) or x_q.ndim != 2:
            raise ValueError(f"x_q must be a 2-D ndarray (batch, {K}), got a "
                             f"{type(x_q).__name__} of shape {np.shape(x_q)}")
        if x_q.dtype != self.x_dtype:
            raise TypeError(f"x_q must be {self.x_dtype} (the layer's x_dtype), got {x_q.dtype}")
        if x_q.shape[1] != K:
            raise ValueError(f"x_q has {x_q.shape[1]} features, the layer expects {K}")

    def __call__(self, x_q, design=None):
        """The output codes, ``out_dtype`` (batch, out), for ``x_q`` (batch, in).

        ``design``: run that one (a name from :meth:`designs`); None: the one
        :func:`minicomp.kernels.dispatch.choose` measured fastest for this
        batch bucket on this kernel's first such call, remembered by the kernel.
        """
        N, K = self.shape
        if not (isinstance(x_q, np.ndarray) and x_q.ndim == 2 and x_q.shape[1] == K
                and x_q.dtype == self.x_dtype):
            self._check(x_q)
        B = x_q.shape[0]
        if self._signed_x:
            x = np.ascontiguousarray(x_q).view(np.uint8) ^ np.uint8(0x80)   # (B, in), x + 128
        else:
            x = x_q if x_q.flags.c_contiguous else np.ascontiguousarray(x_q)   # (B, in)
        out = np.empty((B, N), np.uint8)                                    # (B, out)
        if B == 0 or N == 0:
            return out.view(self.out_dtype)
        if self._prep is not None:
            x = self._prep(x, self.k4)                  # vnni: zero-padded to (B, in_pad)
        if design is not None:
            if design not in self._runs:
                raise ValueError(f"design must be one of {list(self._runs)}, got {design!r}")
            run = self._runs[design]
        elif dispatch.forcing() and dispatch.forced("int8"):   # a force, even a late one
            run = self._runs[dispatch.choose("int8", (self.path, *self.shape), {
                n: (lambda run=r: run(x, out)) for n, r in self._runs.items()})]
        else:
            run, key, watched = self._chosen.get(B) or self._choose(x, out)
            if watched is not None:                     # a parallel winner: watched
                t0 = time.perf_counter()
                run(x, out)
                if dispatch.observe("int8", key, time.perf_counter() - t0, watched):
                    self._chosen.clear()                # banned: decide again
                    self.decisions.pop(dispatch.batch_bucket(B), None)
                return out.view(self.out_dtype) if self._signed_out else out
        run(x, out)
        return out.view(self.out_dtype) if self._signed_out else out

    def _choose(self, x, out) -> tuple:
        """This batch's ``(run, key, watched name)``: its bucket's design, measured once
        (:mod:`~minicomp.kernels.dispatch`); a parallel one is watched (``observe``)."""
        B, bucket = x.shape[0], dispatch.batch_bucket(x.shape[0])
        key = (self.path, *self.shape, bucket, numba.get_num_threads())
        if bucket not in self.decisions:
            names = self.designs(B)
            candidates = {n: (lambda run=self._runs[n]: run(x, out)) for n in names}
            self.decisions[bucket] = dispatch.choose(
                "int8", key, candidates, threaded={n for n in names if n.endswith("parallel")})
        name = self.decisions[bucket]
        plan = (self._runs[name], key, name if name.endswith("parallel") else None)
        if len(self._chosen) < 64:                      # remembered per exact batch size
            self._chosen[B] = plan
        return plan


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
