r"""Trials: train one configuration for a number of epochs, many of them in parallel.

A *trial* is one call ``objective(params, epochs, seed, report=None) ->
score`` (higher is better, e.g. validation accuracy). Every search in
:mod:`minicomp.structure` hands its trials to :func:`run_trials`, which

- derives each trial's seed from the search seed and the trial's position
  (``SeedSequence(seed).spawn``), never from the worker that runs it, so
  the results are the same with 1, 2 or 100 workers;
- runs them through joblib (``backend``: ``"loky"`` processes by default,
  ``"threading"``, ``"sequential"``; ``"dask"`` or ``"ray"`` once a cluster
  client exists -- see below) with **one BLAS/Numba thread per worker**
  (``inner_max_num_threads=1`` and threadpoolctl inside the trial), since
  two workers each spawning two BLAS threads on two cores run slower than one;
- shows a tqdm bar over the trials (``quiet=True`` hides it).

Distributed trials need no other code, only another joblib backend::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")        # registers joblib's "dask"
    random_search(obj, space, 64, epochs=20, n_jobs=-1, backend="dask")

    import ray; from ray.util.joblib import register_ray
    ray.init(address="auto"); register_ray()          # registers "ray"
    random_search(obj, space, 64, epochs=20, n_jobs=-1, backend="ray")

:class:`MLPObjective` is the objective the chapter and the bench use: an
MLP trained by :func:`minicomp.train.fit` one epoch at a time (SGD with
momentum, learning rate :math:`\text{lr}\cdot\gamma^t` in epoch t, or the
cosine schedule), scored
by its validation accuracy after every epoch; ``report(epoch, score)``
returning True stops the trial early (Optuna's pruner hooks in there).
"""
from __future__ import annotations

import numbers
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .. import validate as check
from ..metrics import count_parameters
from ..nn import ACTIVATIONS, MLP
from ..optim import SGD, cosine_schedule
from ..train import TrainingDiverged, evaluate, fit

DEFAULTS = {"lr": 0.05, "batch_size": 32, "decay": 1.0, "width": 64, "depth": 2,
            "activation": "relu", "momentum": 0.9}


@dataclass
class Trial:
    """One trained configuration."""

    number: int                 # position in the search (0-based)
    params: dict                # the configuration
    epochs: int                 # epochs this trial trained (its cost)
    score: float                # the objective (higher is better)
    seed: int                   # the seed the objective got
    seconds: float = 0.0        # wall-clock time of the trial
    info: dict = field(default_factory=dict)   # e.g. rung, parameters, MACs, pruned
    cpu_seconds: float = 0.0    # CPU time of the trial (its wall time on a free core)


def trial_seeds(seed, n: int) -> list:
    """``n`` independent int seeds derived from ``seed`` (same seed, same list)."""
    seed = check.integer(seed, "seed", low=0, where="trial_seeds")
    n = check.integer(n, "n", low=0, where="trial_seeds")
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _one_thread(objective, params, epochs, seed):
    """Run one trial with one BLAS thread (and one Numba thread if Numba is loaded)."""
    from threadpoolctl import threadpool_limits

    if "numba" in sys.modules:                                   # never import it here
        sys.modules["numba"].set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        score = objective(params, epochs, seed)
    return score, time.perf_counter() - start, time.process_time() - cpu


def check_score(score, params, where):
    """A trial's score as a finite float, else ValueError naming the configuration."""
    if isinstance(score, (bool, np.bool_)) or not isinstance(score, numbers.Real) \
            or not np.isfinite(score):                           # complex: not Real
        raise ValueError(f"{where}: the objective returned {score!r} for {params}; expected a "
                         "finite number (higher is better)")
    return float(score)


def run_trials(objective, configs, epochs, seeds, *, n_jobs=1, backend=None, quiet=True,
               desc="trials", where="run_trials") -> list:
    """Scores of ``objective(config, epochs, seed)`` for every config, through joblib.

    Parameters
    ----------
    objective : callable ``(params, epochs, seed) -> float``
        Picklable for process backends (a module-level function or a
        dataclass such as :class:`MLPObjective`).
    configs : list of dict
    epochs : int or list of int, one per config (>= 1)
    seeds : list of int (>= 0), one per config
    n_jobs : int
        Workers (-1: all cores); 1 runs in this process.
    backend : str, optional
        A joblib backend name; default ``"loky"`` when ``n_jobs != 1``.

    Returns
    -------
    list of (score, seconds, cpu_seconds), in the order of ``configs``.

    Raises
    ------
    TypeError, ValueError
        ``objective`` not callable; ``epochs`` or ``seeds`` not one per
        config, an epoch count < 1; a score that is not a finite real number.
    """
    from joblib import Parallel, delayed, parallel_config

    if not callable(objective):
        raise TypeError(f"{where}: objective is a {type(objective).__name__}; expected a "
                        "callable objective(params, epochs, seed) -> score")
    n_jobs = check.integer(n_jobs, "n_jobs", low=-1, where=where)
    if n_jobs == 0:
        raise ValueError(f"{where}: n_jobs=0; expected >= 1 workers or -1 (all cores)")
    if not isinstance(configs, (list, tuple)):
        raise TypeError(f"{where}: configs is a {type(configs).__name__}; expected a list of "
                        "dicts, one per trial")
    sequence = (list, tuple, np.ndarray)
    epochs = list(epochs) if isinstance(epochs, sequence) else [epochs] * len(configs)
    seeds = list(seeds) if isinstance(seeds, sequence) else seeds
    for name, values in (("epochs", epochs), ("seeds", seeds)):
        if not isinstance(values, list) or len(values) != len(configs):
            got = f"{len(values)} entries" if isinstance(values, list) else repr(values)
            raise ValueError(f"{where}: {name} has {got} but configs has {len(configs)}; "
                             "expected one per config")
    epochs = [check.integer(e, f"epochs[{i}]", low=1, where=where) for i, e in enumerate(epochs)]
    seeds = [check.integer(s, f"seeds[{i}]", low=0, where=where) for i, s in enumerate(seeds)]
    tasks = [delayed(_one_thread)(objective, c, e, s) for c, e, s in zip(configs, epochs, seeds)]
    backend = backend or ("loky" if n_jobs != 1 else "sequential")
    inner = {"inner_max_num_threads": 1} if backend == "loky" else {}   # env of new processes
    with parallel_config(backend=backend, n_jobs=n_jobs, **inner):
        results = tqdm(Parallel(return_as="generator")(tasks), total=len(tasks), desc=desc,
                       disable=quiet, leave=False, unit="trial")
        results = list(results)
    return [(check_score(s, c, where), t, cpu) for (s, t, cpu), c in zip(results, configs)]


def build_mlp(params: dict, n_in: int, n_out: int, seed=0) -> MLP:
    """The MLP of ``params``: ``hidden`` (a tuple) or ``depth`` x ``width``; ``activation``."""
    p = {**DEFAULTS, **params}
    hidden = tuple(p["hidden"]) if "hidden" in p else (p["width"],) * p["depth"]
    act = check.choice(p["activation"], "activation", ACTIVATIONS, where="build_mlp")
    return MLP([n_in, *hidden, n_out], activation=act, seed=seed)


@dataclass
class MLPObjective:
    """Validation accuracy of an MLP trained with the hyperparameters ``params``.

    ``params`` may set ``lr``, ``batch_size``, ``decay`` (the learning rate
    is multiplied by it after every epoch; ``"cosine"``: the cosine
    schedule over the trial's epochs, as :class:`~minicomp.train.BaselineConfig`
    trains), ``momentum``, ``weight_decay`` (default: the field), ``width``
    and ``depth`` or ``hidden`` (a tuple of widths), ``activation``; the
    rest come from ``DEFAULTS``. A run whose loss diverges scores 0.
    """

    X: np.ndarray                # (N, D) training inputs
    y: np.ndarray                # (N,) training labels
    X_val: np.ndarray            # (M, D) validation inputs (carved from the training set)
    y_val: np.ndarray            # (M,)
    num_classes: int = 10        # outputs of the net
    weight_decay: float = 0.0    # L2 penalty of SGD

    def train(self, params, epochs, seed, report=None):
        """``(net, score, epochs_run)``; ``report(epoch, score) -> True`` stops early."""
        p = {**DEFAULTS, **params}
        epochs = check.integer(epochs, "epochs", low=1, where="MLPObjective")
        net = build_mlp(p, self.X.shape[1], self.num_classes, seed=seed)
        opt = SGD(net.parameters(), lr=p["lr"], momentum=p["momentum"],
                  weight_decay=p.get("weight_decay", self.weight_decay))
        rng, score = np.random.default_rng(seed), float("nan")
        for epoch in range(epochs):
            opt.lr = cosine_schedule(epoch, p["lr"], epochs) if p["decay"] == "cosine" \
                else p["lr"] * p["decay"] ** epoch
            try:                                 # overflow warnings: the divergence below
                with np.errstate(over="ignore", invalid="ignore"):
                    fit(net, self.X, self.y, optimizer=opt, epochs=1,
                        batch_size=p["batch_size"], seed=rng, quiet=True)
            except TrainingDiverged:             # a learning rate too large: score 0, stop
                return net, 0.0, epoch + 1
            score = evaluate(net, self.X_val, self.y_val)["accuracy"]
            if report is not None and report(epoch, score):
                return net, score, epoch + 1
        return net, score, epochs

    def __call__(self, params, epochs, seed, report=None):
        return self.train(params, epochs, seed, report)[1]

    def size(self, params) -> int:
        """Parameters of the net of ``params`` (nothing is trained)."""
        return count_parameters(build_mlp(params, self.X.shape[1], self.num_classes))
