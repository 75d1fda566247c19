"""``minicomp bench structure``: the structure issue's targets, measured.

1. **Hyperparameter search** (digits; lr, batch size, decay, width, depth):
   random search (27 configurations x 27 epochs), successive halving (54
   configurations, 1 -> 27 epochs, eta 3: the first 27 are random search's)
   and Optuna TPE + median pruner with random search's epoch budget, per
   seed. Target: halving reaches random search's best validation accuracy
   with <= 1/3 of its epochs. Test accuracy: each winner retrained.
2. **Architecture search** (MNIST-1D, one run): regularized evolution over
   MLPs (depth, widths, lr, batch size, weight decay) under half the
   baseline's bytes and MACs, 2 workers, each trial the baseline's recipe
   (cosine schedule, 40 epochs); the best five re-ranked on the validation
   split by two more seeds each (against the luck of one split); all timed.
   Then the winner and the baseline (hidden 64-64,
   :class:`~minicomp.train.BaselineConfig`) trained by that recipe over
   the seeds. Target: within 5 minutes, <= half the parameters, test
   accuracy >= the baseline's (means). The Pareto fronts (parameters,
   MACs vs validation accuracy) are in the rows. On a shared machine the
   wall time says little (the load average is printed); the search's CPU
   time divided by its 2 workers is its wall time on 2 free cores, and the
   target takes the smaller of the two.
3. **Low rank** (digits, per seed): layers 0 and 1 of the trained baseline
   factorized at the largest rank that halves the parameters, by the plain
   SVD and by the SVD on the data (``factorize(..., X=X_train)``), then
   fine-tuned on the labels, or (on-data version) distilled from the
   original. Target: >= 2x fewer parameters at <= 0.5 points (mean), met
   or missed by the distilled on-data version.
4. **Exactness**: folding the factorized pairs back and Net2Net (widen +
   deepen) change the logits by < 1e-5.
5. **Layers, nodes, growth** (digits, per seed; no targets): a hidden layer
   removed then fine-tuned or distilled from the original; half the hidden
   neurons merged vs R_i-pruned and compacted (accuracy and largest logit
   change before fine-tuning, accuracy after); a 16-wide net grown (Net2Net) and trained on vs a 64-64
   net trained from scratch.
"""
from __future__ import annotations

import copy
import os
import time

import numpy as np

from ..blocks import count_macs, numpy_forward
from ..data import load_digits, load_mnist1d, train_test_split
from ..distill import Distill
from ..metrics import count_parameters, storage_bytes
from ..nn import MLP
from ..prune import FineTune, compact, prune
from ..structure import (
    MLPObjective,
    MLPSpace,
    Real,
    deepen,
    evolution,
    factorize,
    fold_linear,
    merge_neurons,
    optuna_search,
    pareto_front,
    random_search,
    remove_layer,
    run_trials,
    successive_halving,
    trial_seeds,
    widen,
)
from ..train import BaselineConfig, evaluate, fit, train_baseline
from .timing import cpu

HPO_SPACE = {"lr": Real(0.003, 0.5, log=True), "batch_size": [16, 32, 64, 128],
             "decay": [1.0, 0.95, 0.9, 0.8], "width": [8, 16, 32, 64], "depth": [1, 2, 3]}
FULL = {"n": 27, "R": 27, "sh_n": 54, "nas_trials": 150, "nas_epochs": 40, "top": 5,
        "ft": 20, "base_epochs": 40, "seeds": (0, 1, 2)}
QUICK = {"n": 9, "R": 9, "sh_n": 9, "nas_trials": 8, "nas_epochs": 3, "top": 2, "ft": 3,
         "base_epochs": 8, "seeds": (0,)}


def _acc(net, X, y):
    return evaluate(net, X, y)["accuracy"]


def logit_change(a, b, X) -> float:
    """Largest change of a logit between nets ``a`` and ``b`` (float64 forward)."""
    return float(np.abs(numpy_forward(a, X, np.float64) - numpy_forward(b, X, np.float64)).max())


def _objective(data, seed, weight_decay=0.0):
    X_t, X_v, y_t, y_v = train_test_split(data.X_train, data.y_train, 0.2, seed=seed)
    return MLPObjective(X_t, y_t, X_v, y_v, data.num_classes, weight_decay)


def hpo(seed, S, data) -> dict:
    """Random search, successive halving and Optuna on digits at one seed."""
    obj = _objective(data, seed)
    rs = random_search(obj, HPO_SPACE, S["n"], S["R"], seed=seed)
    sh = successive_halving(obj, HPO_SPACE, S["sh_n"], 1, S["R"], eta=3, seed=seed)
    tpe = optuna_search(obj, HPO_SPACE, 10 * S["n"], S["R"], budget=rs.epochs, seed=seed)
    out = {}
    for name, res in (("random", rs), ("halving", sh), ("optuna", tpe)):
        net = obj.train(res.best.params, res.best.epochs, res.best.seed)[0]
        out[name] = {"val": res.best.score, "epochs": res.epochs, "trials": len(res.trials),
                     "test": _acc(net, data.X_test, data.y_test)}
    return out


def nas(S) -> dict:
    """Regularized evolution on MNIST-1D under half the baseline's bytes and MACs (one run).

    The search trains each architecture for ``nas_epochs``; its best
    ``top`` distinct ones are then trained by the full recipe on the
    training split and ranked on the validation split (both inside the
    timed search); the winner and the baseline are finally trained on the
    whole training set over the seeds and tested.
    """
    data = load_mnist1d()
    base = MLP([data.num_features, *BaselineConfig().hidden, data.num_classes])
    space = MLPSpace(depths=(1, 2, 3), widths=(8, 16, 24, 32, 40, 48, 64, 96),
                     hyper={"lr": [0.02, 0.05, 0.1], "batch_size": [16, 32, 64],
                            "weight_decay": [0.0, 5e-4, 2e-3]})
    obj, recipe = _objective(data, 0), {"decay": "cosine"}
    start = time.perf_counter()
    res = evolution(obj, space, (data.num_features, data.num_classes), S["nas_trials"],
                    S["nas_epochs"], population=24, sample=6, batch=4, fixed=recipe,
                    max_bytes=storage_bytes(base) // 2, max_macs=count_macs(base) // 2,
                    seed=0, n_jobs=2)
    top = []
    for t in sorted(res.trials, key=lambda t: (-t.score, t.number)):
        if t.params not in [p for p, _ in top] and len(top) < S["top"]:
            top.append((t.params, t.info))
    ranked = run_trials(obj, [{**recipe, **p} for p, _ in top for _ in range(2)],
                        S["base_epochs"], trial_seeds(1, 2 * len(top)), n_jobs=2)
    mean = np.array([score for score, _, _ in ranked]).reshape(len(top), 2).mean(axis=1)
    best, info = top[int(np.argmax(mean))]                # two new seeds each
    seconds = time.perf_counter() - start
    cpu = sum(t.cpu_seconds for t in res.trials) + sum(c for _, _, c in ranked)
    found, baseline = [], []
    for s in S["seeds"]:
        cfg = dict(dataset="mnist1d", seed=s, epochs=S["base_epochs"])
        baseline.append(train_baseline(BaselineConfig(**cfg), quiet=True)[2]["accuracy"])
        mine = BaselineConfig(hidden=tuple(best["hidden"]), lr=best["lr"],
                              batch_size=best["batch_size"],
                              weight_decay=best["weight_decay"], **cfg)
        found.append(train_baseline(mine, quiet=True)[2]["accuracy"])
    cost = {k: [t.info[k] for t in res.trials] for k in ("parameters", "macs")}
    score = [t.score for t in res.trials]
    return {"seconds": seconds, "cpu_seconds": cpu, "trials": len(res.trials), "best": best,
            "parameters": info["parameters"], "baseline_parameters": count_parameters(base),
            "found_test": found, "baseline_test": baseline,
            "pareto_parameters": [(cost["parameters"][i], score[i])
                                  for i in pareto_front(cost["parameters"], score)],
            "pareto_macs": [(cost["macs"][i], score[i])
                            for i in pareto_front(cost["macs"], score)]}


def compress(seed, S, data) -> dict:
    """Low rank, exactness, layer removal, merging vs pruning, growth at one seed."""
    X, y, Xt, yt = data
    net = train_baseline(BaselineConfig(seed=seed, epochs=S["base_epochs"]), quiet=True)[0]
    r = {"base": _acc(net, Xt, yt), "base_params": count_parameters(net)}
    tune = FineTune(epochs=S["ft"], lr=0.01, seed=seed)
    rank = max(k for k in range(1, 65) if count_parameters(
        factorize(net, rank=k, layers=[0, 1])[0]) * 2 <= r["base_params"])
    plain = factorize(net, rank=rank, layers=[0, 1])[0]
    small = factorize(net, rank=rank, layers=[0, 1], X=X)[0]         # on the data
    r.update(rank=rank, lowrank_params=count_parameters(small),
             lowrank_plain=_acc(plain, Xt, yt), lowrank=_acc(small, Xt, yt))
    r["fold_error"] = logit_change(fold_linear(small), small, Xt)
    distilled = copy.deepcopy(small)
    for model in (plain, small):
        FineTune(epochs=S["ft"], lr=0.005, seed=seed)(model, X, y)
    Distill(epochs=S["ft"], lr=0.005, seed=seed, teacher=net)(distilled, X, y)
    r["lowrank_plain_ft"], r["lowrank_ft"] = _acc(plain, Xt, yt), _acc(small, Xt, yt)
    r["lowrank_kd"] = _acc(distilled, Xt, yt)
    grown = deepen(widen(widen(net, 0, 96, seed=seed), 1, 80, seed=seed), 1)
    r["net2net_error"] = logit_change(grown, net, Xt)
    removed = remove_layer(net, 1)
    r["removed"] = _acc(removed, Xt, yt)
    distilled = copy.deepcopy(removed)
    tune(removed, X, y)
    Distill(epochs=S["ft"], lr=0.01, seed=seed, teacher=net)(distilled, X, y)
    r["removed_ft"], r["removed_distill"] = _acc(removed, Xt, yt), _acc(distilled, Xt, yt)
    merged = merge_neurons(net, X, 0.5)[0]
    pruned = copy.deepcopy(net)
    prune(pruned, "activation", 0.5, X)
    pruned = compact(pruned)
    r["merged"], r["pruned"] = _acc(merged, Xt, yt), _acc(pruned, Xt, yt)
    r["merged_change"] = logit_change(merged, net, Xt)         # largest logit change
    r["pruned_change"] = logit_change(pruned, net, Xt)
    tune(merged, X, y)
    tune(pruned, X, y)
    r["merged_ft"], r["pruned_ft"] = _acc(merged, Xt, yt), _acc(pruned, Xt, yt)
    seed_net = MLP([64, 16, 10], seed=seed)
    fit(seed_net, X, y, lr=0.05, epochs=S["ft"], seed=seed, quiet=True)
    grown = deepen(widen(seed_net, 0, 64, seed=seed, noise=0.05), 0)
    scratch = MLP([64, 64, 64, 10], seed=seed)
    for model in (grown, scratch):
        fit(model, X, y, lr=0.05, epochs=S["ft"], seed=seed, quiet=True)
    r["small"], r["grown"], r["scratch"] = (_acc(m, Xt, yt) for m in (seed_net, grown, scratch))
    return r


def _stats(values):
    return {"values": list(values), "mean": float(np.mean(values)), "std": float(np.std(values))}


def run(quick: bool = False, seeds=None) -> list[dict]:
    """Rows: ``hpo``, ``nas``, ``compress`` (per-seed values, means and stds, targets)."""
    S = dict(QUICK if quick else FULL)
    S["seeds"] = tuple(seeds) if seeds is not None else S["seeds"]
    digits = load_digits()
    h = [hpo(s, S, digits) for s in S["seeds"]]
    hrow = {"part": "hpo", "cpu": cpu(), "seeds": list(S["seeds"]),
            "load": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    for m in ("random", "halving", "optuna"):
        hrow[m] = {k: _stats([x[m][k] for x in h]) for k in ("val", "test", "epochs")}
    hrow["targets"] = {"halving reaches random's best val with <= 1/3 epochs": all(
        x["halving"]["val"] >= x["random"]["val"] and
        3 * x["halving"]["epochs"] <= x["random"]["epochs"] for x in h)}
    n = nas(S)
    n.update(part="nas", seeds=list(S["seeds"]), targets={
        "nas <= 5 min on 2 free cores, <= half params, acc >= baseline":
        min(n["seconds"], n["cpu_seconds"] / 2) <= 300 and
        2 * n["parameters"] <= n["baseline_parameters"] and
        np.mean(n["found_test"]) >= np.mean(n["baseline_test"])})
    c = [compress(s, S, tuple(digits)) for s in S["seeds"]]
    crow = {"part": "compress", "seeds": list(S["seeds"])}
    for k in c[0]:
        crow[k] = _stats([x[k] for x in c])
    ratio = crow["base_params"]["mean"] / crow["lowrank_params"]["mean"]
    crow["targets"] = {
        "lowrank (on data, distilled) >= 2x fewer params, <= 0.5 pt": ratio >= 2 and
        crow["base"]["mean"] - crow["lowrank_kd"]["mean"] <= 0.005,
        "fold and net2net < 1e-5": max(crow["fold_error"]["values"] +
                                       crow["net2net_error"]["values"]) < 1e-5}
    for row in (hrow, n, crow):
        row["targets"] = {k: bool(v) for k, v in row["targets"].items()}   # JSON-able
    return [hrow, n, crow]


def pareto_plot(nas_row, path) -> str:
    """Save the architecture search's two Pareto fronts (from a ``nas`` row) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key in zip(axes, ("parameters", "macs")):
        cost, score = zip(*nas_row[f"pareto_{key}"])
        ax.step(cost, score, where="post", marker="o", c="C3", label="Pareto front")
        if key == "parameters":
            ax.axvline(nas_row["baseline_parameters"], ls="--", c="gray", label="baseline")
            ax.axvline(nas_row["parameters"], ls=":", c="C0", label="found")
        ax.set(xscale="log", xlabel=key, ylabel="validation accuracy",
               title=f"MNIST-1D: accuracy vs {key} (one run)")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())      # no overlapping labels
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _line(name, st, scale=100.0):
    vals = " ".join(f"{v * scale:.2f}" for v in st["values"])
    return f"  {name:<17} {st['mean'] * scale:7.2f} ± {st['std'] * scale:.2f}  ({vals})"


def format_table(rows) -> str:
    h, n, c = rows
    load = "" if h.get("load") is None else f", load average {h['load'][0]:.1f}"
    lines = [f"CPU: {h['cpu']}{load}", f"hyperparameter search, digits, seeds {h['seeds']} "
             "(validation / test accuracy in %, epochs spent)"]
    for m in ("random", "halving", "optuna"):
        lines += [_line(f"{m} val", h[m]["val"]), _line(f"{m} test", h[m]["test"]),
                  _line(f"{m} epochs", h[m]["epochs"], 1.0)]
    lines += [f"architecture search, MNIST-1D (one run, {n['trials']} trials, "
              f"{n['seconds']:.0f} s wall on 2 workers, CPU {n['cpu_seconds']:.0f} s: "
              f"{n['cpu_seconds'] / 2:.0f} s on 2 free cores): best {n['best']}",
              f"  parameters {n['parameters']} vs baseline {n['baseline_parameters']}; test % "
              f"{100 * np.mean(n['found_test']):.2f} ± {100 * np.std(n['found_test']):.2f} vs "
              f"{100 * np.mean(n['baseline_test']):.2f} ± {100 * np.std(n['baseline_test']):.2f}",
              "  Pareto (parameters, val acc): "
              f"{[(p, round(s, 3)) for p, s in n['pareto_parameters']]}",
              f"compression, digits, seeds {c['seeds']} (test accuracy %; errors absolute)"]
    for k, st in c.items():
        if isinstance(st, dict) and "values" in st:
            if k.endswith(("_error", "_change")):
                lines.append(f"  {k:<17} max {max(st['values']):.2e}")
            else:
                acc = k not in ("base_params", "lowrank_params", "rank")
                lines.append(_line(k, st, 100.0 if acc else 1.0))
    for row in rows:
        lines.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                              for k, v in row["targets"].items()))
    return "\n".join(lines)
