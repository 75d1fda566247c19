r"""Norm criterion for neurons: the L1 or L2 norm of a neuron's weights.

.. math:: s_i = \lVert w_{i,:} \rVert_p = \Big(\sum_j |w_{ij}|^p\Big)^{1/p},
          \qquad p \in \{1, 2\}

The structured baseline of Li et al. (2017) (L1 norm of a filter) and of
Distiller's L1/L2-ranked pruners. It looks at the weights only; the
activation importance :math:`R_i` (:mod:`minicomp.prune.activation`) is
the same sum weighted by how large each input is.

References
----------
Li, H., Kadav, A., Durdanovic, I., Samet, H., Graf, H. P. (2017). Pruning
Filters for Efficient ConvNets. ICLR. arXiv:1608.08710.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from .magnitude import as_weight
from .registry import criterion


def norm_scores(layer_or_W, p: int = 1) -> np.ndarray:
    r"""Neuron scores :math:`\lVert w_{i,:}\rVert_p`, shape ``(out,)``.

    Examples
    --------
    >>> W = np.array([[3., -4.], [1., 1.]])
    >>> norm_scores(W, p=1), norm_scores(W, p=2)
    (array([7., 2.]), array([5.        , 1.41421356]))
    """
    p = validate.choice(p, "p", (1, 2), where="norm_scores")
    W = as_weight(layer_or_W, "norm_scores").astype(np.float64)
    return np.linalg.norm(W, ord=p, axis=1)                          # (out,)


@criterion("l1", level="neuron")
def l1(net, X=None, y=None) -> list:
    """The registered criterion: :func:`norm_scores` with p = 1, (out,) per Dense layer."""
    return [norm_scores(b.dense, p=1) for b in dense_blocks(net, "l1")]


@criterion("l2", level="neuron")
def l2(net, X=None, y=None) -> list:
    """The registered criterion: :func:`norm_scores` with p = 2, (out,) per Dense layer."""
    return [norm_scores(b.dense, p=2) for b in dense_blocks(net, "l2")]
