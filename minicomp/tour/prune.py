"""The tour's pruning rows: unstructured (CSR), structured (compacted), N:M.

Each row calls :mod:`minicomp.prune` (or :func:`minicomp.ptq.sparsegpt_net`)
and lets :meth:`~minicomp.tour.registry.Context.pick` choose the sparsity
on the validation split, most compressed first:

- ``magnitude`` -- Han et al. (2015): :math:`|w_{ij}|`, one global ranking,
  pruned gradually to Zhu & Gupta's cubic schedule during fine-tuning;
- ``activation`` -- seed 000's :math:`R_i = \\sum_j |w_{ij} y_j|` kept per
  connection, :math:`|w_{ij}|\\,\\lVert y_j\\rVert_2` (Wanda, Sun et al. 2023;
  the two agree for one sample, :mod:`minicomp.prune.activation`), gradual;
- ``taylor`` -- Molchanov et al. (2017): first-order change of the loss, gradual;
- ``obs`` -- Hassibi & Stork (1993): the saliency :math:`w_q^2 / [H^{-1}]_{qq}`
  and its update of the other weights, one shot, then fine-tuning;
- ``sparsegpt`` -- Frantar & Alistarh (2023): layer by layer, one shot, no
  fine-tuning at all;
- ``structured`` -- whole hidden neurons removed by :math:`R_i`, gradually,
  then :func:`~minicomp.prune.compact` (a smaller dense net);
- ``nm`` -- 2:4 (Mishra et al. 2021), gradually, on the N:M kernel.
"""
from __future__ import annotations

from ..prune import FineTune, compact, gradual, gradual_nm, one_shot
from ..ptq import sparsegpt_net
from .registry import Candidate, technique


def fine_tune(ctx) -> FineTune:
    """The fine-tuning recipe every pruning row uses: ``minicomp bench prune``'s (SGD with
    momentum, lr 0.05, weight decay 5e-4, cosine), for ``config.fine_tune_epochs``."""
    return FineTune(epochs=ctx.quick(ctx.config.fine_tune_epochs, 5), lr=0.05,
                    weight_decay=5e-4, seed=ctx.seed)


def sparsities(ctx) -> tuple:
    """The sparsities tried, most compressed first (``--quick``: two)."""
    return ctx.quick((0.95, 0.9, 0.8, 0.7, 0.5), (0.9, 0.7))


def percent(s) -> str:
    return f"sparsity {100 * s:g}%"


def _gradual(ctx, criterion, **options):
    return ctx.pick(sparsities(ctx), lambda s: gradual(
        ctx.copy(), ctx.X, ctx.y, s, criterion, fine_tune=fine_tune(ctx), seed=ctx.seed,
        **options), "csr", percent)


@technique("magnitude", "magnitude pruning")
def magnitude(ctx) -> Candidate:
    return _gradual(ctx, "magnitude", scope="global")


@technique("activation", "R_i pruning (connections)")
def activation(ctx) -> Candidate:
    return _gradual(ctx, "wanda")


@technique("taylor", "Taylor pruning")
def taylor(ctx) -> Candidate:
    return _gradual(ctx, "taylor", scope="global")


@technique("obs", "OBS pruning")
def obs(ctx) -> Candidate:
    return ctx.pick(ctx.quick((0.9, 0.8, 0.7, 0.5), (0.8,)), lambda s: one_shot(
        ctx.copy(), ctx.X, ctx.y, "obs", s, fine_tune=fine_tune(ctx)), "csr", percent)


@technique("sparsegpt", "SparseGPT (one shot)")
def sparsegpt(ctx) -> Candidate:
    X_cal = ctx.X[:ctx.config.calibration]
    return ctx.pick((0.9, 0.8, 0.7, 0.6, 0.5), lambda s: sparsegpt_net(ctx.net, X_cal, s),
                    "csr", percent)


@technique("structured", "R_i neurons + compact")
def structured(ctx) -> Candidate:
    def build(f):
        net = gradual(ctx.copy(), ctx.X, ctx.y, f, "activation", fine_tune=fine_tune(ctx))
        return compact(net)
    return ctx.pick(ctx.quick((0.75, 0.5, 0.25), (0.5,)), build, "dense",
                    lambda f: f"{100 * f:g}% of hidden neurons removed")


@technique("nm", "2:4 sparsity")
def nm(ctx) -> Candidate:
    net = gradual_nm(ctx.copy(), ctx.X, ctx.y, 2, 4, "magnitude", fine_tune=fine_tune(ctx))
    return Candidate(net, "nm", {}, "2 of every 4 inputs")
