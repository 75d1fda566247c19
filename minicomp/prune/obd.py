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
from ..blocks import dense_blocks, numpy_forward
from ..nn import Identity, ReLU, Sigmoid, Tanh
from .activation import check_inputs
from .magnitude import as_weight
from .registry import criterion

# f'(a) of each activation, written with its output Y = f(a) (all four allow it)
DERIVATIVE = {
    ReLU: lambda Y: (Y > 0).astype(Y.dtype),                       # 1[a > 0]
    Tanh: lambda Y: 1.0 - Y ** 2,                                  # 1 - tanh(a)^2
    Sigmoid: lambda Y: Y * (1.0 - Y),                              # s(a)(1 - s(a))
    Identity: np.ones_like,
}


def obd_hessian_diagonal(net, X, loss: str = "cross_entropy") -> list:
    r"""LeCun's diagonal Hessian :math:`h_{qq}` of every Dense layer's W and b.

    Returns
    -------
    list of (h_W, h_b)
        Per Dense layer: ``h_W`` (out, in) and ``h_b`` (out,).
    """
    where = "obd_hessian_diagonal"
    loss = validate.choice(loss, "loss", ("cross_entropy", "mse"), where=where)
    Z, inputs = numpy_forward(net, X, dtype=np.float64, inputs=True, where=where)
    blocks = dense_blocks(net)
    outputs = inputs[1:] + [Z]                                     # f(a) of every block
    N, K = Z.shape
    if loss == "cross_entropy":
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)                           # (N, K) softmax
        D = P * (1.0 - P)                                           # (N, K) d2l/dz2
    else:
        D = np.full((N, K), 2.0 / K)
    result = []
    for b, x, Y in reversed(list(zip(blocks, inputs, outputs))):
        D = D * DERIVATIVE[type(b.act)](Y) ** 2                     # Gauss-Newton: no f''
        result.append(((D.T @ x ** 2) / N, D.mean(axis=0)))         # (out, in), (out,)
        D = D @ b.dense.W.data.astype(np.float64) ** 2              # (N, out) -> (N, in)
    return result[::-1]


def obd_scores(net, X, loss: str = "cross_entropy") -> list:
    r"""OBD saliencies :math:`\tfrac12 h_{qq} w_q^2` of every Dense layer's ``W``.

    Parameters
    ----------
    net : Sequential of Dense layers and elementwise activations (or one Dense)
    X : ndarray, shape (N, in)
    loss : {"cross_entropy", "mse"}

    Returns
    -------
    list of ndarray
        One ``(out, in)`` array per Dense layer, in forward order.
    """
    diagonal = obd_hessian_diagonal(net, X, loss)                  # checks net and X first
    return [0.5 * h_W * b.dense.W.data.astype(np.float64) ** 2      # (out, in)
            for b, (h_W, _) in zip(dense_blocks(net), diagonal)]


def obd_layer_scores(layer_or_W, X) -> np.ndarray:
    r"""Layer-wise OBD saliency :math:`w_{ij}^2 \lVert x_{:,j}\rVert^2`, shape (out, in).

    Examples
    --------
    >>> obd_layer_scores(np.array([[1., -2.]]), np.array([[3., 0.], [4., 1.]]))
    array([[25.,  4.]])
    """
    W = as_weight(layer_or_W, "obd_layer_scores").astype(np.float64)
    X = check_inputs(W, X, "obd_layer_scores")                    # (N, in), finite
    return W ** 2 * (X ** 2).sum(axis=0)[None, :]                  # (out, in)


@criterion("obd", level="connection", needs=("X",))
def obd(net, X, y=None, loss: str = "cross_entropy") -> list:
    """The registered criterion: :func:`obd_scores`, (out, in) per Dense layer."""
    return obd_scores(net, X, loss)
