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
# # Chapter 2 — Pruning
#
# *Remove what the network does not need: every criterion of the seeds,
# masks that hold during fine-tuning, neurons removed for real, and what
# it all buys in bytes and time.*

# %% [markdown]
# ## 1. Introduction
#
# Pruning (剪枝, also 裁剪) is the technique the seed documents return to
# most: all five describe it. Their text is right about the idea — delete
# the weights (连接, *connections*) or the neurons (节点, *nodes*) that
# matter least, then retrain — and names the criteria:
#
# * a **magnitude threshold**: remove $\{w : |w| < \varepsilon\}$
#   (seeds 002 and 004);
# * the **activation importance** $R_i = \sum_j |w_{ij}\, y_j|$ (seed 000);
# * **gradient-based** and **Hessian-based** importance (seed 004).
#
# Their code samples get every one of them wrong; section 5 runs each
# sample and shows how. This chapter sets up the network and its data
# splits (section 2), builds each criterion from its formula (section 3),
# turns scores into masks that stay put while the network is fine-tuned
# (section 4), compares all criteria on the same networks (section 6),
# walks through the procedures — one-shot, iterative, gradual, per-layer
# sensitivity (section 7) — and removes whole neurons so that the network
# is really smaller and faster (section 8). Section 9 is a "go further":
# the lottery ticket.
#
# What does pruning buy? Zeros in a dense matrix buy nothing: the matrix
# is as large and as slow as before. Section 7 measures the size in a
# real sparse format (CSR, with the narrowest index type), and the sparse
# kernel itself is built and timed in `07_kernels.ipynb`. Structured
# pruning (section 8) gives a smaller *dense* network, which every BLAS
# runs faster.

# %% [markdown]
# > **Glossary.** The seed documents are in Chinese. The terms used here:
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 剪枝 / 裁剪 | pruning | all |
# > | 阈值 | threshold ε | 3.1, 5 |
# > | 重要性 | importance (a score) | 3 |
# > | 神经元 / 节点 | neuron / node (a row of `W`) | 3.3, 8 |
# > | 连接 | connection (one weight $w_{ij}$) | 3 |
# > | 基于梯度的剪枝 | gradient-based (Taylor) pruning | 3.4 |
# > | 基于Hessian的剪枝 | Hessian-based pruning (OBD, OBS) | 3.5, 3.6 |
# > | 子网络 | subnetwork (what a mask keeps) | 9 |
# > | 超参数 | hyperparameter (ε, sparsity, epochs) | 2, 7 |
# >
# > The full table, for all chapters, is in `chapters/glossary.md`.

# %%
import copy
import importlib.util
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import minicomp
from minicomp import F, MLP, evaluate, fit, optim, predict
from minicomp.bench.timing import median_time
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.kernels.reference import to_csr
from minicomp.nn import Dense, ReLU, Sequential
from minicomp.train import BaselineConfig, train_baseline
import minicomp.prune as P
# helpers, each from the file of its idea (minicomp/prune/<file>.py)
from minicomp.prune.activation import wanda_scores
from minicomp.prune.magnitude import (magnitude_scores,
                                      magnitude_threshold_mask)
from minicomp.prune.mask import apply_mask, prune_neurons, sparsity
from minicomp.prune.norm import norm_scores
from minicomp.prune.obd import obd_hessian_diagonal, obd_layer_scores
from minicomp.prune.obs import (obs_prune, obs_scores,
                                reconstruction_error)
from minicomp.prune.random import random_scores
from minicomp.prune.taylor import taylor_scores

np.set_printoptions(precision=4)
try:                       # small matrices: one BLAS thread is faster, and
    from threadpoolctl import threadpool_limits     # fair on a shared CPU
    threadpool_limits(limits=1, user_api="blas")
except ImportError:
    pass
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# ## 2. The network to prune, three seeds and three splits
#
# The network is chapter 0's baseline: seed 000's MLP with two hidden
# layers of 64 (64 → 64 → 64 → 10), trained on the 8×8 digits. `W` of
# every `Dense` layer has shape (out, in): `W[i, j]` is the weight
# $w_{ij}$ from input $j$ to neuron $i$, exactly as in the seed's formula.
#
# Two rules hold for the whole chapter:
#
# * **The validation split chooses, the test set measures.** Every
#   hyperparameter (超参数) — a threshold, a sparsity per layer, a number
#   of fine-tuning epochs — is chosen on `X_val, y_val`, carved from the
#   training data by `train_baseline` (chapter 0, section 5). The test set
#   reports results; nothing is chosen from it.
# * **A comparison is made over three seeds.** The baseline is trained
#   three times (seeds 0, 1, 2: different initialisations and minibatch
#   orders, the same splits); a claim "A beats B" is printed as mean ± std
#   over the three, or called "one run".
#
# Settings that are not chosen from data are stated and kept fixed (the
# fine-tuning learning rate, the sparsities compared).

# %%
SEEDS = (0, 1, 2)
runs = {s: train_baseline(BaselineConfig(seed=s), quiet=True)
        for s in SEEDS}                        # (net, history, result, data)
net0, history, result, data = runs[0]
X_train, y_train, X_test, y_test = data
X_val, y_val = data.X_val, data.y_val
nets = {s: runs[s][0] for s in SEEDS}


def mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def val_acc(net):
    return evaluate(net, X_val, y_val)["accuracy"]


def test_acc(net):
    return evaluate(net, X_test, y_test)["accuracy"]


base_acc = result["accuracy"]                  # seed 0, on the test set
print(data)
print(net0)
base_accs = [test_acc(n) for n in nets.values()]
print(f"{sum(b.dense.W.size for b in dense_blocks(net0))} weights; "
      f"baseline test accuracy {mean_std(base_accs)} over seeds {SEEDS}")
print(f"one validation image is {1 / len(y_val):.4f} of accuracy, "
      f"one test image {1 / len(y_test):.4f}")

# %% [markdown]
# What to conclude: the seeds differ by one or two test images (compare
# the printed std with one test image); any difference between two
# pruning methods smaller than that is noise. The validation split is
# small (one image is worth the printed fraction), so choices made on it
# are coarse: we use it for choices only, never to rank methods.

# %% [markdown]
# ## 3. The criteria, each from its formula
#
# **Idea.** A criterion gives every connection (or every neuron) a score;
# the lowest scores are removed. In minicomp a criterion is a small pure
# function returning scores *shaped like what it ranks*: `(out, in)` for
# connections, `(out,)` for neurons. One shared function (section 4) turns
# any scores into a mask. Each criterion's file also registers it by name
# (section 6), which is all `P.prune` needs to use it.
#
# ### 3.1 Magnitude
#
# **Math.** $s_{ij} = |w_{ij}|$. Seeds 002 and 004 cut at a threshold,
# $\text{pruned} = \{w : |w| < \varepsilon\}$, so the sparsity is whatever
# $\varepsilon$ gives; Han et al. (2015) cut at a *level*, a fraction of
# the weights. Both rank the same way. From scratch and with the library,
# on hidden layer 2, at one threshold and at one level:

# %%
W = net0[2].W.data                              # (64, 64), hidden layer 2
eps = 0.05
mask_scratch = (np.abs(W) >= eps).astype(np.float32)   # keep |w| >= eps
mask_lib = magnitude_threshold_mask(W, eps)
assert np.array_equal(mask_scratch, mask_lib)
print(f"threshold eps={eps}: removes {1 - mask_lib.mean():.1%} of the layer")

# a level: remove exactly 70 % -- the threshold is the 70 % quantile
k = round(0.7 * W.size)
eps_70 = np.sort(np.abs(W), axis=None)[k]
mask_level = P.mask_from_scores(magnitude_scores(W), 0.7)
assert np.array_equal(mask_level, magnitude_threshold_mask(W, eps_70))
print(f"level 70 %: threshold {eps_70:.4f}, removes "
      f"{1 - mask_level.mean():.1%}")

# %% [markdown]
# **Choosing ε on the validation split.** The seeds give ε without saying
# where it comes from. Here is a rule that does: apply the threshold to
# every layer (of seed 0's network), and take the largest ε whose
# validation accuracy, without any retraining, stays within `MAX_DROP` of
# the unpruned network's. Then the test set gives the final number of
# that choice, once.

# %%
MAX_DROP = 0.015                           # about 2 validation images


def threshold_all(net, eps):
    # magnitude threshold on every Dense layer (a copy of `net`)
    net = copy.deepcopy(net)
    for b in dense_blocks(net):
        apply_mask(b.dense.W, magnitude_threshold_mask(b.dense.W.data, eps))
    return net


eps_grid = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
base_val = val_acc(net0)
print(f"unpruned: validation accuracy {base_val:.4f}")
print("   eps  sparsity  validation accuracy")
ok = []
for e in eps_grid:
    pruned = threshold_all(net0, e)
    acc = val_acc(pruned)
    print(f"{e:6.2f}  {sparsity(pruned):8.3f}  {acc:.4f}")
    if base_val - acc <= MAX_DROP:
        ok.append(e)
eps_chosen = max(ok)
chosen = threshold_all(net0, eps_chosen)
print(f"chosen on validation: eps = {eps_chosen} (sparsity "
      f"{sparsity(chosen):.3f}); test accuracy {test_acc(chosen):.4f} "
      f"vs {base_acc:.4f} unpruned")
per_layer = [float(np.mean(b.dense.W.data == 0))
             for b in dense_blocks(chosen)]
print("sparsity of each layer:", np.round(per_layer, 3))

# %% [markdown]
# What to conclude: the validation accuracy stays flat up to some ε and
# then falls; the rule picks the knee, and the test set, looked at once,
# says what that choice is worth on new data. A threshold is a crude knob:
# the same ε removes different fractions of different layers (the last
# line), whatever each layer can bear. Section 7 chooses a sparsity per
# layer instead.
#
# **What pruning does to the weights.** A histogram of hidden layer 2's
# weights before and after the chosen threshold. The picture every
# magnitude method shares: a bell around zero before, a hole of width
# $2\varepsilon$ after.

# %%
W_before = net0[2].W.data.ravel()
W_after = chosen[2].W.data.ravel()
bins = np.linspace(W_before.min(), W_before.max(), 61)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
axes[0].hist(W_before, bins=bins, color="tab:blue")
axes[1].hist(W_after[W_after != 0], bins=bins, color="tab:orange")
for ax in axes:
    for x in (-eps_chosen, eps_chosen):
        ax.axvline(x, color="k", ls=":", lw=1)
    ax.set_xlabel("weight value $w_{ij}$")
axes[0].set_ylabel("number of weights")
axes[0].set_title("hidden layer 2 before pruning")
axes[1].set_title(f"after |w| < {eps_chosen} is removed (zeros not shown)")
fig.suptitle("Magnitude pruning cuts the middle out of the distribution")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 3.2 Random
#
# **Math.** $s_{ij} \sim U(0, 1)$, independently. It removes a uniformly
# random subset of the requested size: the baseline every criterion must
# beat (section 6 measures by how much).

# %%
s = random_scores(W.shape, seed=0)
assert np.array_equal(s, np.random.default_rng(0).random(W.shape))
print("random scores:", s.shape, "mean", s.mean().round(3))

# %% [markdown]
# ### 3.3 Activation importance $R_i$ (seed 000) and Wanda
#
# **Math.** Seed 000 scores neuron $i$ by
#
# $$R_i = \sum_j |w_{ij}\, y_j|,$$
#
# where $y_j$ is input $j$ of the layer (the output of neuron $j$ below).
# The seed does not say *which* inputs: here they are a calibration batch
# $y_{nj}$, and the batch reduction is the mean,
#
# $$R_i = \frac1N \sum_n \sum_j |w_{ij}\, y_{nj}|
#       = \sum_j |w_{ij}|\; \mathbb E_n |y_{nj}| .$$
#
# Why it makes sense: the neuron's pre-activation (without bias) obeys
# $|z_i - b_i| = |\sum_j w_{ij} y_j| \le \sum_j |w_{ij} y_j|$, so a small
# $R_i$ means the inputs barely move the neuron.
#
# **A hand-worked example.** A layer with 3 neurons and 4 inputs, and a
# batch of 2:
#
# $$W = \begin{pmatrix} 1 & -2 & 0 & 3\\ 0.5 & 0 & -1 & 0\\
# -2 & 1 & 1 & -0.5 \end{pmatrix}, \qquad
# Y = \begin{pmatrix} 1 & -1 & 2 & 0\\ 3 & 1 & 0 & -2 \end{pmatrix}.$$
#
# The mean absolute inputs are $\mathbb E|y| = (2, 1, 1, 1)$, so
# $R_0 = 1\cdot2 + 2\cdot1 + 0 + 3\cdot1 = 7$,
# $R_1 = 0.5\cdot2 + 0 + 1\cdot1 + 0 = 2$,
# $R_2 = 2\cdot2 + 1 + 1 + 0.5 = 6.5$: neuron 1 goes first.

# %%
W3 = np.array([[1.0, -2.0, 0.0, 3.0],
               [0.5, 0.0, -1.0, 0.0],
               [-2.0, 1.0, 1.0, -0.5]])
Y3 = np.array([[1.0, -1.0, 2.0, 0.0],
               [3.0, 1.0, 0.0, -2.0]])
R_scratch = np.array([np.mean([np.sum(np.abs(W3[i] * y)) for y in Y3])
                      for i in range(3)])           # the definition
R_lib = P.activation_importance(W3, Y3)
print("R =", R_lib)
assert np.allclose(R_scratch, [7.0, 2.0, 6.5])
assert np.allclose(R_lib, R_scratch)

# %% [markdown]
# The connection-level version keeps the terms of the sum apart. Wanda
# (Sun et al. 2023) scores connection $(i, j)$ by
# $S_{ij} = |w_{ij}|\,\lVert y_{:,j}\rVert_2$ with the $L_2$ norm over the
# batch. For a single sample the row sums of $S$ are exactly $R$; over a
# batch $R$ uses the mean absolute input and Wanda $\sqrt N$ times the RMS,
# which agree up to a factor when an input's magnitude is constant.

# %%
S = wanda_scores(W3, Y3)
assert np.allclose(S, np.abs(W3) * np.sqrt((Y3 ** 2).sum(axis=0)))
for y in Y3:                                   # one sample: rows sum to R
    assert np.allclose(wanda_scores(W3, y[None]).sum(axis=1),
                       P.activation_importance(W3, y[None]))
print(S.round(3))


# %% [markdown]
# ### 3.4 Gradient: first-order Taylor (seed 004's "gradient-based")
#
# **Math.** Removing connection $q$ moves $w_q$ to 0, a step
# $\delta w = -w_q$. To first order the loss changes by
# $\Delta L_q \approx -w_q\, \partial L/\partial w_q$, so the score is
# $s_q = |w_q\, \partial L / \partial w_q|$ (Molchanov et al. 2017). Not
# the gradient alone, as seed 004 says ("delete the parameters with the
# smallest gradient"): a weight of 0 with a large gradient costs nothing
# to remove. For a neuron, the same expansion sums the row:
#
# $$s_i = \Big|\sum_j w_{ij}\,\frac{\partial L}{\partial w_{ij}}
#       + b_i\,\frac{\partial L}{\partial b_i}\Big| .$$
#
# At a minimum the full-data gradient is about 0; Molchanov et al.
# therefore take the absolute value *per minibatch* and average
# (`mode="abs"`, the default). `mode="first_order"` is the exact
# first-order term. We check it against finite differences: the
# derivative of $L(w_q(1+a))$ at $a=0$ is $w_q\,\partial L/\partial w_q$.

# %%
def loss_of(net, X, y):
    return evaluate(net, X, y)["loss"]

tiny = MLP([64, 8, 10], seed=1)
fit(tiny, X_train, y_train, lr=0.1, epochs=3, quiet=True)
for p in tiny.parameters():                  # float64 for finite differences
    p.data = p.data.astype(np.float64)
X_c, y_c = X_train[:256], y_train[:256]
T = taylor_scores(tiny, X_c, y_c, mode="first_order", batch_size=256)
top3 = np.argsort(T[0], axis=None)[-3:]              # the 3 largest scores
h, checks = 1e-4, []
for i, j in zip(*np.unravel_index(top3, T[0].shape)):
    w = float(tiny[0].W.data[i, j])
    tiny[0].W.data[i, j] = w * (1 + h)
    up = loss_of(tiny, X_c, y_c)
    tiny[0].W.data[i, j] = w * (1 - h)
    down = loss_of(tiny, X_c, y_c)
    tiny[0].W.data[i, j] = w
    checks.append((abs(up - down) / (2 * h), T[0][i, j]))
print("finite difference | Taylor score")
print(np.array(checks))
assert np.allclose(*np.array(checks).T, rtol=1e-4)

# %% [markdown]
# ### 3.5 Hessian: Optimal Brain Damage
#
# **Math.** At a minimum the first-order term vanishes, and the second
# order is what is left. Ignoring off-diagonal Hessian terms, deleting
# $w_q$ raises the loss by its *saliency*
#
# $$s_q = \tfrac12\, h_{qq}\, w_q^2, \qquad
#   h_{qq} = \partial^2 L/\partial w_q^2$$
#
# (LeCun et al. 1990). Which $h_{qq}$ is computed: LeCun's — second
# derivatives propagated backwards like gradients, keeping only diagonal
# terms and dropping the $f''$ terms (the Gauss-Newton approximation),
# starting from $p_k(1-p_k)$, the diagonal of the cross-entropy's Hessian
# in the logits. That is exact for the last layer, which we check against
# finite differences:

# %%
h_W = obd_hessian_diagonal(tiny, X_c)[-1][0]        # last layer (10, 8)
fd = np.zeros(3)
for n, (i, j) in enumerate([(0, 0), (4, 3), (9, 7)]):
    w = float(tiny[2].W.data[i, j])
    vals = []
    for d in (1e-3, 0.0, -1e-3):
        tiny[2].W.data[i, j] = w + d
        vals.append(loss_of(tiny, X_c, y_c))
    tiny[2].W.data[i, j] = w
    fd[n] = (vals[0] - 2 * vals[1] + vals[2]) / 1e-6
print("finite differences:", fd)
print("OBD diagonal:      ", h_W[[0, 4, 9], [0, 3, 7]])
assert np.allclose(fd, h_W[[0, 4, 9], [0, 3, 7]], rtol=1e-3)

# %% [markdown]
# ### 3.6 Hessian: Optimal Brain Surgeon, layer by layer
#
# **Math.** OBS (Hassibi & Stork 1993) uses the whole inverse Hessian: it
# removes the weight with the least $L_q = w_q^2 / (2[H^{-1}]_{qq})$ and
# *moves the other weights* to compensate,
#
# $$\delta w = -\frac{w_q}{[H^{-1}]_{qq}}\, H^{-1} e_q .$$
#
# For one layer's reconstruction error
# $E = \lVert X W'^\top - X W^\top\rVert^2$, every row has the Hessian
# $H = 2X^\top X$, and the update is exact. The factor 2 changes neither
# the order of the saliencies nor the update, so the code drops it (and
# adds a small $\lambda I$ so that $H$ can be inverted).
# From scratch, for one weight of one row, against least squares on the
# remaining inputs:

# %%
_, inputs = numpy_forward(net0, X_train, inputs=True)  # each Dense's input
X1 = inputs[1].astype(np.float64)                     # (N, 64)
w = net0[2].W.data[0].astype(np.float64)              # row 0, (64,)
H = X1.T @ X1 + 1e-6 * np.eye(64)                     # (64, 64)
H_inv = np.linalg.inv(H)
L = w ** 2 / (2 * np.diag(H_inv))                     # saliencies (64,)
L[~X1.any(axis=0)] = np.inf                           # skip dead inputs
q = int(np.argmin(L))
w_obs = w - w[q] / H_inv[q, q] * H_inv[:, q]          # the OBS update
keep = np.arange(64) != q
w_ls, *_ = np.linalg.lstsq(X1[:, keep], X1 @ w, rcond=None)
gap = np.abs(X1 @ w_obs - X1[:, keep] @ w_ls).max()
print(f"removed input {q}: OBS sets it to {w_obs[q]:.1e}; its outputs "
      f"differ from the least-squares optimum by at most {gap:.1e}")
assert abs(w_obs[q]) < 1e-9 and gap < 1e-3

# %% [markdown]
# The library removes weights greedily, one at a time across all rows,
# updating $H^{-1}$ after each removal (Frantar & Alistarh 2022). As a
# criterion of `P.prune`, OBS splits in two like the others: its score is
# the step at which the greedy removes a weight, and an update registered
# with it moves the kept weights to the optimum for the mask: for each
# row, with $K$ the kept and $R$ the removed inputs,
#
# $$w'_K = w_K + H_{KK}^{-1} H_{KR}\, w_R, \qquad w'_R = 0 .$$
#
# Its $H$ is damped relatively, $H = X^\top X + \lambda I$ with
# $\lambda = \text{damp}\cdot\overline{\operatorname{diag}(X^\top X)}$
# (`damp=0.01` by default; exercise 4 varies it). From scratch, the
# saliencies and the update for the mask the library chose, on hidden
# layer 2 at 50 %:

# %%
H_lib = X1.T @ X1
H_lib += 0.01 * np.mean(np.diag(H_lib)) * np.eye(64)   # damp = 0.01
W_l = net0[2].W.data.astype(np.float64)               # (64, 64)
L_l = W_l ** 2 / (2 * np.diag(np.linalg.inv(H_lib)))  # (64, 64)
assert np.allclose(L_l, obs_scores(W_l, X1))
W_lib, M_lib = obs_prune(W_l, X1, 0.5)
W_s = np.zeros_like(W_l)
for i in range(len(W_l)):                      # each row: K kept, R gone
    K, R = M_lib[i] == 1, M_lib[i] == 0
    W_s[i, K] = W_l[i, K] + np.linalg.solve(H_lib[np.ix_(K, K)],
                                            H_lib[np.ix_(K, R)] @ W_l[i, R])
assert np.allclose(W_s, W_lib, atol=1e-6)
print("OBS saliencies and the update for the mask: scratch == library")

# %% [markdown]
# The reconstruction error of each layer of seed 0's network (one run) for
# OBS (with its update), OBD (zeroing by $\tfrac12 h_{qq} w_q^2$, which
# for this error is $w_{ij}^2\lVert x_j\rVert^2$, Wanda squared) and
# magnitude:

# %%
_, inputs = numpy_forward(net0, X_train, inputs=True)
print("layer  sparsity     OBS      OBD   magnitude")
for k, (b, Xk) in enumerate(zip(dense_blocks(net0), inputs)):
    Wk = b.dense.W.data.astype(np.float64)
    for s in (0.5, 0.9):
        e_obs = reconstruction_error(Wk, obs_prune(Wk, Xk, s)[0], Xk)
        m_obd = P.mask_from_scores(obd_layer_scores(Wk, Xk), s)
        e_obd = reconstruction_error(Wk, Wk * m_obd, Xk)
        m_mag = P.mask_from_scores(np.abs(Wk), s)
        e_mag = reconstruction_error(Wk, Wk * m_mag, Xk)
        print(f"{k:5d} {s:9.1f} {e_obs:8.4f} {e_obd:8.4f} {e_mag:8.4f}")

# %% [markdown]
# What to conclude (one network): on every row printed, OBS's error is
# well below OBD's and OBD's below magnitude's — at 90 % only slightly
# in some layers. Moving the kept weights is worth more than a better
# ranking.

# %% [markdown]
# ### 3.7 Norms (structured baseline)
#
# **Math.** $s_i = \lVert w_{i,:}\rVert_p$, $p \in \{1, 2\}$ (Li et al.
# 2017): the neuron's weights only. $R_i$ is the same $L_1$ sum weighted
# by how large each input is.

# %%
assert np.allclose(norm_scores(W3, 1), np.abs(W3).sum(axis=1))
assert np.allclose(norm_scores(W3, 2), np.sqrt((W3 ** 2).sum(axis=1)))
print("L1:", norm_scores(W3, 1), " R:", P.activation_importance(W3, Y3))

# %% [markdown]
# What to conclude: on the hand-worked layer the two scores differ in
# size but rank the neurons alike (neuron 1 lowest, then 2, then 0);
# they part only where the inputs' magnitudes differ enough to reorder
# the weighted sums — section 8 counts how often that happens on the
# real network.


# %% [markdown]
# **Summary of section 3.** Every criterion is a score shaped like what it
# ranks. Magnitude and random need nothing but the weights; $R_i$ and
# Wanda need a calibration batch; Taylor needs gradients; OBD a diagonal
# Hessian; OBS a layer's inverse Hessian, and it is the only one that
# changes the weights that stay.

# %% [markdown]
# ## 4. From scores to masks that hold
#
# **Idea.** One function turns any scores into a 0/1 mask:
# `mask_from_scores(scores, amount)` removes the `amount` lowest scores —
# an int is a count, a float a fraction (as in `torch.nn.utils.prune`).
# Ties go by position, so exactly that many entries go and the achieved
# sparsity *is* the requested one.
#
# **Math.** A mask is a reparametrization, $W_\text{eff} = W \odot M$. It
# lives on the parameter (`Parameter.mask`); every optimizer in
# `minicomp.optim` multiplies the gradient by $M$ before the update, the
# weights by $M$ after it, and every optimizer buffer (momentum, Adam's
# moments) by $M$, so a pruned weight stays exactly 0.

# %%
def mask_from_scores_scratch(scores, amount):
    k = round(amount * scores.size) if isinstance(amount, float) else amount
    order = np.argsort(scores, axis=None, kind="stable")  # lowest first
    mask = np.ones(scores.size, dtype=np.float32)
    mask[order[:k]] = 0.0
    return mask.reshape(scores.shape)

scores = magnitude_scores(net0[0].W.data)
for amount in (0.3, 0.9, 1000):
    m = mask_from_scores_scratch(scores, amount)
    assert np.array_equal(m, P.mask_from_scores(scores, amount))
    removed = int((m == 0).sum())
    print(f"amount={amount!r:6}: {removed:4d} of {m.size} removed")
try:
    P.mask_from_scores(scores, 1.5)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# What to conclude: the scratch function and the library agree entry for
# entry, the count removed is exactly the one asked for (ties never make
# it drift), and an impossible amount is refused with its value named.

# %% [markdown]
# **Momentum revives what is only zeroed.** Zero 90 % of the weights once,
# without a mask, and fine-tune with momentum for one epoch: the zeros are
# gone. The same with `apply_mask`: they stay.

# %%
def one_epoch(net):
    opt = optim.SGD(net.parameters(), lr=0.02, momentum=0.9,
                    weight_decay=5e-4)
    fit(net, X_train, y_train, optimizer=opt, epochs=1, quiet=True)

mask = P.mask_from_scores(magnitude_scores(net0[0].W.data), 0.9)
for how in ("zeroed only", "masked"):
    net = copy.deepcopy(net0)
    if how == "zeroed only":
        net[0].W.data *= mask                  # no mask on the parameter
    else:
        apply_mask(net[0].W, mask)
    one_epoch(net)
    alive = np.count_nonzero(net[0].W.data[mask == 0])
    print(f"{how:12}: {alive:4d} of {int((mask == 0).sum())} pruned "
          f"weights are nonzero after one epoch")

# %% [markdown]
# What to conclude: without a mask, momentum (and the gradient) moves the
# zeroed weights on the first steps, so "pruning" by zeroing alone does
# not survive fine-tuning. With the mask, every pruned weight is still
# exactly 0.
#
# The histogram of section 3.1 once more, now after 10 epochs of
# fine-tuning with the mask in place: the hole stays empty, and the
# surviving weights move to take over the work of the removed ones.

# %%
tuned = copy.deepcopy(chosen)              # the eps-pruned net of 3.1
P.FineTune(epochs=10, lr=0.02)(tuned, X_train, y_train)
W_tuned = tuned[2].W.data.ravel()
assert np.all(W_tuned[W_after == 0] == 0)  # the mask held
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
for ax, w, title in ((axes[0], W_before, "before pruning"),
                     (axes[1], W_after, f"pruned, |w| < {eps_chosen}"),
                     (axes[2], W_tuned, "pruned, then fine-tuned")):
    ax.hist(w[w != 0], bins=bins)
    ax.set(xlabel="weight value $w_{ij}$", title=title)
axes[0].set_ylabel("number of nonzero weights")
fig.suptitle("Hidden layer 2: weights before and after pruning")
fig.tight_layout()
plt.show()
print(f"validation accuracy: pruned {val_acc(chosen):.4f}, fine-tuned "
      f"{val_acc(tuned):.4f}")

# %% [markdown]
# What to conclude: the pruned weights stay at exactly zero while the
# surviving ones move (compare the last two panels). At the sparsity
# chosen on the validation split, pruning alone cost little, so the two
# validation accuracies printed differ by about an image — noise: at
# this sparsity fine-tuning has little to repair. Section 6 goes to
# sparsities where it has much more.

# %% [markdown]
# **Global pruning without a floor can delete a layer.** A ReLU network
# computes the same function if one layer is multiplied by 100 and the
# next by 1/100. A single global magnitude threshold then removes the
# whole small layer, and the network answers at chance. minicomp's global
# scope normalises each layer's scores and always keeps at least 1 % of
# every layer (`min_keep`); the stated rule is in `minicomp/prune/mask.py`.

# %%
net = copy.deepcopy(net0)
net[2].W.data *= 100.0; net[2].b.data *= 100.0   # same function ...
net[4].W.data *= 0.01                            # ... different scales
assert np.allclose(predict(net, X_val), predict(net0, X_val), atol=1e-3)

plain = copy.deepcopy(net)                       # one raw threshold
scores = [np.abs(b.dense.W.data) for b in dense_blocks(plain)]
flat = np.concatenate([s.ravel() for s in scores])
eps = np.sort(flat)[round(0.7 * flat.size)]
for b, s in zip(dense_blocks(plain), scores):
    apply_mask(b.dense.W, (s >= eps).astype(np.float32))
P.prune(net, "magnitude", 0.7, scope="global")
for name, n in (("raw global threshold", plain), ("minicomp global", net)):
    kept = [int(np.count_nonzero(b.dense.W.data))
            for b in dense_blocks(n)]
    print(f"{name:21}: weights kept per layer {kept}, validation "
          f"accuracy {val_acc(n):.3f}")

# %% [markdown]
# What to conclude: the raw threshold keeps only the layer that was
# scaled up and empties the others (the counts printed), although the
# network computes the same function as before, and it answers at
# chance; normalising per layer with a floor keeps every layer alive.

# %% [markdown]
# ## 5. What the seed samples get wrong
#
# Each box quotes a seed's pruning sample and runs it. Where the sample's
# library can be installed — PyTorch, for seeds 001, 002 and 004 — the
# box runs the seed's code **exactly as printed** (kept in a string and
# executed in a fresh namespace, so nothing from this notebook leaks in).
# Without PyTorch, the box says so and runs a NumPy translation instead,
# labelled as such. Seed 000's sample is Keras code: it runs literally
# where Keras 3 is installed (on PyTorch), on a small Keras model, and a
# translation follows it. The optional extra
# `pip install "minicomp[seeds]"` installs what the literal runs need.

# %%
try:
    import torch
    HAVE_TORCH = True
    print("PyTorch", torch.__version__, "is installed: the literal seed "
          "samples run")
except ImportError:
    HAVE_TORCH = False
    print("PyTorch is not installed (pip install \"minicomp[seeds]\"): "
          "the boxes run labelled NumPy translations instead")


def run_sample(code, namespace):
    # exec one seed sample; report the error it raises, if any
    try:
        exec(code, namespace)
        return None
    except Exception as err:                # the samples raise many kinds
        return f"{type(err).__name__}: {err}"


# %% [markdown]
# > **Seed 004 (sections 4.2 and 4.4):**
# > `param.data.abs().clamp_(epsilon, 1 - epsilon)`.
# > `.abs()` returns a *new* tensor; `clamp_` clamps that copy in place,
# > and the copy is thrown away. The model is not touched: **nothing is
# > pruned**. Had the result been written back, it would be worse: every
# > weight would become positive and at least ε — no zeros at all, and
# > every sign lost. The text's own formula, remove
# > $\{w : |w| < \varepsilon\}$, is `magnitude_threshold_mask`.

# %%
SEED004_MODEL = """
import torch
import torch.nn.functional as F
import torch.nn.functional as F

# 定义模型
class Net(torch.nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = torch.nn.Linear(10, 10)
        self.fc2 = torch.nn.Linear(10, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x

# 创建模型
net = Net()
"""

SEED004_PRUNE = """
# 定义裁剪阈值
epsilon = 1e-3

# 定义裁剪函数
def prune(model, epsilon):
    for param in model.parameters():
        param.data.abs().clamp_(epsilon, 1 - epsilon)

# 裁剪模型
prune(net, epsilon)
"""


def seed004_prune(model, epsilon):           # NumPy translation
    for param in model.parameters():         # for param in model.params..:
        a = np.abs(param.data)               #     param.data.abs()  (a copy)
        np.clip(a, epsilon, 1 - epsilon, out=a)   # .clamp_(eps, 1 - eps)


if HAVE_TORCH:                               # the seed's code, as printed
    ns = {}
    run_sample(SEED004_MODEL, ns)
    before = [p.detach().clone() for p in ns["net"].parameters()]
    run_sample(SEED004_PRUNE, ns)
    after = list(ns["net"].parameters())
    same = all(torch.equal(b, a) for b, a in zip(before, after))
    zeros = sum(int((a == 0).sum()) for a in after)
    print(f"seed 004, literal PyTorch: weights unchanged: {same} | "
          f"zeros: {zeros}")
else:                                        # translation, on our net
    net = copy.deepcopy(net0)
    before = [p.data.copy() for p in net.parameters()]
    seed004_prune(net, 1e-3)
    same = all(np.array_equal(b, p.data)
               for b, p in zip(before, net.parameters()))
    zeros = sum(int((p.data == 0).sum()) for p in net.parameters())
    print(f"seed 004, NumPy translation: weights unchanged: {same} | "
          f"zeros: {zeros}")

net = copy.deepcopy(net0)                    # not the seed's code: what
for p in net.parameters():                   # writing it back would do
    p.data[...] = np.clip(np.abs(p.data), 1e-3, 1 - 1e-3)
print("written back instead: zeros:",
      sum(int((p.data == 0).sum()) for p in net.parameters()),
      f"| validation accuracy {val_acc(net):.3f}")

# %% [markdown]
# What to conclude: the sample leaves every weight as it was (no zeros at
# all), and the version that writes its result back destroys the network
# without creating a single zero. Neither is pruning.

# %% [markdown]
# > **Seed 002 (section 4.1):**
# > `if param.data.abs() < threshold: param.data = 0`, inside the training
# > loop. The comparison gives a whole tensor of booleans, and `if` on a
# > tensor with more than one element is an error. Even if it ran,
# > `param.data = 0` would replace the whole tensor by one number, not the
# > small entries, and without a mask the next `optimizer.step()` would
# > move the zeros again (section 4).

# %%
SEED002 = """
import torch
import torch.nn as nn
import torch.optim as optim

# 定义一个简单的神经网络
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(10, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return x

# 训练一个初始模型
net = Net()
criterion = nn.MSELoss()
optimizer = optim.SGD(net.parameters(), lr=0.01)

# 设定一个阈值
threshold = 0.01

# 裁剪过程
for epoch in range(100):
    inputs = torch.randn(1, 10)
    targets = torch.randn(1, 10)
    optimizer.zero_grad()
    outputs = net(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    for param in net.parameters():
        if param.data.abs() < threshold:
            param.data = 0
    optimizer.step()

# 评估裁剪后的模型性能
"""

if HAVE_TORCH:
    error = run_sample(SEED002, {})
    print("seed 002, literal PyTorch:", error or "ran without error")
else:                                        # NumPy translation
    threshold = 0.01                         # threshold = 0.01
    try:
        for param in net0.parameters():      # for param in net.parameters():
            if np.abs(param.data) < threshold:    # if param.data.abs() < t:
                param.data = 0                    #     param.data = 0
    except ValueError as err:
        print("seed 002, NumPy translation: ValueError:", err)

# %% [markdown]
# What to conclude: the sample stops at its first pruning step with the
# error printed above, so it never prunes anything; the test it meant is
# elementwise, `mask = |w| >= threshold`, held by the optimizer as in
# section 4.

# %% [markdown]
# > **Seed 001 (section 4):** a combined "structure optimization"
# > sample. Three things are wrong with it, each run below:
# >
# > 1. its third line imports a module that does not exist
# >    (`torch.quantization.quantize_fake_qualities`), so the sample stops
# >    there; it also trains on a `train_loader` it never defines;
# > 2. its "small model" is the same class as its "big model",
# >    `SimpleNet()` both times: equally large;
# > 3. its pruning line `param_data[param_data < pruning_threshold] = 0`
# >    has no `abs`: the test is true for *every negative weight*. It
# >    deletes about half the network, biases included, and keeps the
# >    small positive weights it meant to remove.

# %%
SEED001 = """
import torch
import torch.nn as nn
import torch.quantization.quantize_fake_qualities as fq

# 定义一个简单的神经网络
class SimpleNet(nn.Module):
    def __init__(self):
        super(SimpleNet, self).__init__()
        self.fc1 = nn.Linear(10, 5)
        self.fc2 = nn.Linear(5, 1)

    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return x

# 训练一个大模型
model = SimpleNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
criterion = nn.MSELoss()
for epoch in range(100):
    for data, target in train_loader:
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()

# 训练一个小模型
small_model = SimpleNet()
optimizer = torch.optim.SGD(small_model.parameters(), lr=0.01)
criterion = nn.MSELoss()
for epoch in range(100):
    for data, target in train_loader:
        optimizer.zero_grad()
        output = small_model(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()

# 进行剪枝
pruning_threshold = 0.01
for param in small_model.parameters():
    param_data = param.data.clone()
    param_data[param_data < pruning_threshold] = 0
    param.data = param_data

# 进行量化
quantize_model = fq.fake_quantize(small_model, num_bits=8)
"""

if HAVE_TORCH:
    print("seed 001 as printed:", run_sample(SEED001, {}))
    lines = SEED001.splitlines()             # its own class definition
    start = lines.index("class SimpleNet(nn.Module):")
    end = lines.index("# 训练一个大模型")
    ns = {}
    run_sample("\n".join(lines[1:3] + lines[start:end]), ns)
    run_sample("model = SimpleNet()\nsmall_model = SimpleNet()", ns)
    sizes = [sum(p.numel() for p in ns[m].parameters())
             for m in ("model", "small_model")]
    print(f"parameters: 'big' model {sizes[0]}, 'small' model {sizes[1]}")
else:
    print("PyTorch not installed: seed 001's sample is not run")

# %% [markdown]
# For point 3, the sample's five pruning lines, unchanged, applied to our
# baseline (loaded into PyTorch: a `Dense` layer's `W` has
# `nn.Linear`'s layout, so its state dict loads as it is), against the
# same lines with the `abs` the text meant.

# %%
lines = SEED001.splitlines()
first = lines.index("pruning_threshold = 0.01")
PRUNE_001 = "\n".join(lines[first:first + 5])   # the 5 pruning lines
print(PRUNE_001)


def seed001_numpy(net, meant):               # NumPy translation
    pruning_threshold = 0.01                 # pruning_threshold = 0.01
    for param in net.parameters():           # for param in ...:
        param_data = param.data.copy()       #   param_data = ....clone()
        small = np.abs(param_data) if meant else param_data   # (meant: abs)
        param_data[small < pruning_threshold] = 0   # [... < t] = 0
        param.data = param_data              #   param.data = param_data


def zero_fraction(params):
    flat = np.concatenate([np.asarray(p).ravel() for p in params])
    return np.mean(flat == 0)


if HAVE_TORCH:
    small_model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
        torch.nn.ReLU(), torch.nn.Linear(64, 10))
    small_model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v
                                 in net0.state_dict().items()})
    with torch.no_grad():                    # the same outputs as net0
        out = small_model(torch.from_numpy(X_val)).numpy()
    assert np.allclose(out, predict(net0, X_val), atol=1e-4)
    ns = {"small_model": small_model}
    run_sample(PRUNE_001, ns)                # the seed's lines, literal
    with torch.no_grad():
        out = small_model(torch.from_numpy(X_val)).numpy()
    zero = zero_fraction(p.detach().numpy() for p in
                         small_model.parameters())
    acc = np.mean(out.argmax(axis=1) == y_val)
    print(f"seed 001, literal PyTorch: {zero:.1%} of parameters zeroed, "
          f"validation accuracy {acc:.3f}")
else:
    net = copy.deepcopy(net0)
    seed001_numpy(net, meant=False)
    print(f"seed 001, NumPy translation: "
          f"{zero_fraction(p.data for p in net.parameters()):.1%} of "
          f"parameters zeroed, validation accuracy {val_acc(net):.3f}")
net = copy.deepcopy(net0)
seed001_numpy(net, meant=True)
print(f"meant, |w| < t (NumPy): "
      f"{zero_fraction(p.data for p in net.parameters()):.1%} of "
      f"parameters zeroed, validation accuracy {val_acc(net):.3f}")

# %% [markdown]
# What to conclude: as printed, the sample does not even import; its two
# models have the same size, so there is nothing "small" to compress; and
# its pruning rule removes a large share of the parameters — the negative
# ones — and leaves a network far below the baseline, where the rule it
# meant removes few weights and changes almost nothing.

# %% [markdown]
# > **Seed 000 (section 4.3):** `layer.get_pruned().set_threshold(...)`.
# > Keras layers have no `get_pruned` method (neither does any Keras or
# > TensorFlow release; pruning lives in the separate
# > `tensorflow_model_optimization` package, as `prune_low_magnitude`
# > wrappers). Because the loop is guarded by
# > `if hasattr(layer, 'get_pruned')`, the call never happens:
# > `prune(model, 0.01)` **silently does nothing**.
#
# The sample's last lines as printed (its model and training lines are
# those of chapter 01's box, which stops at `X_train`), run literally
# where Keras is installed, on a small untrained Keras model of the
# digits' shape built here; then every weight is compared:

# %%
SEED000_PRUNE = """
# 模型剪枝
def prune(model, threshold):
    for layer in model.layers:
        if hasattr(layer, 'get_pruned'):
            layer.get_pruned().set_threshold(threshold)
            layer.get_pruned().set_mode('magnitude')
            layer.get_pruned().prune()
            layer.get_pruned().summary()

prune(model, 0.01)
"""


def import_keras():
    """Keras 3 if installed (on PyTorch unless TensorFlow is), else None."""
    if importlib.util.find_spec("keras") is None:
        print("Keras is not installed: the literal sample is skipped; "
              "its translation below runs instead")
        return None
    if importlib.util.find_spec("tensorflow") is None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    return keras


keras = import_keras()
if keras is not None:
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    before = [w.copy() for w in model.get_weights()]
    print("Keras", keras.__version__, "on", keras.backend.backend(),
          "| literal sample:",
          run_sample(SEED000_PRUNE, {"model": model}) or "ran")
    print("any weight changed:",
          any(not np.array_equal(a, b)
              for a, b in zip(before, model.get_weights())))
    print("any layer with get_pruned:",
          any(hasattr(layer, "get_pruned") for layer in model.layers))

# %% [markdown]
# Where Keras is installed, the literal run raises no error, no weight
# changes and no layer has `get_pruned`: the guard is false for every
# layer. The **translation** to a minicomp network, each line next to
# the seed's original, shows the same without Keras:

# %%
def seed000_prune(model, threshold):     # def prune(model, threshold):
    for layer in model:                  #   for layer in model.layers:
        if hasattr(layer, "get_pruned"):     # if hasattr(layer, 'get_...
            layer.get_pruned().set_threshold(threshold)   # (same line)
            layer.get_pruned().set_mode("magnitude")      # (same line)
            layer.get_pruned().prune()                    # (same line)
            layer.get_pruned().summary()                  # (same line)


net = copy.deepcopy(net0)
nonzero = lambda n: sum(int(np.count_nonzero(p.data))
                        for p in n.parameters())
before = nonzero(net)
seed000_prune(net, 0.01)                 # prune(model, 0.01)
print("seed 000, translation: nonzeros before", before, "after",
      nonzero(net))
print("any layer with get_pruned:",
      any(hasattr(layer, "get_pruned") for layer in net))

# %% [markdown]
# What to conclude: the number of nonzero weights is unchanged — the
# guard is never true, so the function returns without doing anything,
# and without an error that would have told the author.

# %% [markdown]
# ## 6. Every criterion on the same networks
#
# **Idea.** Prune each layer of the baseline to the same sparsity with
# every connection criterion, measure the test accuracy right after
# pruning (one-shot), and again after fine-tuning with the mask in place;
# all of it for the three seeds' networks. The calibration data of the
# data-dependent criteria is the training set.
#
# `P.prune` finds a criterion by name. Each criterion's file registers
# one function `scores(net, X=None, y=None)` returning an array per Dense
# layer, with what it ranks and what data it needs, e.g.
# `@P.criterion("wanda", level="connection", needs=("X",))`; a new
# criterion is one such function, anywhere (exercise 8). `P.criteria()`
# lists them:

# %%
for name, c in P.criteria().items():
    print(f"{name:14} {c.level:10} needs {', '.join(c.needs) or '-'}")

# %% [markdown]
# **How many fine-tuning epochs?** A choice, so it is made on the
# validation split: prune seed 0's network by magnitude to 90 %,
# fine-tune for each candidate number of epochs, and keep the smallest
# number whose validation accuracy is within `MAX_DROP` of the best.

# %%
candidates = (3, 5, 10, 20)
ft_val = {}
for e in candidates:
    net = copy.deepcopy(net0)
    P.prune(net, "magnitude", 0.9)
    P.FineTune(epochs=e, lr=0.02)(net, X_train, y_train)
    ft_val[e] = val_acc(net)
FT_EPOCHS = min(e for e in candidates
                if ft_val[e] >= max(ft_val.values()) - MAX_DROP)
print("validation accuracy per epochs:",
      {e: round(a, 4) for e, a in ft_val.items()})
print("chosen: FT_EPOCHS =", FT_EPOCHS)

# %% [markdown]
# What to conclude: a few epochs repair most of the damage; beyond the
# chosen number the validation accuracy moves by no more than `MAX_DROP`
# (a couple of validation images), so more epochs would buy nothing this
# split can measure. Now the comparison, over the three seeds:

# %%
sparsities = (0.5, 0.7, 0.8, 0.9)
fine_tuned_at = (0.8, 0.9)
cols = [*sparsities, *(f"{s} ft" for s in fine_tuned_at)]
table = {crit: {c: [] for c in cols} for crit in P.criteria("connection")}
t0 = time.perf_counter()
for seed, net_s in nets.items():
    for crit, row in table.items():
        for s in sparsities:
            net = copy.deepcopy(net_s)
            P.prune(net, crit, s, X_train, y_train, seed=seed)
            row[s].append(test_acc(net))
            if s in fine_tuned_at:
                P.FineTune(epochs=FT_EPOCHS, lr=0.02, seed=seed)(
                    net, X_train, y_train)
                row[f"{s} ft"].append(test_acc(net))
print(f"({time.perf_counter() - t0:.1f} s) test accuracy, mean ± std "
      f"over seeds {SEEDS}")
print(f"{'criterion':10}" + "".join(f"{str(c):>14}" for c in cols))
for crit, row in table.items():
    print(f"{crit:10}" + "".join(f"{mean_std(row[c]):>14}" for c in cols))

# %%
fig, ax = plt.subplots(figsize=(7.5, 4.2))
for crit, row in table.items():
    line = ax.errorbar(sparsities, [np.mean(row[s]) for s in sparsities],
                       yerr=[np.std(row[s]) for s in sparsities],
                       marker="o", capsize=3, label=crit)
    ax.errorbar(fine_tuned_at,
                [np.mean(row[f"{s} ft"]) for s in fine_tuned_at],
                yerr=[np.std(row[f"{s} ft"]) for s in fine_tuned_at],
                fmt="*", ms=12, capsize=3, color=line[0].get_color())
ax.axhline(np.mean(base_accs), color="gray",
           ls=":", label="unpruned (mean)")
ax.set_xlabel("sparsity of every layer")
ax.set_ylabel("test accuracy (mean ± std, 3 seeds)")
ax.set_title("Criteria: one-shot (lines) and after fine-tuning (stars)")
ax.legend(fontsize=8)
plt.show()


# %% [markdown]
# Which differences are larger than the spread between seeds? For each
# column, the criteria in order of mean accuracy, with `>` where the gap
# to the next one exceeds the larger of their two standard deviations and
# `≈` where it does not:

# %%
def ranking(results, column):
    order = sorted(results, key=lambda c: -np.mean(results[c][column]))
    text = order[0]
    for a, b in zip(order, order[1:]):
        gap = np.mean(results[a][column]) - np.mean(results[b][column])
        noise = max(np.std(results[a][column]), np.std(results[b][column]))
        text += (" > " if gap > noise else " ≈ ") + b
    return text


for c in cols:
    print(f"{str(c):7}: {ranking(table, c)}")

# %% [markdown]
# What to conclude — read it off the printed rankings:
#
# * random is last in every column, far below every informed criterion;
# * one-shot, the informed criteria are indistinguishable at 50 %; from
#   70 % on, the two that use second-order information lead, and OBS —
#   the only one that also corrects the weights that stay — leads by far
#   at the highest sparsity;
# * after a few epochs of fine-tuning the informed criteria come much
#   closer (at 80 % all `≈`); OBS's one-shot lead is gone, because
#   fine-tuning re-optimises the weights its update had set; at 90 %
#   what is left is a gap much smaller than one-shot's, with OBD and
#   Taylor ahead of the others (the last ranking).
#
# The criterion matters most when there is no retraining. `minicomp bench
# prune` goes further over seeds: how sparse gradual pruning can go with
# longer fine-tuning, and how well each criterion predicts the true loss
# change of removing each weight.

# %% [markdown]
# ## 7. Procedures: one-shot, iterative, gradual, per-layer
#
# **Idea.** *How* one reaches a sparsity matters as much as the criterion.
#
# * **One-shot**: prune to the target, then fine-tune.
# * **Iterative** (Han et al. 2015): prune a little, fine-tune, prune
#   more — e.g. 50 %, 75 %, 90 %.
# * **Gradual** (Zhu & Gupta 2017): prune *during* training, every
#   $\Delta t$ steps, following the cubic schedule
#
# $$s_t = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{n\,\Delta t}\Big)^3,$$
#
#   fast while there is much redundancy, slowly at the end. The
#   sparsity changes only at the pruning steps
#   $t = t_0, t_0 + \Delta t, \dots, t_0 + n\Delta t$ and is held in
#   between, so $t - t_0$ is rounded down to a multiple of $\Delta t$
#   (and capped at $n\Delta t$).

# %%
steps = np.arange(0, 400)
s_t = [P.cubic_sparsity(t, 0.9, s_i=0.0, t0=50, n=10, dt=25)
       for t in steps]
k = np.clip((steps - 50) // 25, 0, 10)         # pruning steps done
s_scratch = np.where(steps < 50, 0.0,
                     0.9 + (0.0 - 0.9) * (1 - k / 10) ** 3)
assert np.allclose(s_t, s_scratch)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(steps, s_t)
ax.set_xlabel("training step t")
ax.set_ylabel("sparsity $s_t$")
ax.set_title("cubic schedule: $s_f=0.9$, $t_0=50$, $n=10$, $\\Delta t=25$")
plt.show()

# %% [markdown]
# The three procedures get the same number of training epochs. That
# budget is a choice, made on the validation split with gradual pruning
# of seed 0's network (the same rule as before: the smallest budget
# within `MAX_DROP` of the best).

# %%
target = 0.93
budget_val = {}
for e in (12, 24, 36):
    net = P.gradual(copy.deepcopy(net0), X_train, y_train, target,
                    fine_tune=P.FineTune(epochs=e, lr=0.02))
    budget_val[e] = val_acc(net)
EPOCHS = min(e for e in budget_val
             if budget_val[e] >= max(budget_val.values()) - MAX_DROP)
print("validation accuracy per budget:",
      {e: round(a, 4) for e, a in budget_val.items()}, "-> EPOCHS =", EPOCHS)

# %% [markdown]
# What to conclude: the rule takes the printed budget, the smallest whose
# validation accuracy is within `MAX_DROP` of the best; every procedure
# below gets that many epochs, on all three seeds.


# %%
def procedures(seed):
    ft = lambda epochs: P.FineTune(epochs=epochs, lr=0.02, seed=seed)
    return {
        "one-shot": lambda n: P.one_shot(
            n, X_train, y_train, "magnitude", target, fine_tune=ft(EPOCHS)),
        "iterative": lambda n: P.iterative(
            n, X_train, y_train, "magnitude", (0.5, 0.75, 0.87, target),
            fine_tune=ft(EPOCHS // 4)),
        "gradual": lambda n: P.gradual(
            n, X_train, y_train, target, fine_tune=ft(EPOCHS)),
    }


proc_acc = {name: [] for name in procedures(0)}
for seed, net_s in nets.items():
    for name, run in procedures(seed).items():
        net = run(copy.deepcopy(net_s))
        assert abs(sparsity(net) - target) < 0.005
        proc_acc[name].append(test_acc(net))
print(f"sparsity {target}, {EPOCHS} epochs each; test accuracy over "
      f"seeds {SEEDS}:")
for name, accs in proc_acc.items():
    print(f"{name:10}: {mean_std(accs)}   per seed {np.round(accs, 3)}")
print(f"one test image = {1 / len(y_test):.4f}; differences on the "
      "same network:")
for a, b in (("iterative", "one-shot"), ("gradual", "one-shot"),
             ("gradual", "iterative")):
    d = np.subtract(proc_acc[a], proc_acc[b])
    print(f"{a} - {b}: {mean_std(d)}   per seed {np.round(d, 3)}")

# %% [markdown]
# What to conclude: the per-seed differences (same network, same data,
# only the procedure changed) are the fair comparison. Iterative and
# gradual pruning beat one-shot on every seed (every per-seed difference
# printed is positive, though on one seed by only a couple of test
# images), and the mean difference exceeds its spread: at this sparsity,
# reaching it step by step (with the same number of epochs) keeps more
# accuracy.
# Between iterative and gradual the differences change sign or stay
# within their spread: no winner is established by this run, whatever a
# single seed says.
#
# **Per-layer sensitivity.** Layers do not tolerate pruning equally. Prune
# one layer at a time and watch the *validation* accuracy (Han et al.
# 2015); then give each layer the largest sparsity whose drop
# stays within `MAX_DROP`. These are choices, so they are made on the
# validation split; the test set then gives the final number of the
# whole recipe (per-layer one-shot pruning, then fine-tuning), per seed.

# %%
levels = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
scan = P.sensitivity_scan(net0, X_val, y_val, levels, X=X_train,
                          y=y_train)
fig, ax = plt.subplots(figsize=(6, 3.2))
for k, accs in scan.items():
    ax.plot(levels, accs, "o-", label=f"Dense layer {k}")
ax.set_xlabel("sparsity of that layer only")
ax.set_ylabel("validation accuracy")
ax.set_title("Sensitivity of each layer (seed 0, no fine-tuning)")
ax.legend()
plt.show()
net = copy.deepcopy(net0)                 # one entry of the scan by hand
P.prune(net, "magnitude", levels[-1], layers=[0])
assert val_acc(net) == scan[0][-1]

final = []
for seed, net_s in nets.items():
    scan_s = P.sensitivity_scan(net_s, X_val, y_val, levels, X=X_train,
                                y=y_train)
    picked = P.pick_sparsities(scan_s, levels, val_acc(net_s),
                               max_drop=MAX_DROP)
    net = copy.deepcopy(net_s)
    for k, s in enumerate(picked):
        if s > 0:
            P.prune(net, "magnitude", s, layers=[k])
    P.FineTune(epochs=FT_EPOCHS, lr=0.02, seed=seed)(net, X_train, y_train)
    final.append(test_acc(net))
    print(f"seed {seed}: per-layer sparsities {picked} (total "
          f"{sparsity(net):.3f}), test accuracy {final[-1]:.4f}")
print(f"final: {mean_std(final)} vs unpruned "
      f"{mean_std(base_accs)}")

# %% [markdown]
# What to conclude: the layers fall off at different sparsities, and each
# seed's picks follow its own curves; the final line is the test number
# of a recipe whose every choice was made without the test set — a small
# loss against the unpruned networks at the total sparsity printed.
# Exercise 5 compares it with the same total sparsity spread uniformly.
#
# **What it buys.** Zeros in a dense array take as much memory and time as
# any other number. The real size is the CSR storage — values, column
# indices in the narrowest type that holds them (1 byte for ≤ 256
# inputs), row pointers (also as narrow as they can be), and the bias,
# kept dense — not "nonzeros × 4". Take seed 0's gradual net (the bytes
# are also recomputed by hand from that rule and asserted equal):

# %%
net = procedures(0)["gradual"](copy.deepcopy(net0))
report = P.size_report(net)
print(f"{'layer':>5} {'shape':>10} {'nonzero':>8} {'dense B':>8} "
      f"{'CSR B':>7}")
for k, r in enumerate(report["layers"]):
    print(f"{k:5d} {str(r['shape']):>10} {r['nonzero']:8d} "
          f"{r['dense_bytes']:8d} {r['csr_bytes']:7d}")
print(f"total: {report['compression']:.1f}x fewer nonzero weights; "
      f"{report['dense_bytes']} B dense -> {report['csr_bytes']} B CSR "
      f"({report['dense_bytes'] / report['csr_bytes']:.1f}x)")
csr = to_csr(net[0].W.data)
print("layer 0 CSR index dtypes:", csr.indices.dtype, csr.indptr.dtype)
for b, r in zip(dense_blocks(net), report["layers"]):  # bytes by hand
    n_out, n_in = b.dense.W.shape
    nnz = int(np.count_nonzero(b.dense.W.data))
    idx = np.min_scalar_type(n_in - 1).itemsize      # column index
    ptr = np.min_scalar_type(nnz).itemsize           # row pointer
    assert r["csr_bytes"] == nnz * (4 + idx) + (n_out + 1) * ptr + 4 * n_out

# %% [markdown]
# What to conclude: the bytes shrink by less than the number of nonzero
# weights, because every kept weight also stores its column index, and
# every row a pointer; the index types printed are the narrowest that
# fit. Speed needs a kernel that skips the zeros. The CSR kernel (a naive
# reference and a Numba version) is built and timed in
# [`07_kernels.ipynb`](07_kernels.ipynb); `minicomp.deploy.to_inference`
# runs a pruned net on it, and `inference_time(net, X)` of
# `minicomp.bench.inference` times it next to the dense forward pass.

# %% [markdown]
# ## 8. Structured pruning: remove neurons, really
#
# **Idea.** Score *neurons* by $R_i$ (or any neuron criterion) and remove
# whole neurons. `prune(net, "activation", ...)` only *masks* them: the
# arrays keep their size, and a masked neuron still costs its row and
# its column in every matrix product. To make the network really smaller,
# the neurons must leave the arrays — that is `P.compact(net)`.
#
# **Where does a neuron live?** Neuron $i$ of hidden layer $k$ is in
# three places: row $i$ of $W^{(k)}$ and entry $i$ of $b^{(k)}$ compute
# it, and column $i$ of $W^{(k+1)}$ reads it. Removing $r$ neurons
# shrinks *two* layers:
#
# $$W^{(k)}: (n_k, n_{k-1}) \to (n_k - r,\; n_{k-1}), \qquad
#   b^{(k)}: (n_k,) \to (n_k - r,), \qquad
#   W^{(k+1)}: (n_{k+1}, n_k) \to (n_{k+1},\; n_k - r).$$
#
# **Math: when is that exact?** Write the next layer's pre-activation as a
# sum over the neurons that feed it,
#
# $$z^{(k+1)} = \sum_i W^{(k+1)}_{:,i}\; h_i + b^{(k+1)},
#   \qquad h_i = f\big(w^{(k)}_{i,:}\cdot h^{(k-1)} + b^{(k)}_i\big).$$
#
# The next layer sees neuron $i$ only through the term
# $W^{(k+1)}_{:,i}\, h_i$. When the mask zeroes the neuron's row *and*
# bias and $f$ is a ReLU, $h_i = f(0) = 0$ for every input: the term is
# always zero, and deleting the row, the bias entry and the column changes
# no output. When the removed neuron's output is some *other* constant —
# another activation, or a bias left in place — the term is a constant
# vector, not zero, and simply deleting the column changes every output.
# Where that constant can be kept is the question of exercise 02, which
# asks you to write `compact` yourself; this section only shows what the
# library's does.
#
# **A tiny example.** A 4 → 5 → 3 ReLU network; neurons 1 and 3 of its
# hidden layer are masked. The picture shows the entries that go, before
# and after `compact`:

# %%
tiny_net = Sequential(Dense(4, 5, seed=3), ReLU(), Dense(5, 3, seed=4))
prune_neurons(tiny_net[0], np.array([1, 0, 1, 0, 1]))   # 0: removed
tiny_small = P.compact(tiny_net)
X_tiny = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
assert np.allclose(predict(tiny_small, X_tiny), predict(tiny_net, X_tiny),
                   atol=1e-6)
print(tiny_net[0].W.shape, tiny_net[2].W.shape, "->",
      tiny_small[0].W.shape, tiny_small[2].W.shape, "| same outputs")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.2),
                         gridspec_kw={"width_ratios": [4, 5, 4, 3]})
panels = [(tiny_net[0].W.data, "$W^{(0)}$ before: rows 1, 3 go"),
          (tiny_net[2].W.data, "$W^{(1)}$ before: columns 1, 3 go"),
          (tiny_small[0].W.data, "$W^{(0)}$ after"),
          (tiny_small[2].W.data, "$W^{(1)}$ after")]
for ax, (M, title) in zip(axes, panels):
    ax.imshow(M, cmap="coolwarm", vmin=-1.5, vmax=1.5)
    ax.set(title=title, xlabel="input j", ylabel="neuron i")
for i in (1, 3):                             # mark what is removed
    axes[0].axhspan(i - 0.5, i + 0.5, color="k", alpha=0.35)
    axes[1].axvspan(i - 0.5, i + 0.5, color="k", alpha=0.35)
fig.suptitle("compact(): two masked neurons leave two matrices")
fig.tight_layout()
plt.show()

# %% [markdown]
# What to conclude: the masked rows of $W^{(0)}$ are zero (grey bands),
# but the columns of $W^{(1)}$ that read them are not — they only
# multiply zeros. `compact` drops both, and the outputs printed equal.
#
# **The real network.** Half the hidden neurons of seed 0's network,
# removed gradually by $R_i$ during fine-tuning, then compacted:

# %%
net = copy.deepcopy(net0)
P.gradual(net, X_train, y_train, 0.5, criterion="activation",
          fine_tune=P.FineTune(epochs=EPOCHS, lr=0.02))
small = P.compact(net)
print(small)
assert np.allclose(predict(small, X_test), predict(net, X_test),
                   atol=1e-5)
print(f"test accuracy (one run, seed 0): unpruned {base_acc:.4f}, half "
      f"the hidden neurons removed {test_acc(small):.4f}")

X_b = np.ascontiguousarray(np.tile(X_test, (3, 1))[:1024])   # (1024, 64)
t_big, t_small = np.inf, np.inf
for _ in range(3):                # alternate the two, keep the best of
    t_big = min(t_big, median_time(   # each: the least disturbed by
        lambda: numpy_forward(net0, X_b)))     # other programs
    t_small = min(t_small, median_time(
        lambda: numpy_forward(small, X_b)))
print(f"dense forward, batch 1024: {t_big * 1e6:.0f} us -> "
      f"{t_small * 1e6:.0f} us ({t_big / t_small:.2f}x faster); "
      f"{P.size_report(net0)['dense_bytes']} -> "
      f"{P.size_report(small)['dense_bytes']} bytes")

# %% [markdown]
# What to conclude: the compacted network is a plain dense network with
# smaller matrices, computing exactly what the masked one did; the bytes
# shrink with the number of parameters, and so does the work of every
# matrix product — any BLAS benefits, no sparse kernel needed. The times
# are measured when the cell runs (best of three alternating rounds); on
# a busy machine they are noisy, so rerun the cell before reading much
# into the ratio.
#
# **Which neurons?** Four neuron criteria at 50 %, one-shot and after
# fine-tuning, over the three seeds:

# %%
neuron_crits = ("activation", "taylor_neuron", "l1", "random_neuron")
neuron_cols = ("one-shot", "fine-tuned")
neurons = {c: {k: [] for k in neuron_cols} for c in neuron_crits}
pruned_nets = {}
for seed, net_s in nets.items():
    for crit in neuron_crits:
        net = copy.deepcopy(net_s)
        P.prune(net, crit, 0.5, X_train, y_train, seed=seed)
        neurons[crit]["one-shot"].append(test_acc(net))
        pruned_nets[seed, crit] = copy.deepcopy(net)
        P.FineTune(epochs=FT_EPOCHS, lr=0.02, seed=seed)(
            net, X_train, y_train)
        neurons[crit]["fine-tuned"].append(test_acc(net))
print(f"hidden neurons removed: 50 %; test accuracy over seeds {SEEDS}")
for crit, row in neurons.items():
    print(f"{crit:14}: one-shot {mean_std(row['one-shot'])}, "
          f"fine-tuned {mean_std(row['fine-tuned'])}")
for c in neuron_cols:
    print(f"{c:10}: {ranking(neurons, c)}")
d = np.subtract(neurons["l1"]["one-shot"], neurons["activation"]
                ["one-shot"])
print(f"one-shot, L1 - R_i on the same network: per seed {np.round(d, 3)}"
      f", in test images {np.round(d * len(y_test)).astype(int)}")

# %% [markdown]
# **Why doesn't the seed's $R_i$ lead one-shot?** It is the most
# informed-looking of the scores, yet the plain $L_1$ norm of the
# neuron's weights does at least as well in the printed runs (the
# per-seed differences above). To see why, measure what each criterion is
# trying to predict. Remove one neuron alone and record the increase of
# the training loss; do that for every hidden neuron; then compare, for
# the set each criterion removed, the **sum of those single-neuron
# increases** (what a criterion that scores neurons one at a time
# implicitly assumes) with the **actual increase** when the set is
# removed together.


# %%
def single_removal_losses(net, k):
    # training loss with each neuron of hidden layer k removed alone
    blocks = dense_blocks(net)
    _, inputs = numpy_forward(net, X_train, inputs=True)
    losses = []
    for i in range(blocks[k].dense.out_features):
        h = inputs[k + 1].copy()               # (N, 64): layer k's output
        h[:, i] = 0                             # relu(0): neuron i gone
        for b in blocks[k + 1:]:
            h = b.act.numpy(h @ b.dense.W.data.T + b.dense.b.data)
        losses.append(F.cross_entropy(h, y_train).item())
    return np.array(losses)                     # (64,)


def removed(net, k):                            # neurons masked in layer k
    return (dense_blocks(net)[k].dense.W.mask == 0).all(axis=1)


train_loss = lambda n: evaluate(n, X_train, y_train)["loss"]
informed = neuron_crits[:3]
summed = {c: [] for c in informed}
actual = {c: [] for c in informed}
differ = []
for seed, net_s in nets.items():
    base = train_loss(net_s)
    single = [single_removal_losses(net_s, k) - base for k in (0, 1)]
    for c in informed:
        net = pruned_nets[seed, c]
        summed[c].append(sum(single[k][removed(net, k)].sum()
                             for k in (0, 1)))
        actual[c].append(train_loss(net) - base)
    differ.append([int((removed(pruned_nets[seed, "activation"], k) !=
                        removed(pruned_nets[seed, "l1"], k)).sum())
                   for k in (0, 1)])
print("training-loss increase of the removed set, mean ± std over seeds")
print(f"{'criterion':14} {'sum of singles':>15} {'together':>15}")
for c in informed:
    print(f"{c:14} {mean_std(summed[c]):>15} {mean_std(actual[c]):>15}")
print("neurons removed by R_i but not by L1 (or vice versa), per seed "
      "and layer:", differ)

# %% [markdown]
# What to conclude, from the printout:
#
# * For every criterion, the damage of removing half the neurons
#   *together* is many times the sum of the single-neuron damages. At
#   this sparsity the loss comes mostly from **interactions**: neurons
#   that back each other up are each cheap to remove alone, and expensive
#   to remove together. No criterion here models that; each scores a
#   neuron in the intact network.
# * $R_i$ and $L_1$ disagree on only a handful of neurons per layer (last
#   line). Their one-shot order is decided by those few neurons and by
#   the interactions — the per-seed differences printed above, in test
#   images, not a verdict on the criteria.
# * Why $R_i$ has no edge: it measures the **input side** of a neuron,
#   how much its inputs can move its pre-activation
#   ($|z_i - b_i| \le \sum_j |w_{ij} y_j|$). What the network loses is the
#   **output side**: the neuron's output after the ReLU (a neuron whose
#   pre-activation is mostly negative passes almost nothing on, whatever
#   its $R_i$), its bias, and the outgoing weights that carry it to the
#   next layer. Weighting the incoming weights by $\mathbb E|y_j|$ changes
#   the ranking little (the pixels are standardized, and the hidden
#   inputs are all ReLU outputs of similar size), hence the few
#   disagreements with $L_1$. Taylor sees the output side, but to first
#   order only, at a point where the training gradient is nearly zero.
# * After fine-tuning all four criteria, random included, are within the
#   spread of each other (the second ranking): at half the neurons,
#   retraining repairs whatever the choice decided. Exercise 8 asks you
#   to build an output-side criterion and test it over seeds.

# %% [markdown]
# ## 9. Go further: the lottery ticket
#
# Frankle & Carbin (2019): train, prune by magnitude, **rewind** the
# surviving weights to their *initial* values, and train again; repeat.
# They found that the sparse network found this way (down to 10-20 % of
# the weights) trains to the dense network's accuracy, while the same
# mask with a *fresh* random initialisation trains worse. Below is the
# same comparison on digits — **one run**, one seed: on a problem this
# small expect the gap to be small, and do not believe it either way
# before exercise 7 repeats it over seeds.

# %%
recipe = P.FineTune(epochs=15, lr=0.05)
ticket = P.lottery_ticket(MLP([64, 64, 64, 10], seed=0), X_train,
                          y_train, recipe, amount_per_round=0.6, rounds=2)
fresh = MLP([64, 64, 64, 10], seed=123)      # same mask, new init
for b_new, b_t in zip(dense_blocks(fresh), dense_blocks(ticket)):
    apply_mask(b_new.dense.W, b_t.dense.W.mask)
recipe(fresh, X_train, y_train)
for name, n in (("winning ticket", ticket), ("random re-init", fresh)):
    print(f"{name:15}: sparsity {sparsity(n):.2f}, test accuracy "
          f"{test_acc(n):.4f} (one run)")

# %% [markdown]
# What to conclude: from one run, nothing beyond "both train": compare
# the gap printed with the spread between seeds of section 2 (a few test
# images). A difference of that size is noise until several seeds agree.

# %% [markdown]
# ## 10. Summary
#
# * A criterion is a score shaped like what it ranks; one
#   `mask_from_scores(scores, amount)` turns any of them into a mask with
#   exactly the requested sparsity. Each is registered by name with its
#   level and the data it needs, and `prune` looks it up.
# * Magnitude needs only the weights; $R_i$ (seed 000) and Wanda weigh
#   them by the inputs; Taylor uses $|w\,\partial L/\partial w|$, OBD the
#   diagonal Hessian, OBS the inverse Hessian *and* an update of the
#   remaining weights.
# * A mask is a reparametrization held by the optimizer: gradients,
#   weights and momentum are masked, so fine-tuning never revives a pruned
#   weight. A global ranking needs a floor per layer.
# * Every choice made from data — the threshold ε, the fine-tuning
#   epochs, the procedures' budget, the sparsity of each layer — was made
#   on the validation split; the test set only measured. Every comparison
#   was repeated over three seeds and printed as mean ± std, with per-seed
#   differences where two methods share a network; the rankings printed
#   say which gaps exceed the spread.
# * At the sparsity compared, iterative and gradual pruning beat one-shot
#   on every seed with the same number of epochs; between the two, this
#   run establishes no winner.
# * Removing half the neurons at once costs far more than the sum of
#   removing each alone: one-shot neuron pruning is dominated by
#   interactions no per-neuron score models, which is why the seed's
#   $R_i$ is no better than the plain $L_1$ norm one-shot, and why
#   fine-tuning (or pruning gradually) matters more than the criterion.
# * Zeros only pay off in a sparse format (CSR bytes here, the kernel in
#   `07_kernels.ipynb`); removing whole neurons with `compact()` gives a
#   smaller dense net that any BLAS runs faster.
# * The seed samples: seed 004 clamps a throw-away copy (prunes nothing),
#   seed 002 tests a whole tensor in an `if` (an error), seed 001 does not
#   import, calls a model of the same size "small" and zeroes every
#   negative weight, seed 000 calls an API that does not exist.
#
# ## Exercises
#
# Graded exercises come as a **released copy**: your instructor runs
# `minicomp release exercises/ release/` (solutions and hidden tests
# removed) and hands out `release/`. Work there, and check your work with
# `minicomp check release/02_importance/`. The folder
# `exercises/02_importance/` in this repository is the instructor's copy,
# with the solutions; `check` refuses to run on it.
#
# 1. **Graded:** `02_importance` — in plain NumPy, the APoZ neuron
#    criterion and `compact()`: remove neurons from the arrays for real,
#    and decide what becomes of what they contributed (section 8 shows
#    what the library's `compact` does, not how).
# 2. Prune the baseline by Wanda with the comparison *per row* (as Sun et
#    al. do) instead of per layer. Does the one-shot accuracy at 90 %
#    change, over three seeds?
# 3. Replace $\mathbb E|y_j|$ in $R_i$ by $\sqrt{\mathbb E y_j^2}$. Which
#    neurons change rank? Relate the answer to the Wanda score.
# 4. Run OBS with `damp` = 1e-4, 1e-2, 1 (`P.prune(..., damp=...)`
#    passes it on). When does the damping matter, and why does the
#    first layer of the digits net need it at all?
#    (Hint: look at the pixels that are always 0.)
# 5. Use the sensitivity scan's per-layer sparsities of section 7 for
#    one-shot pruning and compare, over three seeds, with the same total
#    sparsity spread uniformly.
# 6. Han et al. keep 8 %, 9 % and 26 % of LeNet-300-100's three layers.
#    Train a 64-300-100-10 MLP on digits and find per-layer sparsities,
#    on the validation split, that keep its accuracy within 0.3 points.
#    How many times fewer nonzero weights do you reach on the test set?
# 7. Repeat the lottery-ticket comparison of section 9 over five seeds
#    and at 50 %, 84 % and 96 % sparsity. Where does the winning ticket's
#    advantage over a random re-initialisation show?
# 8. Register a neuron criterion of your own with `@P.criterion(...)`
#    that looks at the *output side* of a neuron (section 8) — say the
#    variance of each neuron's output over the calibration batch
#    (`numpy_forward(net, X, inputs=True)` gives every layer's input) —
#    and add it to the loop of section 8. Does it beat $R_i$ at 50 %,
#    over three seeds? Is its "sum of singles" closer to "together"?
