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
# # Chapter 0 — Foundations
#
# *Loss functions, gradient descent, an autograd engine and the baseline
# network that every later chapter compresses.*

# %% [markdown]
# ## 1. Introduction
#
# **minicomp** is model compression from scratch, in NumPy: a small library
# and a course. The library starts with a tiny automatic-differentiation
# engine and, on top of it, one short, readable file per compression
# technique. Each chapter of the course first builds a technique by hand
# and then calls the library, and checks that the two agree.
#
# This chapter builds the ground everything else stands on:
#
# 1. **loss functions** — the number that training makes small
#    (mean squared error, cross-entropy, KL divergence);
# 2. **gradient descent and SGD** — how the parameters move, and what the
#    "stochastic" in SGD really is;
# 3. **an autograd engine** — how the gradients are computed, first for
#    scalars, then for arrays, then with `minicomp.Tensor`;
# 4. **the baseline MLP** — the network of seed 000 (two hidden layers of
#    64 units), trained on handwritten digits.
#
# The later chapters take this baseline apart:
#
# * **pruning** puts a 0/1 mask on the weights and retrains with the same
#   `fit` loop; the optimizer must keep pruned weights at zero;
# * **quantization** rounds weights to a few bits; quantization-aware
#   training needs a custom gradient (the straight-through estimator),
#   which only makes sense once you have written a backward pass yourself;
# * **distillation** trains a small student on the softened outputs of a
#   teacher with the KL divergence of section 2;
# * **structure search** trains many small variants of the baseline and
#   compares accuracy against size;
# * **ensembles** combine several trained baselines.
#
# Every section follows the same order: the idea, the math, code from
# scratch, the same thing with the library (asserted equal), a short
# summary. Exercises for the whole chapter are at the end.

# %% [markdown]
# > **Glossary.** The seed documents are in Chinese. The terms used here:
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 损失函数 | loss function | 2 |
# > | 均方误差 | mean squared error (MSE) | 2 |
# > | 交叉熵 | cross-entropy | 2 |
# > | 梯度下降 | gradient descent | 3 |
# > | 随机梯度下降 | stochastic gradient descent (SGD) | 3 |
# > | 学习率 | learning rate | 3 |
# > | 模型参数 | model parameters | 3, 5 |
# > | 反向传播 | backpropagation | 4 |
# > | 批量大小 | batch size $B$ | 3, 5 |
# > | 泛化 | generalization (accuracy on unseen data) | 5 |
# > | 过拟合 | overfitting | 5 |
# >
# > The full table, for all chapters, is in `chapters/glossary.md`.

# %% [markdown]
# Everything below runs top to bottom. Every random number comes from a
# seeded `numpy.random.Generator`, so each run prints the same numbers.

# %%
import math
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

import minicomp
from minicomp import (F, MLP, Sequential, Tensor, evaluate, fit, no_grad,
                      predict)
from minicomp.data import load_digits
from minicomp.nn import Dense
from minicomp.optim import SGD, CosineLR
from minicomp.train import BaselineConfig, TrainingDiverged, train_baseline

np.set_printoptions(precision=4, suppress=True)
try:                       # small matrices: one BLAS thread is faster, and
    from threadpoolctl import threadpool_limits     # fair on a shared CPU
    threadpool_limits(limits=1, user_api="blas")
except ImportError:
    pass
print("minicomp", minicomp.__version__, "| numpy", np.__version__)


# %% [markdown]
# ## 2. Loss functions
#
# **Idea.** A loss function (损失函数) turns "how wrong is the model on
# these examples" into a single number. Training means changing the
# parameters to make that number small, so the loss decides what the
# model learns. We need two: the **mean squared error** (均方误差) for
# regression — seed 003's sample uses it — and the **cross-entropy**
# (交叉熵) for classification — seed 000's Keras model uses it.

# %% [markdown]
# **Math.** For predictions $\hat y$ and targets $y$ with $M$ elements in
# all, the mean squared error is
#
# $$\mathrm{MSE}(\hat y, y) = \frac1M \sum_{k=1}^{M} (\hat y_k - y_k)^2 .$$
#
# A classifier outputs one raw score (*logit*) per class, $z \in
# \mathbb R^C$. The softmax turns logits into probabilities, and the
# cross-entropy of $N$ examples with labels $y_n$ is the mean negative
# log-probability of the right class:
#
# $$\mathrm{softmax}(z)_c = \frac{e^{z_c}}{\sum_{j} e^{z_j}}, \qquad
# \mathrm{CE} = -\frac1N \sum_{n=1}^{N} \log \mathrm{softmax}(z_n)_{y_n} .$$
#
# **From scratch**, straight from the formulas:

# %%
def mse_scratch(y_hat, y):
    return np.mean((y_hat - y) ** 2)


def cross_entropy_naive(Z, y):
    # Z: (N, C) logits, y: (N,) integer labels
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)   # (N, C)
    return -np.mean(np.log(P[np.arange(len(y)), y]))        # (N,) -> ()


rng = np.random.default_rng(0)
y_hat = rng.normal(size=(5, 3))
y = rng.normal(size=(5, 3))
Z = rng.normal(size=(4, 3))                  # 4 examples, 3 classes
labels = np.array([0, 2, 1, 2])
print("MSE          :", mse_scratch(y_hat, y))
print("cross-entropy:", cross_entropy_naive(Z, labels))

# %% [markdown]
# **With the library.** `minicomp.functional` (imported as `F`) has the
# same losses. They take `Tensor`s (or arrays) and return a `Tensor`
# whose gradient we will need later; `.item()` gives the number.

# %%
np.testing.assert_allclose(F.mse(y_hat, y).item(),
                           mse_scratch(y_hat, y), rtol=1e-12)
np.testing.assert_allclose(F.cross_entropy(Z, labels).item(),
                           cross_entropy_naive(Z, labels), rtol=1e-12)
print("library == scratch for MSE and cross-entropy")

# %% [markdown]
# ### Why log-softmax goes through log-sum-exp
#
# The naive formula computes $e^{z}$ first, and $e^{z}$ overflows to
# `inf` as soon as $z$ exceeds the log of the largest representable
# number — printed below for float64 and for float32, the type we train
# in. Logits that large are rare but not impossible: a confident
# network, a high learning rate, a bug. Watch the naive formula on the
# logits $[1000, 0]$ (we silence NumPy's overflow warnings; they say the
# same as the output):

# %%
z = np.array([1000.0, 0.0])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = np.log(np.exp(z) / np.exp(z).sum())
print("naive log-softmax:", naive)
print("exp overflows above:",
      "float64", np.log(np.finfo(np.float64).max),
      "| float32", np.log(np.finfo(np.float32).max))


# %% [markdown]
# `inf / inf` is `nan` and `log(0 / inf)` is `-inf`: both entries are
# wrong. The cure is one line of algebra. Multiply the numerator and the
# denominator of the softmax by $e^{-m}$ with $m = \max_j z_j$:
#
# $$\log \mathrm{softmax}(z)_i = z_i - m - \log \sum_j e^{z_j - m}
# \qquad (\text{log-sum-exp}).$$
#
# Now the largest exponent is $e^0 = 1$: nothing overflows, and the sum
# is at least 1, so its log is never $-\infty$.

# %%
def log_softmax_scratch(Z):
    m = Z.max(axis=-1, keepdims=True)                       # (N, 1)
    return Z - m - np.log(np.exp(Z - m).sum(axis=-1, keepdims=True))


def cross_entropy_scratch(Z, y):
    logp = log_softmax_scratch(Z)                           # (N, C)
    return -logp[np.arange(len(y)), y].mean()


print("stable log-softmax :", log_softmax_scratch(z))
print("library log_softmax:", F.log_softmax(z).data)
np.testing.assert_allclose(F.log_softmax(z).data, log_softmax_scratch(z))

Z_big = 1000 * Z                             # huge logits, same labels
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    print("naive CE on huge logits :", cross_entropy_naive(Z_big, labels))
print("stable CE on huge logits:", cross_entropy_scratch(Z_big, labels))
np.testing.assert_allclose(F.cross_entropy(Z_big, labels).item(),
                           cross_entropy_scratch(Z_big, labels))
np.testing.assert_allclose(cross_entropy_scratch(Z, labels),
                           cross_entropy_naive(Z, labels), rtol=1e-12)

# %% [markdown]
# ### KL divergence
#
# Distillation (a later chapter) compares two *distributions*: the
# teacher's $p$ and the student's $q$. The Kullback–Leibler divergence,
# averaged over the $N$ examples of a batch ("batchmean"), is
#
# $$\mathrm{KL}(p\,\|\,q) = \frac1N \sum_n \sum_c p_{nc}
# \left(\log p_{nc} - \log q_{nc}\right).$$
#
# `F.kl_div(log_q, p)` takes the *log* of $q$ (like PyTorch). Dividing by
# $N \cdot C$ instead ("mean") is not the KL divergence:

# %%
rng = np.random.default_rng(1)
P = F.softmax(rng.normal(size=(4, 3))).data                 # teacher (N, C)
log_Q = F.log_softmax(rng.normal(size=(4, 3))).data         # student (N, C)
kl_scratch = (P * (np.log(P) - log_Q)).sum() / len(P)
kl_lib = F.kl_div(log_Q, P).item()                          # batchmean
np.testing.assert_allclose(kl_lib, kl_scratch, rtol=1e-12)
print("KL(p || q), batchmean :", kl_lib)
print("reduction='mean' (/NC):", F.kl_div(log_Q, P, reduction="mean").item())
print("KL(p || p)            :", F.kl_div(np.log(P), P).item())

# %% [markdown]
# **Summary.** MSE and cross-entropy are one line each; the only subtlety
# is numerical: compute log-softmax as $z - \mathrm{logsumexp}(z)$, never
# as `log(softmax(z))`. The library's losses equal the scratch versions.

# %% [markdown]
# ## 3. Gradient descent and SGD
#
# **Idea.** The gradient $\nabla J(\theta)$ points in the direction in
# which the loss grows fastest. Gradient descent (梯度下降) takes a small
# step the other way, again and again. Seed 003 writes it exactly:
#
# $$\theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t),$$
#
# with model parameters (模型参数) $\theta$, step $t$ and learning rate
# (学习率) $\alpha$ — `lr` in code.
#
# **Math.** Take linear regression: examples $x_n \in \mathbb R^D$,
# targets $y_n$, parameters $\theta = (w, b)$, prediction
# $\hat y_n = x_n \cdot w + b$ and loss
#
# $$J(\theta) = \frac1N \sum_{n=1}^N \ell_n(\theta), \qquad
# \ell_n = (x_n\cdot w + b - y_n)^2, \qquad
# \nabla \ell_n = 2\,(x_n\cdot w + b - y_n)\,(x_n, 1).$$
#
# The full gradient $\nabla J$ is the **mean of the per-example
# gradients** — keep that in mind for SGD.

# %%
rng = np.random.default_rng(2)
N, D = 1000, 4
X = rng.normal(size=(N, D))
w_true, b_true = np.array([2.0, -1.0, 0.5, 3.0]), 1.0
y = X @ w_true + b_true + 0.5 * rng.normal(size=N)       # noisy targets


def J(theta, X, y):
    w, b = theta[:-1], theta[-1]
    return np.mean((X @ w + b - y) ** 2)


def per_example_grads(theta, X, y):
    # row n is the gradient of l_n with respect to theta = (w, b)
    w, b = theta[:-1], theta[-1]
    r = X @ w + b - y                                     # (N,)
    X1 = np.hstack([X, np.ones((len(X), 1))])             # (N, D + 1)
    return 2 * r[:, None] * X1                            # (N, D + 1)


def grad_J(theta, X, y):
    return per_example_grads(theta, X, y).mean(axis=0)    # (D + 1,)


# the exact minimiser, for reference: least squares on [X, 1]
X1 = np.hstack([X, np.ones((N, 1))])                      # (N, D + 1)
theta_star = np.linalg.lstsq(X1, y, rcond=None)[0]        # (D + 1,)
J_star = J(theta_star, X, y)
print("theta* =", theta_star, "  J(theta*) =", round(J_star, 4))

# %% [markdown]
# **From scratch**: gradient descent is three lines.

# %%
lr, num_epochs = 0.1, 50
theta = np.zeros(D + 1)
gd_losses = [J(theta, X, y)]
for epoch in range(num_epochs):
    theta = theta - lr * grad_J(theta, X, y)       # seed 003's formula
    gd_losses.append(J(theta, X, y))
print("after", num_epochs, "steps: J =", round(gd_losses[-1], 6),
      "| J(theta*) =", round(J_star, 6))
print("|theta - theta*| =", np.linalg.norm(theta - theta_star))

# %% [markdown]
# **With the library.** A `Dense(D, 1)` layer computes $x W^\top + b$,
# `F.mse` is $J$, the engine of section 4 computes the gradient and
# `minicomp.optim.SGD` applies $\theta \leftarrow \theta - \alpha g$. On
# the full data set every step, this is the same gradient descent — in
# float32, so we compare to a float32 tolerance:

# %%
net = Dense(D, 1, seed=0)
net.W.data[...] = 0                        # start where the scratch run did
net.b.data[...] = 0
optimizer = SGD(net.parameters(), lr=lr)
X_t, y_col = Tensor(X.astype(np.float32)), y[:, None].astype(np.float32)
for epoch in range(num_epochs):
    y_hat = net(X_t)                                       # (N, 1)
    L = F.mse(y_hat, y_col)
    optimizer.zero_grad()
    L.backward()
    optimizer.step()
theta_lib = np.concatenate([net.W.data.ravel(), net.b.data])
np.testing.assert_allclose(theta_lib, theta, atol=1e-4)
print("library GD:", theta_lib)
print("scratch GD:", theta)

# %% [markdown]
# ### What the "S" in SGD is
#
# Seed 003 then gives stochastic gradient descent (随机梯度下降) as
#
# $$\theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t) \times s_t,
# \qquad \text{"where } s_t \text{ is the random vector of SGD".}$$
#
# **That is not SGD.** The randomness of SGD is not a random vector
# multiplying the gradient; it is the random choice of *which examples*
# the gradient is computed on. At step $t$, draw a minibatch $B_t$ of $B$
# examples at random and use the mean of *their* gradients:
#
# $$\theta_{t+1} = \theta_t - \alpha\, g_t, \qquad
# g_t = \frac1B \sum_{n \in B_t} \nabla \ell_n(\theta_t).$$
#
# Every example is in $B_t$ with probability $B/N$, so
# $\mathbb E[g_t] = \frac1B \sum_n \frac BN \nabla\ell_n = \nabla
# J(\theta_t)$: the minibatch gradient is an **unbiased** estimate of the
# full gradient, at a cost of $B$ examples instead of $N$. Its noise
# shrinks with $B$: for a minibatch drawn without replacement,
#
# $$\mathbb E\,\lVert g_t - \nabla J\rVert^2 = \frac{\sigma^2}{B}\cdot
# \frac{N-B}{N-1}, \qquad
# \sigma^2 = \frac1N \sum_n \lVert \nabla\ell_n - \nabla J\rVert^2 .$$
#
# Let us check both claims by a run, at a fixed point $\theta_0 = 0$.
# First, averaging $k$ minibatch gradients should approach $\nabla J$
# with an error that falls like $1/\sqrt k$.

# %%
theta0 = np.zeros(D + 1)
G = per_example_grads(theta0, X, y)                # (N, D + 1)
g_full = G.mean(axis=0)                            # (D + 1,)
sigma2 = np.mean(np.sum((G - g_full) ** 2, axis=1))


def minibatch_grads(G, B, K, rng):
    # K minibatch gradients, each the mean of B rows drawn without
    # replacement (each row of `orders` is a fresh shuffle of 0..N-1)
    orders = rng.permuted(np.tile(np.arange(len(G)), (K, 1)), axis=1)
    return G[orders[:, :B]].mean(axis=1)           # (K, B, D+1) -> (K, D+1)


rng = np.random.default_rng(3)
B, K = 32, 4000
g = minibatch_grads(G, B, K, rng)                  # (K, D + 1)
running_mean = np.cumsum(g, axis=0) / np.arange(1, K + 1)[:, None]
rel_err = np.linalg.norm(running_mean - g_full, axis=1) / np.linalg.norm(
    g_full)
var_B = sigma2 / B * (N - B) / (N - 1)             # theory, see above
k = np.arange(1, K + 1)
rel_theory = np.sqrt(var_B / k) / np.linalg.norm(g_full)  # expected size
print("    k   relative error of the mean   theory")
for kk in (1, 10, 100, 1000, K):
    print(f"{kk:5d}   {rel_err[kk - 1]:26.4f}   {rel_theory[kk - 1]:.4f}")

# %% [markdown]
# Second, the variance of one minibatch gradient, measured over many
# draws for each batch size, against $\sigma^2/B$ and against the exact
# formula with the finite-population factor $(N-B)/(N-1)$:

# %%
rng = np.random.default_rng(4)
batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
measured = []
for b in batch_sizes:
    gb = minibatch_grads(G, b, 2000, rng)                  # (2000, D + 1)
    measured.append(np.mean(np.sum((gb - g_full) ** 2, axis=1)))
measured = np.array(measured)
bs = np.array(batch_sizes)
exact = sigma2 / bs * (N - bs) / (N - 1)
print("   B   measured   sigma^2/B   exact")
for b, m, e in zip(batch_sizes, measured, exact):
    print(f"{b:4d}  {m:9.4f}  {sigma2 / b:9.4f}  {e:9.4f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.loglog(k, rel_err, label="mean of k minibatch gradients")
ax1.loglog(k, rel_theory, "k--",
           label=r"theory $\sqrt{\mathrm{Var}_B / k}\,/\,\|\nabla J\|$")
ax1.set(xlabel="number of minibatches k", ylabel="relative error",
        title=f"Unbiased: the mean converges to the full gradient (B={B})")
ax1.legend()
ax2.loglog(bs, measured, "o", label="measured")
ax2.loglog(bs, sigma2 / bs, "k--", label=r"$\sigma^2/B$")
ax2.loglog(bs, exact, "r:", label=r"$\sigma^2/B \cdot (N-B)/(N-1)$")
ax2.set(xlabel="batch size B", ylabel=r"E$\|g - \nabla J\|^2$",
        title="The noise shrinks like 1/B")
ax2.legend()
fig.tight_layout()

# %% [markdown]
# The left panel follows the $1/\sqrt k$ line: no systematic error is left
# over, which is what *unbiased* means. In the right panel the measured
# variance sits on the exact curve; it bends below $\sigma^2/B$ only when
# the batch becomes a sizeable part of the data set (a batch of all $N$
# examples has no noise at all).
#
# Now the seed's formula. Take $s_t$ with independent $U(0, 1)$ entries,
# the most natural reading of "a random vector". Then
# $\mathbb E[\nabla J \times s_t] = \tfrac12 \nabla J$. Measured:

# %%
rng = np.random.default_rng(5)
s = rng.uniform(size=(K, D + 1))                 # K draws of s_t
g_seed = g_full * s                              # (K, D + 1)
print("mean of grad * s_t, divided by grad:", g_seed.mean(axis=0) / g_full)


# %% [markdown]
# Each coordinate of the mean is about one half of the full gradient (the
# ratios printed above). So the seed's update is a *biased*, randomly
# rescaled full-gradient step: in expectation it is gradient descent with
# half the learning rate, and every step still needs the gradient over
# all $N$ examples — it saves no work at all. Minibatch SGD is the
# opposite: unbiased, and each step costs only $B$ examples.
#
# **From scratch and with the library.** Minibatch SGD reshuffles the
# data every epoch and walks through it in batches. `minicomp.fit` does
# exactly this, with a seeded generator; the loop below reproduces its
# minibatches, so the final parameters agree.

# %%
def sgd_scratch(X, y, lr, num_epochs, batch_size, seed):
    rng = np.random.default_rng(seed)
    theta = np.zeros(X.shape[1] + 1)
    losses = [J(theta, X, y)]
    for epoch in range(num_epochs):
        order = rng.permutation(len(X))            # a fresh shuffle
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]  # (B,)
            theta = theta - lr * grad_J(theta, X[idx], y[idx])
            losses.append(J(theta, X, y))
    return theta, np.array(losses)


lr, num_epochs, batch_size = 0.05, 10, 32
theta_sgd, sgd_losses = sgd_scratch(X, y, lr, num_epochs, batch_size, seed=0)

net = Dense(D, 1, seed=0)
net.W.data[...] = 0
net.b.data[...] = 0
history = fit(net, X.astype(np.float32), y[:, None].astype(np.float32),
              loss="mse", lr=lr, epochs=num_epochs, batch_size=batch_size,
              seed=0, quiet=True)
theta_fit = np.concatenate([net.W.data.ravel(), net.b.data])
np.testing.assert_allclose(theta_fit, theta_sgd, atol=1e-3)
print("scratch SGD:", theta_sgd)
print("minicomp.fit:", theta_fit)


# %% [markdown]
# Finally, the three methods on the same problem with the same learning
# rate. The horizontal axis counts *epochs*: passes over the data, i.e.
# the work done. Full-batch GD and the seed's $s_t$ variant take one step
# per epoch; minibatch SGD takes $N/B$ steps per epoch. The vertical axis
# is the excess loss $J(\theta) - J(\theta^*)$.

# %%
def gd_run(lr, num_epochs, draw=None, X=X, y=y):
    # full-batch GD; with draw (e.g. rng.uniform), the seed's "gradient
    # times s_t". X, y default to this section's data: later sections
    # reuse the names.
    theta, losses = np.zeros(D + 1), [J(np.zeros(D + 1), X, y)]
    for epoch in range(num_epochs):
        step = grad_J(theta, X, y)
        if draw is not None:
            step = step * draw(size=step.shape)        # times s_t
        theta = theta - lr * step
        losses.append(J(theta, X, y))
    return np.array(losses)


gd_curve = gd_run(lr, num_epochs)
seed_curve = gd_run(lr, num_epochs, draw=np.random.default_rng(6).uniform)
sizes = [min(batch_size, N - s) for s in range(0, N, batch_size)]
sgd_x = np.cumsum([0] + sizes * num_epochs) / N          # steps -> epochs

fig, ax = plt.subplots(figsize=(7, 4))
ax.semilogy(sgd_x, sgd_losses - J_star, lw=1,
            label=f"minibatch SGD (B={batch_size})")
ax.semilogy(gd_curve - J_star, "o-", label="full-batch GD")
ax.semilogy(seed_curve - J_star, "s--",
            label=r"seed 003: $\nabla J \times s_t$")
ax.set(xlabel="epochs (passes over the data)",
       ylabel=r"$J(\theta) - J(\theta^*)$",
       title=f"Excess loss for the same work (lr = {lr}, one run)")
ax.legend()
fig.tight_layout()
for name, c in [("GD", gd_curve), ("seed s_t", seed_curve),
                ("SGD", sgd_losses)]:
    print(f"{name:9s} excess loss after {num_epochs} epochs: "
          f"{c[-1] - J_star:.2e}")
print("seed's variant behind GD after every epoch (one run):",
      bool(np.all(seed_curve[1:] > gd_curve[1:])))


# %% [markdown]
# For the same amount of work, minibatch SGD is orders of magnitude
# ahead in this run, because it takes many cheap steps per pass; then it
# jitters at a noise floor set by the minibatch variance and the learning
# rate (decaying the learning rate, as the baseline recipe of section 5
# does, lowers that floor). GD descends smoothly but makes one step per pass —
# it could afford a larger learning rate than SGD, but never more steps.
# The seed's variant is GD with a random, on average halved step: in this
# run it is behind GD after every epoch (the last line printed).
#
# **Summary.** $\theta \leftarrow \theta - \alpha\nabla J$ is all of
# gradient descent. SGD replaces $\nabla J$ by the gradient of a random
# minibatch — an unbiased estimate whose variance falls like $1/B$ — not
# by $\nabla J$ times a random vector.

# %% [markdown]
# ## 4. An autograd engine, step by step
#
# **Idea.** We wrote $\nabla J$ by hand for linear regression. For a
# network with many layers that is error-prone, so we let the computer do
# it. Backpropagation (反向传播) is the chain rule applied to the graph of
# operations that produced the loss: each operation knows its *local*
# derivative, and the gradients flow backwards from the loss to every
# input, one edge at a time.
#
# **Math.** If $L$ depends on $v$ only through $u = f(v)$, then
# $\frac{\partial L}{\partial v} = \frac{\partial L}{\partial u}\,
# f'(v)$. If $v$ is used by several operations, their contributions
# **add up**. So each node stores `grad` $= \partial L/\partial
# (\text{node})$, and each operation, given its output's `grad`, adds
# into its inputs' `grad`. To run the operations backwards we visit the
# nodes in reverse topological order (every node after all the nodes
# that use it).
#
# ### (a) Scalars
#
# A `Value` holds a number, its gradient, its parents and a `_backward`
# closure that pushes the gradient to the parents (the design of
# Karpathy's micrograd). Subtraction and negation are built from `+` and
# `*`, so they need no backward code of their own.

# %%
class Value:
    # a scalar that remembers how it was computed

    def __init__(self, data, _prev=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev              # the Values this one was made from
        self._op = _op
        self._backward = lambda: None   # adds into the parents' grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():                # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                # d(a b)/da = b, d(a b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():                # d tanh(a)/da = 1 - tanh(a)^2
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward():                # 1 where a > 0, else 0
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    # composed: no backward code
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def backward(self):
        order, seen = [], set()

        def visit(v):                   # post-order DFS: parents first
            if v not in seen:
                seen.add(v)
                for p in v._prev:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0                 # dL/dL
        for v in reversed(order):       # outputs before inputs
            v._backward()

    def __repr__(self):
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"


# %% [markdown]
# A hand-worked example in which `a` is used twice, so its two
# contributions must add up. The arithmetic is in the comments.

# %%
a, b, c = Value(2.0), Value(-3.0), Value(10.0)
d = a * b                  # d = -6
e = d + c                  # e = 4
f = e.relu()               # f = 4 (e > 0, so relu passes it)
L = f * a                  # L = 8
L.backward()
# dL/df = a = 2;  dL/de = dL/df * 1 = 2;  dL/dd = 2;  dL/dc = 2
# dL/db = dL/dd * a = 2 * 2 = 4
# dL/da = dL/dd * b + dL/dL * f = 2 * (-3) + 4 = -2   (two uses of a)
print("L =", L.data, "| grads a, b, c:", a.grad, b.grad, c.grad)
assert (L.data, a.grad, b.grad, c.grad) == (8.0, -2.0, 4.0, 2.0)


def show(v, depth=0):
    # print the graph below v, one node per line
    label = v._op or "input"
    print("    " * depth + f"{label:5s} data={v.data:g}  grad={v.grad:g}")
    for p in v._prev:
        show(p, depth + 1)


show(L)


# %% [markdown]
# The printed graph is the picture to keep in mind: the loss on top, the
# inputs at the leaves (`a` appears twice), each node holding its value
# and $\partial L/\partial(\text{node})$.
#
# Hand-worked answers can be wrong too, so the standard test of any
# backward pass is **finite differences**:
# $\partial f/\partial x \approx (f(x+\epsilon) - f(x-\epsilon))/(2
# \epsilon)$, whose error is $O(\epsilon^2)$. Here on one tanh neuron:

# %%
def neuron(x1, x2, w1, w2, b):
    return (x1 * w1 + x2 * w2 + b).tanh()


point = dict(x1=2.0, x2=-1.0, w1=-0.5, w2=0.8, b=1.5)
leaves = {name: Value(v) for name, v in point.items()}
neuron(**leaves).backward()

def f(values):                          # the neuron's output, as a float
    return neuron(**{k: Value(v) for k, v in values.items()}).data


eps = 1e-6
for name in point:
    up = {k: v + eps * (k == name) for k, v in point.items()}
    down = {k: v - eps * (k == name) for k, v in point.items()}
    numeric = (f(up) - f(down)) / (2 * eps)
    print(f"{name}: backprop {leaves[name].grad:+.8f}"
          f"   finite difference {numeric:+.8f}")
    assert abs(leaves[name].grad - numeric) < 1e-6


# %% [markdown]
# ### (b) Arrays
#
# A network works on arrays, and two new things appear.
#
# **Broadcasting.** In $Z = XW^\top + b$, the bias $b$ of shape `(out,)`
# is added to every one of the $N$ rows: NumPy *broadcasts* it to
# `(N, out)`. Broadcasting is reuse, and reuse means the gradients add
# up (like `a` above): the gradient of $b$ is the upstream gradient
# **summed over the broadcast axes**. In general: sum over the leading
# axes that broadcasting added, and over every axis where the operand had
# size 1 but the result does not. That is `unbroadcast`.

# %%
def unbroadcast_scratch(grad, shape):
    # sum `grad` back to `shape` (the shape before broadcasting)
    while grad.ndim > len(shape):                 # added leading axes
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):              # stretched size-1 axes
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


rng = np.random.default_rng(7)
A = rng.normal(size=(3, 1))
B = rng.normal(size=(4,))
G = rng.normal(size=(3, 4))      # upstream dL/dC for C = A + B, (3, 4)
# C[i, j] = A[i, 0] + B[j]: each A[i, 0] is used 4 times, each B[j] 3
dA = unbroadcast_scratch(G, A.shape)              # (3, 4) -> (3, 1)
dB = unbroadcast_scratch(G, B.shape)              # (3, 4) -> (4,)
np.testing.assert_allclose(dA, G.sum(axis=1, keepdims=True))
np.testing.assert_allclose(dB, G.sum(axis=0))

A_t, B_t = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
(A_t + B_t).backward(G)          # backward with an explicit upstream grad
np.testing.assert_allclose(A_t.grad, dA)
np.testing.assert_allclose(B_t.grad, dB)
np.testing.assert_allclose(minicomp.tensor.unbroadcast(G, B.shape), dB)
print("dA =", dA.ravel(), "\ndB =", dB)

# %% [markdown]
# **Matrix product.** For $C = AB$ with $A$ of shape $(n, k)$, $B$ of
# shape $(k, m)$ and upstream gradient $G = \partial L / \partial C$ of
# shape $(n, m)$: since $C_{ij} = \sum_p A_{ip} B_{pj}$,
#
# $$\frac{\partial L}{\partial A_{ip}} = \sum_j G_{ij} B_{pj}
# \;\Rightarrow\; \frac{\partial L}{\partial A} = G B^\top
# \;\;(n, m)(m, k) \to (n, k), \qquad
# \frac{\partial L}{\partial B} = A^\top G
# \;\;(k, n)(n, m) \to (k, m).$$
#
# A useful check: the shapes leave only one way to write each product.
#
# Now a small layer, $\hat y = \mathrm{relu}(X W^\top + b)$ with loss
# $L = \mathrm{mean}(\hat y^2)$, differentiated by hand in NumPy — this is
# the array version of the scratch engine — and then by `minicomp.Tensor`,
# which has the same design as `Value` (data, grad, parents, `_backward`
# closures) on arrays:

# %%
rng = np.random.default_rng(8)
X = rng.normal(size=(5, 3))                       # (N, in)
W = rng.normal(size=(2, 3))                       # (out, in)
b = rng.normal(size=(2,))                         # (out,)

# forward, by hand
Z = X @ W.T + b                                   # (N, out)
y_hat = np.maximum(Z, 0)                          # (N, out)
L = np.mean(y_hat ** 2)
# backward, by hand, in reverse order
d_y_hat = 2 * y_hat / y_hat.size                  # (N, out)
dZ = d_y_hat * (Z > 0)                            # relu passes where Z > 0
dW = dZ.T @ X                                     # (out, N) @ (N, in)
db = unbroadcast_scratch(dZ, b.shape)             # (N, out) -> (out,)
dX = dZ @ W                                       # (N, out) @ (out, in)

# the same with minicomp.Tensor (float64 arrays stay float64)
X_t = Tensor(X, requires_grad=True)
W_t = Tensor(W, requires_grad=True)
b_t = Tensor(b, requires_grad=True)
L_t = ((X_t @ W_t.T + b_t).relu() ** 2).mean()
L_t.backward()
np.testing.assert_allclose(L_t.item(), L)
for name, mine, lib in [("X", dX, X_t.grad), ("W", dW, W_t.grad),
                        ("b", db, b_t.grad)]:
    np.testing.assert_allclose(lib, mine, rtol=1e-12, atol=1e-15)
    print(f"d L / d {name}: hand == Tensor, shape {lib.shape}")

# %% [markdown]
# **With the library**, and the scalar example once more: `Tensor` on
# 0-d arrays gives the same gradients as our `Value`.

# %%
a, b, c = (Tensor(np.float64(v), requires_grad=True)
           for v in (2.0, -3.0, 10.0))
L = (a * b + c).relu() * a
L.backward()
a_s, b_s, c_s = Value(2.0), Value(-3.0), Value(10.0)
((a_s * b_s + c_s).relu() * a_s).backward()
assert (a.grad, b.grad, c.grad) == (a_s.grad, b_s.grad, c_s.grad)
print("Tensor grads:", float(a.grad), float(b.grad), float(c.grad))

# %% [markdown]
# `minicomp.gradcheck(fn, *inputs)` runs the finite-difference test on
# every element of every input, in float64. Here on a composite: the
# cross-entropy of a small linear layer (a one-layer classifier):

# %%
rng = np.random.default_rng(9)
X = rng.normal(size=(6, 4))
W = rng.normal(size=(3, 4))
b = rng.normal(size=(3,))
y = np.array([0, 1, 2, 2, 1, 0])
ok = minicomp.gradcheck(
    lambda X, W, b: F.cross_entropy(X @ W.T + b, y), X, W, b)
print("gradcheck(cross_entropy(X @ W.T + b)):", ok)

# %% [markdown]
# The library implements about a dozen primitive operations with a
# backward closure each; everything else (`a - b`, `a / b`, softmax,
# cross-entropy, ...) is composed of them and needs no backward code. One
# exception, for speed: `F.linear(x, W, b)` is a *fused* primitive for
# $xW^\top + b$ (one graph node instead of three per dense layer). A
# fused op must equal its composite, in value and in gradient:

# %%
rng = np.random.default_rng(10)
X, W, b = (rng.normal(size=s) for s in [(5, 4), (3, 4), (3,)])
G = rng.normal(size=(5, 3))                        # upstream gradient
results = {}
for name, op in [("fused", lambda X, W, b: F.linear(X, W, b)),
                 ("composite", lambda X, W, b: X @ W.T + b)]:
    leaves = [Tensor(v, requires_grad=True) for v in (X, W, b)]
    out = op(*leaves)                              # (5, 3)
    out.backward(G)
    results[name] = [out.data] + [t.grad for t in leaves]
for what, f, c in zip(["value", "dX", "dW", "db"], *results.values()):
    np.testing.assert_allclose(f, c, rtol=1e-12)
    print(f"{what:5s}: fused == composite, max |diff| = "
          f"{np.abs(f - c).max():.1e}")

# %% [markdown]
# Two tools to switch the graph off. Inside `with no_grad():` no graph is
# recorded — for evaluation and for the optimizer's own updates.
# `t.detach()` gives the same values cut from the graph — e.g. a
# teacher's outputs in distillation, which must not receive gradients.

# %%
W_t = Tensor(np.ones((2, 2)), requires_grad=True)
with no_grad():
    out = W_t * 2
print("under no_grad: requires_grad =", out.requires_grad)
d = W_t.detach()
print("detach: requires_grad =", d.requires_grad,
      "| shares memory:", np.shares_memory(d.data, W_t.data))

# %% [markdown]
# **Summary.** Backpropagation = local derivatives + the chain rule,
# visited in reverse topological order, with `+=` because reuse adds up.
# On arrays, broadcasting is reuse (sum the gradient back with
# `unbroadcast`) and a matmul's backward is two matmuls fixed by the
# shapes. `minicomp.Tensor` is this engine; finite differences are how
# we trust it.

# %% [markdown]
# ## 5. The baseline MLP
#
# **Idea.** Seed 000's Keras model is `Dense(64, relu) → Dense(64, relu)
# → Dense(10, softmax)` on 784-pixel MNIST images. Our embedded data set
# is scikit-learn's 8×8 handwritten digits (64 pixels, bundled, nothing
# to download), so the same shape becomes `MLP([64, 64, 64, 10])`: 64
# inputs, two hidden layers of 64, ten outputs. This network is the
# baseline every later chapter compresses.

# %% [markdown]
# **Three splits.** The data come in three parts, made once by a seeded,
# stratified split (every class in the same proportion in each part):
#
# * the **training** set fits the weights;
# * the **validation** set, carved out of the training part, makes every
#   *choice* — when to stop, which learning rate, which threshold in a
#   later chapter. Choosing on the test set would tune the model to it
#   (overfitting, 过拟合, to the test set) and make the final number
#   optimistic;
# * the **test** set is looked at last, once, for the number we report:
#   an estimate of how well the model generalizes (泛化) to images it
#   has never seen.
#
# `load_digits(validation=0.1)` moves 10 % of each class of the training
# part to `X_val, y_val`; standardization uses the statistics of the
# remaining training rows only, so nothing is learned from the other two
# parts.

# %%
data = load_digits(validation=0.1)     # split and standardized, seeded
X_train, y_train, X_test, y_test = data
X_val, y_val = data.X_val, data.y_val
print(data)
for name, part in (("train", y_train), ("validation", y_val),
                   ("test", y_test)):
    print(f"{name:10}: images per class {np.bincount(part)}")
# the same split with raw pixel values 0..16, only for pictures
raw = load_digits(standardize=False, validation=0.1)
assert (raw.y_train == y_train).all() and (raw.y_test == y_test).all()

fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, x, label in zip(axes.ravel(), raw.X_train, y_train):
    ax.imshow(x.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(label), fontsize=9)
    ax.axis("off")
fig.suptitle("The first training images and their labels")
fig.tight_layout()

# %% [markdown]
# **Math.** With $h_0 = x$,
#
# $$h_1 = \mathrm{relu}(W_1 h_0 + b_1),\quad
# h_2 = \mathrm{relu}(W_2 h_1 + b_2),\quad
# z = W_3 h_2 + b_3,$$
#
# and the loss is the cross-entropy of the logits $z$ (section 2). There
# is no softmax layer: the loss applies the stable log-softmax itself,
# and the prediction is $\arg\max_c z_c$ either way.
#
# The training recipe (`BaselineConfig`) is SGD with three additions:
# *momentum* $\mu$, which accumulates past gradients,
# $v_t = \mu v_{t-1} + g_t$, $\theta_{t+1} = \theta_t - \alpha_t v_t$;
# *weight decay* $\lambda$, which adds $\lambda\theta$ to the gradient
# (the gradient of $\frac\lambda2\lVert\theta\rVert^2$); and a *cosine
# schedule* that lowers the learning rate from $\alpha_0$ to 0 over the
# run, $\alpha_t = \frac{\alpha_0}2(1 + \cos(\pi t / T))$, to shrink the
# noise floor we saw in section 3. The values (`validation` is the
# fraction of the training part held out, as above):

# %%
config = BaselineConfig()
print(config)

# %% [markdown]
# **From scratch**, the update and the schedule with the recipe's values:
# three steps of momentum SGD with weight decay on a made-up parameter
# and made-up gradients, against `minicomp.optim.SGD`, and the cosine
# formula against `CosineLR`:

# %%
rng = np.random.default_rng(13)
theta0 = rng.normal(size=5)                       # a made-up parameter
grads = rng.normal(size=(3, 5))                   # three made-up gradients
mu, lam, alpha = config.momentum, config.weight_decay, config.lr
theta, v = theta0.copy(), np.zeros(5)
for g in grads:
    v = mu * v + (g + lam * theta)                # decay, then momentum
    theta = theta - alpha * v
p = minicomp.nn.Parameter(theta0, dtype=np.float64)
optimizer = SGD([p], lr=alpha, momentum=mu, weight_decay=lam)
for g in grads:
    p.grad = g.copy()
    optimizer.step()
np.testing.assert_allclose(p.data, theta, rtol=1e-12)

T = config.epochs
scheduler = CosineLR(optimizer, T=T)              # restarts from lr=alpha
lrs = []
for t in range(T):
    lrs.append(optimizer.lr)
    scheduler.step()
np.testing.assert_allclose(
    lrs, [alpha / 2 * (1 + math.cos(math.pi * t / T)) for t in range(T)])
print("momentum SGD with weight decay, and the cosine schedule: "
      "scratch == library")

# %% [markdown]
# **With the library**, written out line by line (this is what
# `train_baseline()` does):

# %%
lr, num_epochs = config.lr, config.epochs
net = MLP([data.num_features, *config.hidden, data.num_classes],
          seed=config.seed)
print(net)
print("parameters:", net.num_parameters())

optimizer = SGD(net.parameters(), lr=lr, momentum=config.momentum,
                weight_decay=config.weight_decay)
scheduler = CosineLR(optimizer, T=num_epochs)    # stepped once per epoch
start = time.perf_counter()
history = fit(net, X_train, y_train, optimizer=optimizer,
              epochs=num_epochs, batch_size=config.batch_size,
              seed=config.seed, scheduler=scheduler,
              validation=data.validation, quiet=True)  # (X_val, y_val)
seconds = time.perf_counter() - start
print(f"validation accuracy after each of the last 3 epochs: "
      f"{np.round(history.val_accuracy[-3:], 4)}")
result = evaluate(net, X_test, y_test)       # the test set, once
print(f"test accuracy {result['accuracy']:.4f} | test loss "
      f"{result['loss']:.4f} | training took {seconds:.2f} s")

# %% [markdown]
# The same numbers come out of the one-line version: same seed, same
# minibatches, same weights.

# %%
net_ref, history_ref, result_ref, data_ref = train_baseline(quiet=True)
assert np.array_equal(data_ref.X_val, X_val)     # the same three splits
assert result_ref["accuracy"] == result["accuracy"]
np.testing.assert_array_equal(predict(net_ref, X_test), predict(net, X_test))
print("train_baseline() accuracy:", result_ref["accuracy"])

# %% [markdown]
# One run is one seed: a different initialisation and minibatch order
# give a different accuracy. How much? Train the same recipe with three
# seeds (same splits) and report the mean and standard deviation
# (`np.std`, the spread of the three numbers; every chapter reports
# mean ± std this way) — the number later chapters compare against.

# %%
seed_accs = [result_ref["accuracy"]] + [            # seed 0: just above
    train_baseline(BaselineConfig(seed=s), quiet=True)[2]["accuracy"]
    for s in (1, 2)]
print("test accuracy per seed:", np.round(seed_accs, 4))
print(f"mean ± std over 3 seeds: {np.mean(seed_accs):.4f} ± "
      f"{np.std(seed_accs):.4f}")
print("one test image is", round(1 / len(y_test), 4), "of accuracy")
assert np.mean(seed_accs) >= 0.97, "the baseline should reach 97 %"

# %% [markdown]
# What to conclude: the seeds disagree by about as much as one or two
# test images (compare the printed std with the value of one image); a
# difference between two methods smaller than that, measured on one seed,
# says nothing. This is why every comparison in the course is repeated
# over seeds.

# %%
epochs = np.arange(1, len(history.loss) + 1)
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.6))
ax1.semilogy(epochs, history.loss, label="train")
ax1.semilogy(epochs, history.val_loss, label="validation")
ax1.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
ax1.legend()
ax2.plot(epochs, history.accuracy, label="train")
ax2.plot(epochs, history.val_accuracy, label="validation")
ax2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy",
        ylim=(0.85, 1.005))
ax2.legend()
ax3.plot(epochs, history.lr)
ax3.set(xlabel="epoch", ylabel="learning rate",
        title="Cosine schedule")
fig.tight_layout()
last = np.flatnonzero(np.diff(history.val_accuracy))[-1] + 2  # 1-based
print(f"training loss: epoch 1 {history.loss[0]:.4f}, epoch 10 "
      f"{history.loss[9]:.4f}, epoch {num_epochs} {history.loss[-1]:.4f}")
print(f"validation accuracy last changed at epoch {last} of {num_epochs}")

# %% [markdown]
# The training loss falls by orders of magnitude in the first epochs and
# then barely moves, and the validation accuracy stops changing long
# before the last epoch (both printed): the later epochs, with the small,
# careful steps of the cosine schedule (right), change little that the
# validation split can see. Which test digits does the network still get
# wrong?

# %%
pred = predict(net, X_test).argmax(axis=1)             # (N_test,)
wrong = np.flatnonzero(pred != y_test)
print(len(wrong), "of", len(y_test), "test digits are misclassified")
fig, axes = plt.subplots(1, 8, figsize=(10, 1.8))
for ax in axes:
    ax.axis("off")
for ax, i in zip(axes, wrong):
    ax.imshow(raw.X_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{y_test[i]} → {pred[i]}", fontsize=9)
fig.suptitle("Misclassified: true → predicted")
fig.tight_layout()

# %% [markdown]
# **Saving and loading.** `minicomp.save` writes the architecture and the
# weights to one `.npz` file (no pickle); `minicomp.load` rebuilds the
# model. Every later chapter starts from a saved baseline like this one.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = minicomp.save(net, os.path.join(tmp, "baseline"))
    size = os.path.getsize(path)
    net_loaded = minicomp.load(path)
print(os.path.basename(path), size, "bytes")
print("same architecture:", repr(net_loaded) == repr(net))
np.testing.assert_array_equal(predict(net_loaded, X_test),
                              predict(net, X_test))
print("same predictions on all", len(X_test), "test images")


# %% [markdown]
# **A learning rate that is too large.** What happens with ten times the
# baseline's learning rate? One might expect the loss to explode to
# `nan`; `fit` watches for that and raises `TrainingDiverged`, naming the
# epoch and step. Here is the run:

# %%
def train_with_lr(lr, num_epochs=config.epochs):
    net = MLP([64, *config.hidden, 10], seed=config.seed)
    optimizer = SGD(net.parameters(), lr=lr, momentum=config.momentum,
                    weight_decay=config.weight_decay)
    history = fit(net, X_train, y_train, optimizer=optimizer,
                  epochs=num_epochs, batch_size=config.batch_size,
                  seed=config.seed, quiet=True,
                  scheduler=CosineLR(optimizer, T=num_epochs))
    return net, history


try:
    net_big, history_big = train_with_lr(10 * config.lr)
    acc = evaluate(net_big, X_val, y_val)["accuracy"]
    print(f"lr = {10 * config.lr}: no nan, but validation accuracy "
          f"{acc:.4f}")
    print(f"final training loss {history_big.loss[-1]:.4f}, "
          f"log(10) = {np.log(10):.4f}")
    h = Tensor(X_val)
    with no_grad():
        for i, layer in enumerate(net_big.layers[:-1]):
            h = layer(h)                          # (N_val, 64)
            if i % 2 == 1:                        # after each ReLU
                alive = int((h.data > 0).any(axis=0).sum())
                print(f"hidden layer {i // 2 + 1}: {alive} of "
                      f"{h.shape[1]} units active on some image")
except TrainingDiverged as err:
    print("TrainingDiverged:", err)

# %% [markdown]
# The printout tells the story: no `nan`, but an accuracy at chance
# level, a final training loss equal to $\log 10$, and a hidden layer in
# which not a single unit is active on any validation image. The
# network *died*: an early, huge step pushed every unit of that layer
# below zero for every input. A dead ReLU has zero gradient, so it never
# recovers, and the output becomes a constant. The best constant on ten
# balanced classes predicts each with probability about 1/10 — a loss of
# $\log 10$.
#
# `TrainingDiverged` is for runs that do overflow, like plain gradient
# descent on the regression of section 3 with a step far beyond what its
# curvature allows:

# %%
rng = np.random.default_rng(2)
X = rng.normal(size=(1000, 4)).astype(np.float32)
y = (X @ np.array([2.0, -1.0, 0.5, 3.0]) + 1.0)[:, None].astype(np.float32)
try:                                  # full batch: plain GD, lr far too big
    with np.errstate(over="ignore"):  # NumPy would warn about the overflow
        fit(Dense(4, 1, seed=0), X, y, loss="mse", lr=10.0, epochs=50,
            batch_size=len(X), quiet=True)
    print("no divergence")
except TrainingDiverged as err:
    print("TrainingDiverged:", err)
    print("the losses before it:", np.array(err.history.step_loss[:5]),
          "...")

# %% [markdown]
# **Summary.** The baseline is seed 000's 64-64 MLP, trained with SGD,
# momentum, weight decay and a cosine schedule through `fit`, watched on
# a validation split carved from the training data; the test set gives
# the final number once. The runs above print its test accuracy over
# three seeds, and the notebook asserts their mean is at least 97 %.
# `train_baseline()` is the same recipe in one call; `save`/`load`
# round-trip the model exactly.

# %% [markdown]
# ## 6. What the seed sample gets wrong
#
# > **Seed 003, section 4 ("a simple structure optimization example").**
# > The sample's comments say: 定义模型 *define the model*, 定义损失函数
# > *define the loss*, 定义优化器 *define the optimizer*, 训练模型
# > *train the model*. What is wrong with it:
# >
# > 1. **It does not run.** It defines a class `Net` but then uses
# >    `model`, `inputs` and `targets`, none of which is ever defined:
# >    the first use, `model.parameters()`, raises `NameError`.
# > 2. **Nothing in it optimizes structure.** `fc1` (10 → 20) and `fc2`
# >    (20 → 1) are fixed; the loop only trains parameters. The seed's
# >    own FAQ says structure optimization changes the structure and
# >    parameter optimization changes the parameters — this sample is the
# >    latter.
# > 3. **Its structure is an illusion anyway.** With no activation
# >    between `fc1` and `fc2`, the two layers compose to *one* linear
# >    layer, $W_2(W_1x + b_1) + b_2 = (W_2W_1)x + (W_2b_1 + b_2)$. The
# >    hidden layer adds parameters but no expressive power. Removing it
# >    would be a real structure optimization.
# > 4. **MSE on one output is regression.** `nn.MSELoss` on a single
# >    output fits a real number. The classification tasks the seeds talk
# >    about (seed 000's ten digits) need one output per class and the
# >    cross-entropy of section 2.
# > 5. **It is gradient descent, not SGD.** The text says it uses
# >    stochastic gradient descent, but every step uses all of `inputs`:
# >    no minibatches, so despite the name `optim.SGD` it is full-batch
# >    GD (section 3).
#
# First, the run: the sample exactly as printed in the seed (if PyTorch
# is installed; otherwise the same code translated to minicomp), executed
# in a fresh namespace so that nothing from this notebook leaks in.

# %%
SEED_SAMPLE_TORCH = """
import torch
import torch.nn as nn
import torch.optim as optim

# 定义模型
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(10, 20)
        self.fc2 = nn.Linear(20, 1)

    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return x

# 定义损失函数
criterion = nn.MSELoss()

# 定义优化器
optimizer = optim.SGD(model.parameters(), lr=0.01)

# 训练模型
for epoch in range(100):
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    optimizer.step()
"""

SEED_SAMPLE_MINICOMP = """
from minicomp import F, Sequential
from minicomp.nn import Dense
from minicomp.optim import SGD

Net = lambda: Sequential(Dense(10, 20), Dense(20, 1))
criterion = F.mse
optimizer = SGD(model.parameters(), lr=0.01)
for epoch in range(100):
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    optimizer.step()
"""

try:
    import torch  # optional: only to run the literal sample, which
    del torch     # imports it itself
    sample, which = SEED_SAMPLE_TORCH, "the literal PyTorch sample"
except ImportError:
    sample, which = SEED_SAMPLE_MINICOMP, "the sample translated to minicomp"

try:
    exec(sample, {})
    print(which, "ran without error")
except NameError as e:
    print(f"{which} fails: {type(e).__name__}: {e}")

# %% [markdown]
# **The corrected version** defines what the sample forgot — the model,
# the inputs and the targets — and then runs the sample's own loop,
# unchanged (`model`, `inputs`, `targets` are the sample's names;
# `minicomp` layers take NumPy arrays as they are). The
# targets are a noisy linear function of the inputs, a regression task
# that suits MSE on one output. The model keeps the sample's structure:
# `Sequential(Dense(10, 20), Dense(20, 1))` is `fc1` then `fc2` with
# nothing in between.

# %%
rng = np.random.default_rng(11)
inputs = rng.normal(size=(256, 10)).astype(np.float32)          # (N, 10)
w_true = rng.normal(size=(10, 1))
targets = (inputs @ w_true
           + 0.1 * rng.normal(size=(256, 1))).astype(np.float32)  # (N, 1)
model = Sequential(Dense(10, 20, seed=0), Dense(20, 1, seed=1))  # = Net()
print(model)

criterion = F.mse
optimizer = SGD(model.parameters(), lr=0.01)
losses = []
for epoch in range(100):                  # the sample's loop, unchanged
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"first loss {losses[0]:.4f} -> last loss {losses[-1]:.4f}")
assert losses[-1] < 0.5 * losses[0]

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogy(losses)
ax.set(xlabel="step", ylabel="MSE",
       title="The corrected seed sample trains")
fig.tight_layout()

# %% [markdown]
# And point 3 by a run: merge the two layers into one $10 \to 1$ layer
# with $W = W_2 W_1$, $b = W_2 b_1 + b_2$; the outputs are the same, with
# far fewer parameters. *This* would be a structure optimization — and a
# preview of the structure-compression chapter.

# %%
fc1, fc2 = model[0], model[1]
merged = Dense(10, 1, seed=0)
merged.W.data[...] = fc2.W.data @ fc1.W.data        # (1, 20) @ (20, 10)
merged.b.data[...] = fc2.W.data @ fc1.b.data + fc2.b.data        # (1,)
np.testing.assert_allclose(predict(merged, inputs),
                           predict(model, inputs), rtol=1e-4, atol=1e-5)
print("two layers:", model.num_parameters(), "parameters | merged:",
      merged.num_parameters(), "parameters | same outputs")

# %% [markdown]
# ## 7. Summary
#
# * A **loss function** is one number that says how wrong the model is:
#   MSE for regression, cross-entropy for classification, KL divergence
#   between two distributions. Log-softmax must be computed with
#   log-sum-exp, or large logits give `nan`/`inf`.
# * **Gradient descent** is $\theta \leftarrow \theta - \alpha
#   \nabla J(\theta)$. **SGD** uses the gradient of a random minibatch, an
#   unbiased estimate of $\nabla J$ whose variance falls like $1/B$. It is
#   *not* $\nabla J$ times a random vector, as seed 003 writes — that is a
#   biased, randomly rescaled full-gradient step.
# * **Backpropagation** is the chain rule on the computation graph, in
#   reverse topological order, with gradients *added* over every use. On
#   arrays, broadcast operands get their gradient summed back
#   (`unbroadcast`), and a matmul's backward is two matmuls.
#   `minicomp.Tensor` is such an engine; `gradcheck` verifies it.
# * The **baseline** is seed 000's 64-64 MLP on the digits, trained with
#   SGD + momentum + weight decay + cosine schedule through `fit`; it is
#   saved and loaded with `minicomp.save` / `minicomp.load`. The later
#   chapters compress it.
# * Seed 003's sample does not run (undefined `model`, `inputs`,
#   `targets`), optimizes no structure, and its two linear layers are one
#   linear layer in disguise.
# * **Graded exercise:** `01_autograd` -- write the backward of matmul,
#   ReLU and softmax-cross-entropy by hand; the grader checks them against
#   finite differences. Work in the *released* copy your instructor hands
#   out (made with `minicomp release exercises/ release/`, which removes
#   the solutions and the hidden tests), and run its public tests with
#   `minicomp check release/01_autograd/`. The folder
#   `exercises/01_autograd/` is the instructor's copy, with the
#   solutions; `check` refuses it.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and a cell that checks it
# against a value the check computes *its own way* (with the autograd
# engine, by enumerating every case, by training). The answer cells ship
# empty — they return `None` — and the checks then just say "not
# attempted yet", so the notebook runs top to bottom either way. Replace
# the `None`s, rerun the answer cell and its check. Worked solutions are
# at the very end of the chapter, each passed through the same check:
# try first.

# %%
def report(exercise, answer, check):
    # run `check(answer)` unless the answer is still None
    if answer is None:
        print(f"exercise {exercise}: not attempted yet")
        return False
    check(answer)                        # raises AssertionError if wrong
    print(f"exercise {exercise}: correct")
    return True


# %% [markdown]
# ### Exercise 1 — the gradient of the cross-entropy
#
# Show that $\partial \log\mathrm{softmax}(z)_c / \partial z_i =
# \delta_{ic} - \mathrm{softmax}(z)_i$, and hence that the gradient of
# the mean cross-entropy of $N$ examples with respect to the logits is
# $(\mathrm{softmax}(Z) - \mathrm{onehot}(y)) / N$. Then write that
# formula in NumPy (no `Tensor`, no `backward`).

# %%
def ce_grad_logits(Z, y):
    # Z: (N, C) logits, y: (N,) labels -> (N, C) d CE / d Z
    return None                          # your answer


# %%
def check_ce_grad_logits(fn):
    rng = np.random.default_rng(100)
    Z = rng.normal(size=(6, 4)) * 3
    y = rng.integers(0, 4, size=6)
    Z_t = Tensor(Z, requires_grad=True)  # the engine's gradient
    F.cross_entropy(Z_t, y).backward()

    def check(answer):
        answer = np.asarray(answer, dtype=float)
        assert answer.shape == Z.shape, (
            f"shape {answer.shape}; expected {Z.shape}, one row per example")
        err = np.abs(answer - Z_t.grad).max()
        assert err < 1e-10, (
            f"differs from backward() by up to {err:.3g}: did you divide "
            "by N, and subtract 1 at the right class only?")
    return report(1, fn(Z, y), check)


check_ce_grad_logits(ce_grad_logits)

# %% [markdown]
# ### Exercise 2 — why minibatches are unbiased
#
# Draw a minibatch of $B$ distinct examples out of $N$, uniformly. Let
# $I_n = \mathbb 1[n \in B_t]$. Prove $\mathbb E[g_t] = \nabla J$, then
# derive the variance formula of section 3,
# $\mathbb E\lVert g_t - \nabla J\rVert^2 = \frac{\sigma^2}{B}
# \frac{N-B}{N-1}$, by writing $g_t = \frac1B\sum_n I_n \nabla\ell_n$.
# The whole proof rests on three numbers; write them as functions of
# $N$ and $B$: $\mathbb E[I_n]$, $\mathrm{Var}[I_n]$ and
# $\mathrm{Cov}[I_n, I_m]$ for $n \ne m$. (The check enumerates every
# possible minibatch.)

# %%
def indicator_moments(N, B):
    # -> (E[I_n], Var[I_n], Cov[I_n, I_m] for n != m), three floats
    return None                          # your answer


# %%
def check_indicator_moments(fn):
    import itertools

    def check(_):
        for N, B in ((5, 2), (7, 3), (6, 6)):
            I = np.array([[n in batch for n in range(N)] for batch in
                          itertools.combinations(range(N), B)], float)
            C = np.cov(I.T, bias=True)          # over all equally likely
            want = (I[:, 0].mean(), C[0, 0], C[0, 1])   # minibatches
            got = np.asarray(fn(N, B), dtype=float)
            assert got.shape == (3,), f"N={N}, B={B}: {got}; want 3 numbers"
            for name, g, w in zip(("E", "Var", "Cov"), got, want):
                assert abs(g - w) < 1e-12, (
                    f"N={N}, B={B}: {name} is {w:.6g} by enumeration, "
                    f"you have {g:.6g}")
    return report(2, fn(5, 2), check)


check_indicator_moments(indicator_moments)

# %% [markdown]
# ### Exercise 3 — a sigmoid primitive
#
# `F.sigmoid` is composed from `tanh` (three graph nodes). Write a
# *primitive* `sigmoid(x: Tensor) -> Tensor`: one node, whose parent is
# `x`, with a forward line and a backward closure using
# $\sigma' = \sigma(1 - \sigma)$. Model it on `Tensor.tanh` in
# `minicomp/tensor.py` (`Tensor._make(data, parents, op)` makes the node,
# `minicomp.tensor.accumulate(t, g)` adds `g` into `t.grad`). Keep the
# forward from overflowing for large negative `x`.

# %%
def sigmoid(x):
    # x: Tensor -> Tensor, one graph node
    return None                          # your answer


# %%
def check_sigmoid(fn):
    rng = np.random.default_rng(101)
    x = rng.normal(size=(4, 3)) * 4

    def check(out):
        assert isinstance(out, Tensor), f"returned a {type(out).__name__}"
        try:
            with np.errstate(over="raise"):
                big = fn(Tensor(np.array([-800.0, 0.0, 800.0]))).data
        except FloatingPointError as err:
            raise AssertionError(f"the forward overflows at x = -800 or "
                                 f"800 ({err})") from None
        np.testing.assert_allclose(big, [0.0, 0.5, 1.0], atol=1e-12,
                                   err_msg="values at -800, 0, 800")
        np.testing.assert_allclose(out.data, F.sigmoid(x).data,
                                   rtol=1e-12, err_msg="forward")
        x_t = Tensor(x, requires_grad=True)
        y_t = fn(x_t)
        assert y_t._prev == (x_t,), "not one node whose parent is x"
        assert minicomp.gradcheck(lambda t: fn(t).sum(), x), "gradient"
    return report(3, fn(Tensor(x)), check)


check_sigmoid(sigmoid)

# %% [markdown]
# ### Exercise 4 — the seed's random vector, once more
#
# Section 3 measured $\mathbb E[\nabla J \times s_t] = \frac12\nabla J$
# for uniform $s_t$. If $s_t$ had independent *standard normal* entries,
# what would each coordinate of $\mathbb E[\nabla J \times s_t]$ be, as
# a multiple of the same coordinate of $\nabla J$? Give the multiple.
# Then change `gd_run` to draw such an $s_t$, plot its loss curve next
# to GD's, and explain what you see.

# %%
normal_s_multiple = None                 # your answer: a number


# %%
def check_normal_s_multiple(answer):
    s = np.random.default_rng(102).normal(size=(200_000, D + 1))
    measured = (g_full * s).mean(axis=0) / g_full   # (D + 1,) multiples
    se = 1 / np.sqrt(len(s))                        # std error of a mean

    def check(a):
        gap = np.abs(float(a) - measured).max()
        assert gap < 6 * se, (
            f"a run of 200,000 draws measures {np.round(measured, 3)}; "
            f"{a} is {gap / se:.0f} standard errors away")
    return report(4, answer, check)


check_normal_s_multiple(normal_s_multiple)

# %% [markdown]
# ### Exercise 5 — choose the learning rate on the validation split
#
# Train the baseline recipe (`train_with_lr` of section 5) with each
# multiple of the baseline's learning rate in `MULTIPLES` and choose the
# one with the best *validation* accuracy. Report the test accuracy of
# your choice, once. Which layer's units die first when the rate is too
# large? Does removing momentum change the choice?

# %%
MULTIPLES = (0.5, 1, 2, 4)
chosen_multiple = None                   # your answer: one of MULTIPLES


# %%
def check_chosen_multiple(answer):
    def check(a):
        assert a in MULTIPLES, f"{a!r} is not one of {MULTIPLES}"
        acc = {m: evaluate(train_with_lr(m * config.lr)[0], X_val,
                           y_val)["accuracy"] for m in MULTIPLES}
        best = max(acc.values())
        assert acc[a] == best, (
            f"validation accuracy per multiple: {acc}; {a} is not the "
            "best (was it chosen on the test set?)")
    return report(5, answer, check)


check_chosen_multiple(chosen_multiple)

# %% [markdown]
# ### Exercise 6 — fix the structure
#
# Write `model_with_relu(seed)`: the seed sample's network with a ReLU
# between `fc1` (10 → 20) and `fc2` (20 → 1), as a `Sequential`. Does the
# merge of section 6 ($W = W_2W_1$, $b = W_2b_1 + b_2$) still give the
# same outputs? Answer with `merge_still_exact = True` or `False`. Then
# make the targets nonlinear (e.g. $\lvert x \cdot w\rvert$) and compare
# the final loss of the sample's loop with and without the ReLU.

# %%
def model_with_relu(seed):
    return None                          # your answer: a Sequential


merge_still_exact = None                 # your answer: True or False


# %%
def check_model_with_relu(fn, exact):
    x = np.random.default_rng(103).normal(size=(64, 10))
    x = x.astype(np.float32)

    def check(model):
        layers = [m for m in model if isinstance(m, Dense)]
        assert [(d.W.shape[1], d.W.shape[0]) for d in layers] == [
            (10, 20), (20, 1)], "expected Dense 10 -> 20, then 20 -> 1"
        fc1, fc2 = layers
        h = np.maximum(x @ fc1.W.data.T + fc1.b.data, 0)   # (64, 20)
        np.testing.assert_allclose(
            predict(model, x), h @ fc2.W.data.T + fc2.b.data, rtol=1e-5,
            atol=1e-6, err_msg="outputs are not fc2(relu(fc1(x)))")
        merged = x @ (fc2.W.data @ fc1.W.data).T + (
            fc2.W.data @ fc1.b.data + fc2.b.data)           # (64, 1)
        same = bool(np.allclose(merged, predict(model, x), atol=1e-5))
        assert exact is not None, "answer merge_still_exact too"
        assert exact == same, (
            f"merge_still_exact={exact}, but the merged layer's outputs "
            f"{'equal' if same else 'differ from'} the model's")
    return report(6, fn(0), check)


check_model_with_relu(model_with_relu, merge_still_exact)

# %% [markdown]
# ## Solutions
#
# Try the exercises first. Each solution below goes through the same
# check as your answer.
#
# **1.** $\log\mathrm{softmax}(z)_c = z_c - \log\sum_j e^{z_j}$, so
# $\partial/\partial z_i = \delta_{ic} - e^{z_i}/\sum_j e^{z_j} =
# \delta_{ic} - \mathrm{softmax}(z)_i$. The cross-entropy of example $n$
# is $-\log\mathrm{softmax}(z_n)_{y_n}$, whose gradient is
# $\mathrm{softmax}(z_n) - \mathrm{onehot}(y_n)$; the mean divides by
# $N$.

# %%
def ce_grad_logits_solution(Z, y):
    P = np.exp(Z - Z.max(axis=1, keepdims=True))          # (N, C)
    P /= P.sum(axis=1, keepdims=True)                     # softmax
    P[np.arange(len(y)), y] -= 1                          # - onehot
    return P / len(y)


assert check_ce_grad_logits(ce_grad_logits_solution)

# %% [markdown]
# **2.** Each of the $\binom NB$ minibatches is equally likely, and
# $\binom{N-1}{B-1}$ of them contain $n$, so $\mathbb E[I_n] = B/N$ and
# $\mathbb E[g_t] = \frac1B\sum_n \frac BN\nabla\ell_n = \nabla J$.
# $I_n^2 = I_n$ gives $\mathrm{Var}[I_n] = \frac BN(1 - \frac BN)$;
# $\binom{N-2}{B-2}$ batches contain both $n$ and $m$, so
# $\mathbb E[I_nI_m] = \frac{B(B-1)}{N(N-1)}$ and
# $\mathrm{Cov}[I_n, I_m] = -\frac{B(N-B)}{N^2(N-1)}$. With
# $d_n = \nabla\ell_n - \nabla J$ (which sum to 0),
# $g_t - \nabla J = \frac1B\sum_n I_n d_n$ and
# $\mathbb E\lVert\cdot\rVert^2 = \frac1{B^2}\big(\mathrm{Var}[I]\sum_n
# \lVert d_n\rVert^2 + \mathrm{Cov}\sum_{n\ne m} d_n\cdot d_m\big)$;
# $\sum_{n \ne m} d_n \cdot d_m = -\sum_n\lVert d_n\rVert^2$, and
# collecting terms gives $\frac{\sigma^2}{B}\frac{N-B}{N-1}$.

# %%
def indicator_moments_solution(N, B):
    p = B / N
    return p, p * (1 - p), -B * (N - B) / (N ** 2 * (N - 1))


assert check_indicator_moments(indicator_moments_solution)

# %% [markdown]
# **3.** $\sigma(x) = \frac12(1 + \tanh(x/2))$ never overflows. The
# naive $1/(1 + e^{-x})$ overflows $e^{-x}$ for large negative $x$: the
# result, 0, is still right, but NumPy warns, and the check, which turns
# overflow into an error, refuses it.

# %%
def sigmoid_solution(x):
    s = 0.5 * (1 + np.tanh(0.5 * x.data))                # forward
    out = Tensor._make(s, (x,), "sigmoid")
    if out.requires_grad:
        out._backward = lambda: minicomp.tensor.accumulate(
            x, out.grad * s * (1 - s))                    # sigma(1-sigma)
    return out


assert check_sigmoid(sigmoid_solution)

# %% [markdown]
# **4.** $\mathbb E[\nabla J \times s_t] = \nabla J \times
# \mathbb E[s_t] = 0$: the update is pure noise in expectation. Worse,
# on this quadratic loss, with Hessian $H$ and step
# $\delta = -\alpha\,\nabla J \times s_t$,
# $\mathbb E[J(\theta + \delta)] = J(\theta) + \tfrac{\alpha^2}2
# \sum_i H_{ii} (\nabla J)_i^2 > J(\theta)$: on average the loss *grows*
# at every step. The drift is small next to the random first-order term,
# so one run wanders (first line printed); the mean over 300 runs ends
# above the start by more than its standard error (second line), while
# GD has descended.

# %%
assert check_normal_s_multiple(0.0)
lr_3 = 0.05                               # section 3's comparison
epochs_3 = len(gd_curve) - 1
normal_curve = gd_run(lr_3, epochs_3,
                      draw=np.random.default_rng(12).normal)
print("one run, excess loss per epoch:", np.round(normal_curve - J_star, 2))
finals = [gd_run(lr_3, epochs_3, draw=np.random.default_rng(r).normal)[-1]
          for r in range(300)]
se = np.std(finals) / np.sqrt(len(finals))       # standard error
print(f"300 runs: excess loss {normal_curve[0] - J_star:.2f} at the start,"
      f" mean {np.mean(finals) - J_star:.2f} ± {se:.2f} (standard error) "
      f"after {epochs_3} epochs; GD: {gd_curve[-1] - J_star:.2f}")
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogy(gd_curve - J_star, "o-", label="full-batch GD")
ax.semilogy(normal_curve - J_star, "s--",
            label=r"$\nabla J \times s_t$, $s_t \sim N(0, 1)$ (one run)")
ax.set(xlabel="epoch", ylabel=r"$J(\theta) - J(\theta^*)$",
       title=f"A zero-mean random vector does not descend (lr = {lr_3})")
ax.legend()
fig.tight_layout()

# %% [markdown]
# **5.** The sweep, on the validation split; the test set is touched
# once, for the chosen rate.

# %%
trained = {m: train_with_lr(m * config.lr)[0] for m in MULTIPLES}
val_acc = {m: evaluate(n, X_val, y_val)["accuracy"]
           for m, n in trained.items()}
best = max(MULTIPLES, key=lambda m: (val_acc[m], -m))   # ties: smaller
print("validation accuracy per multiple:", val_acc)
final = evaluate(trained[best], X_test, y_test)        # once
print(f"chosen: {best} x lr; test accuracy {final['accuracy']:.4f}")
assert check_chosen_multiple(best)

# %% [markdown]
# **6.** With a ReLU in between, $W_2\,\mathrm{relu}(W_1x + b_1) + b_2$
# is no longer linear in $x$, so no single layer equals it: the merge
# changes the outputs.

# %%
def model_with_relu_solution(seed):
    return Sequential(Dense(10, 20, seed=seed), minicomp.nn.ReLU(),
                      Dense(20, 1, seed=seed + 1))


assert check_model_with_relu(model_with_relu_solution, False)
