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
# sample and shows how. This chapter builds each criterion from its
# formula (section 3), turns scores into masks that stay put while the
# network is fine-tuned (section 4), compares all criteria on the same
# network (section 6), walks through the procedures — one-shot, iterative,
# gradual, per-layer sensitivity (section 7) — and removes whole neurons
# so that the network is really smaller and faster (section 8). Section 9
# is a "go further": the lottery ticket.
#
# What does pruning buy? Zeros in a dense matrix buy nothing: the matrix
# is as large and as slow as before. Section 7 measures the size in a
# real sparse format (CSR, with the narrowest index type), and the sparse
# kernel itself is built and timed in `07_kernels.ipynb`. Structured
# pruning (section 8) gives a smaller *dense* network, which every BLAS
# runs faster.
#
# > **Glossary.** | seed term | English | section |
# > |---|---|---|
# > | 剪枝 / 裁剪 | pruning | all |
# > | 阈值 | threshold ε | 3.1, 5 |
# > | 重要性 | importance (a score) | 3 |
# > | 神经元 / 节点 | neuron / node (a row of `W`) | 3.3, 8 |
# > | 连接 | connection (one weight $w_{ij}$) | 3 |
# > | 基于梯度的剪枝 | gradient-based (Taylor) pruning | 3.4 |
# > | 基于Hessian的剪枝 | Hessian-based pruning (OBD, OBS) | 3.5, 3.6 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np

import minicomp
from minicomp import MLP, evaluate, fit, optim, predict
from minicomp.bench.timing import median_time
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.kernels.reference import to_csr
from minicomp.train import BaselineConfig, train_baseline
import minicomp.prune as P
# helpers, each from the file of its idea (minicomp/prune/<file>.py)
from minicomp.prune.activation import wanda_scores
from minicomp.prune.magnitude import (magnitude_scores,
                                      magnitude_threshold_mask)
from minicomp.prune.mask import apply_mask, sparsity
from minicomp.prune.norm import norm_scores
from minicomp.prune.obd import obd_hessian_diagonal, obd_layer_scores
from minicomp.prune.obs import obs_prune, reconstruction_error
from minicomp.prune.random import random_scores
from minicomp.prune.taylor import taylor_scores

np.set_printoptions(precision=4)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The network to prune is chapter 0's baseline: seed 000's MLP with two
# hidden layers of 64 (64 → 64 → 64 → 10), trained on the 8×8 digits.
# `W` of every `Dense` layer has shape (out, in): `W[i, j]` is the weight
# $w_{ij}$ from input $j$ to neuron $i$, exactly as in the seed's formula.

# %%
net0, history, result, data = train_baseline(BaselineConfig(), quiet=True)
X_train, y_train, X_test, y_test = data
base_acc = result["accuracy"]
print(net0)
print(f"baseline test accuracy {base_acc:.4f}, "
      f"{sum(b.dense.W.size for b in dense_blocks(net0))} weights")

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
# the weights. Both rank the same way.

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
# ### 3.2 Random
#
# **Math.** $s_{ij} \sim U(0, 1)$, independently. It removes a uniformly
# random subset of the requested size: the baseline every criterion must
# beat (LeCun et al. 1990 found it far worse than any informed choice).

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
# $H = X^\top X$ (plus a small $\lambda I$), and the update is exact.
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
# with it moves the kept weights to the optimum for the mask. On the
# baseline's layers, the reconstruction error of OBS (with its update) is
# far below OBD's (zeroing by $\tfrac12 h_{qq} w_q^2$, which for this
# error is $w_{ij}^2\lVert x_j\rVert^2$, Wanda squared) and OBD's below
# magnitude's:

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
assert np.allclose(predict(net, X_test), predict(net0, X_test), atol=1e-3)

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
    acc = evaluate(n, X_test, y_test)["accuracy"]
    print(f"{name:21}: weights kept per layer {kept}, accuracy {acc:.3f}")


# %% [markdown]
# ## 5. What the seed samples get wrong
#
# Each box quotes a seed's pruning sample, translated line for line from
# PyTorch or Keras to NumPy on a minicomp network, and runs it.
#
# > **Seed 004 (sections 4.2 and 4.4):**
# > `param.data.abs().clamp_(epsilon, 1 - epsilon)`.
# > `.abs()` returns a *new* tensor; `clamp_` clamps that copy in place,
# > and the copy is thrown away. The model is not touched: **nothing is
# > pruned**. Had the result been written back, it would be worse: every
# > weight would become positive and at least ε — no zeros at all, and
# > every sign lost. The text's own formula, remove
# > $\{w : |w| < \varepsilon\}$, is `magnitude_threshold_mask`.

# %%
def seed004_prune(model, epsilon):           # translated line for line
    for param in model.parameters():
        a = np.abs(param.data)               # param.data.abs(): a copy
        np.clip(a, epsilon, 1 - epsilon, out=a)   # .clamp_() on the copy

net = copy.deepcopy(net0)
before = [p.data.copy() for p in net.parameters()]
seed004_prune(net, 1e-3)
same = all(np.array_equal(b, p.data)
           for b, p in zip(before, net.parameters()))
print("seed 004: weights unchanged:", same,
      "| zeros:", sum(int((p.data == 0).sum()) for p in net.parameters()))

for p in net.parameters():                   # if it had been written back
    p.data[...] = np.clip(np.abs(p.data), 1e-3, 1 - 1e-3)
print("written back: zeros:",
      sum(int((p.data == 0).sum()) for p in net.parameters()),
      f"| accuracy {evaluate(net, X_test, y_test)['accuracy']:.3f}")

# %% [markdown]
# > **Seed 002 (section 4.1):**
# > `if param.data.abs() < threshold: param.data = 0`, inside the training
# > loop. The comparison gives a whole tensor of booleans, and `if` on a
# > tensor with more than one element is an error (PyTorch: "Boolean value
# > of Tensor with more than one value is ambiguous"). Even if it ran,
# > `param.data = 0` would replace the whole tensor by one number, not the
# > small entries, and without a mask the next `optimizer.step()` would
# > move the zeros again (section 4).

# %%
threshold = 0.01
try:
    for param in net0.parameters():
        if np.abs(param.data) < threshold:   # the seed's test
            param.data = 0
except ValueError as err:
    print("seed 002 raises ValueError:", err)

# %% [markdown]
# > **Seed 001 (section 4):**
# > `param_data[param_data < pruning_threshold] = 0`. Without `abs`, the
# > test is true for *every negative weight*: it deletes half the network,
# > biases included, and keeps the small positive weights it meant to
# > remove.

# %%
pruning_threshold = 0.01
for rule in ("seed 001: w < t", "meant:   |w| < t"):
    net = copy.deepcopy(net0)
    for param in net.parameters():
        param_data = param.data.copy()
        if rule.startswith("seed"):
            param_data[param_data < pruning_threshold] = 0
        else:
            param_data[np.abs(param_data) < pruning_threshold] = 0
        param.data = param_data
    zero = np.mean(np.concatenate([p.data.ravel() == 0
                                   for p in net.parameters()]))
    acc = evaluate(net, X_test, y_test)["accuracy"]
    print(f"{rule}: {zero:.1%} of parameters zeroed, accuracy {acc:.3f}")


# %% [markdown]
# > **Seed 000 (section 4.3):** `layer.get_pruned().set_threshold(...)`.
# > Keras layers have no `get_pruned` method (neither does any Keras or
# > TensorFlow release; pruning lives in the separate
# > `tensorflow_model_optimization` package, as `prune_low_magnitude`
# > wrappers). Because the loop is guarded by
# > `if hasattr(layer, 'get_pruned')`, the call never happens:
# > `prune(model, 0.01)` **silently does nothing**.

# %%
def seed000_prune(model, threshold):         # translated line for line
    for layer in model:
        if hasattr(layer, "get_pruned"):
            layer.get_pruned().set_threshold(threshold)
            layer.get_pruned().set_mode("magnitude")
            layer.get_pruned().prune()

net = copy.deepcopy(net0)
nonzero = lambda n: sum(int(np.count_nonzero(p.data))
                        for p in n.parameters())
before = nonzero(net)
seed000_prune(net, 0.01)
print("seed 000: nonzeros before", before, "after", nonzero(net))
print("any layer with get_pruned:",
      any(hasattr(layer, "get_pruned") for layer in net))

# %% [markdown]
# ## 6. Every criterion on the same network
#
# **Idea.** Prune each layer of the baseline to the same sparsity with
# every connection criterion, measure the test accuracy right after
# pruning (one-shot), and again after 10 epochs of fine-tuning with the
# mask in place. The calibration data of the data-dependent criteria is
# the training set.
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

# %%
sparsities = (0.5, 0.7, 0.8, 0.9)
fine_tuned_at = (0.8, 0.9)
fine_tune = P.FineTune(epochs=10, lr=0.02)
table = {}
t0 = time.perf_counter()
for crit in P.criteria("connection"):
    row = {}
    for s in sparsities:
        net = copy.deepcopy(net0)
        P.prune(net, crit, s, X_train, y_train, seed=0)
        row[s] = evaluate(net, X_test, y_test)["accuracy"]
        if s in fine_tuned_at:
            fine_tune(net, X_train, y_train)
            row[f"{s} ft"] = evaluate(net, X_test, y_test)["accuracy"]
    table[crit] = row
print(f"({time.perf_counter() - t0:.1f} s)  baseline {base_acc:.4f}")
cols = list(table["magnitude"])
print(f"{'criterion':10}" + "".join(f"{str(c):>9}" for c in cols))
for crit, row in table.items():
    print(f"{crit:10}" + "".join(f"{row[c]:9.3f}" for c in cols))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for n, (crit, row) in enumerate(table.items()):
    line, = ax.plot(sparsities, [row[s] for s in sparsities], "o-",
                    label=crit)
    ax.plot(fine_tuned_at, [row[f"{s} ft"] for s in fine_tuned_at], "*",
            ms=12, color=line.get_color())
ax.axhline(base_acc, color="gray", ls=":", label="baseline")
ax.set_xlabel("sparsity of every layer")
ax.set_ylabel("test accuracy")
ax.set_title("one-shot (lines) and after fine-tuning (stars)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What to look for: random collapses first; the data-aware criteria hold
# up longer than magnitude without any retraining, and OBS, which also
# corrects the weights that stay, holds up longest; after fine-tuning the
# gaps between the informed criteria shrink (the retraining repairs much
# of the damage), but not random's. `minicomp bench prune` repeats this
# over seeds and also measures how well each criterion predicts the true
# loss change of removing each weight.

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
#   fast while there is much redundancy, slowly at the end.
#
# All three get the same number of fine-tuning epochs below.

# %%
steps = np.arange(0, 400)
s_t = [P.cubic_sparsity(t, 0.9, s_i=0.0, t0=50, n=10, dt=25)
       for t in steps]
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(steps, s_t)
ax.set_xlabel("training step t")
ax.set_ylabel("sparsity $s_t$")
ax.set_title("cubic schedule: $s_f=0.9$, $t_0=50$, $n=10$, $\\Delta t=25$")
plt.show()

# %%
target, epochs = 0.93, 30
procs = {
    "one-shot": lambda n: P.one_shot(
        n, X_train, y_train, "magnitude", target,
        fine_tune=P.FineTune(epochs=epochs, lr=0.02)),
    "iterative": lambda n: P.iterative(
        n, X_train, y_train, "magnitude", (0.5, 0.75, 0.87, target),
        fine_tune=P.FineTune(epochs=epochs // 4, lr=0.02)),
    "gradual": lambda n: P.gradual(
        n, X_train, y_train, target,
        fine_tune=P.FineTune(epochs=epochs, lr=0.02)),
}
for name, run in procs.items():
    net = run(copy.deepcopy(net0))
    print(f"{name:10}: sparsity {sparsity(net):.3f}, test accuracy "
          f"{evaluate(net, X_test, y_test)['accuracy']:.4f}")

# %% [markdown]
# **Per-layer sensitivity.** Layers do not tolerate pruning equally. Prune
# one layer at a time and watch the accuracy (Han et al. 2015, Fig. 6);
# then give each layer the largest sparsity whose drop stays within a
# budget.

# %%
levels = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
scan = P.sensitivity_scan(net0, X_test, y_test, levels, X=X_train,
                          y=y_train)
fig, ax = plt.subplots(figsize=(6, 3.2))
for k, accs in scan.items():
    ax.plot(levels, accs, "o-", label=f"Dense layer {k}")
ax.set_xlabel("sparsity of that layer only")
ax.set_ylabel("test accuracy")
ax.legend()
plt.show()
picked = P.pick_sparsities(scan, levels, base_acc, max_drop=0.01)
print("per-layer sparsities within 1 point:", picked)

# %% [markdown]
# In practice the scan should use a validation split, not the test set;
# here it only shows the shape of the curves.
#
# **What it buys.** Zeros in a dense array take as much memory and time as
# any other number. The real size is the CSR storage — values, column
# indices in the narrowest type that holds them (1 byte for ≤ 256
# inputs), and row pointers — not "nonzeros × 4". Take the gradual net:

# %%
net = procs["gradual"](copy.deepcopy(net0))
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

# %% [markdown]
# Speed needs a kernel that skips the zeros. The CSR kernel (a naive
# reference and a Numba version) is built and timed in
# [`07_kernels.ipynb`](07_kernels.ipynb); `minicomp.deploy.to_inference`
# runs a pruned net on it, and `inference_time(net, X)` of
# `minicomp.bench.inference` times it next to the dense forward pass.

# %% [markdown]
# ## 8. Structured pruning: remove neurons, really
#
# **Idea.** Score *neurons* by $R_i$ and remove whole rows: neuron $i$'s
# row of `W`, its bias, and — what toolkits often forget — column $i$ of
# the next layer. `prune(net, "activation", ...)` masks the rows;
# `compact(net)` then builds a smaller dense network. A removed neuron
# outputs the constant $f(0)$ (0 for ReLU), which `compact` folds into the
# next bias, so the outputs are identical.

# %%
net = copy.deepcopy(net0)
P.gradual(net, X_train, y_train, 0.5, criterion="activation",
          fine_tune=P.FineTune(epochs=30, lr=0.02))
small = P.compact(net)
print(small)
print(f"test accuracy: baseline {base_acc:.4f}, half the hidden neurons "
      f"removed {evaluate(small, X_test, y_test)['accuracy']:.4f}")
assert np.allclose(predict(small, X_test), predict(net, X_test),
                   atol=1e-5)

# %%
X_b = np.ascontiguousarray(X_test[:256])
t_big = median_time(lambda: numpy_forward(net0, X_b))
t_small = median_time(lambda: numpy_forward(small, X_b))
print(f"dense forward, batch 256: {t_big * 1e6:.0f} us -> "
      f"{t_small * 1e6:.0f} us ({t_big / t_small:.2f}x faster); "
      f"{P.size_report(net0)['dense_bytes']} -> "
      f"{P.size_report(small)['dense_bytes']} bytes")

# %%
frac = 0.5
print("neurons removed: 50 %, one-shot and fine-tuned (10 epochs)")
for crit in ("activation", "taylor_neuron", "l1", "random_neuron"):
    net = copy.deepcopy(net0)
    P.prune(net, crit, frac, X_train, y_train, seed=0)
    a0 = evaluate(net, X_test, y_test)["accuracy"]
    P.FineTune(epochs=10, lr=0.02)(net, X_train, y_train)
    a1 = evaluate(net, X_test, y_test)["accuracy"]
    print(f"{crit:14}: one-shot {a0:.3f}, fine-tuned {a1:.3f}")

# %% [markdown]
# ## 9. Go further: the lottery ticket
#
# Frankle & Carbin (2019): train, prune by magnitude, **rewind** the
# surviving weights to their *initial* values, and train again; repeat.
# They found that the sparse network found this way (down to 10-20 % of
# the weights) trains to the dense network's accuracy, while the same
# mask with a *fresh* random initialisation trains worse. Below is the
# same comparison on digits; on a problem this small expect the gap to be
# small, and check it over several seeds before believing it either way
# (exercise 7).

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
          f"{evaluate(n, X_test, y_test)['accuracy']:.4f}")

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
# * At the same sparsity, gradual and iterative pruning keep more
#   accuracy than one shot.
# * Zeros only pay off in a sparse format (CSR bytes here, the kernel in
#   `07_kernels.ipynb`); removing whole neurons with `compact()` gives a
#   smaller dense net that any BLAS runs faster.
# * The seed samples: seed 004 clamps a throw-away copy (prunes nothing),
#   seed 002 tests a whole tensor in an `if` (an error), seed 001 zeroes
#   every negative weight, seed 000 calls an API that does not exist.
#
# ## Exercises
#
# 1. **Graded:** `exercises/02_importance/` — write $R_i$,
#    `mask_from_scores` and neuron pruning in plain NumPy
#    (`minicomp check exercises/02_importance`).
# 2. Prune the baseline by Wanda with the comparison *per row* (as Sun et
#    al. do) instead of per layer. Does the one-shot accuracy at 90 %
#    change?
# 3. Replace $\mathbb E|y_j|$ in $R_i$ by $\sqrt{\mathbb E y_j^2}$. Which
#    neurons change rank? Relate the answer to the Wanda score.
# 4. Run OBS with `damp` = 1e-4, 1e-2, 1 (`P.prune(..., damp=...)`
#    passes it on). When does the damping matter, and why does the
#    first layer of the digits net need it at all?
#    (Hint: look at the pixels that are always 0.)
# 5. Use the sensitivity scan's per-layer sparsities for one-shot pruning
#    and compare with the same total sparsity spread uniformly.
# 6. Han et al. keep 8 %, 9 % and 26 % of LeNet-300-100's three layers.
#    Train a 64-300-100-10 MLP on digits and find per-layer sparsities
#    that keep its accuracy within 0.3 points. How many times fewer
#    nonzero weights do you reach?
# 7. Repeat the lottery-ticket comparison of section 9 over five seeds
#    and at 50 %, 84 % and 96 % sparsity. Where does the winning ticket's
#    advantage over a random re-initialisation show?
# 8. Register a neuron criterion of your own with `@P.criterion(...)`,
#    say the variance of each neuron's output over the calibration batch
#    (`numpy_forward(net, X, inputs=True)` gives every layer's input), and
#    add it to the loop of section 8. Does it beat $R_i$ at 50 %?
