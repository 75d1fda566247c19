r"""Optimal Brain Damage: saliency from the diagonal of the Hessian.

Expanding the loss to second order around a trained point (gradient ~0)
and ignoring off-diagonal Hessian terms, deleting parameter q changes the
loss by its *saliency*

.. math:: s_q = \tfrac12\, h_{qq}\, w_q^2, \qquad
          h_{qq} = \frac{\partial^2 L}{\partial w_q^2}.

Which :math:`h_{qq}` is computed (LeCun et al. 1990, eqs. 5-7, with their
Levenberg-Marquardt simplification): second derivatives are propagated
backwards like gradients, per sample, keeping only diagonal terms and
dropping the :math:`f''` terms (the Gauss-Newton approximation):

.. math:: \frac{\partial^2 \ell}{\partial a_i^2} \approx f'(a_i)^2
          \sum_l w_{li}^2 \frac{\partial^2 \ell}{\partial a_l^2},
          \qquad h_{(ij)} = \frac1N\sum_n
          \frac{\partial^2 \ell_n}{\partial a_{ni}^2}\, y_{nj}^2,

starting at the output from the diagonal of the loss Hessian with respect
to the logits: :math:`p_k(1-p_k)` for softmax cross-entropy, :math:`2/K`
for the mean squared error over K outputs. This is exact for the last
layer, and exact everywhere for a network with one hidden ReLU layer and
one output; elsewhere it drops cross terms (as OBD does).

Layer-wise, for the reconstruction error of one Dense layer,
:math:`E = \lVert X (W' - W)^\top \rVert_F^2` has Hessian
:math:`2X^\top X` per row, so the OBD saliency is
:math:`w_{ij}^2 \lVert x_{:,j}\rVert^2` -- the square of the Wanda score
(:func:`obd_layer_scores`).

References
----------
LeCun, Y., Denker, J. S., Solla, S. A. (1990). Optimal Brain Damage.
NeurIPS 2, 598-605.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..nn import Dense, Dropout, Identity, ReLU, Sequential, Sigmoid, Tanh
from .activation import _check_inputs, net_inputs
from .magnitude import as_weight


def _derivative(layer, a: np.ndarray) -> np.ndarray:
    """f'(a) of an elementwise activation layer."""
    if isinstance(layer, ReLU):
        return (a > 0).astype(a.dtype)
    if isinstance(layer, Tanh):
        return 1.0 - np.tanh(a) ** 2
    if isinstance(layer, Sigmoid):
        s = 1.0 / (1.0 + np.exp(-a))
        return s * (1.0 - s)
    if isinstance(layer, (Identity, Dropout)):                     # dropout: eval mode
        return np.ones_like(a)
    raise TypeError(f"OBD: layer {type(layer).__name__} is not supported; expected Dense, "
                    f"ReLU, Tanh, Sigmoid, Identity or Dropout")


def _forward(net, X):
    """Per layer: (layer, its input) in float64, and the output logits."""
    h, trace = np.asarray(X, dtype=np.float64), []
    for layer in net:
        trace.append((layer, h))
        if isinstance(layer, Dense):
            h = h @ layer.W.data.T.astype(np.float64)                # (N, out)
            if layer.b is not None:
                h = h + layer.b.data
        elif isinstance(layer, ReLU):
            h = np.maximum(h, 0)
        elif isinstance(layer, Tanh):
            h = np.tanh(h)
        elif isinstance(layer, Sigmoid):
            h = 1.0 / (1.0 + np.exp(-h))
        else:
            _derivative(layer, h)                                   # raises if unsupported
    return trace, h


def obd_hessian_diagonal(net, X, loss: str = "cross_entropy") -> list:
    r"""LeCun's diagonal Hessian :math:`h_{qq}` of every Dense layer's W and b.

    Returns
    -------
    list of (h_W, h_b)
        Per Dense layer: ``h_W`` (out, in) and ``h_b`` (out,).
    """
    where = "obd_hessian_diagonal"
    if not isinstance(net, Sequential):
        raise TypeError(f"{where}: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    loss = validate.choice(loss, "loss", ("cross_entropy", "mse"), where=where)
    trace, Z = _forward(net, net_inputs(net, X, where=where, dtype=np.float64))
    N, K = Z.shape
    if loss == "cross_entropy":
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)                           # (N, K) softmax
        D = P * (1.0 - P)                                           # (N, K) d2l/dz2
    else:
        D = np.full((N, K), 2.0 / K)
    result = []
    for layer, h in reversed(trace):
        if isinstance(layer, Dense):
            result.append(((D.T @ h ** 2) / N, D.mean(axis=0)))     # (out, in), (out,)
            D = D @ layer.W.data.astype(np.float64) ** 2            # (N, out) -> (N, in)
        else:
            D = D * _derivative(layer, h) ** 2                      # Gauss-Newton: no f''
    return result[::-1]


def obd_scores(net, X, loss: str = "cross_entropy") -> list:
    r"""OBD saliencies :math:`\tfrac12 h_{qq} w_q^2` of every Dense layer's ``W``.

    Parameters
    ----------
    net : Sequential of Dense and elementwise activations
    X : ndarray, shape (N, in)
    loss : {"cross_entropy", "mse"}

    Returns
    -------
    list of ndarray
        One ``(out, in)`` array per Dense layer, in forward order.
    """
    dense = [m for m in net if isinstance(m, Dense)] if isinstance(net, Sequential) else []
    return [0.5 * h_W * m.W.data.astype(np.float64) ** 2
            for m, (h_W, _) in zip(dense, obd_hessian_diagonal(net, X, loss))]


def obd_layer_scores(layer_or_W, X) -> np.ndarray:
    r"""Layer-wise OBD saliency :math:`w_{ij}^2 \lVert x_{:,j}\rVert^2`, shape (out, in).

    Examples
    --------
    >>> obd_layer_scores(np.array([[1., -2.]]), np.array([[3., 0.], [4., 1.]]))
    array([[25.,  4.]])
    """
    W = as_weight(layer_or_W, "obd_layer_scores").astype(np.float64)
    X = _check_inputs(W, X, "obd_layer_scores")                    # (N, in), finite
    return W ** 2 * (X ** 2).sum(axis=0)[None, :]                  # (out, in)
