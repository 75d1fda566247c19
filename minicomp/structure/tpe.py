r"""The same search with the library practitioners use: Optuna, TPE + median pruner.

- **TPE** (Bergstra et al. 2011): after some random trials, split the
  finished ones at a quantile of the score into good and bad, fit a density
  :math:`\ell(x)` to the good and :math:`g(x)` to the bad configurations,
  and try next the candidate that maximizes :math:`\ell(x)/g(x)`.
- **Median pruner** (Golovin et al. 2017, Google Vizier): stop a trial
  after epoch t when its score is below the median of the earlier trials'
  scores at epoch t. Successive halving makes the same bet (poor early,
  poor late) on a fixed schedule.

:func:`optuna_search` takes the same objective and space as
:func:`~minicomp.structure.search.random_search` and a budget in training
epochs, so the two compare at equal cost. The objective must accept
``report=`` (as :class:`~minicomp.structure.trials.MLPObjective` does).

Several machines can work on one study through a shared storage::

    optuna create-study --study-name mlp --storage sqlite:///mlp.db --direction maximize
    # then on every machine (a PostgreSQL/MySQL URL for real clusters):
    optuna_search(obj, space, 30, storage="sqlite:///mlp.db", study_name="mlp")

Deviation: trials run one after the other in this process (Optuna's own
``n_jobs`` uses threads and its results depend on their timing); use
several processes on one storage for parallelism.

References
----------
Bergstra, J. et al. (2011). Algorithms for Hyper-Parameter Optimization. NeurIPS.
Akiba, T. et al. (2019). Optuna: A Next-generation Hyperparameter
Optimization Framework. KDD.
Golovin, D. et al. (2017). Google Vizier. KDD.
"""
from __future__ import annotations

import inspect
import time

from .. import validate as check
from .search import Real, SearchResult, check_space
from .trials import Trial, check_score, trial_seeds


def _optuna(where):
    try:
        import optuna
    except ImportError:
        raise ImportError(f"{where} needs Optuna, which is not installed: "
                          "pip install optuna (or pip install 'minicomp[test]')") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial, space):
    params = {}
    for name, v in space.items():
        if isinstance(v, Real):
            params[name] = trial.suggest_float(name, v.low, v.high, log=v.log)
        else:
            k = trial.suggest_categorical(f"{name}#", list(range(len(v))))   # any value type
            params[name] = v[k]
    return params


def _check_report(objective, where):
    """TypeError unless ``objective`` can be called with ``report=`` (when Python can tell)."""
    try:
        params = inspect.signature(objective).parameters.values()
    except (TypeError, ValueError):                       # a builtin: cannot tell, try it
        return
    if not any(p.name == "report" or p.kind is p.VAR_KEYWORD for p in params):
        raise TypeError(f"{where}: objective {getattr(objective, '__name__', objective)!r} "
                        "takes no report= argument; expected a callable objective(params, "
                        "epochs, seed, report=None) that calls report(epoch, score) after each "
                        "epoch and stops when it returns True (as MLPObjective does)")


def optuna_search(objective, space, n_trials, epochs=10, *, budget=None, seed=0, pruner=True,
                  startup_trials=5, storage=None, study_name=None) -> SearchResult:
    """Optuna's TPE sampler (+ median pruner) on ``objective`` over ``space``.

    Parameters
    ----------
    objective : callable ``(params, epochs, seed, report=None) -> score``
        ``report(epoch, score)`` is called after each epoch and returns True
        when the pruner stops the trial.
    space : dict name -> list of values or :class:`~minicomp.structure.search.Real`
    n_trials : int
        At most this many trials (>= 1).
    epochs : int
        Epochs of a trial that is not pruned.
    budget : int, optional
        Stop starting trials once this many epochs have been spent in total
        (e.g. what random search spent). Default: no limit.
    seed : int
        Seeds the TPE sampler and the trials (as ``trial_seeds``).
    pruner : bool
        Median pruner (after ``startup_trials`` trials and 1 epoch).
    storage, study_name : str, optional
        A shared Optuna storage URL and study, for several machines.

    Raises
    ------
    ImportError
        Optuna is not installed.
    TypeError, ValueError
        What :func:`random_search` refuses; ``budget`` <= 0; an objective
        without a ``report`` parameter; ``storage`` not None, a str or an
        Optuna storage; a score that is not a finite number.
    """
    where = "optuna_search"
    space = check_space(space, where)
    n_trials = check.integer(n_trials, "n_trials", low=1, where=where)
    epochs = check.integer(epochs, "epochs", low=1, where=where)
    seed = check.integer(seed, "seed", low=0, where=where)
    budget = None if budget is None else check.integer(budget, "budget", low=1, where=where)
    startup_trials = check.integer(startup_trials, "startup_trials", low=0, where=where)
    if not callable(objective):
        raise TypeError(f"{where}: objective is a {type(objective).__name__}; expected a "
                        "callable objective(params, epochs, seed, report=None)")
    _check_report(objective, where)
    optuna = _optuna(where)
    if storage is not None and not isinstance(storage, (str, optuna.storages.BaseStorage)):
        raise TypeError(f"{where}: storage is a {type(storage).__name__}; expected None, a "
                        "storage URL str (e.g. 'sqlite:///mlp.db') or an optuna storage")
    if study_name is not None and not isinstance(study_name, str):
        raise TypeError(f"{where}: study_name is a {type(study_name).__name__}; expected a str")
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials)
    prune = optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=1) \
        if check.flag(pruner, "pruner", where=where) else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=prune,
                                storage=storage, study_name=study_name,
                                load_if_exists=storage is not None)
    seeds, trials = trial_seeds(seed, n_trials), []
    for number in range(n_trials):
        if budget is not None and sum(t.epochs for t in trials) >= budget:
            break
        ot = study.ask()
        params, seen = _suggest(ot, space), []

        def report(epoch, score, ot=ot, seen=seen):
            seen.append(epoch + 1)
            ot.report(float(score), epoch)
            return ot.should_prune()

        start, cpu = time.perf_counter(), time.process_time()
        score = check_score(objective(params, epochs, seeds[number], report=report), params,
                            where)
        pruned = bool(seen) and seen[-1] < epochs
        if pruned:
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(ot, score)
        trials.append(Trial(number, params, seen[-1] if seen else epochs, score, seeds[number],
                            time.perf_counter() - start, {"pruned": pruned},
                            time.process_time() - cpu))
    finished = [t for t in trials if not t.info["pruned"]] or trials
    best = max(finished, key=lambda t: (t.score, -t.number))
    return SearchResult(trials, best, "optuna tpe" + " + median pruner" * pruner)
