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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise TypeError(f"seed={seed!r}; expected an int or a numpy Generator")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    return rng.random(shape)
