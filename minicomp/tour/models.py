"""The tour's rows that change the model: distillation, low rank, search, ensembles.

- ``kd`` -- Hinton et al. (2015): a smaller student (``config.student``)
  trained on :math:`\\alpha T^2 \\mathrm{KL}(p_T \\Vert q_T) + (1-\\alpha)
  \\mathrm{CE}` with the baseline as teacher; T chosen on validation;
- ``prune_distill`` -- hidden neurons removed by :math:`R_i`, compacted,
  and recovered by distillation from the unpruned baseline;
- ``lowrank`` -- layers 0 and 1 replaced by rank-r factors, the SVD taken on
  the data (SVD-LLM, Wang et al. 2024), then distilled from the baseline;
  r chosen on validation;
- ``nas`` -- regularized evolution (Real et al. 2019) over small MLPs under
  half the baseline's bytes, scored on validation; the winner trained by
  the baseline's recipe;
- ``ensemble`` -- members trained from different seeds (derived from ``--seed``:
  :meth:`~.registry.Context.child_seed`), probabilities averaged;
- ``cascade`` -- a tiny distilled net (``config.cascade_small``) answers when
  its top probability is :math:`\\ge \\tau`, else the baseline (Wang et al.
  2022); :math:`\\tau` the cheapest reaching the baseline's validation accuracy.
"""
from __future__ import annotations

import numpy as np

from ..distill import Distill, DistillConfig, distill
from ..ensemble import cascade_curve, choose_tau
from ..metrics import storage_bytes
from ..nn import MLP
from ..optim import SGD, CosineLR
from ..prune import compact, one_shot
from ..structure import MLPObjective, MLPSpace, evolution, factorize
from ..train import BaselineConfig, fit
from .registry import Candidate, technique

RECIPE = BaselineConfig()          # the baseline's recipe (lr, momentum, decay, batch size)


def fit_mlp(sizes, X, y, epochs: int, seed, teacher=None, T: float = 4.0, quiet: bool = True,
            desc: str = "train"):
    """An MLP of ``sizes`` trained on ``(X, y)`` by the baseline's recipe
    (:func:`minicomp.train.train_baseline`'s SGD and cosine schedule), distilled from
    ``teacher`` (T, alpha 0.9) if one is given."""
    net = MLP(list(sizes), seed=seed)
    opt = SGD(net.parameters(), lr=RECIPE.lr, momentum=RECIPE.momentum,
              weight_decay=RECIPE.weight_decay)
    kw = dict(optimizer=opt, epochs=epochs, batch_size=RECIPE.batch_size, seed=seed,
              scheduler=CosineLR(opt, T=epochs), quiet=quiet)
    if teacher is None:
        fit(net, X, y, desc=desc, **kw)
    else:
        distill(net, teacher, X, y, DistillConfig(T=T, alpha=0.9), **kw)
    return net


def train_mlp(ctx, hidden, seed, teacher=None, T: float = 4.0):
    """An MLP of ``hidden`` on the tour's training split, :func:`fit_mlp`."""
    n_in, n_out = ctx.sizes
    epochs = ctx.quick(ctx.config.epochs or RECIPE.epochs, 10)
    return fit_mlp([n_in, *hidden, n_out], ctx.X, ctx.y, epochs, seed, teacher, T)


def _distill(ctx, lr):
    return Distill(epochs=ctx.quick(ctx.config.fine_tune_epochs, 5), lr=lr, seed=ctx.seed,
                   teacher=ctx.net, config=DistillConfig(T=4.0, alpha=0.9))


@technique("kd", "knowledge distillation")
def kd(ctx) -> Candidate:
    """The student of ``config.student``, T chosen on validation."""
    hidden = "-".join(map(str, ctx.config.student))
    return ctx.pick(ctx.quick((2.0, 4.0, 8.0), (4.0,)),
                    lambda T: train_mlp(ctx, ctx.config.student, ctx.child_seed(1), ctx.net, T),
                    "dense", lambda T: f"hidden {hidden}, T={T:g}", best=True)


@technique("prune_distill", "prune, then distill")
def prune_distill(ctx) -> Candidate:
    def build(f):
        return compact(one_shot(ctx.copy(), ctx.X, ctx.y, "activation", f,
                                fine_tune=_distill(ctx, 0.02)))
    return ctx.pick(ctx.quick((0.75, 0.5, 0.25), (0.5,)), build, "dense",
                    lambda f: f"{100 * f:g}% of hidden neurons removed, T=4")


@technique("lowrank", "low rank (SVD on data)")
def lowrank(ctx) -> Candidate:
    def build(r):
        small = factorize(ctx.net, rank=r, layers=[0, 1], X=ctx.X)[0]
        _distill(ctx, 0.005)(small, ctx.X, ctx.y)
        return small
    return ctx.pick(ctx.quick((4, 8, 16, 24), (8,)), build, "auto",
                    lambda r: f"layers 0-1 at rank {r}, distilled")


@technique("nas", "architecture search")
def nas(ctx) -> Candidate:
    objective = MLPObjective(ctx.X, ctx.y, ctx.X_val, ctx.y_val, ctx.sizes[1],
                             RECIPE.weight_decay)
    space = MLPSpace(depths=(1, 2), widths=(8, 12, 16, 24, 32, 48))
    fixed = {"lr": RECIPE.lr, "batch_size": RECIPE.batch_size, "decay": "cosine"}
    trials = ctx.quick(ctx.config.nas_trials, 4)
    result = evolution(objective, space, ctx.sizes, trials,
                       ctx.quick(10, 3), population=max(2, trials // 2), sample=2, fixed=fixed,
                       max_bytes=storage_bytes(ctx.net) // 2, seed=ctx.seed)
    best = result.best.params
    net = train_mlp(ctx, best["hidden"], ctx.seed)
    return Candidate(net, "dense", {}, f"hidden {'-'.join(map(str, best['hidden']))} of "
                     f"{len(result.trials)} trials (search val {100 * result.best.score:.1f}%)")


@technique("ensemble", "ensemble (averaged)")
def ensemble(ctx) -> Candidate:
    from ..store import Ensemble
    k, hidden = ctx.config.members, ctx.config.member_hidden
    members = [train_mlp(ctx, hidden, ctx.child_seed(10 + m)) for m in range(k)]
    return Candidate(Ensemble(members), choice=f"{k} x hidden {'-'.join(map(str, hidden))}")


@technique("cascade", "cascade (tiny net, then baseline)")
def cascade(ctx) -> Candidate:
    from ..store import Cascade
    small = train_mlp(ctx, ctx.config.cascade_small, ctx.child_seed(2), ctx.net)   # distilled, T=4
    curve = cascade_curve(small, ctx.net, ctx.X_val, ctx.y_val, np.linspace(0, 1, 41))
    row = choose_tau(curve, target=ctx.val_base)               # the baseline's accuracy
    hidden = "-".join(map(str, ctx.config.cascade_small))
    return Candidate(Cascade(small, ctx.net, row["tau"]), choice=(
        f"hidden {hidden}, then the baseline; tau={row['tau']:.3g}, {100 * row['deferred']:.0f}"
        f"% deferred on val (val {100 * row['accuracy']:.1f}%)"))
