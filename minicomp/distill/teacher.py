r"""Teacher-student training through :func:`minicomp.fit`.

The teacher is frozen: :func:`minicomp.fit` runs it in eval mode without a
graph (so dropout is off and its parameters never receive a gradient), or
takes its logits computed once before training (``cache=True``, the
default: one forward pass of the teacher instead of one per epoch). Caching
is exact here because the inputs never change between epochs; with data
augmentation (a new random crop or noise every epoch) the teacher must see
the augmented batch, so ``cache=False``.

Several teachers are one teacher whose probabilities at T are the average
of theirs (:func:`~minicomp.distill.loss.average_teachers`).

A :class:`Distill` is a :class:`~minicomp.prune.FineTune` that learns from
a teacher, so every pruning procedure can recover with distillation instead
of plain fine-tuning: prune-then-distill is
``one_shot(net, X, y, "activation", 0.5, fine_tune=Distill(teacher))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import validate
from ..nn import Module, io_features
from ..optim import SGD, CosineLR
from ..prune.procedures import FineTune
from ..tensor import Tensor
from ..fit_checks import fit_teacher
from ..train import fit, predict
from .loss import average_teachers, check_temperature, kd_loss


@dataclass
class DistillConfig:
    """How the student learns from the teacher (Hinton et al. 2015)."""

    T: float = 4.0             # temperature of both softmaxes (Hinton et al.: 2..20 work)
    alpha: float = 0.9         # weight of the soft term; 1 - alpha weighs the labels
    hard: bool = False         # learn the teacher's argmax instead (seed 004; no dark knowledge)
    cache: bool = True         # teacher logits computed once (False: per batch, for augmentation)

    def __post_init__(self):
        check_temperature(self.T, self.alpha, where="DistillConfig")
        validate.flag(self.hard, "hard", where="DistillConfig")
        validate.flag(self.cache, "cache", where="DistillConfig")


class TeacherEnsemble(Module):
    """Several frozen teachers as one Module: logits whose softmax at T averages theirs."""

    def __init__(self, teachers, T: float = 4.0):
        self.teachers = teachers_of(teachers, "TeacherEnsemble")
        self.T, _ = check_temperature(T, where="TeacherEnsemble")
        self.in_features, self.out_features = io_features(self.teachers[0])
        for i, t in enumerate(self.teachers[1:], 1):
            if io_features(t) != io_features(self.teachers[0]):
                raise ValueError(f"TeacherEnsemble: teachers[{i}] maps {io_features(t)} "
                                 f"(in, out) features but teachers[0] maps "
                                 f"{io_features(self.teachers[0])}; expected the same")

    def named_children(self):
        for i, teacher in enumerate(self.teachers):
            yield str(i), teacher

    def forward(self, x):
        return Tensor(average_teachers([predict(t, x) for t in self.teachers], self.T))


def teachers_of(teacher, where) -> list:
    """``teacher`` (a Module or a non-empty list or tuple of them) as a list of Modules."""
    teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    if not teachers:
        raise ValueError(f"{where}: teacher is an empty {type(teacher).__name__}; expected a "
                         "Module or a list of Modules")
    for i, t in enumerate(teachers):
        validate.module(t, f"teacher[{i}]" if len(teachers) > 1 else "teacher", where=where)
    return teachers


def _teacher(teacher, student, config, where) -> Module:
    """One frozen teacher Module for ``student``: the teacher, or its teachers averaged."""
    teachers = teachers_of(teacher, where)
    for t in teachers:                         # its features, and no parameter shared
        fit_teacher(t, student, None, where)
    return teachers[0] if len(teachers) == 1 else TeacherEnsemble(teachers, config.T)


def distill(student, teacher, X, y, config: DistillConfig | None = None, **fit_kwargs):
    """Train ``student`` on ``(X, y)`` and the teacher's outputs with :func:`kd_loss`.

    Parameters
    ----------
    student : Module (trained in place)
    teacher : Module, or a list of Modules (their probabilities at T averaged)
        Frozen: never changed.
    X, y : ndarray, (N, D) inputs and (N,) integer labels
    config : DistillConfig, optional
        T, alpha, hard or soft labels, cached teacher logits.
    **fit_kwargs
        Passed on to :func:`minicomp.fit` (``epochs``, ``optimizer``, ``lr``,
        ``batch_size``, ``seed``, ``scheduler``, ``validation``,
        ``early_stopping``, ``callbacks``, ``quiet``, ``augment``);
        ``validation`` reports the student's cross-entropy with the labels.
        With ``augment`` the teacher runs on every augmented batch (its
        logits are not cached, whatever ``config.cache`` says).

    Returns
    -------
    History

    Raises
    ------
    TypeError, ValueError
        ``config`` not a DistillConfig; teachers that are not Modules or map
        other features than the student; what :func:`minicomp.fit` refuses.
    """
    where = "distill"
    config = DistillConfig() if config is None else config
    if not isinstance(config, DistillConfig):
        raise TypeError(f"{where}: config is a {type(config).__name__}; expected a "
                        "DistillConfig(T=..., alpha=...)")
    for name in ("loss", "teacher"):
        if name in fit_kwargs:
            raise TypeError(f"{where}: {name}= is set by distill itself; pass the teacher as "
                            "the second argument and T, alpha in config")
    validate.module(student, "student", where=where)
    teacher = _teacher(teacher, student, config, where)
    if config.cache and fit_kwargs.get("augment") is None:   # (N, K) once; fit checks X
        teacher = predict(teacher, validate.array(X, "X", ndim=2, width=io_features(student)[0],
                                                  where=where))

    def loss(y_hat, y_b, t_b):
        return kd_loss(y_hat, t_b, y_b, T=config.T, alpha=config.alpha, hard=config.hard)

    return fit(student, X, y, loss=loss, teacher=teacher, **fit_kwargs)


@dataclass
class Distill(FineTune):
    """A :class:`~minicomp.prune.FineTune` that learns from ``teacher`` (prune-then-distill)."""

    teacher: object = None                                   # Module or list of Modules
    config: DistillConfig = field(default_factory=DistillConfig)   # T, alpha, hard, cache

    def __post_init__(self):
        super().__post_init__()
        if self.teacher is None:
            raise ValueError("Distill: teacher is None; expected the frozen teacher Module, "
                             "e.g. Distill(teacher=net_before_pruning)")
        teachers_of(self.teacher, "Distill")
        if not isinstance(self.config, DistillConfig):
            raise TypeError(f"Distill: config is a {type(self.config).__name__}; expected a "
                            "DistillConfig(T=..., alpha=...)")

    def __call__(self, net, X, y, callbacks=()):
        """Train ``net`` in place from the teacher; returns the :class:`~minicomp.train.History`."""
        opt = SGD(net.parameters(), lr=self.lr, momentum=self.momentum,
                  weight_decay=self.weight_decay)
        return distill(net, self.teacher, X, y, self.config, optimizer=opt, epochs=self.epochs,
                       batch_size=self.batch_size, seed=self.seed,
                       scheduler=CosineLR(opt, T=self.epochs), callbacks=callbacks, quiet=True,
                       augment=self.augment)
