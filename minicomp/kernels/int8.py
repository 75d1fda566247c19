r"""The int8 dense layer in Numba: int32 accumulation, fixed-point requantization.

Same signature and bit-exact results as
:func:`minicomp.kernels.reference.int8_linear` (Jacob et al. 2018):

.. math:: q_{y,bi} = \mathrm{clamp}\Big(Z_y + \big\lfloor (a_{bi}\, m_{0,i}
          + 2^{s_i-1}) / 2^{s_i} \big\rfloor\Big),\qquad
          a_{bi} = \sum_j x_{bj}\, w_{ij} + \underbrace{q_{b,i}
          - Z_x \textstyle\sum_j w_{ij}}_{\text{folded bias } \beta_i}.

Subtracting the zero point once per output (``β``, computed when the layer
is built) instead of once per product leaves a pure u8 × s8 dot product:
the shape the ``vpdpbusd`` instruction computes. int8 activations are moved
to uint8 by ``x + 128`` (a bit flip, ``x ^ 0x80``) with ``Z_x + 128``: the
differences ``x - Z_x`` are unchanged.

**Kernels** (:class:`Int8Linear` picks VNNI, else the blocked one; the
AVX2 ``"madd"`` kernel of :mod:`minicomp.kernels.madd` is opt-in):

- ``"vnni"`` -- a ``vpdpbusd`` micro-kernel on packed weights, emitted through
  a Numba ``@intrinsic`` (:mod:`minicomp.kernels.vnni`); only where the CPU
  has AVX-512 VNNI or AVX-VNNI.
- ``"blocked"`` -- plain Numba, any CPU: a 2 × 4 register block (2 batch rows
  × 4 outputs, 8 int32 accumulators) that uses each loaded ``x`` byte 4
  times and each ``w`` byte twice; LLVM vectorizes the ``k`` loop (with
  ``vpmaddwd``, or ``vpdpwssd`` where available). Every sum is wrapped back
  to int32 (``np.int32(...)``): otherwise Numba promotes to int64 and the
  loop runs at half width. The 8 accumulator vectors fit AVX2's 16
  registers; a 4 × 4 block (best with AVX-512's 32 registers, see the probe
  findings) spills there and ran 2× slower (2.0 vs 1.0 ms, 1024², B=32).

**int32 is exact.** The kernels add in wrapping int32 arithmetic, whose
result is the true sum modulo 2^32, so it is the true sum whenever that fits
in int32, even if partial sums wrap. The layer proves it fits for every
input when it is built: ``max|x - Z_x| · Σ_j |w_ij| + |q_{b,i}| < 2^31``
per output (max|x - Z_x| ≤ 255, |w| ≤ 128, so every layer with
in_features ≤ 65,536 and |bias| < 2^23 passes); otherwise it refuses with
``OverflowError``. Requantization runs in int64 (|a · m0| < 2^62).

Compilation: top-level ``@njit(cache=True)`` kernels, compiled on their
first call; serial below 2·10^6 multiply-adds per call, where starting the
thread pool (5--10 µs) costs more than it saves.

Deviations from the reference: a layer whose worst case could overflow
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
from numba import njit, prange

from .reference import _qrange, quantize_multiplier

INT32_MAX = 2**31 - 1
PARALLEL_MACS = 2_000_000       # multiply-adds per call above which threads pay off
PATHS = ("auto", "vnni", "vnni_emulated", "madd", "blocked")


@njit(inline="always")
def _requant_tile(acc, rows, b0, n0, cols, bias, m0, rnd, shift, zo, lo, hi, out):
    """``out[b0+r, n0+c] = requantize(acc[r, c] + bias[n0+c])``, stored as bytes."""
    for r in range(rows):
        for c in range(cols):
            i = n0 + c
            a = np.int64(np.int32(np.int64(acc[r, c]) + bias[i]))     # wraps mod 2^32
            y = ((a * m0[i] + rnd[i]) >> shift[i]) + zo                 # round half up
            out[b0 + r, i] = np.uint8(min(max(y, lo), hi) & 0xFF)      # int8: two's complement


@njit(inline="always")
def _block24(x, b0, W, i0, acc):
    """``acc[r, c] = Σ_k x[b0+r, k] W[i0+c, k]`` for r < 2, c < 4, in int32."""
    x0, x1 = x[b0], x[b0 + 1]                                           # (K,) each
    w0, w1, w2, w3 = W[i0], W[i0 + 1], W[i0 + 2], W[i0 + 3]             # (K,) each
    a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = np.int32(0)
    for k in range(x.shape[1]):
        p0, p1 = np.int32(x0[k]), np.int32(x1[k])
        q0, q1, q2, q3 = np.int32(w0[k]), np.int32(w1[k]), np.int32(w2[k]), np.int32(w3[k])
        a00 = np.int32(a00 + p0 * q0)
        a01 = np.int32(a01 + p0 * q1)
        a02 = np.int32(a02 + p0 * q2)
        a03 = np.int32(a03 + p0 * q3)
        a10 = np.int32(a10 + p1 * q0)
        a11 = np.int32(a11 + p1 * q1)
        a12 = np.int32(a12 + p1 * q2)
        a13 = np.int32(a13 + p1 * q3)
    acc[0, 0], acc[0, 1], acc[0, 2], acc[0, 3] = a00, a01, a02, a03
    acc[1, 0], acc[1, 1], acc[1, 2], acc[1, 3] = a10, a11, a12, a13


@njit(inline="always")
def _block14(x, b, W, i0, acc, r):
    """``acc[r, c] = Σ_k x[b, k] W[i0+c, k]`` for c < 4 (the batch tail)."""
    xb, w0, w1, w2, w3 = x[b], W[i0], W[i0 + 1], W[i0 + 2], W[i0 + 3]    # (K,) each
    a0 = a1 = a2 = a3 = np.int32(0)
    for k in range(x.shape[1]):
        p = np.int32(xb[k])
        a0 = np.int32(a0 + p * np.int32(w0[k]))
        a1 = np.int32(a1 + p * np.int32(w1[k]))
        a2 = np.int32(a2 + p * np.int32(w2[k]))
        a3 = np.int32(a3 + p * np.int32(w3[k]))
    acc[r, 0], acc[r, 1], acc[r, 2], acc[r, 3] = a0, a1, a2, a3


@njit(inline="always")
def _blocked_tiles(t0, t1, x, W, bias, m0, rnd, shift, zo, lo, hi, out):
    """Tiles ``t0..t1-1`` of 2 rows × 4 outputs (output-block-major)."""
    B, N = out.shape
    n_rb = (B + 1) // 2
    acc = np.empty((2, 4), np.int32)
    for t in range(t0, t1):
        i0, b0 = (t // n_rb) * 4, (t % n_rb) * 2
        rows, cols = min(2, B - b0), min(4, N - i0)
        if rows == 2:
            _block24(x, b0, W, i0, acc)
        else:
            _block14(x, b0, W, i0, acc, 0)
        _requant_tile(acc, rows, b0, i0, cols, bias, m0, rnd, shift, zo, lo, hi, out)


@njit(cache=True)
def _blocked_serial(x, W, bias, m0, rnd, shift, zo, lo, hi, out):
    B, N = out.shape
    _blocked_tiles(0, ((N + 3) // 4) * ((B + 1) // 2), x, W, bias, m0, rnd, shift, zo, lo, hi,
                   out)


@njit(cache=True, parallel=True)
def _blocked_parallel(x, W, bias, m0, rnd, shift, zo, lo, hi, out, threads):
    B, N = out.shape
    n = ((N + 3) // 4) * ((B + 1) // 2)
    chunks = min(n, threads)       # (numba.get_num_threads() here would block caching)
    for c in prange(chunks):                    # contiguous runs of tiles per thread
        _blocked_tiles(c * n // chunks, (c + 1) * n // chunks, x, W, bias, m0, rnd, shift, zo,
                       lo, hi, out)


def _int_in(name, value, lo, hi):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return int(value)


def _per_channel(name, value, n, lo, hi):
    v = np.asarray(value)
    if v.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers (see quantize_multiplier), got {v.dtype}")
    if v.shape not in ((), (n,)):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {v.shape}")
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {v.min()}..{v.max()}")
    return np.broadcast_to(v.astype(np.int64), (n,)).copy()            # (out,)


class Int8Linear:
    """An int8 dense layer, pre-packed: ``Int8Linear(...)(x_q)`` = ``int8_linear(x_q, ...)``.

    Parameters
    ----------
    w_q : ndarray of int8, shape (out, in)
    bias_q : ndarray of int32, shape (out,), or None (zeros)
    x_zero_point : int, in ``x_dtype``'s range
    m0, shift : int or ndarray (out,) of ints, from ``quantize_multiplier``;
        m0 in [1, 2^31), shift in [1, 62]
    out_zero_point : int, in ``out_dtype``'s range
    relu : bool
    out_dtype, x_dtype : uint8 or int8
    path : {"auto", "vnni", "vnni_emulated", "madd", "blocked"}
        "auto": VNNI when :func:`minicomp.kernels.vnni.cpu_vnni` finds it,
        else "madd" on a CPU with AVX2, else "blocked". "vnni_emulated" runs the VNNI kernel with the
        instruction replaced by generic vector code (for tests; slow).
        "madd": the AVX2 ``vpmaddwd`` kernel (:mod:`minicomp.kernels.madd`).
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
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> m0, shift = quantize_multiplier(0.5)
    >>> layer = Int8Linear(w_q, np.array([10, 0], np.int32), 128, m0, shift, 128,
    ...                    relu=True, path="blocked")
    >>> layer(np.array([[130, 128, 127]], np.uint8))     # acc = [9, -13]
    array([[133, 128]], dtype=uint8)
    """

    def __init__(self, w_q, bias_q, x_zero_point, m0, shift, out_zero_point, relu=False,
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
        if self.x_dtype not in (np.uint8, np.int8):
            raise TypeError(f"x_dtype must be uint8 or int8, got {self.x_dtype}")
        Z_x = _int_in("x_zero_point", x_zero_point, *_qrange(self.x_dtype))
        lo, hi = _qrange(self.out_dtype)
        self.zo = _int_in("out_zero_point", out_zero_point, lo, hi)
        self.lo, self.hi = (max(lo, self.zo) if relu else lo), hi
        self.m0 = _per_channel("m0", m0, N, 1, INT32_MAX)                   # (out,)
        self.shift = _per_channel("shift", shift, N, 1, 62)                 # (out,)
        self.rnd = np.int64(1) << (self.shift - 1)                          # (out,) 2^(s-1)
        Z_u = Z_x + 128 if self.x_dtype == np.int8 else Z_x                 # zero point of x ^ 0x80
        W64 = w_q.astype(np.int64)                                          # (out, in)
        worst = max(Z_u, 255 - Z_u) * np.abs(W64).sum(1) + np.abs(bias_q.astype(np.int64))
        if N and worst.max() > INT32_MAX:
            i = int(worst.argmax())
            raise OverflowError(f"int32 accumulator could overflow: output {i} has worst case "
                                f"{int(worst[i])} > 2^31 - 1 (in_features={K}); reduce "
                                "in_features, the weights or the bias")
        self.bias = (bias_q - Z_u * W64.sum(1)).astype(np.int32)            # (out,) mod 2^32
        self.shape, self.relu = (N, K), bool(relu)
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        from . import vnni
        if path == "auto":
            path = ("vnni" if vnni.cpu_vnni() else
                    "madd" if "avx2" in vnni.cpu_features() else "blocked")
        if path == "vnni" and not vnni.cpu_vnni():
            raise RuntimeError("path='vnni' needs a CPU with avx512_vnni or avx_vnni")
        if path == "madd" and "avx2" not in vnni.cpu_features():
            raise RuntimeError("path='madd' needs a CPU with avx2")
        self.path, self.parallel = path, parallel
        if path == "madd":
            from . import madd
            self.W, self.k4 = madd.pack(w_q)
        elif path == "blocked":
            self.W = np.zeros((-(-N // 4) * 4, K), np.int8)                 # (out_pad4, in)
            self.W[:N] = w_q
        else:
            self.W, self.k4 = vnni.pack(w_q)
            self.kind = vnni.cpu_vnni() if path == "vnni" else "emulated"

    def __call__(self, x_q):
        """The layer's output, ``out_dtype`` (batch, out), for ``x_q`` (batch, in)."""
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
        args = (self.bias, self.m0, self.rnd, self.shift, self.zo, self.lo, self.hi, out)
        if parallel:
            args += (numba.get_num_threads(),)
        if self.path == "blocked":
            (_blocked_parallel if parallel else _blocked_serial)(x, self.W, *args)
        elif self.path == "madd":
            from .madd import _madd_parallel, _madd_serial
            x16 = np.zeros((B, 4 * self.k4), np.int16)                      # (B, in_pad)
            x16[:, :K] = x
            (_madd_parallel if parallel else _madd_serial)(x16, self.W, self.k4, *args)
        else:
            from .vnni import KERNELS
            if K % 4:
                x_pad = np.zeros((B, 4 * self.k4), np.uint8)                # (B, in_pad)
                x_pad[:, :K] = x
                x = x_pad
            KERNELS[self.kind, bool(parallel)](x, self.W, self.k4, *args)
        return out.view(self.out_dtype)

    @classmethod
    def from_scales(cls, w_q, w_scale, bias_q, x_scale, x_zero_point, y_scale, y_zero_point,
                    **kwargs):
        """Build the layer from real scales: ``M_i = S_x S_{w,i} / S_y`` per output.

        Raises ``ValueError`` if a scale is not finite and positive.

        >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
        >>> layer = Int8Linear.from_scales(w_q, 0.1, None, 0.05, 128, 0.01, 128)
        >>> layer(np.array([[130, 128, 127]], np.uint8))  # M = 0.5: -1 -> 0, -13 -> -6
        array([[128, 122]], dtype=uint8)
        """
        for name, S in (("w_scale", w_scale), ("x_scale", x_scale), ("y_scale", y_scale)):
            S = np.asarray(S, dtype=np.float64)
            if not (np.isfinite(S).all() and (S > 0).all()):
                raise ValueError(f"{name} must be finite and positive, got {S.ravel()[:4]}")
        N = np.shape(w_q)[0]
        M = np.broadcast_to(x_scale * np.asarray(w_scale, np.float64) / y_scale, (N,))
        m0, shift = quantize_multiplier(M)                                  # (out,) each
        return cls(w_q, bias_q, x_zero_point, m0, shift, y_zero_point, **kwargs)


def int8_linear(x_q, x_zero_point, w_q, bias_q, m0, shift, out_zero_point,
                relu=False, out_dtype=np.uint8) -> np.ndarray:
    """The int8 dense layer, bit-exact with :func:`minicomp.kernels.reference.int8_linear`.

    Packs the weights on every call; build an :class:`Int8Linear` once for speed.

    Examples
    --------
    >>> x_q = np.array([[130, 128, 127]], np.uint8)
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> m0, shift = quantize_multiplier(0.5)
    >>> int8_linear(x_q, 128, w_q, np.array([10, 0], np.int32), m0, shift, 128, relu=True)
    array([[133, 128]], dtype=uint8)
    """
    x_q = np.asarray(x_q)
    if x_q.dtype not in (np.uint8, np.int8):
        raise TypeError(f"x_q must be uint8 or int8, got {x_q.dtype}")
    return Int8Linear(w_q, bias_q, x_zero_point, m0, shift, out_zero_point, relu=relu,
                      out_dtype=out_dtype, x_dtype=x_q.dtype)(x_q)
