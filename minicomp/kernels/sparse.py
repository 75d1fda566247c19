r"""Sparse dense-layer kernels: build CSR fast, then ``Y = X @ W.T + b`` in Numba.

Same functions, signatures and results (``allclose``) as the naive twins in
:mod:`minicomp.kernels.reference`:

.. math:: Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X_{b,\,\mathrm{indices}_k} + \mathrm{bias}_i .

Two designs, chosen by the batch size ``B`` (measured on 2-core Zen 4 and Zen 3 VMs,
see the project notes ``shared/references/kernel-probe-findings.md`` and
``minicomp bench kernels``):

- ``B < 4`` -- *row gather-dot*: for each output row, a dot product of its
  stored values with the gathered inputs ``x[indices[k]]``, with four
  independent accumulators (no serial add chain) and **unsigned** indices, so
  Numba emits no negative-index wrap-around code (2--3x faster). No
  ``fastmath`` reassociation here: it turns the loop into ``vgatherdps``,
  which is slower on this CPU.
- ``B >= 4`` -- *AXPY over the batch*: with the input transposed,
  ``X^T`` (in, B), output row ``i`` is ``Σ_k data_k · X^T[indices_k, :]``,
  contiguous vector updates across the batch. Outputs are computed in tiles
  of 16 and written as row segments (column stores into a row-major ``Y``
  whose width is a multiple of 1024 floats thrash the L1 cache). Threads
  split the batch, each transposing its own slice of ``X``; splitting the
  outputs instead measured slower here at every sparsity >= 90 % for batch
  4--256 (the probe preferred it below 128). Only the ``contract`` and
  ``reassoc`` fast-math flags are used, so NaN and inf propagate as in NumPy.

Below ``nnz · B < 20,000`` multiply-adds a serial kernel runs: starting the
thread pool (5--10 µs) would cost more than it saves.

Compilation: every kernel is a top-level ``@njit(cache=True)`` function
(cached closures from a factory can load the wrong variant), compiled on its
first call, never at import.

Layer: imports :mod:`minicomp.kernels.reference` only (and
:mod:`minicomp.validate`).

Deviations from the reference: ``X`` must be a float array (float32 is used
as is, float64 and float16 are cast -- a copy); a non-contiguous ``X`` is
copied; integer/bool ``X`` is refused. ``check=False`` skips the
O(nnz) validation of the CSR arrays (for layers that validated them once).

References
----------
Gale, T., Zaharia, M., Young, C., Elsen, E. (2020). Sparse GPU Kernels for
Deep Learning. SC20. arXiv:2006.10901 (row-wise CSR kernels, load balance).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .. import validate
from .reference import CSR, add_bias, index_dtype, kept_entries

__all__ = ["CSR", "KERNELS", "check_csr", "choose_kernel", "index_dtype", "kernel_arrays",
           "sparse_linear", "to_csr"]

SERIAL_WORK = 20_000      # nnz * B below which the serial kernel runs
ROWDOT_MAX_BATCH = 3      # B <= this uses the row gather-dot design
TILE = 16                 # outputs per tile in the AXPY design


def to_csr(W, mask=None) -> CSR:
    """Store ``W`` (or ``W * mask``) in CSR: vectorized, same result as the reference.

    Parameters
    ----------
    W : array_like of real numbers, shape (out, in)
    mask : array_like, shape (out, in), optional
        Entries where ``mask == 0`` are dropped even if ``W`` is nonzero.

    Returns
    -------
    CSR
        ``data`` float32, ``indices`` in the narrowest unsigned dtype holding
        ``in - 1``, ``indptr`` in the narrowest one holding ``nnz``.

    Raises
    ------
    TypeError
        ``W`` is not a real numeric array.
    ValueError
        ``W`` is not 2-D or holds NaN/inf, or ``mask`` does not have ``W``'s shape.

    Examples
    --------
    >>> A = to_csr([[0., 2., 0.], [1., 0., 3.]], mask=[[1, 1, 1], [0, 1, 1]])
    >>> A.data, A.indices, A.indptr
    (array([2., 3.], dtype=float32), array([1, 2], dtype=uint8), array([0, 1, 2], dtype=uint8))
    """
    W = np.asarray(W)
    if W.dtype.kind not in "fiub":
        raise TypeError(f"W must be a real numeric array, got dtype {W.dtype}")
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (out, in), got shape {W.shape}")
    validate.array(W, "W", nonempty=False, where="to_csr")          # NaN/inf: O(size), once
    keep = kept_entries(W, mask)                                    # (out, in) bool
    out_features, in_features = W.shape
    rows, cols = np.nonzero(keep)                                   # (nnz,), row-major order
    nnz = rows.size
    counts = np.bincount(rows, minlength=out_features)              # (out,)
    indptr = np.zeros(out_features + 1, dtype=index_dtype(nnz))     # (out + 1,)
    np.cumsum(counts, out=indptr[1:])
    return CSR(W[rows, cols].astype(np.float32),
               cols.astype(index_dtype(max(in_features - 1, 0))),
               indptr, (out_features, in_features))


# ---------------------------------------------------------------- batch < 4
@njit(inline="always", fastmath={"contract"}, boundscheck=False)   # inlined: 2x at 8 nnz/row
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


@njit(cache=True, boundscheck=False)
def _rowdot_serial(X, data, indices, indptr, Y):
    for b in range(X.shape[0]):
        x = X[b]
        for i in range(Y.shape[1]):
            Y[b, i] = _row_dot(data, indices, x, np.uintp(indptr[i]), np.uintp(indptr[i + 1]))


@njit(cache=True, parallel=True, boundscheck=False)
def _rowdot_parallel(X, data, indices, indptr, Y):
    for b in range(X.shape[0]):
        x = X[b]
        for i in prange(Y.shape[1]):
            Y[b, i] = _row_dot(data, indices, x, np.uintp(indptr[i]), np.uintp(indptr[i + 1]))


# --------------------------------------------------------------- batch >= 4
@njit(cache=True, fastmath={"contract", "reassoc"}, boundscheck=False)
def _axpy_tile(XT, data, indices, indptr, i0, i1, acc, Y, y0):
    """Outputs i0..i1 for the batch columns of ``XT`` (in, nb); rows y0.. of Y."""
    nb = XT.shape[1]
    for t in range(i1 - i0):
        a = acc[t]                                                  # (nb,)
        a[:] = 0.0
        lo, hi = np.uintp(indptr[i0 + t]), np.uintp(indptr[i0 + t + 1])
        k = lo
        while k + np.uintp(8) <= hi:                                # 8 nonzeros per pass
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
    for b in range(nb):                                             # row segments of Y
        for t in range(i1 - i0):
            Y[y0 + b, i0 + t] = acc[t, b]


@njit(cache=True, boundscheck=False)
def _axpy_serial(XT, data, indices, indptr, Y):
    acc = np.empty((TILE, XT.shape[1]), dtype=np.float32)          # (TILE, B)
    out_features = Y.shape[1]
    for i0 in range(0, out_features, TILE):
        _axpy_tile(XT, data, indices, indptr, i0, min(i0 + TILE, out_features), acc, Y, 0)


@njit(cache=True, parallel=True, boundscheck=False)
def _axpy_split_batch(X, data, indices, indptr, Y, chunks):
    batch, out_features = Y.shape
    step = (batch + chunks - 1) // chunks
    for c in prange(chunks):
        b0, b1 = c * step, min(c * step + step, batch)
        if b0 >= b1:
            continue
        XT = np.ascontiguousarray(X[b0:b1].T)                      # (in, nb), this thread's
        acc = np.empty((TILE, b1 - b0), dtype=np.float32)         # (TILE, nb)
        for i0 in range(0, out_features, TILE):
            _axpy_tile(XT, data, indices, indptr, i0, min(i0 + TILE, out_features),
                       acc, Y, b0)


# the compiled kernels by the names choose_kernel returns (benchmarks compile them all)
KERNELS = {"rowdot_serial": _rowdot_serial, "rowdot_parallel": _rowdot_parallel,
           "axpy_serial": _axpy_serial, "axpy_split_batch": _axpy_split_batch}


def choose_kernel(batch: int, nnz: int, threads: int | None = None) -> str:
    """Name of the kernel :func:`sparse_linear` runs for this size.

    >>> choose_kernel(1, 1000), choose_kernel(1, 300_000), choose_kernel(256, 300_000)
    ('rowdot_serial', 'rowdot_parallel', 'axpy_split_batch')
    """
    design = "rowdot" if batch <= ROWDOT_MAX_BATCH else "axpy"
    if nnz * batch < SERIAL_WORK:
        return design + "_serial"
    if (numba.get_num_threads() if threads is None else threads) == 1:
        return design + "_serial"
    return "rowdot_parallel" if design == "rowdot" else "axpy_split_batch"


def check_csr(csr: CSR) -> None:
    """Raise if ``csr`` is not a valid :class:`CSR` (dtypes, lengths, index bounds).

    Raises
    ------
    TypeError
        Not a CSR, ``data`` not float32 or indices not unsigned integers.
    ValueError
        Inconsistent lengths, a decreasing ``indptr`` or a column index
        ``>= in``.
    """
    if not isinstance(csr, CSR):
        raise TypeError(f"csr must be a CSR (see to_csr), got {type(csr).__name__}")
    data, indices, indptr = csr.data, csr.indices, csr.indptr
    if not all(isinstance(a, np.ndarray) for a in (data, indices, indptr)) or not isinstance(
            csr.shape, (tuple, list)) or len(csr.shape) != 2 or not all(
            isinstance(d, (int, np.integer)) and d >= 0 for d in csr.shape):
        raise TypeError(f"csr must hold ndarrays and a shape (out, in) of ints >= 0 (build it "
                        f"with to_csr), got shape={csr.shape!r}")
    out_features, in_features = csr.shape
    if data.dtype != np.float32:
        raise TypeError(f"csr.data must be float32, got {data.dtype}")
    for name, a in (("indices", indices), ("indptr", indptr)):
        if a.dtype.kind != "u":
            raise TypeError(f"csr.{name} must be unsigned integers, got {a.dtype}")
    if indptr.shape != (out_features + 1,):
        raise ValueError(f"csr.indptr must have shape ({out_features + 1},), got {indptr.shape}")
    if data.shape != indices.shape or data.ndim != 1 or int(indptr[-1]) != data.size \
            or int(indptr[0]) != 0:
        raise ValueError(f"csr arrays disagree: data {data.shape}, indices {indices.shape}, "
                         f"indptr[0]={indptr[0]}, indptr[-1]={indptr[-1]}")
    if np.any(indptr[1:] < indptr[:-1]):
        raise ValueError("csr.indptr must be non-decreasing")
    if indices.size and int(indices.max()) >= in_features:
        raise ValueError(f"csr.indices has column {int(indices.max())}, "
                         f"but the matrix has {in_features} columns")


def kernel_arrays(csr: CSR) -> CSR:
    """``csr`` with the index dtypes the kernels are compiled for.

    ``indptr`` becomes ``uintp`` (O(out) copy) and uint8 ``indices`` become
    uint16 (only layers with <= 256 inputs have them), so at most two index
    types (uint16, uint32) are ever compiled -- not one kernel per
    combination of index and pointer dtypes. No copy if already so.
    """
    if csr.indptr.dtype == np.uintp and csr.indices.dtype.itemsize >= 2:
        return csr                                                  # the fast path: no copy
    indices = csr.indices if csr.indices.dtype.itemsize >= 2 else csr.indices.astype(np.uint16)
    return csr._replace(indices=indices, indptr=csr.indptr.astype(np.uintp))


def _as_input(X, in_features: int) -> np.ndarray:
    X = validate.array(X, "X", finite=False, nonempty=False)       # numbers; NaN propagates
    if X.dtype.kind != "f":
        raise TypeError(f"X must be a float array (float32; float64 is cast), got {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (batch, in), got shape {X.shape}")
    if X.shape[1] != in_features:
        raise ValueError(f"X has {X.shape[1]} features, the CSR matrix expects {in_features}")
    return np.ascontiguousarray(X, dtype=np.float32)               # copies only if needed


def sparse_linear(X, csr: CSR, bias=None, *, check: bool = True) -> np.ndarray:
    r"""``Y = X @ W.T + bias`` with ``W`` in CSR, on Numba kernels.

    Parameters
    ----------
    X : array_like of float, shape (batch, in)
        float32 is used in place; float64/float16 are cast and a
        non-contiguous array is copied (both cost one pass over ``X``).
    csr : CSR, shape (out, in), e.g. from :func:`to_csr`
    bias : array_like, shape (out,), optional
    check : bool
        Validate ``csr`` (O(nnz)); pass False only for a CSR already checked
        with :func:`check_csr`, as :class:`minicomp.deploy.SparseDense` does
        (it also keeps the :func:`kernel_arrays` copy, so no per-call cast).

    Returns
    -------
    Y : ndarray, float32, shape (batch, out)

    Raises
    ------
    TypeError
        ``X`` is not a float array, or ``csr`` has wrong dtypes.
    ValueError
        Shape mismatch between ``X``, ``csr`` and ``bias``.

    Notes
    -----
    .. math:: Y_{b,i} = \sum_{k=p_i}^{p_{i+1}-1} d_k X_{b, c_k} + \mathrm{bias}_i

    with ``d, c, p`` = data, indices, indptr. Rows without entries give
    ``bias_i`` (or 0); an all-zero matrix gives ``Y = bias``. The kernel is
    picked by :func:`choose_kernel`.

    Examples
    --------
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]])
    >>> sparse_linear(np.array([[1., 1., 1.]]), to_csr(W), bias=[0.5, 0.])
    array([[2.5, 4. ]], dtype=float32)
    """
    if check:
        check_csr(csr)
    csr = kernel_arrays(csr)
    out_features, in_features = csr.shape
    X = _as_input(X, in_features)                                   # (B, in)
    batch = X.shape[0]
    Y = np.empty((batch, out_features), dtype=np.float32)           # (B, out), all written
    if not csr.nnz:
        Y.fill(0.0)
    elif batch and out_features:
        kernel = choose_kernel(batch, csr.nnz)
        args = (csr.data, csr.indices, csr.indptr, Y)
        if kernel == "rowdot_serial":
            _rowdot_serial(X, *args)
        elif kernel == "rowdot_parallel":
            _rowdot_parallel(X, *args)
        elif kernel == "axpy_split_batch":
            _axpy_split_batch(X, *args, numba.get_num_threads())
        else:
            _axpy_serial(np.ascontiguousarray(X.T), *args)         # X^T: (in, B)
    return add_bias(Y, bias)
