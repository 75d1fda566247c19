r"""GPTQ: quantize a layer column by column, pushing each rounding error forward.

For one Dense layer with inputs X (N, in) the quantized weights should keep
the layer's outputs, :math:`\min_{\hat W} \lVert X\hat W^\top - XW^\top\rVert_F^2`,
a quadratic in each row with the Hessian :math:`H = 2X^\top X + \lambda I`.
Optimal Brain Surgeon's update (:mod:`minicomp.prune.obs`) answers "weight q
is forced to a value; where do the others go?". GPTQ forces the columns in a
fixed order, j = 0, 1, ..., quantizing column j of every row at once and
moving the columns not yet quantized:

.. math:: \hat w_{:,j} = Q(w_{:,j}), \qquad
          e = \frac{w_{:,j} - \hat w_{:,j}}{U_{jj}}, \qquad
          w_{:,k} \leftarrow w_{:,k} - e\, U_{jk} \quad (k > j),

with :math:`U` the upper Cholesky factor of :math:`H^{-1} = U^\top U`: row j
of U is :math:`H^{-1}e_j / \sqrt{[H^{-1}]_{jj}}` *after* columns 0..j-1 were
removed, so the whole sequence of OBS downdates is one Cholesky. For the
first column this is exactly OBS's :math:`\delta w = -\frac{w_q - \hat
w_q}{[H^{-1}]_{qq}} H^{-1}e_q` (tested). The factor 2 of H cancels (U
scales by :math:`1/\sqrt 2` in both places). **Lazy batches**: inside a
block of B columns only the block is updated; the columns after it get one
matrix product per block, :math:`W_{:,>} \leftarrow W_{:,>} - E\, U_{B,>}`.

The grid is the library's quantizer (:func:`minicomp.quant.quantize_tensor`):
any bits, symmetric or affine, per tensor or channel (scales from the
original W, as round-to-nearest) or per group (each group's scale is taken
when the loop reaches it, on the updated weights, as the paper does). With
H = I the updates vanish and GPTQ *is* round-to-nearest (tested).

References
----------
Frantar, E., Ashkboos, S., Hoefler, T., Alistarh, D. (2023). GPTQ: Accurate
Post-Training Quantization for Generative Pre-trained Transformers. ICLR.
arXiv:2210.17323.

Deviations: float64 throughout; ``act_order`` (columns by decreasing
:math:`H_{jj}`) only for per-tensor and per-channel grids.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..quant.granularity import GRANULARITIES, QTensor, quantize_tensor
from ..quant.ptq import QuantizedMLP
from ..quant.uniform import check_bits, check_finite, code_dtype, qrange, scale_zero_point
from .layerwise import reconstruct_mlp


def check_hessian(H, width: int, where: str) -> np.ndarray:
    """``H`` as a finite, symmetric (``width``, ``width``) float64 matrix, else ValueError."""
    H = validate.array(H, "H", ndim=2, where=where, dtype=np.float64)
    if H.shape != (width, width):
        raise ValueError(f"{where}: H has shape {H.shape}; expected ({width}, {width}), one "
                         "row and column per input of the layer (W's second axis)")
    if not np.allclose(H, H.T, rtol=1e-6, atol=1e-9 * max(np.abs(H).max(), 1e-300)):
        raise ValueError(f"{where}: H is not symmetric; expected a Hessian 2 X^T X")
    return H


def inverse_cholesky(H, damp: float, where: str) -> np.ndarray:
    r"""Upper :math:`U` with :math:`U^\top U = (H + \lambda I)^{-1}`, :math:`\lambda` =
    ``damp`` x mean diag(H); ValueError naming ``H`` when that is not positive definite."""
    damp = validate.number(damp, "damp", low=0, where=where)
    lam = damp * float(np.mean(np.diag(H)))
    try:
        H = H + lam * np.eye(len(H))
        np.linalg.cholesky(H)                                          # positive definite?
        U = np.linalg.cholesky(np.linalg.inv(H)).T                     # upper, H^-1 = U^T U
    except np.linalg.LinAlgError:
        U = None
    if U is None or not np.isfinite(U).all():
        low = float(np.linalg.eigvalsh(H - lam * np.eye(len(H)))[0])   # of the undamped H
        if low < -1e-8 * max(float(np.abs(np.diag(H)).max()), 1e-300):
            raise ValueError(f"{where}: H is not positive semi-definite (its smallest "
                             f"eigenvalue is {low:.3g}); expected a Hessian 2 X^T X, whose "
                             "eigenvalues are >= 0")
        raise ValueError(f"{where}: H + {lam:.3g} I is singular (not positive definite) with "
                         f"damp={damp}; expected damp > 0 (e.g. 0.01) or inputs that span "
                         "every input direction")
    return U


def grid(W, bits, scheme, granularity, group_size, where):
    """Checked arguments and the (S, Z) of round-to-nearest, ``None`` for groups (set later)."""
    bits = check_bits(bits, scheme, where=where)
    granularity = validate.choice(granularity, "granularity", GRANULARITIES, where=where)
    if granularity != "group" and group_size is not None:
        raise ValueError(f"{where}: group_size={group_size!r} with granularity="
                         f"{granularity!r}; expected group_size only with granularity='group'")
    if granularity != "group":
        Q = quantize_tensor(W, bits, scheme, granularity)
        return bits, granularity, np.asarray(Q.S), np.asarray(Q.Z)
    group_size = validate.integer(group_size, "group_size", low=1, where=where)
    if W.shape[1] % group_size:
        raise ValueError(f"{where}: group_size={group_size} does not divide W's "
                         f"{W.shape[1]} inputs; expected a divisor")
    return bits, granularity, None, None


def column_loop(W, U, fix, block_size: int = 128, columns: int | None = None) -> np.ndarray:
    r"""The loop shared by GPTQ and SparseGPT, on ``W`` (out, in) float64, in place.

    For j = 0, 1, ... (``columns`` of them, default all): ``w_hat = fix(j, W, U)``
    chooses column j's new value (a rounding, a zero) from the up-to-date
    ``W``; its error :math:`e = (w_{:,j} - \hat w)/U_{jj}` moves the later
    columns of the block at once and those after it once per block
    (lazy batch). ``U`` is :func:`inverse_cholesky`'s factor. Returns ``W``:
    columns < ``columns`` hold their fixed values, the others the compensated ones.
    """
    out, n_in = W.shape
    columns = n_in if columns is None else columns
    W_in, W = W, np.asfortranarray(W)                                  # columns contiguous
    for b0 in range(0, columns, block_size):
        b1 = min(b0 + block_size, columns)
        E = np.empty((out, b1 - b0))                                   # scaled errors
        for j in range(b0, b1):
            w_hat = fix(j, W, U)                                       # (out,)
            E[:, j - b0] = (W[:, j] - w_hat) / U[j, j]
            W[:, j] = w_hat
            W[:, j + 1:b1] -= np.outer(E[:, j - b0], U[j, j + 1:b1])   # inside the block
        W[:, b1:] -= E @ U[b0:b1, b1:]                                 # (out, B) @ (B, rest)
    W_in[...] = W
    return W_in


def gptq(W, H, bits: int = 4, scheme: str = "symmetric", granularity: str = "channel",
         group_size: int | None = None, damp: float = 0.01, block_size: int = 128,
         act_order: bool = False) -> QTensor:
    r"""Quantize ``W`` column by column, compensating on the layer's Hessian ``H``.

    Parameters
    ----------
    W : ndarray, shape (out, in)
    H : ndarray, shape (in, in)
        :math:`2X^\top X` of the layer's inputs X (any positive multiple).
    bits, scheme, granularity, group_size :
        The grid, as :func:`minicomp.quant.quantize_tensor`.
    damp : float >= 0
        :math:`\lambda` = damp x mean diag(H) is added to H (0: none).
    block_size : int
        Columns per lazy batch (rounded to a multiple of ``group_size``).
    act_order : bool
        Quantize columns by decreasing :math:`H_{jj}` (not for groups).

    Returns
    -------
    QTensor
        Codes and scales, the representation :func:`~minicomp.quant.quantize_tensor`
        returns (so :class:`~minicomp.quant.ptq.QuantizedMLP` and
        :func:`minicomp.deploy.to_inference` take it unchanged).

    Raises
    ------
    ValueError
        ``H`` of the wrong shape, not symmetric, or singular after damping;
        NaN/inf; bits outside the quantizer's range; a bad granularity.

    Examples
    --------
    With H = I there is nothing to compensate: round-to-nearest.

    >>> W = np.array([[0.3, -1.0, 0.45]])
    >>> gptq(W, np.eye(3), bits=3).q          # S = 1/3: 0.9, -3, 1.35 rounded
    array([[ 1, -3,  1]], dtype=int8)
    """
    where = "gptq"
    W = check_finite("W", validate.array(W, "W", ndim=2, where=where), where).copy()
    H = check_hessian(H, W.shape[1], where)
    bits, granularity, S, Z = grid(W, bits, scheme, granularity, group_size, where)
    block_size = validate.integer(block_size, "block_size", low=1, where=where)
    if validate.flag(act_order, "act_order", where=where) and granularity == "group":
        raise ValueError(f"{where}: act_order=True with granularity='group'; expected "
                         "per-tensor or per-channel scales (groups follow the column order)")
    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(W.shape[1])
    W, U = W[:, perm], inverse_cholesky(H[np.ix_(perm, perm)], damp, where)
    out, n_in = W.shape
    q_min, q_max = qrange(bits, scheme)
    if granularity == "group":
        block_size = group_size * max(1, block_size // group_size)
        S, Z = np.empty((out, n_in // group_size, 1)), np.empty((out, n_in // group_size, 1))
    q = np.empty(W.shape)                                              # (out, in) codes

    def fix(j, W, U):                                                  # round column j
        if granularity == "group" and j % group_size == 0:
            g = j // group_size
            Wg = W[:, j:j + group_size]                                # (out, g), up to date
            S[:, g], Z[:, g] = scale_zero_point(Wg.min(1, keepdims=True),
                                                Wg.max(1, keepdims=True), bits, scheme)
        S_j = S[:, j // group_size] if granularity == "group" else S   # (out, 1) or ()
        Z_j = Z[:, j // group_size] if granularity == "group" else Z
        q[:, j:j + 1] = np.clip(np.rint(W[:, j:j + 1] / S_j) + Z_j, q_min, q_max)
        return (S_j * (q[:, j:j + 1] - Z_j))[:, 0]                     # (out,)

    column_loop(W, U, fix, block_size)
    q = q[:, np.argsort(perm)].astype(code_dtype(bits, scheme))       # back to input order
    return QTensor(q, S, Z, bits, scheme, granularity,
                   group_size if granularity == "group" else None)


def asymmetric_target(W, X, X_seen, damp: float, where: str = "asymmetric_target"):
    r"""The weights whose outputs on ``X_seen`` best match ``W``'s on ``X``.

    A layer inside a quantized net sees :math:`\tilde X`, not the float
    net's X. Its target is still the float output :math:`XW^\top`, and

    .. math:: \lVert \tilde X\hat W^\top - XW^\top\rVert_F^2
              = \lVert \tilde X(\hat W - W^*)^\top\rVert_F^2 + \text{const},\qquad
              W^{*\top} = W^\top + (\tilde X^\top\tilde X + \lambda I)^{-1}
                          \tilde X^\top (X - \tilde X) W^\top

    (least squares, exact at :math:`\lambda = 0`): GPTQ of :math:`W^*` on
    :math:`H = 2\tilde X^\top\tilde X` minimises the left side, repairing
    the earlier layers' error as well as its own. With
    :math:`\tilde X = X`, :math:`W^* = W`. :math:`\lambda` is GPTQ's
    damping (``damp`` x mean diag), through the same Cholesky factor.
    """
    if X_seen is X or np.array_equal(X_seen, X):
        return W
    U = inverse_cholesky(2 * X_seen.T @ X_seen, damp, where)          # U^T U = (2G + 2 lam I)^-1
    D = X_seen.T @ ((X - X_seen) @ W.T)                                # (in, out)
    return W + 2 * (U.T @ (U @ D)).T


def gptq_mlp(net, X_calib, bits: int = 4, bits_a: int | None = 8,
             granularity: str = "channel", group_size: int | None = None,
             damp: float = 0.01, block_size: int = 128,
             act_order: bool = False, asymmetric: bool = True) -> QuantizedMLP:
    r""":func:`minicomp.quant.quantize_mlp` with every layer's weights from :func:`gptq`.

    Layer after layer (:mod:`~minicomp.ptq.layerwise`), each on
    :math:`H = 2\tilde X^\top \tilde X` of its inputs in the net quantized
    so far; activation ranges and the bias grid as ``quantize_mlp``'s. The
    result runs on :func:`minicomp.deploy.to_inference` (8-bit weights, or
    fewer through :func:`~minicomp.ptq.layerwise.as_int8`).

    ``asymmetric`` (default) quantizes :func:`asymmetric_target`'s
    :math:`W^*`, so each layer aims at the *float* net's outputs
    (AdaRound's target; the objective of GPTAQ, Li et al. 2025,
    arXiv:2504.02692, solved here by one least-squares step before the
    loop); ``False`` is the original GPTQ, which matches the quantized
    net's own outputs :math:`\tilde X W^\top`. Chosen on validation
    (``minicomp bench ptq_choices``: MNIST-1D, calibration on all training
    rows, drop of validation accuracy vs float in points, 6 seeds for 64-64,
    3 for 256-256): W3A8 64-64 original 2.98, asymmetric 3.00; W4A8 0.79
    vs 0.52; W3A8 256-256 1.92 vs 1.25; on 512 calibration rows the gap is
    wider (W3A8 64-64 4.08 vs 3.21, 256-256 2.58 vs 1.75). ``act_order``
    helped at 3 bits and hurt at 4 (64-64: 2.02 and 0.83), so it stays off.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([8, 16, 4], seed=0)
    >>> X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    >>> gptq_mlp(net, X, bits=4)
    QuantizedMLP(W4 channel, A8, 2 layers)
    """
    asymmetric = validate.flag(asymmetric, "asymmetric", where="gptq_mlp")

    def quantize_layer(k, W, X, X_seen):
        if asymmetric:
            W = asymmetric_target(W, X, X_seen, damp, "gptq_mlp")
        return gptq(W, 2 * X_seen.T @ X_seen, bits, "symmetric", granularity, group_size,
                    damp, block_size, act_order)

    return reconstruct_mlp(net, X_calib, quantize_layer, bits, bits_a, granularity,
                           group_size, where="gptq_mlp")
