r"""The distillation loss: soft targets at temperature T, scaled by T², plus the labels.

.. math::

    L = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\big\|\,
        \mathrm{softmax}(z_s/T)\big) + (1-\alpha)\,\mathrm{CE}(y, z_s)

with ``batchmean`` (the KL summed over classes, averaged over the N
examples of the batch). ``z_t`` are the teacher's logits (constants: the
teacher does not learn), ``z_s`` the student's.

Why T². Write :math:`p = \mathrm{softmax}(z_t/T)` and :math:`q =
\mathrm{softmax}(z_s/T)`. For one example the gradient of the KL term is

.. math:: \frac{\partial\,\mathrm{KL}(p\|q)}{\partial z_{s,i}}
          = \frac1T\,(q_i - p_i).

For a large T, :math:`e^{z/T} \approx 1 + z/T`, so with K classes and
logits of zero mean per example, :math:`q_i \approx (1 + z_{s,i}/T)/K`
and

.. math:: \frac{\partial\,\mathrm{KL}}{\partial z_{s,i}} \approx
          \frac{1}{K\,T^2}\,(z_{s,i} - z_{t,i}),

Hinton et al.'s :math:`\frac{1}{NT^2}(z_i - v_i)`, their N being the number
of classes. Averaged over a batch of N examples it is
:math:`\approx \frac{1}{N K T^2}(z_s - z_t)`: the soft term's gradient
shrinks as :math:`1/T^2`. Multiplying by :math:`T^2` keeps it at the scale
of the label term whatever T is, so α means the same thing at every
temperature (in the high-T limit the soft term is logit matching,
:math:`\frac{1}{2K}\|z_s - z_t\|^2` per example).

Three ways this loss is commonly written wrong, each caught by a test:
:math:`T^2` left out (the soft term fades as T grows); ``mean`` instead of
``batchmean`` (divides by N·K, K times too small, and is not a KL); the KL's
arguments swapped (``KL(q‖p)`` has another gradient and another minimum on
the way).

Hard-label distillation (seed 004's 硬标签蒸馏): the student learns the
teacher's argmax with the ordinary cross-entropy. It throws away what the
teacher says about the *other* classes -- the "dark knowledge" in the
small probabilities a temperature makes visible.

References
----------
Hinton, G., Vinyals, O., Dean, J. (2015). Distilling the Knowledge in a
Neural Network. arXiv:1503.02531.
PyTorch: ``F.kl_div(F.log_softmax(z_s/T), F.softmax(z_t/T),
reduction="batchmean") * T**2`` (the oracle of the tests).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import validate
from ..tensor import Tensor


def check_temperature(T, alpha=None, where=None) -> tuple:
    """``(T, alpha)`` as floats: T > 0 and finite, alpha in [0, 1] (None: not checked)."""
    T = validate.number(T, "T", low=0.0, low_open=True, where=where)
    if alpha is not None:
        alpha = validate.number(alpha, "alpha", low=0.0, high=1.0, where=where)
    return T, alpha


def _logits(student_logits, teacher_logits, where) -> tuple:
    """The student's logits as a Tensor and the teacher's as an array of the same shape."""
    z_s = student_logits if isinstance(student_logits, Tensor) else Tensor(student_logits)
    validate.array(z_s.data, "student_logits", ndim=2, where=where)      # finite, (N, K)
    z_t = validate.array(teacher_logits, "teacher_logits", ndim=2, dtype=z_s.dtype, where=where)
    if z_t.shape != z_s.shape:
        raise ValueError(f"{where}: teacher_logits has shape {z_t.shape} but student_logits "
                         f"has shape {z_s.shape}; expected the same examples and classes")
    return z_s, z_t


def _over_T(z, T, name, where):
    """``z / T`` (an array or a Tensor), refused when it overflows (a tiny T, or huge logits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        zT = z * (1.0 / T)
    if not np.isfinite(getattr(zT, "data", zT)).all():
        raise ValueError(f"{where}: {name} / T overflows at T={T:g} (largest |{name}| "
                         f"{np.abs(getattr(z, 'data', z)).max():.3g}); expected a larger "
                         "temperature")
    return zT


def soft_targets(teacher_logits, T: float = 4.0) -> np.ndarray:
    """The teacher's probabilities at temperature T: ``softmax(z_t / T)`` row by row.

    Examples
    --------
    >>> soft_targets(np.array([[2.0, 0.0]]), T=1.0).round(3)    # e^2/(e^2+1)
    array([[0.881, 0.119]])
    >>> soft_targets(np.array([[2.0, 0.0]]), T=4.0).round(3)    # softer: e^.5/(e^.5+1)
    array([[0.622, 0.378]])
    """
    T, _ = check_temperature(T, where="soft_targets")
    z_t = validate.array(teacher_logits, "teacher_logits", ndim=2, where="soft_targets")
    return F.softmax(Tensor(_over_T(z_t, T, "teacher_logits", "soft_targets")),
                     axis=1).data                                        # (N, K)


def kd_loss(student_logits, teacher_logits, y=None, T: float = 4.0, alpha: float = 0.9,
            hard: bool = False) -> Tensor:
    r"""Hinton et al.'s distillation loss (see the module docstring), differentiable in z_s.

    Parameters
    ----------
    student_logits : Tensor, shape (N, K)
    teacher_logits : ndarray, shape (N, K)
        Constants (the teacher is frozen).
    y : ndarray (N,) integer labels, or None when ``alpha == 1``
    T : float > 0
        Temperature of both softmaxes (T = 1: plain probabilities).
    alpha : float in [0, 1]
        Weight of the soft term; ``1 - alpha`` weighs the labels.
    hard : bool
        Hard-label distillation: the soft term becomes the cross-entropy with
        the teacher's argmax (T is not used).

    Returns
    -------
    Tensor, a scalar

    Raises
    ------
    TypeError, ValueError
        T <= 0, alpha outside [0, 1], logits that are not finite (N, K) with
        the same shape, labels missing (alpha < 1) or outside 0..K-1.

    Examples
    --------
    Equal logits give a zero soft term, so with alpha = 1 the loss is 0:

    >>> z = np.array([[1.0, 2.0, 3.0]])
    >>> float(kd_loss(Tensor(z), z, T=2.0, alpha=1.0).data)
    0.0
    """
    where = "kd_loss"
    T, alpha = check_temperature(T, alpha, where)
    hard = validate.flag(hard, "hard", where=where)
    z_s, z_t = _logits(student_logits, teacher_logits, where)           # (N, K) each
    if alpha < 1.0 and y is None:
        raise ValueError(f"{where}: y is None with alpha={alpha}; expected the labels, or "
                         "alpha=1 for a loss on the teacher alone")
    if hard:
        soft = F.cross_entropy(z_s, z_t.argmax(axis=1))                  # teacher's argmax
    else:
        log_q = F.log_softmax(_over_T(z_s, T, "student_logits", where), axis=1)  # (N, K)
        p = F.softmax(Tensor(_over_T(z_t, T, "teacher_logits", where)), axis=1).data
        soft = F.kl_div(log_q, p, reduction="batchmean") * (T * T)
    if alpha == 1.0:
        return soft
    y = validate.labels(y, "y", n=len(z_t), num_classes=z_t.shape[1], where=where)
    return soft * alpha + F.cross_entropy(z_s, y) * (1.0 - alpha)


def average_teachers(teacher_logits, T: float = 4.0) -> np.ndarray:
    r"""Several teachers as one: logits whose softmax at T is their *averaged* probabilities.

    .. math:: \bar z = T \log \frac1M \sum_{m=1}^M \mathrm{softmax}(z_m / T),
              \qquad \mathrm{softmax}(\bar z / T) = \frac1M\sum_m
              \mathrm{softmax}(z_m/T)

    Averaging the probabilities is the ensemble's prediction; averaging the
    logits is not (it is a geometric mean of the probabilities,
    renormalised, and lets one overconfident teacher outvote the others).

    Parameters
    ----------
    teacher_logits : sequence of M arrays (N, K)
    T : float > 0

    Examples
    --------
    >>> z = average_teachers([np.array([[9.0, 0.0]]), np.array([[0.0, 1.0]])], T=1.0)
    >>> soft_targets(z, T=1.0).round(3)          # (0.9999 + 0.2689) / 2, ...
    array([[0.634, 0.366]])
    """
    T, _ = check_temperature(T, where="average_teachers")
    if not isinstance(teacher_logits, (list, tuple)) or not teacher_logits:
        raise ValueError(f"average_teachers: teacher_logits={teacher_logits!r:.60}; expected "
                         "a non-empty list of (N, K) logit arrays, one per teacher")
    P = [soft_targets(z, T) for z in teacher_logits]                     # M x (N, K)
    if len({p.shape for p in P}) > 1:
        raise ValueError(f"average_teachers: teachers' logits have shapes "
                         f"{[p.shape for p in P]}; expected the same (N, K) for every teacher")
    p_bar = np.mean(P, axis=0)                                           # (N, K)
    return T * np.log(np.maximum(p_bar, np.finfo(p_bar.dtype).tiny))
