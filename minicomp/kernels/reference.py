r"""Naive reference kernels: what every fast kernel must compute, in plain NumPy.

Each function here is the oracle for its Numba twin (same name, same
signature, in :mod:`minicomp.kernels.sparse` or :mod:`minicomp.kernels.int8`)
and the version the chapters explain line by line. They are written for
clarity, not speed: loops where the idea is a loop. This is the bottom
layer of :mod:`minicomp.kernels`: no Numba, and it imports no other kernel.

Sparse (CSR, compressed sparse row)
-----------------------------------
A weight matrix ``W`` (out, in) is stored row by row: the nonzero values of
row ``i`` are ``data[indptr[i]:indptr[i+1]]`` and their columns
``indices[indptr[i]:indptr[i+1]]``. Then

.. math:: Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
          \mathrm{data}_k \, X_{b,\,\mathrm{indices}_k} + b_i,

which is ``X @ W.T + b`` touching only the stored entries. Indices use the
narrowest unsigned type that holds them, so a 784-input layer stores its
column indices in 2 bytes, not 8 (and the size report is honest).

int8 (integer-only inference, Jacob et al. 2018)
------------------------------------------------
With real values ``r = S (q - Z)``, a dense layer ``y = x W^T + b`` becomes,
for int8 weights (symmetric, ``Z_w = 0``) and uint8/int8 activations,

.. math:: q_{y,i} = Z_y + M_i \Big(\sum_j (q_{x,j} - Z_x)\, q_{w,ij}
          + q_{b,i}\Big), \qquad M_i = \frac{S_x S_{w,i}}{S_y},

where the sum and the bias ``q_b = round(b / (S_x S_w))`` are int32 and the
real multiplier is applied as a fixed-point number ``M = m0 · 2^-shift``
with a 31-bit ``m0`` (Jacob et al.'s ``M = 2^-n M_0``, ``M_0 ∈ [0.5, 1)``),
then rounded half up, shifted by ``Z_y`` and clamped to the output type.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


class CSR(NamedTuple):
    """A matrix of shape ``(out, in)`` in compressed sparse row form.

    Attributes
    ----------
    data : ndarray, float32, shape (nnz,)
    indices : ndarray, narrowest unsigned int holding ``in - 1``, shape (nnz,)
    indptr : ndarray, narrowest unsigned int holding ``nnz``, shape (out + 1,)
    shape : tuple (out, in)
    """
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.data.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held: values + column indices + row pointers.

        Built by :func:`to_csr` (narrowest index types), this equals
        :func:`minicomp.metrics.storage_bytes` ``(csr, "csr", bias=False)``,
        the byte count used everywhere else."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def toarray(self) -> np.ndarray:
        """The dense matrix, float32 (out, in)."""
        W = np.zeros(self.shape, dtype=np.float32)                  # (out, in)
        for i in range(self.shape[0]):
            lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
            W[i, self.indices[lo:hi]] = self.data[lo:hi]
        return W


def index_dtype(max_value: int) -> np.dtype:
    """The narrowest unsigned integer dtype that holds ``max_value``.

    >>> index_dtype(255), index_dtype(256), index_dtype(70_000)
    (dtype('uint8'), dtype('uint16'), dtype('uint32'))
    """
    if max_value < 0:
        raise ValueError(f"max_value must be >= 0, got {max_value}")
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"max_value={max_value} does not fit in uint64")


def _as_matrix(name: str, A, ndim: int = 2) -> np.ndarray:
    A = validate.array(A, name, finite=False, nonempty=False)     # numbers; NaN propagates
    if A.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {A.shape}")
    return A


def kept_entries(W: np.ndarray, mask=None) -> np.ndarray:
    """Which entries a CSR of ``W`` stores: ``W != 0`` and, if given, ``mask != 0``."""
    keep = W != 0                                                   # (out, in)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != W.shape:
            raise ValueError(f"mask must have W's shape {W.shape}, got {mask.shape}")
        keep &= mask != 0
    return keep


def to_csr(W, mask=None) -> CSR:
    """Store ``W`` (or ``W * mask``) in CSR, keeping its nonzero entries.

    Parameters
    ----------
    W : array_like, shape (out, in), finite (NaN/inf refused, the first one named)
    mask : array_like, shape (out, in), optional
        Entries where ``mask == 0`` are dropped even if ``W`` is nonzero there.

    Returns
    -------
    CSR

    Examples
    --------
    >>> A = to_csr([[0., 2., 0.], [1., 0., 3.]])
    >>> A.data, A.indices, A.indptr
    (array([2., 1., 3.], dtype=float32), array([1, 0, 2], dtype=uint8), array([0, 1, 3], dtype=uint8))
    >>> A.nbytes            # 3 values * 4 + 3 indices * 1 + 3 pointers * 1
    18
    """
    W = _as_matrix("W", W)
    validate.array(W, "W", nonempty=False, where="to_csr")          # no NaN/inf weights
    keep = kept_entries(W, mask)                                    # (out, in) bool
    out_features, in_features = W.shape
    data, indices, indptr = [], [], [0]
    for i in range(out_features):                                   # row by row
        cols = np.flatnonzero(keep[i])
        data.append(W[i, cols])
        indices.append(cols)
        indptr.append(indptr[-1] + cols.size)
    nnz = indptr[-1]
    return CSR(np.concatenate(data or [np.zeros(0)]).astype(np.float32),
               np.concatenate(indices or [np.zeros(0, int)]).astype(
                   index_dtype(max(in_features - 1, 0))),
               np.asarray(indptr).astype(index_dtype(nnz)),
               (out_features, in_features))


def sparse_linear(X, csr: CSR, bias=None) -> np.ndarray:
    """``Y = X @ W.T + bias`` with ``W`` in CSR, one stored entry at a time.

    Parameters
    ----------
    X : array_like, shape (batch, in); cast to float32
    csr : CSR, shape (out, in)
    bias : array_like, shape (out,), optional

    Returns
    -------
    Y : ndarray, float32, shape (batch, out)

    Examples
    --------
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]])
    >>> sparse_linear(np.array([[1., 1., 1.]]), to_csr(W), bias=[0.5, 0.])
    array([[2.5, 4. ]], dtype=float32)
    """
    X = _as_matrix("X", X).astype(np.float32)                       # (B, in)
    out_features, in_features = csr.shape
    if X.shape[1] != in_features:
        raise ValueError(f"X has {X.shape[1]} features, the CSR matrix expects {in_features}")
    Y = np.zeros((X.shape[0], out_features), dtype=np.float32)      # (B, out)
    for i in range(out_features):
        for k in range(int(csr.indptr[i]), int(csr.indptr[i + 1])):
            Y[:, i] += csr.data[k] * X[:, csr.indices[k]]           # (B,)
    return add_bias(Y, bias)


def add_bias(Y: np.ndarray, bias) -> np.ndarray:
    """``Y += bias`` (in place, returned) after checking ``bias`` is (out,); None adds nothing."""
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float32)
        if bias.shape != (Y.shape[1],):
            raise ValueError(f"bias must have shape ({Y.shape[1]},), got {bias.shape}")
        Y += bias
    return Y


def quantize_multiplier(M):
    r"""Write each real multiplier as ``M ≈ m0 · 2^-shift`` with a 31-bit ``m0``.

    .. math:: M = 2^{-n} M_0,\ M_0 \in [0.5, 1);\quad
              m_0 = \mathrm{round}(M_0 \cdot 2^{31}) \in [2^{30}, 2^{31}),
              \quad \mathrm{shift} = 31 + n.

    Parameters
    ----------
    M : float or array_like of floats, each in [2^-31, 2^30)

    Returns
    -------
    m0, shift : ndarrays of int32, M's shape

    Raises
    ------
    ValueError
        If some M is not finite, not positive, or outside [2^-31, 2^30).

    Examples
    --------
    >>> m0, shift = quantize_multiplier([0.5, 0.1])
    >>> m0.tolist(), shift.tolist()
    ([1073741824, 1717986918], [31, 34])
    >>> float(m0[1]) * 2.0**-34        # 0.1 to 10 significant digits
    0.09999999997671694
    """
    M = np.asarray(M, dtype=np.float64)
    bad = ~np.isfinite(M) | (M <= 0)
    if bad.any():
        raise ValueError(f"multiplier M must be finite and positive, got {M[bad].ravel()[0]}")
    M0, e = np.frexp(M)                                # M = M0 * 2^e, M0 in [0.5, 1)
    m0 = np.round(M0 * 2.0**31).astype(np.int64)
    carry = m0 == 2**31                                # M0 rounded up to 1.0
    m0 = np.where(carry, m0 // 2, m0)
    shift = 31 - (e + carry)                           # = 31 + n with n = -e
    if (shift < 1).any() or (shift > 62).any():
        raise ValueError(f"multiplier M must lie in [2^-31, 2^30), got {M.ravel()[0]!r}"
                         " (shift outside 1..62)")
    return m0.astype(np.int32), shift.astype(np.int32)


def dtype_range(dtype, name: str = "out_dtype") -> tuple[int, int]:
    """The integer range ``(min, max)`` of an 8-bit code type; ``name`` is the argument's.

    (:func:`minicomp.quant.uniform.qrange` is that of ``bits`` in a ``scheme``.)

    >>> dtype_range(np.uint8), dtype_range(np.int8)
    ((0, 255), (-128, 127))
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.int8):
        raise TypeError(f"{name} must be uint8 or int8, got {dtype}")
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def requantize(acc, m0, shift, Z_y, relu=False, out_dtype=np.uint8):
    r"""int32 accumulators → 8-bit outputs with a fixed-point multiplier per channel.

    .. math:: q_y = \mathrm{clamp}\big(\lfloor (acc \cdot m_0 + 2^{shift-1})
              / 2^{shift} \rfloor + Z_y,\ q_{lo},\ q_{hi}\big)

    computed in int64 (``|acc · m0| < 2^62``), rounding half up; with
    ``relu`` the lower clamp is ``Z_y`` (the real value 0).

    Parameters
    ----------
    acc : ndarray of int32, shape (batch, out)
    m0, shift : int or ndarray (out,), from :func:`quantize_multiplier`
    Z_y : int, the output zero point, inside ``out_dtype``'s range
    relu : bool
    out_dtype : uint8 or int8

    Returns
    -------
    ndarray of ``out_dtype``, shape (batch, out)

    Examples
    --------
    >>> m0, shift = quantize_multiplier(0.5)
    >>> requantize(np.array([[-5, 3, 1000]], np.int32), m0, shift, 10)
    array([[  8,  12, 255]], dtype=uint8)
    """
    lo, hi = dtype_range(out_dtype)
    if not lo <= int(Z_y) <= hi:
        raise ValueError(f"Z_y must lie in [{lo}, {hi}], got {Z_y}")
    acc = np.asarray(acc)
    if acc.dtype != np.int32:
        raise TypeError(f"acc must be int32, got {acc.dtype}")
    m0 = np.asarray(m0, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    y = (acc.astype(np.int64) * m0 + (np.int64(1) << (shift - 1))) >> shift
    y += int(Z_y)
    if relu:
        lo = max(lo, int(Z_y))
    return np.clip(y, lo, hi).astype(out_dtype)


def int8_accumulate(x_q, Z_x, w_q, bias_q=None) -> np.ndarray:
    r"""int32 accumulators ``acc[b, i] = Σ_j (x_q[b, j] − Z_x)·w_q[i, j] + bias_q[i]``.

    Sums are taken in int64 and checked to fit int32, which is what the fast
    kernels accumulate in: with |x_q − Z_x| ≤ 255 and |w_q| ≤ 128 that holds
    for any input when ``in ≤ 65,536`` (255·128·65,536 = 2^31 − 2^23 < 2^31).

    Parameters
    ----------
    x_q : ndarray of uint8 or int8, shape (batch, in)
    Z_x : int, the input zero point, in x_q's dtype range
    w_q : ndarray of int8, shape (out, in)
    bias_q : ndarray of int32, shape (out,), optional (scale S_x·S_w)

    Returns
    -------
    acc : ndarray of int32, shape (batch, out)

    Examples
    --------
    >>> x_q = np.array([[130, 128, 127]], np.uint8)              # Z_x = 128
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> int8_accumulate(x_q, 128, w_q, np.array([10, 0], np.int32))
    array([[  9, -13]], dtype=int32)
    """
    x_q, w_q = _as_matrix("x_q", x_q), _as_matrix("w_q", w_q)
    if x_q.dtype not in (np.uint8, np.int8):
        raise TypeError(f"x_q must be uint8 or int8, got {x_q.dtype}")
    if w_q.dtype != np.int8:
        raise TypeError(f"w_q must be int8, got {w_q.dtype}")
    lo, hi = dtype_range(x_q.dtype)
    if not lo <= int(Z_x) <= hi:
        raise ValueError(f"Z_x must lie in [{lo}, {hi}] for {x_q.dtype}, got {Z_x}")
    if x_q.shape[1] != w_q.shape[1]:
        raise ValueError(f"x_q has {x_q.shape[1]} features, w_q expects {w_q.shape[1]}")
    batch, out_features = x_q.shape[0], w_q.shape[0]
    acc = np.zeros((batch, out_features), dtype=np.int64)          # (B, out)
    for i in range(out_features):
        acc[:, i] = (x_q.astype(np.int64) - int(Z_x)) @ w_q[i].astype(np.int64)
    if bias_q is not None:
        bias_q = np.asarray(bias_q)
        if bias_q.dtype != np.int32 or bias_q.shape != (out_features,):
            raise TypeError(f"bias_q must be int32 of shape ({out_features},), "
                            f"got {bias_q.dtype} {bias_q.shape}")
        acc += bias_q
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise OverflowError("int32 accumulator overflow: reduce in_features or the bias")
    return acc.astype(np.int32)


def int8_linear(x_q, Z_x, w_q, bias_q, m0, shift, Z_y,
                relu=False, out_dtype=np.uint8) -> np.ndarray:
    """The int8 dense layer: :func:`int8_accumulate` then :func:`requantize`.

    Examples
    --------
    >>> x_q = np.array([[130, 128, 127]], np.uint8)
    >>> w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    >>> m0, shift = quantize_multiplier(0.5)
    >>> int8_linear(x_q, 128, w_q, np.array([10, 0], np.int32), m0, shift, 128, relu=True)
    array([[133, 128]], dtype=uint8)
    """
    acc = int8_accumulate(x_q, Z_x, w_q, bias_q)                    # (B, out) int32
    return requantize(acc, m0, shift, Z_y, relu=relu, out_dtype=out_dtype)
