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
# # Chapter 3 — Quantization
#
# *Store weights and activations as small integers: from seed 004's
# $Q(x) = \mathrm{round}(x \cdot Q)$ to an int8 model that computes with
# integers only, and to 2-bit shared weights.*

# %% [markdown]
# ## 1. Introduction
#
# All five seeds name quantization (量化): "convert the model's parameters
# from floating point to integers, to cut storage and computation". Seed
# 004 gives the formula $Q(x) = \mathrm{round}(x \cdot Q)$ and names
# integer and "sub-integer" quantization (整数量化, 子整数量化); seed 001
# names global, local and mixed quantization (全局量化, 局部量化, 混合量化).
# Their code samples never produce a quantized model — the boxes of
# sections 4 and 13 run them.
#
# Every section has the same order: the **idea**, the **math**, the code
# **from scratch** in NumPy, the **library** call, asserted equal to the
# scratch code, and **what to conclude** from each printed result. The
# topics: fixed point (2), uniform affine and symmetric quantization (3),
# granularity (4), observers (5), post-training quantization (6),
# quantization-aware training with the straight-through estimator (7),
# mixed precision (8), k-means weight sharing (9), Huffman coding (10),
# the integer-only model (11), accuracy against bits (12).
#
# > **Glossary.** The seed terms used here:
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 量化 | quantization | all |
# > | 量化因子 Q | quantization factor, here $2^f$ | 2 |
# > | 整数量化 | integer quantization | 3, 11 |
# > | 子整数量化 | "sub-integer"; we read it as k-means codes (9) | 9 |
# > | 全局量化 / 局部量化 | per-tensor / per-group scales | 4 |
# > | 混合量化 | mixed precision | 8 |
# > | 量化阈值 | "quantization threshold" (a clamp) | 4 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import heapq
import importlib.util
import itertools
import math
import os

import matplotlib.pyplot as plt
import numpy as np

import minicomp
import minicomp.quant as Q
from minicomp import F, Tensor, evaluate, fit, predict
from minicomp.data import batches
from minicomp.deploy import to_inference
from minicomp.kernels import reference
from minicomp.metrics import storage_bytes
from minicomp.optim import SGD, CosineLR
from minicomp.prune import prune
from minicomp.quant.fixed_point import (distinct_values, fixed_point_range,
                                        wrap_around)
from minicomp.quant.granularity import quantization_error
from minicomp.quant.huffman import entropy_bits, huffman_code
from minicomp.quant.kmeans import kmeans_1d
from minicomp.quant.mixed import layer_sensitivity
from minicomp.tensor import accumulate
from minicomp.train import BaselineConfig, train_baseline

np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The networks are chapter 0's baseline (seed 000's MLP 64 → 64 → 64 →
# 10, trained on the 8×8 digits), trained three times with seeds 0, 1 and
# 2 (initialisation and minibatch order). The data has three parts: a
# training set, a **validation** set carved from it (every choice below
# is made there) and a **test** set (final numbers only). Every
# comparison is reported as mean ± std over the three networks; a
# single-network result says "one run". `W` of a `Dense` layer has shape
# (out, in).

# %%
SEEDS = (0, 1, 2)


def ms(values):
    """'mean ± std' over the seeds (np.std, as in every chapter)."""
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}"


runs = [train_baseline(BaselineConfig(seed=s), quiet=True) for s in SEEDS]
nets = [r[0] for r in runs]
data = runs[0][3]
X_train, y_train, X_test, y_test = data
X_val, y_val = data.X_val, data.y_val
assert all(np.array_equal(r[3].X_val, X_val) for r in runs)  # one split
X_cal = X_train[:512]                    # calibration set: training rows


def acc(model, X=X_test, y=y_test):
    return evaluate(model, X, y)["accuracy"]


net = nets[0]
float_accs = [acc(n) for n in nets]
float_acc = float_accs[0]
print(data)
print(net)
print("float32 test accuracy:", ms(float_accs),
      "| one test image =", round(1 / len(y_test), 4))

# %% [markdown]
# **What to conclude.** The three float networks differ only by their
# seed; the std printed above is the noise level any difference below has
# to exceed to mean something, and one test image is worth the fraction
# printed beside it.

# %% [markdown]
# ## 2. Fixed point: $Q(x) = \mathrm{round}(x \cdot 2^f) / 2^f$
#
# **Idea.** Seed 004's $Q(x) = \mathrm{round}(x \cdot Q)$ with $Q = 256$
# is fixed point: keep $f = 8$ fractional bits, store the integer
# $q = \mathrm{round}(x \cdot 2^f)$, read back $q / 2^f$.
#
# **Math.** In a signed word of $b$ bits the resolution is $2^{-f}$ (error
# at most $2^{-f-1}$) and the range is
# $[-2^{b-1}, 2^{b-1} - 1] \cdot 2^{-f}$; a value outside it
# **overflows**. Without a word size (as in the seed) nothing is saved.
#
# **From scratch**, then with the library:

# %%
x = np.array([0.3, -1.7, 0.001, 200.0])
f, b = 8, 16                                      # Q8.8: seed 004's Q = 256
q = np.clip(np.rint(x * 2**f), -2**(b - 1), 2**(b - 1) - 1)
x_hat = q / 2**f
print("q     ", q)
print("Q(x)  ", x_hat)
print("range, resolution", fixed_point_range(f, b))
assert np.array_equal(x_hat, Q.fixed_point(x, f, b))
print("overflowed:", Q.to_fixed(x, f, b)[1], "(200 is above the range)")
print("an int8 register would wrap instead:", wrap_around([200], 8))

# %% [markdown]
# **What to conclude.** 0.001 is below the resolution and becomes 0; 200
# is outside the 16-bit range and saturates at its top, while an 8-bit
# register would silently wrap it to a negative number. Fixed point is
# uniform quantization with a step that must be a power of two and a
# range fixed in advance — the next section frees both.

# %% [markdown]
# ## 3. Uniform quantization: $r = S(q - Z)$
#
# **Idea.** Pick the step $S$ (the *scale*) to fit the data's range, and
# an integer *zero point* $Z$ so that the real 0 is exactly a code (ReLU
# outputs, zero padding and pruned weights stay exact).
#
# **Math.** *Affine*, $b$ bits, codes $q \in [0, 2^b - 1]$, the range
# $[lo, hi]$ first widened to contain 0:
# $$S = \frac{hi - lo}{2^b - 1}, \quad Z = \mathrm{round}(-lo / S),\quad
# q = \mathrm{clamp}(\mathrm{round}(r/S) + Z),\quad \hat r = S(q - Z).$$
# *Symmetric*: $Z = 0$, codes in $[-(2^{b-1} - 1), 2^{b-1} - 1]$ (int8:
# −127..127), $S = \max|r| / (2^{b-1} - 1)$. Inside the range the error is
# at most $S/2$; `round` is round-half-to-even.
#
# **A hand-worked example.** $r = [-0.5, 0, 0.3, 1]$, affine, 2 bits
# (codes 0..3): $S = (1 - (-0.5))/3 = 0.5$, $Z = \mathrm{round}(0.5 / 0.5)
# = 1$, $r / S = [-1, 0, 0.6, 2]$, $q = [0, 1, 2, 3]$,
# $\hat r = 0.5\,(q - 1) = [-0.5, 0, 0.5, 1]$: the 0.3 becomes 0.5, an
# error of 0.2, below $S/2 = 0.25$. Symmetric, 3 bits (codes −3..3):
# $S = 1/3$, $r / S = [-1.5, 0, 0.9, 3]$, and the tie −1.5 rounds to the
# even −2. The code prints every step:

# %%
r = np.array([-0.5, 0.0, 0.3, 1.0])
lo, hi = min(r.min(), 0.0), max(r.max(), 0.0)
S = (hi - lo) / (2**2 - 1)                       # affine, 2 bits
Z = int(np.rint(-lo / S))
q = np.clip(np.rint(r / S) + Z, 0, 2**2 - 1)
print(f"affine 2-bit:    S = {S}, Z = {Z}, r/S = {r / S}")
print("  q =", q, " r_hat =", S * (q - Z), " error =", r - S * (q - Z))
S3 = np.abs(r).max() / (2**(3 - 1) - 1)          # symmetric, 3 bits
q3 = np.clip(np.rint(r / S3), -3, 3)
print(f"symmetric 3-bit: S = {S3:.4f}, r/S = {r / S3}")
print("  q =", q3, " r_hat =", S3 * q3)
S_lib, Z_lib = Q.scale_zero_point(r.min(), r.max(), 2)
assert np.isclose(S, S_lib) and Z == Z_lib
assert np.array_equal(q, Q.quantize(r, S, Z, 2))
S3_lib, _ = Q.scale_zero_point(r.min(), r.max(), 3, "symmetric")
assert np.array_equal(q3, Q.quantize(r, S3_lib, 0, 3, "symmetric"))
print("library == hand-worked for both schemes")

# %% [markdown]
# **What to conclude.** Every printed step matches the arithmetic above,
# and the library gives the same codes. The symmetric scheme spends one
# of its 8 codes on nothing (−4 is not used: the narrow range keeps
# $q \mapsto -q$ exact) and, with no zero point, wastes its negative half
# on one-sided data such as ReLU outputs — which is why activations are
# quantized affine and weights symmetric below.
#
# **From scratch** on a trained layer's weights: two small functions used
# for the rest of the chapter, then the library:


# %%
def affine_qparams(lo, hi, bits):
    """(S, Z) of the range [lo, hi] widened to contain 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    S = (hi - lo) / (2**bits - 1)
    S = S if S > 0 else 1.0                  # all zeros: any S is exact
    return S, int(np.rint(-lo / S))


def fake_quant(x, S, Z, q_min, q_max):
    """S (clamp(round(x / S) + Z) - Z), computed in float64 -> float32."""
    q = np.clip(np.rint(np.asarray(x, np.float64) / S) + Z, q_min, q_max)
    return (S * (q - Z)).astype(np.float32)


W0 = net[0].W.data                                # (64, 64)
bits = 4
S, Z = affine_qparams(W0.min(), W0.max(), bits)
W0_hat = fake_quant(W0, S, Z, 0, 2**bits - 1)
print(f"S = {S:.5f}, Z = {Z}")
print(f"max error {np.abs(W0 - W0_hat).max():.5f} <= S/2 = {S / 2:.5f}")
S_lib, Z_lib = Q.scale_zero_point(W0.min(), W0.max(), bits)
assert np.isclose(S, S_lib) and Z == Z_lib
assert np.array_equal(W0_hat, Q.fake_quantize(W0, S, Z, bits))
print("0.0 ->", fake_quant([0.0], S, Z, 0, 15)[0], "(exact)")

# %% [markdown]
# **What to conclude.** The largest error is half a step, as the math
# says, and 0 is reconstructed exactly. Outside the range the value
# saturates and the error grows linearly (one run, a 3-bit grid):

# %%
xs = np.linspace(-1.5, 1.5, 601)
S2, Z2 = Q.scale_zero_point(-1.0, 1.0, 3, "symmetric")
xs_hat = Q.fake_quantize(xs, S2, Z2, 3, "symmetric")
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(xs, xs_hat)
ax[0].set(title="3-bit symmetric fake_quantize", xlabel="x",
          ylabel="x_hat")
ax[1].plot(xs, xs - xs_hat)
ax[1].axhline(S2 / 2, ls="--", c="gray")
ax[1].axhline(-S2 / 2, ls="--", c="gray")
ax[1].set(title="error x - x_hat (dashed: ±S/2)", xlabel="x",
          ylabel="error")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to conclude.** Inside the range the error is a saw-tooth that
# never leaves the ±S/2 band; beyond the last level it grows linearly —
# a range that is too narrow trades rounding error for clipping error.
#
# Where do a trained layer's weights fall on such a grid? The histogram
# of layer 1's weights with the levels of a 3-bit symmetric grid (one
# scale for the tensor) drawn over it:

# %%
W1 = net[2].W.data                                # (64, 64)
S_h, _ = Q.scale_zero_point(W1.min(), W1.max(), 3, "symmetric")
codes = Q.quantize(W1, S_h, 0, 3, "symmetric")
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist(W1.ravel(), bins=80, color="C0", alpha=0.7, label="weights")
for k, level in enumerate(S_h * np.arange(-3, 4)):
    ax.axvline(level, c="C3", lw=1.2, label="3-bit levels" if k == 0
               else None)
ax.set(title="Layer 1 weights and the 3-bit symmetric grid (per tensor)",
       xlabel="weight value", ylabel="number of weights")
ax.legend()
plt.show()
print("weights per code -3..3:", np.bincount(codes.ravel() + 3,
                                             minlength=7))

# %% [markdown]
# **What to conclude** (one run). The bell-shaped weights pile up on the
# middle codes; the outer codes, placed by the few largest weights, hold
# a small share of them. Three remedies follow: a scale per channel
# (section 4), a clipped range (section 5) and non-uniform levels placed
# where the weights are (k-means, section 9).

# %% [markdown]
# ## 4. Granularity: per tensor, per channel, per group
#
# **Idea.** One scale for a whole tensor (seed 001's 全局量化) is set by
# its largest value; one **outlier channel** then makes the step too
# large for all the others. A scale per output channel (row of `W`), or
# per group of inputs within a row (seed 001's 局部量化), fixes that for
# a few bytes of scales.
#
# **Math** (symmetric, $q_{max} = 2^{b-1} - 1$):
# per tensor $S = \max_{ij} |W_{ij}| / q_{max}$; per channel
# $S_i = \max_j |W_{ij}| / q_{max}$; per group of $g$ inputs
# $S_{i,k} = \max_{j \in \text{group } k} |W_{ij}| / q_{max}$.
#
# **From scratch**, then the library's `quantize_tensor`:

# %%
q_max = 2**(8 - 1) - 1
W = W0.astype(np.float64)                                   # (64, 64)
S_tensor = np.abs(W).max() / q_max                          # ()
S_channel = np.abs(W).max(axis=1, keepdims=True) / q_max    # (64, 1)
S_group = np.abs(W.reshape(64, 4, 16)).max(axis=2,
                                           keepdims=True) / q_max
for S_, g in ((S_tensor, "tensor"), (S_channel, "channel"),
              (S_group, "group")):                          # (64, 4, 1)
    qt = Q.quantize_tensor(W, 8, "symmetric", g, group_size=16)
    assert np.allclose(S_, qt.S) and qt.num_scales == np.size(S_)
    print(f"per {g:8s} {qt.num_scales:4d} scales == library")

# %% [markdown]
# **What to conclude.** A granularity is only a choice of which weights
# share one maximum: 1, 64 or 256 scales for this layer, each computed by
# the one-line formula above.
#
# We build a layer with an outlier channel without changing the network's
# function: scale neuron 0 of layer 0 up by 50 and its outgoing weights
# down by 50 — ReLU is positively homogeneous, so the float outputs stay
# the same. Then quantize the weights (not the activations) per tensor
# and per channel, on the three networks:


# %%
def with_outlier(net, k=50.0):
    out = copy.deepcopy(net)
    out[0].W.data[0] *= k                 # row 0 of layer 0: (64,)
    out[0].b.data[0] *= k
    out[2].W.data[:, 0] /= k              # column 0 of layer 1: (64,)
    return out


grans = ("tensor", "channel", "group")
mse = {g: [] for g in grans}
accs = {}
for n in nets:
    o = with_outlier(n)
    assert np.allclose(predict(o, X_test), predict(n, X_test), atol=1e-3)
    Wo = o[0].W.data
    for g in grans:
        qt = Q.quantize_tensor(Wo, 8, "symmetric", g, group_size=16)
        mse[g].append(quantization_error(Wo[1:], qt.dequantize()[1:]))
    for name, m in (("plain", n), ("outlier", o)):
        for g in ("tensor", "channel"):
            for b in (8, 4):
                qm = Q.quantize_mlp(m, None, bits=b, bits_a=None,
                                    granularity=g)
                accs.setdefault((name, g, b), []).append(acc(qm))
for g in grans:
    print(f"8-bit per {g:8s}: MSE on the other 63 rows "
          f"{np.mean(mse[g]):.2e} (mean of 3)")
for (name, g, b), a in accs.items():
    print(f"{name:8s} net, W{b} per {g:8s}: test accuracy {ms(a)}")
print("float:", ms(float_accs))

# %% [markdown]
# **What to conclude.** On the outlier layer, the per-tensor step is set
# by row 0, and the other rows' error is orders of magnitude larger than
# with their own scales; per-group scales cut it further. At 8 bits even
# the per-tensor grid is fine enough for accuracy, at 4 bits the outlier
# network loses heavily per tensor and not per channel. On the plain
# networks the two granularities are close at 8 bits; compare the printed
# 4-bit rows with their stds before calling either better there (here
# they are within them).
#
# > **What seed 002's sample gets wrong: a clamp is not quantization.**
# > Its "quantization" (量化) sets a "quantization threshold" (量化阈值)
# > $t = 0.01$ and, before every optimizer step, runs
# > `param.data = torch.clamp(param.data, -t, t)`. A clamp bounds the
# > range but maps nothing onto a grid: weights inside $(-t, t)$ keep
# > every float32 value they had and all the others collapse onto
# > $\pm t$. Storage stays 4 bytes per weight. First the sample as
# > printed in the seed, run literally when PyTorch is installed
# > (otherwise a translation to minicomp, labelled as such, with each of
# > the seed's lines as a comment above its translation):

# %%
SEED_002 = """
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

# 设定一个量化阈值
threshold = 0.01

# 量化过程
for epoch in range(100):
    inputs = torch.randn(1, 10)
    targets = torch.randn(1, 10)
    optimizer.zero_grad()
    outputs = net(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    for param in net.parameters():
        param.data = torch.clamp(param.data, -threshold, threshold)
    optimizer.step()

# 评估量化后的模型性能
"""
try:
    import torch  # optional: only to run the literal sample
    torch.manual_seed(0)                  # the sample draws random data
    ns = {}
    exec(SEED_002, ns)
    W_seed = ns["net"].fc1.weight.detach().numpy()
    which = "the literal PyTorch sample"
except ImportError:          # a translation to minicomp, line by line
    from minicomp.nn import Dense
    rng = np.random.default_rng(0)
    # net = Net()   (fc1: Linear(10, 50), fc2: Linear(50, 10))
    seed_net = minicomp.Sequential(Dense(10, 50), Dense(50, 10))
    # optimizer = optim.SGD(net.parameters(), lr=0.01)
    optimizer = SGD(seed_net.parameters(), lr=0.01)
    # threshold = 0.01
    threshold = 0.01
    # for epoch in range(100):
    for epoch in range(100):
        # inputs = torch.randn(1, 10); targets = torch.randn(1, 10)
        inputs = rng.standard_normal((1, 10)).astype(np.float32)
        targets = rng.standard_normal((1, 10)).astype(np.float32)
        # optimizer.zero_grad()
        optimizer.zero_grad()
        # loss = criterion(net(inputs), targets); loss.backward()
        F.mse(seed_net(Tensor(inputs)), targets).backward()
        # for param in net.parameters():
        for param in seed_net.parameters():
            # param.data = torch.clamp(param.data, -threshold, threshold)
            param.data = np.clip(param.data, -threshold, threshold)
        # optimizer.step()
        optimizer.step()
    W_seed = seed_net[0].W.data
    which = "the sample translated to minicomp"
print(which, "ran;", "fc1 weight after it:")
print(f"  max |w| = {np.abs(W_seed).max():.4f}, above the threshold "
      f"0.01: {np.abs(W_seed).max() > 0.01}")
print("  distinct values", distinct_values(W_seed), "of", W_seed.size,
      "| bytes per weight", W_seed.dtype.itemsize)

# %% [markdown]
# **What to conclude.** Because the clamp runs *before* the step, the
# last step can carry weights past the bound (printed above); the weights are
# still as many different float32 numbers, at 4 bytes each. Next, like with
# like on our trained network: the seed's clamp (one threshold for every
# tensor) and an 8-bit quantizer with **one scale per tensor** (a single grid
# for the tensor, as the clamp has a single range). What the counts mean: a
# quantized tensor is stored as codes — at most $2^8$ of them here — plus a
# scale, so the number of distinct *codes* gives the bits per weight; the
# clamp's distinct values are arbitrary floats on no grid, so their count buys
# nothing. (Per channel, every row has its own grid, so the tensor holds many
# more distinct real values, yet still at most $2^8$ codes per row — why
# distinct *values* are the wrong measure.)

# %%
threshold = 0.01
clamped = copy.deepcopy(net)
for p in clamped.parameters():                    # the seed's clamp
    p.data = np.clip(p.data, -threshold, threshold)
Wc = clamped[0].W.data
qt_t = Q.quantize_tensor(W0, 8, "symmetric", "tensor")
qt_c = Q.quantize_tensor(W0, 8, "symmetric", "channel")
print("layer 0 (4096 weights)    distinct values  distinct codes"
      "  bytes")
print(f"float32                   {distinct_values(W0):15d}"
      f"  {'-':>14s}  {storage_bytes(W0.shape, bias=False):5d}")
print(f"seed 002 clamp, t = 0.01  {distinct_values(Wc):15d}"
      f"  {'-':>14s}  {storage_bytes(Wc.shape, bias=False):5d}")
for name, qt, g in (("8-bit per tensor", qt_t, "tensor"),
                    ("8-bit per channel", qt_c, "channel")):
    nbytes = storage_bytes(W0.shape, "int", bits=8, granularity=g,
                           bias=False)
    print(f"{name:24s}  {distinct_values(qt.dequantize()):15d}"
          f"  {distinct_values(qt.q):14d}  {nbytes:5d}")
per_tensor = Q.quantize_mlp(net, None, bits=8, bits_a=None,
                            granularity="tensor")
print(f"test accuracy (one run): float {float_acc:.4f}, clamped "
      f"{acc(clamped):.4f}, 8-bit per tensor {acc(per_tensor):.4f}")

# %% [markdown]
# **What to conclude** (one run). The clamp keeps float32 storage and,
# with $t$ far below the weights' scale, destroys the network; the 8-bit
# per-tensor quantizer stores a quarter of the bytes, in codes from one
# grid, and keeps the float accuracy. Per channel the distinct *values*
# multiply (one grid per row) while each weight still takes one byte.

# %% [markdown]
# ## 5. Observers: choosing the range of activations
#
# **Idea.** Weights are known in advance; activations are not. Their
# range is **observed** on a calibration set (512 training inputs here)
# by an *observer*. The widest range (min-max) never clips, but a few
# rare large activations then stretch the step for all the others; a
# narrower range clips those few and rounds the rest more finely.
#
# **Math.** For the values $x$ seen at one point of the network:
#
# * **min-max**: $[\min x, \max x]$;
# * **moving average** (batches $x_t$, weight $c$):
#   $lo_t = lo_{t-1} + c\,(\min x_t - lo_{t-1})$, same for $hi$, starting
#   from the first batch's range;
# * **percentile**: $[P_{100-p}(x), P_p(x)]$, $p = 99.99$;
# * **MSE**: $\alpha^\star[\min x, \max x]$ with
#   $\alpha^\star = \arg\min_{\alpha} \frac1n \sum (x - \hat x_\alpha)^2$
#   over $\alpha \in \{0.05, \dots, 1\}$ (40 values), $\hat x_\alpha$ the
#   $b$-bit affine fake-quantization with the range $\alpha[\min x, \max x]$.
#
# **From scratch**: the float network's activations (the input of every
# layer, then the logits), the four observers, and the library's
# `calibrate` asserted equal at every point of the network:


# %%
def activations(net, X):
    """Input of every Dense layer, then the logits (float32)."""
    seen, h = [], X
    for layer in net.layers:
        if hasattr(layer, "W"):
            seen.append(h)
            h = h @ layer.W.data.T + layer.b.data      # (N, out)
        else:
            h = np.maximum(h, 0)                       # ReLU
    return seen + [h]


def minmax_range(x):
    return x.min(), x.max()


def moving_average_range(x_batches, c=0.01):
    lo, hi = float(x_batches[0].min()), float(x_batches[0].max())
    for x in x_batches[1:]:
        lo += c * (float(x.min()) - lo)
        hi += c * (float(x.max()) - hi)
    return lo, hi


def percentile_range(x, p=99.99):
    return np.percentile(x, 100 - p), np.percentile(x, p)


def mse_range(x, bits=8, alphas=np.linspace(0.05, 1.0, 40)):
    errors = []
    for a in alphas:
        S, Z = affine_qparams(a * x.min(), a * x.max(), bits)
        x_hat = fake_quant(x, S, Z, 0, 2**bits - 1)
        errors.append(np.mean((x - x_hat) ** 2))
    best = alphas[int(np.argmin(errors))]
    return best * x.min(), best * x.max()


halves = [activations(net, X_cal[i:i + 256]) for i in (0, 256)]
points = [np.concatenate([h[k] for h in halves]).astype(np.float64)
          for k in range(4)]                           # 4 points, flat
scratch = {
    "minmax": [minmax_range(x) for x in points],
    "moving_average": [moving_average_range([h[k] for h in halves])
                       for k in range(4)],
    "percentile": [percentile_range(x.ravel()) for x in points],
    "mse": [mse_range(x.ravel()) for x in points],
}
for kind, ranges in scratch.items():
    observers = Q.calibrate(net, X_cal, observer=kind)  # batches of 256
    assert np.allclose(ranges, [o.range() for o in observers])
    print(f"{kind:15s} ranges of the logits "
          f"[{ranges[3][0]:7.2f}, {ranges[3][1]:6.2f}] == library")

# %% [markdown]
# **What to conclude** (one run). The observers give different ranges
# for the same values (at 8 bits the MSE observer keeps the logits' full
# range: clipping them would cost more than a finer step saves), and the
# scratch code reproduces each of the library's. Which range is best depends
# on the number of codes: below, the weights are 8-bit and the activations 8,
# 4 or 3 bits, each observer scored on the **validation** set (the choice), on
# the three networks:

# %%
kinds = ("minmax", "moving_average", "percentile", "mse")
val_acc, test_acc = {}, {}
for bits_a in (8, 4, 3):
    for kind in kinds:
        for n in nets:
            qm = Q.quantize_mlp(n, X_cal, 8, bits_a, "channel",
                                observer=kind)
            val_acc.setdefault((bits_a, kind), []).append(
                acc(qm, X_val, y_val))
            test_acc.setdefault((bits_a, kind), []).append(acc(qm))
    print(f"W8A{bits_a} validation accuracy:")
    for kind in kinds:
        print(f"    {kind:15s} {ms(val_acc[bits_a, kind])}")
for bits_a in (8, 4, 3):
    best = max(kinds, key=lambda k: np.mean(val_acc[bits_a, k]))
    print(f"W8A{bits_a}: chosen on validation: {best:14s} test "
          f"{ms(test_acc[bits_a, best])} (min-max: "
          f"{ms(test_acc[bits_a, 'minmax'])})")

# %% [markdown]
# **What to conclude.** With 256 codes (A8) every observer's step is
# small, and the differences between them are within their stds: nothing
# to choose. With 16 or 8 codes (A4, A3) min-max stretches its few codes
# up to the largest activation seen, and the accuracy drops (A4) or
# collapses (A3); the observer picked on validation clips the range and
# keeps most of the accuracy on the test set. Observer choice matters
# exactly when codes are scarce.

# %% [markdown]
# ## 6. Post-training quantization (PTQ)
#
# **Idea.** No retraining: quantize the weights (symmetric, per channel),
# observe the activation ranges on the calibration set, and put the bias
# on the grid of the accumulator. The result is the **simulated**
# quantized model: float arithmetic on values that all lie on grids.
#
# **Math.** With $\mathrm{fq}$ the affine fake-quantizer of section 3,
# $$\hat x_0 = \mathrm{fq}(x; S_0, Z_0),\quad
# \hat x_{l+1} = \mathrm{fq}\big(\mathrm{relu}(\hat x_l \hat W_l^\top +
# \hat b_l); S_{l+1}, Z_{l+1}\big),\quad
# \hat b_l = S_l S_w \,\mathrm{round}\!\big(b_l / (S_l S_w)\big),$$
# without the ReLU after the last layer (its output, the logits, is
# fake-quantized too).
#
# **From scratch** (min-max ranges), then `quantize_mlp`:


# %%
def ptq_forward(net, X, X_cal, bits=8, bits_a=8):
    """The simulated W{bits}A{bits_a} model's logits, min-max ranges."""
    seen = [activations(net, X_cal[i:i + 256])   # batches of 256, as
            for i in range(0, len(X_cal), 256)]  # calibrate runs them
    qp = [affine_qparams(min(s[k].min() for s in seen),
                         max(s[k].max() for s in seen), bits_a)
          for k in range(len(seen[0]))]          # (S, Z) per point
    a_max, w_max = 2**bits_a - 1, 2**(bits - 1) - 1
    dense = [layer for layer in net.layers if hasattr(layer, "W")]
    x = fake_quant(X, *qp[0], 0, a_max)                    # (N, 64)
    for k, d in enumerate(dense):
        W = d.W.data.astype(np.float64)                    # (out, in)
        S_w = np.abs(W).max(axis=1) / w_max                # (out,)
        W_hat = fake_quant(W, S_w[:, None], 0, -w_max, w_max)
        S_b = qp[k][0] * S_w                               # (out,)
        b_hat = (np.rint(d.b.data / S_b) * S_b).astype(np.float32)
        x = x @ W_hat.T + b_hat                            # (N, out)
        if k < len(dense) - 1:
            x = np.maximum(x, 0)
        x = fake_quant(x, *qp[k + 1], 0, a_max)
    return x


for bits in (8, 4):
    logits = ptq_forward(net, X_test, X_cal, bits)
    qm = Q.quantize_mlp(net, X_cal, bits, 8, "channel")
    assert np.array_equal(logits, predict(qm, X_test))
print("scratch PTQ == quantize_mlp, W8A8 and W4A8 (every logit)")
ptq = {b: [acc(Q.quantize_mlp(n, X_cal, b, 8)) for n in nets]
       for b in (8, 4)}
print("test accuracy: float", ms(float_accs), "| W8A8", ms(ptq[8]),
      "| W4A8", ms(ptq[4]))

# %% [markdown]
# **What to conclude.** The scratch model and the library's agree on
# every logit. (Bit-equality needs the calibration batches of the
# library: the last bits of a matrix product depend on its shape, and one
# bit of a range can move a scale.) At W8A8 and even W4A8 the mean
# accuracy stays within the seeds' spread of the float networks': on
# these small digits, PTQ down to 4-bit weights is close to free. The
# losses start below 4 bits (section 12) — where the next section
# tests QAT.

# %% [markdown]
# ## 7. Quantization-aware training: the straight-through estimator
#
# **Idea.** Train *with* the rounding in the forward pass, so that the
# weights adapt to the grid. But $\mathrm{round}$ has derivative 0 almost
# everywhere (finite differences below show it), so the backward pass
# pretends the quantizer is the identity inside its range and 0 where the
# value was clipped — the **straight-through estimator** (STE):
# $$\frac{\partial \hat x}{\partial x} = \mathbf 1[S(q_{min} - Z) \le x
# \le S(q_{max} - Z)].$$
#
# **From scratch** as a new engine primitive (a forward line and a
# `_backward` closure, the pattern of chapter 0), checked against the
# library's `fake_quantize_ste`:


# %%
def fake_quant_ste(x, S, Z, q_min, q_max):
    """fake_quant of a Tensor; gradient 1 inside the range, 0 outside."""
    out = Tensor._make(fake_quant(x.data, S, Z, q_min, q_max), (x,), "fq")
    lo, hi = S * (q_min - Z), S * (q_max - Z)
    if out.requires_grad:
        def _backward():
            inside = (x.data >= lo) & (x.data <= hi)     # clipped: 0
            accumulate(x, out.grad * inside)
        out._backward = _backward
    return out


x = Tensor(np.array([-2.0, -0.4, 0.2, 0.9]), requires_grad=True)
y = fake_quant_ste(x, 0.25, 0, -3, 3)             # range [-0.75, 0.75]
y.sum().backward()
print("x_hat", y.data, " STE grad", x.grad)
x_lib = Tensor(x.data, requires_grad=True)
y_lib = Q.fake_quantize_ste(x_lib, 0.25, 0, 3, "symmetric")
y_lib.sum().backward()
assert np.array_equal(y.data, y_lib.data)
assert np.array_equal(x.grad, x_lib.grad)
h = 1e-3
fd = (fake_quant(x.data + h, 0.25, 0, -3, 3)
      - fake_quant(x.data - h, 0.25, 0, -3, 3)) / (2 * h)
print("finite differences of fq:", fd, "(the true derivative)")

# %% [markdown]
# **What to conclude.** The true derivative is 0 at these points, so
# plain backpropagation would never move a weight; the STE passes the
# gradient through the two values inside the range and blocks the two
# clipped ones (−2 and 0.9 lie outside $[-0.75, 0.75]$). The scratch
# primitive and the library's agree on values and gradients.
#
# Now a **short QAT loop from scratch**: weights fake-quantized per
# channel (min-max scales recomputed at every step), activations with
# moving-average ranges (starting from the float network's ranges on the
# first 1024 training inputs), cross-entropy, SGD with momentum and a cosine
# schedule — every update written out. It must give exactly the weights
# of the library's `qat_finetune` with the same recipe:


# %%
def qat_scratch(net, X, y, bits=4, bits_a=8, epochs=3, lr=0.01, mu=0.9,
                c=0.01, seed=0):
    dense = [layer for layer in net.layers if hasattr(layer, "W")]
    w_max, a_max = 2**(bits - 1) - 1, 2**bits_a - 1
    ranges = [[float(v) for v in minmax_range(h)]     # float64, as
              for h in activations(net, X[:1024])]     # the observers

    def act(x, k):                       # observe, then fake-quantize
        r = ranges[k]
        r[0] += c * (float(x.data.min()) - r[0])
        r[1] += c * (float(x.data.max()) - r[1])
        return fake_quant_ste(x, *affine_qparams(*r, bits_a), 0, a_max)

    params = net.parameters()
    velocity = [None] * len(params)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        lr_e = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        for idx in batches(np.arange(len(X)), None, 32, seed=rng):
            x = act(Tensor(X[idx]), 0)                      # (32, 64)
            for k, d in enumerate(dense):
                S_w = np.abs(d.W.data).max(axis=1, keepdims=True)
                S_w = S_w.astype(np.float64) / w_max        # (out, 1)
                W_hat = fake_quant_ste(d.W, S_w, 0, -w_max, w_max)
                x = x.linear(W_hat, d.b)                    # (32, out)
                x = act(x.relu() if k < len(dense) - 1 else x, k + 1)
            loss = F.cross_entropy(x, y[idx])
            for p in params:
                p.grad = None
            loss.backward()
            for i, p in enumerate(params):                 # momentum SGD
                if velocity[i] is None:
                    velocity[i] = np.array(p.grad, dtype=p.data.dtype)
                else:
                    velocity[i] *= mu
                    velocity[i] += p.grad
                p.data -= lr_e * velocity[i]
    return net


net_a, net_b = copy.deepcopy(net), copy.deepcopy(net)
qat_scratch(net_a, X_train, y_train)
Q.qat_finetune(net_b, X_train, y_train, bits=4, bits_a=8, epochs=3)
assert all(np.array_equal(p.data, q.data)
           for p, q in zip(net_a.parameters(), net_b.parameters()))
print("scratch QAT loop == qat_finetune: every weight, bit for bit")

# %% [markdown]
# **What to conclude.** The library's QAT is nothing more than this loop:
# fake quantization forward, STE backward, an ordinary optimizer. (One
# detail mattered for bit-equality: the grid is computed in float64, as
# `fake_quant` does; float32 division by a Python float rounds
# differently.)
#
# Does it help? Section 6 found 4-bit weights nearly free, so test it
# where PTQ fails: 2-bit weights (ternary: −1, 0, +1 times a scale per
# channel), 8-bit activations. QAT also trains 3 more epochs, so the fair
# control is the same 3 epochs of *float* fine-tuning followed by PTQ.
# Test accuracy on the three networks:


# %%
def float_finetune(net, epochs=3, lr=0.01):
    opt = SGD(net.parameters(), lr=lr, momentum=0.9)
    fit(net, X_train, y_train, optimizer=opt, epochs=epochs,
        scheduler=CosineLR(opt, T=epochs), quiet=True)
    return net


ptq2, qat2, ctrl2 = [], [], []
for n in nets:
    ptq2.append(acc(Q.quantize_mlp(n, X_cal, 2, 8)))
    qat, _ = Q.qat_finetune(copy.deepcopy(n), X_train, y_train, bits=2,
                            epochs=3)
    qat2.append(acc(qat.to_quantized()))
    ctrl2.append(acc(Q.quantize_mlp(float_finetune(copy.deepcopy(n)),
                                    X_cal, 2, 8)))
print("W2A8 PTQ", ms(ptq2), "| float fine-tune + PTQ", ms(ctrl2),
      "| QAT", ms(qat2), "| float", ms(float_accs))

# %% [markdown]
# **What to conclude.** The control (the same epochs in float, then PTQ)
# stays at PTQ's level, within the stds printed, while QAT comes back
# most of the way to the float accuracy, far beyond the stds: the gain
# comes from training *with* the grid, not from more training. Section 12
# repeats this at 2, 3, 4 and 8 bits.

# %% [markdown]
# ## 8. Mixed precision: bits where they matter
#
# **Idea** (seed 001's 混合量化: some parameters integer, others float).
# Layers are not equally hurt by rounding. Give each layer $l$ its own
# width $b_l$ so that the model fits a byte **budget** with the least
# damage.
#
# **Math.** The *sensitivity* of layer $l$ at $b$ bits is the validation
# loss increase when only that layer is quantized,
# $\Delta_l(b) = L_{val}(W_l \to \hat W_l^{(b)}) - L_{val}$. Then choose
# $(b_1, \dots, b_L)$ with bytes $\le B$. The library's rule is greedy:
# start with every layer at the widest width and, while the model is over
# budget, lower by one width the layer whose step costs the least
# $\Delta$ increase per byte saved (written from scratch below and
# asserted equal). With 3 layers and 4 widths there are only $4^3 = 64$
# assignments, so we can also simply try them all and keep the lowest
# *measured* validation loss.
# The sensitivities and the choice use the validation set only.


# %%
choices = (2, 3, 4, 8)


def with_bits(net, bits):
    """A copy of net, layer l's weights fake-quantized to bits[l]."""
    out = copy.deepcopy(net)
    dense = [layer for layer in out.layers if hasattr(layer, "W")]
    for d, b in zip(dense, bits):
        if b < 32:                                 # 32: keep float32
            d.W.data[...] = Q.quantize_tensor(d.W.data, b).dequantize()
    return out


def val_loss(model):
    return F.cross_entropy(predict(model, X_val), y_val).item()


base = val_loss(net)
delta = np.array([[val_loss(with_bits(net, [b if i == l else 32
                                            for i in range(3)])) - base
                   for b in choices] for l in range(3)])
assert np.allclose(delta, layer_sensitivity(net, X_val, y_val, choices),
                   atol=1e-5)
print("sensitivity Δ_l(b), rows = layers, columns = bits", choices)
print(delta, "\n== library (one run)")

# %% [markdown]
# **What to conclude** (one run). 8 and 4 bits barely move the
# validation loss of any layer; 2 bits hurts every layer, some more than
# others. So the interesting budgets lie between uniform 2 and 3 bits —
# take the one halfway. On the three networks: the best assignment by
# search, the library's greedy one, and the uniform widths on either
# side of the budget (2-bit fits, 3-bit does not); the greedy rule
# first, from scratch:

# %%
def greedy_bits(delta, shapes, budget):
    """Widest first; lower the cheapest layer (Δ per byte) until it fits."""
    def nbytes(l, i):                         # layer l at choices[i]
        return storage_bytes(shapes[l], "int", bits=choices[i])
    level = [len(choices) - 1] * len(shapes)
    while sum(nbytes(l, i) for l, i in enumerate(level)) > budget:
        cost = [(delta[l, i - 1] - delta[l, i])
                / (nbytes(l, i) - nbytes(l, i - 1)) if i else np.inf
                for l, i in enumerate(level)]
        level[int(np.argmin(cost))] -= 1
    return [choices[i] for i in level]


# %%
results = {k: [] for k in ("uniform 2", "search", "greedy", "uniform 3")}
for n in nets:
    b2, b3 = (storage_bytes(n, "int", bits=b) for b in (2, 3))
    budget = (b2 + b3) // 2
    fits = [bits for bits in itertools.product(choices, repeat=3)
            if storage_bytes(n, "int", bits=list(bits)) <= budget]
    best = min(fits, key=lambda bits: val_loss(with_bits(n, bits)))
    greedy, g_bits, g_bytes = Q.mixed_precision(n, X_val, y_val, budget,
                                                choices)
    shapes = [layer.W.shape for layer in n.layers if hasattr(layer, "W")]
    d_n = layer_sensitivity(n, X_val, y_val, choices)    # (3, 4)
    assert greedy_bits(d_n, shapes, budget) == list(g_bits)
    for key, model, bits in (("uniform 2", with_bits(n, (2,) * 3),
                              (2,) * 3),
                             ("search", with_bits(n, best), best),
                             ("greedy", greedy, g_bits),
                             ("uniform 3", with_bits(n, (3,) * 3),
                              (3,) * 3)):
        nbytes = storage_bytes(n, "int", bits=list(bits))
        results[key].append((acc(model), nbytes, tuple(bits)))
print(f"budget {budget} bytes (float32: {storage_bytes(net)})")
for key, rows in results.items():
    a, nb, bits = zip(*rows)
    print(f"{key:9s} test {ms(a)}  bytes {list(nb)}  bits {list(bits)}")

# %% [markdown]
# **What to conclude.** At a budget no uniform width can use, the uniform
# model that fits must drop to 2 bits everywhere, while both mixed
# assignments spend the extra bytes on some layers and recover much of
# the gap to uniform 3-bit (which is over budget). The exhaustive search
# measures every assignment on the validation set; the greedy one adds
# single-layer sensitivities and can stop well below the budget — compare
# their printed bytes. Whether a mixed assignment can beat a uniform width
# at *its* size is a separate question: the next cell looks at it on
# seed 0's validation set, and exercise 3 on the three networks.
#
# The picture behind the search (one run, validation set): every
# assignment's bytes and validation accuracy, the uniform ones marked.

# %%
all_bits = list(itertools.product(choices, repeat=3))
points = [(storage_bytes(net, "int", bits=list(bits)),
           acc(with_bits(net, bits), X_val, y_val)) for bits in all_bits]
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.scatter(*zip(*points), s=14, c="C0", label="mixed assignment")
uni = [points[all_bits.index((b,) * 3)] for b in choices]
ax.scatter(*zip(*uni), s=60, c="C3", marker="s", label="uniform 2/3/4/8")
ax.axvline(budget, ls="--", c="gray", label="budget of this section")
ax.set(title="All 64 per-layer bit assignments (seed 0, validation)",
       xlabel="bytes (int codes + scales + biases)",
       ylabel="validation accuracy")
ax.legend(loc="lower right")
plt.show()
for b, (nbytes, a) in zip(choices, uni):
    gains = [pa - a for pb, pa in points if pb <= nbytes and pa > a]
    print(f"uniform {b}-bit: {nbytes} bytes, validation {a:.3f}; "
          f"assignments as small and more accurate: {len(gains)}"
          + (f", by at most {max(gains) * len(y_val):.0f} of the "
             f"{len(y_val)} validation images" if gains else ""))
print("one validation image =", round(1 / len(y_val), 4))

# %% [markdown]
# **What to conclude** (one run). At 2, 3 and 4 bits no assignment of
# the same size or smaller beats the uniform one on validation. At 8
# bits some smaller ones score higher, but only by the number of
# validation images printed: noise, since from 3 bits up every width is
# about as accurate as float. Mixed assignments fill the gaps between
# the uniform points: on a network this small and regular, mixed
# precision buys budgets in between, not a better model at a uniform
# width.

# %% [markdown]
# ## 9. Weight sharing by 1-D k-means
#
# **Idea** (Deep Compression; our reading of seed 004's 子整数量化).
# Cluster a layer's weights into $2^b$ centroids — levels placed where
# the weights are, not on a uniform grid. Store a $b$-bit index per
# weight and a small float codebook.
#
# **Math.** Lloyd's algorithm from linearly spaced centroids
# $c_k$: assign each weight to its nearest centroid, $I_{ij} =
# \arg\min_k |W_{ij} - c_k|$; move each centroid to the mean of its
# weights; repeat until no assignment changes. Fine-tuning: with
# $W_{ij} = c_{I_{ij}}$, the gradient of a centroid is the sum of its
# weights' gradients,
# $\partial L / \partial c_k = \sum_{I_{ij} = k} \partial L / \partial
# W_{ij}$.
#
# **From scratch**, then `kmeans_1d`:


# %%
def kmeans_scratch(w, bits, iters=50):
    w = w.ravel().astype(np.float64)
    c = np.linspace(w.min(), w.max(), 2**bits)        # (k,)
    index = None
    for _ in range(iters):
        new = np.abs(w[:, None] - c[None, :]).argmin(axis=1)   # (n,)
        if index is not None and np.array_equal(new, index):
            break
        index = new
        for k in range(c.size):
            if (index == k).any():                   # empty: stays
                c[k] = w[index == k].mean()
        c = np.sort(c)
    return c, np.abs(w[:, None] - c[None, :]).argmin(axis=1)


c_s, i_s = kmeans_scratch(W1, 2)
codebook, index = kmeans_1d(W1, bits=2)
assert np.allclose(c_s, codebook) and np.array_equal(i_s, index.ravel())
print("codebook", codebook, "| weights per centroid",
      np.bincount(index.ravel()), "== library (one run)")
S_u, Z_u = Q.scale_zero_point(W1.min(), W1.max(), 2)
grids = (("uniform 2-bit affine (4 levels)", S_u * (np.arange(4) - Z_u)),
         ("k-means 2-bit (4 centroids)", codebook))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, (title, levels) in zip(axes, grids):
    ax.hist(W1.ravel(), bins=80, color="C0", alpha=0.7)
    for level in levels:
        ax.axvline(level, c="C3", lw=1.5)
    ax.set(title=title, xlabel="layer 1 weight value")
axes[0].set(ylabel="number of weights")
plt.tight_layout()
plt.show()
err_u = quantization_error(W1, Q.fake_quantize(W1, S_u, Z_u, 2))
err_k = quantization_error(W1, codebook[index])
print(f"weight MSE, 4 levels: uniform {err_u:.2e}, k-means {err_k:.2e}")

# %% [markdown]
# **What to conclude** (one run). With the same 4 levels, the uniform
# grid spends levels out on the sparse tails; k-means moves its centroids
# into the bulk and cuts the weights' squared error, as printed.
#
# The centroid gradient from scratch: build the float layer
# $W = c[I]$, backpropagate one batch, and sum the weight gradients per
# centroid with `np.bincount`; the library's `SharedDense` gets it from
# the backward pass of indexing:

# %%
shared = Q.kmeans_quantize(net, bits=2)
as_float = copy.deepcopy(net)
for layer, sh in zip(as_float.layers, shared.layers):
    if hasattr(layer, "W"):
        layer.W.data[...] = sh.weight()              # W = c[I]
for p in as_float.parameters():
    p.grad = None                         # the copy kept old gradients
for model in (shared, as_float):
    F.cross_entropy(model(Tensor(X_train[:64])), y_train[:64]).backward()
g_scratch = np.bincount(shared[0].index.ravel(),
                        weights=as_float[0].W.grad.ravel(), minlength=4)
assert np.allclose(g_scratch, shared[0].codebook.grad, rtol=1e-4)
print("dL/dc, layer 0:", g_scratch, "== library (float32 sums)")

# %% [markdown]
# **What to conclude.** Fine-tuning a codebook is ordinary training of
# $2^b$ numbers per layer, each receiving the summed gradient of its
# weights; the indices never change. On the three networks, 2-bit
# weights: uniform PTQ, k-means, and k-means after 5 epochs of centroid
# fine-tuning:

# %%
km = {"uniform 2-bit PTQ": [], "k-means": [], "k-means + fine-tune": []}
for n in nets:
    km["uniform 2-bit PTQ"].append(acc(Q.quantize_mlp(n, None, 2, None)))
    sh = Q.kmeans_quantize(n, bits=2)
    km["k-means"].append(acc(sh))
    Q.finetune_centroids(sh, X_train, y_train, epochs=5)
    km["k-means + fine-tune"].append(acc(sh))
for key, a in km.items():
    print(f"{key:20s} test {ms(a)}")
d = np.subtract(km["k-means + fine-tune"], km["k-means"])
print(f"fine-tune - k-means, same network: {ms(d)}, in test images per "
      f"seed {np.round(d * len(y_test)).astype(int)}")

# %% [markdown]
# **What to conclude.** The symmetric 2-bit grid has 3 levels per
# channel, k-means 4 per layer, placed where the weights are: that alone
# closes most of the printed gap to the float accuracy. Fine-tuning the
# centroids then moves the mean by about one std only, but the paired
# differences (last line: the same network before and after) are
# positive on every seed and several times their own spread: a small,
# real gain.

# %% [markdown]
# ## 10. Huffman coding of the indices
#
# **Idea** (Deep Compression, stage 3). Code frequent indices with short
# bit strings and rare ones with long ones.
#
# **Math.** Huffman's tree: repeatedly merge the two least frequent
# nodes; a symbol's code length is its depth. The mean length
# $\bar\ell$ satisfies $H \le \bar\ell < H + 1$,
# $H = -\sum_s p_s \log_2 p_s$. Stored bytes: the bit stream plus one
# length byte per symbol (a canonical code is rebuilt from the lengths).
#
# **From scratch** — on counts $[5, 2, 1, 1]$ by hand: merge 1 + 1 → 2,
# then 2 + 2 → 4, then 4 + 5 → 9, so the depths are $[1, 2, 3, 3]$ —
# then on a layer's indices, against the library:


# %%
def huffman_lengths(counts):
    """Code length of every symbol (ties broken by symbol order)."""
    heap = [(c, s, [s]) for s, c in enumerate(counts) if c > 0]
    heapq.heapify(heap)
    length = np.zeros(len(counts), dtype=int)
    tie = len(counts)
    while len(heap) > 1:
        c1, _, low = heapq.heappop(heap)             # the two rarest
        c2, _, high = heapq.heappop(heap)
        length[low + high] += 1                      # one level deeper
        heapq.heappush(heap, (c1 + c2, tie, low + high))
        tie += 1
    return length


def huffman_nbytes(index, k):
    counts = np.bincount(index.ravel(), minlength=k)
    return math.ceil((counts * huffman_lengths(counts)).sum() / 8) + k


print("hand example:", huffman_lengths([5, 2, 1, 1]))
for counts in ([5, 2, 1, 1], np.bincount(index.ravel())):
    code = huffman_code(np.asarray(counts))
    assert list(huffman_lengths(counts)) == [len(code[s])
                                             for s in sorted(code)]
assert huffman_nbytes(index, 4) == Q.huffman_bytes(index, 4)
print(f"layer 1, 2-bit k-means: entropy {entropy_bits(index):.3f} bits;"
      f" Huffman {huffman_nbytes(index, 4)} bytes vs packed "
      f"{index.size * 2 // 8}")

# %% [markdown]
# **What to conclude** (one run). The four centroids of a dense layer
# are used almost equally often, so the entropy is close to 2 bits: the
# Huffman stream saves next to nothing, and with its table it can even be
# larger than the packed indices, as printed. Huffman pays when the indices
# are skewed — as after pruning, where most weights share the reserved index
# of 0. All layers of the three networks, dense and pruned to 80 % by
# magnitude (the masks go through k-means; no retraining, sizes only):

# %%
saving = {"dense": [], "pruned 80 %": []}
for n in nets:
    pruned = copy.deepcopy(n)
    prune(pruned, "magnitude", 0.8)
    for key, model in (("dense", n), ("pruned 80 %", pruned)):
        layers = [m for m in Q.kmeans_quantize(model, bits=2).layers
                  if hasattr(m, "codebook")]
        huff = sum(huffman_nbytes(m.index, 4) for m in layers)
        packed = sum(m.index.size * 2 // 8 for m in layers)
        saving[key].append(1 - huff / packed)
for key, s in saving.items():
    print(f"{key:12s} Huffman saves {ms(100 * np.array(s))} % of the "
          "packed 2-bit indices")

# %% [markdown]
# **What to conclude.** On dense 2-bit indices Huffman saves little; on
# pruned ones, where one index dominates, it saves a large share — which
# is why Deep Compression applies it *after* pruning and k-means.

# %% [markdown]
# ## 11. The integer-only model
#
# **Math** (Jacob et al. 2018). With $r = S(q - Z)$ for the input,
# the weights ($Z_w = 0$) and the output, a dense layer becomes
# $$q_y = Z_y + M \sum_j (q_{x,j} - Z_x) q_{w,j} + M q_b,\qquad
# M = \frac{S_x S_w}{S_y} \approx m_0 2^{-\mathrm{shift}},$$
# int8 × uint8 products summed in **int32**, the bias $q_b =
# \mathrm{round}(b / (S_x S_w))$ in int32, and $M$ as a 31-bit integer
# $m_0$ and a shift (rounding half up). ReLU is a clamp at $Z_y$. Only
# the input is quantized from float; everything after is integers.
#
# **From scratch** for every layer, then the library:
# `to_inference(qnet)` (`minicomp.deploy`) builds the integer-only
# model, a chain of `Int8Dense` layers on the int8 kernel of
# `07_kernels.ipynb`:


# %%
def integer_forward(qnet, X):
    """The last layer's uint8 codes, integer arithmetic only."""
    S_x, Z_x = qnet.S_in, qnet.Z_in
    x_q = np.clip(np.rint(X.astype(np.float64) / S_x) + Z_x, 0, 255)
    x_q = x_q.astype(np.int64)                            # (N, 64)
    for L in qnet.qlayers:
        S_w = L.W.S[:, 0]                                 # (out,)
        q_b = np.rint(L.b_hat / (S_x * S_w)).astype(np.int64)
        acc32 = (x_q - Z_x) @ L.W.q.T.astype(np.int64) + q_b  # (N, out)
        assert np.abs(acc32).max() < 2**31                # fits int32
        m0, shift = reference.quantize_multiplier(S_x * S_w / L.S_y)
        m0, shift = m0.astype(np.int64), shift.astype(np.int64)
        y = (acc32 * m0 + (1 << (shift - 1))) >> shift    # round half up
        x_q = np.clip(y + L.Z_y, L.Z_y if L.relu else 0, 255)
        S_x, Z_x = L.S_y, L.Z_y
    return x_q.astype(np.uint8)


int_acc = []
for k, n in enumerate(nets):
    qnet = Q.quantize_mlp(n, X_cal, 8, 8, "channel")
    model = to_inference(qnet)
    codes = integer_forward(qnet, X_test)
    assert np.array_equal(codes, model.forward_int(X_test))
    S_y, Z_y = qnet.qlayers[-1].S_y, qnet.qlayers[-1].Z_y
    simulated = np.rint(predict(qnet, X_test) / S_y) + Z_y  # float model
    assert np.array_equal(codes, simulated)
    int_acc.append((codes.argmax(axis=1) == y_test).mean())
print(model.layers[0])
print("scratch integer codes == to_inference codes == the simulated "
      "model's codes, all 3 networks")
print("test accuracy: float", ms(float_accs), "| int8 integer-only",
      ms(int_acc))

# %% [markdown]
# **What to conclude.** The integer-only model computes the same codes
# as the scratch integer arithmetic on every test input of every network,
# and the same codes as the simulated (float) W8A8 model of section 6 —
# asserted above — hence the same accuracy. Its speed is measured in
# `07_kernels.ipynb` and by `minicomp bench quant`, not here: timing
# belongs with the kernel.

# %% [markdown]
# ## 12. Accuracy against bits, and sizes
#
# Three experiments, one per axis, at 2, 3, 4 and 8 bits per weight on
# the three networks (mean ± std as error bars): PTQ of the weights
# alone (per channel), QAT with 8-bit activations (3 epochs), and k-means
# with centroid fine-tuning (5 epochs).

# %%
bit_list = (2, 3, 4, 8)
curves = {"PTQ, weights only": [], "QAT W(b)A8, 3 epochs": [],
          "k-means + fine-tune, 5 epochs": []}
for b in bit_list:
    row = {key: [] for key in curves}
    for n in nets:
        row["PTQ, weights only"].append(
            acc(Q.quantize_mlp(n, None, bits=b, bits_a=None)))
        qat_b, _ = Q.qat_finetune(copy.deepcopy(n), X_train, y_train,
                                  bits=b, epochs=3)
        row["QAT W(b)A8, 3 epochs"].append(acc(qat_b.to_quantized()))
        sh = Q.kmeans_quantize(n, bits=b)
        Q.finetune_centroids(sh, X_train, y_train, epochs=5)
        row["k-means + fine-tune, 5 epochs"].append(acc(sh))
    for key in curves:
        curves[key].append(row[key])
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
for ax, (key, per_bits) in zip(axes, curves.items()):
    a = np.array(per_bits)                                 # (bits, seeds)
    ax.errorbar(bit_list, a.mean(1), yerr=a.std(1), marker="o",
                capsize=3, label=key)
    ax.axhline(np.mean(float_accs), ls="--", c="gray", label="float32")
    ax.set(title=key, xlabel="bits per weight", xticks=bit_list)
    ax.legend(loc="lower right")
axes[0].set(ylabel="test accuracy (mean ± std, 3 seeds)")
fig.suptitle("Accuracy against bits per weight")
plt.tight_layout()
plt.show()
for key, per_bits in curves.items():
    print(f"{key:30s}", "  ".join(f"{b}-bit {ms(a)}"
                                  for b, a in zip(bit_list, per_bits)))

# %% [markdown]
# **What to conclude.** Each curve rises with the bits and meets the
# float line by 8 bits; where two neighbouring points differ by less than
# their error bars, their order is noise, not a trend (printed above).
# At 2 bits the methods separate: PTQ of a float-trained network
# loses heavily, while QAT (ternary weights trained with the grid) and
# k-means with fine-tuning (4 non-uniform levels) recover most of the
# accuracy — and lie within each other's error bars.
#
# **Sizes.** Every size is `minicomp.metrics.storage_bytes`, the one byte
# count of every format (dense, int-k + scales, codebook, Huffman,
# integer model); ratios against float32, network of seed 0:

# %%
shared2 = Q.kmeans_quantize(net, bits=2)
int_model = to_inference(Q.quantize_mlp(net, X_cal, 8, 8))
for row in Q.size_table(net, shared2, int_model):
    print(f"{row['scheme']:28s} {row['bytes']:7d} bytes "
          f"{row['ratio']:5.1f}x")

# %% [markdown]
# **What to conclude.** int8 stores about a quarter of float32 (the
# scales and int32 biases cost the rest); 2-bit k-means goes further,
# and Huffman adds little on a dense network (section 10).

# %% [markdown]
# ## 13. What the other seed samples get wrong
#
# > **Seed 004: a loop that rebinds `param` and changes nothing.**
# > `for param in net.parameters(): param = quantize(param, Q)` binds
# > the *name* `param` to a new tensor; the network's parameters are
# > untouched. The sample as printed, run literally when PyTorch is
# > installed (otherwise translated, each seed line above its
# > translation), then checked: is every parameter on the $1/256$ grid?

# %%
SEED_004 = """
import torch
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

# 定义量化因子
Q = 256

# 定义量化函数
def quantize(x, Q):
    return torch.round(x * Q) / Q

# 量化模型
for param in net.parameters():
    param = quantize(param, Q)
"""
try:
    import torch  # optional: only to run the literal sample
    torch.manual_seed(0)                  # the sample draws random data
    ns = {}
    exec(SEED_004, ns)
    params = [p.detach().numpy() for p in ns["net"].parameters()]
    which = "the literal PyTorch sample"
except ImportError:          # a translation to minicomp, line by line
    from minicomp.nn import Dense
    # net = Net()
    seed_net = minicomp.Sequential(Dense(10, 10), minicomp.nn.ReLU(),
                                   Dense(10, 10))

    # def quantize(x, Q): return torch.round(x * Q) / Q
    def quantize(x, Q):
        return np.round(x * Q) / Q

    # for param in net.parameters():
    for param in seed_net.parameters():
        # param = quantize(param, Q)
        param = quantize(param.data, 256)
    params = [p.data for p in seed_net.parameters()]
    which = "the sample translated to minicomp"
on_grid = all(np.array_equal(p * 256, np.round(p * 256)) for p in params)
print(which, "ran; every parameter on the 1/256 grid?", on_grid)

# %% [markdown]
# **What to conclude.** The loop ran and quantized nothing. The fix is to
# write in place — `param.data.copy_(quantize(param.data, Q))` in
# PyTorch, `p.data[...] = ...` here — and to store the integers
# $\mathrm{round}(x \cdot Q)$ in a narrow type, which is section 2's
# fixed point.
#
# > **Seed 001: `torch.quantization.quantize_fake_qualities` does not
# > exist.** The seed's combined sample (train a "big" and a "small"
# > model, prune, quantize) imports it and ends with
# > `fq.fake_quantize(small_model, num_bits=8)`; fake quantization in
# > PyTorch is `torch.ao.quantization.FakeQuantize`, applied by
# > `prepare_qat`. The whole sample, run literally when PyTorch is
# > installed; then once more without the import line and with the
# > `train_loader` it never defines (random data), to see the rest:

# %%
SEED_001 = """
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
IMPORT_FQ = "import torch.quantization.quantize_fake_qualities as fq\n"
try:
    import torch  # optional: only to run the literal sample
    torch.manual_seed(0)
    try:
        exec(SEED_001, {})
    except ModuleNotFoundError as e:
        print("the literal sample fails at its 3rd line:", e)
    X_l = torch.randn(64, 10)
    loader = [(X_l[i:i + 16], X_l[i:i + 16, :1]) for i in range(0, 64, 16)]
    ns = {"train_loader": loader}
    try:
        exec(SEED_001.replace(IMPORT_FQ, ""), ns)
    except NameError as e:
        print("without it, it fails at its last line: NameError:", e)
    big, small = (sum(p.numel() for p in ns[k].parameters())
                  for k in ("model", "small_model"))
    print("parameters: 'big' model", big, "| 'small' model", small)
except ImportError:          # a translation: the same import in minicomp
    try:
        exec("import minicomp.quant.quantize_fake_qualities as fq", {})
    except ModuleNotFoundError as e:
        print("the translated import fails:", e)
print("the real one:", Q.quantize_mlp(net, X_cal, bits=8))

# %% [markdown]
# **What to conclude.** The sample fails at its import; without it, it
# fails again at its last line, and its "small" model has exactly as
# many parameters as the "big" one (printed). The real
# API is `Q.fake_quantize` for a tensor and `Q.quantize_mlp` (PTQ) or
# `Q.qat_finetune` (QAT) for a network.
#
# > **Seed 000: `layer.quantize(num_bits)`.** Its `quantize(model, 8)`
# > calls `layer.quantize` only `if hasattr(layer, 'quantize')`. The
# > sample's last lines as printed (its imports, model and training lines
# > are those of chapter 01's box, which stops at `X_train`), run
# > literally where Keras 3 is installed (on PyTorch, with the `seeds`
# > extra), on a small untrained Keras model built here; then every
# > weight is compared, and the call Keras 3 documents for 8 bits,
# > `layer.quantize("int8")`, is run on the same layers:

# %%
SEED_000_QUANT = """
# 量化
def quantize(model, num_bits):
    for layer in model.layers:
        if hasattr(layer, 'quantize'):
            layer.quantize(num_bits)

quantize(model, 8)
"""


def run_literal(code, namespace):
    """Run a seed's sample as printed in `namespace`; say how it ends."""
    try:
        exec(code, namespace)
        print("the literal sample ran")
    except Exception as e:               # the seeds' samples often fail
        print(f"the literal sample fails: {type(e).__name__}: {e}")


if importlib.util.find_spec("keras") is None:
    print("Keras is not installed: the literal sample is skipped; "
          "its translation below runs instead")
else:
    if importlib.util.find_spec("tensorflow") is None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # optional: only to run the literal sample
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    before = [w.copy() for w in model.get_weights()]
    print("Keras", keras.__version__, "on", keras.backend.backend())
    print("layers with quantize:",
          [hasattr(layer, "quantize") for layer in model.layers])
    run_literal(SEED_000_QUANT, {"model": model})
    print("any weight changed:",
          any(not np.array_equal(a, b)
              for a, b in zip(before, model.get_weights())))
    for layer in model.layers:
        layer.quantize("int8")
    print("after layer.quantize('int8'), kernel dtypes:",
          [str(layer.kernel.dtype) for layer in model.layers])

# %% [markdown]
# **What to conclude.** Keras 3's `Dense` layers *do* have a `quantize`
# method, so the guard is true and the call happens; but it takes a mode
# name, not a bit count, and the literal run stops at the first layer
# with the error printed above, before any weight changed. With the
# mode name, the kernels become 8-bit integers. Without Keras, the
# **translation** to minicomp, each seed line above its translation,
# shows the other way the guard can fail — a layer without the method,
# skipped silently:

# %%
# def quantize(model, num_bits):
def seed_quantize(model, num_bits):
    # for layer in model.layers:
    for layer in model.layers:
        # if hasattr(layer, 'quantize'):
        if hasattr(layer, "quantize"):
            # layer.quantize(num_bits)
            layer.quantize(num_bits)


seed_net = copy.deepcopy(net)
seed_quantize(seed_net, 8)                        # quantize(model, 8)
print("weights unchanged:",
      np.array_equal(seed_net[0].W.data, net[0].W.data))
try:
    seed_net[0].quantize(8)
except AttributeError as e:
    print("without the hasattr guard -> AttributeError:", e)

# %% [markdown]
# **What to conclude.** A guard that skips every layer turns a missing
# method into a silent no-op; without it, the error names the problem.

# %% [markdown]
# ## 14. Summary
#
# * Fixed point is uniform quantization with $S = 2^{-f}$; without a word
#   size (seed 004) or with a clamp alone (seed 002) nothing is saved.
# * $r = S(q - Z)$ with an integer $Z$ keeps 0 exact; the error inside the
#   range is at most $S/2$. Weights symmetric, activations affine.
# * A scale per channel costs a few bytes and removes the outlier problem
#   of one scale per tensor. Count codes, not distinct values.
# * Observers only matter when codes are scarce; then a clipping range
#   chosen on validation data beats min-max.
# * PTQ down to 4-bit weights is close to free on these small MLPs; at
#   2 bits it loses heavily; QAT (fake quantization forward, STE backward)
#   recovers most of the loss, and the float-fine-tuning control shows
#   the gain is not just more training.
# * Mixed precision reaches budgets between uniform widths; the choice is
#   measured on validation data, the accuracy on test data.
# * k-means levels fit the weights better than a uniform grid; Huffman
#   coding pays on skewed (pruned) indices.
# * The integer-only model computes, with int32 accumulators and
#   fixed-point multipliers, the same codes as the simulated model.

# %% [markdown]
# ## 15. Exercises
#
# The graded exercise is released to students with `minicomp release
# exercises/ <folder>`; work in your released copy
# `<folder>/03_quantization/` (not in the instructor's
# `exercises/03_quantization`), and run its public tests with
# `minicomp check <folder>/03_quantization`.
#
# 1. **Graded:** in the released `03_quantization/exercise.py`, write the
#    affine quantizer — `affine_qparams`, `quantize`, `dequantize` — and
#    per-channel parameters `per_channel_qparams`, in plain NumPy.
# 2. **Write an observer.** Implement a "KL" observer (TensorRT's
#    entropy calibration): among clipped ranges, choose the one whose
#    histogram of quantized values is closest, in KL divergence, to the
#    float histogram. Write it as a subclass of
#    `minicomp.quant.observers.Observer`, and compare it with the four
#    of section 5 at A4 and A3 on the validation set of the three
#    networks (mean ± std); report the chosen observer's test accuracy.
# 3. **Mixed precision at a uniform budget.** Write code that runs the
#    exhaustive search of section 8 at the budget of uniform 3-bit and of
#    uniform 4-bit weights, on the three networks. Does any mixed
#    assignment beat the uniform one on the validation set? On the test
#    set? Explain with the sensitivities.
# 4. **Bias on 8 bits.** Change `ptq_forward` so the bias is quantized to
#    int8 with its own scale (as TinyTorch does) instead of int32 on the
#    accumulator's grid. Measure W8A8 accuracy on the three networks and
#    explain the difference.
# 5. **Deep Compression end to end.** Prune the baseline to 90 %
#    (chapter 2, with retraining), apply 2-bit k-means with centroid
#    fine-tuning and Huffman-code the indices. Compute the compression
#    ratio with `storage_bytes` and the test accuracy on three seeds: how
#    close do you get to Deep Compression's 40×?
