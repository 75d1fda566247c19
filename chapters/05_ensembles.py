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
# # Chapter 5 — Model fusion and ensembles
#
# *Several nets answer better than one: average them, chain them, weigh
# them — and then fold the ensemble back into a single small net.*

# %% [markdown]
# ## 1. Introduction
#
# Seed 002 pairs structure optimization with model fusion
# (模型融合与集成): **parallel** fusion (models trained and predicting side by side),
# **sequential** fusion (models combined in order, each improving on the
# last), **hybrid** fusion (weighted sums of the outputs), and model
# merging (模型合并), "several small models merged into one". It gives
# no code. An ensemble costs M times the compute, so for compression the
# questions are when it pays, and how to get its accuracy back into one
# model.
#
# Sections: parallel fusion (2), sequential fusion — a confidence cascade
# and SAMME boosting (3), hybrid fusion — fitted weights and stacking (4),
# merging — distillation, model soups, neuron alignment (5), what the
# seed's recipe leaves out (6).
#
# > **Glossary.**
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 模型融合与集成 | model fusion and ensembles | all |
# > | 平行融合 | parallel fusion (averaging, voting) | 2 |
# > | 序列融合 | sequential fusion (cascade, boosting) | 3 |
# > | 混合融合 | hybrid fusion (weighted sum, stacking) | 4 |
# > | 模型合并 | model merging (distillation, soups) | 5 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits   # ships with scikit-learn

import minicomp
import minicomp.ensemble as E
from minicomp import MLP, evaluate, predict
from minicomp.blocks import count_macs
from minicomp.data import load_mnist1d
from minicomp.distill import (DistillConfig, average_teachers, distill,
                              soft_targets)
from minicomp.metrics import accuracy
from minicomp.optim import SGD, CosineLR
from minicomp.train import fit

threadpool_limits(limits=1, user_api="blas")   # small matrices: 1 thread
np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The data is MNIST-1D (40 features, 10 classes), hard enough for an MLP
# that ensembles help. The training set is split once, 80/20, into
# train and **validation** (stratified and seeded, by the loader:
# `load_mnist1d(validation=0.2)`): every choice below (τ, weights,
# meta-model, soup ingredients) is made on validation; the test set is
# used only for the final numbers. Seeds change initializations and
# data orders, not the split.

# %%
data = load_mnist1d(validation=0.2)
X_test, y_test = data.X_test, data.y_test
SEEDS = (0, 1, 2)
SPLIT = (data.X_train, data.X_val, data.y_train, data.y_val)
print("train", data.X_train.shape, "validation", data.X_val.shape,
      "test", X_test.shape)


def train(sizes, seed, split=SPLIT, epochs=20, lr=0.05, net=None,
          cos=True):
    """SGD with momentum (and a cosine schedule) on the train part."""
    X_tr, _, y_tr, _ = split
    net = net or MLP(sizes, seed=seed)
    opt = SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    fit(net, X_tr, y_tr, optimizer=opt, epochs=epochs, batch_size=64,
        seed=seed, quiet=True,
        scheduler=CosineLR(opt, T=epochs) if cos else None)
    return net


def test_acc(net):
    return evaluate(net, X_test, y_test)["accuracy"]


def ms(values):
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


# %% [markdown]
# ## 2. Parallel fusion: averaging and voting
#
# **Idea.** Train M nets independently (different seeds) and combine
# their predictions. Their errors differ, so they partly cancel.
#
# **Math.** Probability averaging and majority vote:
# $$\bar p(y\mid x) = \frac1M\sum_{m=1}^M \mathrm{softmax}(z_m(x))_y,
# \qquad \hat y_{\text{vote}} = \arg\max_c \#\{m : \hat y_m = c\},$$
# a tie in the vote going to the **lowest class index** (a stated rule,
# so the answer never depends on the members' order).
#
# **From scratch** for five members of 128-128 on seed 0, then the
# library:

# %%
M = 5
members = {s: [train([40, 128, 128, 10], 100 * s + m, SPLIT)
               for m in range(M)] for s in SEEDS}
Z = np.stack([predict(n, X_test) for n in members[0]])   # (M, N, C)
P = np.exp(Z - Z.max(axis=2, keepdims=True))
P = P / P.sum(axis=2, keepdims=True)                     # softmax
p_bar = P.mean(axis=0)                                   # (N, C)
votes = P.argmax(axis=2)                                 # (M, N)
counts = np.stack([np.bincount(v, minlength=10)
                   for v in votes.T])                    # (N, C)
y_vote = counts.argmax(axis=1)          # first max: lowest class
P_lib = E.member_probabilities(members[0], X_test)
assert np.allclose(p_bar, E.average_probabilities(P_lib), atol=1e-6)
assert np.array_equal(y_vote, E.majority_vote(votes, 10))
print("members", [round(accuracy(p, y_test), 4) for p in P])
print(f"average {accuracy(p_bar, y_test):.4f}, "
      f"vote {accuracy(y_vote, y_test):.4f}")

# %% [markdown]
# What to conclude (one seed): compare the average and the vote with the
# best of the five members printed. The same over three seeds (test
# accuracy, mean ± std):

# %%
rows = {"best member": [], "probability average": [], "vote": []}
curves = []
for s in SEEDS:
    P_s = E.member_probabilities(members[s], X_test)
    rows["best member"].append(max(accuracy(p, y_test) for p in P_s))
    rows["probability average"].append(
        accuracy(E.average_probabilities(P_s), y_test))
    rows["vote"].append(
        accuracy(E.majority_vote(P_s.argmax(axis=2), 10), y_test))
    curves.append(E.accuracy_vs_members(P_s, y_test))
for k, v in rows.items():
    print(f"{k:22s} {ms(v)}")
gain = np.mean(rows["probability average"]) - np.mean(rows["best member"])
print(f"average - best member: {100 * gain:+.2f} points")

# %% [markdown]
# **What to conclude.** Averaging five MLPs beats even the best of them
# (the gap in points is printed above); the vote is close to the average
# but throws away each member's confidence. The gain grows with M and
# flattens:

# %%
curves = np.array(curves)
plt.figure(figsize=(5, 3))
plt.errorbar(np.arange(1, M + 1), curves.mean(0), yerr=curves.std(0),
             marker="o", capsize=3)
plt.title("Probability averaging: accuracy vs members")
plt.xlabel("members averaged")
plt.ylabel("test accuracy (3 seeds)")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to conclude: the first few members bring most of the gain; the
# error bars are the spread over the three seeds.
#
# **Averaging logits is not averaging probabilities.**
# $\mathrm{softmax}(\frac1M\sum z_m)$ lets a member with large logits
# dominate: its probabilities cap at 1, its logits do not. Make one
# member over-confident — multiply its last layer by 20, which changes
# none of its own predictions — and compare the two rules (3 seeds):

# %%
out = {"probabilities": [], "logits": [], "member alone": []}
for s in SEEDS:
    hot = copy.deepcopy(members[s][0])
    hot[-1].W.data *= 20
    hot[-1].b.data *= 20
    group = [hot] + members[s][1:]
    out["member alone"].append(test_acc(hot))
    out["probabilities"].append(accuracy(E.average_probabilities(
        E.member_probabilities(group, X_test)), y_test))
    out["logits"].append(accuracy(E.average_logits(
        E.member_logits(group, X_test)), y_test))
for k, v in out.items():
    print(f"{k:14s} {ms(v)}")

# %% [markdown]
# **What to conclude.** With one over-confident member the logit average
# falls towards that member alone, while the probability average keeps
# most of the ensemble's gain: use probabilities.
#
# ## 3. Sequential fusion: a confidence cascade, and boosting
#
# **Idea.** Most examples are easy. Let a small net answer when it is
# confident and pass the rest to a large one.
#
# **Math.** The small net answers when
# $\max_c p_s(c\mid x) \ge \tau$. It always runs, so with $d$ the
# fraction deferred the average cost per example is
# $$\overline{\text{MACs}} = \text{MACs}_s + d\cdot\text{MACs}_\ell.$$
# $\tau = 0$ never defers; $\tau$ above every top probability always
# does (and then costs more than the large net alone).
#
# A cascade wants a small net that is right when it is confident; we
# distil it from the large one (chapter 4) rather than train it alone.
# **From scratch** at one τ, then the library's curve (one run, seed 0):

# %%
split = SPLIT
large = train([40, 256, 256, 10], 100, split)
small = MLP([40, 64, 64, 10], seed=7)
opt = SGD(small.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
distill(small, large, split[0], split[2], DistillConfig(T=4.0, alpha=0.9),
        optimizer=opt, epochs=40, batch_size=64, seed=0, quiet=True,
        scheduler=CosineLR(opt, T=40))
P_s = E.member_probabilities([small], X_test)[0]
P_l = E.member_probabilities([large], X_test)[0]
tau = 0.7
answers = P_s.max(axis=1) >= tau                      # (N,)
y_hat = np.where(answers, P_s.argmax(1), P_l.argmax(1))
macs = count_macs(small) + (~answers).mean() * count_macs(large)
row = E.cascade_curve(small, large, X_test, y_test, [tau])[0]
assert np.isclose(row["macs"], macs)
assert row["accuracy"] == accuracy(y_hat, y_test)
print("MACs per example: small", count_macs(small),
      "| large", count_macs(large))
print(f"tau {tau}: accuracy {row['accuracy']:.4f}, "
      f"{row['macs'] / count_macs(large):.1%} of the large net's MACs")

# %% [markdown]
# What to conclude (one run, one τ): the cascade's accuracy and its share
# of the large net's compute are printed; both depend on τ, which must
# be chosen — on validation, not on this test set.
#
# τ is chosen on the validation split. Two rules: the cheapest τ whose
# validation accuracy reaches the large net's, or the most accurate τ
# whose validation compute stays within a budget (a deployment
# constraint; the code prints the budget used).

# %%
_, X_val, _, y_val = split
taus = np.linspace(0, 1, 101)
val_curve = E.cascade_curve(small, large, X_val, y_val, taus)
test_curve = E.cascade_curve(small, large, X_test, y_test, taus)
budget = 0.45 * count_macs(large)
rules = {
    "reach large's val accuracy": E.choose_tau(
        val_curve, target=evaluate(large, X_val, y_val)["accuracy"]),
    f"best within {budget / count_macs(large):.0%} of its MACs":
        E.choose_tau(val_curve, budget=budget)}
print(f"test: small {test_acc(small):.4f}, large {test_acc(large):.4f}")
picks = {}
for name, r in rules.items():
    picks[name] = next(t for t in test_curve if t["tau"] == r["tau"])
    print(f"{name:28s} tau {r['tau']:.2f}: test accuracy "
          f"{picks[name]['accuracy']:.4f} at "
          f"{picks[name]['macs'] / count_macs(large):.1%} of the MACs")
rel = np.array([r["macs"] for r in test_curve]) / count_macs(large)
plt.figure(figsize=(5, 3))
plt.plot(rel, [r["accuracy"] for r in test_curve], ".-", label="cascade")
plt.axhline(test_acc(large), c="gray", ls="--", label="large alone")
for (name, p), m in zip(picks.items(), ("r*", "k^")):
    plt.plot(p["macs"] / count_macs(large), p["accuracy"], m, ms=10,
             label=f"tau: {name}")
plt.title("Cascade on MNIST-1D: accuracy vs compute (one run)")
plt.xlabel("average MACs / large net's MACs")
plt.ylabel("test accuracy")
plt.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to conclude (one run).** Read the two τ rows against the two
# nets alone (the "test:" line). The target rule takes the cheapest τ
# whose validation accuracy reaches the large net's; when the distilled
# small net alone already does, that is τ = 0, never defer, at the small
# net's own cost — as printed here, where the small net is as accurate
# on test as the large one. The budget rule defers the least confident
# examples and can beat both nets, because their errors differ; past
# some τ, more compute buys nothing (the flat right end of the curve).
# A τ picked on the validation examples (their number is printed at the
# top) is noisy, and one run of a few test points is no ranking;
# `minicomp bench ensembles` measures both rules over three seeds, and
# the same cascade on the easier digits.
#
# **Boosting** (SAMME, Zhu et al. 2009) is the "each model improves on
# the last" form: example weights $w_i$ grow on the examples the previous
# learners got wrong,
# $$\alpha_m = \log\frac{1-\mathrm{err}_m}{\mathrm{err}_m} + \log(K-1),
# \qquad w_i \leftarrow w_i\, e^{\alpha_m [h_m(x_i)\ne y_i]},$$
# and the prediction is $\arg\max_k\sum_m\alpha_m[h_m(x)=k]$. From
# scratch with decision stumps (which take weights), checked against the
# library and scikit-learn's `AdaBoostClassifier`:

# %%
from sklearn.ensemble import AdaBoostClassifier        # noqa: E402
from sklearn.tree import DecisionTreeClassifier        # noqa: E402

X_tr, _, y_tr, _ = split
w = np.full(len(X_tr), 1 / len(X_tr))
alphas = []
for m in range(4):
    stump = DecisionTreeClassifier(max_depth=1, random_state=0)
    wrong = stump.fit(X_tr, y_tr, sample_weight=w).predict(X_tr) != y_tr
    err = np.average(wrong, weights=w)
    alphas.append(np.log((1 - err) / err) + np.log(10 - 1))
    w = w * np.exp(alphas[-1] * wrong)
    w = w / w.sum()


def fit_stump(X, y, w, rng):
    tree = DecisionTreeClassifier(max_depth=1, random_state=0)
    return tree.fit(X, y, sample_weight=w).predict


lib = E.samme(fit_stump, X_tr, y_tr, 10, rounds=4)
sk = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1),
                        n_estimators=4, random_state=0).fit(X_tr, y_tr)
assert np.allclose(alphas, lib.alphas)
assert np.allclose(lib.alphas, sk.estimator_weights_)
print("alpha_m:", np.round(alphas, 4))

# %% [markdown]
# What to conclude: the loop, the library and scikit-learn's
# `AdaBoostClassifier` give the same α_m (asserted).
#
# With tiny nets (hidden 4, a few epochs) as weak learners, trained on
# weighted resamples (`fit` has no per-example weights):

# %%
res = {"one weak net": [], "SAMME, 8 rounds": []}
for s in SEEDS:
    X_tr, _, y_tr, _ = SPLIT
    model = E.samme(E.net_learner(10, hidden=[4], epochs=3), X_tr, y_tr,
                    10, rounds=8, seed=s)
    res["one weak net"].append(
        accuracy(np.asarray(model.learners[0](X_test)), y_test))
    res["SAMME, 8 rounds"].append(
        accuracy(E.samme_predict(model, X_test), y_test))
for k, v in res.items():
    print(f"{k:16s} {ms(v)}")

# %% [markdown]
# **What to conclude.** Each round fits the examples the last ones
# missed, and the weighted vote beats its first weak learner; the learners
# are deliberately weak, so a single 128-128 net is still far better.
#
# ## 4. Hybrid fusion: fitted weights and stacking
#
# **Idea.** Members are not equally good: learn how to combine them, on
# data they were not trained on.
#
# **Math.** Weights on the simplex by log-loss on the validation split:
# $$\min_{w\ge0,\ \sum w_m=1}\ -\frac1N\sum_i\log\sum_m w_m\,p_m(y_i\mid
# x_i).$$
# Stacking trains a small meta-model (logistic regression) on the
# members' validation probabilities. The candidates: the five members,
# the small and the large net of section 3 (seed 0).
#
# **From scratch** by exponentiated gradient (multiplicative updates
# keep $w$ on the simplex), then the library (softmax parameters, Adam):

# %%
cands = members[0] + [small, large]
P_val = E.member_probabilities(cands, X_val)       # (M, N_val, C)
P_te = E.member_probabilities(cands, X_test)
P_y = P_val[:, np.arange(len(y_val)), y_val].T      # (N_val, M)
w = np.full(len(cands), 1 / len(cands))
for _ in range(500):
    grad = -(P_y / (P_y @ w)[:, None]).mean(axis=0)  # d loss / d w
    w = w * np.exp(-0.5 * grad)
    w = w / w.sum()
w_lib = E.fit_simplex_weights(P_val, y_val, steps=500)
loss = E.log_loss(E.average_probabilities(P_val, w), y_val)
loss_lib = E.log_loss(E.average_probabilities(P_val, w_lib), y_val)
assert abs(loss - loss_lib) < 2e-3 and np.isclose(w_lib.sum(), 1)
print("weights", np.round(w_lib, 3), f"| val log-loss {loss_lib:.4f}")

# %% [markdown]
# **With the library**, and scikit-learn's `VotingClassifier` /
# `StackingClassifier` on the same members wrapped as estimators
# (`NetClassifier`; prefit members go into `FrozenEstimator` or
# `cv="prefit"`, so scikit-learn trains only the meta-model, on validation):

# %%
from sklearn.ensemble import StackingClassifier, VotingClassifier  # noqa
from sklearn.frozen import FrozenEstimator                         # noqa
from sklearn.linear_model import LogisticRegression                # noqa

wrapped = [(f"m{i}", E.NetClassifier(n).fit(X_val, y_val))
           for i, n in enumerate(cands)]
vote = VotingClassifier([(k, FrozenEstimator(e)) for k, e in wrapped],
                        voting="soft").fit(X_val, y_val)
assert np.allclose(vote.predict_proba(X_test),
                   E.average_probabilities(P_te), atol=1e-5)
stack = StackingClassifier(wrapped, LogisticRegression(max_iter=1000),
                           cv="prefit").fit(X_val, y_val)
meta = E.fit_stacker(P_val, y_val, epochs=50)
for name, P_hat in [
        ("uniform average", E.average_probabilities(P_te)),
        ("fitted weights", E.average_probabilities(P_te, w_lib)),
        ("stacking (ours)", E.stack_probabilities(meta, P_te)),
        ("sklearn stacking", stack.predict_proba(X_test))]:
    print(f"{name:17s} accuracy {accuracy(P_hat, y_test):.4f}")

# %% [markdown]
# **What to conclude (one run).** The fitted weights move away from
# uniform (printed above), but on this data neither fitted weights nor
# stacking beats the uniform average on test: similar members are
# already well averaged, and a meta-model fitted on the validation
# examples alone has little to gain and some variance to add. Stacking
# needs its own data, which is why the members never see the validation
# split.
#
# ## 5. Merging: one model from many
#
# ### 5a. Distil the ensemble into one student
#
# The ensemble's averaged temperature-$T$ probabilities are the student's
# soft targets (chapter 4's loss, `minicomp.distill`); the student has the
# size of **one** member, so it costs one member's MACs.

# %%
T = 4.0
soft = E.average_probabilities(
    E.member_probabilities(members[0], X_test, T=T))
Z0 = E.member_logits(members[0], X_test)
z_bar = average_teachers(list(Z0), T=T)         # logits of the average
assert np.allclose(soft, soft_targets(z_bar, T=T), atol=1e-5)

dist = {"single member (mean)": [], "distilled student": [],
        "ensemble": []}
for s in SEEDS:
    X_tr, _, y_tr, _ = SPLIT
    student = MLP([40, 128, 128, 10], seed=999 + s)
    opt = SGD(student.parameters(), lr=0.05, momentum=0.9,
              weight_decay=5e-4)
    E.distill_ensemble(student, members[s], X_tr, y_tr, T=T, alpha=0.9,
                       optimizer=opt, epochs=30, batch_size=64, seed=s,
                       scheduler=CosineLR(opt, T=30), quiet=True)
    dist["distilled student"].append(test_acc(student))
    dist["single member (mean)"].append(
        np.mean([test_acc(n) for n in members[s]]))
    dist["ensemble"].append(accuracy(E.average_probabilities(
        E.member_probabilities(members[s], X_test)), y_test))
for k, v in dist.items():
    print(f"{k:21s} {ms(v)}")
kept = ((np.mean(dist["distilled student"])
         - np.mean(dist["single member (mean)"]))
        / (np.mean(dist["ensemble"])
           - np.mean(dist["single member (mean)"])))
print(f"share of the ensemble's gain kept by the student: {kept:.0%}; "
      f"its MACs / the ensemble's: "
      f"{count_macs(student) / sum(map(count_macs, members[0])):.2f}")

# %% [markdown]
# **What to conclude.** One net, trained on the ensemble's soft targets,
# keeps the printed share of the ensemble's gain at the printed
# fraction of its compute (one member's MACs).
#
# ### 5b. Model soups: averaging weights from one initialization
#
# **Idea** (Wortsman et al. 2022). Nets fine-tuned from the same
# starting point stay in one basin of the loss, so their *weights* can be
# averaged: $\theta_{\text{soup}} = \frac1K\sum_k\theta_k$ (uniform
# soup). The **greedy soup** sorts the ingredients by validation accuracy
# and adds each one only if the soup's validation accuracy does not drop.
# Our ingredients: one trained net, fine-tuned 5 epochs at a constant
# learning rate with 5 different data orders.

# %%
soups = {"best ingredient": [], "uniform soup": [], "greedy soup": []}
for s in SEEDS:
    base = train([40, 128, 128, 10], 50 + s, SPLIT)
    ings = [train(None, 60 + 10 * s + k, SPLIT, epochs=5, cos=False,
                  net=copy.deepcopy(base)) for k in range(5)]
    if s == 0:                                  # from scratch, once
        states = [n.state_dict() for n in ings]
        avg = {k: np.mean([st[k] for st in states], axis=0)
               for k in states[0]}
        lib_soup = E.uniform_soup(ings).state_dict()
        assert all(np.allclose(avg[k], lib_soup[k], atol=1e-6)
                   for k in avg)
    _, X_v, _, y_v = SPLIT
    greedy, chosen = E.greedy_soup(ings, X_v, y_v)
    soups["best ingredient"].append(max(test_acc(n) for n in ings))
    soups["uniform soup"].append(test_acc(E.uniform_soup(ings)))
    soups["greedy soup"].append(test_acc(greedy))
for k, v in soups.items():
    print(f"{k:16s} {ms(v)}")

# %% [markdown]
# **What to conclude.** Each constant-rate fine-tune ends at a noisy
# point of the basin; their average lands nearer its centre, so the soup
# beats even the best ingredient (best measured on the test set, the most
# favourable comparison for the ingredients) — one net, no extra compute.
#
# ### 5c. Averaging independent nets fails; aligning neurons repairs it
#
# **Idea.** Hidden neurons can be listed in any order: permuting rows of
# $W_\ell$ and columns of $W_{\ell+1}$ leaves the function unchanged. Two
# independently trained nets order their neurons differently, so
# averaging them neuron by neuron mixes unrelated features.
#
# **Math** (Git Re-Basin, Ainsworth et al. 2023, weight matching). For
# each hidden layer find the permutation $P_\ell$ of net B maximising
# $\langle W^A_\ell, P_\ell W^B_\ell P_{\ell-1}^\top\rangle +
# \langle W^A_{\ell+1}, P_{\ell+1} W^B_{\ell+1} P_\ell^\top\rangle$, a
# linear assignment problem per layer, iterated over layers.
#
# **From scratch** for one hidden layer (the other layers' order fixed),
# then the library on the whole net:

# %%
A, B = members[0][0], members[0][1]
S_1 = (A[0].W.data @ B[0].W.data.T + np.outer(A[0].b.data, B[0].b.data)
       + A[2].W.data.T @ B[2].W.data)           # (128, 128)
_, perm = linear_sum_assignment(S_1, maximize=True)
one = E.permute_hidden(B, [perm, np.arange(128)])
assert np.allclose(predict(one, X_test), predict(B, X_test), atol=1e-4)
B_aligned = E.align(A, B)
print("layer-1 neurons kept in place by the alignment:",
      int((E.weight_matching(A, B)[0] == np.arange(128)).sum()), "of 128")

# %% [markdown]
# What to conclude: the permutation changes the order of B's neurons,
# not its outputs (asserted); the printed count says how few of B's
# neurons already faced their counterpart in A. Now interpolate between
# A and B, naively and after alignment (3 seeds):

# %%
lams = np.linspace(0, 1, 11)
naive_c, aligned_c = [], []
for s in SEEDS:
    A, B = members[s][0], members[s][1]
    B2 = E.align(A, B)
    naive_c.append([test_acc(E.average_weights([A, B], [1 - t, t]))
                    for t in lams])
    aligned_c.append([test_acc(E.average_weights([A, B2], [1 - t, t]))
                      for t in lams])
naive_c, aligned_c = np.array(naive_c), np.array(aligned_c)
mid = len(lams) // 2
print(f"endpoints {ms((naive_c[:, 0] + naive_c[:, -1]) / 2)}")
print(f"midpoint, naive   {ms(naive_c[:, mid])}")
print(f"midpoint, aligned {ms(aligned_c[:, mid])}")
plt.figure(figsize=(5, 3))
for c, lab in [(naive_c, "naive"), (aligned_c, "aligned (weight matching)")]:
    plt.errorbar(lams, c.mean(0), yerr=c.std(0), marker=".", capsize=2,
                 label=lab)
plt.axhline(0.1, c="gray", ls=":", label="chance")
plt.title("Interpolating two independently trained nets")
plt.xlabel("weight of net B")
plt.ylabel("test accuracy (3 seeds)")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to conclude.** Halfway between two independent nets the naive
# average loses most of the endpoints' accuracy, most of the way down to
# chance (dotted line); after weight matching the same average keeps most
# of it. The barrier was mostly permutation
# symmetry, not two different solutions.
#
# ## 6. What seed 002's recipe leaves out
#
# > **Seed 002's 模型合并 "merges several small models into one large
# > model" without saying how.** Read as "average their weights", it
# > fails for independently trained nets (section 5c, printed below);
# > its steps 2–4 ("weighted sum of the outputs, used as the targets of
# > the merged model, which is then trained") are distillation of the
# > ensemble (5a), and the merged model need not be large: a student of
# > one member's size keeps much of the gain. The run:

# %%
print(f"weights averaged (naive):     {ms(naive_c[:, mid])}")
print(f"outputs averaged (ensemble):  {ms(dist['ensemble'])}")
print(f"outputs distilled (student):  {ms(dist['distilled student'])}")

# %% [markdown]
# **What to conclude.** Merge outputs (then distil), or weights of nets
# that share a basin (soups, or after alignment) — never raw weights of
# independent nets.
#
# ## 7. Summary
#
# * Probability averaging of independently trained members beats the best
#   member; average probabilities, not logits.
# * A confidence cascade spends the large net's compute only where the
#   small one is unsure; τ is chosen on validation.
# * SAMME reweights examples so each learner fixes the last ones' errors.
# * Fitted weights and stacking need held-out data; scikit-learn's
#   `VotingClassifier` / `StackingClassifier` take the same members.
# * The ensemble's accuracy folds back into one net by distillation;
#   weight averaging works for nets from one initialization (soups) or
#   after neuron alignment, not for raw independent nets.
# * `minicomp bench ensembles` measures all of this over three seeds.
#
# ## 8. Exercises
#
# 1. **Graded:** `release/06_ensembles/`, the student copy (made by
#    `minicomp release exercises/ release/`; `exercises/` is the
#    instructor's copy, with the solutions): probability averaging, the
#    cascade rule and its average cost
#    (`minicomp check release/06_ensembles`).
# 2. Replace the cascade's top probability by the margin between the two
#    largest probabilities (write the rule, choose τ on validation).
#    Which reaches the large net's accuracy with less compute, over
#    three seeds?
# 3. Build a greedy soup from ingredients fine-tuned with *different*
#    learning rates. When does greedy beat uniform?
# 4. Align member B to A, then average all five members after aligning
#    each to member 0. How close does that single net get to the
#    ensemble?
