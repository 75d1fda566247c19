r"""The cubic sparsity schedule of gradual pruning (Zhu & Gupta 2017).

.. math:: s_t = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{n\,\Delta t}\Big)^3,
          \qquad t \in \{t_0, t_0 + \Delta t, \dots, t_0 + n\Delta t\}

The sparsity rises from :math:`s_i` at step :math:`t_0` to :math:`s_f` at
step :math:`t_0 + n\Delta t`, fast at first (while the network still has
many redundant weights) and slowly at the end. Before :math:`t_0` it is
:math:`s_i`, after the end :math:`s_f`; between pruning steps it holds the
value of the last one (pruning happens every :math:`\Delta t` steps). TF
Model Optimization's ``PolynomialDecay`` with ``power=3`` is the same curve.

References
----------
Zhu, M., Gupta, S. (2017). To prune, or not to prune: exploring the
efficacy of pruning for model compression. arXiv:1710.01878.
"""
from __future__ import annotations

from .. import validate


def cubic_sparsity(t: int, s_f: float, s_i: float = 0.0, t0: int = 0, n: int = 10,
                   dt: int = 1) -> float:
    """Target sparsity at step ``t`` (a pure function).

    Parameters
    ----------
    t : int
        Training step.
    s_f, s_i : float in [0, 1)
        Final and initial sparsity.
    t0 : int
        First pruning step.
    n, dt : int
        Number of pruning steps and steps between them.

    Examples
    --------
    >>> [round(cubic_sparsity(t, 0.9, n=4, dt=10), 4) for t in (0, 10, 20, 40, 99)]
    [0.0, 0.5203, 0.7875, 0.9, 0.9]
    >>> cubic_sparsity(15, 0.9, n=4, dt=10) == cubic_sparsity(10, 0.9, n=4, dt=10)
    True
    """
    where = "cubic_sparsity"
    s_f, s_i = (validate.number(v, name, low=0, high=1, high_open=True, where=where)
                for name, v in (("s_f", s_f), ("s_i", s_i)))
    t, t0 = (validate.integer(v, name, low=0, where=where) for name, v in (("t", t), ("t0", t0)))
    n, dt = (validate.integer(v, name, low=1, where=where) for name, v in (("n", n), ("dt", dt)))
    if t < t0:
        return float(s_i)
    k = min((t - t0) // dt, n)                                     # pruning steps done
    return float(s_f + (s_i - s_f) * (1.0 - k / n) ** 3)
