r"""Hyperparameter search from scratch: grid, random search, successive halving.

A *search space* is a dict ``name -> values``: a list or tuple of choices,
or a :class:`Real` range (uniform, or log-uniform with ``log=True``)::

    space = {"lr": Real(1e-3, 0.3, log=True), "batch_size": [16, 32, 64],
             "decay": [1.0, 0.95, 0.9], "width": [16, 32, 64], "depth": [1, 2, 3]}

- **Grid search** trains every combination of the choices for ``epochs``.
- **Random search** (Bergstra & Bengio 2012) trains ``n_trials`` configurations
  drawn independently; with few important hyperparameters it covers each of
  them with ``n_trials`` distinct values where a grid covers it with a handful.
- **Successive halving** (Jamieson & Talwalkar 2016; Hyperband's inner loop,
  Li et al. 2018) draws ``n_trials`` configurations, trains all of them for
  ``min_epochs`` epochs, keeps the best :math:`1/\eta`, trains those
  :math:`\eta` times longer, and so on up to ``max_epochs``. Rung r costs
  :math:`n\eta^{-r} \cdot r_0\eta^{r} = n r_0` epochs, so the whole search
  costs about :math:`n r_0 (\log_\eta(R/r_0) + 1)` epochs where random search
  with the same n and R costs :math:`nR`.

Deviation: each rung retrains its survivors from scratch with the same seed
(no checkpoint is carried between rungs), so a trial is one pure function
call that any joblib worker can run; this costs at most a factor
:math:`\eta/(\eta-1)` in epochs over resuming.

Every search is seeded, runs its trials through
:func:`~minicomp.structure.trials.run_trials` (``n_jobs`` workers, same
result for any ``n_jobs``) and returns a :class:`SearchResult`.

References
----------
Bergstra, J., Bengio, Y. (2012). Random Search for Hyper-Parameter
Optimization. JMLR 13.
Jamieson, K., Talwalkar, A. (2016). Non-stochastic Best Arm Identification
and Hyperparameter Optimization. AISTATS.
Li, L. et al. (2018). Hyperband. JMLR 18.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .. import validate as check
from .trials import Trial, run_trials, trial_seeds


@dataclass(frozen=True)
class Real:
    """A real-valued hyperparameter in [low, high]; ``log=True`` samples log-uniformly.

    ``low <= high`` (finite); with ``log=True`` also ``low > 0``.
    """

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        log = check.flag(self.log, "log", where="Real")
        low = check.number(self.low, "low", low=0.0 if log else None, low_open=True, where="Real")
        high = check.number(self.high, "high", low=low, where="Real")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", log)

    def sample(self, rng) -> float:
        if self.log:
            return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def check_space(space, where, grid=False) -> dict:
    """``space`` checked: a non-empty dict of non-empty choice lists (or :class:`Real`)."""
    if not isinstance(space, dict):
        raise TypeError(f"{where}: space is a {type(space).__name__}; expected a dict "
                        "name -> list of values, e.g. {'lr': [0.01, 0.1]}")
    if not space:
        raise ValueError(f"{where}: space is empty ({{}}); expected at least one "
                         "hyperparameter, e.g. {'lr': [0.01, 0.1]}")
    for name, values in space.items():
        if isinstance(values, Real) and not grid:
            continue
        if not isinstance(values, (list, tuple)):
            what = "a Real range (a grid needs lists)" if isinstance(values, Real) else \
                type(values).__name__
            raise TypeError(f"{where}: space[{name!r}] is {what}; expected a list of values")
        if not values:
            raise ValueError(f"{where}: space[{name!r}] is empty; expected at least one value")
    return space


def sample_config(space: dict, rng) -> dict:
    """One configuration: a uniform choice (or a :class:`Real` draw) for every name."""
    return {name: v.sample(rng) if isinstance(v, Real) else v[int(rng.integers(len(v)))]
            for name, v in space.items()}


def grid(space: dict) -> list:
    """Every combination of the choices of ``space``, in order (the last name varies fastest).

    Examples
    --------
    >>> grid({"lr": [0.1, 0.01], "depth": [1, 2]})  # doctest: +NORMALIZE_WHITESPACE
    [{'lr': 0.1, 'depth': 1}, {'lr': 0.1, 'depth': 2},
     {'lr': 0.01, 'depth': 1}, {'lr': 0.01, 'depth': 2}]
    """
    check_space(space, "grid", grid=True)
    return [dict(zip(space, values)) for values in itertools.product(*space.values())]


@dataclass
class SearchResult:
    """All trials of a search (every rung, for successive halving) and the best one."""

    trials: list            # Trial, in the order they ran
    best: Trial             # highest score among the final trials (ties: the earliest)
    method: str = ""

    @property
    def epochs(self) -> int:
        """Training epochs the whole search spent: its cost."""
        return sum(t.epochs for t in self.trials)

    def table(self) -> list:
        """One dict per trial: params, epochs, score (for printing or a DataFrame)."""
        return [{"trial": t.number, **t.params, "epochs": t.epochs, "score": t.score,
                 **t.info} for t in self.trials]


def _evaluate(objective, configs, epochs, seeds, first, n_jobs, backend, quiet, desc, where,
              info=None):
    scores = run_trials(objective, configs, epochs, seeds, n_jobs=n_jobs, backend=backend,
                        quiet=quiet, desc=desc, where=where)
    return [Trial(first + i, c, e, s, seed, t, dict(info or {}), cpu)
            for i, (c, e, seed, (s, t, cpu)) in enumerate(zip(configs, epochs, seeds, scores))]


def _best(trials):
    return max(trials, key=lambda t: (t.score, -t.number))


def _common(epochs, seed, where):
    return (check.integer(epochs, "epochs", low=1, where=where),
            check.integer(seed, "seed", low=0, where=where))


def grid_search(objective, space, epochs, *, seed=0, n_jobs=1, backend=None,
                quiet=True) -> SearchResult:
    """Train every combination of ``space`` for ``epochs`` epochs; the best by score.

    Parameters
    ----------
    objective : callable ``(params, epochs, seed) -> score``
        e.g. :class:`~minicomp.structure.trials.MLPObjective`.
    space : dict name -> list of values
    epochs : int
        Training budget of each trial (>= 1).
    seed : int
        Trial k gets the k-th seed of ``trial_seeds(seed, n)``.
    n_jobs, backend :
        Workers and joblib backend (:func:`~minicomp.structure.trials.run_trials`).
    quiet : bool
        No tqdm bar.

    Raises
    ------
    TypeError, ValueError
        An empty space or an empty choice list, ``epochs`` < 1, a score
        that is not a finite number.
    """
    configs = grid(space)
    epochs, seed = _common(epochs, seed, "grid_search")
    trials = _evaluate(objective, configs, [epochs] * len(configs),
                       trial_seeds(seed, len(configs)), 0, n_jobs, backend, quiet, "grid",
                       "grid_search")
    return SearchResult(trials, _best(trials), "grid")


def random_search(objective, space, n_trials, epochs, *, seed=0, n_jobs=1, backend=None,
                  quiet=True) -> SearchResult:
    """Train ``n_trials`` configurations drawn from ``space`` for ``epochs`` epochs each.

    Same parameters and errors as :func:`grid_search`; ``n_trials`` >= 1.
    """
    space = check_space(space, "random_search")
    n_trials = check.integer(n_trials, "n_trials", low=1, where="random_search")
    epochs, seed = _common(epochs, seed, "random_search")
    rng = np.random.default_rng(seed)
    configs = [sample_config(space, rng) for _ in range(n_trials)]
    trials = _evaluate(objective, configs, [epochs] * n_trials, trial_seeds(seed, n_trials), 0,
                       n_jobs, backend, quiet, "random", "random_search")
    return SearchResult(trials, _best(trials), "random")


def _check_rungs(n_trials, min_epochs, max_epochs, eta, where):
    n_trials = check.integer(n_trials, "n_trials", low=1, where=where)
    min_epochs = check.integer(min_epochs, "min_epochs", low=1, where=where)
    max_epochs = check.integer(max_epochs, "max_epochs", low=min_epochs, where=where)
    return n_trials, min_epochs, max_epochs, check.integer(eta, "eta", low=2, where=where)


def rungs(n_trials: int, min_epochs: int, max_epochs: int, eta: int = 3) -> list:
    """``(survivors, epochs)`` of each rung of successive halving.

    Raises
    ------
    TypeError, ValueError
        ``n_trials`` < 1, not 1 <= ``min_epochs`` <= ``max_epochs``, ``eta`` < 2.

    Examples
    --------
    >>> rungs(27, 1, 27, eta=3)       # cost 27*1 + 9*3 + 3*9 + 1*27 = 108 epochs
    [(27, 1), (9, 3), (3, 9), (1, 27)]
    """
    n, e, max_epochs, eta = _check_rungs(n_trials, min_epochs, max_epochs, eta, "rungs")
    out = []
    while True:
        out.append((n, min(e, max_epochs)))
        if n == 1 or e >= max_epochs:
            return out
        n, e = max(1, math.ceil(n / eta) if n > eta else 1), e * eta


def successive_halving(objective, space, n_trials, min_epochs, max_epochs, *, eta=3, seed=0,
                       n_jobs=1, backend=None, quiet=True) -> SearchResult:
    r"""Successive halving: train many configurations briefly, the best ones longer.

    Parameters
    ----------
    n_trials : int
        Configurations drawn in the first rung (the same draws as
        :func:`random_search` with the same seed).
    min_epochs, max_epochs : int
        Budget of the first and of the last rung (1 <= min <= max).
    eta : int
        Keep the best :math:`\lceil n/\eta \rceil` of each rung and multiply
        its budget by :math:`\eta` (>= 2).

    Other parameters and errors: :func:`grid_search`. The result's ``best``
    is the best trial of the last rung; ``trial.info["rung"]`` tells the rung.
    """
    where = "successive_halving"
    space = check_space(space, where)
    n_trials, min_epochs, max_epochs, eta = _check_rungs(n_trials, min_epochs, max_epochs,
                                                         eta, where)
    seed = check.integer(seed, "seed", low=0, where=where)
    rng = np.random.default_rng(seed)
    configs = [sample_config(space, rng) for _ in range(n_trials)]
    seeds = trial_seeds(seed, n_trials)
    alive, trials, last = list(range(n_trials)), [], []
    for r, (n, epochs) in enumerate(rungs(n_trials, min_epochs, max_epochs, eta)):
        ranked = sorted(last, key=lambda t: (-t.score, t.info["config"]))   # best first
        alive = [t.info["config"] for t in ranked[:n]] if last else alive
        last = _evaluate(objective, [configs[i] for i in alive], [epochs] * len(alive),
                         [seeds[i] for i in alive], len(trials), n_jobs, backend, quiet,
                         f"rung {r}", where, {"rung": r})
        for t, i in zip(last, alive):
            t.info["config"] = i                       # index of the configuration
        trials += last
    return SearchResult(trials, _best(last), "successive halving")
