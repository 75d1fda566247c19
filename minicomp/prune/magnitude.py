r"""Magnitude criterion: a connection matters as much as its weight is large.

.. math:: s_{ij} = |w_{ij}|

Two ways to cut, both from the seeds and Han et al. (2015):

- a **threshold** :math:`\varepsilon` (seeds 002/004: remove
  :math:`\{w : |w| < \varepsilon\}`), :func:`magnitude_threshold_mask` --
  the sparsity is whatever :math:`\varepsilon` gives;
- a **level** (a fraction or a count), ``mask_from_scores(|W|, amount)`` --
  the sparsity is exactly the one asked for.

Han et al. choose the threshold as a quality parameter times the layer's
standard deviation; the level form used in the procedures is the same
ranking with a target sparsity instead (no deviation in the scores).

References
----------
Han, S., Pool, J., Tran, J., Dally, W. (2015). Learning both Weights and
Connections for Efficient Neural Networks. NeurIPS. arXiv:1506.02626.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from .mask import threshold_mask
from .registry import criterion


def as_weight(layer_or_W, where=None) -> np.ndarray:
    """The weight matrix ``(out, in)`` of a Dense layer, or the array itself (finite numbers)."""
    W = getattr(layer_or_W, "W", layer_or_W)
    W = validate.array(getattr(W, "data", W), "layer_or_W", where=where)
    if W.ndim != 2:
        raise ValueError(f"{where + ': ' if where else ''}layer_or_W has shape {W.shape}; "
                         "expected a Dense layer or a 2-D weight matrix (out, in)")
    return W


def magnitude_scores(layer_or_W) -> np.ndarray:
    r"""Connection scores :math:`|w_{ij}|`, shape ``(out, in)``.

    Examples
    --------
    >>> magnitude_scores(np.array([[1., -2.], [0.5, 0.]]))
    array([[1. , 2. ],
           [0.5, 0. ]])
    """
    return np.abs(as_weight(layer_or_W, "magnitude_scores"))       # (out, in)


def magnitude_threshold_mask(layer_or_W, epsilon: float) -> np.ndarray:
    r"""Mask keeping :math:`|w_{ij}| \ge \varepsilon` (seeds 002/004's rule).

    Examples
    --------
    >>> magnitude_threshold_mask(np.array([[0.005, -0.2], [0.01, -0.001]]), 0.01)
    array([[0., 1.],
           [1., 0.]], dtype=float32)
    """
    epsilon = validate.number(epsilon, "epsilon", where="magnitude_threshold_mask")
    return threshold_mask(magnitude_scores(layer_or_W), epsilon)


@criterion("magnitude", level="connection")
def magnitude(net, X=None, y=None) -> list:
    """The registered criterion: :func:`magnitude_scores` of every Dense layer, (out, in) each."""
    return [magnitude_scores(b.dense) for b in dense_blocks(net, "magnitude")]
