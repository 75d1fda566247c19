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
# # Chapter 4 — Knowledge distillation
#
# *A small student learns from a large teacher's outputs: soft labels at
# a temperature, the T² that keeps them in scale, hard labels and why
# they lose, and distillation as the way to recover a pruned network.*

# %% [markdown]
# ## 1. Introduction
#
# Four of the five seeds (all but 003) describe knowledge distillation (知识蒸馏):
# "train a small model to imitate a large one, so that the small one keeps the
# large one's accuracy". Seed 004 names its two forms: **soft-label**
# distillation (软标签蒸馏), where the student learns the teacher's probabilities,
# and **hard-label** distillation (硬标签蒸馏), where it learns the teacher's
# rounded answer. The idea is right. None of the three code samples does it
# (section 7 runs each): seed 000 freezes the student and trains it on the
# ordinary labels, seed 002 imitates the teacher on one random input, seed 004
# copies the teacher's weights.
#
# The method is Hinton, Vinyals & Dean (2015). A teacher that is right on
# an example still spreads some probability over the wrong classes, and
# *how much* on which class says what the teacher has learned about the
# input ("this 7 looks a little like a 1"). A temperature T makes those
# small probabilities visible, and the student is trained to match them.
#
# This chapter derives the loss and its gradient (section 2), builds it
# and a training loop from scratch (3), shows the "dark knowledge" in a
# trained teacher (4), measures soft and hard distillation against the
# student trained alone (5), then goes further: several teachers, hints
# from a hidden layer, and prune-then-distill (6).
#
# > **Glossary.**
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 知识蒸馏 | knowledge distillation | all |
# > | 教师模型 / 大模型 / 深度模型 | teacher | all |
# > | 学生模型 / 小模型 / 浅层模型 | student | all |
# > | 软标签蒸馏 | soft-label distillation | 2, 5 |
# > | 硬标签蒸馏 | hard-label distillation | 4, 5 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import importlib.util

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits   # ships with scikit-learn

import minicomp
import minicomp.functional as F
from minicomp import MLP, Tensor, evaluate, fit, predict
from minicomp.data import batches, load_mnist1d
from minicomp.distill import (Distill, DistillConfig, average_teachers,
                              distill, hint_train, kd_loss, soft_targets)
from minicomp.nn import Dense, Dropout, ReLU, Sequential
from minicomp.optim import SGD, CosineLR
from minicomp.prune import FineTune, compact, one_shot

threadpool_limits(limits=1, user_api="blas")   # small matrices: 1 thread
np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The data is MNIST-1D (Greydanus 2020): 40 numbers per example, ten
# classes, hard enough that a small MLP is far from a large one. The
# training set is split once into **train** (80 %) and **validation**
# (20 %), stratified and seeded, by the loader itself
# (`load_mnist1d(validation=0.2)`): every net trains on train, every
# choice (T, α) is made on validation, and the test set gives the final
# numbers only.

# %%
data = load_mnist1d(validation=0.2)
X_tr, y_tr, X_val, y_val = data.X_train, data.y_train, data.X_val, \
    data.y_val
X_te, y_te = data.X_test, data.y_test
print("train", X_tr.shape, "validation", X_val.shape, "test", X_te.shape)

# %% [markdown]
# ## 2. The math
#
# Write $z_t$ for the teacher's logits on an example, $z_s$ for the
# student's, and $\mathrm{softmax}(z/T)$ for the probabilities at
# temperature $T$ (T = 1: the usual ones; T > 1: softer). With
# $p = \mathrm{softmax}(z_t/T)$ and $q = \mathrm{softmax}(z_s/T)$ the
# distillation loss of a batch of N examples is
#
# $$L = \alpha\,T^2\,\frac1N\sum_{n}\mathrm{KL}(p_n\,\|\,q_n)
#   + (1-\alpha)\,\frac1N\sum_n \mathrm{CE}(y_n, z_{s,n}),
# \qquad \mathrm{KL}(p\|q) = \sum_k p_k(\log p_k - \log q_k).$$
#
# Three details matter, and each is a common bug.
#
# * **The direction** $\mathrm{KL}(p\,\|\,q)$: the teacher's $p$ weighs
#   the logs. Up to a constant it is the cross-entropy with the soft
#   targets, $-\sum_k p_k \log q_k$.
# * **batchmean**: sum over the K classes, divide by N. An element-wise
#   mean divides by N·K: K times too small, and not a KL divergence.
# * **T²**. For one example, $\partial\mathrm{KL}/\partial z_{s,i} =
#   (q_i - p_i)/T$. For large T, $e^{z/T} \approx 1 + z/T$, so with
#   zero-mean logits $q_i \approx (1 + z_{s,i}/T)/K$ and
#
#   $$\frac{\partial\,\mathrm{KL}}{\partial z_{s,i}} \approx
#     \frac{1}{K\,T^2}\,(z_{s,i} - z_{t,i}).$$
#
#   The soft term's gradient shrinks as $1/T^2$; multiplying by $T^2$
#   keeps it on the scale of the label term at every temperature, so α
#   keeps its meaning when T changes. (In the limit it is logit
#   matching: Hinton et al.'s $\frac1{NT^2}(z_i - v_i)$, their N being
#   the number of classes.)
#
# The gradient of the whole loss with respect to the student's logits is
# therefore
#
# $$\frac{\partial L}{\partial z_s} = \frac{\alpha\,T}{N}\,(q - p)
#   + \frac{1-\alpha}{N}\,\big(\mathrm{softmax}(z_s)
#   - \mathrm{onehot}(y)\big).$$

# %% [markdown]
# ## 3. From scratch
#
# ### 3.1 The loss and its gradient in NumPy
#
# A hand-worked example: N = 2, K = 3, T = 2. Row 0 has
# $z_s/T = [\ln 2, 0, 0]$, so $q = [1/2, 1/4, 1/4]$; the teacher's logits
# are 0, so $p = [1/3, 1/3, 1/3]$. Row 1 has equal logits. Then
# $\mathrm{KL}_0 = \frac13[\ln\frac{1/3}{1/2} + 2\ln\frac{1/3}{1/4}] =
# \frac13\ln\frac{32}{27}$, $\mathrm{KL}_1 = 0$, and the soft term is
# $T^2\cdot\frac12\cdot\frac13\ln\frac{32}{27}$.

# %%
def log_softmax(Z):                           # (N, K), stable
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def scratch_kd_loss(z_s, z_t, y, T, alpha):
    N = len(z_s)
    log_q, log_p = log_softmax(z_s / T), log_softmax(z_t / T)
    kl = (np.exp(log_p) * (log_p - log_q)).sum() / N      # batchmean
    ce = -log_softmax(z_s)[np.arange(N), y].mean()
    return alpha * T * T * kl + (1 - alpha) * ce


def scratch_kd_grad(z_s, z_t, y, T, alpha):
    N = len(z_s)
    q, p = np.exp(log_softmax(z_s / T)), np.exp(log_softmax(z_t / T))
    s = np.exp(log_softmax(z_s))
    s[np.arange(N), y] -= 1.0                            # softmax - onehot
    return alpha * T * (q - p) / N + (1 - alpha) * s / N


z_s = np.array([[2 * np.log(2), 0.0, 0.0], [0.0, 0.0, 0.0]])
z_t = np.zeros((2, 3))
y2 = np.array([1, 0])
by_hand = 4 * np.log(32 / 27) / 6
print("soft term by hand:", by_hand,
      "| from scratch:", scratch_kd_loss(z_s, z_t, y2, 2.0, 1.0))

# %% [markdown]
# The library's `kd_loss` composes the same formula from the engine's
# primitives (`log_softmax`, `softmax`, `kl_div(..., "batchmean")`,
# `cross_entropy`) and has no backward code of its own: the engine
# differentiates it. Both the value and the gradient must agree with the
# NumPy version, at several T and α.

# %%
rng = np.random.default_rng(0)
for T, alpha in ((2.0, 1.0), (1.0, 0.5), (4.0, 0.9), (10.0, 0.3)):
    a, b = rng.standard_normal((5, 4)) * 3, rng.standard_normal((5, 4)) * 3
    yy = rng.integers(0, 4, 5)
    zs = Tensor(a, requires_grad=True)
    L = kd_loss(zs, b, yy, T=T, alpha=alpha)
    L.backward()
    assert np.isclose(float(L.data), scratch_kd_loss(a, b, yy, T, alpha))
    assert np.allclose(zs.grad, scratch_kd_grad(a, b, yy, T, alpha))
print("kd_loss == scratch loss, engine gradient == hand gradient")

# %% [markdown]
# **What to conclude.** The hand-worked value, the NumPy version and the
# library agree, and the engine's gradient is the formula of section 2.
#
# ### 3.2 Why T²: a picture
#
# The norm of the soft term's gradient at growing T, with and without
# the T² factor, on random zero-mean logits:

# %%
zs0 = rng.standard_normal((64, 10))
zt0 = rng.standard_normal((64, 10)) * 2
zs0 -= zs0.mean(1, keepdims=True)
zt0 -= zt0.mean(1, keepdims=True)
y0 = np.zeros(64, dtype=int)        # labels: unused at alpha = 1
temps = np.array([1, 2, 4, 8, 16, 32])
with_t2 = [np.linalg.norm(scratch_kd_grad(zs0, zt0, y0, T, 1.0))
           for T in temps]
without = [g / T**2 for g, T in zip(with_t2, temps)]
plt.figure(figsize=(5, 3.2))
plt.loglog(temps, with_t2, "o-", label="α·T²·KL (Hinton et al.)")
plt.loglog(temps, without, "s--", label="KL without T²")
plt.xlabel("temperature T")
plt.ylabel("‖∂L/∂z_s‖")
plt.title("The soft term's gradient vs temperature")
plt.legend()
plt.tight_layout()
plt.show()
print(f"norm ratio T=32 / T=8: with T² {with_t2[-1] / with_t2[3]:.3f}, "
      f"without {without[-1] / without[3]:.4f} "
      f"(1/{without[3] / without[-1]:.0f})")

# %% [markdown]
# **What to conclude.** With T² the gradient's size settles to a
# constant as T grows; without it, it falls as $1/T^2$ (the printed
# 1/16 from T = 8 to T = 32, which is $(8/32)^2$), and the labels' term
# would take over whatever α says.
#
# ### 3.3 A training loop from scratch
#
# A teacher first: an MLP with two hidden layers of 256 and dropout,
# trained on train only.

# %%
def sgd_recipe(net, epochs, seed=0, lr=0.05):
    opt = SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    return dict(optimizer=opt, epochs=epochs, batch_size=64, seed=seed,
                scheduler=CosineLR(opt, T=epochs), quiet=True)


teacher = Sequential(Dense(40, 256, seed=0), ReLU(), Dropout(0.3, seed=0),
                     Dense(256, 256, seed=1), ReLU(), Dropout(0.3, seed=1),
                     Dense(256, 10, seed=2))
fit(teacher, X_tr, y_tr, **sgd_recipe(teacher, 60))
teacher_acc = evaluate(teacher, X_te, y_te)["accuracy"]
teacher_train = evaluate(teacher, X_tr, y_tr)["accuracy"]
print(f"teacher: {teacher.num_parameters()} parameters, "
      f"test accuracy {teacher_acc:.4f}, "
      f"training accuracy {teacher_train:.4f}")

# %% [markdown]
# What to conclude: this teacher's test accuracy is the ceiling the
# students below are measured against (one teacher). Its training
# accuracy, printed beside it, is far higher: it has almost memorised
# the training split, so on those inputs its argmax is nearly always
# the label itself — keep this in mind for hard labels (section 5).
#
# The student is the seeds' MLP (hidden 64-64). The loop below is all of
# distillation: the teacher's logits are computed once (the teacher is
# frozen and the inputs never change), each batch gets its rows of them,
# and the loss of section 3.1 is written with the engine's primitives.
# Plain SGD, so that nothing hides in the optimizer.

# %%
def scratch_distill(student, teacher, X, y, T, alpha, epochs, lr,
                    batch_size=32, seed=0):
    Z_t = predict(teacher, X)                  # (N, K), eval mode, once
    order_rng = np.random.default_rng(seed)
    params = student.parameters()
    for epoch in range(epochs):
        for idx in batches(np.arange(len(X)), None, batch_size,
                           seed=order_rng):
            z = student(Tensor(X[idx]))                      # (B, K)
            p = F.softmax(Tensor(Z_t[idx] / T), axis=1).data
            log_q = F.log_softmax(z * (1.0 / T), axis=1)
            soft = F.kl_div(log_q, p, reduction="batchmean")
            L = soft * (alpha * T * T) \
                + F.cross_entropy(z, y[idx]) * (1 - alpha)
            for w in params:
                w.grad = None
            L.backward()
            for w in params:
                w.data -= lr * w.grad
    return student


a = scratch_distill(MLP([40, 64, 64, 10], seed=1), teacher, X_tr, y_tr,
                    T=4.0, alpha=0.9, epochs=2, lr=0.05)
b = MLP([40, 64, 64, 10], seed=1)
distill(b, teacher, X_tr, y_tr, DistillConfig(T=4.0, alpha=0.9),
        epochs=2, lr=0.05, quiet=True)
print("max |scratch - library| on test logits:",
      np.abs(predict(a, X_te) - predict(b, X_te)).max())
assert np.allclose(predict(a, X_te), predict(b, X_te), atol=1e-4)

# %% [markdown]
# **What to conclude.** `distill(student, teacher, X, y, config)` is this
# loop: it calls `fit` with `teacher=` (the logits cached once, or the
# teacher run per batch with `cache=False`) and a loss that receives the
# batch's teacher logits. With data augmentation — a new random shift
# of every input each epoch — cached logits would belong to the wrong
# inputs, and the teacher must see each augmented batch: that is what
# `cache=False` is for (`fit(..., augment=...)` draws the augmented
# batches, and `distill` then runs the teacher on each of them).

# %% [markdown]
# ## 4. Dark knowledge
#
# What does the teacher say besides its answer? For a few validation
# examples it classifies correctly, its probabilities at T = 1 and T = 4:

# %%
Z_val = predict(teacher, X_val)
right = np.flatnonzero(Z_val.argmax(1) == y_val)[:3]
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6), sharey=True)
for ax, i in zip(axes, right):
    for T, w, off in ((1.0, 0.4, -0.2), (4.0, 0.4, 0.2)):
        ax.bar(np.arange(10) + off, soft_targets(Z_val[i:i + 1], T)[0],
               width=w, label=f"T = {T:g}")
    ax.set_title(f"validation example {i}, label {y_val[i]}")
    ax.set_xlabel("class")
    ax.set_xticks(range(10))
axes[0].set_ylabel("teacher probability")
axes[0].legend()
plt.tight_layout()
plt.show()
P1, P4 = soft_targets(Z_val, 1.0), soft_targets(Z_val, 4.0)
rest = lambda P: 1 - P.max(axis=1)
print(f"mean probability off the argmax: T=1 {rest(P1).mean():.3f}, "
      f"T=4 {rest(P4).mean():.3f}")

# %% [markdown]
# **What to conclude.** At T = 1 most of the mass sits on one class; at
# T = 4 the other classes get a visible share, and their ranking (which
# wrong class is "closer") is the teacher's knowledge about the input.
# Hard-label distillation keeps only the argmax: the student learns the
# teacher's answer, which on the training set is mostly the label it
# already has.

# %% [markdown]
# ## 5. With the library: soft vs hard labels, T and α
#
# ### 5.1 Choosing T and α on validation
#
# One student per setting (one run, seed 1), scored on validation:

# %%
def student(seed):
    return MLP([40, 64, 64, 10], seed=seed)


def kd_student(config, seed, epochs=30):
    s = student(seed)
    distill(s, teacher, X_tr, y_tr, config, **sgd_recipe(s, epochs, seed))
    return s


val_acc = lambda n: evaluate(n, X_val, y_val)["accuracy"]
temps = (1.0, 2.0, 4.0, 8.0)
by_T = [val_acc(kd_student(DistillConfig(T=T, alpha=0.9), 1))
        for T in temps]
best_T = temps[int(np.argmax(by_T))]
alphas = (0.5, 0.9, 1.0)
by_alpha = [max(by_T) if a == 0.9 else
            val_acc(kd_student(DistillConfig(T=best_T, alpha=a), 1))
            for a in alphas]
best_alpha = alphas[int(np.argmax(by_alpha))]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].plot(temps, by_T, "o-")
axes[0].set_xscale("log", base=2)
axes[0].set(xlabel="T (α = 0.9)", ylabel="validation accuracy",
            title="Temperature sweep (one run)")
axes[1].plot(alphas, by_alpha, "o-")
axes[1].set(xlabel=f"α (T = {best_T:g})", ylabel="validation accuracy",
            title="α sweep (one run)")
plt.tight_layout()
plt.show()
print("validation accuracy by T (alpha 0.9):",
      {T: round(float(a), 4) for T, a in zip(temps, by_T)})
print(f"by alpha (T = {best_T:g}):",
      {a: round(float(v), 4) for a, v in zip(alphas, by_alpha)})
print(f"chosen on validation: T = {best_T:g}, alpha = {best_alpha:g}")

# %% [markdown]
# **What to conclude.** The choice is made here, on validation, from one
# run per setting (the printed values). Small differences between
# neighbouring settings are not a ranking; T = 1, several points below
# the higher temperatures, says that the softened targets matter. The
# test set has not been touched.
#
# ### 5.2 Student alone, hard labels, soft labels: three seeds on test

# %%
seeds = (1, 2, 3)
results = {"student alone": [], "hard-label KD": [], "soft-label KD": []}
for seed in seeds:
    s = student(seed)
    fit(s, X_tr, y_tr, **sgd_recipe(s, 30, seed))
    results["student alone"].append(s)
    results["hard-label KD"].append(
        kd_student(DistillConfig(hard=True, alpha=1.0), seed))
    results["soft-label KD"].append(
        kd_student(DistillConfig(T=best_T, alpha=best_alpha), seed))
test_acc = {k: [evaluate(n, X_te, y_te)["accuracy"] for n in v]
            for k, v in results.items()}
print(f"{'':15} {'parameters':>10}   test accuracy (mean ± std, 3 seeds)")
for name, accs in test_acc.items():
    print(f"{name:15} {results[name][0].num_parameters():>10}   "
          f"{np.mean(accs):.4f} ± {np.std(accs):.4f}")
print(f"{'teacher':15} {teacher.num_parameters():>10}   {teacher_acc:.4f}"
      " (one teacher)")
gap = teacher_acc - np.mean(test_acc["student alone"])
closed = np.mean(test_acc["soft-label KD"]) \
    - np.mean(test_acc["student alone"])
print(f"soft-label KD closes {closed / gap:.0%} of the student-teacher gap"
      f" with {student(0).num_parameters() / teacher.num_parameters():.0%}"
      " of the teacher's parameters")

# %% [markdown]
# **What to conclude.** The soft-label student closes the share of the
# gap printed above, with a small fraction of the teacher's parameters
# (for scale, from the paper, not from this run: Hinton et al.'s MNIST
# student went from 146 test errors alone to 74 distilled, against the
# teacher's 67 — 91 % of the gap). Hard labels give the student
# little it did not have: on the training split the teacher's argmax is
# the label itself for nearly every example (its training accuracy,
# section 3.3). `minicomp bench distill` runs the full
# protocol — a teacher per seed, T and α chosen on validation, and a
# reduced digits training set — and prints the same table.

# %% [markdown]
# ## 6. Go further
#
# ### 6.1 Several teachers: average probabilities, not logits
#
# An ensemble's prediction is the mean of its members' probabilities. Its
# logits' mean is something else: a renormalised *geometric* mean, in
# which one overconfident member sets the shape. The three students
# trained alone in section 5.2 make an ensemble; one of them is made
# overconfident (its logits times 5: the same answers, sharper
# probabilities). Which soft targets would a student see?

# %%
members = results["student alone"]
Zs = [predict(m, X_val) for m in members]
Zs[2] = Zs[2] * 5.0          # an overconfident member: same argmax
P_members = [soft_targets(Z, 1.0) for Z in Zs]
targets = {"mean of probabilities": soft_targets(average_teachers(Zs, 1.0),
                                                 1.0),
           "mean of logits": soft_targets(np.mean(Zs, axis=0), 1.0)}
print(f"{'soft targets from':22} {'val acc':>8} {'log-loss':>9} "
      f"{'TV to member 2':>15}")
for name, P in targets.items():
    nll = -np.log(P[np.arange(len(y_val)), y_val] + 1e-12).mean()
    tv = 0.5 * np.abs(P - P_members[2]).sum(axis=1).mean()
    print(f"{name:22} {(P.argmax(1) == y_val).mean():>8.4f} {nll:>9.3f} "
          f"{tv:>15.3f}")

# %% [markdown]
# **What to conclude (one run).** The two combinations' answers differ
# a little (the accuracy column); their *probabilities* differ much
# more: the mean of logits sits much
# closer to the overconfident member (smaller total-variation distance,
# "TV") and is worse calibrated (higher log-loss), so a student would
# learn that one member's overconfidence rather than the ensemble.
# `distill(student, [t1, t2, t3], ...)` therefore averages the
# teachers' probabilities at the distillation temperature
# (`average_teachers`); chapter 05 distils an ensemble into one net and
# measures it over seeds.
#
# ### 6.2 Hints: a hidden layer learns the teacher's (FitNets)
#
# Romero et al. (2015) first train the student's lower layers so that a
# learned projection $r$ of the student's hidden layer predicts the
# teacher's hidden layer, $\|r(h_s) - h_t\|^2$ (the widths differ, hence
# $r$), then distil as usual. `hint_train` builds the guided net from the
# student's own layers plus $r$ and fits it with the MSE; the projection
# is dropped afterwards.

# %%
s = student(1)
r, h = hint_train(s, teacher, X_tr, student_layer=1, teacher_layer=1,
                  epochs=5, lr=0.01, quiet=True)
print(f"hint loss: first epoch {h.loss[0]:.3f}, last {h.loss[-1]:.3f}; "
      f"projection {r}")
distill(s, teacher, X_tr, y_tr, DistillConfig(T=best_T, alpha=best_alpha),
        **sgd_recipe(s, 30, 1))
print(f"hints then KD (5 + 30 epochs): validation accuracy "
      f"{val_acc(s):.4f}; KD alone (30 epochs): {max(by_alpha):.4f}"
      " (one run)")

# %% [markdown]
# **What to conclude.** The hint loss falls: the student's middle layer
# learns a linear image of the teacher's. On a two-hidden-layer MLP the
# gain over plain distillation is small or nothing (one run; FitNets
# targets thin, *deep* students, where the gradient from the output
# reaches the lower layers poorly).
#
# ### 6.3 Prune, then distill
#
# Today's width-pruned models are made this way: rank the neurons of a
# trained net, remove the least important with `compact()`, and recover
# by distilling from the unpruned net rather than by plain fine-tuning.
# Here: 75 % of each hidden layer of the teacher removed by seed 000's
# $R_i$ and compacted (the recovery then trains the small net, as a
# deployment would), then the same number of epochs of fine-tuning or
# distillation. `Distill` is a `FineTune` that learns from a teacher, so
# it plugs into every pruning procedure (`one_shot(...,
# fine_tune=Distill(...))`). Its temperature is chosen on validation (one
# run each):

# %%
pruned = compact(one_shot(copy.deepcopy(teacher), X_tr, y_tr,
                          "activation", 0.75))


def recovered(tuner):
    net = copy.deepcopy(pruned)
    tuner(net, X_tr, y_tr)
    return net


print("pruned:", [b.out_features for b in pruned.layers
                  if isinstance(b, Dense)],
      f"validation accuracy before recovery {val_acc(pruned):.4f}")
kw = dict(epochs=10, lr=0.02)
by_T_pruned = {T: val_acc(recovered(Distill(
    teacher=teacher, config=DistillConfig(T=T, alpha=0.9), seed=1, **kw)))
    for T in (1.0, 2.0, 4.0, 8.0)}
print("validation accuracy by T:", by_T_pruned)
T_prune = max(by_T_pruned, key=by_T_pruned.get)

# %% [markdown]
# What to conclude: without recovery the pruned net keeps the printed
# validation accuracy, far below the teacher's; the sweep (one run per
# T) only picks the temperature for the comparison below.
#
# One thing to keep in mind when reading this sweep (section 2): T² keeps
# the soft term's gradient on the labels' scale only when the student's
# logits are close to the teacher's. Just after pruning they are far
# apart, the gradient $\frac{\alpha T}{N}(q - p)$ grows with T, and a
# high T acts like a larger learning rate. With the T chosen, three seeds
# on test:

# %%
recover = {"prune + fine-tune": [], "prune + distill": []}
for seed in seeds:
    for name, tuner in (
            ("prune + fine-tune", FineTune(seed=seed, **kw)),
            ("prune + distill", Distill(
                teacher=teacher, config=DistillConfig(T=T_prune, alpha=0.9),
                seed=seed, **kw))):
        recover[name].append(evaluate(recovered(tuner), X_te, y_te)
                             ["accuracy"])
for name, accs in recover.items():
    print(f"{name:18}: {np.mean(accs):.4f} ± {np.std(accs):.4f} (3 seeds)")

# %% [markdown]
# **What to conclude.** Removing three quarters of the neurons costs
# most of the accuracy at once; both recoveries bring much of it back
# within ten epochs. Read the two means with their spreads: distillation
# does not win by itself here. The teacher has almost memorised this
# small training set, so on it its soft targets say little more than the
# labels — the opposite of the large-data regime where prune-then-distill
# is the standard recipe. Exercise 8 gives the student inputs the labels
# do not cover; `minicomp bench distill` measures the comparison with a
# teacher per seed.

# %% [markdown]
# ## 7. What the seed samples get wrong
#
# Each box first runs the seed's sample **as printed** (a line too long
# for this page is wrapped), in a fresh namespace, when the library it
# imports is installed (`pip install "minicomp[seeds]"`, which brings
# PyTorch, for seeds 002 and 004; seed 000 needs TensorFlow, which is
# not an extra of this course); then a **translation** to minicomp, each
# seed line in a comment above the line that translates it, runs on this
# chapter's teacher and students.
#
# > **Seed 000 (section 4.2).** It computes
# > `teacher_output = deep_model.predict(X_train)` and never uses it; sets
# > `shallow_model.trainable = False`; copies the weights of
# > `deep_model.layers[0]`, a pooling layer with no weights, into a Dense
# > layer (Keras raises: a list of 0 weights for a layer that expects
# > 2); then fits the *frozen* student on the hard labels `y_train`.
# > A frozen model's weights do not change: whatever `fit` prints, the
# > "distilled" student is the student it started as.

# %%
def run_literal(code, library):
    """Run a seed's sample as printed if the library it imports is
    installed, in a fresh namespace (returned); otherwise say so."""
    if importlib.util.find_spec(library) is None:
        print(f"{library} is not installed: the literal sample is "
              "skipped; its translation runs below")
        return None
    namespace = {}
    try:
        exec(code, namespace)
        print("the literal sample ran")
    except Exception as e:               # the seeds' samples often fail
        print(f"the literal sample fails: {type(e).__name__}: "
              f"{str(e)[:160]}")
    return namespace


SEED_000 = """
import tensorflow as tf
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense, GlobalAveragePooling2D

deep_model = Sequential([
    GlobalAveragePooling2D(input_shape=(224, 224, 3)),
    Dense(1024, activation='relu'),
    Dense(1024, activation='relu'),
    Dense(10, activation='softmax')
])
shallow_model = Sequential([
    Dense(10, activation='softmax')
])
deep_model.compile(optimizer='adam', loss='categorical_crossentropy',
                   metrics=['accuracy'])
deep_model.fit(X_train, y_train, epochs=10, batch_size=32)
shallow_model.compile(optimizer='adam', loss='categorical_crossentropy',
                      metrics=['accuracy'])
shallow_model.fit(X_train, y_train, epochs=10, batch_size=32)

teacher_output = deep_model.predict(X_train)
shallow_model.trainable = False
shallow_model.layers[0].set_weights(deep_model.layers[0].get_weights())
shallow_model.compile(optimizer='adam', loss='categorical_crossentropy',
                      metrics=['accuracy'])
shallow_model.fit(X_train, y_train, epochs=10, batch_size=32)
"""
ns = run_literal(SEED_000, "tensorflow")

# %% [markdown]
# Where TensorFlow is installed the sample stops at `X_train`, which it
# never defines. The translation (the teacher of section 3.3 is the deep
# model; the shallow model is the seeds' 64-64 MLP):

# %%
# shallow_model.fit(X_train, y_train, epochs=10, batch_size=32)
s0 = student(1)
fit(s0, X_tr, y_tr, **sgd_recipe(s0, 5, 1))
# teacher_output = deep_model.predict(X_train)
teacher_output = predict(teacher, X_tr)           # computed, never used
before = [p.data.copy() for p in s0.parameters()]
# shallow_model.trainable = False
trainable = []                    # the optimizer's list of weights: none
# shallow_model.fit(X_train, y_train, epochs=10, batch_size=32)
for idx in batches(np.arange(len(X_tr)), None, 32, seed=0):
    L = F.cross_entropy(s0(Tensor(X_tr[idx])), y_tr[idx])   # hard labels
    L.backward()
    for w in trainable:                           # an SGD step on no weight
        w.data -= 0.05 * w.grad
same = all(np.array_equal(b, p.data) for b, p in zip(before, s0.parameters()))
print("student unchanged by 'distillation':", same)
# shallow_model.layers[0].set_weights(deep_model.layers[0].get_weights())
try:
    s0.load_state_dict({"0.weight": teacher.layers[0].W.data,
                        "0.bias": teacher.layers[0].b.data}, strict=False)
except ValueError as err:
    print("copying the teacher's layer 0:", err)

# %% [markdown]
# What to conclude: the frozen student's weights are exactly those it
# had before "distillation", and the teacher's first layer does not fit
# into the student's.
#
# > **Seed 002 (section 4.3).** The "distillation" loop reuses `inputs`
# > and `big_outputs` left over from the *last* iteration of the
# > teacher's training loop — one random input — and fits the student to
# > that single pair 100 times with MSE. In PyTorch it does not get that
# > far: `big_outputs` still belongs to the teacher's graph, freed by
# > the teacher's last `backward()`. The sample as printed:

# %%
SEED_002 = """
import torch
import torch.nn as nn
import torch.optim as optim
# 定义一个大模型
class BigNet(nn.Module):
    def __init__(self):
        super(BigNet, self).__init__()
        self.fc1 = nn.Linear(10, 100)
        self.fc2 = nn.Linear(100, 10)
    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return x
# 定义一个小模型
class SmallNet(nn.Module):
    def __init__(self):
        super(SmallNet, self).__init__()
        self.fc1 = nn.Linear(10, 10)
        self.fc2 = nn.Linear(10, 10)
    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return x
# 训练一个大模型和小模型
big_net = BigNet()
small_net = SmallNet()
criterion = nn.MSELoss()
big_optimizer = optim.SGD(big_net.parameters(), lr=0.01)
big_criterion = nn.MSELoss()
small_optimizer = optim.SGD(small_net.parameters(), lr=0.01)
# 训练大模型
for epoch in range(100):
    inputs = torch.randn(1, 10)
    targets = torch.randn(1, 10)
    big_optimizer.zero_grad()
    big_outputs = big_net(inputs)
    big_loss = big_criterion(big_outputs, targets)
    big_loss.backward()
    big_optimizer.step()
# 训练小模型
for epoch in range(100):
    inputs = torch.randn(1, 10)
    targets = torch.randn(1, 10)
    small_optimizer.zero_grad()
    small_outputs = small_net(inputs)
    small_loss = criterion(small_outputs, targets)
    small_loss.backward()
    small_optimizer.step()
# 知识蒸馏过程
for epoch in range(100):
    small_optimizer.zero_grad()
    small_outputs = small_net(inputs)
    small_loss = criterion(small_outputs, big_outputs)
    small_loss.backward()
    small_optimizer.step()
# 评估蒸馏后的模型性能
"""
ns = run_literal(SEED_002, "torch")

# %% [markdown]
# Suppose the graph error were fixed (`big_outputs.detach()`): the loop
# would still fit one random pair. The translation, on this chapter's
# teacher and a 64-64 student — how far is the student from the teacher
# on the one input, and on the validation inputs?

# %%
rng = np.random.default_rng(2)
# inputs = torch.randn(1, 10)  (the last one left by the teacher's loop)
inputs = rng.standard_normal((1, 40)).astype(np.float32)
# big_outputs = big_net(inputs)
big_outputs = predict(teacher, inputs)
s2 = student(1)
gap = lambda n: np.abs(predict(n, X_val) - predict(teacher, X_val)).mean()
gap_before = gap(s2)
# small_optimizer = optim.SGD(small_net.parameters(), lr=0.01)
opt = SGD(s2.parameters(), lr=0.01)
# for epoch in range(100): zero_grad;
#     criterion(small_net(inputs), big_outputs).backward(); step
for epoch in range(100):
    opt.zero_grad()
    F.mse(s2(Tensor(inputs)), big_outputs).backward()
    opt.step()
print(f"|student - teacher| on the one input: "
      f"{np.abs(predict(s2, inputs) - big_outputs).mean():.4f}")
print(f"|student - teacher| on validation inputs: before {gap_before:.3f},"
      f" after {gap(s2):.3f}; a distilled student (5.2): "
      f"{gap(results['soft-label KD'][0]):.3f}")

# %% [markdown]
# What to conclude: the student now matches the teacher on the one input
# and is about as far from it elsewhere as before — compare the three
# printed distances, the last from a student actually distilled.
#
# > **Seed 004 (section 4.3).** "Distillation" is
# > `param_student.data.copy_(param_teacher.data.detach())` for every
# > pair of parameters. With the seed's two identical architectures the
# > student becomes the teacher: the same function, the same size —
# > nothing is compressed. The sample as printed (its last loop header
# > wrapped), then its student and teacher compared on random inputs:

# %%
SEED_004 = """
import torch
import torch.nn.functional as F

# 定义大模型
class Teacher(torch.nn.Module):
    def __init__(self):
        super(Teacher, self).__init__()
        self.fc1 = torch.nn.Linear(10, 10)
        self.fc2 = torch.nn.Linear(10, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x

# 定义小模型
class Student(torch.nn.Module):
    def __init__(self):
        super(Student, self).__init__()
        self.fc1 = torch.nn.Linear(10, 10)
        self.fc2 = torch.nn.Linear(10, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x

# 创建大模型和小模型
teacher = Teacher()
student = Student()

# 训练大模型
# ...

# 知识蒸馏
for param_teacher, param_student in zip(teacher.parameters(),
                                        student.parameters()):
    param_student.data.copy_(param_teacher.data.detach())
"""
ns = run_literal(SEED_004, "torch")
if ns:
    import torch                  # installed: run_literal found it
    x10 = torch.randn(100, 10)
    print("student(x) == teacher(x):",
          bool(torch.equal(ns["student"](x10), ns["teacher"](x10))),
          "| parameters:",
          sum(p.numel() for p in ns["student"].parameters()), "vs",
          sum(p.numel() for p in ns["teacher"].parameters()))

# %% [markdown]
# What to conclude: where it runs, the literal sample's student computes
# exactly the teacher's function with as many parameters — nothing is
# compressed. The translation, and what happens with a student that *is*
# smaller:

# %%
t_same = MLP([40, 64, 64, 10], seed=7)           # teacher = Teacher()
s_same = MLP([40, 64, 64, 10], seed=8)           # student = Student()
# for param_teacher, param_student in zip(teacher.parameters(),
#                                         student.parameters()):
for p_t, p_s in zip(t_same.parameters(), s_same.parameters()):
    # param_student.data.copy_(param_teacher.data.detach())
    p_s.data[...] = p_t.data
print("same outputs:", np.array_equal(predict(s_same, X_te),
                                      predict(t_same, X_te)),
      "| parameters:", s_same.num_parameters(), "vs",
      t_same.num_parameters())
small = MLP([40, 16, 10], seed=8)
try:
    for p_t, p_s in zip(teacher.parameters(), small.parameters()):
        p_s.data[...] = p_t.data
except ValueError as err:
    print("smaller student:", err)

# %% [markdown]
# **What to conclude.** None of the three samples trains a student on
# the teacher's outputs: seed 000 trains nothing, seed 002 crashes and,
# repaired, fits one random point (compare the printed distances to the
# teacher before, after, and for a distilled student), seed 004 copies
# the teacher and compresses nothing. Section 3.3 is the loop they
# meant.

# %% [markdown]
# ## 8. Summary
#
# * Distillation trains a student on the teacher's probabilities at a
#   temperature T, plus the labels:
#   $L = \alpha T^2\,\mathrm{KL}(p_T\|q_T) + (1-\alpha)\,\mathrm{CE}$, with
#   the KL summed over classes and averaged over examples (batchmean).
# * T² keeps the soft term's gradient, $\frac{\alpha T}{N}(q - p)$, on
#   the labels' scale at every T; without it the soft term fades as
#   $1/T^2$.
# * The teacher is frozen (eval mode, no gradient); its logits can be
#   cached when the inputs never change, not with augmentation.
# * Soft labels carry the "dark knowledge" in the non-argmax
#   probabilities; hard labels (the argmax) mostly repeat the labels.
# * Several teachers: average their probabilities, not their logits.
# * Hints guide a hidden layer through a learned projection; prune-then-
#   distill recovers a width-pruned net from the net it was cut from.
# * The seed samples: seed 000 trains a frozen student on hard labels,
#   seed 002 fits one random point, seed 004 copies the weights.
#
# ## Exercises
#
# 1. **Graded:** `release/04_distillation/`, the student copy (made by
#    `minicomp release exercises/ release/`; `exercises/` is the
#    instructor's copy, with the solutions) — the loss with temperature
#    and T², and its gradient with respect to the student's logits, in
#    plain NumPy (`minicomp check release/04_distillation`).
# 2. Remove the T² from `scratch_kd_loss` and repeat the temperature sweep
#    of section 5.1. How does the best T move, and why?
# 3. Replace `kl_div(..., "batchmean")` by an element-wise mean. Which α
#    gives the same training as before? Explain the factor.
# 4. Distil with a *worse* teacher (train it for 3 epochs). Can a student
#    beat its teacher? Compare with Furlanello et al.'s "born-again"
#    networks.
# 5. Train with a random circular shift of up to ±3 positions of every
#    input, new in every epoch: `fit(..., augment=random_shift(3))` (from
#    `minicomp.data`). Why does `fit` refuse cached teacher logits then,
#    and what does `distill` do instead? Does the augmented student gain
#    more from the teacher than from the labels alone (three seeds)?
# 6. Distil the three teachers of section 6.1 once with averaged
#    probabilities and once with averaged logits (at T = 1 and T = 4),
#    three seeds each. When do the two differ?
# 7. Prune 90 % of the teacher's neurons instead of 75 %. Does the
#    difference between distillation and fine-tuning grow beyond the
#    spread over three seeds?
# 8. Distil the pruned net of section 6.3 on *more inputs* than the
#    labelled ones: new MNIST-1D examples (`load_mnist1d(num_samples=...,
#    seed=...)` with another seed), labelled by the teacher only
#    (`alpha=1.0`). How much does a transfer set without labels add
#    (three seeds)?
