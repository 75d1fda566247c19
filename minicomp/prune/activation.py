r"""Activation importance (seed 000) and the Wanda connection score.

Seed 000 ranks a neuron (or connection) by

.. math:: R_i = \sum_j |w_{ij}\, y_j|,

where :math:`w_{ij}` is the weight from input j to neuron i (``W[i, j]``,
``W`` of shape (out, in)) and :math:`y_j` is input j of the layer, i.e. the
output of neuron j of the layer below. The seed does not say which inputs;
here they are a calibration batch :math:`y_{nj}`, n = 1..N, and the
reduction over the batch is the mean:

.. math:: R_i = \frac1N\sum_n \sum_j |w_{ij}\, y_{nj}|
          = \sum_j |w_{ij}|\; \mathbb E_n |y_{nj}| .

:math:`R_i` bounds how far input changes move the neuron: for each sample,
:math:`|z_i - b_i| = |\sum_j w_{ij} y_j| \le \sum_j |w_{ij} y_j|`, so a
neuron with a small :math:`R_i` barely changes its pre-activation.

The connection-level version keeps the terms apart. Wanda (Sun et al.
2023) scores connection (i, j) by

.. math:: S_{ij} = |w_{ij}| \cdot \lVert y_{:,j} \rVert_2,
          \qquad \lVert y_{:,j}\rVert_2 = \Big(\sum_n y_{nj}^2\Big)^{1/2},

and compares scores within each row. How the two relate: for one sample
(N = 1) the row sums of S are exactly R (:math:`\sum_j S_{ij} = R_i`); over
a batch, R uses the mean absolute input and S the root of the summed
squares (:math:`\sqrt N` times the RMS), so they agree up to a factor when
every input has a constant magnitude. Summing S down a column instead
scores the upstream unit j.

References
----------
Sun, M., Liu, Z., Bair, A., Kolter, J. Z. (2023). A Simple and Effective
Pruning Approach for Large Language Models (Wanda). arXiv:2306.11695.
Yu, D., Seide, F., Li, G., Deng, L. (2012). Exploiting sparseness in deep
neural networks for large vocabulary speech recognition. ICASSP.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks, numpy_forward
from .magnitude import as_weight
from .registry import criterion


def check_inputs(W: np.ndarray, X, where=None) -> np.ndarray:
    """A layer's inputs ``X`` (N, in) for ``W`` (out, in): numeric, finite, non-empty; float64."""
    X = validate.array(getattr(X, "data", X), "X", finite=False, nonempty=False, where=where)
    if X.ndim != 2 or X.shape[1] != W.shape[1]:
        raise ValueError(f"{where + ': ' if where else ''}X has shape {X.shape}; expected "
                         f"(batch, {W.shape[1]}): one row per sample, one column per input of "
                         f"the layer (W is {W.shape})")
    return validate.array(X, "X", where=where, dtype=np.float64)   # no rows, NaN or inf


def activation_importance(layer_or_W, X) -> np.ndarray:
    r"""Neuron importance :math:`R_i = \sum_j |w_{ij}|\,\mathbb E_n|y_{nj}|`, shape ``(out,)``.

    Parameters
    ----------
    layer_or_W : Dense or ndarray, shape (out, in)
    X : ndarray, shape (N, in)
        The layer's inputs :math:`y_{nj}` on a calibration batch.

    Examples
    --------
    >>> W = np.array([[1., -2.], [0., 3.]])
    >>> X = np.array([[1., 2.], [-1., -2.]])      # E|y| = [1, 2]
    >>> activation_importance(W, X)               # [1*1 + 2*2, 0*1 + 3*2]
    array([5., 6.])
    """
    W = as_weight(layer_or_W, "activation_importance")
    y = np.abs(check_inputs(W, X, "activation_importance")).mean(axis=0)   # (in,)
    return np.abs(W) @ y                                           # (out, in) @ (in,) -> (out,)


def wanda_scores(layer_or_W, X) -> np.ndarray:
    r"""Connection scores :math:`|w_{ij}|\,\lVert y_{:,j}\rVert_2`, shape ``(out, in)``.

    Examples
    --------
    >>> W = np.array([[1., -2.], [0., 3.]])
    >>> wanda_scores(W, np.array([[3., 0.], [4., 1.]]))   # norms [5, 1]
    array([[5., 2.],
           [0., 3.]])
    """
    W = as_weight(layer_or_W, "wanda_scores")
    norms = np.linalg.norm(check_inputs(W, X, "wanda_scores"), axis=0)   # (in,)
    return np.abs(W) * norms[None, :]                              # (out, in)


@criterion("activation", level="neuron", needs=("X",))
def activation(net, X, y=None) -> list:
    """The registered criterion: :math:`R_i` of every Dense layer on its inputs, (out,) each."""
    _, inputs = numpy_forward(net, X, inputs=True, where="activation")     # [(N, in_l), ...]
    return [activation_importance(b.dense, x) for b, x in zip(dense_blocks(net), inputs)]


@criterion("wanda", level="connection", needs=("X",))
def wanda(net, X, y=None) -> list:
    """The registered criterion: Wanda scores of every Dense layer on its inputs, (out, in) each."""
    _, inputs = numpy_forward(net, X, inputs=True, where="wanda")          # [(N, in_l), ...]
    return [wanda_scores(b.dense, x) for b, x in zip(dense_blocks(net), inputs)]
