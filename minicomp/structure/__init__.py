"""Network structure optimization: search the structure, compress it, grow it.

=====================  =========================================================
module                 what it does
=====================  =========================================================
:mod:`.trials`         one trial = train a configuration; trials in parallel
                       through joblib (one BLAS/Numba thread per worker, tqdm;
                       Dask/Ray by the backend); :class:`MLPObjective`
:mod:`.search`         grid search, random search, successive halving (seeded)
:mod:`.tpe`            the same with Optuna: TPE sampler + median pruner
                       (Optuna is imported only there, only when called)
:mod:`.nas`            architecture search over MLPs: random search, regularized
                       evolution, Pareto fronts, MAC and byte budgets
:mod:`.fold`           fold consecutive linear Dense layers exactly; remove a
                       layer by folding it forward
:mod:`.merge`          merge near-duplicate neurons into survivors
:mod:`.lowrank`        truncated SVD: W ~ A B, deployed as two Dense layers
:mod:`.grow`           Net2Net: widen a layer, deepen the net, same function
=====================  =========================================================

Examples
--------
>>> from minicomp import MLP
>>> from minicomp.structure import factorize, fold_linear
>>> net = MLP([64, 32, 10], seed=0)
>>> small, ranks = factorize(net, rank=4)
>>> ranks, [m.W.shape for m in small if hasattr(m, "W")]
([4, 4], [(4, 64), (32, 4), (4, 32), (10, 4)])
>>> [m.W.shape for m in fold_linear(small) if hasattr(m, "W")]      # multiplied back
[(32, 64), (10, 32)]
"""
from .fold import dense_from, fold_linear, remove_layer
from .grow import deepen, widen
from .lowrank import factorize, lowrank_params, rank_for_budget, rank_for_energy, truncated_svd
from .merge import merge_errors, merge_neurons
from .nas import MLPSpace, arch_cost, evolution, pareto_front, random_nas
from .search import (
    Real,
    SearchResult,
    grid,
    grid_search,
    random_search,
    rungs,
    successive_halving,
)
from .tpe import optuna_search
from .trials import MLPObjective, Trial, build_mlp, run_trials, trial_seeds

__all__ = [
    "MLPObjective", "MLPSpace", "Real", "SearchResult", "Trial", "arch_cost", "build_mlp",
    "deepen", "dense_from", "evolution", "factorize", "fold_linear", "grid", "grid_search",
    "lowrank_params", "merge_errors", "merge_neurons", "optuna_search", "pareto_front",
    "random_nas", "random_search", "rank_for_budget", "rank_for_energy", "remove_layer",
    "rungs", "run_trials", "successive_halving", "trial_seeds", "truncated_svd", "widen",
]
