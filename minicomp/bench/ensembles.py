"""``minicomp bench ensembles``: the ensembles issue's targets on MNIST-1D, over seeds.

For each seed the MNIST-1D training set is split into train (80 %) and
validation (20 %); every choice (tau, weights, meta-model, soup
ingredients) is made on the validation split, the test set gives the
numbers only.

1. **parallel** -- 5 MLPs (hidden 128-128, different seeds): probability
   average, majority vote, logit average vs the best single member
   (target: average >= best + 1 point); accuracy vs number of members.
2. **cascade** -- small MLP (64-64, distilled from the large one, T = 4)
   then large MLP (512-512). tau is the most accurate on validation within
   a budget of 45 % of the large net's MACs (5 points of slack for the
   test set); target: test accuracy within 0.5 points of the large model
   at <= 50 % of its MACs per example. Also reported: the rule "cheapest
   tau whose validation accuracy reaches the large net's" (noisier), and
   the budget rule on digits.
3. **SAMME** -- 8 rounds of tiny MLPs (hidden 4) trained on weighted
   resamples vs one of them.
4. **hybrid** -- the 5 members + the small and the large net: weights on
   the simplex (log-loss on validation) vs uniform, stacking (logistic
   meta-model) vs scikit-learn's VotingClassifier / StackingClassifier on
   the same wrapped members.
5. **distil** -- one student (128-128) trained on the 5 members' averaged
   T=4 probabilities (target: keeps >= half of the ensemble's gain over the
   mean single member); a control trained the same way on labels only.
6. **soups** -- one net, then 5 fine-tunes of it (constant lr, different
   data orders): uniform and greedy soups vs the ingredients (target:
   greedy soup > best ingredient).
7. **alignment** -- members 0 and 1 averaged naively and after weight
   matching (target: naive near chance, alignment recovers most of the gap
   to the endpoints).

Training uses one BLAS thread (threadpoolctl, when installed): on a loaded
machine threaded BLAS is far slower on these small matrices.
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np

from ..blocks import count_macs
from ..data import load_digits, load_mnist1d, train_test_split
from ..distill import DistillConfig, distill
from ..ensemble import (
    NetClassifier,
    accuracy_vs_members,
    align,
    average_logits,
    average_probabilities,
    average_weights,
    cascade_curve,
    choose_tau,
    distill_ensemble,
    fit_simplex_weights,
    fit_stacker,
    greedy_soup,
    log_loss,
    majority_vote,
    member_logits,
    member_probabilities,
    net_learner,
    samme,
    samme_predict,
    stack_probabilities,
    uniform_soup,
)
from ..metrics import accuracy
from ..nn import MLP
from ..optim import SGD, CosineLR
from ..train import evaluate, fit


def _one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _train(net, X, y, seed, epochs, lr=0.05, cosine=True):
    opt = SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    fit(net, X, y, optimizer=opt, epochs=epochs, batch_size=64, seed=seed, quiet=True,
        scheduler=CosineLR(opt, T=epochs) if cosine else None)
    return net


def _settings(quick):
    if quick:
        return dict(samples=1000, hidden=(32, 32), members=3, epochs=4, small=(8,),
                    large=(64, 64), rounds=3, ingredients=3, ft_epochs=2)
    return dict(samples=5000, hidden=(128, 128), members=5, epochs=30, small=(64, 64),
                large=(512, 512), rounds=8, ingredients=5, ft_epochs=5)


def _cascade(data, Xtr, ytr, Xva, yva, seed, S):
    D = data.X_train.shape[1]
    large = _train(MLP([D, *S["large"], 10], seed=100 + seed), Xtr, ytr, seed, S["epochs"])
    small = MLP([D, *S["small"], 10], seed=7 + seed)
    opt = SGD(small.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    distill(small, large, Xtr, ytr, DistillConfig(T=4.0, alpha=0.9), optimizer=opt,
            epochs=2 * S["epochs"], batch_size=64, seed=seed, quiet=True,
            scheduler=CosineLR(opt, T=2 * S["epochs"]))
    val = cascade_curve(small, large, Xva, yva, np.linspace(0, 1, 101))
    by_budget = choose_tau(val, budget=0.45 * count_macs(large))["tau"]
    by_target = choose_tau(val, target=evaluate(large, Xva, yva)["accuracy"])["tau"]
    test = cascade_curve(small, large, data.X_test, data.y_test, [by_budget, by_target])
    return small, large, {
        "small": evaluate(small, data.X_test, data.y_test)["accuracy"],
        "large": evaluate(large, data.X_test, data.y_test)["accuracy"],
        "cascade": test[0]["accuracy"], "tau": by_budget, "deferred": test[0]["deferred"],
        "macs_ratio": test[0]["macs"] / count_macs(large),
        "target_rule": test[1]["accuracy"], "target_rule_tau": by_target,
        "target_rule_macs_ratio": test[1]["macs"] / count_macs(large)}


def _hybrid(cands, Xva, yva, X, y):
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    P_va, P = member_probabilities(cands, Xva), member_probabilities(cands, X)
    w = fit_simplex_weights(P_va, yva)
    meta = fit_stacker(P_va, yva, epochs=50)
    wrapped = [(f"m{i}", NetClassifier(n).fit(Xva, yva)) for i, n in enumerate(cands)]
    vote = VotingClassifier([(k, FrozenEstimator(e)) for k, e in wrapped], voting="soft")
    stack = StackingClassifier(wrapped, LogisticRegression(max_iter=1000), cv="prefit")
    return {"uniform": accuracy(average_probabilities(P), y),
            "uniform_logloss": log_loss(average_probabilities(P), y),
            "weighted": accuracy(average_probabilities(P, w), y),
            "weighted_logloss": log_loss(average_probabilities(P, w), y),
            "weights": [round(float(v), 3) for v in w],
            "stacking": accuracy(stack_probabilities(meta, P), y),
            "sk_voting": float(vote.fit(Xva, yva).score(X, y)),
            "sk_stacking": float(stack.fit(Xva, yva).score(X, y))}


def one_seed(seed: int, quick: bool) -> dict:
    """Every measurement of the module docstring for one seed (test accuracies)."""
    S = _settings(quick)
    data = load_mnist1d(num_samples=S["samples"])
    X, y, D = data.X_test, data.y_test, data.X_train.shape[1]
    Xtr, Xva, ytr, yva = train_test_split(data.X_train, data.y_train, test_size=0.2, seed=seed)
    r = {}
    members = [_train(MLP([D, *S["hidden"], 10], seed=100 * seed + m), Xtr, ytr, seed + m,
                      S["epochs"]) for m in range(S["members"])]
    P = member_probabilities(members, X)
    r["members"] = [accuracy(p, y) for p in P]
    r["single"], r["best_member"] = float(np.mean(r["members"])), max(r["members"])
    r["average"] = accuracy(average_probabilities(P), y)
    r["vote"] = accuracy(majority_vote(P.argmax(axis=2), 10), y)
    r["logits"] = accuracy(average_logits(member_logits(members, X)), y)
    r["k_curve"] = accuracy_vs_members(P, y)
    small, large, r["cascade"] = _cascade(data, Xtr, ytr, Xva, yva, seed, S)
    digits = load_digits()
    dtr, dva, dytr, dyva = train_test_split(digits.X_train, digits.y_train, 0.2, seed=seed)
    r["cascade_digits"] = _cascade(digits, dtr, dytr, dva, dyva, seed, S)[2]
    boosted = samme(net_learner(10, hidden=[4], epochs=3), Xtr, ytr, 10, rounds=S["rounds"],
                    seed=seed)
    r["samme"] = {"first": accuracy(np.asarray(boosted.learners[0](X)), y),
                  "boosted": accuracy(samme_predict(boosted, X), y),
                  "rounds": len(boosted.alphas)}
    r["hybrid"] = _hybrid(members + [small, large], Xva, yva, X, y)
    student = MLP([D, *S["hidden"], 10], seed=999 + seed)
    opt = SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    distill_ensemble(student, members, Xtr, ytr, T=4.0, alpha=0.9, optimizer=opt,
                     epochs=2 * S["epochs"], batch_size=64, seed=seed, quiet=True,
                     scheduler=CosineLR(opt, T=2 * S["epochs"]))
    control = _train(MLP([D, *S["hidden"], 10], seed=999 + seed), Xtr, ytr, seed,
                     2 * S["epochs"])
    r["distill"] = {"student": evaluate(student, X, y)["accuracy"],
                    "control": evaluate(control, X, y)["accuracy"]}
    base = _train(MLP([D, *S["hidden"], 10], seed=50 + seed), Xtr, ytr, seed, S["epochs"])
    ingredients = [_train(copy.deepcopy(base), Xtr, ytr, 60 + 10 * seed + k, S["ft_epochs"],
                          cosine=False) for k in range(S["ingredients"])]
    soup, chosen = greedy_soup(ingredients, Xva, yva)
    val = [evaluate(n, Xva, yva)["accuracy"] for n in ingredients]
    test = [evaluate(n, X, y)["accuracy"] for n in ingredients]
    r["soup"] = {"base": evaluate(base, X, y)["accuracy"], "ingredients": test,
                 "best_val_ingredient": test[int(np.argmax(val))], "best_ingredient": max(test),
                 "uniform": evaluate(uniform_soup(ingredients), X, y)["accuracy"],
                 "greedy": evaluate(soup, X, y)["accuracy"], "chosen": chosen}
    a, b = members[0], members[1]
    r["align"] = {"ends": (r["members"][0] + r["members"][1]) / 2,
                  "naive": evaluate(average_weights([a, b]), X, y)["accuracy"],
                  "aligned": evaluate(average_weights([a, align(a, b)]), X, y)["accuracy"]}
    return r


def _stat(values) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)),
            "values": [float(v) for v in values]}


def run(quick: bool = False, seeds=None) -> list[dict]:
    """One row per measurement: mean and std over seeds, the per-seed values, and the targets."""
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    with _one_thread():
        per = [one_seed(s, quick) for s in seeds]
    get = lambda *path: [_dig(p, path) for p in per]              # noqa: E731
    names = {
        "single member (mean)": ("single",), "best single member": ("best_member",),
        "probability average": ("average",), "majority vote": ("vote",),
        "logit average": ("logits",), "cascade small": ("cascade", "small"),
        "cascade large": ("cascade", "large"), "cascade": ("cascade", "cascade"),
        "cascade MACs / large": ("cascade", "macs_ratio"),
        "cascade deferred": ("cascade", "deferred"), "cascade tau": ("cascade", "tau"),
        "cascade, target rule": ("cascade", "target_rule"),
        "cascade, target rule MACs / large": ("cascade", "target_rule_macs_ratio"),
        "digits cascade large": ("cascade_digits", "large"),
        "digits cascade": ("cascade_digits", "cascade"),
        "digits cascade MACs / large": ("cascade_digits", "macs_ratio"),
        "SAMME first learner": ("samme", "first"), "SAMME boosted": ("samme", "boosted"),
    }
    for k in ("uniform", "weighted", "uniform_logloss", "weighted_logloss", "stacking",
              "sk_voting", "sk_stacking"):
        names[f"hybrid {k}"] = ("hybrid", k)
    for k in ("student", "control"):
        names[f"distill {k}"] = ("distill", k)
    for k in ("base", "best_val_ingredient", "best_ingredient", "uniform", "greedy"):
        names[f"soup {k}"] = ("soup", k)
    for k in ("ends", "naive", "aligned"):
        names[f"align {k}"] = ("align", k)
    rows = [{"name": n, **_stat(get(*path))} for n, path in names.items()]
    m = {r["name"]: r["mean"] for r in rows}
    gain = m["probability average"] - m["single member (mean)"]
    targets = {
        "average >= best member + 1 pt": m["probability average"] - m["best single member"]
        >= 0.01,
        "cascade within 0.5 pt of large": m["cascade large"] - m["cascade"] <= 0.005,
        "cascade <= 50 % of large MACs": m["cascade MACs / large"] <= 0.5,
        "student keeps >= half the gain": m["distill student"] - m["single member (mean)"]
        >= 0.5 * gain,
        "greedy soup > best ingredient": m["soup greedy"] > m["soup best_ingredient"],
        "naive average near chance (< 0.3)": m["align naive"] < 0.3,
        "alignment recovers > half the gap": m["align aligned"] - m["align naive"]
        > 0.5 * (m["align ends"] - m["align naive"]),
    }
    rows.append({"name": "k_curve", "values": np.mean(get("k_curve"), axis=0).tolist(),
                 "mean": None, "std": None})
    rows.append({"name": "weights (seed 0)", "values": per[0]["hybrid"]["weights"],
                 "mean": None, "std": None})
    rows.append({"name": "targets", "seeds": list(seeds), "targets": targets,
                 "mean": None, "std": None, "values": []})
    return rows


def _dig(d, path):
    for k in path:
        d = d[k]
    return d


def format_table(rows) -> str:
    last = rows[-1]
    lines = [f"MNIST-1D (digits where named), seeds {last['seeds']}: mean ± std over seeds "
             "(test accuracy unless named)"]
    for r in rows[:-1]:
        if r["mean"] is None:
            lines.append(f"  {r['name']:<32} " + " ".join(f"{v:.4f}" for v in r["values"]))
        else:
            lines.append(f"  {r['name']:<32} {r['mean']:.4f} ± {r['std']:.4f}  ("
                         + " ".join(f"{v:.4f}" for v in r["values"]) + ")")
    lines.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                          for k, v in last["targets"].items()))
    return "\n".join(lines)
