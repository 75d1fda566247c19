r"""Knowledge distillation: a small student learns from a large teacher's outputs.

One file per idea; each starts with its formula and its paper.

- :mod:`.loss`: ``kd_loss`` (Hinton et al. 2015: soft targets at
  temperature T, T², batchmean, plus the labels; ``hard=True`` for
  seed 004's hard labels), ``soft_targets``, ``average_teachers``
  (several teachers' probabilities averaged, not their logits);
- :mod:`.teacher`: ``DistillConfig``, ``distill(student, teacher, X, y)``
  through :func:`minicomp.fit` (teacher frozen, logits cached or per
  batch), and ``Distill``, the fine-tuner for prune-then-distill;
- :mod:`.hints`: ``hint_train``, FitNets' hint of a hidden layer through a
  learned projection (Romero et al. 2015).

================== ============================================ ==============
what               how                                          file
================== ============================================ ==============
soft labels        α·T²·KL(p_T ‖ q_T) + (1 − α)·CE(y, z_s)      :mod:`.loss`
hard labels        CE(argmax z_t, z_s)                          :mod:`.loss`
several teachers   softmax(z̄/T) = mean of softmax(z_m/T)       :mod:`.loss`
training           ``fit(..., teacher=...)``                    :mod:`.teacher`
prune-then-distill ``one_shot(..., fine_tune=Distill(t))``      :mod:`.teacher`
hints              ``‖r(h_s) − h_t‖²``, then ``distill``        :mod:`.hints`
================== ============================================ ==============

Examples
--------
>>> import numpy as np
>>> from minicomp import MLP, fit
>>> from minicomp.distill import DistillConfig, distill
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((128, 8)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(int)
>>> teacher, student = MLP([8, 32, 2], seed=0), MLP([8, 4, 2], seed=1)
>>> _ = fit(teacher, X, y, epochs=5, quiet=True)
>>> before = [p.data.copy() for p in teacher.parameters()]
>>> history = distill(student, teacher, X, y, DistillConfig(T=4.0, alpha=0.9),
...                   epochs=5, quiet=True)
>>> all(np.array_equal(a, p.data) for a, p in zip(before, teacher.parameters()))
True
"""
from .hints import hint_train
from .loss import average_teachers, kd_loss, soft_targets
from .teacher import Distill, DistillConfig, TeacherEnsemble, distill

__all__ = ["kd_loss", "soft_targets", "average_teachers", "DistillConfig", "distill",
           "Distill", "TeacherEnsemble", "hint_train"]
