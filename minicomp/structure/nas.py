r"""Architecture search over MLPs: random search, regularized evolution, Pareto fronts.

The search space (:class:`MLPSpace`) is every MLP with a depth in
``depths``, each hidden width in ``widths`` and one ``activation`` for all
layers. An architecture is a dict ``{"hidden": (w_1, ..., w_d),
"activation": a}``, trained by the same objective as the hyperparameter
searches (:class:`~minicomp.structure.trials.MLPObjective`), with the
other hyperparameters fixed (``fixed``) or searched with it (``hyper``, a
search space as in :mod:`~minicomp.structure.search`: each architecture
then carries its own ``lr``, ``batch_size``, ...).

- **Random search** draws architectures uniformly (depth, then each width).
- **Regularized (aging) evolution** (Real et al. 2019): keep a population of
  P trained architectures; repeatedly sample S of them, mutate the best
  (one width one step up or down the list, a layer added or removed, or the
  activation changed), train the child, add it and remove the *oldest*
  member (not the worst). Aging keeps re-testing good ideas instead of
  trusting one lucky run.
- **Two objectives**: accuracy against parameters and against
  multiply-accumulates per example (:func:`~minicomp.blocks.count_macs`).
  :func:`pareto_front` keeps the trials no other trial beats on both.
- **Constraints** (as in MIT 6.5940's NAS lab): a MAC and a byte budget
  (:func:`~minicomp.metrics.storage_bytes`, float32); architectures over
  budget are rejected *before* training (their cost needs no data), so the
  whole training budget goes to feasible ones.

Deviation from Real et al.: children are made ``batch`` at a time (the
same number whatever ``n_jobs``), so the search can train them in parallel
and still give the same result with 1 or 2 workers.

References
----------
Real, E., Aggarwal, A., Huang, Y., Le, Q. V. (2019). Regularized Evolution
for Image Classifier Architecture Search. AAAI. arXiv:1802.01548.
Elsken, T., Metzen, J. H., Hutter, F. (2019). Neural Architecture Search:
A Survey. JMLR 20.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import validate as check
from ..blocks import count_macs
from ..metrics import count_parameters, storage_bytes
from ..nn import ACTIVATIONS
from .search import Real, SearchResult, check_space, sample_config
from .trials import Trial, build_mlp, run_trials, trial_seeds


def _can_change(values) -> bool:
    """A hyper entry with two different values (a Real with low < high)."""
    if isinstance(values, Real):
        return values.low < values.high
    return any(not (v == values[0]) for v in values)


@dataclass(frozen=True)
class MLPSpace:
    """MLPs with ``depth`` hidden layers of widths from ``widths`` and one activation."""

    depths: tuple = (1, 2, 3)                       # numbers of hidden layers
    widths: tuple = (8, 16, 24, 32, 48, 64, 96)     # hidden widths, in increasing order
    activations: tuple = ("relu",)                  # names in minicomp.nn.ACTIVATIONS
    hyper: dict = None                              # searched too: name -> list of values

    def __post_init__(self):
        for name in ("depths", "widths", "activations"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"MLPSpace: {name}={values!r}; expected a non-empty tuple")
            object.__setattr__(self, name, tuple(values))
        for i, d in enumerate(self.depths):
            check.integer(d, f"depths[{i}]", low=0, where="MLPSpace")
        for i, w in enumerate(self.widths):
            check.integer(w, f"widths[{i}]", low=1, where="MLPSpace")
        object.__setattr__(self, "widths", tuple(sorted(self.widths)))
        for a in self.activations:
            check.choice(a, "activation", ACTIVATIONS, where="MLPSpace")
        hyper = {} if self.hyper is None else self.hyper
        object.__setattr__(self, "hyper", dict(check_space(hyper, "MLPSpace") if hyper else {}))

    def sample(self, rng) -> dict:
        """A uniform depth, then a uniform width per layer and an activation."""
        d = self.depths[int(rng.integers(len(self.depths)))]
        hidden = tuple(self.widths[int(k)] for k in rng.integers(len(self.widths), size=d))
        return {"hidden": hidden,
                "activation": self.activations[int(rng.integers(len(self.activations)))],
                **sample_config(self.hyper, rng)}

    def mutate(self, arch: dict, rng) -> dict:
        """One random edit of ``arch``: a width one step, a layer added/removed, the activation."""
        hidden, act = list(arch["hidden"]), arch["activation"]
        hyper = {k: arch[k] for k in self.hyper}
        moves = ["width"] * (bool(hidden) and len(self.widths) > 1) + \
            ["add"] * (len(hidden) + 1 in self.depths) + \
            ["remove"] * (len(hidden) - 1 in self.depths) + \
            ["act"] * (len(self.activations) > 1) + \
            [k for k, v in self.hyper.items() if _can_change(v)]
        move = moves[int(rng.integers(len(moves)))] if moves else None
        if move == "width":
            i = int(rng.integers(len(hidden)))
            k = self.widths.index(hidden[i]) if hidden[i] in self.widths else 0
            steps = [s for s in (k - 1, k + 1) if 0 <= s < len(self.widths)]   # neighbours
            hidden[i] = self.widths[steps[int(rng.integers(len(steps)))]]
        elif move == "add":
            hidden.insert(int(rng.integers(len(hidden) + 1)),
                          self.widths[int(rng.integers(len(self.widths)))])
        elif move == "remove":
            del hidden[int(rng.integers(len(hidden)))]
        elif move == "act":
            act = [a for a in self.activations if a != act][int(rng.integers(
                len(self.activations) - 1))]
        elif move is not None:                                 # a hyperparameter: redraw it
            values = self.hyper[move]
            for _ in range(1000):                              # a Real: one draw, in practice
                hyper[move] = sample_config({move: values}, rng)[move]
                if hyper[move] != arch[move]:
                    break
        return {"hidden": tuple(hidden), "activation": act, **hyper}


def arch_cost(arch: dict, n_in: int, n_out: int) -> dict:
    """``{"parameters", "macs", "bytes"}`` of the MLP of ``arch`` (float32, nothing trained).

    Examples
    --------
    >>> arch_cost({"hidden": (32,), "activation": "relu"}, 64, 10)   # 64*32 + 32*10 MACs
    {'parameters': 2410, 'macs': 2368, 'bytes': 9640}
    """
    net = build_mlp(arch, n_in, n_out)
    return {"parameters": count_parameters(net), "macs": count_macs(net),
            "bytes": storage_bytes(net)}


def _limits(max_macs, max_bytes, where):
    return {k: None if v is None else check.integer(v, f"max_{k}", low=1, where=where)
            for k, v in (("macs", max_macs), ("bytes", max_bytes))}


def _feasible(cost, limits) -> bool:
    return all(v is None or cost[k] <= v for k, v in limits.items())


def _draw(make, sizes, limits, where, tries=1000):
    """An architecture from ``make()`` within ``limits``, with its cost."""
    for _ in range(tries):
        arch = make()
        cost = arch_cost(arch, *sizes)
        if _feasible(cost, limits):
            return arch, cost
    raise ValueError(f"{where}: no architecture within max_macs={limits['macs']}, "
                     f"max_bytes={limits['bytes']} in {tries} draws; expected a budget the "
                     "smallest MLP of the space meets")


def _train(objective, archs, costs, fixed, epochs, seeds, first, n_jobs, backend, quiet, where):
    configs = [{**fixed, **a} for a in archs]
    scores = run_trials(objective, configs, epochs, seeds, n_jobs=n_jobs, backend=backend,
                        quiet=quiet, desc=where, where=where)
    return [Trial(first + i, a, epochs, s, seed, t, dict(c), cpu)
            for i, (a, c, seed, (s, t, cpu)) in enumerate(zip(archs, costs, seeds, scores))]


def _setup(space, sizes, n_trials, epochs, seed, fixed, max_macs, max_bytes, where):
    if not isinstance(space, MLPSpace):
        raise TypeError(f"{where}: space is a {type(space).__name__}; expected an MLPSpace")
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 2:
        raise TypeError(f"{where}: sizes={sizes!r}; expected (n_in, n_out)")
    sizes = tuple(check.integer(s, "sizes", low=1, where=where) for s in sizes)
    if fixed is not None and not isinstance(fixed, dict):
        raise TypeError(f"{where}: fixed is a {type(fixed).__name__}; expected a dict")
    return (sizes, check.integer(n_trials, "n_trials", low=1, where=where),
            check.integer(epochs, "epochs", low=1, where=where),
            check.integer(seed, "seed", low=0, where=where), dict(fixed or {}),
            _limits(max_macs, max_bytes, where))


def random_nas(objective, space, sizes, n_trials, epochs, *, fixed=None, max_macs=None,
               max_bytes=None, seed=0, n_jobs=1, backend=None, quiet=True) -> SearchResult:
    """Random architecture search: ``n_trials`` MLPs of ``space`` within the budgets.

    Parameters
    ----------
    objective : callable ``(params, epochs, seed) -> score``
    space : MLPSpace
    sizes : (n_in, n_out)
        Input and output widths of the nets (for their cost).
    n_trials, epochs : int
    fixed : dict, optional
        Hyperparameters shared by every trial (``lr``, ``batch_size``, ...).
    max_macs, max_bytes : int, optional
        Budgets: MACs per example and float32 bytes; architectures over
        them are never trained.
    seed, n_jobs, backend, quiet :
        As in :func:`~minicomp.structure.search.random_search`.

    Returns
    -------
    SearchResult
        ``trial.params`` is the architecture; ``trial.info`` its
        ``parameters``, ``macs`` and ``bytes``.

    Raises
    ------
    TypeError, ValueError
        Bad sizes, counts or budgets (<= 0), no architecture within the
        budgets, a score that is not a finite number.
    """
    where = "random_nas"
    sizes, n_trials, epochs, seed, fixed, limits = _setup(
        space, sizes, n_trials, epochs, seed, fixed, max_macs, max_bytes, where)
    rng = np.random.default_rng(seed)
    drawn = [_draw(lambda: space.sample(rng), sizes, limits, where) for _ in range(n_trials)]
    trials = _train(objective, [a for a, _ in drawn], [c for _, c in drawn], fixed, epochs,
                    trial_seeds(seed, n_trials), 0, n_jobs, backend, quiet, where)
    return SearchResult(trials, max(trials, key=lambda t: (t.score, -t.number)), "random nas")


def evolution(objective, space, sizes, n_trials, epochs, *, population=10, sample=3, batch=2,
              fixed=None, max_macs=None, max_bytes=None, seed=0, n_jobs=1, backend=None,
              quiet=True) -> SearchResult:
    """Regularized (aging) evolution of ``n_trials`` MLPs (Real et al. 2019).

    Parameters
    ----------
    population : int
        P: size of the population; the first P trials are random.
    sample : int
        S: tournament size (1 <= S <= P).
    batch : int
        Children made and trained per generation (fixed, so results do not
        depend on ``n_jobs``).

    Other parameters, result and errors: :func:`random_nas`.
    """
    where = "evolution"
    sizes, n_trials, epochs, seed, fixed, limits = _setup(
        space, sizes, n_trials, epochs, seed, fixed, max_macs, max_bytes, where)
    P = check.integer(population, "population", low=1, where=where)
    S = check.integer(sample, "sample", low=1, high=P, where=where)
    batch = check.integer(batch, "batch", low=1, where=where)
    rng, seeds = np.random.default_rng(seed), trial_seeds(seed, n_trials)
    trials = []
    while len(trials) < n_trials:
        k = min(P - len(trials) if len(trials) < P else batch, n_trials - len(trials))
        alive = trials[-P:]                                   # the newest P: oldest leave
        drawn = []
        for _ in range(k):
            if len(trials) < P:
                make = lambda: space.sample(rng)              # noqa: E731
            else:
                parent = max((alive[int(i)] for i in rng.choice(len(alive), S, replace=False)),
                             key=lambda t: (t.score, -t.number))
                make = lambda p=parent.params: space.mutate(p, rng)   # noqa: E731
            drawn.append(_draw(make, sizes, limits, where))
        trials += _train(objective, [a for a, _ in drawn], [c for _, c in drawn], fixed,
                         epochs, seeds[len(trials):len(trials) + k], len(trials), n_jobs,
                         backend, quiet, where)
    return SearchResult(trials, max(trials, key=lambda t: (t.score, -t.number)), "evolution")


def pareto_front(cost, score) -> np.ndarray:
    r"""Indices of the points no other point beats: lower ``cost`` *and* higher ``score``.

    Point i is dominated when some j has :math:`c_j \le c_i`, :math:`s_j \ge s_i`
    and one of them strictly. Returned sorted by cost.

    Raises
    ------
    TypeError, ValueError
        Lengths differ, bools, or a value is NaN/inf (an objective that is
        not finite).

    Examples
    --------
    >>> pareto_front([100, 200, 150, 300], [0.90, 0.95, 0.89, 0.95])   # 150 and 300 dominated
    array([0, 1])
    """
    c, s = (check.array(v, name, ndim=1, where="pareto_front")
            for v, name in ((cost, "cost"), (score, "score")))
    for v, name in ((c, "cost"), (s, "score")):
        if v.dtype.kind == "b":
            raise TypeError(f"pareto_front: {name} has dtype bool; expected numbers")
    c, s = c.astype(np.float64), s.astype(np.float64)
    if len(c) != len(s):
        raise ValueError(f"pareto_front: cost has {len(c)} values but score has {len(s)}; "
                         "expected one of each per point")
    keep = [i for i in range(len(c)) if not np.any((c <= c[i]) & (s >= s[i])
                                                   & ((c < c[i]) | (s > s[i])))]
    return np.array(sorted(keep, key=lambda i: (c[i], -s[i])), dtype=np.int64)
