r"""The Numba designs of the CSR product; :mod:`minicomp.kernels.sparse` picks one per call.

Every design computes, for ``W`` in CSR (``data, indices, indptr``),

.. math:: Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X_{b,\,\mathrm{indices}_k}

(the naive twins: :func:`minicomp.kernels.reference.sparse_linear`, and
:func:`minicomp.kernels.reference_sparse.sparse_linear_fm` for the
feature-major layout). Which is fastest depends on the CPU, shape, batch
and sparsity, so :mod:`minicomp.kernels.dispatch` times them on the first
call (see the project notes ``shared/references/kernel-probe-findings.md``):

- *row gather-dot* (``rowdot_*``, small batches): output ``i`` is a dot
  product of its stored values with the gathered inputs ``x[indices[k]]``,
  with 4 independent accumulators (no serial add chain; 8 measured no
  faster) and **unsigned** indices (uint16 up to 65,536 inputs), so Numba
  emits no negative-index wrap-around code (2--3x faster). ``rowdot_vec_*``
  is the same dot as one loop with ``fastmath`` reassociation, which the
  compiler turns into vector gathers (``vgatherdps``; the flags sit on the
  kernel, as Numba drops an inlined callee's): which is faster depends on
  the CPU's gathers and the row length (on very sparse rows the vector
  loop's set-up dominates), so dispatch measures both
  (``minicomp bench kernels --explain`` prints their times).
- *AXPY over the batch* (``axpy_*``, larger batches): with the input
  transposed, ``X^T`` (in, B), output row ``i`` is
  ``Σ_k data_k · X^T[indices_k, :]``, contiguous vector updates across the
  batch, 8 nonzeros per pass. Outputs are computed in tiles of 16 and
  written to a row-major ``Y`` as row segments (column stores into a ``Y``
  whose width is a multiple of 1024 floats thrash the L1 cache). Threads
  split either the batch (``axpy_split_batch``: each transposes its slice,
  ``cols`` batch columns at a time, so that its ``X^T`` block stays in L2:
  :func:`batch_cols`) or the outputs
  (``axpy_split_out``: one shared ``X^T``).
- *feature-major* (``fm_*``): ``X^T`` in, ``Y^T`` (out, B) out, the layout
  an inference model keeps between layers: no transpose at all, each
  output row accumulated in place.

Parallel designs run one parallel region over contiguous chunks (a thread
start costs 5--10 µs, so on small layers the serial ones win). The
``rowdot_vec_*``, AXPY and feature-major kernels use the fast-math flags
``contract`` and ``reassoc`` (fused multiply-adds, and the compiler may
reorder a sum; NaN and inf still propagate as in NumPy); Numba lowers an
inlined helper with the flags of the kernel being compiled, not its own,
so the flags sit on the kernels. The 4-accumulator row-dot has none (its
order is the one written). The summation order differs between designs
(results agree to rounding, each is tested against the twin).

Compilation: top-level ``@njit(cache=True)`` functions (cached closures
from a factory can load the wrong variant), compiled on first call.
Shape contract: ``X`` (B, in) float32 C-contiguous, ``XT`` (in, B),
``data`` float32, ``indices`` uint16/uint32, ``indptr`` uintp, ``Y``
float32 (B, out) or ``YT`` (out, B), fully written.

Start-up: Numba imports ``scipy.linalg`` (0.3 s, plus NumPy's f2py through
it) the first time it loads *any* compiled function, only to learn whether
``np.dot`` can be compiled; :func:`defer_scipy_import` (run at import)
answers that from the installed packages instead, and ``scipy.linalg`` is
imported when a kernel really uses BLAS. Warm import + first call went from
about 1.1 s to 0.4 s.

Layer: NumPy and Numba; of the kernel files only
:mod:`minicomp.kernels.dispatch_cache` (the L2 size, :func:`batch_cols`).
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
from numba import njit, prange

from .dispatch_cache import cache_bytes

TILE = 16                 # outputs per tile in the AXPY designs
FAST = {"contract", "reassoc"}      # fast-math flags of the vector row-dot, AXPY and
                                    # feature-major kernels (FMA, reordered sums)


def defer_scipy_import() -> bool:
    """Import ``numba.np.arraymath`` without the ``scipy.linalg`` import it makes.

    Numba's ``arraymath`` sets ``_HAVE_BLAS`` at import by calling
    ``numba.np.linalg.ensure_blas()``, which imports ``scipy.linalg``. Here
    that call is a no-op while ``arraymath`` is imported, ``_HAVE_BLAS`` is
    set from whether SciPy is installed, and the real function is put back
    (np.dot in a kernel still imports SciPy's BLAS when compiled). Returns
    whether it did so: False if ``arraymath`` was already imported or the
    Numba internals differ (then nothing is changed).
    """
    if "numba.np.arraymath" in sys.modules:
        return False
    try:
        import numba.np.linalg as linalg
        real = linalg.ensure_blas
    except (ImportError, AttributeError):
        return False
    linalg.ensure_blas = lambda: None
    try:
        import numba.np.arraymath as arraymath
    finally:
        linalg.ensure_blas = real
    if not hasattr(arraymath, "_HAVE_BLAS"):
        return False
    arraymath.ensure_blas = real
    arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None
    return True


defer_scipy_import()


def batch_cols(in_features: int, l2: int | None = None) -> int:
    """Batch columns per ``X^T`` block of ``axpy_split_batch``: a block fills at most half
    of this core's L2 (:func:`~minicomp.kernels.dispatch_cache.cache_bytes`; 1 MiB if
    unknown), a multiple of 16 floats and at least 16; the gathered rows then come from
    L2, not the next level.

    >>> batch_cols(4096, l2=2 << 20), batch_cols(784, l2=2 << 20), batch_cols(4096, l2=1 << 18)
    (64, 320, 16)
    """
    l2 = (cache_bytes(2) or 1 << 20) if l2 is None else l2
    return max(16, l2 // 2 // (4 * max(in_features, 1)) // 16 * 16)


def design_args(name: str, threads: int, in_features: int) -> tuple:
    """What design ``name`` takes after ``Y``: a parallel one the chunk count ``threads``,
    ``axpy_split_batch`` also its column block (:func:`batch_cols`); every caller that
    runs a design directly builds its arguments here.

    >>> design_args("rowdot_serial", 2, 784), design_args("axpy_split_batch", 2, 4096)[0]
    ((), 2)
    """
    if name.endswith("serial"):
        return ()
    return (threads, batch_cols(in_features)) if name == "axpy_split_batch" else (threads,)


# ---------------------------------------------------------------- row gather-dot
@njit(inline="always", boundscheck=False)
def _row_dot(data, indices, x, lo, hi):
    """Σ_k data[k] · x[indices[k]] over k in [lo, hi), four accumulators."""
    a0 = a1 = a2 = a3 = np.float32(0.0)
    k = lo
    while k + np.uintp(4) <= hi:
        a0 += data[k] * x[indices[k]]
        a1 += data[k + np.uintp(1)] * x[indices[k + np.uintp(1)]]
        a2 += data[k + np.uintp(2)] * x[indices[k + np.uintp(2)]]
        a3 += data[k + np.uintp(3)] * x[indices[k + np.uintp(3)]]
        k += np.uintp(4)
    while k < hi:
        a0 += data[k] * x[indices[k]]
        k += np.uintp(1)
    return (a0 + a1) + (a2 + a3)


@njit(inline="always", boundscheck=False)
def _rowdot_rows(X, data, indices, indptr, Y, i0, i1):
    for b in range(X.shape[0]):
        x = X[b]
        for i in range(i0, i1):
            Y[b, i] = _row_dot(data, indices, x, np.uintp(indptr[i]), np.uintp(indptr[i + 1]))


@njit(cache=True, boundscheck=False)
def rowdot_serial(X, data, indices, indptr, Y):
    """Row gather-dot, one thread; writes ``Y`` (B, out)."""
    _rowdot_rows(X, data, indices, indptr, Y, 0, Y.shape[1])


@njit(cache=True, parallel=True, boundscheck=False)
def rowdot_parallel(X, data, indices, indptr, Y, chunks):
    """Row gather-dot, ``chunks`` contiguous runs of outputs in one parallel region."""
    n = Y.shape[1]
    for c in prange(chunks):
        _rowdot_rows(X, data, indices, indptr, Y, c * n // chunks, (c + 1) * n // chunks)


@njit(inline="always", boundscheck=False)       # the flags are on its kernels
def _row_dot_vec(data, indices, x, lo, hi):
    """Σ_k data[k] · x[indices[k]], reassociated: the compiler may vectorize (gathers)."""
    acc = np.float32(0.0)
    for k in range(lo, hi):
        acc += data[k] * x[indices[k]]
    return acc


@njit(inline="always", boundscheck=False)
def _rowdot_vec_rows(X, data, indices, indptr, Y, i0, i1):
    for b in range(X.shape[0]):
        x = X[b]
        for i in range(i0, i1):
            Y[b, i] = _row_dot_vec(data, indices, x, np.uintp(indptr[i]), np.uintp(indptr[i + 1]))


# fastmath on the kernel itself: Numba's inline="always" drops the inlined callee's flags
@njit(cache=True, fastmath=FAST, boundscheck=False)
def rowdot_vec_serial(X, data, indices, indptr, Y):
    """Row gather-dot as one reassociated loop (vector gathers where the CPU has fast ones)."""
    _rowdot_vec_rows(X, data, indices, indptr, Y, 0, Y.shape[1])


@njit(cache=True, parallel=True, fastmath=FAST, boundscheck=False)
def rowdot_vec_parallel(X, data, indices, indptr, Y, chunks):
    """:func:`rowdot_vec_serial` over ``chunks`` contiguous runs of outputs."""
    n = Y.shape[1]
    for c in prange(chunks):
        _rowdot_vec_rows(X, data, indices, indptr, Y, c * n // chunks, (c + 1) * n // chunks)


# ---------------------------------------------------------------- AXPY over the batch
@njit(inline="always", boundscheck=False)
def _axpy_row(XT, data, indices, lo, hi, a):
    """``a[:] = Σ_k data[k] · XT[indices[k], :]`` over k in [lo, hi)."""
    nb = a.shape[0]
    a[:] = 0.0
    k = lo
    while k + np.uintp(8) <= hi:                                    # 8 nonzeros per pass
        v0, v1 = data[k], data[k + np.uintp(1)]
        v2, v3 = data[k + np.uintp(2)], data[k + np.uintp(3)]
        v4, v5 = data[k + np.uintp(4)], data[k + np.uintp(5)]
        v6, v7 = data[k + np.uintp(6)], data[k + np.uintp(7)]
        x0, x1 = XT[indices[k]], XT[indices[k + np.uintp(1)]]
        x2, x3 = XT[indices[k + np.uintp(2)]], XT[indices[k + np.uintp(3)]]
        x4, x5 = XT[indices[k + np.uintp(4)]], XT[indices[k + np.uintp(5)]]
        x6, x7 = XT[indices[k + np.uintp(6)]], XT[indices[k + np.uintp(7)]]
        for b in range(nb):
            a[b] += ((v0 * x0[b] + v1 * x1[b]) + (v2 * x2[b] + v3 * x3[b])) \
                + ((v4 * x4[b] + v5 * x5[b]) + (v6 * x6[b] + v7 * x7[b]))
        k += np.uintp(8)
    while k < hi:
        v0, x0 = data[k], XT[indices[k]]
        for b in range(nb):
            a[b] += v0 * x0[b]
        k += np.uintp(1)


@njit(inline="always", boundscheck=False)
def _axpy_tiles(XT, data, indices, indptr, t0, t1, acc, Y, y0):
    """Output tiles t0..t1-1 for the batch columns of ``XT`` (in, nb); rows y0.. of Y."""
    out_features = Y.shape[1]
    for t in range(t0, t1):
        i0 = t * TILE
        i1 = min(i0 + TILE, out_features)
        for i in range(i0, i1):
            _axpy_row(XT, data, indices, np.uintp(indptr[i]), np.uintp(indptr[i + 1]),
                      acc[i - i0])
        _transpose(acc, 0, i1 - i0, 0, XT.shape[1], Y[y0:, i0:i1])  # row segments of Y


@njit(inline="always", boundscheck=False)
def _transpose(X, b0, b1, j0, j1, XT):
    """``XT[j0:j1, :b1-b0] = X[b0:b1, j0:j1].T``, 8 rows of ``X`` at a time.

    Each ``j`` reads one float of 8 rows (8 streams along their rows) and writes 8
    contiguous floats of ``XT[j]`` (one vector store); the last rows one by one.
    """
    b = b0
    while b + 8 <= b1:
        r0, r1, r2, r3 = X[b], X[b + 1], X[b + 2], X[b + 3]
        r4, r5, r6, r7 = X[b + 4], X[b + 5], X[b + 6], X[b + 7]
        o = b - b0
        for j in range(j0, j1):
            t = XT[j]
            t[o], t[o + 1], t[o + 2], t[o + 3] = r0[j], r1[j], r2[j], r3[j]
            t[o + 4], t[o + 5], t[o + 6], t[o + 7] = r4[j], r5[j], r6[j], r7[j]
        b += 8
    for b in range(b, b1):
        for j in range(j0, j1):
            XT[j, b - b0] = X[b, j]


@njit(cache=True, fastmath=FAST, boundscheck=False)
def axpy_serial(X, data, indices, indptr, Y):
    """AXPY design, one thread: transpose ``X`` once, then every tile."""
    XT = np.empty((X.shape[1], X.shape[0]), np.float32)             # (in, B)
    _transpose(X, 0, X.shape[0], 0, X.shape[1], XT)
    acc = np.empty((TILE, X.shape[0]), np.float32)                  # (TILE, B)
    _axpy_tiles(XT, data, indices, indptr, 0, (Y.shape[1] + TILE - 1) // TILE, acc, Y, 0)


@njit(cache=True, parallel=True, fastmath=FAST, boundscheck=False)
def axpy_split_batch(X, data, indices, indptr, Y, chunks, cols):
    """AXPY design, threads split the batch; each transposes its own slice of ``X``,
    ``cols`` columns at a time (0: the whole slice at once)."""
    batch = X.shape[0]
    tiles = (Y.shape[1] + TILE - 1) // TILE
    for c in prange(chunks):
        b0, b1 = c * batch // chunks, (c + 1) * batch // chunks
        nb = b1 - b0 if cols <= 0 else min(cols, b1 - b0)
        if nb > 0:
            XT = np.empty((X.shape[1], nb), np.float32)             # (in, nb), this thread's
            acc = np.empty((TILE, nb), np.float32)                  # (TILE, nb)
            for s0 in range(b0, b1, nb):                            # column blocks
                s1 = min(s0 + nb, b1)
                XTs = XT[:, :s1 - s0]
                _transpose(X, s0, s1, 0, X.shape[1], XTs)
                _axpy_tiles(XTs, data, indices, indptr, 0, tiles, acc[:, :s1 - s0], Y, s0)


@njit(cache=True, parallel=True, fastmath=FAST, boundscheck=False)
def axpy_split_out(X, data, indices, indptr, Y, chunks):
    """AXPY design, threads split the output tiles; one shared ``X^T``."""
    batch, n_in = X.shape
    XT = np.empty((n_in, batch), np.float32)                        # (in, B), shared
    for c in prange(chunks):                                        # transpose: feature runs
        _transpose(X, 0, batch, c * n_in // chunks, (c + 1) * n_in // chunks, XT)
    tiles = (Y.shape[1] + TILE - 1) // TILE
    for c in prange(chunks):
        acc = np.empty((TILE, batch), np.float32)                   # (TILE, B), this thread's
        _axpy_tiles(XT, data, indices, indptr, c * tiles // chunks, (c + 1) * tiles // chunks,
                    acc, Y, 0)


# ---------------------------------------------------------------- feature-major
@njit(inline="always", boundscheck=False)
def _fm_rows(XT, data, indices, indptr, YT, i0, i1):
    for i in range(i0, i1):
        _axpy_row(XT, data, indices, np.uintp(indptr[i]), np.uintp(indptr[i + 1]), YT[i])


@njit(cache=True, fastmath=FAST, boundscheck=False)
def fm_serial(XT, data, indices, indptr, YT):
    """Feature-major, one thread: ``YT`` (out, B) from ``XT`` (in, B)."""
    _fm_rows(XT, data, indices, indptr, YT, 0, YT.shape[0])


@njit(cache=True, parallel=True, fastmath=FAST, boundscheck=False)
def fm_parallel(XT, data, indices, indptr, YT, chunks):
    """Feature-major, ``chunks`` contiguous runs of output rows in one parallel region."""
    n = YT.shape[0]
    for c in prange(chunks):
        _fm_rows(XT, data, indices, indptr, YT, c * n // chunks, (c + 1) * n // chunks)
