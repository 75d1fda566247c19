r"""First-order Taylor criterion: the loss change a removal predicts from the gradient.

Removing connection q sets :math:`w_q \to 0`, a step :math:`\delta w = -w_q`
along :math:`e_q`. To first order the loss changes by

.. math:: \Delta L_q \approx -\,w_q\, \frac{\partial L}{\partial w_q},
          \qquad s_q = \Big| w_q\, \frac{\partial L}{\partial w_q} \Big| .

For neuron i (removing row i of ``W`` and :math:`b_i`, i.e. setting its
pre-activation :math:`z_i` to 0) the same expansion gives Molchanov et al.'s
:math:`|\tfrac1N \sum_n \partial L/\partial z_{ni} \cdot z_{ni}|`, and since
:math:`\partial L/\partial w_{ij} = \sum_n \delta_{ni} y_{nj}` it is the row
sum of the connection terms plus the bias term:

.. math:: s_i = \Big|\sum_j w_{ij}\frac{\partial L}{\partial w_{ij}}
          + b_i\frac{\partial L}{\partial b_i}\Big| .

Accumulation over minibatches (the ``mode`` argument):

- ``"abs"`` (default, Molchanov et al. 2017): the absolute value per
  minibatch, averaged over minibatches,
  :math:`\frac1B\sum_b |w_q g_{b,q}|`. At a minimum the full-data gradient
  is ~0, but the per-batch terms are not: this keeps the ranking
  informative after training. It depends on the batch size (stated
  deviation from the exact first-order term).
- ``"first_order"``: the exact first-order term of the full-data loss,
  :math:`|w_q \bar g_q|` with :math:`\bar g` the gradient on all of X.

Molchanov et al. normalise the scores of each layer by their L2 norm for a
global ranking; ``normalize=True`` does that.

References
----------
Molchanov, P., Tyree, S., Karras, T., Aila, T., Kautz, J. (2017). Pruning
Convolutional Neural Networks for Resource Efficient Inference. ICLR.
arXiv:1611.06440.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks, net_inputs
from ..data import batches
from ..tensor import Tensor
from ..fit_checks import loss_function
from .registry import criterion


def check_targets(y, n: int, num_classes: int, loss="cross_entropy", where=None):
    """Targets of ``n`` samples: class labels in ``0..num_classes-1`` for cross-entropy,
    else a finite array with one row per sample."""
    if loss == "cross_entropy":
        return validate.labels(y, "y", n=n, num_classes=num_classes, where=where)
    y = validate.array(getattr(y, "data", y), "y", ndim=(1, 2), where=where)
    if len(y) != n:
        raise ValueError(f"{where + ': ' if where else ''}y has {len(y)} rows; expected {n}, "
                         "one per row of X")
    return y


def taylor_scores(net, X, y, loss="cross_entropy", level: str = "connection",
                  mode: str = "abs", batch_size: int = 64, normalize: bool = False) -> list:
    r"""Taylor scores of every Dense layer of ``net`` on ``(X, y)``.

    Parameters
    ----------
    net : Module
    X, y : ndarray
        Data the loss is measured on (N, in) and its targets.
    loss : "cross_entropy", "mse" or callable ``loss(y_hat, y) -> Tensor``
    level : {"connection", "neuron"}
        Scores of shape (out, in) per layer, or (out,) per layer.
    mode : {"abs", "first_order"}
        See the module docstring.
    batch_size : int
    normalize : bool
        Divide each layer's scores by their L2 norm.

    Returns
    -------
    list of ndarray
        One score array per Dense layer, in forward order.

    Raises
    ------
    TypeError, ValueError
        ``X`` not a finite (N, in) batch for ``net``; ``y`` not one label
        in ``0..classes-1`` per row of ``X`` (cross-entropy); bad names.
    """
    where = "taylor_scores"
    level = validate.choice(level, "level", ("connection", "neuron"), where=where)
    mode = validate.choice(mode, "mode", ("abs", "first_order"), where=where)
    loss_fn = loss_function(loss, where)
    batch_size = validate.integer(batch_size, "batch_size", low=1, where=where)
    normalize = validate.flag(normalize, "normalize", where=where)
    X = net_inputs(net, X, where=where)                             # (N, in), finite
    layers = [b.dense for b in dense_blocks(net, where)]
    y = check_targets(y, len(X), layers[-1].out_features, loss, where)
    total = [np.zeros(m.out_features if level == "neuron" else m.W.shape) for m in layers]
    was_training = net.training
    net.eval()
    for X_b, y_b in batches(X, y, batch_size, shuffle=False):
        net.zero_grad()
        loss_fn(net(Tensor(X_b)), y_b).backward()
        weight = len(X_b) / len(X)                                  # batch share of the mean
        for acc, m in zip(total, layers):
            T = m.W.data.astype(np.float64) * m.W.grad              # (out, in) w * dL/dw
            if level == "neuron":
                T = T.sum(axis=1)                                   # (out,)
                if m.b is not None:
                    T = T + m.b.data * m.b.grad
            acc += weight * (np.abs(T) if mode == "abs" else T)
    net.zero_grad()
    net.train(was_training)
    scores = [np.abs(acc) for acc in total]
    if normalize:
        scores = [s / max(np.linalg.norm(s), np.finfo(float).tiny) for s in scores]
    return scores


@criterion("taylor", level="connection", needs=("X", "y"))
def taylor(net, X, y, loss="cross_entropy", mode: str = "abs", batch_size: int = 64) -> list:
    """The registered criterion: :func:`taylor_scores` per connection, (out, in) per layer."""
    return taylor_scores(net, X, y, loss, "connection", mode, batch_size)


@criterion("taylor_neuron", level="neuron", needs=("X", "y"))
def taylor_neuron(net, X, y, loss="cross_entropy", mode: str = "abs",
                  batch_size: int = 64) -> list:
    """The registered criterion: :func:`taylor_scores` per neuron, (out,) per layer."""
    return taylor_scores(net, X, y, loss, "neuron", mode, batch_size)
