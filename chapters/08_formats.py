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
# # Chapter 8 — Number formats and sparsity patterns
#
# *FP8, MX block formats, NVFP4, NF4, ternary weights and 2:4 sparsity,
# each built from its bit layout; step sizes that are learned; and which
# of them buys speed on this CPU.*

# %% [markdown]
# ## 1. Introduction
#
# Seed 004 names integer and "sub-integer" quantization (整数量化,
# 子整数量化): "convert the floating-point parameters to approximate
# integers", with $Q(x) = \mathrm{round}(x \cdot Q)$. Hardware went
# another way: small *floating-point* codes (FP8, FP4), blocks of values
# sharing one scale (MX, NVFP4), codebooks placed at normal quantiles
# (NF4), weights in $\{-1, 0, +1\}$ (BitNet b1.58), and a fixed sparsity
# pattern, 2 of every 4 (N:M, 2:4). This chapter builds each from its
# bits, compares them on the same networks, learns quantizer step sizes
# (LSQ, PACT) through the straight-through estimator of chapter 3, and
# times the two formats a CPU kernel can exploit.
#
# > **Glossary.**
# >
# > | seed term | English | section |
# > |---|---|---|
# > | 子整数量化 | sub-integer (≤ 4-bit) quantization | 2–5 |
# > | 量化因子 Q | quantization factor (a fixed step) | 2 |
# > | 稀疏 | sparsity; here semi-structured N:M | 8 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import importlib.util
import math
from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits   # ships with scikit-learn

import minicomp
import minicomp.formats as fmt
from minicomp import Tensor, evaluate
from minicomp.formats import minifloat, mx, nf4, ternary
from minicomp.functional import cross_entropy
from minicomp.kernels.nm import nm_linear, to_nm
from minicomp.kernels.ternary import pack_ternary, ternary_linear
from minicomp.prune import FineTune, gradual_nm, nm_mask, nm_prune
from minicomp.quant import (lsq_finetune, lsq_quantize, pact_quantize,
                            qat_finetune)
from minicomp.train import BaselineConfig, train_baseline

threadpool_limits(limits=1, user_api="blas")   # small matrices: 1 thread
np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)
SEEDS = (0, 1, 2)


def mean_std(values):
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


# %% [markdown]
# The networks are the seeds' baseline MLP (64 → 64 → 64 → 10 on digits,
# 40 → 64 → 64 → 10 on MNIST-1D), trained once per seed with a shorter
# recipe (20 epochs) to keep the chapter fast. `train_baseline` holds
# out the loader's validation split (`BaselineConfig.validation`, the
# same rows for every seed) and trains on the rest, which is what
# `X_train` holds below. Every comparison below uses these three seeds;
# nothing is tuned, and the test sets give only the final numbers.

# %%
CFG = dict(epochs=20)
nets = {ds: [train_baseline(BaselineConfig(dataset=ds, seed=s, **CFG),
                            quiet=True) for s in SEEDS]
        for ds in ("digits", "mnist1d")}
for ds, runs in nets.items():
    print(f"{ds:8s} float32 test accuracy",
          mean_std([r[2]["accuracy"] for r in runs]))

# %% [markdown]
# *What to conclude:* these are the float baselines every format below is
# measured against (mean ± std over the three seeds).
#
# ## 2. FP8 from its bits: E4M3 and E5M2
#
# **Idea.** A small float spends its bits on an exponent (range) and a
# mantissa (precision). **Math.** A code `s.E.M` with $e$ exponent and
# $m$ mantissa bits and bias $b = 2^{e-1} - 1$ is
# $(-1)^s 2^{E-b}(1 + M/2^m)$, or $(-1)^s 2^{1-b} M / 2^m$ when $E = 0$
# (subnormal). E4M3 keeps only `s.1111.111` for NaN (max 448, no inf);
# E5M2 follows IEEE (max 57344, inf and NaN). Encoding rounds to nearest,
# **ties to the even code**.
#
# **From scratch**, every E4M3 code, then the library:

# %%
code = np.arange(256)
s, E, M = code >> 7, (code >> 3) & 15, code & 7
v = np.where(E == 0, M / 8 * 2.0**-6, (1 + M / 8) * 2.0 ** (E - 7))
v = np.where((E == 15) & (M == 7), np.nan, v)
v = np.where(s == 1, -v, v)
assert np.array_equal(v, minifloat.decode_table("e4m3"), equal_nan=True)
print("smallest subnormal, smallest normal, max:", v[1], v[8], v[126])
e5m2 = minifloat.decode_table("e5m2")
print("E5M2 max:", e5m2[np.isfinite(e5m2)].max())


def encode_e4m3(x):
    """Nearest E4M3 code, ties to even, overflow to NaN (as ml_dtypes)."""
    values = np.append(v[:127], 480.0)       # 480: the would-be next value
    mid = (values[:-1] + values[1:]) / 2
    a = np.abs(x)
    lo = np.searchsorted(mid, a)             # a <= mid[lo]
    tie = (a == mid[np.minimum(lo, 126)]) & (lo % 2 == 1)
    c = np.where(np.isnan(x), 127, np.minimum(lo + tie, 127))
    return (c + 128 * np.signbit(x)).astype(np.uint8)


x = np.array([1.0, 0.3, 464.0, 500.0, -0.0, 2.0**-10, 3 * 2.0**-10])
print("codes", encode_e4m3(x))
assert np.array_equal(encode_e4m3(x), fmt.encode(x, "e4m3"))

# %% [markdown]
# *What to conclude:* 464 lies exactly between 448 (code 126, even) and
# the overflow code 127, so it rounds to 448; 500 overflows to NaN
# (`saturate=True` would give 448); $2^{-10}$ is a tie between 0 and the
# smallest subnormal and goes to 0 (even). The library agrees with the
# formula, and the tests check it against `ml_dtypes` on all codes and on
# random floats (`minicomp bench formats` prints how many).
#
# Where the values lie: E4M3 has 8 values per power of two, E5M2 4 but
# twice the exponent range.

# %%
fig, ax = plt.subplots(figsize=(7, 2.4))
for k, name in enumerate(("e4m3", "e5m2", "e2m1")):
    t = minifloat.decode_table(name)
    t = t[np.isfinite(t) & (t > 0)]
    ax.plot(t, np.full(t.size, k), "|", markersize=12, label=name)
ax.set_xscale("log")
ax.set_yticks([0, 1, 2], ["E4M3", "E5M2", "E2M1 (FP4)"])
ax.set_xlabel("positive values (log scale)")
ax.set_title("Representable values of three small floats")
plt.tight_layout()
plt.show()

# %% [markdown]
# *What to conclude:* E4M3 spaces its values densely over a narrow
# range, E5M2 more sparsely over a wide one, and FP4 has only a handful.
#
# > **What seed 004's formula gets wrong: one fixed step for every
# > weight.** $Q(x) = \mathrm{round}(x \cdot Q)/Q$ with $Q = 256$ (its
# > sample) is a uniform grid with step $1/256$: small weights lose all
# > their digits, large ones keep more than they need. A float keeps the
# > *relative* error bounded instead. (The sample's loop,
# > `for param in net.parameters(): param = quantize(param, Q)`, only
# > rebinds a name and changes no weight: chapter 3 runs it.) The
# > sample's `quantize`, as printed, where PyTorch is installed, and its
# > NumPy translation, on the first layer's weights:

# %%
SEED_004 = """
import torch

# 定义量化因子
Q = 256

# 定义量化函数
def quantize(x, Q):
    return torch.round(x * Q) / Q
"""
W0 = nets["digits"][0][0][0].W.data.astype(np.float64)       # (64, 64)
# return torch.round(x * Q) / Q    (translation; torch rounds half to
seed_q = np.round(W0 * 256) / 256  # even, as np.round does)
if importlib.util.find_spec("torch") is None:
    print("torch is not installed: only the translation runs")
else:
    import torch                  # installed: find_spec found it
    seed_ns = {}
    exec(SEED_004, seed_ns)
    literal = seed_ns["quantize"](torch.from_numpy(W0), 256).numpy()
    print("the literal quantize equals the translation:",
          np.array_equal(literal, seed_q))
fp8 = fmt.round_to(W0 / np.abs(W0).max() * 448, "e4m3") \
    / 448 * np.abs(W0).max()
small = np.abs(W0) < np.quantile(np.abs(W0), 0.1)
for name, Wq in (("seed Q=256", seed_q), ("E4M3", fp8)):
    rel = np.abs(Wq - W0)[small] / np.abs(W0)[small]
    print(f"{name:11s} median relative error of the smallest 10 %:"
          f" {np.median(rel):.3f}; zeroed: {(Wq[small] == 0).mean():.2f}")

# %% [markdown]
# *What to conclude:* the seed's fixed grid rounds some of the smallest
# weights to exactly 0 and leaves the others with several times E4M3's
# relative error (both printed above), though E4M3 spends the same 8 bits
# and needs no integer bits for the large weights. "Approximate integers"
# is not what today's sub-integer formats are.
#
# ## 3. Block formats: MX (OCP) and NVFP4
#
# **Idea.** Four bits cannot cover a layer's range, but they can cover a
# block of 32 neighbours if the block shares a scale. **Math.** MX: a
# power-of-two scale $X = 2^{\lfloor\log_2 \max|x|\rfloor - e_{\max}}$
# in one E8M0 byte ($e_{\max}$ = the element's top exponent, 2 for
# E2M1), elements $\mathrm{E2M1}(x/X)$ saturating. NVFP4: blocks of 16,
# the scale itself in E4M3 (not a power of two), plus one float32 per
# tensor. **From scratch**, one MXFP4 block:

# %%
rng = np.random.default_rng(0)
block = rng.standard_normal(32) * 0.05
e = int(np.floor(np.log2(np.abs(block).max()))) - 2
codes = fmt.encode(block / 2.0**e, "e2m1", saturate=True)
ours = fmt.decode(codes, "e2m1") * 2.0**e
t = mx.mx_quantize(block[None], "mxfp4")
assert int(t.scales[0, 0]) == e + 127
assert np.array_equal(ours[None], mx.mx_dequantize(t))
print("shared exponent", e, "| first values", block[:4].round(4),
      "->", ours[:4])
print("bits per value: 4 + 8 / 32 =", 4 + 8 / 32)

# %% [markdown]
# *What to conclude:* one byte of scale and 4 bits per value, the
# printed bits per value in all.
#
# **NVFP4 from scratch**, the same 32 values as two blocks of 16: a
# float32 tensor scale $g = \max|x| / (6 \cdot 448)$ (6 is E2M1's
# largest value, 448 E4M3's), each block's scale
# $s_b = \mathrm{E4M3}(\max_b|x| / (6g))$, elements
# $\mathrm{E2M1}(x / (s_b g))$ saturating:

# %%
V = block.astype(np.float32).reshape(2, 16)      # (blocks, 16)
g = np.float32(np.abs(V).max() / (6 * 448))      # tensor scale
s_b = fmt.decode(fmt.encode(np.abs(V).max(axis=1) / (6 * g), "e4m3",
                            saturate=True), "e4m3")          # (2,)
step = (s_b * g)[:, None]                        # (2, 1)
P = fmt.decode(fmt.encode(V / step, "e2m1", saturate=True), "e2m1")
nv = (P * step).reshape(1, 32)
lib_nv = mx.nvfp4_dequantize(mx.nvfp4_quantize(block[None]))
assert np.allclose(nv, lib_nv, rtol=1e-6, atol=1e-9)
print("block scales", s_b, "| tensor scale", g,
      "| bits per value: 4 + 8 / 16 + 32 / 32 =", 4 + 8 / 16 + 32 / 32)

# %% [markdown]
# *What to conclude:* the E4M3 block scales need not be powers of two
# (the block holding the tensor's largest value always gets 448), so
# each block's grid can fit its largest value more closely than MX's; the
# price is a scale byte per 16 values (the tensor scale is shared by the
# whole tensor, here only 32 values). Why blocks matter — a weight
# matrix with one outlier column, FP4 with one scale per row against
# MXFP4 and NVFP4:

# %%
W = rng.standard_normal((64, 256)) * 0.05
W[:, 3] *= 40                                   # an outlier input column
per_row = np.abs(W).max(axis=1, keepdims=True) / 6
fp4_row = fmt.round_to(W / per_row, "e2m1") * per_row
for name, Wq in (("FP4, scale per row", fp4_row),
                 ("MXFP4 (32)", mx.mx_dequantize(mx.mx_quantize(W))),
                 ("NVFP4 (16)", mx.nvfp4_dequantize(mx.nvfp4_quantize(W)))):
    err = np.abs(Wq - W).mean() / np.abs(W).mean()
    print(f"{name:19s} mean relative error {err:.3f}")

# %% [markdown]
# *What to conclude:* with a scale per row, the outlier sets the step
# and most weights round to 0; a block scale confines the damage to the
# outlier's own block, and NVFP4's finer E4M3 scale (blocks of 16) does
# better still.
#
# ## 4. NF4: a codebook at normal quantiles
#
# **Idea (QLoRA).** Weights are roughly normal, so put the 16 codes at
# quantiles of $\mathcal N(0,1)$ rather than evenly, scale each block of
# 64 by its absmax, and quantize those scales again to 8 bits ("double
# quantization"). **From scratch**, the codebook:

# %%
ppf = NormalDist().inv_cdf
pos = [ppf(p) for p in np.linspace(0.9677083, 0.5, 9)[:-1]]
neg = [-ppf(p) for p in np.linspace(0.9677083, 0.5, 8)[:-1]]
book = np.sort(np.array(pos + [0.0] + neg))
book = book / book.max()
assert np.allclose(book, nf4.NF4, atol=1e-6)
print(book.round(4))
Wn = rng.standard_normal((64, 512)).astype(np.float32)
for dq in (False, True):
    q = nf4.nf4_quantize(Wn, double_quant=dq)
    err = np.abs(nf4.nf4_dequantize(q) - Wn).mean()
    bits = q.nbytes * 8 / Wn.size
    print(f"double quantization {dq!s:5}: {bits:.3f} bits/weight "
          f"(scales {bits - 4:.3f}), mean |error| {err:.4f}")

# %% [markdown]
# *What to conclude:* the table is bitsandbytes' to float32 rounding;
# double quantization cuts the scales' share of the bits per weight
# (printed in parentheses) to about a quarter, for a negligible change
# in error.
#
# ## 5. Every format on the same networks
#
# Weights only (activations stay float32): each Dense weight replaced by
# `fmt.simulate(W, name)`; bytes from `fmt.net_bytes` (codes + all scales
# + float32 biases; block formats pad rows to whole blocks).
#
# **From scratch**, that replacement for two formats, with the E4M3 table
# `v` and encoder of section 2 and the MX block of section 3, against
# `fmt.quantize_net` on the three digits nets:


# %%
def quantize_net_scratch(net, name):
    """A copy of `net`, each Dense weight stored in `name` and decoded."""
    net = copy.deepcopy(net)
    for L in (L for L in net.layers if hasattr(L, "W")):
        W = L.W.data.astype(np.float64)                 # (out, in)
        if name == "fp8_e4m3":                    # a float32 scale per row
            s = np.abs(W).max(axis=1, keepdims=True) / 448       # (out, 1)
            L.W.data[...] = v[encode_e4m3(W / s)] * s
        else:                                           # mxfp4: blocks of 32
            B = W.reshape(len(W), -1, 32)               # (out, blocks, 32)
            X = 2.0 ** (np.floor(np.log2(np.abs(B).max(axis=2))) - 2)
            P = fmt.round_to(B / X[..., None], "e2m1", saturate=True)
            L.W.data[...] = (P * X[..., None]).reshape(W.shape)
    return net


for name in ("fp8_e4m3", "mxfp4"):
    for net, _, _, d in nets["digits"]:
        ours = quantize_net_scratch(net, name)
        lib = fmt.quantize_net(net, name)
        assert all(np.array_equal(a.data, b.data) for a, b
                   in zip(ours.parameters(), lib.parameters()))
    print(f"{name:9s} scratch = library on every weight; test accuracy "
          f"(seed 2) {evaluate(ours, d.X_test, d.y_test)['accuracy']:.4f}")

# %% [markdown]
# *What to conclude:* `quantize_net` is nothing more than this loop: a
# copy of the net whose weights are replaced by their decoded codes, bit
# for bit, so the accuracies below measure the formats alone.
#
# Every format, weights only, on both tasks:

# %%
table = {}
for ds, runs in nets.items():
    for name in fmt.FORMAT_NAMES:
        accs = [evaluate(fmt.quantize_net(net, name), d.X_test,
                         d.y_test)["accuracy"] for net, _, _, d in runs]
        table[ds, name] = (fmt.net_bytes(runs[0][0], name), accs)
print(f"{'format':11s} {'digits B':>9s} {'digits acc':>16s} "
      f"{'mnist1d B':>9s} {'mnist1d acc':>16s}")
for name in fmt.FORMAT_NAMES:
    cells = [f"{table[ds, name][0]:9.0f} {mean_std(table[ds, name][1])}"
             for ds in nets]
    print(f"{name:11s} " + " ".join(cells))

# %% [markdown]
# *What to conclude:* the 8- and 6-bit formats stay within about a point
# of float on both tasks;
# at 4 bits NF4 and the block formats stay close on digits while MNIST-1D
# (a harder task, 40 inputs padded to 64 by the blocks) loses more;
# ternary weights applied after training (PTQ) are far off — they need
# training (section 7). The MX bytes on MNIST-1D include the padding.
#
# ## 6. Learned step sizes: LSQ and PACT
#
# **Math (LSQ).** $\hat v = s\,\mathrm{round}(\mathrm{clip}(v/s,
# -Q_n, Q_p))$ and the step gets the STE gradient
# $\partial\hat v/\partial s = \mathrm{round}(v/s) - v/s$ inside the range,
# $-Q_n$ or $Q_p$ outside, scaled by $g = 1/\sqrt{N Q_p}$. PACT learns a
# ReLU's clip $\alpha$ the same way: $y = \mathrm{clip}(x, 0, \alpha)$ on
# $n = 2^b - 1$ steps is LSQ with $s = \alpha/n$, unsigned and unscaled,
# so $\partial\hat y/\partial\alpha = (\mathrm{round}(u) - u)/n$ inside,
# 1 where $x \ge \alpha$, 0 below ($u = x n/\alpha$). (LSQ+ adds a
# learned offset; the library uses it for the net's signed input only.)
# **From scratch**, both gradients by hand against the library's
# backward:

# %%
v = rng.standard_normal(50)
s_val, bits = 0.4, 3
Qn, Qp = 4, 3
u = v / s_val
inside = (u > -Qn) & (u < Qp)
g = 1 / np.sqrt(v.size * Qp)
grad_hand = np.sum(np.where(inside, np.rint(u) - u, np.clip(u, -Qn, Qp))) * g
vt, st = Tensor(v, requires_grad=True), Tensor(s_val, requires_grad=True)
lsq_quantize(vt, st, bits).sum().backward()
print(f"ds by hand {grad_hand:.6f} | library {float(st.grad):.6f}")
assert abs(grad_hand - float(st.grad)) < 1e-5

a_val, n = 2.0, 2 ** bits - 1          # PACT: clip at alpha, n steps
u = v * n / a_val                      # = v / s with s = alpha / n
y_hand = a_val / n * np.rint(np.clip(u, 0, n))
inside = (u > 0) & (u < n)
grad_a = np.sum(np.where(inside, (np.rint(u) - u) / n, v >= a_val))
xt, at = Tensor(v, requires_grad=True), Tensor(a_val, requires_grad=True)
y_lib = pact_quantize(xt, at, bits)
y_lib.sum().backward()
assert np.allclose(y_hand, y_lib.data, atol=1e-6)
print(f"PACT d alpha by hand {grad_a:.6f} | library {float(at.grad):.6f}")
assert abs(grad_a - float(at.grad)) < 1e-5

# %% [markdown]
# *What to conclude:* hand and library agree for both steps (and
# `tests/test_quant_lsq.py` checks them against finite differences of
# the STE loss).
#
# **The training loop from scratch.** With these two quantizers and the
# engine's autograd, LSQ fine-tuning is a short loop: steps initialised
# at $2\,\mathrm{mean}|v|/\sqrt{Q_p}$ (weights per row, activations per
# layer, the input signed with an LSQ+ offset at its mean), SGD with
# momentum 0.9 on weights and steps together, a cosine learning rate per
# epoch, minibatches of 32 in a seeded random order. Two epochs at W3A3,
# against `lsq_finetune` with the same seed:


# %%
def learned_qat(net, X, y, bits, acts="lsq", epochs=2, lr=0.01, mu=0.9,
                seed=0, decay=1e-4):
    """LSQ (or PACT) fine-tuning of `net` in place, W and A at `bits`."""
    layers = [L for L in net.layers if hasattr(L, "W")]
    Qp = 2 ** (bits - 1) - 1                  # signed weights: [-Qp-1, Qp]
    h, hs = X[:1024], []                      # inputs that set the steps
    for L in layers[:-1]:
        h = np.maximum(h @ L.W.data.T + L.b.data, 0)          # (N, out)
        hs.append(h)

    def step0(v, q):                          # 2 mean|v| / sqrt(Q_p)
        return np.float32(2 * float(np.abs(v).mean()) / np.sqrt(q))
    s_w = [Tensor(np.array([[step0(r, Qp)] for r in L.W.data]),
                  requires_grad=True) for L in layers]       # (out, 1)
    beta = Tensor(np.float32(X[:1024].mean()), requires_grad=True)
    s_a = [Tensor(step0(X[:1024] - beta.data, Qp), requires_grad=True)]
    s_a += [Tensor(np.float32(max(float(np.percentile(h, 99.9))
                                  if acts == "pact" else
                                  step0(h, 2 ** bits - 1), 1e-3)),
                   requires_grad=True) for h in hs]
    params = [p for L in layers for p in (L.W, L.b)] + s_w + s_a + [beta]
    vel, rng = [None] * len(params), np.random.default_rng(seed)

    def forward(x):
        x = lsq_quantize(x, s_a[0], bits, True, beta)    # input: LSQ+
        for k, L in enumerate(layers):
            x = x.linear(lsq_quantize(L.W, s_w[k], bits), L.b)
            if k < len(layers) - 1:
                x = x.relu()
                x = (pact_quantize(x, s_a[k + 1], bits) if acts == "pact"
                     else lsq_quantize(x, s_a[k + 1], bits, signed=False))
        return x

    for epoch in range(epochs):
        eta = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        order = rng.permutation(len(X))
        for i in range(0, len(X), 32):
            idx = order[i:i + 32]
            loss = cross_entropy(forward(Tensor(X[idx])), y[idx])
            if acts == "pact":                    # L2 penalty on alpha
                for a in s_a[1:]:
                    loss = loss + (a * a).sum() * (decay / 2)
            for p in params:
                p.grad = None
            loss.backward()
            for j, p in enumerate(params):        # SGD with momentum
                vel[j] = (p.grad.astype(p.data.dtype) if vel[j] is None
                          else vel[j] * mu + p.grad)
                p.data -= eta * vel[j]
    return forward, s_w, s_a


def same_run(acts):
    """Scratch and library runs from the first digits net: equal?"""
    net, _, _, d = nets["digits"][0]
    X = d.X_train.astype(np.float32)
    ours = copy.deepcopy(net)
    forward, s_w, s_a = learned_qat(ours, X, d.y_train, 3, acts)
    lib, _ = lsq_finetune(copy.deepcopy(net), X, d.y_train, bits=3,
                          bits_a=3, acts=acts, epochs=2)
    pairs = list(zip(ours.parameters(), lib.net.parameters()))
    pairs += list(zip(s_w + s_a, lib.s_w + lib.s_a))
    assert all(np.array_equal(a.data, b.data) for a, b in pairs)
    logits = forward(Tensor(d.X_test.astype(np.float32))).data
    assert np.array_equal(logits, lib(d.X_test).data)
    changed = not np.array_equal(ours[0].W.data, net[0].W.data)
    acc = evaluate(lib, d.X_test, d.y_test)["accuracy"]
    print(f"{acts.upper()}: weights moved {changed}; every weight, step "
          f"and test logit equal; test accuracy {acc:.4f} (one run)")


same_run("lsq")

# %% [markdown]
# *What to conclude:* the weights moved, and the loop above reproduces
# `lsq_finetune` bit for bit (same seed, same minibatches, same float32
# operations): the library adds argument checks and `fit`'s bookkeeping,
# not a different method.
#
# **PACT** changes three lines of that loop: the hidden activations go
# through `pact_quantize`, their clip $\alpha$ starts at the 99.9th
# percentile of the float net's activations, and the loss adds
# $\tfrac{\lambda}{2}\sum\alpha^2$ ($\lambda = 10^{-4}$) so that
# $\alpha$ does not simply grow:

# %%
same_run("pact")

# %% [markdown]
# *What to conclude:* the same loop with `acts="pact"` reproduces
# `lsq_finetune(..., acts="pact")` exactly, penalty included.
#
# Now min-max QAT (chapter 3) against LSQ and PACT, weights and
# activations at the same bits, 5 epochs each from the float nets, same
# recipe (nothing tuned):

# %%
qat = {}
for net, _, _, d in nets["digits"]:
    for b in (2, 3, 4):
        m, _ = qat_finetune(copy.deepcopy(net), d.X_train, d.y_train,
                            bits=b, bits_a=b, epochs=5)
        qat.setdefault(("min-max", b), []).append(
            evaluate(m, d.X_test, d.y_test)["accuracy"])
        for acts in ("lsq", "pact"):
            m, _ = lsq_finetune(copy.deepcopy(net), d.X_train, d.y_train,
                                bits=b, bits_a=b, acts=acts, epochs=5)
            qat.setdefault((acts.upper(), b), []).append(
                evaluate(m, d.X_test, d.y_test)["accuracy"])
for key in sorted(qat, key=lambda k: (k[1], k[0])):
    print(f"W{key[1]}A{key[1]} {key[0]:8s} {mean_std(qat[key])}")
base = [r[2]["accuracy"] for r in nets["digits"]]
drop = np.mean(base) - np.mean(qat["LSQ", 3])
print(f"LSQ W3A3 loses {100 * drop:.2f} points against float")

# %% [markdown]
# *What to conclude:* min-max ranges collapse at 2 bits (a range set by
# the extremes leaves too few levels for the bulk), while learned steps
# keep most of the accuracy; at 3 bits LSQ is within a point of float.
#
# ## 7. Ternary weights (BitNet b1.58)
#
# **Math.** $\gamma = \mathrm{mean}|W|$, $T = \mathrm{clip}(\mathrm{round}
# (W/\gamma), -1, 1)$, $\hat W = \gamma T$; activations int8 per row.
# **From scratch** then the library, and PTQ against ternary QAT
# (identity STE, activations float here):

# %%
gamma = np.abs(W0).mean()
T0 = np.clip(np.rint(W0 / (gamma + 1e-5)), -1, 1)
assert np.array_equal(T0, ternary.ternary_quantize(W0)[0])
print("share of zeros", (T0 == 0).mean().round(3))
tern = {"PTQ": [], "QAT": []}
for net, _, _, d in nets["digits"]:
    tern["PTQ"].append(evaluate(fmt.quantize_net(net, "ternary"),
                                d.X_test, d.y_test)["accuracy"])
    m, _ = lsq_finetune(copy.deepcopy(net), d.X_train, d.y_train,
                        bits_a=None, weights="ternary", epochs=5)
    tern["QAT"].append(evaluate(m, d.X_test, d.y_test)["accuracy"])
for k, accs in tern.items():
    print(f"ternary {k}: {mean_std(accs)}")

# %% [markdown]
# *What to conclude:* a third or so of the weights become exact zeros;
# training with the ternary forward pass recovers most of what rounding a
# trained net costs.
#
# ## 8. N:M sparsity (2:4)
#
# **Idea.** Keep the 2 largest of every 4 consecutive weights of a row:
# 50 % sparsity in a pattern a kernel can index with 2 bits per kept
# value. **From scratch** then the library, then one-shot by magnitude,
# by Wanda (a registered criterion), and gradual training to 2:4:

# %%
scores = np.abs(W0)
G = scores.reshape(64, -1, 4)
keep = np.argsort(-G, axis=2, kind="stable")[:, :, :2]
mask = np.zeros_like(G)
np.put_along_axis(mask, keep, 1.0, axis=2)
assert np.array_equal(mask.reshape(W0.shape), nm_mask(scores, 2, 4))
res = {"magnitude": [], "wanda": [], "gradual": []}
for net, _, _, d in nets["digits"]:
    for crit in ("magnitude", "wanda"):
        n2 = copy.deepcopy(net)
        nm_prune(n2, crit, 2, 4, X=d.X_train[:512])
        res[crit].append(evaluate(n2, d.X_test, d.y_test)["accuracy"])
    n3 = gradual_nm(copy.deepcopy(net), d.X_train, d.y_train, 2, 4,
                    fine_tune=FineTune(epochs=6))
    res["gradual"].append(evaluate(n3, d.X_test, d.y_test)["accuracy"])
for k, accs in res.items():
    print(f"2:4 {k:9s} {mean_std(accs)}")
A = to_nm(n3[0].W.data, 2, 4)
print("2:4 storage", A.nbytes, "bytes vs dense", n3[0].W.data.nbytes,
      f"({A.nbytes * 8 / n3[0].W.data.size:.0f} bits per weight)")

# %% [markdown]
# *What to conclude:* one-shot 2:4 costs these small nets some accuracy;
# training into the pattern (keep 4 → 3 → 2 per group) recovers it. The
# storage printed in bits per weight is half the float32 values (16)
# plus a 2-bit position for each kept value (1).
#
# **Gradual 2:4 from scratch.** SGD with momentum under a mask (gradient,
# weights and momentum multiplied by it at every step), and after every
# step the cubic schedule $s_t = s_f(1 - (1 - k/K)^3)$, $k = \lfloor
# t/\Delta t\rfloor$ of $K = 4$ pruning steps spread over the first two
# thirds of training, $s_f = 1 - N/M$; when the weights kept per group,
# $\mathrm{round}(M(1 - s_t))$, drop, each group keeps its largest living
# weights. Three epochs, against `gradual_nm` with the same seed:


# %%
def gradual_nm_scratch(net, X, y, n=2, m=4, epochs=3, steps=4, lr=0.02,
                       mu=0.9, seed=0):
    """Train `net` in place while keeping m, ..., n of every m weights."""
    layers = [L for L in net.layers if hasattr(L, "W")]
    params = [p for L in layers for p in (L.W, L.b)]
    masks = [np.ones(p.shape, np.float32) for p in params]  # biases: 1
    dt = max(1, (2 * epochs // 3) * -(-len(X) // 32) // steps)
    vel, t, keep = [None] * len(params), 0, m
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        eta = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        order = rng.permutation(len(X))
        for i in range(0, len(X), 32):
            idx = order[i:i + 32]
            for p in params:
                p.grad = None
            cross_entropy(net(Tensor(X[idx])), y[idx]).backward()
            for j, p in enumerate(params):      # masked SGD, momentum
                g = p.grad * masks[j]
                vel[j] = g if vel[j] is None else vel[j] * mu + g
                p.data -= eta * vel[j]
                p.data *= masks[j]
                vel[j] *= masks[j]
            t += 1
            s = (1 - n / m) * (1 - (1 - min(t // dt, steps) / steps) ** 3)
            if max(n, int(round(m * (1 - s)))) < keep:     # prune a step
                keep = max(n, int(round(m * (1 - s))))
                for j in range(0, len(params), 2):        # weights only
                    Wd = params[j].data                   # (out, in)
                    S = np.where(masks[j] > 0, np.abs(Wd), -np.inf)
                    G = S.reshape(len(Wd), -1, m)         # (out, groups, m)
                    top = np.argsort(-G, axis=2, kind="stable")[..., :keep]
                    M = np.zeros_like(G)
                    np.put_along_axis(M, top, 1.0, axis=2)
                    masks[j] = M.reshape(Wd.shape).astype(np.float32)
                    Wd *= masks[j]
    return net


net, _, _, d = nets["digits"][0]
ours = gradual_nm_scratch(copy.deepcopy(net), d.X_train, d.y_train)
lib = gradual_nm(copy.deepcopy(net), d.X_train, d.y_train, 2, 4,
                 fine_tune=FineTune(epochs=3))
assert all(np.array_equal(a.data, b.data)
           for a, b in zip(ours.parameters(), lib.parameters()))
kept = max(int((L.W.data.reshape(-1, 4) != 0).sum(axis=1).max())
           for L in ours.layers if hasattr(L, "W"))
print("scratch = library on every weight; most nonzeros in a group of 4:",
      kept, "| test accuracy",
      f"{evaluate(ours, d.X_test, d.y_test)['accuracy']:.4f} (one run)")

# %% [markdown]
# *What to conclude:* the loop reproduces `gradual_nm` exactly and ends
# with at most 2 nonzeros in every group of 4; the library's callback
# into `fit` and its registry of criteria (Wanda, Taylor, ...) are
# conveniences around this schedule and mask.
#
# ## 9. Speed on this CPU
#
# The ternary kernel replaces multiplications by bit operations on 2-bit
# weights; the 2:4 kernel reads half the values plus their positions.
# Batch 1 on a 4096 × 4096 layer, every contender on one thread (on a
# shared machine, threaded timings measure the scheduler); `minicomp bench
# formats` runs the full grid, with the CSR and int8 kernels:

# %%
from minicomp.bench.formats import thread_limit  # noqa: E402
from minicomp.bench.timing import median_time  # noqa: E402

Wb = rng.standard_normal((4096, 4096)).astype(np.float32)
W24 = Wb * nm_mask(np.abs(Wb), 2, 4).astype(np.float32)
A24, T = to_nm(W24, 2, 4), pack_ternary(rng.integers(-1, 2, Wb.shape))
xb = rng.standard_normal((1, 4096)).astype(np.float32)
xq = rng.integers(-128, 128, (1, 4096)).astype(np.int8)
assert np.allclose(nm_linear(xb, A24), xb @ W24.T, atol=1e-3)
ternary_linear(xq, T)
with thread_limit(1):
    t_blas = median_time(lambda: xb @ Wb.T, samples=7)
    t_nm = median_time(lambda: nm_linear(xb, A24), samples=7)
    t_tern = median_time(lambda: ternary_linear(xq, T), samples=7)
print(f"BLAS {t_blas * 1e3:.2f} ms | 2:4 {t_nm * 1e3:.2f} ms "
      f"({t_blas / t_nm:.2f}x) | ternary {t_tern * 1e3:.2f} ms "
      f"({t_blas / t_tern:.2f}x)  [one run]")

# %% [markdown]
# *What to conclude (one run, on a shared machine):* read the ratios, not
# the times. A dense layer at batch 1 that is limited only by the bytes
# it reads would let 2:4 (about half the bytes) gain at most about 2x; a
# larger printed ratio says that this single-threaded dense product
# does not run at the memory's speed here, so the ratio measures the two
# codes as much as the format. Ternary weights are 16 times smaller than
# float32 and the kernel replaces 64 multiply-adds by a few vector ANDs
# and popcounts, so it can gain more. The full grid shows where both
# lose: at large batches BLAS reuses each weight across the batch and
# wins.
# A GPU gains more from both because the hardware does the format's work:
# sparse tensor cores skip the zeros of a 2:4 tile at full throughput,
# and FP8/FP4 tensor cores multiply the small codes directly, while a CPU
# core must unpack positions and bits with ordinary instructions.
#
# ## 10. Summary
#
# * A small float is sign, exponent, mantissa; rounding to nearest even
#   and the special codes (E4M3: NaN only, E5M2: IEEE) are the whole
#   format, checked bit for bit against `ml_dtypes`.
# * Block scales (MX: E8M0 per 32, NVFP4: E4M3 per 16) make 4-bit
#   elements usable; NF4 places its 16 codes where normal weights are.
# * Learned step sizes (LSQ, PACT) keep 2- and 3-bit models trainable
#   where min-max ranges collapse.
# * Ternary weights need training; 2:4 sparsity costs little after
#   gradual training; on a CPU they buy speed only through fewer bytes.
#
# ## 11. Exercises
#
# 1. **Graded:** `release/08_formats/`, the student copy (made by
#    `minicomp release exercises/ release/`; `exercises/` is the
#    instructor's copy, with the solutions): encode and decode FP8 E4M3
#    and an MX block (`minicomp check release/08_formats`).
# 2. Replace MXFP4's power-of-two scale by an E4M3 scale at block 32: how
#    much of NVFP4's advantage is the scale, how much the block size?
# 3. Train LSQ with per-tensor weight steps: how much accuracy does the
#    per-channel step buy at 2 bits?
# 4. Apply 2:4 and then NF4 to the same net: do the errors add?
