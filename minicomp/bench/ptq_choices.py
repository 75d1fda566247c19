"""``minicomp bench ptq_choices``: how the post-training defaults were chosen, on validation.

The defaults of :mod:`minicomp.ptq` (calibrate on every training row,
AdaRound's 2,000 iterations and its lam and lr, GPTQ's and SparseGPT's
asymmetric calibration) are choices, so they are made on a validation
split and never on the test set. This
benchmark is that experiment, rerunnable: MNIST-1D with 20 % of the
training part held out (``load_mnist1d(validation=0.2)``), an MLP trained
on the rest with each seed (hidden 64-64: SGD 0.05, momentum 0.9, weight
decay 5e-4, cosine schedule, 40 epochs of batch 32; 256-256: 30 epochs of
batch 64), then per-channel symmetric weights with 8-bit activations at 3
and 4 bits, calibrated on 512 training rows or on all of them:

- ``rtn`` round-to-nearest (:func:`minicomp.quant.quantize_mlp`);
- ``gptq_sym`` / ``gptq_sym_ao``: the original GPTQ, without / with act-order;
- ``gptq`` / ``gptq_ao``: asymmetric calibration (the default), without / with act-order;
- ``ada500`` / ``ada2000``: AdaRound with 500 / 2,000 iterations;
- ``ada l{lam} r{lr}``: AdaRound (2,000 iterations) over the grid
  :data:`ADA_GRID` of its regulariser weight and learning rate, 64-64 and
  all rows only (its defaults, ``lam`` 0.1 and ``lr`` 0.2);
- ``sparsegpt_sym`` / ``sparsegpt``: SparseGPT one-shot at 50 % (``S50``) and
  2:4 (``S2:4``), each layer matching its own outputs / the float net's
  (:func:`~minicomp.ptq.sparsegpt_net`'s ``asymmetric``), all rows only.

Each cell is the drop of validation accuracy against the float net, in
points, mean ± std over the seeds. The test set is never read.
"""
from __future__ import annotations

import numpy as np

from ..data import load_mnist1d
from ..nn import MLP
from ..optim import SGD, CosineLR
from ..ptq import adaround_mlp, gptq_mlp, sparsegpt_net
from ..quant import quantize_mlp
from ..train import evaluate, fit

NETS = {"64-64": ((64, 64), 40, 32), "256-256": ((256, 256), 30, 64)}   # hidden, epochs, batch
METHODS = {
    "rtn": lambda net, X, bits, seed: quantize_mlp(net, X, bits, 8),
    "gptq_sym": lambda net, X, bits, seed: gptq_mlp(net, X, bits, 8, asymmetric=False),
    "gptq_sym_ao": lambda net, X, bits, seed: gptq_mlp(net, X, bits, 8, act_order=True,
                                                        asymmetric=False),
    "gptq": lambda net, X, bits, seed: gptq_mlp(net, X, bits, 8),
    "gptq_ao": lambda net, X, bits, seed: gptq_mlp(net, X, bits, 8, act_order=True),
    "ada500": lambda net, X, bits, seed: adaround_mlp(net, X, bits, 8, iters=500, seed=seed),
    "ada2000": lambda net, X, bits, seed: adaround_mlp(net, X, bits, 8, iters=2000, seed=seed),
}

ADA_GRID = [(lam, lr) for lam in (0.01, 0.1, 1.0) for lr in (0.02, 0.2)]   # (lam, lr)
SPARSITY = {"S50": {"amount": 0.5}, "S2:4": {"nm": (2, 4)}}      # SparseGPT, one-shot


def one_net(name: str, seed: int, quick: bool, data) -> dict:
    """Validation accuracy of the float net and of every method x bits x calibration size."""
    hidden, epochs, batch = NETS[name]
    hidden, epochs = ((8, 8), 2) if quick else (hidden, epochs)
    net = MLP([data.num_features, *hidden, data.num_classes], seed=seed)
    opt = SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    fit(net, data.X_train, data.y_train, optimizer=opt, epochs=epochs, batch_size=batch,
        seed=seed, scheduler=CosineLR(opt, T=epochs), quiet=True)
    r = {"float": evaluate(net, *data.validation)["accuracy"]}
    rows = np.random.default_rng(seed).permutation(len(data.X_train))
    for cal, X in (("512", data.X_train[rows[:512]]), ("all", data.X_train)):
        for bits in (3, 4):
            for method, quantize in METHODS.items():
                if quick and method == "ada2000":
                    continue
                model = quantize(net, X, bits, seed)
                r[f"{method} W{bits} {cal}"] = evaluate(model, *data.validation)["accuracy"]
            for lam, lr in ADA_GRID if cal == "all" and name == "64-64" else ():
                model = adaround_mlp(net, X, bits, 8, iters=20 if quick else 2000, lr=lr,
                                     lam=lam, seed=seed)
                r[f"ada l{lam} r{lr} W{bits} {cal}"] = evaluate(model, *data.validation)[
                    "accuracy"]
        for head, kw in SPARSITY.items() if cal == "all" else ():
            for method, asym in (("sparsegpt_sym", False), ("sparsegpt", True)):
                model = sparsegpt_net(net, X, asymmetric=asym, **kw)
                r[f"{method} {head} {cal}"] = evaluate(model, *data.validation)["accuracy"]
    return r


def run(quick: bool = False) -> list[dict]:
    """One row per net: every cell's drop vs float (points) over the seeds."""
    data = load_mnist1d(num_samples=500 if quick else 5000, validation=0.2)
    seeds = {"64-64": (0,) if quick else tuple(range(6)), "256-256": () if quick else (0, 1, 2)}
    out = []
    for name, net_seeds in seeds.items():
        if not net_seeds:
            continue
        per_seed = [one_net(name, s, quick, data) for s in net_seeds]
        row = {"net": name, "seeds": list(net_seeds), "float": [p["float"] for p in per_seed]}
        for key in per_seed[0]:
            if key != "float":
                drops = [100 * (p["float"] - p[key]) for p in per_seed]
                row[key] = [float(np.mean(drops)), float(np.std(drops))]
        out.append(row)
    return out


def format_table(rows) -> str:
    lines = []
    for r in rows:
        lines.append(f"MNIST-1D validation split, MLP hidden {r['net']}, seeds {r['seeds']}: "
                     f"float {np.mean(r['float']):.4f}; drop vs float in points, mean ± std")
        cells = [k for k in r if k.endswith((" 512", " all"))]
        grid = [f"ada l{lam} r{lr}" for lam, lr in ADA_GRID]
        for head in sorted({" ".join(k.split()[-2:]) for k in cells}):
            lines.append(f"  {head:<8} " + "  ".join(
                f"{m} {r[f'{m} {head}'][0]:+.2f}±{r[f'{m} {head}'][1]:.2f}"
                for m in (*METHODS, "sparsegpt_sym", "sparsegpt") if f"{m} {head}" in r))
            if f"{grid[0]} {head}" in r:
                lines.append(f"  {'':<8} AdaRound grid: " + "  ".join(
                    f"{m[4:]} {r[f'{m} {head}'][0]:+.2f}±{r[f'{m} {head}'][1]:.2f}"
                    for m in grid))
    return "\n".join(lines)
