r"""Sparse dense-layer kernels: build CSR fast, then ``Y = X @ W.T + b`` in Numba.

Same functions, signatures and results (``allclose``) as the naive twins in
:mod:`minicomp.kernels.reference` (and :mod:`minicomp.kernels.reference_sparse`
for the feature-major :func:`sparse_linear_fm`):

.. math:: Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X_{b,\,\mathrm{indices}_k} + \mathrm{bias}_i .

The designs (row gather-dot, AXPY over the batch with 16-output tiles,
serial or parallel; the feature-major ones) are the Numba functions of
:mod:`minicomp.kernels.sparse_designs`. Which one runs is decided by
measurement (:func:`minicomp.kernels.dispatch.choose`, family ``"sparse"``
or ``"sparse_fm"``): the first call on a new (shape, batch bucket, sparsity
bucket, threads, index width) times the candidates of :func:`candidates`
(:data:`~minicomp.kernels.dispatch.BUDGET` seconds) and remembers the winner,
on disk too. Constants tuned
on one CPU (the serial/parallel threshold, where AXPY overtakes row-dot)
were wrong on the next; ``MINICOMP_KERNEL=sparse:NAME`` forces one. Each
call's time is reported (:func:`~minicomp.kernels.dispatch.observe`): a
parallel design that keeps stalling on a busy machine is dropped.

Compilation: every design is compiled on its first call, never at import
(``minicomp warmup`` compiles them all ahead of time).

Layer: imports :mod:`minicomp.kernels.reference`,
:mod:`minicomp.kernels.dispatch`, :mod:`minicomp.kernels.sparse_designs`
(and :mod:`minicomp.validate`).

Deviations from the reference: ``X`` must be a float array (float32 is used
as is, float64 and float16 are cast -- a copy); a non-contiguous ``X`` is
copied; integer/bool ``X`` is refused. ``check=False`` skips the
O(nnz) validation of the CSR arrays (for layers that validated them once).
The designs sum in different orders: results agree to rounding, not bits.

References
----------
Gale, T., Zaharia, M., Young, C., Elsen, E. (2020). Sparse GPU Kernels for
Deep Learning. SC20. arXiv:2006.10901 (row-wise CSR kernels, load balance).
"""
from __future__ import annotations

import time

import numba
import numpy as np

from .. import validate
from . import dispatch, sparse_designs
from .reference import CSR, add_bias, index_dtype, kept_entries

__all__ = ["CSR", "KERNELS", "candidates", "check_csr", "choose_kernel", "index_dtype",
           "kernel_arrays", "sparse_linear", "sparse_linear_fm", "to_csr"]

ROWDOT_MAX_BATCH = 32     # row gather-dot is a candidate up to this batch
AXPY_MIN_BATCH = 2        # AXPY designs are candidates from this batch

# the compiled designs by name (benchmarks and `minicomp warmup` compile them all)
KERNELS = {name: getattr(sparse_designs, name) for name in (
    "rowdot_serial", "rowdot_parallel", "axpy_serial", "axpy_split_batch", "axpy_split_out",
    "fm_serial", "fm_parallel")}
PARALLEL = frozenset(n for n in KERNELS if not n.endswith("serial"))   # take a chunk count


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


def candidates(batch: int, nnz: int = 0, threads: int | None = None,
               layout: str = "row") -> list[str]:
    """The designs timed for this call, in preference order (the first wins near-ties).

    ``layout="row"``: ``X`` (B, in) in, ``Y`` (B, out) out -- row gather-dot
    up to batch 32, AXPY from batch 2 (first from batch 4); ``"feature"``:
    ``X^T`` in, ``Y^T`` out. Serial designs come first: a parallel one must
    be measurably faster (:data:`minicomp.kernels.dispatch.MARGIN`), else it
    would hold a second core of a shared machine for nothing; parallel ones
    only with more than one Numba thread. (``nnz`` is kept for the old
    signature; the measurement now decides what it used to.)

    >>> candidates(1, threads=2)
    ['rowdot_serial', 'rowdot_parallel']
    >>> candidates(256, threads=2)
    ['axpy_serial', 'axpy_split_batch', 'axpy_split_out']
    """
    threads = numba.get_num_threads() if threads is None else threads
    if layout == "feature":
        names = ["fm_serial", "fm_parallel"] if batch > 1 else [
            "rowdot_serial", "rowdot_parallel"]
    else:
        rowdot = ["rowdot_serial", "rowdot_parallel"] if batch <= ROWDOT_MAX_BATCH else []
        axpy = ["axpy_serial", "axpy_split_batch", "axpy_split_out"] \
            if batch >= AXPY_MIN_BATCH else []
        names = (axpy + rowdot) if batch >= 4 else (rowdot + axpy)
        names = [n for n in names if n not in PARALLEL] + [n for n in names if n in PARALLEL]
    return [n for n in names if threads > 1 or n not in PARALLEL]


def choose_kernel(batch: int, nnz: int = 0, threads: int | None = None) -> str:
    """The design tried first for this size: the prior, before any measurement.

    :func:`sparse_linear` runs the design :func:`minicomp.kernels.dispatch.choose`
    measured fastest among :func:`candidates`; this is the first of them.

    >>> choose_kernel(1), choose_kernel(256)
    ('rowdot_serial', 'axpy_serial')
    """
    return candidates(batch, nnz, threads)[0]


def _run(name: str, X, csr: CSR, Y, threads: int) -> None:
    if name in PARALLEL:
        KERNELS[name](X, csr.data, csr.indices, csr.indptr, Y, threads)
    else:
        KERNELS[name](X, csr.data, csr.indices, csr.indptr, Y)


def _design(family: str, X, csr: CSR, Y, layout: str, threads: int) -> tuple[str, tuple]:
    """The design to run and its dispatch key (measured on the bucket's first call)."""
    out_features, in_features = csr.shape
    batch = X.shape[0] if layout == "row" else X.shape[1]
    key = (out_features, in_features, dispatch.batch_bucket(batch),
           dispatch.density_bucket(csr.nnz, out_features * in_features), threads,
           csr.indices.dtype.itemsize)
    name = dispatch.remembered(family, key)
    if name is None:
        if layout == "feature" and batch == 1:
            X, Y = X.reshape(1, -1), Y.reshape(1, -1)        # (in, 1) is (1, in) in memory
        name = dispatch.choose(family, key, {
            n: (lambda n=n: _run(n, X, csr, Y, threads))
            for n in candidates(batch, csr.nnz, threads, layout)})
    return name, key


def _run_watched(family: str, X, csr: CSR, Y, layout: str) -> None:
    """Run the chosen design; report its time (a design that keeps stalling is dropped)."""
    threads = numba.get_num_threads()
    name, key = _design(family, X, csr, Y, layout, threads)
    if layout == "feature" and name.startswith("rowdot"):           # batch 1: (in, 1) = (1, in)
        X, Y = X.reshape(1, -1), Y.reshape(1, -1)
    t0 = time.perf_counter()
    _run(name, X, csr, Y, threads)
    dispatch.observe(family, key, time.perf_counter() - t0)


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


def _as_input(X, features: int, axis: int, name: str = "X") -> np.ndarray:
    X = validate.array(X, name, finite=False, nonempty=False)      # numbers; NaN propagates
    if X.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array (float32; float64 is cast), got {X.dtype}")
    if X.ndim != 2:
        shape = "(batch, in)" if axis == 1 else "(in, batch)"
        raise ValueError(f"{name} must be 2-D {shape}, got shape {X.shape}")
    if X.shape[axis] != features:
        raise ValueError(f"{name} has {X.shape[axis]} features, the CSR matrix expects "
                         f"{features}")
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
        Shape mismatch between ``X``, ``csr`` and ``bias``; ``MINICOMP_KERNEL``
        forces a sparse design that is not a candidate here.

    Notes
    -----
    .. math:: Y_{b,i} = \sum_{k=p_i}^{p_{i+1}-1} d_k X_{b, c_k} + \mathrm{bias}_i

    with ``d, c, p`` = data, indices, indptr. Rows without entries give
    ``bias_i`` (or 0); an all-zero matrix gives ``Y = bias``. The design is
    measured once per bucket (family ``"sparse"``, see the module doc).

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
    X = _as_input(X, in_features, 1)                                # (B, in)
    Y = np.empty((X.shape[0], out_features), dtype=np.float32)      # (B, out), all written
    if not csr.nnz:
        Y.fill(0.0)
    elif X.shape[0] and out_features:
        _run_watched("sparse", X, csr, Y, "row")
    return add_bias(Y, bias)


def sparse_linear_fm(XT, csr: CSR, bias=None, *, check: bool = True) -> np.ndarray:
    r"""Feature-major ``Y^T = W X^T + bias``: activations (in, batch) in, (out, batch) out.

    The layout an inference model can keep between layers, so no layer
    transposes (:func:`sparse_linear` transposes ``X`` into its AXPY
    designs and back). Same arguments as :func:`sparse_linear`, with ``XT``
    of shape (in, batch); the naive twin is
    :func:`minicomp.kernels.reference_sparse.sparse_linear_fm`.

    Returns
    -------
    YT : ndarray, float32, shape (out, batch)

    Examples
    --------
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]])
    >>> sparse_linear_fm(np.array([[1.], [1.], [1.]]), to_csr(W), bias=[0.5, 0.])
    array([[2.5],
           [4. ]], dtype=float32)
    """
    if check:
        check_csr(csr)
    csr = kernel_arrays(csr)
    out_features, in_features = csr.shape
    XT = _as_input(XT, in_features, 0, "XT")                        # (in, B)
    YT = np.empty((out_features, XT.shape[1]), dtype=np.float32)    # (out, B), all written
    if not csr.nnz:
        YT.fill(0.0)
    elif XT.shape[1] and out_features:
        _run_watched("sparse_fm", XT, csr, YT, "feature")
    if bias is not None:
        add_bias(YT.T, bias)                                        # (B, out) view, in place
    return YT
