r"""Random criterion: the baseline every other criterion must beat.

.. math:: s_{ij} \sim U(0, 1) \text{ i.i.d.}

Ranking by independent uniform scores removes a uniformly random subset of
the requested size. LeCun et al. (1990) and every later study report it
far below magnitude, OBD or Taylor; a criterion that does not beat it
ranks nothing.

References
----------
LeCun, Y., Denker, J., Solla, S. (1990). Optimal Brain Damage. NeurIPS 2.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from .registry import criterion


def random_scores(shape, seed=0) -> np.ndarray:
    """Uniform random scores of ``shape`` (connections ``(out, in)`` or neurons ``(out,)``).

    Parameters
    ----------
    shape : int or tuple of int
    seed : int or numpy.random.Generator

    Examples
    --------
    >>> s = random_scores((2, 3), seed=0)
    >>> s.shape, bool(((0 <= s) & (s < 1)).all())
    ((2, 3), True)
    >>> bool((random_scores(4, seed=1) == random_scores(4, seed=1)).all())
    True
    """
    rng = validate.rng(seed, "seed", where="random_scores")
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(dims, (bool, np.bool_)) or not isinstance(dims, tuple) or not dims or any(
            isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 1
            for d in dims):
        raise ValueError(f"random_scores: shape={shape!r}; expected a positive int or a "
                         "non-empty tuple of positive ints, e.g. W.shape")
    return rng.random(tuple(int(d) for d in dims))


@criterion("random", level="connection")
def random(net, X=None, y=None, seed=0) -> list:
    """The registered criterion: random scores (out, in) for every Dense layer, one stream."""
    rng = validate.rng(seed, "seed", where="random")
    return [random_scores(b.dense.W.shape, rng) for b in dense_blocks(net, "random")]


@criterion("random_neuron", level="neuron")
def random_neuron(net, X=None, y=None, seed=0) -> list:
    """The registered criterion: random scores (out,) for every Dense layer, one stream."""
    rng = validate.rng(seed, "seed", where="random_neuron")
    return [random_scores(b.dense.out_features, rng) for b in dense_blocks(net, "random_neuron")]
