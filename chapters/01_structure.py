# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 1 — Network structure optimization
#
# *Choose the structure instead of guessing it: search hyperparameters
# and architectures, then remove layers, neurons and connections a
# trained net does not need — or grow it where it needs more.*

# %% [markdown]
# ## 1. Introduction
#
# "Structure optimization" (结构优化) is the title topic of seeds 000 and
# 003 and half of seed 001. Seed 003 splits it in two: make the model
# more complex (more layers, more parameters) or less complex (fewer
# layers, fewer parameters), "to fit the task". Seed 000 adds network
# structure search (网络结构搜索); seed 001 compresses a network by its
# number of layers, nodes and connections (层数 / 节点 / 连接压缩). Their
# only code is Keras's `model.summary()` (seed 000), run in the box of
# this section, and a PyTorch training loop (seed 003), run in chapter
# 0, section 6 — section 4 below takes it up where chapter 0 stops.
#
# This chapter turns each idea into an algorithm with a measured result:
# hyperparameter search (section 2), architecture search under budgets
# (3), fewer layers (4), fewer nodes (5), fewer connections by low rank
# (6) and growth (7). Every choice is made on a **validation split**
# carved from the training set; the test set gives only final numbers.
#
# > **Glossary.**
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 结构优化 | structure optimization | all |
# > | 超参数 / 学习率 / 批量大小 | hyperparameters / lr / batch | 2 |
# > | 网络结构搜索 | neural architecture search (NAS) | 3 |
# > | 层数压缩 | layer-count compression | 4 |
# > | 节点压缩 | node (neuron) compression | 5 |
# > | 连接压缩 | connection compression (here low rank) | 6 |
# > | 增加模型的复杂性 | growth (Net2Net) | 7 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import importlib.util
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits   # ships with scikit-learn

import minicomp
from minicomp import MLP, Dense, Sequential, evaluate, fit, predict
from minicomp.data import load_digits
from minicomp.distill import Distill, DistillConfig
from minicomp.metrics import count_parameters
from minicomp.optim import SGD
from minicomp.prune import FineTune, compact, prune
from minicomp.structure import (MLPObjective, MLPSpace, Real, arch_cost,
                                deepen, evolution, factorize, fold_linear,
                                merge_errors, merge_neurons, optuna_search,
                                pareto_front, random_nas, random_search,
                                rank_for_energy, remove_layer,
                                successive_halving, trial_seeds,
                                truncated_svd, widen)

threadpool_limits(limits=1, user_api="blas")   # small matrices: 1 thread
np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The data are the 8×8 digits. A quarter of the training set is held out
# as the validation split, once, stratified and seeded
# (`load_digits(validation=0.25)`); every choice below is made on it,
# and `X_test` is touched only for final numbers.
# The reference net is seed 000's MLP (64 → 64 → 64 → 10), trained once
# per seed; `W` of a `Dense` layer has shape (out, in).

# %%
data = load_digits(validation=0.25)
X_tr, y_tr, X_val, y_val = data.X_train, data.y_train, data.X_val, data.y_val
X_test, y_test = data.X_test, data.y_test
SEEDS = (0, 1, 2)


def train(net, epochs, seed, lr=0.05):
    """SGD with momentum on the training split (in place)."""
    opt = SGD(net.parameters(), lr=lr, momentum=0.9)
    fit(net, X_tr, y_tr, optimizer=opt, epochs=epochs, seed=seed,
        quiet=True)
    return net


def acc(net, X=X_test, y=y_test):
    return evaluate(net, X, y)["accuracy"]


def mean_std(values):
    return f"{100 * np.mean(values):.2f} ± {100 * np.std(values):.2f} %"


bases = {s: train(MLP([64, 64, 64, 10], seed=s), 15, s) for s in SEEDS}
print(f"{len(X_tr)} train, {len(X_val)} validation, {len(X_test)} test")
print("reference test accuracy", mean_std([acc(bases[s]) for s in SEEDS]),
      "| parameters", count_parameters(bases[0]))

# %% [markdown]
# > **What seed 000's sample gets wrong: `model.summary()` optimizes
# > nothing.** Its section 4.1 "network structure optimization" trains
# > the 64-64 MLP and then calls `model.summary()`, which prints a table
# > of layers and parameter counts. First the sample as printed (one
# > line wrapped to fit here), run only where Keras is installed:

# %%
SEED_000 = """
import keras
from keras.layers import Dense
from keras.models import Sequential

# 定义模型
model = Sequential()
model.add(Dense(64, input_shape=(784,), activation='relu'))
model.add(Dense(64, activation='relu'))
model.add(Dense(10, activation='softmax'))

# 训练模型
model.compile(optimizer='adam', loss='categorical_crossentropy',
              metrics=['accuracy'])
model.fit(X_train, y_train, epochs=10, batch_size=32)

# 网络结构优化
model.summary()
"""


def run_literal(code, library):
    """Run a seed's sample as printed if the library it imports is
    installed, in a fresh namespace; otherwise say that it is skipped."""
    if importlib.util.find_spec(library) is None:
        print(f"{library} is not installed: the literal sample is "
              "skipped; its translation below runs instead")
        return
    if library == "keras" and not importlib.util.find_spec("tensorflow"):
        os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3
    try:
        exec(code, {})
        print("the literal sample ran")
    except Exception as e:               # the seeds' samples often fail
        print(f"the literal sample fails: {type(e).__name__}: {e}")


run_literal(SEED_000, "keras")

# %% [markdown]
# What to conclude: where Keras is installed (Keras 3 on the PyTorch
# backend when TensorFlow is absent), the model is built — with a
# warning about `input_shape` — and the sample stops at `model.fit`
# with `NameError: name 'X_train' is not defined`: the sample never
# defines its data, so `model.summary()` is never reached.
# The **translation** to minicomp, line by line (each seed line in the
# comment above its translation; digits have 64 inputs, not 784), on
# the net trained above, comparing weights and accuracy before and after:

# %%
def summary(net):
    """What Keras's model.summary() prints: layers and parameter counts."""
    for i, layer in enumerate(net):
        n = sum(p.size for p in layer.parameters())
        print(f"  {i}: {type(layer).__name__:6s} params {n}")
    print(f"  total params {count_parameters(net)}")


# model = Sequential(); model.add(Dense(64, ..., activation='relu'))
# model.add(Dense(64, activation='relu'))
# model.add(Dense(10, activation='softmax'))
# model.compile(...); model.fit(X_train, y_train, epochs=10, ...)
net = bases[0]                  # MLP([64, 64, 64, 10]), trained above
before = [p.data.copy() for p in net.parameters()]
acc_before = acc(net)
# model.summary()
summary(net)
unchanged = all(np.array_equal(a, p.data)
                for a, p in zip(before, net.parameters()))
print("weights unchanged:", unchanged, "| accuracy",
      f"{acc_before:.4f} -> {acc(net):.4f}")

# %% [markdown]
# What to conclude: the summary is a report. Every weight and the
# accuracy are the same afterwards; the structure was neither searched
# nor changed. The rest of the chapter does both.

# %% [markdown]
# ## 2. Hyperparameter search: grid, random, successive halving
#
# **Idea.** A training run has knobs the gradient does not set: learning
# rate, batch size, learning-rate decay, width, depth. A *trial* trains
# one setting and scores it on the validation split. The searches differ
# in which trials they run and for how long.
#
# **Math.** A grid of $k$ values per knob costs $k^d$ trials for $d$
# knobs, and tries only $k$ values of the one knob that matters; random
# search tries a new value of every knob in every trial (Bergstra &
# Bengio 2012). **Successive halving** (Jamieson & Talwalkar 2016) trains
# $n$ settings for $r_0$ epochs, keeps the best $1/\eta$, trains those
# $\eta$ times longer, and so on up to $R$: each rung costs $n r_0$
# epochs, the whole search $n r_0(\log_\eta(R/r_0) + 1)$, against $nR$ for
# random search.
#
# The objective (`MLPObjective`) trains an MLP epoch by epoch with SGD
# (momentum 0.9, learning rate $\text{lr}\cdot\text{decay}^t$) and returns
# its validation accuracy. Every trial gets its own seed, derived from the
# search's seed and the trial's position (`trial_seeds`).
#
# **From scratch**: random search is a loop.

# %%
objective = MLPObjective(X_tr, y_tr, X_val, y_val, data.num_classes)
space = {"lr": Real(0.003, 0.5, log=True), "batch_size": [16, 32, 64, 128],
         "decay": [1.0, 0.9, 0.8], "width": [8, 16, 32, 64],
         "depth": [1, 2]}
n, R = 9, 9                                  # configurations, epochs

rng = np.random.default_rng(0)
configs = [{k: v.sample(rng) if isinstance(v, Real)
            else v[int(rng.integers(len(v)))] for k, v in space.items()}
           for _ in range(n)]
scores = [objective(c, R, s) for c, s in zip(configs, trial_seeds(0, n))]
best = int(np.argmax(scores))
print(f"best of {n}: val acc {scores[best]:.4f} with",
      {k: round(v, 4) if isinstance(v, float) else v
       for k, v in configs[best].items()})

rs = random_search(objective, space, n, R, seed=0)
assert [t.score for t in rs.trials] == scores
print("library random_search: same trials and scores;",
      rs.epochs, "epochs spent")

# %% [markdown]
# What to conclude: the best setting is the one printed, found by
# spending the printed number of epochs — $n \times R$.
#
# Successive halving from scratch: the same draws (the same seed), each
# rung retraining the survivors with their own seed for longer.

# %%
rng = np.random.default_rng(0)
configs = [{k: v.sample(rng) if isinstance(v, Real)
            else v[int(rng.integers(len(v)))] for k, v in space.items()}
           for _ in range(n)]
seeds = trial_seeds(0, n)
alive, epochs, spent = list(range(n)), 1, 0
while True:
    rung = {i: objective(configs[i], epochs, seeds[i]) for i in alive}
    spent += epochs * len(alive)
    print(f"rung: {len(alive)} configurations x {epochs} epochs")
    if len(alive) == 1 or epochs >= R:
        break
    alive = sorted(alive, key=lambda i: (-rung[i], i))[:len(alive) // 3]
    epochs *= 3
winner = max(rung, key=rung.get)

sh = successive_halving(objective, space, n, 1, R, eta=3, seed=0)
assert sh.best.params == configs[winner] and sh.epochs == spent
print(f"halving: val acc {rung[winner]:.4f} for {spent} epochs "
      f"(random search: {max(scores):.4f} for {rs.epochs}; "
      f"ratio {spent / rs.epochs:.2f})")

# %% [markdown]
# What to conclude: halving spends the printed fraction of random
# search's epochs on the same draws; whether it keeps the best one
# depends on whether a setting's early score predicts its late one. One
# seed says little — the comparison below runs three, and adds the
# library.
#
# **TPE from scratch** (Bergstra et al. 2011, the Tree-structured Parzen
# Estimator). After some random trials, split the finished ones at a
# quantile of the score into *good* and *bad*, fit a density
# $\ell(x)$ to the good values of a hyperparameter and $g(x)$ to the bad
# ones, draw candidates from $\ell$ and try next the one with the largest
# $\ell(x)/g(x)$: likely among good settings, unlikely among bad ones.
# The densities are **Parzen** estimates, a Gaussian kernel of width $h$
# on every point: $\ell(x) = \frac{1}{|G|}\sum_{x_i\in G}
# \mathcal N(x; x_i, h^2)$. One step, on $x = \log \text{lr}$ of the nine
# random-search trials above (no new search), the best third as good,
# one bandwidth $h$ by Silverman's rule for both densities:

# %%
done = sorted(rs.trials, key=lambda t: (-t.score, t.number))  # best first
x = np.log([t.params["lr"] for t in done])                     # (9,)
n_good = int(np.ceil(len(x) / 3))
x_good, x_bad = x[:n_good], x[n_good:]
h = 1.06 * x.std() * len(x) ** -0.2                  # Silverman's rule


def parzen(z, centres):
    """Mean of Gaussian kernels of width h on `centres`, at points z."""
    d = (np.asarray(z)[:, None] - centres) / h       # (len(z), centres)
    return np.exp(-d**2 / 2).mean(axis=1) / (h * np.sqrt(2 * np.pi))


lo, hi = np.log(space["lr"].low), np.log(space["lr"].high)
rng = np.random.default_rng(0)
draws = rng.choice(x_good, 64) + h * rng.standard_normal(64)   # from l
cand = draws[(draws >= lo) & (draws <= hi)][:24]      # within the range
ratio = parzen(cand, x_good) / parzen(cand, x_bad)    # l/g per candidate
x_next = cand[np.argmax(ratio)]
best_ratio = parzen([x_next], x_good) / parzen([x_next], x_bad)
assert np.all(best_ratio >= ratio)             # the rule: max of l/g
lr_next = float(np.exp(x_next))
# one trial: the best trial's settings and seed, with the proposed lr
score_next = objective({**done[0].params, "lr": lr_next}, R,
                       done[0].seed)
print(f"{n_good} good, {len(x) - n_good} bad trials | proposed lr "
      f"{lr_next:.4f} (l/g = {best_ratio[0]:.2f})")
print(f"one trial at it: val acc {score_next:.4f} | best trial "
      f"(lr {done[0].params['lr']:.4f}) {done[0].score:.4f}")

grid = np.linspace(lo, hi, 200)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].plot(np.exp(grid), parzen(grid, x_good), label="l(x), good")
axes[0].plot(np.exp(grid), parzen(grid, x_bad), label="g(x), bad")
axes[0].plot(np.exp(x_good), 0 * x_good, "o", c="C0")
axes[0].plot(np.exp(x_bad), 0 * x_bad, "x", c="C1")
axes[0].set(title="Parzen densities of the trials' lr",
            ylabel="density of log lr")
axes[1].plot(np.exp(grid), parzen(grid, x_good) / parzen(grid, x_bad),
             c="gray", label="l(x) / g(x)")
axes[1].plot(np.exp(cand), ratio, ".", c="C0", label="candidates")
axes[1].plot(lr_next, best_ratio, "*", ms=14, c="C3", label="chosen")
axes[1].set(title="TPE proposes the largest ratio", yscale="log",
            ylabel="l(x) / g(x)")
for ax in axes:
    ax.set(xscale="log", xlabel="learning rate")
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# What to conclude: TPE proposes where good trials are dense and bad
# ones are not (the star). Here the good trials lie above most bad ones
# in lr, so the ratio keeps rising towards the top of the range and the
# step pushes lr up; the one trial there (printed above, one run) shows
# that a proposal is a bet, not a guarantee. Optuna repeats this step
# for every hyperparameter, each on its own, with its own bandwidths, a
# wide prior kernel added to each density (which tempers such pushes to
# the edge) and a smaller good fraction — so its proposals are not
# these numbers; the rule is the same.
#
# **With the library: Optuna.** Optuna's TPE sampler (Bergstra et al.
# 2011) models good and bad settings as two densities and proposes where
# their ratio is largest; its median pruner stops a trial whose score
# after an epoch is below the median of earlier trials at that epoch.
# `optuna_search` stops starting trials once it has spent random
# search's epoch budget, so the trial that crosses the budget finishes
# and it may spend a few epochs more (the epochs column).

# %%
rows = {"random": [], "halving": [], "optuna tpe": []}
curves = {}
for s in SEEDS:
    runs = {"random": random_search(objective, space, n, R, seed=s),
            "halving": successive_halving(objective, space, n, 1, R,
                                          seed=s),
            "optuna tpe": optuna_search(objective, space, 4 * n, R,
                                        budget=n * R, seed=s)}
    for name, res in runs.items():
        net_best = objective.train(res.best.params, res.best.epochs,
                                   res.best.seed)[0]
        rows[name].append((res.best.score, acc(net_best), res.epochs))
        if s == 0:
            curves[name] = res
print(f"{'search':11s} {'best val':>17s} {'test':>17s} {'epochs':>7s}")
for name, r in rows.items():
    v, t, e = zip(*r)
    print(f"{name:11s} {mean_std(v):>17s} {mean_std(t):>17s} "
          f"{np.mean(e):7.1f}")

# %% [markdown]
# What to conclude: read the epochs column first — halving's cost is
# fixed by its schedule, random search's by $n \times R$, Optuna's by
# the budget plus its last trial.
# Then compare the best-validation column *with its spread*: over three
# seeds of so small a search, a difference inside the ± is not a
# ranking. The test column checks that a good validation score carried
# over. The bench (`minicomp bench structure`) repeats this with 27
# settings of 27 epochs.

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, res in curves.items():
    cost = np.cumsum([t.epochs for t in res.trials])
    ax.step(cost, np.maximum.accumulate([t.score for t in res.trials]),
            where="post", label=name)
ax.set(title="Best validation accuracy so far (seed 0)",
       xlabel="training epochs spent", ylabel="validation accuracy")
ax.legend()
plt.show()

# %% [markdown]
# What to conclude: each step up is a trial that beat every earlier one;
# the x-axis puts the searches on the same budget (one seed).
#
# **Parallel and distributed trials.** Trials are independent, so every
# search takes `n_jobs` and runs them through joblib, one BLAS/Numba
# thread per worker (two workers with two BLAS threads each on two cores
# are slower than one), with a tqdm bar (`quiet=False`). Seeds depend on
# the trial's position, never on the worker, so the result is the same:

# %%
start = time.perf_counter()
rs2 = random_search(objective, space, n, R, seed=0, n_jobs=2)
assert [t.score for t in rs2.trials] == [t.score for t in rs.trials]
print(f"2 workers: same {n} scores ({time.perf_counter() - start:.1f} s, "
      "process start-up included)")

# %% [markdown]
# What to conclude: parallelism changes the time, not the result.
# On a cluster, only the joblib backend changes:
#
# ```python
# from dask.distributed import Client
# client = Client("tcp://scheduler:8786")    # registers "dask"
# random_search(objective, space, 64, 20, n_jobs=-1, backend="dask")
# # Ray: ray.init(address="auto"); ray.util.joblib.register_ray()
# #      then backend="ray"
# ```
#
# Several machines can also share one Optuna study through a database:
# `optuna create-study --study-name mlp --storage sqlite:///mlp.db
# --direction maximize`, then on each machine
# `optuna_search(..., storage="sqlite:///mlp.db", study_name="mlp")`.

# %% [markdown]
# ## 3. Architecture search, two objectives, budgets
#
# **Idea** (seed 000's 网络结构搜索). Search the architecture itself —
# depth, each layer's width, the activation — and score it on two axes:
# accuracy, and cost (parameters, or multiply-accumulates per example).
#
# **Math.** Setting $i$ *dominates* $j$ when it is at least as good on
# both axes and better on one; the **Pareto front** is the set nothing
# dominates. **Regularized evolution** (Real et al. 2019): keep the
# newest $P$ trained architectures, sample $S$ of them, mutate the best
# (one width one step, a layer added or removed, the activation), train
# the child, and let the *oldest* leave.
#
# **From scratch**, random search first: draw each architecture with
# the space's `sample` from one generator seeded as the library seeds
# it, count its cost from the layer widths, train it with its trial's
# seed, and keep the trials nothing beats on cost and accuracy (the
# Pareto front, a double loop). Then `random_nas` on the same budget:

# %%
def front_scratch(cost, score):
    """Indices no other point beats: lower cost and higher score."""
    return [i for i in range(len(cost))
            if not any(cost[j] <= cost[i] and score[j] >= score[i] and
                       (cost[j] < cost[i] or score[j] > score[i])
                       for j in range(len(cost)))]


def mlp_cost(hidden, n_in=64, n_out=10):
    """Parameters, MACs per example and float32 bytes, from the widths."""
    widths = (n_in, *hidden, n_out)
    macs = sum(a * b for a, b in zip(widths, widths[1:]))
    n_p = macs + sum(widths[1:])             # weights + biases
    return {"parameters": n_p, "macs": macs, "bytes": 4 * n_p}


arch_space = MLPSpace(depths=(1, 2, 3), widths=(8, 16, 32, 64),
                      activations=("relu", "tanh"))
fixed = {"lr": 0.1, "batch_size": 32}
N, E, P, S = 24, 4, 8, 3                    # trials, epochs, P, S
rng, seeds = np.random.default_rng(0), trial_seeds(0, N)
drawn = []                                   # (arch, cost, score)
for i in range(N):
    arch = arch_space.sample(rng)
    drawn.append((arch, mlp_cost(arch["hidden"]),
                  objective({**fixed, **arch}, E, seeds[i])))
n_par, val = zip(*[(c["parameters"], s) for _, c, s in drawn])
front = front_scratch(n_par, val)

rnd = random_nas(objective, arch_space, (64, 10), N, E, fixed=fixed,
                 seed=0)
assert [(t.params, t.info, t.score) for t in rnd.trials] == drawn
assert sorted(front) == sorted(pareto_front(n_par, val))
print(f"{len(front)} of {N} on the front (parameters, val acc):")
for i in sorted(front, key=lambda i: n_par[i]):
    print(f"  {str(drawn[i][0]['hidden']):13s} {drawn[i][0]['activation']}"
          f" {n_par[i]:5d} {val[i]:.4f}")

# %% [markdown]
# What to conclude: random architecture search is sample, count, train,
# compare; `random_nas` returns the same trials, costs and scores (it
# adds budgets and parallel workers, not another search). The printed
# front is which of the draws are worth their parameters (one run).
#
# Then the aging loop of regularized evolution, and the library:

# %%
rng, seeds = np.random.default_rng(0), trial_seeds(0, N)
history = []                                 # (number, arch, score)
for i in range(N):
    if i < P:
        arch = arch_space.sample(rng)
    else:
        alive = history[-P:]                 # the newest P
        picks = rng.choice(len(alive), S, replace=False)
        parent = max((alive[j] for j in picks),
                     key=lambda t: (t[2], -t[0]))
        arch = arch_space.mutate(parent[1], rng)
    history.append((i, arch, objective({**fixed, **arch}, E, seeds[i])))

evo = evolution(objective, arch_space, (64, 10), N, E, population=P,
                sample=S, batch=1, fixed=fixed, seed=0)
assert [(t.params, t.score) for t in evo.trials] == \
    [(a, s) for _, a, s in history]
for name, res in (("random", rnd), ("evolution", evo)):
    print(f"{name:9s} best {res.best.score:.4f}", res.best.params,
          res.best.info)

# %% [markdown]
# What to conclude: one run each, so the two bests are not a ranking of
# the methods; they show what each search returns — an architecture,
# its validation accuracy and its cost. The front is where to look:
#
# The front of both searches together, by the double loop above; the
# library's `pareto_front` agrees.

# %%
trials = rnd.trials + evo.trials
score = np.array([t.score for t in trials])
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, key in zip(axes, ("parameters", "macs")):
    cost = np.array([t.info[key] for t in trials])
    front = front_scratch(cost, score)
    assert sorted(front) == sorted(pareto_front(cost, score))
    f = pareto_front(cost, score)
    ax.scatter(cost, score, s=12, c="lightgray", label="trials")
    ax.step(cost[f], score[f], where="post", c="C3", marker="o",
            label="Pareto front")
    ax.set(xscale="log", xlabel=key, ylabel="validation accuracy",
           title=f"Accuracy vs {key} (one run)")
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# What to conclude: along the front, each step to the right buys
# accuracy with cost; where the front flattens, a larger net is not
# worth it. Parameters and MACs differ only by the biases for an MLP, so
# the two fronts look alike.
#
# **Constrained search** (as in MIT 6.5940's NAS lab): the best accuracy
# under a MAC and a byte budget. The cost of an architecture needs no
# training, so over-budget ones are never trained.
#
# **From scratch**: the aging loop above, with two changes. Children
# come two at a time (`batch=2`), both from tournaments on the same
# newest $P$; and every candidate — a random draw, or a mutation of the
# chosen parent — is costed from its widths and, if over a budget,
# refused and drawn again (from the same parent, with the same
# generator) before anything is trained. Then the library:

# %%
budget = {"max_macs": 1500, "max_bytes": 8000}


def within(arch):
    """Does the architecture meet both budgets? (no training needed)"""
    c = mlp_cost(arch["hidden"])
    return (c["macs"] <= budget["max_macs"]
            and c["bytes"] <= budget["max_bytes"])


def draw_within(make, refused):
    """make() until an architecture is within budget; log the refused."""
    for _ in range(1000):
        arch = make()
        if within(arch):
            return arch
        refused.append(arch)
    raise ValueError(f"no architecture within {budget} in 1000 draws")


rng, seeds, refused = np.random.default_rng(1), trial_seeds(1, N), []
history = []                                 # (number, arch, score)
while len(history) < N:
    alive, archs = history[-P:], []          # the newest P
    for _ in range(P if not history else min(2, N - len(history))):
        if len(history) < P:
            make = lambda: arch_space.sample(rng)          # noqa: E731
        else:
            picks = rng.choice(len(alive), S, replace=False)
            parent = max((alive[j] for j in picks),
                         key=lambda t: (t[2], -t[0]))
            make = lambda: arch_space.mutate(parent[1], rng)  # noqa: E731
        archs.append(draw_within(make, refused))
    for a in archs:                           # only now: train
        history.append((len(history), a, objective(
            {**fixed, **a}, E, seeds[len(history)])))

con = evolution(objective, arch_space, (64, 10), N, E, population=P,
                sample=S, batch=2, fixed=fixed, seed=1, **budget)
assert [(t.params, t.score) for t in con.trials] == \
    [(a, s) for _, a, s in history]
assert all(mlp_cost(a["hidden"]) == arch_cost(a, 64, 10)
           for a in refused + [a for _, a, _ in history])
assert all(t.info["macs"] <= 1500 and t.info["bytes"] <= 8000
           for t in con.trials)
print(f"{len(refused)} over-budget candidates refused untrained, "
      f"{len(history)} trained; same trials as the library")
print("budget", budget, "->", con.best.params, con.best.info,
      f"val acc {con.best.score:.4f}")
print("the reference net:", arch_cost({"hidden": (64, 64)}, 64, 10))

# %% [markdown]
# What to conclude: the refusal is a cost check before training, and
# `evolution(..., max_macs, max_bytes)` trains exactly the architectures
# the loop above kept (same generator, so the refused ones are the same
# too). Every trained architecture meets both budgets, and the winner is
# the most accurate among them; the reference net's cost is printed
# beside it for scale.

# %% [markdown]
# ## 4. Fewer layers: fold, remove, recover
#
# > **Seed 003's sample** ("a simple structure optimization example")
# > is run as printed in chapter 0, section 6: it stops at its first use
# > of `model`, which it never defines, and once repaired its `Net`
# > (`fc1 = Linear(10, 20)`, `fc2 = Linear(20, 1)`, no activation
# > between them) is one linear layer in disguise — chapter 0 merges the
# > two by hand. Here the merge becomes a structure operation for any
# > net: `fold_linear`.
#
# **Math.** $W_2(W_1x + b_1) + b_2 = (W_2W_1)x + (W_2b_1 + b_2)$.
#
# **From scratch** on the seed's shapes, then `fold_linear`:

# %%
seed_net = Sequential(Dense(10, 20, seed=0), Dense(20, 1, seed=1))
W1, b1 = seed_net[0].W.data, seed_net[0].b.data
W2, b2 = seed_net[1].W.data, seed_net[1].b.data
W, b = W2 @ W1, W2 @ b1 + b2                  # (1, 10), (1,)
folded = fold_linear(seed_net)
assert np.allclose(folded[0].W.data, W, atol=1e-6)
assert np.allclose(folded[0].b.data, b, atol=1e-6)
Xs = np.random.default_rng(0).standard_normal((100, 10))
change = np.abs(predict(folded, Xs) - predict(seed_net, Xs)).max()
print(f"parameters {count_parameters(seed_net)} -> "
      f"{count_parameters(folded)}; largest output change {change:.1e}")

# %% [markdown]
# What to conclude: the seed's 10 → 20 → 1 net is a linear model with
# the printed number of parameters, exactly (the change is float
# rounding). Its "structure" was never more than a linear regression.
#
# **Removing a layer that does have an activation** is not exact:
# `remove_layer(net, k)` drops layer k's ReLU and folds layer k into
# k + 1, so every weight still comes from the trained net. Then recover,
# by fine-tuning on the labels or by distillation from the original
# (chapter 4): the removed net learns the original's soft outputs. The
# temperature is chosen on the validation split (seed 0).
#
# **From scratch**, removing hidden layer 1 (`net[2]`, with its ReLU
# `net[3]`) is the fold above applied to `net[2]` and `net[4]`;
# then `remove_layer`:

# %%
net = bases[0]
W_rm = net[4].W.data @ net[2].W.data                        # (10, 64)
b_rm = net[4].W.data @ net[2].b.data + net[4].b.data        # (10,)
rm = remove_layer(net, 1)                 # Dense, ReLU, Dense (folded)
assert np.allclose(rm[2].W.data, W_rm, atol=1e-5)
assert np.allclose(rm[2].b.data, b_rm, atol=1e-5)

val_by_T = {}
for T in (2.0, 4.0, 8.0):
    student = remove_layer(bases[0], 1)
    Distill(epochs=5, lr=0.01, teacher=bases[0],
            config=DistillConfig(T=T))(student, X_tr, y_tr)
    val_by_T[T] = round(acc(student, X_val, y_val), 4)
T = max(val_by_T, key=val_by_T.get)
print("validation accuracy by T:", val_by_T, "-> T =", T)

res = {"original": [], "removed": [], "+ fine-tune": [], "+ distill": []}
for s in SEEDS:
    removed = remove_layer(bases[s], 1)
    tuned, distilled = copy.deepcopy(removed), copy.deepcopy(removed)
    FineTune(epochs=5, lr=0.01, seed=s)(tuned, X_tr, y_tr)
    Distill(epochs=5, lr=0.01, seed=s, teacher=bases[s],
            config=DistillConfig(T=T))(distilled, X_tr, y_tr)
    for k, m in zip(res, (bases[s], removed, tuned, distilled)):
        res[k].append(acc(m))
print("parameters", count_parameters(bases[0]), "->",
      count_parameters(removed))
for k, v in res.items():
    print(f"  {k:12s} test {mean_std(v)}")

# %% [markdown]
# What to conclude: removing the ReLU costs accuracy at once (the
# "removed" row); a few epochs of either recovery win most of it back.
# Compare the two recovery rows with their standard deviations before
# preferring one: with three seeds, a gap smaller than the spread is not
# a result. Here distillation's mean is above fine-tuning's by a little
# more than either spread — a small margin on three seeds, not a rule.

# %% [markdown]
# ## 5. Fewer nodes: merge near-duplicate neurons
#
# **Idea** (seed 001's 节点压缩). If neuron $j$'s output is, on the data,
# an affine copy of neuron $i$'s, $a_j \approx s\,a_i + c$, the next layer
# can read $a_i$ for both: fold $s$ times $j$'s outgoing weights into
# $i$'s and $c$ times them into the next bias, and delete $j$.
#
# **Math.** The least-squares fit and its residual:
# $s_{ij} = \mathrm{cov}(a_i,a_j)/\mathrm{var}(a_i)$,
# $c_{ij} = \bar a_j - s_{ij}\bar a_i$,
# $e_{ij}^2 = \mathrm{var}(a_j) - \mathrm{cov}(a_i,a_j)^2/\mathrm{var}(a_i)$.
# A dead neuron (constant output) has $e = 0$: it folds into the bias.
#
# **From scratch** for one pair with `np.linalg.lstsq`, then the matrix:

# %%
net = bases[0]
W0_, b0_ = net[0].W.data.astype(float), net[0].b.data.astype(float)
A = np.maximum(X_val.astype(float) @ W0_.T + b0_, 0)      # (N, 64)
E_, S_, C_ = merge_errors(A)
i, j = np.unravel_index(np.argmin(E_), E_.shape)
design = np.stack([A[:, i], np.ones(len(A))], axis=1)     # (N, 2)
(s_ij, c_ij), *_ = np.linalg.lstsq(design, A[:, j], rcond=None)
rms = np.sqrt(np.mean((A[:, j] - s_ij * A[:, i] - c_ij) ** 2))
assert np.allclose([s_ij, c_ij, rms], [S_[i, j], C_[i, j], E_[i, j]],
                   atol=1e-6)
print(f"closest pair: a_{j} = {s_ij:.3f} a_{i} + {c_ij:.3f}, "
      f"RMS error {rms:.4f} (activation RMS {np.sqrt((A**2).mean()):.3f})")

W_next = net[2].W.data.astype(np.float64)                  # (64, 64)
b_next = net[2].b.data + c_ij * W_next[:, j]               # (64,)
W_next[:, i] += s_ij * W_next[:, j]        # the next layer reads a_i
one = merge_neurons(net, X_val, 1, layers=[0])[0]     # one merge, layer 0
assert np.allclose(one[2].W.data, np.delete(W_next, j, axis=1),
                   atol=1e-5)
assert np.allclose(one[2].b.data, b_next, atol=1e-5)

# %% [markdown]
# What to conclude: the pair the library ranks first is the pair whose
# least-squares fit is closest; its error, next to the layer's typical
# activation, says how much merging it changes. Folding $s$ and $c$
# into the next layer by hand gives `merge_neurons`' weights for one
# merge.
#
# **Several merges**, greedily: repeat the step on the pair of smallest
# error among the neurons still there (a removed neuron can neither
# keep nor be merged again; a kept one can later be merged into another,
# taking what it absorbed along). A merge changes only the next layer,
# so the layer's activations — and the fits $E, S, C$ — stay those
# computed once above. From scratch for eight merges, then the library:

# %%
n_merge = 8
W_next = net[2].W.data.astype(np.float64)                  # (64, 64)
b_next = net[2].b.data.astype(np.float64)                  # (64,)
E_k, there, pairs = E_.copy(), np.ones(len(E_), bool), []
for _ in range(n_merge):
    E_k[:, ~there] = np.inf                  # gone: cannot keep ...
    E_k[~there, :] = np.inf                  # ... nor be removed again
    i, j = np.unravel_index(np.argmin(E_k), E_k.shape)    # j into i
    b_next += C_[i, j] * W_next[:, j]
    W_next[:, i] += S_[i, j] * W_next[:, j]
    there[j] = False
    pairs.append((int(i), int(j)))
many, merges = merge_neurons(net, X_val, n_merge, layers=[0])
assert pairs == [(m["kept"], m["removed"]) for m in merges]
assert np.array_equal(many[0].W.data, net[0].W.data[there])
assert np.allclose(many[2].W.data, W_next[:, there], atol=1e-5)
assert np.allclose(many[2].b.data, b_next, atol=1e-5)
print(f"{n_merge} merges (kept, removed):", pairs)
print("their errors", np.round([m["error"] for m in merges], 3),
      f"| val acc {acc(net, X_val, y_val):.4f} -> "
      f"{acc(many, X_val, y_val):.4f}")

# %% [markdown]
# What to conclude: `merge_neurons(net, X, k)` is this loop — the same
# pairs in the same order and the same weights; the errors grow merge
# after merge (smallest first), and the printed validation accuracy
# shows what eight merges in layer 0 cost before any fine-tuning.
#
# **Merging vs pruning** the same number of neurons — half of each hidden
# layer — by R_i importance (chapter 2) + `compact()`, before and after a
# short fine-tuning:

# %%
res = {k: [] for k in ("merge", "prune R_i", "merge + ft", "prune + ft")}
moved = {"merge": [], "prune R_i": []}     # mean |logit change| on val
for s in SEEDS:
    merged = merge_neurons(bases[s], X_tr, 0.5)[0]
    pruned = copy.deepcopy(bases[s])
    prune(pruned, "activation", 0.5, X_tr)
    pruned = compact(pruned)
    res["merge"].append(acc(merged))
    res["prune R_i"].append(acc(pruned))
    for k, m in (("merge", merged), ("prune R_i", pruned)):
        Y = predict(bases[s], X_val)
        moved[k].append(np.abs(predict(m, X_val) - Y).mean())
    for m in (merged, pruned):
        FineTune(epochs=3, lr=0.01, seed=s)(m, X_tr, y_tr)
    res["merge + ft"].append(acc(merged))
    res["prune + ft"].append(acc(pruned))
print("hidden widths", [m.W.shape[0] for m in merged if hasattr(m, "W")],
      "| parameters", count_parameters(merged))
for k, v in res.items():
    change = f" | logit change {np.mean(moved[k]):.3f}" if k in moved else ""
    print(f"  {k:11s} test {mean_std(v)}{change}")

# %% [markdown]
# What to conclude: both nets have the same shape. Without training,
# merging keeps the part of a removed neuron that its partner can carry,
# pruning drops it all: in the first two rows merging is ahead by more
# than the spread over seeds, and it moved the logits less. After a
# short fine-tuning (the last two rows) the two are within their
# spreads of each other: the better starting point is no longer a
# better end point.

# %% [markdown]
# ## 6. Fewer connections: low rank
#
# **Idea** (seed 001's 连接压缩). Replace $W$ (out × in) by a product of
# two thin matrices: two Dense layers with nothing between them.
#
# **Math.** With the SVD $W = U\Sigma V^\top$, the best rank-$r$
# approximation (Eckart–Young) is $A B$ with $A = U_r\Sigma_r$ (out × r),
# $B = V_r^\top$ (r × in); its error is $\sum_{k>r}\sigma_k^2$, so it
# keeps the **energy** $E(r)=\sum_{k\le r}\sigma_k^2/\sum_k\sigma_k^2$. It
# stores $r(\text{in}+\text{out})$ weights instead of in·out — smaller
# only when $r < \text{in}\cdot\text{out}/(\text{in}+\text{out})$.
#
# **From scratch**, then the library:

# %%
W = bases[0][2].W.data.astype(np.float64)                  # (64, 64)
U, sv, Vt = np.linalg.svd(W, full_matrices=False)
energy = np.cumsum(sv**2) / np.sum(sv**2)
r90 = int(np.argmax(energy >= 0.9) + 1)
A_, B_ = U[:, :r90] * sv[:r90], Vt[:r90]
A, B = truncated_svd(W, energy=0.9)
assert r90 == rank_for_energy(sv, 0.9) == A.shape[1]
assert np.allclose(A @ B, A_ @ B_)
err = np.linalg.norm(W - A @ B) ** 2
print(f"rank for 90 % energy: {r90} of 64; squared error {err:.4f} = "
      f"sum of the dropped sigma^2 {np.sum(sv[r90:] ** 2):.4f}")

fig, ax = plt.subplots(figsize=(6, 3))
for k in (0, 2):
    s_k = np.linalg.svd(bases[0][k].W.data, compute_uv=False)
    ax.plot(np.arange(1, 65), np.cumsum(s_k**2) / np.sum(s_k**2),
            label=f"layer {k}")
ax.axhline(0.9, ls="--", c="gray")
ax.set(title="Energy kept by the first r singular values",
       xlabel="rank r", ylabel="energy E(r)")
ax.legend()
plt.show()

# %% [markdown]
# What to conclude: a trained layer is not low rank — the curve climbs
# gradually, so 90 % of the energy needs a good part of the ranks. The
# SVD of $W$ alone treats every input direction alike; the layer only
# ever sees its actual inputs $X$. `factorize(..., X=X_tr)` keeps
# instead the rank-$r$ layer closest to $W$ *on those inputs* (the SVD
# of $WL$ with $LL^\top = X^\top X/N$, SVD-LLM): $W' = (WL)_r L^{-1}$.
# **From scratch** for layer 0 at rank 6, asserted equal to the
# library's two factors; then both versions, before any fine-tuning:

# %%
X64 = X_tr.astype(np.float64)                        # layer 0's inputs
C = X64.T @ X64 / len(X64)                           # (64, 64)
L = np.linalg.cholesky(C + 1e-6 * np.trace(C) / 64 * np.eye(64))
U_L, s_L, Vt_L = np.linalg.svd(bases[0][0].W.data @ L)
W_aware = (U_L[:, :6] * s_L[:6]) @ Vt_L[:6] @ np.linalg.inv(L)  # (64, 64)
aware6 = factorize(bases[0], rank=6, layers=[0, 1], X=X_tr)[0]
assert np.allclose(aware6[1].W.data @ aware6[0].W.data, W_aware,
                   atol=1e-5)

Z = predict(Sequential(bases[0][0]), X_tr)          # layer 0's outputs
for r in (6, 14):
    plain = factorize(bases[0], rank=r, layers=[0, 1])[0]
    aware = factorize(bases[0], rank=r, layers=[0, 1], X=X_tr)[0]
    err = [np.linalg.norm(predict(Sequential(m[0], m[1]), X_tr) - Z)
           / np.linalg.norm(Z) for m in (plain, aware)]
    assert err[1] <= err[0] + 1e-6
    print(f"rank {r:2d}: layer-0 output error plain {err[0]:.3f}, "
          f"on the data {err[1]:.3f} | val acc plain "
          f"{acc(plain, X_val, y_val):.4f}, on the data "
          f"{acc(aware, X_val, y_val):.4f}")

# %% [markdown]
# What to conclude: fitted to the data, each layer's output error is
# smaller, as it must be (it is what that SVD minimizes). Accuracy need
# not follow: compare the printed validation accuracies — a smaller
# error in one layer's outputs is not a higher accuracy of the net (one
# run, validation split).
#
# The rank is then chosen by the accuracy it keeps *after* recovery:
# factorize both hidden layers on the data at several ranks, distill
# briefly from the original, and keep the smallest rank whose
# **validation** accuracy is within half a point of the original's
# (seed 0).

# %%
def recover(small, teacher, seed):
    Distill(epochs=10, lr=0.005, seed=seed, teacher=teacher)(
        small, X_tr, y_tr)
    return small


val0 = acc(bases[0], X_val, y_val)
by_rank = {}
for r in (6, 10, 14):
    small = factorize(bases[0], rank=r, layers=[0, 1], X=X_tr)[0]
    recover(small, bases[0], 0)
    by_rank[r] = (count_parameters(small), round(acc(small, X_val, y_val), 4))
ok = [r for r, (_, a) in by_rank.items() if a >= val0 - 0.005]
rank = min(ok) if ok else max(by_rank)
print("rank: (parameters, val acc)", by_rank, f"| original {val0:.4f}")
print("chosen rank", rank, "(within half a point)" if ok else
      "(no rank within half a point: the largest tried)")

res = {"original": [], "low rank": [], "low rank + distill": []}
for s in SEEDS:
    small = factorize(bases[s], rank=rank, layers=[0, 1], X=X_tr)[0]
    res["original"].append(acc(bases[s]))
    res["low rank"].append(acc(small))
    res["low rank + distill"].append(acc(recover(small, bases[s], s)))
ratio = count_parameters(bases[0]) / count_parameters(small)
print(f"parameters {count_parameters(bases[0])} -> "
      f"{count_parameters(small)} ({ratio:.2f}x fewer)")
for k, v in res.items():
    print(f"  {k:18s} test {mean_std(v)}")
print("folded back into one layer each:",
      [m.W.shape for m in fold_linear(small) if hasattr(m, "W")])

# %% [markdown]
# What to conclude: the parameter ratio and the test accuracies before
# and after recovery are printed; the rank came from the validation
# split only (the line "chosen rank" says whether one met the
# criterion or the largest tried was kept). The bench checks the target
# (≥ 2× fewer parameters within 0.5 points, three seeds) with longer
# training.

# %% [markdown]
# ## 7. Growth: Net2Net
#
# **Idea** (seed 003's "increase the model's complexity"). Start small;
# when the net needs more capacity, grow it *without forgetting*: the
# grown net computes the same function and training continues from
# there (Chen et al. 2016).
#
# **Math.** *Wider*: neuron $j$ of the new layer copies neuron $g(j)$
# ($g$ the identity on the old neurons, random beyond); the next layer's
# weights of each copy are divided by the number of copies, so they sum
# to the original. *Deeper*: insert a layer with $W = I$, $b = 0$ after a
# ReLU: $\mathrm{relu}(I\,h) = h$ for $h \ge 0$.
#
# **From scratch**, then the library:

# %%
small_net = train(MLP([64, 16, 10], seed=0), 10, 0)
n_old, n_new = 16, 40
g = np.concatenate([np.arange(n_old), np.random.default_rng(0).integers(
    n_old, size=n_new - n_old)])                      # (40,) g(j)
copies = np.bincount(g, minlength=n_old)              # (16,)
W0 = small_net[0].W.data[g]                           # (40, 64)
W1 = small_net[2].W.data[:, g] / copies[g]            # (10, 40)
wide = widen(small_net, 0, n_new, seed=0)
assert np.allclose(wide[0].W.data, W0) and np.allclose(wide[2].W.data, W1)
grown = deepen(wide, 0)                   # inserts W = I, b = 0, ReLU
assert np.array_equal(grown[2].W.data, np.eye(n_new))
assert not grown[2].b.data.any() and type(grown[3]) is type(wide[1])
change = np.abs(predict(grown, X_test) - predict(small_net, X_test)).max()
print([m.W.shape for m in grown if hasattr(m, "W")],
      f"| largest output change {change:.1e}")

# %% [markdown]
# What to conclude: the grown net has the printed shapes and the same
# outputs up to float rounding. Copies share their gradients, so before
# training on, Net2Net adds a little noise to the copies' incoming
# weights to let them drift apart. Growing and training on, against a
# net of the grown size trained from scratch for the same epochs:

# %%
res = {"small": [], "grown + train": [], "scratch, same epochs": []}
for s in SEEDS:
    base_s = train(MLP([64, 16, 10], seed=s), 10, s)
    big = deepen(widen(base_s, 0, 64, seed=s, noise=0.01), 0)
    train(big, 5, s, lr=0.01)               # go on gently, as fine-tuning
    scratch = train(MLP([64, 64, 64, 10], seed=s), 5, s)
    for k, m in zip(res, (base_s, big, scratch)):
        res[k].append(acc(m))
for k, v in res.items():
    print(f"  {k:20s} test {mean_std(v)}")

# %% [markdown]
# What to conclude: the grown net starts where the small one stopped.
# In this run the extra capacity did not help: the grown net is within
# the spread of the small one, and the net of the grown size trained
# from scratch for the same extra epochs is ahead of both by more than the
# spread. Growth pays only when the small net's training is already
# done (its epochs are not counted here); counted in full, training the
# large net from the start is the fair rival, and here it wins.

# %% [markdown]
# ## 8. Summary
#
# * A report (`model.summary()`) optimizes nothing; structure is chosen
#   by search or changed by an operation whose effect is measured.
# * Random search, successive halving and TPE differ in which trials
#   they run and for how long; compare them at equal epochs, over seeds.
#   TPE's step: split the trials at a score quantile, fit two Parzen
#   densities, propose the candidate of largest $\ell(x)/g(x)$.
#   Trials run in parallel through joblib with the same result.
# * Architecture search has two objectives: read the Pareto front, or
#   fix a MAC / byte budget and never train what exceeds it.
# * Two linear layers in a row are one (seed 003's net is linear);
#   removing a ReLU layer costs accuracy that fine-tuning or
#   distillation wins back.
# * Before any fine-tuning, merging near-duplicate neurons kept more
#   accuracy than pruning them (three seeds, section 5); after a short
#   fine-tuning the two were within their spreads.
# * Low rank is exact at full rank; at a useful rank, fit it on the
#   data, recover by distillation, and choose the rank on validation
#   accuracy.
# * Net2Net grows a net without changing its function.
#
# ## 9. Exercises
#
# 1. **Graded:** `release/05_lowrank/`, the student copy (made by
#    `minicomp release exercises/ release/`; `exercises/` is the
#    instructor's copy, with the solutions): truncated SVD with the rank
#    chosen by energy, and the parameter count of the factorized layer
#    (`minicomp check release/05_lowrank`).
# 2. Run successive halving with $\eta = 2$ and $\eta = 4$ at the same
#    total epochs: which finds the better setting over five seeds?
# 3. Add `"activation": ["relu", "tanh"]` to the hyperparameter space.
#    Does TPE find the better one sooner than random search?
# 4. Merge neurons by their *pre*-activations instead (write the fit of
#    section 5 on $XW^\top + b$) and measure the accuracy before
#    fine-tuning over three seeds: why is it worse for ReLU nets?
