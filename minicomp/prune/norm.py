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
from .magnitude import as_weight


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
