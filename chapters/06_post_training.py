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
# # Chapter 6 — Post-training compression by reconstruction
#
# *From Optimal Brain Surgeon to GPTQ, SparseGPT, AdaRound, data-free
# equalization, AWQ and SmoothQuant: compress a trained net in seconds,
# with a few hundred unlabelled rows and no retraining.*

# %% [markdown]
# ## 1. Introduction
#
# Seed 004 names Hessian-based pruning (基于Hessian的剪枝). Chapter 2
# built it up to layer-wise Optimal Brain Surgeon (OBS): remove a weight,
# then move the others so that the layer's outputs barely change. The
# methods that 2026's compression toolkits ship are that same idea, one
# step further:
#
# - **GPTQ** (section 2): round the weights column by column, pushing
#   each rounding error onto the columns not yet rounded (OBS's update);
# - **SparseGPT** (3): the same loop choosing a mask instead of a
#   rounding;
# - **AdaRound** (4): learn, per weight, whether to round up or down;
# - **equalization and bias correction** (5): rescale neurons so that
#   per-tensor scales fit every channel, with no data at all;
# - **AWQ and SmoothQuant** (6): a per-input-channel scale folded through
#   a layer boundary, chosen from activation statistics.
#
# Section 7 measures them against bits; section 8 is a debugging tool
# (per-layer SQNR); section 9 runs what the seed gets wrong.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits   # ships with scikit-learn

import minicomp
from minicomp import MLP, evaluate, fit
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.data import load_digits, load_mnist1d
from minicomp.deploy import to_inference
from minicomp.prune import nm_mask, prune
from minicomp.prune.mask import mask_from_scores
from minicomp.prune.obs import obs_compensate
from minicomp.ptq import (adaround_mlp, as_int8, awq, bias_correction,
                          cross_layer_equalize, gptq_mlp, smoothquant,
                          sparsegpt_net)
from minicomp.ptq.adaround import (adaround, rectified_sigmoid,
                                   round_regularizer)
from minicomp.ptq.equalize import channel_ranges, scale_neurons
from minicomp.ptq.gptq import gptq, inverse_cholesky
from minicomp.ptq.sparsegpt import sparsegpt
from minicomp.ptq.transforms import (awq_scales, protect_channels,
                                     salient_channels,
                                     smoothquant_scales)
from minicomp.quant import quantize_mlp, quantize_tensor, quantize_weights
from minicomp.nn import Parameter
from minicomp.optim import SGD, Adam, CosineLR
from minicomp.tensor import Tensor

threadpool_limits(limits=1, user_api="blas")   # small matrices: 1 thread
np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# Three seeds of chapter 0's MLP (64 → 64 → 64 → 10, its SGD recipe) on
# the 8×8 digits (10 epochs), and three on MNIST-1D (15 epochs; input
# width 40). A quarter of each training set is held out as a
# **validation split**, once, stratified and seeded, by the loader
# (`load_digits(validation=0.25)`): the nets never see it, every choice
# below is made on it, and the seeds change initializations and data
# orders, not the split. The calibration rows are 256 of the rows the
# net was trained on (no labels used); the test set gives only the
# final numbers.

# %%
SEEDS = (0, 1, 2)
EPOCHS = {"digits": 10, "mnist1d": 15}
DATA = {"digits": load_digits(validation=0.25),
        "mnist1d": load_mnist1d(validation=0.25)}


def setup(dataset, seed):
    data, num_epochs = DATA[dataset], EPOCHS[dataset]
    X_fit, y_fit, X_val, y_val = data.X_train, data.y_train, data.X_val, \
        data.y_val
    net = MLP([X_fit.shape[1], 64, 64, data.num_classes], seed=seed)
    opt = SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    fit(net, X_fit, y_fit, optimizer=opt, epochs=num_epochs, seed=seed,
        scheduler=CosineLR(opt, T=num_epochs), quiet=True)
    return dict(net=net, X_cal=X_fit[:256], X_val=X_val, y_val=y_val,
                X_test=data.X_test, y_test=data.y_test)


runs = {(d, s): setup(d, s) for d in ("digits", "mnist1d") for s in SEEDS}


def acc(model, run, split="test"):
    X, y = run["X_" + split], run["y_" + split]
    return evaluate(model, X, y)["accuracy"]


def mean_std(values):
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


for d in ("digits", "mnist1d"):
    print(d, "float test accuracy",
          mean_std([acc(runs[d, s]["net"], runs[d, s]) for s in SEEDS]))

# %% [markdown]
# **What to conclude.** MNIST-1D is much harder for an MLP than digits:
# there is less slack, so compression errors show.

# %% [markdown]
# ## 2. From OBS to GPTQ
#
# **Idea.** Round-to-nearest (RTN) rounds each weight alone. But a layer's
# *outputs* $XW^\top$ are what matter, and the rounding errors of
# correlated inputs can cancel if the weights not yet rounded move to
# absorb them.
#
# **Math.** For one row $w$ the output error is quadratic,
# $E = (\hat w - w)^\top H (\hat w - w)/2$ with $H = 2X^\top X$. OBS:
# forcing weight $q$ to $\hat w_q$, the best move of the others is
#
# $$\delta w = -\frac{w_q - \hat w_q}{[H^{-1}]_{qq}}\, H^{-1} e_q .$$
#
# GPTQ applies it to column 0, then column 1 (with the inverse Hessian of
# the remaining weights), ... The successive inverses are the rows of one
# upper Cholesky factor $U$ of $H^{-1}$ ($U^\top U = H^{-1}$): row $j$ of
# $U$, divided by $U_{jj}$, is $H^{-1}e_j/[H^{-1}]_{jj}$ after columns
# $0..j-1$ are gone. So the whole loop is
#
# $$e = (w_{:,j} - \hat w_{:,j}) / U_{jj}, \qquad
#   w_{:,k} \mathrel{-}= e\,U_{jk}\quad (k > j).$$
#
# **From scratch** on the first layer of one net (per-channel 3-bit
# scales, those of RTN), then the library, asserted equal:

# %%
run = runs["mnist1d", 0]
net = run["net"]
_, inputs = numpy_forward(net, run["X_cal"], np.float64, inputs=True)
X0 = inputs[0]                                    # (N, 40) layer 0's inputs
W0 = net[0].W.data.astype(np.float64)             # (64, 40)
H = 2 * X0.T @ X0
S = quantize_tensor(W0, 3).S                      # (64, 1) RTN's scales

lam = 0.01 * np.mean(np.diag(H))
U = np.linalg.cholesky(np.linalg.inv(H + lam * np.eye(40))).T
W, W_hat = W0.copy(), np.zeros_like(W0)
for j in range(W.shape[1]):
    W_hat[:, j] = (S * np.clip(np.rint(W[:, j:j + 1] / S), -3, 3))[:, 0]
    e = (W[:, j] - W_hat[:, j]) / U[j, j]         # (64,)
    W[:, j + 1:] -= np.outer(e, U[j, j + 1:])

library = gptq(W0, H, bits=3, damp=0.01)
assert np.allclose(W_hat, library.dequantize(), atol=1e-6)


def output_error(W_q):
    return np.sum((X0 @ (W_q - W0).T) ** 2) / np.sum((X0 @ W0.T) ** 2)


rtn = quantize_tensor(W0, 3).dequantize()
print(f"relative output error, 3 bits: RTN {output_error(rtn):.4f}, "
      f"GPTQ {output_error(W_hat):.4f}")

# %% [markdown]
# **What to conclude.** Same grid, same number of bits: GPTQ's layer
# output error is a fraction of RTN's, because its roundings compensate
# each other. Two checks make the derivation concrete: the first step is
# exactly OBS's update (chapter 2's `obs_compensate`, forcing weight 0 to
# its rounding), and with $H = I$ (no correlation) nothing moves and GPTQ
# *is* RTN.

# %%
U_lib = inverse_cholesky(X0.T @ X0, 0.01, "chapter")
W1 = W0 - np.outer((W0[:, 0] - W_hat[:, 0]) / U_lib[0, 0], U_lib[0])
residual = W0.copy()
residual[:, 0] -= W_hat[:, 0]                     # "remove" w_q - w_hat_q
mask = np.ones_like(W0)
mask[:, 0] = 0
obs = obs_compensate(residual, X0, mask, damp=0.01)
print("max |GPTQ step 1 - OBS|:", np.abs(W1[:, 1:] - obs[:, 1:]).max())
assert np.allclose(W1[:, 1:], obs[:, 1:], atol=1e-5)
identity = gptq(W0, np.eye(40), bits=3)
assert np.array_equal(identity.q, quantize_tensor(W0, 3).q)
print("H = I: GPTQ codes == RTN codes")

# %% [markdown]
# **What to conclude.** GPTQ is OBS applied to every column in turn; the
# tiny difference printed is the float32 result of `obs_compensate`.
#
# **With the library**, a whole net: `gptq_mlp` walks the layers in
# order, each on the inputs produced by the layers already quantized,
# and returns the same `QuantizedMLP` as `quantize_mlp`, which the int8
# kernels run (`as_int8` relabels 4-bit codes in [-7, 7] as int8). The
# damping is chosen on the validation split:

# %%
damps = (0.001, 0.01, 0.1)
val = {d: np.mean([acc(gptq_mlp(runs["mnist1d", s]["net"],
                                runs["mnist1d", s]["X_cal"], 3, 8, damp=d),
                       runs["mnist1d", s], "val") for s in SEEDS])
       for d in damps}
damp = max(val, key=val.get)
print("validation accuracy by damp (3 bits, MNIST-1D):",
      {d: round(float(v), 4) for d, v in val.items()}, "-> damp", damp)
qnet = gptq_mlp(net, run["X_cal"], bits=4, bits_a=8, damp=damp)
model = to_inference(as_int8(qnet))               # integers only
same = (model(run["X_test"]).argmax(1) == qnet(run["X_test"]).data.argmax(1))
print(qnet, "| int8 kernels agree on", f"{same.mean():.3f}", "of test rows")

# %% [markdown]
# **What to conclude.** The damping moves the validation accuracy a
# little; the best one is kept for the rest of the chapter. The
# quantized model runs on the integer path with the same predictions
# (the int8 requantization rounds a few logits differently at most).

# %% [markdown]
# ### Asymmetric calibration: aim at the float net
#
# **Idea.** Layer $\ell$ of the quantized net sees $\tilde X$ (the
# output of layers already quantized), not the float net's $X$. GPTQ as
# written matches $\tilde X W^\top$: it keeps the layer faithful to its
# *own* inputs, and the earlier layers' error passes through untouched.
# AdaRound (section 4) aims at the float output $XW^\top$ instead; GPTQ
# can too (the objective of GPTAQ, Li et al. 2025).
#
# **Math.** With $W^*$ the least-squares fit of the float outputs on
# $\tilde X$,
#
# $$W^{*\top} = W^\top + (\tilde X^\top\tilde X + \lambda I)^{-1}
#   \tilde X^\top (X - \tilde X) W^\top ,$$
#
# $\lVert\tilde X\hat W^\top - XW^\top\rVert^2 =
# \lVert\tilde X(\hat W - W^*)^\top\rVert^2 + \text{const}$ (exactly at
# $\lambda = 0$), so GPTQ of $W^*$ with the same $H = 2\tilde X^\top
# \tilde X$ minimises the error against the float net. **From
# scratch**, the first two layers at 3 bits, then the library:

# %%
X_cal = run["X_cal"].astype(np.float64)
_, X_float = numpy_forward(net, X_cal, np.float64, inputs=True)
W0, W1 = (b.dense.W.data.astype(np.float64) for b in dense_blocks(net)[:2])
Q0 = gptq(W0, 2 * X_float[0].T @ X_float[0], 3, damp=damp)   # X~ = X here
work = copy.deepcopy(net)
dense_blocks(work)[0].dense.W.data[...] = Q0.dequantize()
_, X_seen = numpy_forward(work, X_cal, np.float64, inputs=True)
Xf, Xs = X_float[1], X_seen[1]                     # (N, 64) each
G = Xs.T @ Xs
lam = damp * np.mean(np.diag(G))
W_star = W1 + np.linalg.solve(G + lam * np.eye(len(G)),
                              Xs.T @ (Xf - Xs) @ W1.T).T
Q1 = gptq(W_star, 2 * G, 3, damp=damp)
lib = gptq_mlp(net, run["X_cal"], 3, None, damp=damp)   # asymmetric default
assert np.array_equal(Q0.q, lib.qlayers[0].W.q)
assert np.array_equal(Q1.q, lib.qlayers[1].W.q)


def float_error(V):                                # vs the float outputs
    return float(np.mean((Xs @ V.T - Xf @ W1.T) ** 2))


print(f"layer 1, error against the float outputs: W {float_error(W1):.5f}"
      f" | W* {float_error(W_star):.5f}")
for asym in (False, True):
    print("asymmetric" if asym else "original  ",
          "3-bit validation accuracy, MNIST-1D:",
          mean_std([acc(gptq_mlp(runs["mnist1d", s]["net"],
                                 runs["mnist1d", s]["X_cal"], 3, 8,
                                 damp=damp, asymmetric=asym),
                        runs["mnist1d", s], "val") for s in SEEDS]))

# %% [markdown]
# **What to conclude.** The scratch version and the library agree code
# for code. $W^*$ cuts layer 1's error against the float outputs before
# any rounding (the earlier layer's error is repaired, not passed on).
# On these small nets and 256 calibration rows the two GPTQs' validation
# accuracies are within the spread over seeds of each other. The
# library's default (`asymmetric=True`) is not chosen by this run: it
# comes from `minicomp bench ptq_choices`, which compares both versions
# on a validation split with the whole training set as calibration set
# (`minicomp bench ptq` then reports both on the test set).

# %% [markdown]
# ## 3. SparseGPT: the same loop, choosing a mask
#
# **Idea.** Instead of rounding column $j$, set some of its weights to 0
# and push that error on. Which ones? OBS's saliency with the *current*
# inverse Hessian, $w_{ij}^2 / [H^{-1}]_{jj} = w_{ij}^2/U_{jj}^2$: for
# N:M sparsity, the N largest of every M consecutive columns of a row.
#
# **From scratch** for 2:4 on layer 0: GPTQ's loop of section 2 (the
# same $U$), where "fix column $j$" means "keep it or set it to 0", the
# mask of each group of 4 columns chosen when the loop reaches it, on
# the weights as moved so far. Then the library (its loop is GPTQ's
# `column_loop`), asserted equal, and against one-shot magnitude pruning
# at equal sparsity, no fine-tuning, on 3 seeds:

# %%
W_run, mask_s = W0.copy(), np.ones_like(W0)
for j in range(W_run.shape[1]):
    if j % 4 == 0:                                # a new group of 4
        score = W_run[:, j:j + 4] ** 2 / np.diag(U)[j:j + 4] ** 2
        mask_s[:, j:j + 4] = nm_mask(score, 2, 4)  # (64, 4)
    kept = W_run[:, j] * mask_s[:, j]             # (64,) fixed column
    e = (W_run[:, j] - kept) / U[j, j]
    W_run[:, j] = kept
    W_run[:, j + 1:] -= np.outer(e, U[j, j + 1:])

W_sp, mask = sparsegpt(W0, H, nm=(2, 4))
assert np.array_equal(mask, mask_s)
assert np.allclose(W_sp, W_run, atol=1e-5)
assert (mask.reshape(64, -1, 4).sum(axis=2) == 2).all()
print("2:4 output error: SparseGPT", f"{output_error(W_sp):.4f}",
      "| magnitude", f"{output_error(W0 * nm_mask(np.abs(W0), 2, 4)):.4f}")


def magnitude_24(net):
    net = copy.deepcopy(net)
    for layer in (net[0], net[2], net[4]):
        layer.W.data *= nm_mask(np.abs(layer.W.data), 2, 4)
    return net


def magnitude_50(net):
    net = copy.deepcopy(net)
    prune(net, "magnitude", 0.5)
    return net


for d in ("digits", "mnist1d"):
    rs = [runs[d, s] for s in SEEDS]
    print(d, "| 50 %: SparseGPT",
          mean_std([acc(sparsegpt_net(r["net"], r["X_cal"], 0.5), r)
                    for r in rs]),
          "magnitude", mean_std([acc(magnitude_50(r["net"]), r) for r in rs]),
          "| 2:4: SparseGPT",
          mean_std([acc(sparsegpt_net(r["net"], r["X_cal"], nm=(2, 4)), r)
                    for r in rs]),
          "magnitude", mean_std([acc(magnitude_24(r["net"]), r) for r in rs]))

# %% [markdown]
# **What to conclude.** On MNIST-1D, at the same sparsity and with no
# retraining, compensating the removed weights keeps more accuracy than
# magnitude pruning, by far with the rigid 2:4 pattern. On digits, which
# has more slack, compare the gap with the spread over seeds before
# calling it a difference. (`sparsegpt_net`, like `gptq_mlp`, prunes
# section 2's $W^*$ of each layer by default, aiming at the float net's
# outputs; `minicomp bench ptq_choices` is where that default was chosen,
# on validation.)

# %% [markdown]
# ## 4. AdaRound: learn up or down
#
# **Idea.** Keep RTN's grid, but choose for each weight $\lfloor w/S
# \rfloor$ or $\lceil w/S \rceil$ by gradient descent on the layer's
# reconstruction loss.
#
# **Math.** $\tilde W = S(\lfloor W/S\rfloor + h(V))$ with the
# rectified sigmoid $h(V) = \mathrm{clip}(\sigma(V)(\zeta-\gamma)+\gamma,
# 0, 1)$, $\zeta = 1.1, \gamma = -0.1$, and the regulariser
# $\lambda\sum(1 - |2h - 1|^\beta)$ whose $\beta$ anneals from 20 to 2,
# pushing every $h$ to exactly 0 or 1. The gradient comes from the
# engine's autograd. **From scratch**, $h$ and the regulariser in NumPy,
# asserted equal to the library's (which the engine differentiates):

# %%
v = np.linspace(-6, 6, 241)
h_np = np.clip(1 / (1 + np.exp(-v)) * (1.1 - -0.1) + -0.1, 0, 1)
assert np.allclose(h_np, rectified_sigmoid(Tensor(v)).data)
reg_np = np.mean(1 - np.abs(2 * h_np - 1) ** 8)
assert np.isclose(reg_np, round_regularizer(Tensor(h_np), 8).item())
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(v, rectified_sigmoid(Tensor(v)).data)
axes[0].set(title="rectified sigmoid h(V)", xlabel="V", ylabel="h")
h = np.linspace(0, 1, 101)
for beta in (20, 8, 2):
    reg = [round_regularizer(Tensor(np.array([x])), beta).item() for x in h]
    axes[1].plot(h, reg, label=f"beta = {beta}")
axes[1].set(title="regulariser 1 - |2h - 1|^beta", xlabel="h",
            ylabel="penalty")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to conclude.** With a large $\beta$ only values near 0 or 1 are
# free, so the rounding can move; as $\beta$ falls every undecided $h$
# is pushed to a side.

# %% [markdown]
# **The loop, from scratch**, for layer 0 (its inputs are the data, so
# $\tilde X = X$): start at round-to-nearest's decision ($h(V)$ = the
# fractional part of $w/S$), then Adam on the relative reconstruction
# error after the ReLU plus $\lambda$ times the regulariser, $\beta$
# off for the first 20 % of the steps, then falling from 20 to 2;
# finally $h \ge 1/2$ rounds up. Asserted equal to the library's
# `adaround` with the same minibatches:

# %%
def adaround_scratch(W, X, b, bits, iters, lr=0.2, lam=0.1, batch=128,
                     seed=0):
    Q = quantize_tensor(W, bits)                  # RTN's grid (S, Z)
    S, Z = np.asarray(Q.S), np.asarray(Q.Z)       # (out, 1)
    q_max = 2 ** (bits - 1) - 1                   # symmetric [-q_max, q_max]
    F = np.floor(W / S)
    C = np.ceil(W / S) - F                        # 0 on the grid
    frac = np.clip(W / S - F, 1e-4, 1 - 1e-4)
    V = Parameter(-np.log(1.2 / (frac + 0.1) - 1))   # h(V) = frac
    opt = Adam([V], lr=lr)
    Y = np.maximum(X @ W.T + b, 0)                # (N, out) float target
    energy = (Y ** 2).sum(axis=1)
    rng = np.random.default_rng(seed)
    for t in range(iters):
        rows = rng.integers(0, len(X), min(batch, len(X)))
        h = rectified_sigmoid(V)
        W_soft = ((h * C + (F + Z)).clip(-q_max, q_max) - Z) * S
        y = (Tensor(X[rows].astype(np.float32)) @ W_soft.transpose()
             + b).relu()
        loss = ((y - Y[rows]) ** 2).sum() / energy[rows].sum()
        if t >= 0.2 * iters:                      # beta: 20 -> 2
            beta = 20 - 18 * (t - 0.2 * iters) / max(iters - 0.2 * iters, 1)
            loss = loss + round_regularizer(h, beta) * lam
        opt.zero_grad()
        loss.backward()
        opt.step()
    up = rectified_sigmoid(V).data >= 0.5
    return np.clip(F + up * C + Z, -q_max, q_max)


X_0 = run["X_cal"].astype(np.float64)
b_0 = dense_blocks(net)[0].dense.b.data.astype(np.float64)
codes_scratch = adaround_scratch(W0, X_0, b_0, 3, iters=60)
codes_lib = adaround(W0, X_0, None, b_0, True, 3, iters=60, seed=0).q
assert np.array_equal(codes_scratch, codes_lib)
print("AdaRound from scratch == library:", codes_lib.shape, "codes,",
      int((codes_lib != quantize_tensor(W0, 3).q).sum()),
      "differ from RTN after 60 steps")

# %% [markdown]
# **What to conclude.** The whole method is this loop: a continuous
# relaxation of "up or down", a loss measured after the activation, and
# a regulariser that forces a decision by the end. The library runs it
# layer after layer, each on the inputs of the net quantized so far.

# %%
q_ada = adaround_mlp(net, run["X_cal"], bits=3, iters=100)
S_0 = q_ada.qlayers[0].W.S                         # (64, 1)
codes = q_ada.qlayers[0].W.q
assert np.isin(codes - np.floor(W0 / S_0), [0, 1]).all()
print("layer 0: every code is floor or ceil of w/S;",
      int((codes != quantize_tensor(W0, 3).q).sum()),
      "of", codes.size, "differ from RTN")

# %% [markdown]
# **What to conclude.** AdaRound changes only about a tenth of the
# rounding decisions of this layer (the printed count); whether that
# tenth is worth its optimization, section 7 measures.

# %% [markdown]
# ## 5. Data-free: cross-layer equalization and bias correction
#
# **Idea.** ReLU is positively homogeneous: neuron $i$ can be scaled down
# by $s_i$ and its outgoing weights up by $s_i$ without changing the
# function. Choosing $s_i = \sqrt{r^{(1)}_i / r^{(2)}_i}$ makes neuron
# $i$'s output-channel range in layer 1 equal to its input-channel range
# in layer 2, so one per-tensor scale fits every channel. Bias correction
# then subtracts the expected quantization error, $b' = b -
# (\hat W - W)\,\mathbb E[x]$, with $\mathbb E[x]$ propagated
# analytically from standardized inputs (no data).
#
# A trained net has no badly scaled channel, so we **plant** one,
# function-preservingly: neuron 0 of layer 0 × 50, its outgoing weights
# ÷ 50. **From scratch**, sweeps of $s_i$ over both pairs of layers
# until every scale is 1, then the library:

# %%
def planted(net, layer, channels, scale):
    net = copy.deepcopy(net)
    s = np.ones(64)
    s[list(channels)] = 1 / scale
    scale_neurons(net[2 * layer - 2], net[2 * layer], s)
    return net


out = planted(net, 1, [0], 50.0)
eq_np = copy.deepcopy(out)
for sweep in range(50):
    worst = 0.0
    for first, second in ((eq_np[0], eq_np[2]), (eq_np[2], eq_np[4])):
        r1 = np.abs(first.W.data).max(axis=1)     # (64,) output ranges
        r2 = np.abs(second.W.data).max(axis=0)    # (64,) input ranges
        s_i = np.sqrt(r1 / r2)
        first.W.data /= s_i[:, None]
        first.b.data /= s_i
        second.W.data *= s_i[None, :]
        worst = max(worst, np.abs(s_i - 1).max())
    if worst <= 1e-6:
        break
eq = cross_layer_equalize(out)
assert all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in
           zip(eq.state_dict().values(), eq_np.state_dict().values()))
diff = np.abs(eq(run["X_test"]).data - out(run["X_test"]).data).max()
r_out, r_eq = channel_ranges(out)[0], channel_ranges(eq)[0]
print("layer 0 channel range max/min: planted",
      f"{r_out.max() / r_out.min():.1f}, equalized",
      f"{r_eq.max() / r_eq.min():.1f}; max output change {diff:.1e}")
assert diff < 1e-4

rows = {"float": [], "per-tensor W8A8": [], "+ equalization": [],
        "+ equalization + bias corr.": []}
for s in SEEDS:
    r = runs["mnist1d", s]
    out = planted(r["net"], 1, [0], 50.0)
    eq = cross_layer_equalize(out)
    rows["float"].append(acc(out, r))
    rows["per-tensor W8A8"].append(
        acc(quantize_mlp(out, r["X_cal"], 8, 8, "tensor"), r))
    rows["+ equalization"].append(
        acc(quantize_mlp(eq, r["X_cal"], 8, 8, "tensor"), r))
    rows["+ equalization + bias corr."].append(acc(quantize_mlp(
        bias_correction(eq, 8, "tensor"), r["X_cal"], 8, 8, "tensor"), r))
for name, values in rows.items():
    print(f"{name:<28} {mean_std(values)}")

# %% [markdown]
# **What to conclude.** One channel 50× too wide costs per-tensor int8
# several points; equalization, which looks at the weights only, gives
# them back. At 8 bits the bias correction has little left to correct.

# %% [markdown]
# ## 6. Equivalent transformations: AWQ and SmoothQuant
#
# **Idea.** The same fold $y = (x/s)(W\mathrm{diag}(s))^\top$, with $s$
# chosen from the *activations*. AWQ (weight-only, low bits): channels
# with large inputs are salient, scaling their weights up shrinks their
# relative rounding error, $s_j = \overline{|x_j|}^\alpha$ with
# $\alpha$ searched. SmoothQuant (W8A8): $s_j = \max|x_j|^\alpha /
# \max|W_{:,j}|^{1-\alpha}$ moves activation outliers into the weights.
#
# We plant an activation outlier in 1 % of layer 1's inputs (one channel
# of 64, × 30), then run AWQ's motivating ablation: keep the weights of
# the salient 1 % in float, or those of a random 1 %. SmoothQuant's
# scales are computed **from scratch** for layer 1 (seed 0) and asserted
# equal to the library's, and so is AWQ's search over α first:

# %%
r0 = runs["mnist1d", SEEDS[0]]
hot0 = planted(r0["net"], 1, [int(np.random.default_rng(SEEDS[0])
                                  .integers(64))], 30.0)
_, ins0 = numpy_forward(hot0, r0["X_cal"], np.float64, inputs=True)
X_1, W_1 = ins0[1], hot0[2].W.data.astype(np.float64)  # (N, 64), (64, 64)
a_mean = np.maximum(np.abs(X_1).mean(axis=0), 1e-8)    # mean |x_j|
errors = []
for alpha in np.arange(20) / 20:                       # alpha in [0, 1)
    s_a = a_mean ** alpha
    s_a = s_a / np.sqrt(s_a.max() * s_a.min())         # centred on 1
    W_hat = quantize_tensor(W_1 * s_a, 3).dequantize() / s_a
    errors.append(((X_1 @ W_hat.T - X_1 @ W_1.T) ** 2).sum())
alpha_best = np.argmin(errors) / 20
s_lib, alpha_lib = awq_scales(X_1, W_1, 3)
assert alpha_best == alpha_lib
assert np.allclose(a_mean ** alpha_best
                   / np.sqrt((a_mean ** alpha_best).max()
                             * (a_mean ** alpha_best).min()), s_lib)
print(f"AWQ from scratch == library: alpha = {alpha_best}; output error"
      f" {errors[0]:.1f} at alpha 0 (plain RTN) -> {min(errors):.1f}")

# %% [markdown]
# **What to conclude.** AWQ is a one-parameter search: scale each input
# channel by its mean magnitude to the power α, quantize, fold the scale
# back, keep the α with the smallest output error on the calibration
# set (α = 0 is plain round-to-nearest, so the search never does worse
# on that set).

# %%
results = {k: [] for k in ("RTN W3", "AWQ W3", "keep salient 1 %",
                           "keep random 1 %", "per-tensor W8A8",
                           "SmoothQuant W8A8")}
for s in SEEDS:
    r = runs["mnist1d", s]
    rng = np.random.default_rng(s)
    hot = planted(r["net"], 1, [int(rng.integers(64))], 30.0)
    results["RTN W3"].append(acc(quantize_mlp(hot, None, 3, None), r))
    results["AWQ W3"].append(
        acc(quantize_mlp(awq(hot, r["X_cal"], 3), None, 3, None), r))
    _, ins = numpy_forward(hot, r["X_cal"], np.float64, inputs=True)
    if s == SEEDS[0]:                 # SmoothQuant's s_j from scratch
        W_1 = hot[2].W.data.astype(np.float64)              # (64, 64)
        a_max = np.abs(ins[1]).max(axis=0)                  # (64,)
        w_max = np.abs(W_1).max(axis=0)                     # (64,)
        ok = (a_max > 0) & (w_max > 0)                      # 1 elsewhere
        s_sq = np.ones(64)
        s_sq[ok] = a_max[ok] ** 0.5 / w_max[ok] ** 0.5
        assert np.allclose(s_sq, smoothquant_scales(ins[1], W_1, 0.5))
    salient = salient_channels(ins[1], 0.01)
    random_ = rng.choice(np.setdiff1d(np.arange(64), salient), 1)
    for name, channels in (("keep salient 1 %", salient),
                           ("keep random 1 %", random_)):
        q = copy.deepcopy(hot)
        quantize_weights(q, 3)
        q[2].W.data[...] = protect_channels(hot[2].W.data, channels, 3)
        results[name].append(acc(q, r))
    results["per-tensor W8A8"].append(
        acc(quantize_mlp(hot, r["X_cal"], 8, 8), r))
    results["SmoothQuant W8A8"].append(
        acc(quantize_mlp(smoothquant(hot, r["X_cal"], 0.5), r["X_cal"], 8, 8),
            r))
for name, values in results.items():
    print(f"{name:<18} {mean_std(values)}")

# %% [markdown]
# **What to conclude.** Compare each pair (salient vs random, RTN vs
# AWQ, W8A8 vs SmoothQuant) with the spread over seeds printed beside it:
# a difference smaller than that spread is not a result. On this small
# net one planted channel is one of many sources of error, which is why
# AWQ and SmoothQuant were invented for large language models whose
# outliers dominate.

# %% [markdown]
# ## 7. Accuracy against bits
#
# Per-channel weights, 8-bit activations, 3 seeds each (AdaRound on
# MNIST-1D at 3 bits only, 100 iterations, to keep this notebook fast).
# `minicomp bench ptq` runs the full comparison: AdaRound at 4 and 3
# bits on both datasets (2,000 iterations, the whole training set as
# calibration set, both chosen on a validation split by `minicomp bench
# ptq_choices`) and a larger MLP.

# %%
BITS = (2, 3, 4, 8)
curves = {}
for d in ("digits", "mnist1d"):
    rs = [runs[d, s] for s in SEEDS]
    curves[d, "RTN"] = [[acc(quantize_mlp(r["net"], r["X_cal"], b, 8), r)
                         for r in rs] for b in BITS]
    curves[d, "GPTQ"] = [[acc(gptq_mlp(r["net"], r["X_cal"], b, 8,
                                       damp=damp), r) for r in rs]
                         for b in BITS]
    for i, b in enumerate(BITS):
        print(f"{d} {b} bits: RTN {mean_std(curves[d, 'RTN'][i])}"
              f" | GPTQ {mean_std(curves[d, 'GPTQ'][i])}")
curves["AdaRound"] = [
    acc(adaround_mlp(runs["mnist1d", s]["net"], runs["mnist1d", s]["X_cal"],
                     3, 8, iters=100, seed=s), runs["mnist1d", s])
    for s in SEEDS]
print("mnist1d 3 bits: AdaRound", mean_std(curves["AdaRound"]))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, d in zip(axes, ("digits", "mnist1d")):
    for method in ("RTN", "GPTQ"):
        m = np.mean(curves[d, method], axis=1)
        sd = np.std(curves[d, method], axis=1)
        ax.errorbar(BITS, m, yerr=sd, marker="o", capsize=3, label=method)
    if d == "mnist1d":
        ax.errorbar([3], [np.mean(curves["AdaRound"])],
                    yerr=[np.std(curves["AdaRound"])], marker="s",
                    capsize=3, label="AdaRound", linestyle="none")
    ax.set(title=f"{d}: accuracy vs weight bits (A8)", xlabel="bits",
           ylabel="test accuracy", xticks=BITS)
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to conclude.** At 8 and 4 bits RTN and GPTQ are within the
# spread over seeds of each other. At 3 bits GPTQ is ahead beyond the
# spread on MNIST-1D, which has less slack, but not on digits; at 2 bits
# it keeps far more than RTN on both. AdaRound (MNIST-1D, 3 bits, only
# 100 iterations) lands above RTN, and below GPTQ by about the spread:
# not a ranking of the two.

# %% [markdown]
# ## 8. Debugging: per-layer SQNR
#
# When a quantized net fails, look layer by layer. The signal-to-
# quantization-noise ratio of layer $\ell$'s outputs on its float
# inputs, $\mathrm{SQNR} = 10\log_{10}(\lVert XW^\top\rVert^2 /
# \lVert X(\hat W - W)^\top\rVert^2)$ dB, says where the error comes
# from (each bit is worth about 6 dB).

# %%
_, inputs = numpy_forward(net, run["X_cal"], np.float64, inputs=True)
q_rtn = quantize_mlp(net, run["X_cal"], 3, 8)
q_gptq = gptq_mlp(net, run["X_cal"], 3, 8, damp=damp)
print("layer   RTN dB   GPTQ dB   AdaRound dB   (3 bits)")
for k, x in enumerate(inputs):
    Y = x @ net[2 * k].W.data.T
    sqnr = [10 * np.log10(np.sum(Y ** 2) / np.sum(
        (x @ q.W_hat[k].T - Y) ** 2)) for q in (q_rtn, q_gptq, q_ada)]
    print(f"{k:>5} " + "".join(f"{v:>9.1f} " for v in sqnr))

# %% [markdown]
# **What to conclude (one net, seed 0).** GPTQ raises every layer's
# SQNR by a few dB.
# AdaRound does not always: it minimises the error
# *after the ReLU* and on the inputs of the already-quantized layers, not
# this pre-activation error on float inputs -- SQNR measures one thing,
# the accuracy another. The layer with the lowest SQNR is the one to
# give more bits first.

# %% [markdown]
# ## 9. What the seed gets wrong
#
# > **Seed 004: "delete the parameters whose Hessian entries are
# > smallest".** The Hessian of a weight alone says how *sensitive* the
# > loss is to it, not how much removing it costs: OBS's cost is
# > $w_q^2 / (2[H^{-1}]_{qq})$, which needs the weight's value and the
# > *inverse* Hessian. For a layer, the diagonal entry of weight
# > $w_{ij}$ is $H_{jj} = 2\sum_n x_{nj}^2$ -- the same for a whole input
# > column, whatever its weights. Run at 50 % on every layer:

# %%
def seed_rule(net, X, amount=0.5):              # smallest H entries go
    net = copy.deepcopy(net)
    _, ins = numpy_forward(net, X, np.float64, inputs=True)
    for k, x in enumerate(ins):
        W = net[2 * k].W.data
        diag = np.broadcast_to(2 * (x ** 2).sum(0), W.shape)
        W *= mask_from_scores(diag, amount)
    return net


for name, fn in (("seed: smallest H_jj", lambda r: seed_rule(r["net"],
                                                             r["X_cal"])),
                 ("magnitude", lambda r: magnitude_50(r["net"])),
                 ("SparseGPT (OBS)", lambda r: sparsegpt_net(r["net"],
                                                            r["X_cal"],
                                                            0.5))):
    print(f"{name:<20}", mean_std([acc(fn(runs["mnist1d", s]),
                                       runs["mnist1d", s]) for s in SEEDS]))

# %% [markdown]
# **What to conclude.** The seed's rule removes whole input columns
# regardless of their weights and is worse than plain magnitude pruning;
# the saliency that uses the inverse Hessian *and* the weight, with the
# compensating update, is the best of the three.

# %% [markdown]
# ## 10. Summary
#
# | method | what it changes | data | `minicomp/ptq/` |
# |---|---|---|---|
# | GPTQ | rounding, errors pushed on | calib. | `gptq.py` |
# | SparseGPT | mask (+ rounding) | calib. | `sparsegpt.py` |
# | AdaRound | up/down per weight | calib. | `adaround.py` |
# | equalization | neuron scales | none | `equalize.py` |
# | bias correction | biases | none/calib. | `equalize.py` |
# | AWQ, SmoothQuant | input-channel scales | calib. | `transforms.py` |
#
# All of them return what the rest of the library takes: a
# `QuantizedMLP` (deployed by `to_inference`), a masked net, or a float
# net computing the same function.
#
# ## 11. Exercises
#
# 1. **Graded:** `release/07_gptq/`, the student copy (made by
#    `minicomp release exercises/ release/`; `exercises/` is the
#    instructor's copy, with the solutions): GPTQ's column loop for one
#    layer and the Cholesky factor of the inverse Hessian; with $H = I$
#    it must equal round-to-nearest (`minicomp check release/07_gptq`).
# 2. Run GPTQ with `act_order=True` (columns by decreasing $H_{jj}$) at
#    2 bits on the three MNIST-1D nets: does the order help beyond the
#    spread over seeds? Choose on the validation split.
# 3. Extend the from-scratch SparseGPT loop of section 3 to joint 2:4 +
#    4-bit weights (round each kept weight as it is fixed) and assert it
#    equal to `sparsegpt(W0, H, nm=(2, 4), bits=4)`.
