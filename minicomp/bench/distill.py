"""``minicomp bench distill``: the distillation issue's targets, measured over seeds.

Protocol (per dataset, per seed): the training set is split into train
(80 %) and validation (20 %); every net trains on train only, every
choice (T, alpha) is made on validation, the test set gives the final
numbers only.

- **teacher**: an MLP 512-512 with dropout 0.3 (about 40x the student's
  parameters), trained for up to 80 epochs and kept at its best
  validation epoch (early stopping; a teacher that has memorised the
  training set gives soft targets that say little more than the labels);
  **student**: the seeds' MLP 64-64.
- the student alone, hard-label KD (the teacher's argmax, seed 004), soft
  KD at T in ``TEMPERATURES`` (alpha 0.9) and at alpha in ``ALPHAS`` (best
  T); the best T is the one with the highest mean validation accuracy.
- target 1: soft KD at the best T closes >= 50 % of the gap between the
  student alone and the teacher on MNIST-1D (mean over seeds; Hinton et
  al. 2015 closed 91 % on MNIST).
- digits is run with a reduced training set (``DIGITS_TRAIN`` examples),
  where the teacher's soft targets have the most to add.
- target 2 (MNIST-1D): remove ``PRUNE_AMOUNT`` of the teacher's hidden
  neurons by R_i (seed 000's importance), ``compact()``, then recover for
  the same epochs by plain fine-tuning or by distillation from the unpruned
  teacher (T in ``PRUNE_TEMPERATURES`` chosen on validation): prune-then-
  distill recovers more.
"""
from __future__ import annotations

import copy

import numpy as np

from ..data import load_digits, load_mnist1d, train_test_split
from ..distill import Distill, DistillConfig, distill
from ..nn import MLP, Dense, Dropout, ReLU, Sequential
from ..optim import SGD, CosineLR
from ..prune import FineTune, compact, one_shot
from ..train import evaluate, fit
from .timing import cpu

TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.5, 0.9, 1.0)
DIGITS_TRAIN = 200            # training examples kept for digits (of 1347; rounded per class)
TEACHER_PATIENCE = 10        # the teacher stops when validation has not improved for 10 epochs
PRUNE_AMOUNT = 0.75           # fraction of each hidden layer's neurons removed
PRUNE_TEMPERATURES = (1.0, 2.0, 4.0)   # prune-then-distill: T chosen on validation


def teacher_net(n_in, n_out, width, seed):
    """The teacher: Dense(width) - ReLU - Dropout(0.3), twice, then the logits."""
    return Sequential(Dense(n_in, width, seed=seed), ReLU(), Dropout(0.3, seed=seed),
                      Dense(width, width, seed=seed + 1), ReLU(), Dropout(0.3, seed=seed + 1),
                      Dense(width, n_out, seed=seed + 2))


def recipe(epochs, seed, lr=0.05):
    """fit keyword arguments: SGD with momentum, weight decay and a cosine schedule."""
    def kwargs(net):
        opt = SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        return dict(optimizer=opt, epochs=epochs, batch_size=64, seed=seed, quiet=True,
                    scheduler=CosineLR(opt, T=epochs))
    return kwargs


def splits(dataset, seed):
    """(X_tr, y_tr, X_val, y_val, X_test, y_test) of ``dataset`` for ``seed``."""
    data = load_mnist1d() if dataset == "mnist1d" else load_digits()
    X, y = data.X_train, data.y_train
    if dataset == "digits":                     # the reduced training set, stratified
        X, _, y, _ = train_test_split(X, y, test_size=1 - DIGITS_TRAIN / len(X), seed=seed)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, seed=seed)
    return X_tr, y_tr, X_val, y_val, data.X_test, data.y_test


def one_seed(dataset, seed, quick):
    """Validation and test accuracy of every variant for one seed."""
    X_tr, y_tr, X_val, y_val, X_te, y_te = splits(dataset, seed)
    n_in, n_out = X_tr.shape[1], int(y_te.max()) + 1
    epochs = 20 if quick else 60
    fit_kw = recipe(epochs, seed)
    scores = {}

    def score(name, net):
        scores[name] = (evaluate(net, X_val, y_val)["accuracy"],
                        evaluate(net, X_te, y_te)["accuracy"])

    teacher = teacher_net(n_in, n_out, 128 if quick else 512, seed)
    fit(teacher, X_tr, y_tr, validation=(X_val, y_val), early_stopping=TEACHER_PATIENCE,
        **recipe(30 if quick else 80, seed)(teacher))         # the best epoch on validation
    score("teacher", teacher)

    def student():
        return MLP([n_in, 64, 64, n_out], seed=seed + 100)

    net = student()
    fit(net, X_tr, y_tr, **fit_kw(net))
    score("alone", net)
    net = student()
    distill(net, teacher, X_tr, y_tr, DistillConfig(hard=True, alpha=1.0), **fit_kw(net))
    score("hard", net)
    for T in TEMPERATURES[1:3] if quick else TEMPERATURES:
        for alpha in ALPHAS if T == 4.0 else (0.9,):
            net = student()
            distill(net, teacher, X_tr, y_tr, DistillConfig(T=T, alpha=alpha), **fit_kw(net))
            score(f"T={T:g},a={alpha:g}", net)
    if dataset == "mnist1d":
        prune_kw = dict(epochs=10 if quick else 20, lr=0.02, seed=seed)

        def recovered(tuner):
            return compact(one_shot(copy.deepcopy(teacher), X_tr, y_tr, "activation",
                                    PRUNE_AMOUNT, fine_tune=tuner))

        score("pruned", recovered(None))
        score("prune+finetune", recovered(FineTune(**prune_kw)))
        for T in PRUNE_TEMPERATURES:                        # the best on validation is kept
            score(f"prune+distill T={T:g}", recovered(Distill(
                teacher=teacher, config=DistillConfig(T=T, alpha=0.9), **prune_kw)))
    return scores


def run(quick: bool = False, seeds=None) -> list[dict]:
    """One row per dataset: mean ± std of each variant, the chosen T, and the targets."""
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    rows = []
    for dataset in ("mnist1d", "digits"):
        per_seed = [one_seed(dataset, s, quick) for s in seeds]
        row = {"dataset": dataset, "seeds": list(seeds), "variants": {}, "cpu": cpu()}
        for name in per_seed[0]:
            val = [p[name][0] for p in per_seed]
            test = [p[name][1] for p in per_seed]
            row["variants"][name] = {"val": float(np.mean(val)), "test": float(np.mean(test)),
                                     "test_std": float(np.std(test)), "test_all": test}
        soft = {k: v for k, v in row["variants"].items() if k.startswith("T=")
                and k.endswith("a=0.9")}
        best = max(soft, key=lambda k: soft[k]["val"])            # chosen on validation
        row["best_T"] = best
        v = row["variants"]
        gap = v["teacher"]["test"] - v["alone"]["test"]
        row["gap_closed"] = (v[best]["test"] - v["alone"]["test"]) / gap if gap > 0 else None
        row["targets"] = {}
        if dataset == "mnist1d":
            row["targets"]["soft KD closes >= 50% of the gap"] = bool(
                row["gap_closed"] is not None and row["gap_closed"] >= 0.5)
            recover = {k: x for k, x in v.items() if k.startswith("prune+distill")}
            row["prune_best_T"] = max(recover, key=lambda k: recover[k]["val"])
            row["targets"]["prune+distill > prune+finetune"] = bool(
                v[row["prune_best_T"]]["test"] > v["prune+finetune"]["test"])
        rows.append(row)
    return rows


def format_table(rows) -> str:
    lines = [f"CPU: {rows[0]['cpu']}"] if rows and "cpu" in rows[0] else []
    for row in rows:
        lines.append(f"{row['dataset']} (seeds {row['seeds']}; T chosen on validation: "
                     f"{row['best_T']})")
        lines.append(f"  {'variant':<22} {'val acc':>8} {'test acc (mean ± std)':>22}")
        for name, v in row["variants"].items():
            lines.append(f"  {name:<22} {v['val']:>8.4f} {v['test']:>13.4f} ± {v['test_std']:.4f}")
        if "prune_best_T" in row:
            lines.append(f"  prune-then-distill at the T chosen on validation: "
                         f"{row['prune_best_T']}")
        if row["gap_closed"] is not None:
            lines.append(f"  soft KD at {row['best_T']} closes {100 * row['gap_closed']:.0f} % "
                         "of the student-teacher gap")
        for target, met in row["targets"].items():
            lines.append(f"  target {target}: {'met' if met else 'MISSED'}")
    return "\n".join(lines)
