r"""Optimal Brain Surgeon, layer-wise: remove a weight and correct the others.

For the reconstruction error of one Dense layer on its inputs X (N, in),

.. math:: E(W') = \lVert X W'^\top - X W^\top \rVert_F^2
          = \sum_i (w'_i - w_i)^\top X^\top X\, (w'_i - w_i),

each row i is an independent quadratic with the same Hessian (up to the
factor 2, which changes neither the ranking nor the update). With a small
damping for invertibility,

.. math:: H = X^\top X + \lambda I, \qquad
          \lambda = \text{damp}\cdot \overline{\operatorname{diag}(X^\top X)},

OBS (Hassibi & Stork 1993) removes the weight q of least saliency and
moves the remaining weights of the row optimally:

.. math:: L_q = \frac{w_q^2}{2\,[H^{-1}]_{qq}}, \qquad
          \delta w = -\frac{w_q}{[H^{-1}]_{qq}}\, H^{-1} e_q .

For a quadratic error this is exact (not an approximation). After a removal
the inverse Hessian of the remaining weights is the downdate
:math:`H^{-1} \leftarrow H^{-1} - H^{-1}e_q e_q^\top H^{-1}/[H^{-1}]_{qq}`
(Frantar & Alistarh 2022, "Optimal Brain Compression"), so weights are
removed greedily one at a time, choosing across all rows.

As a registered criterion (``prune(net, "obs", amount, X)``) the two parts
are kept apart, like every other criterion. The *score* of a weight is the
step at which greedy OBS removes it (0 first, :func:`obs_order`), so the
``k`` lowest scores are exactly the ``k`` weights greedy OBS removes. The
*update* (:func:`obs_update`, called by :func:`~minicomp.prune.prune`
before the mask is applied) then moves each row's kept weights K to the
optimum for the removed ones P,

.. math:: w'_K = w_K + H_{KK}^{-1} H_{KP}\, w_P, \qquad w'_P = 0,

which is where the greedy updates lead: each step is exact for a
quadratic error, so after the last one the kept weights minimise
:math:`E` given the mask (the multi-weight OBS update).

Deviation: the whole network's Hessian of the paper is replaced by each
layer's reconstruction Hessian (as OBC and SparseGPT do); memory is
``out * in * in`` floats, meant for the small layers of this course.

References
----------
Hassibi, B., Stork, D. G. (1993). Second order derivatives for network
pruning: Optimal Brain Surgeon. NeurIPS 5.
Frantar, E., Alistarh, D. (2022). Optimal Brain Compression. NeurIPS.
arXiv:2208.11580.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks, numpy_forward
from .magnitude import as_weight
from .mask import check_mask, num_to_prune
from .registry import criterion


def _inputs(X, W, where):
    """The layer's inputs (N, in) for W (out, in): finite, 2-D, float64."""
    X = validate.array(X, "X", ndim=2, where=where, dtype=np.float64)
    if W is not None and X.shape[1] != W.shape[1]:
        raise ValueError(f"{where}: X has {X.shape[1]} columns (shape {X.shape}); expected "
                         f"W's {W.shape[1]} inputs, one column per input of the layer")
    return X


def layer_hessian(X, damp: float = 0.01) -> np.ndarray:
    r""":math:`H = X^\top X + \lambda I` with :math:`\lambda` = damp x mean diagonal, (in, in)."""
    X = _inputs(X, None, "layer_hessian")
    damp = validate.number(damp, "damp", low=0, low_open=True, where="layer_hessian")
    H = X.T @ X                                                    # (in, in)
    lam = damp * max(float(np.mean(np.diag(H))), 1e-12)
    return H + lam * np.eye(H.shape[0])


def reconstruction_error(W, W_new, X) -> float:
    r""":math:`\lVert X W_\text{new}^\top - X W^\top\rVert_F^2 / \lVert X W^\top\rVert_F^2`."""
    where = "reconstruction_error"
    W = as_weight(W, where).astype(np.float64)
    W_new = validate.array(W_new, "W_new", where=where, dtype=np.float64)
    if W_new.shape != W.shape:
        raise ValueError(f"{where}: W_new has shape {W_new.shape}; expected W's {W.shape}")
    X = _inputs(X, W, where)
    Y = X @ W.T                                                    # (N, out)
    if not (Y ** 2).sum():
        raise ValueError(f"{where}: X @ W.T is all zero; the relative error is undefined")
    return float(((X @ W_new.T - Y) ** 2).sum() / (Y ** 2).sum())


def obs_scores(layer_or_W, X, damp: float = 0.01) -> np.ndarray:
    r"""OBS saliencies :math:`w_{ij}^2 / (2[H^{-1}]_{jj})` before any removal, (out, in)."""
    W = as_weight(layer_or_W, "obs_scores").astype(np.float64)
    H_inv = np.linalg.inv(layer_hessian(_inputs(X, W, "obs_scores"), damp))   # (in, in)
    return W ** 2 / (2.0 * np.diag(H_inv))[None, :]                # (out, in)


def _greedy(W, X, damp):
    """Greedy OBS on ``W`` (float64 (out, in), updated in place): yields (i, q) per removal."""
    H_inv = np.linalg.inv(layer_hessian(X, damp))                  # (in, in)
    out_features = W.shape[0]
    H_rows = np.repeat(H_inv[None], out_features, axis=0)          # (out, in, in)
    mask = np.ones(W.shape, dtype=bool)

    def row_best(i):
        d = np.diag(H_rows[i])
        s = np.where(mask[i], np.minimum(W[i] ** 2 / (2.0 * np.maximum(d, 1e-300)),
                                         np.finfo(np.float64).max), np.inf)
        s[mask[i] & (W[i] == 0)] = -np.inf                          # zeros go first, free
        q = int(np.argmin(s))
        return s[q], q

    best = [row_best(i) for i in range(out_features)]
    while mask.any():
        i = int(np.argmin([b[0] for b in best]))
        q = best[i][1]
        H = H_rows[i]
        col = H[:, q].copy()                                        # (in,) H^-1 e_q
        W[i] -= (W[i, q] / col[q]) * col                            # the OBS update
        W[i, q], mask[i, q] = 0.0, False
        H -= np.outer(col, col) / col[q]                            # downdate: q is gone
        W[i, ~mask[i]] = 0.0
        best[i] = row_best(i) if mask[i].any() else (np.inf, 0)
        yield i, q


def obs_prune(layer_or_W, X, amount, damp: float = 0.01):
    r"""Remove ``amount`` weights of a layer by greedy OBS, updating the rest.

    Parameters
    ----------
    layer_or_W : Dense or ndarray, shape (out, in)
    X : ndarray, shape (N, in)
        The layer's inputs on a calibration batch.
    amount : int or float
        Count or fraction of the layer's weights to remove (already-zero
        weights count as removed first).
    damp : float
        Relative damping :math:`\lambda` of :func:`layer_hessian`.

    Returns
    -------
    W_new : ndarray, float32, shape (out, in)
        Updated weights, exactly 0 where removed.
    mask : ndarray, float32, shape (out, in)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, W = rng.normal(size=(50, 4)), rng.normal(size=(2, 4))
    >>> W_new, mask = obs_prune(W, X, 0.5)
    >>> int(mask.sum()), bool((W_new[mask == 0] == 0).all())
    (4, True)
    """
    W = as_weight(layer_or_W, "obs_prune").astype(np.float64).copy()   # (out, in)
    X = _inputs(X, W, "obs_prune")                                  # finite: no NaN weights
    k = num_to_prune(amount, W.size, "obs_prune")
    mask = np.ones(W.shape, dtype=np.float32)
    for _, (i, q) in zip(range(k), _greedy(W, X, damp)):            # k steps, no more
        mask[i, q] = 0.0
    return W.astype(np.float32), mask


def obs_order(layer_or_W, X, damp: float = 0.01) -> np.ndarray:
    """The step at which greedy OBS removes each weight (0 first), float (out, in).

    Examples
    --------
    >>> X = np.array([[1., 0.], [0., 2.], [1., 1.]])
    >>> obs_order(np.array([[0., 3.], [1., -1.]]), X)           # the zero goes first
    array([[0., 3.],
           [1., 2.]])
    """
    W = as_weight(layer_or_W, "obs_order").astype(np.float64).copy()   # (out, in)
    X = _inputs(X, W, "obs_order")
    order = np.empty(W.shape)                                       # (out, in)
    for t, (i, q) in enumerate(_greedy(W, X, damp)):
        order[i, q] = t
    return order


def obs_compensate(layer_or_W, X, mask, damp: float = 0.01) -> np.ndarray:
    r"""Each row's kept weights K moved to the optimum for the removed ones P of ``mask``.

    .. math:: w'_K = w_K + H_{KK}^{-1} H_{KP}\, w_P, \qquad w'_P = 0

    Returns
    -------
    W_new : ndarray, float32, shape (out, in)
        Exactly 0 where ``mask`` is 0.

    Examples
    --------
    Two inputs that are always equal: dropping one, the other takes its weight.

    >>> X = np.array([[1., 1.], [2., 2.], [-1., -1.]])
    >>> obs_compensate(np.array([[0.5, 0.25]]), X, [[1, 0]], damp=1e-9).round(6)
    array([[0.75, 0.  ]], dtype=float32)
    """
    where = "obs_compensate"
    W = as_weight(layer_or_W, where).astype(np.float64)            # (out, in)
    keep = check_mask(mask, W.shape, where=where) != 0             # (out, in) bool
    H = layer_hessian(_inputs(X, W, where), damp)                  # (in, in)
    W_new = np.where(keep, W, 0.0)
    for i in range(W.shape[0]):
        K, P = keep[i], ~keep[i]
        if K.any() and P.any():
            W_new[i, K] += np.linalg.solve(H[np.ix_(K, K)], H[np.ix_(K, P)] @ W[i, P])  # (|K|,)
    return W_new.astype(np.float32)


def obs_update(net, X, masks: dict, damp: float = 0.01) -> None:
    """OBS's update of ``net`` for ``masks`` ``{Dense index: (out, in) mask}``, in place.

    Each masked layer's weights become :func:`obs_compensate` of them on
    the layer's inputs, all computed before any layer changes (as the
    criterion's scores were). The masks themselves are not applied.
    """
    where = "obs_update"
    blocks = dense_blocks(net, where)
    if not isinstance(masks, dict) or any(
            not isinstance(i, int) or not 0 <= i < len(blocks) for i in masks):
        raise ValueError(f"{where}: masks={masks!r}; expected a dict {{Dense layer index in "
                         f"[0, {len(blocks)}): mask}}")
    _, inputs = numpy_forward(net, X, inputs=True, where=where)    # [(N, in_l), ...]
    for i, mask in masks.items():
        W = blocks[i].dense.W
        W.data[...] = obs_compensate(W.data, inputs[i], mask, damp)


@criterion("obs", level="connection", needs=("X",), update=obs_update, scopes=("layer",))
def obs(net, X, y=None, damp: float = 0.01) -> list:
    """The registered criterion: :func:`obs_order` of every Dense layer, (out, in) each."""
    _, inputs = numpy_forward(net, X, inputs=True, where="obs")     # [(N, in_l), ...]
    return [obs_order(b.dense, x, damp) for b, x in zip(dense_blocks(net), inputs)]
