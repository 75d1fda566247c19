r"""The tour's loop: train the baseline, build every technique, store it, measure it.

For each technique the stored model (:func:`minicomp.store.pack`) is
measured the same way as the float32 baseline:

- test accuracy from ``model.predict`` (the test set is used here only);
- :math:`\Delta = 100\,(\mathrm{acc} - \mathrm{acc}_{\text{baseline}})` points;
- ``model.nonzeros`` (stored nonzero weights, biases excluded) and
  ``model.nbytes`` (the payload a file holds);
- the compression ratio :math:`\text{bytes}_{\text{float32 baseline}} / \text{bytes}`;
- latency of ``model.predict`` at batch 1 and 256, every model (the
  baseline too) timed in the same interleaved rounds, the median kept
  (:func:`minicomp.bench.timing.interleaved_times`).

Everything runs with BLAS on one thread when threadpoolctl is installed
(:func:`~minicomp.bench.timing.one_blas_thread`, as ``minicomp bench
ensembles`` trains): on a loaded 2-core machine threaded BLAS can be far
slower on these small matrices, both in training and in the float model's
timing (where it would flatter every compressed model against the float one).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from .. import validate as check
from ..bench import timing              # the tour times models: a bench's job, its tools
from ..metrics import accuracy
from ..train import BaselineConfig, train_baseline
from . import deep, models, prune, quant
from .models import fit_mlp
from .registry import TECHNIQUES, Context, check_names

BATCHES = (1, 256)                 # the latency columns
ROWS = (prune, quant, models, deep)     # importing them registers the rows (registry.GROUPS)


@dataclass
class TourConfig:
    """What :func:`run` does; every default is the one ``minicomp tour`` uses."""

    dataset: str = "digits"          # "digits", "mnist1d" or "mnist:PATH" (a folder of IDX files)
    seed: int = 0                    # baseline, fine-tuning, search seed: same seed, same models
    quick: bool = False              # fewer options, epochs and timing samples (a smoke run)
    only: tuple | None = None        # technique names (None: every one, in TECHNIQUES' order)
    epochs: int | None = None        # baseline epochs (None: BaselineConfig's 40; quick: 20)
    fine_tune_epochs: int = 40       # epochs of each pruning fine-tune, distillation recovery
                                     # and ternary QAT; LSQ half (quick: 5; LSQ 3)
    validation: float = 0.1          # fraction of the training set carved for the choices
    tolerance: float = 0.5           # validation points a choice may lose vs the baseline
    calibration: int = 2048          # training rows calibrating PTQ, GPTQ, AdaRound, SparseGPT
    adaround_iters: int = 500        # AdaRound's iterations per layer (quick: 100)
    student: tuple = (16, 16)        # hidden sizes of the KD student
    cascade_small: tuple = (8,)      # hidden sizes of the cascade's small net (distilled)
    nas_trials: int = 12             # architectures the search trains (quick: 4)
    members: int = 3                 # ensemble members
    member_hidden: tuple = (24, 24)  # hidden sizes of each member
    rounds: int = 3                  # interleaved timing rounds, the median kept (quick: 1)
    quiet: bool = False              # no progress bars (they go to stderr)


def check_config(config) -> TourConfig:
    """``config`` checked at the boundary (names, ranges, the dataset's spelling); a copy
    with ``only`` in the table's order."""
    where = "tour"
    if not isinstance(config, TourConfig):
        raise TypeError(f"{where}: config is a {type(config).__name__}; expected a TourConfig")
    if not isinstance(config.dataset, str) or not (
            config.dataset in ("digits", "mnist1d") or config.dataset.startswith("mnist:")):
        raise ValueError(f"{where}: dataset={config.dataset!r}; expected 'digits', 'mnist1d' "
                         "or 'mnist:PATH' (a folder holding the four MNIST IDX files)")
    check.integer(config.seed, "seed", low=0, high=2**32 - 1, where=where)
    for name in ("fine_tune_epochs", "calibration", "adaround_iters", "nas_trials", "members",
                 "rounds"):
        check.integer(getattr(config, name), name, low=1, where=where)
    if config.epochs is not None:
        check.integer(config.epochs, "epochs", low=1, where=where)
    check.number(config.tolerance, "tolerance", low=0.0, high=100.0, where=where)
    check.number(config.validation, "validation", low=0.0, high=1.0, low_open=True,
                 high_open=True, where=where)
    for name in ("quick", "quiet"):
        check.flag(getattr(config, name), name, where=where)
    for name in ("student", "cascade_small", "member_hidden"):
        sizes = getattr(config, name)
        if not isinstance(sizes, (tuple, list)) or not sizes:
            raise ValueError(f"{where}: {name}={sizes!r}; expected a tuple of hidden sizes")
        for k, width in enumerate(sizes):
            check.integer(width, f"{name}[{k}]", low=1, where=where)
    only = None if config.only is None else tuple(check_names(config.only))
    return replace(config, only=only)


def baseline(config: TourConfig):
    """``(net, data)``: the baseline MLP trained by :class:`~minicomp.train.BaselineConfig`'s
    recipe on the tour's dataset (with its validation part)."""
    epochs = config.epochs or (20 if config.quick else BaselineConfig.epochs)
    recipe = BaselineConfig(seed=config.seed, epochs=epochs, validation=config.validation)
    if not config.dataset.startswith("mnist:"):
        recipe.dataset = config.dataset
        net, _, _, data = train_baseline(recipe, quiet=config.quiet)
        return net, data
    from ..data import load_mnist
    data = load_mnist(config.dataset[len("mnist:"):], validation=recipe.validation)
    sizes = [data.X_train.shape[1], *recipe.hidden, data.num_classes]
    net = fit_mlp(sizes, data.X_train, data.y_train, epochs, recipe.seed, quiet=config.quiet,
                  desc=data.name)                     # train_baseline's recipe, on IDX files
    return net, data


def latencies(stored: dict, X, config) -> dict:
    """``{(name, B): median seconds of stored[name].predict(X[:B])}``, in interleaved rounds."""
    inputs = {B: np.ascontiguousarray(np.resize(X, (B, X.shape[1])), np.float32)
              for B in BATCHES}                                       # (B, in)
    calls = {(name, B): (lambda m=m, x=inputs[B]: m.predict(x))
             for name, m in stored.items() for B in BATCHES}
    rounds = 1 if config.quick else config.rounds
    bar = tqdm(total=rounds * len(calls), desc="latency", disable=config.quiet, leave=False,
               unit="call")
    try:
        return timing.interleaved_times(calls, rounds=rounds,
                                          before={k: bar.update for k in calls},
                                          samples=3 if config.quick else 7, warmup=1,
                                          min_sample=1e-3)
    finally:
        bar.close()


def run(config: TourConfig | None = None) -> list[dict]:
    """Train the baseline, apply every technique (``config.only``), measure each stored model.

    Returns
    -------
    list of dict
        The baseline first, then one row per technique: ``technique``,
        ``label``, ``choice``, ``accuracy``, ``delta_points``, ``nonzeros``,
        ``bytes``, ``ratio``, ``latency_b1_s``, ``latency_b256_s``,
        ``build_seconds``.

    Raises
    ------
    TypeError, ValueError
        A bad config (unknown technique names are listed); what the loaders refuse.
    """
    config = check_config(TourConfig() if config is None else config)
    rows = timing.one_blas_thread(lambda: _run(config))       # None: no threadpoolctl
    return _run(config) if rows is None else rows


def _run(config: TourConfig) -> list[dict]:
    from ..store import pack
    net, data = baseline(config)
    stored = {"baseline": (pack(net, "dense"), "float32, dense", 0.0)}
    ctx = Context(net, data.X_train, data.y_train, data.X_val, data.y_val, config)
    ctx.val_base = ctx.val_accuracy(stored["baseline"][0])   # as pick() scores each option
    names = list(config.only or TECHNIQUES)
    bar = tqdm(names, desc="tour", disable=config.quiet, leave=False, unit="technique")
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        candidate = TECHNIQUES[name].build(ctx)
        model = candidate.model if candidate.model is not None else pack(
            candidate.obj, candidate.fmt, **candidate.options)
        stored[name] = (model, candidate.choice, time.perf_counter() - t0)
    bar.close()
    times = latencies({k: m for k, (m, _, _) in stored.items()}, data.X_test, config)
    rows, base = [], None
    for name, (model, choice, seconds) in stored.items():
        acc = accuracy(model.predict(data.X_test), data.y_test)       # the test set: here only
        base = base or {"accuracy": acc, "bytes": model.nbytes}
        rows.append({
            "technique": name,
            "label": TECHNIQUES[name].label if name in TECHNIQUES else "baseline",
            "choice": choice, "accuracy": acc,
            "delta_points": 100 * (acc - base["accuracy"]),
            "nonzeros": int(model.nonzeros), "bytes": int(model.nbytes),
            "ratio": base["bytes"] / model.nbytes,
            **{f"latency_b{B}_s": times[name, B] for B in BATCHES},
            "build_seconds": seconds})
    return rows


def describe(config: TourConfig) -> dict:
    """The run's settings, for the JSON record (tuples as lists)."""
    return {"config": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in asdict(config).items()}}
