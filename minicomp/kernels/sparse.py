r"""Sparse dense-layer kernels: build CSR fast, then ``Y = X @ W.T + b`` in Numba.

Same functions, signatures and results (``allclose``) as the naive twins in
:mod:`minicomp.kernels.reference` (and :mod:`minicomp.kernels.reference_sparse`
for the feature-major :func:`sparse_linear_fm`):

.. math:: Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X_{b,\,\mathrm{indices}_k} + \mathrm{bias}_i .

The designs (row gather-dot, AXPY over the batch in 16-output tiles, serial
or parallel; feature-major) are :mod:`minicomp.kernels.sparse_designs`'s.
Which runs is measured (:func:`minicomp.kernels.dispatch.choose`, family
``"sparse"`` or ``"sparse_fm"``) on the first call per (shape, batch bucket,
sparsity bucket, threads, index width) among :func:`candidates`, and
remembered, on disk too: constants tuned on one CPU were wrong on the
next. ``MINICOMP_KERNEL=sparse:NAME`` forces one. A parallel winner's calls
are timed (:func:`~minicomp.kernels.dispatch.observe`): one that stalls on a
busy machine is dropped. :class:`SparseKernel` keeps each batch's design
(the hot path of :class:`minicomp.deploy.SparseDense`). Designs compile on
first call, never at import (``minicomp warmup`` compiles them all).

Layer: imports kernels.reference, .dispatch, .sparse_designs and validate.

Deviations from the reference: ``X`` must be a float array (float32 as is,
float64/float16 cast, non-contiguous copied; integers refused);
``check=False`` skips the O(nnz) CSR validation (for layers that checked
it once). Designs sum in different orders: results agree to rounding.

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
from .sparse_designs import batch_cols, design_args

_F32 = np.dtype(np.float32)
from .reference import CSR, add_bias, index_dtype, kept_entries

__all__ = ["CSR", "KERNELS", "SparseKernel", "batch_cols", "candidates", "check_csr",
           "choose_kernel", "design_args", "index_dtype", "kernel_arrays", "sparse_linear", "sparse_linear_fm", "to_csr"]

ROWDOT_MAX_BATCH = 32     # row gather-dot is a candidate up to this batch
AXPY_MIN_BATCH = 2        # AXPY designs are candidates from this batch

# the compiled designs by name (benchmarks and `minicomp warmup` compile them all)
KERNELS = {name: getattr(sparse_designs, name) for name in (
    "rowdot_serial", "rowdot_parallel", "rowdot_vec_serial", "rowdot_vec_parallel",
    "axpy_serial", "axpy_split_batch", "axpy_split_out", "fm_serial", "fm_parallel")}
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
    """The designs timed for this call, in preference order (the first wins exact ties).

    ``layout="row"``: row gather-dot up to batch 32 (its vectorized form
    below batch 4), AXPY from batch 2 (first from batch 4); ``"feature"``:
    the feature-major ones. The fastest wins, but a parallel one must beat each
    serial one by :data:`~minicomp.kernels.dispatch.MARGIN` (``threaded``), else
    it holds a second core for nothing; none with 1 thread (``nnz`` unused).

    >>> candidates(1, threads=2)
    ['rowdot_serial', 'rowdot_vec_serial', 'rowdot_parallel', 'rowdot_vec_parallel']
    >>> candidates(256, threads=2)
    ['axpy_serial', 'axpy_split_batch', 'axpy_split_out']
    """
    threads = numba.get_num_threads() if threads is None else threads
    rowdot = ["rowdot_serial", "rowdot_parallel"] + (["rowdot_vec_serial", "rowdot_vec_parallel"]
                                                     if batch < 4 else [])
    if layout == "feature":
        names = ["fm_serial", "fm_parallel"] if batch > 1 else rowdot
    else:
        rowdot = rowdot if batch <= ROWDOT_MAX_BATCH else []
        axpy = ["axpy_serial", "axpy_split_batch", "axpy_split_out"] \
            if batch >= AXPY_MIN_BATCH else []
        names = (axpy + rowdot) if batch >= 4 else (rowdot + axpy)
        names = [n for n in names if n not in PARALLEL] + [n for n in names if n in PARALLEL]
    return [n for n in names if threads > 1 or n not in PARALLEL]


def choose_kernel(batch: int, nnz: int = 0, threads: int | None = None) -> str:
    """The first of :func:`candidates`: the prior, before any measurement.

    >>> choose_kernel(1), choose_kernel(256)
    ('rowdot_serial', 'axpy_serial')
    """
    return candidates(batch, nnz, threads)[0]


class SparseKernel:
    """``Y = X @ W.T`` for one CSR matrix, prepared once: the hot path of a sparse layer.

    ``SparseKernel(csr)(X)`` equals ``sparse_linear(X, csr)`` (no bias). The
    kernel's index dtypes (:func:`kernel_arrays`) are made once, and each
    batch size's design is found once (its bucket's, measured by
    :func:`minicomp.kernels.dispatch.choose`), then called directly: about a
    microsecond of Python per call (chapter 07 measures it), which decides
    batch 1 and very sparse layers. A stalling design (:func:`~minicomp.kernels.dispatch.observe`)
    is dropped; ``MINICOMP_KERNEL`` is read on every call, Numba's thread
    count when a batch size is first seen.

    Parameters
    ----------
    csr : CSR, shape (out, in)
    layout : {"row", "feature"}
        ``"row"``: ``X`` (B, in) -> ``Y`` (B, out); ``"feature"``: ``XT``
        (in, B) -> ``YT`` (out, B), as :func:`sparse_linear_fm`.
    check : bool
        Validate ``csr`` once (:func:`check_csr`).

    Examples
    --------
    >>> kernel = SparseKernel(to_csr([[0., 2., 0.], [1., 0., 3.]]))
    >>> kernel(np.array([[1., 1., 1.]], np.float32))
    array([[2., 4.]], dtype=float32)
    """

    def __init__(self, csr: CSR, layout: str = "row", check: bool = True):
        if check:
            check_csr(csr)
        self.csr, self.shape = kernel_arrays(csr), tuple(csr.shape)
        self.layout = validate.choice(layout, "layout", ("row", "feature"), where="SparseKernel")
        self.family = "sparse" if layout == "row" else "sparse_fm"
        self._row = int(layout == "row")                # the axis of X that holds features
        self._plans: dict = {}      # batch -> (design, data, indices, indptr, its extra
                                    # arguments, key, watched name, (in, 1) as (1, in))

    def __call__(self, X) -> np.ndarray:
        # the hot path: cheap checks first (`dtype is`: an exact native float32), then
        # the batch's plan, a flat tuple, and the compiled design called directly
        (out_features, in_features), row = self.shape, self._row
        if not (type(X) is np.ndarray and X.dtype is _F32 and X.ndim == 2
                and X.shape[row] == in_features and X.flags.c_contiguous):
            X = _as_input(X, in_features, int(row), "X" if row else "XT")
        batch = X.shape[1 - row]
        Y = np.empty((batch, out_features) if row else (out_features, batch), _F32)
        if not self.csr.nnz:
            Y.fill(0.0)
        elif batch and out_features:
            plan = None if dispatch.forcing() else self._plans.get(batch)
            f, d, i, p, t, key, watched, flat = plan or self._plan(X, Y)
            # batch-1 feature-major runs a row-dot design: (in, 1) is (1, in), views
            Xk, Yk = (X.reshape(1, -1), Y.reshape(1, -1)) if flat else (X, Y)
            if watched is None:
                f(Xk, d, i, p, Yk, *t)
                return Y
            t0 = time.perf_counter()
            f(Xk, d, i, p, Yk, *t)
            if dispatch.observe(self.family, key, time.perf_counter() - t0, watched):
                self._plans.clear()                            # banned: decide again
        return Y

    def _design(self, name: str, threads: int, key: tuple) -> tuple:
        """Design ``name``'s plan, the tuple ``__call__`` unpacks (see ``_plans``)."""
        csr = self.csr
        return (KERNELS[name], csr.data, csr.indices, csr.indptr, design_args(
            name, threads, self.shape[1]), key, name if name in PARALLEL else None,
            self.layout == "feature" and name.startswith("rowdot"))

    def _plan(self, X, Y) -> tuple:
        """This batch's design: its bucket's, measured on the first call (module doc)."""
        threads, csr = numba.get_num_threads(), self.csr
        batch = X.shape[0] if self.layout == "row" else X.shape[1]
        out_features, in_features = self.shape
        key = (out_features, in_features, dispatch.batch_bucket(batch),
               dispatch.density_bucket(csr.nnz, out_features * in_features), threads,
               csr.indices.dtype.itemsize)
        plans = {n: self._design(n, threads, key) for n in candidates(
            batch, csr.nnz, threads, self.layout)}
        plan = plans[dispatch.choose(self.family, key, {
            n: (lambda pl=pl: _run(pl, X, Y)) for n, pl in plans.items()}, threaded=PARALLEL)]
        if len(self._plans) < 64 and not dispatch.forcing():   # per exact batch size
            self._plans[batch] = plan
        return plan


# one call of a plan's design: what SparseKernel.__call__ does inline (its hot path)
def _run(plan, X, Y) -> None:
    f, d, i, p, t, _, _, flat = plan
    f(*((X.reshape(1, -1), d, i, p, Y.reshape(1, -1)) if flat else (X, d, i, p, Y)), *t)


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
    """``csr`` with the kernels' index dtypes: ``indptr`` ``uintp`` (an O(out) copy), uint8
    ``indices`` (layers of <= 256 inputs) uint16, so only two index types (uint16, uint32)
    are ever compiled, not one kernel per combination. No copy if already so."""
    if csr.indptr.dtype == np.uintp and csr.indices.dtype.itemsize >= 2:
        return csr                                                  # the fast path: no copy
    indices = csr.indices if csr.indices.dtype.itemsize >= 2 else csr.indices.astype(np.uint16)
    return csr._replace(indices=indices, indptr=csr.indptr.astype(np.uintp))


def _as_input(X, features: int, axis: int, name: str = "X") -> np.ndarray:
    X = validate.array(X, name, finite=False, nonempty=False)      # numbers; NaN propagates
    if X.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array (float32; float64 is cast), got {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D {'(batch, in)' if axis else '(in, batch)'}, got "
                         f"shape {X.shape}")
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
        Validate ``csr`` (O(nnz)); False only for a CSR checked before.
        A layer called many times builds a :class:`SparseKernel` once instead.

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
    Rows without entries give ``bias_i`` (or 0). The design is measured once
    per bucket (family ``"sparse"``, see the module doc).

    Examples
    --------
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]])
    >>> sparse_linear(np.array([[1., 1., 1.]]), to_csr(W), bias=[0.5, 0.])
    array([[2.5, 4. ]], dtype=float32)
    """
    return add_bias(SparseKernel(csr, check=check)(X), bias)         # (B, out)


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
    YT = SparseKernel(csr, "feature", check)(XT)                    # (out, B)
    if bias is not None:
        add_bias(YT.T, bias)                                        # (B, out) view, in place
    return YT
