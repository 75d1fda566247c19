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
# Their code samples never change a single weight — section 8 runs each
# of them.
#
# This chapter builds every step from its formula: fixed point (section
# 2), the affine quantizer $r = S(q - Z)$ (3), per-tensor, per-channel and
# per-group scales (4), calibration and post-training quantization (5),
# quantization-aware training with the straight-through estimator (6),
# k-means weight sharing with Huffman coding (7), and finally integer-only
# inference, which runs on the int8 kernel of `07_kernels.ipynb` (9).
#
# > **Glossary.** | seed term | English | section |
# > |---|---|---|
# > | 量化 | quantization | all |
# > | 量化因子 Q | quantization factor, here $2^f$ | 2 |
# > | 整数量化 / 子整数量化 | integer / sub-integer (≤ 4-bit) | 3, 7 |
# > | 全局量化 / 局部量化 | per-tensor / per-group scales | 4 |
# > | 混合量化 | mixed precision | 10 |
# > | 量化阈值 | "quantization threshold" (a clamp) | 2, 8 |
# >
# > The full table is in `chapters/glossary.md`.

# %%
import copy
import importlib

import matplotlib.pyplot as plt
import numpy as np

import minicomp
import minicomp.quant as Q
from minicomp import Tensor, evaluate, predict
from minicomp.bench.timing import median_time
from minicomp.deploy import to_inference
from minicomp.kernels import reference
from minicomp.metrics import storage_bytes
from minicomp.quant.fixed_point import (distinct_values, fixed_point_range,
                                        wrap_around)
from minicomp.quant.granularity import quantization_error
from minicomp.quant.huffman import entropy_bits
from minicomp.quant.kmeans import kmeans_1d
from minicomp.train import BaselineConfig, train_baseline

np.set_printoptions(precision=4, suppress=True)
print("minicomp", minicomp.__version__, "| numpy", np.__version__)

# %% [markdown]
# The network is chapter 0's baseline (seed 000's MLP 64 → 64 → 64 → 10,
# trained on the 8×8 digits). `W` of a `Dense` layer has shape (out, in).

# %%
net, history, result, data = train_baseline(BaselineConfig(), quiet=True)
X_train, y_train, X_test, y_test = data
float_acc = result["accuracy"]
print(net)
print(f"float32 test accuracy {float_acc:.4f}")

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
print("overflowed:", Q.to_fixed(x, f, b)[1], "(200 > 127.996: saturated)")
print("an int8 register would wrap instead:", wrap_around([200], 8))

# %% [markdown]
# > **What seed 002's sample gets wrong: a clamp is not quantization.**
# > Its "quantization" is `param.data = torch.clamp(param.data, -t, t)`
# > with a "quantization threshold" $t = 0.01$, applied before every step.
# > A clamp bounds the range but maps nothing onto a grid: weights inside
# > $(-t, t)$ keep every float32 value they had, the others all collapse
# > onto $\pm t$. Storage stays 4 bytes per weight, and with $t$ far below
# > the weights' scale the network is destroyed. Run on our trained net
# > (translated to minicomp), beside a real 8-bit quantizer:

# %%
clamped = copy.deepcopy(net)
threshold = 0.01
for p in clamped.parameters():                    # the seed's loop
    p.data = np.clip(p.data, -threshold, threshold)
W0, Wc = net[0].W.data, clamped[0].W.data
print("distinct values in W0: float", distinct_values(W0),
      "| clamped", distinct_values(Wc),
      "| 8-bit", distinct_values(Q.quantize_tensor(W0, 8).dequantize()))
print("bytes per weight after the clamp:", Wc.dtype.itemsize)
print(f"accuracy: float {float_acc:.4f}, "
      f"clamped {evaluate(clamped, X_test, y_test)['accuracy']:.4f}")

# %% [markdown]
# ## 3. Uniform quantization: $r = S(q - Z)$
#
# **Idea.** Fixed point fixes the step to a power of two. Uniform
# quantization picks the step $S$ (scale) to fit the data's range and an
# integer zero point $Z$, so that the real 0 is exactly a code (ReLU
# outputs, zero padding and pruned weights stay exact).
#
# **Math.** Affine, $b$ bits, codes $q \in [0, 2^b - 1]$, range
# $[lo, hi]$ widened to contain 0:
# $$S = \frac{hi - lo}{2^b - 1}, \quad Z = \mathrm{round}(-lo / S),\quad
# q = \mathrm{clamp}(\mathrm{round}(r/S) + Z),\quad \hat r = S(q - Z).$$
# Symmetric: $Z = 0$, codes in $[-(2^{b-1} - 1), 2^{b-1} - 1]$ (int8:
# −127..127), $S = \max|r| / (2^{b-1} - 1)$. Inside the range the error is
# at most $S/2$.
#
# **From scratch** on a layer's weights, then the library:

# %%
r = net[0].W.data.ravel().astype(np.float64)
bits = 4
lo, hi = min(r.min(), 0), max(r.max(), 0)
S = (hi - lo) / (2**bits - 1)
Z = int(np.rint(-lo / S))
q = np.clip(np.rint(r / S) + Z, 0, 2**bits - 1)
r_hat = S * (q - Z)
print(f"S = {S:.5f}, Z = {Z}, codes {q.min():.0f}..{q.max():.0f}")
print(f"max error {np.abs(r - r_hat).max():.5f} <= S/2 = {S / 2:.5f}")
S_lib, Z_lib = Q.scale_zero_point(r.min(), r.max(), bits)
assert np.isclose(S, S_lib) and Z == Z_lib
assert np.allclose(r_hat, Q.fake_quantize(r, S, Z, bits))
print("0.0 ->", Q.fake_quantize([0.0], S, Z, bits)[0], "(exact)")

# %% [markdown]
# The error is a saw-tooth of height $S/2$ inside the range; outside it
# the value saturates and the error grows linearly:

# %%
xs = np.linspace(-1.5, 1.5, 601)
S2, Z2 = Q.scale_zero_point(-1.0, 1.0, 3, "symmetric")
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(xs, Q.fake_quantize(xs, S2, Z2, 3, "symmetric"))
ax[0].set(title="3-bit symmetric fake_quantize", xlabel="x")
ax[1].plot(xs, xs - Q.fake_quantize(xs, S2, Z2, 3, "symmetric"))
ax[1].axhline(S2 / 2, ls="--", c="gray")
ax[1].axhline(-S2 / 2, ls="--", c="gray")
ax[1].set(title="error x - x_hat (dashed: S/2)", xlabel="x")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Granularity: per tensor, per channel, per group
#
# **Idea.** One scale for a whole tensor (seed 001's 全局量化) is set by
# its largest value. One **outlier channel** then makes the step too large
# for all others. A scale per output channel (per row of `W`), or per
# group of inputs within a row (seed 001's 局部量化), fixes that for a few
# bytes of scales.
#
# We build such a layer without changing the network's function: scale
# neuron 0 of layer 0 up by 50 and its outgoing weights down by 50 — ReLU
# is positively homogeneous, so the float outputs do not change.

# %%
outlier = copy.deepcopy(net)
outlier[0].W.data[0] *= 50
outlier[0].b.data[0] *= 50
outlier[2].W.data[:, 0] /= 50
print("same function:",
      np.allclose(predict(outlier, X_test), predict(net, X_test),
                  atol=1e-3))
W = outlier[0].W.data
for g in ("tensor", "channel", "group"):
    qt = Q.quantize_tensor(W, 8, "symmetric", g, group_size=16)
    mse = quantization_error(W[1:], qt.dequantize()[1:])
    print(f"{g:8s} {qt.num_scales:4d} scales, MSE on the other rows "
          f"{mse:.2e}")
for g in ("tensor", "channel"):
    qnet = Q.quantize_mlp(outlier, None, bits=8, bits_a=None,
                          granularity=g)
    acc = evaluate(qnet, X_test, y_test)["accuracy"]
    print(f"int8 weights per {g}: accuracy {acc:.4f} "
          f"(float {float_acc:.4f})")

# %% [markdown]
# ## 5. Calibration and post-training quantization
#
# **Idea.** Weights are known; activations are not. Their range is
# observed on a **calibration set** (512 training inputs): min-max,
# a moving average of min-max, a percentile, or the clipping range that
# minimises the mean squared error. Post-training quantization (PTQ)
# then quantizes weights (symmetric, per channel) and activations
# (affine, uint8) with no retraining. The result is the *simulated*
# quantized model: float arithmetic on values that all lie on their grids.

# %%
X_cal = X_train[:512]
for kind in ("minmax", "moving_average", "percentile", "mse"):
    obs = Q.calibrate(net, X_cal, observer=kind)
    qnet = Q.quantize_mlp(net, X_cal, 8, 8, "channel", observer=kind)
    acc = evaluate(qnet, X_test, y_test)["accuracy"]
    print(f"{kind:15s} layer-0 output range "
          f"[{obs[1].range()[0]:.2f}, {obs[1].range()[1]:.2f}]  "
          f"W8A8 accuracy {acc:.4f}")
try:
    Q.quantize_mlp(net, X_cal[:0])
except ValueError as e:
    print("empty calibration set ->", e)

# %% [markdown]
# ## 6. Quantization-aware training: the straight-through estimator
#
# **Idea.** At 4 bits PTQ loses accuracy. Training *with* the rounding in
# the forward pass lets the weights adapt. But $\mathrm{round}$ has zero
# derivative almost everywhere, so the backward pass pretends it is the
# identity inside the range and 0 where the value was clipped:
# $$\frac{\partial \hat x}{\partial x} = \mathbf 1[S(q_{min} - Z) \le x
# \le S(q_{max} - Z)].$$
# `Q.fake_quantize_ste` is `Q.fake_quantize` as a new engine primitive
# (its own `_backward` closure, the STE). Check the gradient:

# %%
x = Tensor(np.array([-2.0, -0.4, 0.2, 0.9]), requires_grad=True)
y = Q.fake_quantize_ste(x, 0.25, 0, 3, "symmetric")   # range [-0.75, 0.75]
y.sum().backward()
print("x_hat", y.data, " grad", x.grad)

# %%
net4 = copy.deepcopy(net)
ptq4 = Q.quantize_mlp(net, X_cal, bits=4, bits_a=8)
qat, hist = Q.qat_finetune(net4, X_train, y_train, bits=4, epochs=5)
qat4 = qat.to_quantized()
print(f"W4A8 PTQ {evaluate(ptq4, X_test, y_test)['accuracy']:.4f}, "
      f"QAT {evaluate(qat4, X_test, y_test)['accuracy']:.4f}, "
      f"float {float_acc:.4f}")

# %% [markdown]
# ## 7. Weight sharing by k-means, and Huffman coding
#
# **Idea** (Deep Compression). Seed 004's "sub-integer" quantization:
# cluster each layer's weights into $2^b$ centroids; store a $b$-bit index
# per weight and a float codebook. Levels need not be uniform. Then
# fine-tune the centroids: the gradient of a centroid is the sum of its
# weights' gradients,
# $\partial L / \partial c_k = \sum_{I_{ij} = k} \partial L / \partial
# W_{ij}$ — exactly the backward pass of indexing `codebook[I]`.
# Finally, Huffman-code the indices: frequent ones get shorter words.

# %%
codebook, index = kmeans_1d(net[2].W.data, bits=2)
print("codebook", codebook, "| counts", np.bincount(index.ravel()))
shared = Q.kmeans_quantize(net, bits=2)
before = evaluate(shared, X_test, y_test)["accuracy"]
Q.finetune_centroids(shared, X_train, y_train, epochs=10)
after = evaluate(shared, X_test, y_test)["accuracy"]
print(f"2-bit k-means: {before:.4f} -> {after:.4f} after fine-tuning")
H = entropy_bits(index)
print(f"index entropy {H:.3f} bits; Huffman "
      f"{Q.huffman_bytes(index, 4)} bytes vs packed {index.size // 4}")


# %% [markdown]
# ## 8. What the seed samples get wrong
#
# > **Seed 004: a loop that rebinds `param` and changes nothing.**
# > `for param in net.parameters(): param = quantize(param, Q)` binds the
# > *name* `param` to a new array; the network's parameters are
# > untouched. Translated and run:

# %%
def quantize(x, Q):                              # seed 004's function
    return np.round(x * Q) / Q

seed_net = copy.deepcopy(net)
before = [p.data.copy() for p in seed_net.parameters()]
for param in seed_net.parameters():              # seed 004's loop
    param = quantize(param.data, 256)
changed = any(not np.array_equal(b, p.data)
              for b, p in zip(before, seed_net.parameters()))
print("any weight changed?", changed)
for p in seed_net.parameters():                  # the fix: write in place
    p.data[...] = quantize(p.data, 256)
print("after p.data[...] = ...:", distinct_values(seed_net[0].W.data),
      "distinct values in W0")


# %% [markdown]
# > **Seed 000: `layer.quantize(num_bits)` does not exist.** Its
# > `quantize(model, 8)` calls `layer.quantize` only
# > `if hasattr(layer, 'quantize')` — no Keras layer has it, so the
# > function silently does nothing. Without the guard, the error shows:

# %%
def seed_quantize(model, num_bits):              # seed 000's function
    for layer in model.layers:
        if hasattr(layer, "quantize"):
            layer.quantize(num_bits)

seed_net = copy.deepcopy(net)
seed_quantize(seed_net, 8)
print("weights unchanged:",
      np.array_equal(seed_net[0].W.data, net[0].W.data))
try:
    seed_net[0].quantize(8)
except AttributeError as e:
    print("AttributeError:", e)

# %% [markdown]
# > **Seed 001: `torch.quantization.quantize_fake_qualities` does not
# > exist.** The seed imports it and calls `fq.fake_quantize(model,
# > num_bits=8)`. No such module exists in PyTorch (fake quantization is
# > `torch.ao.quantization.FakeQuantize`, applied by `prepare_qat`).
# > Translated to minicomp, the import fails the same way; the real API is
# > `Q.fake_quantize` / `Q.quantize_mlp`:

# %%
try:
    importlib.import_module("minicomp.quant.quantize_fake_qualities")
except ModuleNotFoundError as e:
    print("ModuleNotFoundError:", e)
print("the real one:", Q.quantize_mlp(net, X_cal, bits=8))

# %% [markdown]
# ## 9. Integer-only inference
#
# **Math** (Jacob et al. 2018). With $r = S(q - Z)$ for input, weights
# ($Z_w = 0$) and output, a dense layer becomes
# $$q_y = Z_y + M \sum_j (q_{x,j} - Z_x) q_{w,j} + M q_b,\qquad
# M = \frac{S_x S_w}{S_y} \approx m_0 2^{-\mathrm{shift}},$$
# int8 × uint8 products summed in **int32**, the bias $q_b =
# \mathrm{round}(b / (S_x S_w))$ in int32, and $M$ as a 31-bit integer
# $m_0$ and a shift. ReLU is a clamp at $Z_y$. **From scratch** for the
# first layer, then **with the library**: `to_inference(qnet)`
# (`minicomp.deploy`) builds the integer-only model, a chain of `Int8Dense`
# layers on the int8 kernel -- the same class chapter 07 runs:

# %%
qnet = Q.quantize_mlp(net, X_cal, 8, 8, "channel")
L0 = qnet.qlayers[0]
x_q = Q.quantize(X_test, qnet.S_in, qnet.Z_in, 8)          # (N, 64) uint8
S_w = L0.W.S[:, 0]                                          # (64,)
acc = (x_q.astype(np.int64) - qnet.Z_in) @ L0.W.q.T.astype(np.int64)
q_b = np.rint(L0.b_hat / (qnet.S_in * S_w)).astype(np.int64)
acc = acc + q_b                                             # (N, 64)
m0, shift = reference.quantize_multiplier(qnet.S_in * S_w / L0.S_y)
y_q = ((acc * m0 + (1 << (shift - 1).astype(np.int64))) >> shift)
y_q = np.clip(y_q + L0.Z_y, L0.Z_y, 255).astype(np.uint8)   # ReLU
model = to_inference(qnet)           # Int8Dense layers on the int8 kernel
assert np.array_equal(x_q, model.quantize_input(X_test))
y_k = model.layers[0](x_q)
assert np.array_equal(y_q, y_k)
print(model.layers[0], "| layer 0 codes equal the formula")

# %% [markdown]
# The integer model's codes equal the simulated model's exactly (the
# simulated requantization uses the same $m_0 2^{-\mathrm{shift}}$; see
# `minicomp/quant/integer.py`), and its speed at batch 256 beside the
# float model (the kernel itself is built in `07_kernels.ipynb`):

# %%
X256 = np.ascontiguousarray(X_test[:256])
codes = model.forward_int(X256)
print("equal to simulated:",
      np.array_equal(codes, Q.simulate_codes(qnet, X256)))
int_acc = (model(X_test).argmax(1) == y_test).mean()
print(f"accuracy: float {float_acc:.4f}, int8 integer-only {int_acc:.4f}")
from threadpoolctl import threadpool_limits   # ships with scikit-learn

t_float = median_time(lambda: predict(net, X256), samples=7)
with threadpool_limits(limits=1, user_api="blas"):   # threads hurt here
    t_float1 = median_time(lambda: predict(net, X256), samples=7)
t_int = median_time(lambda: model(X256), samples=7)
print(f"batch 256: float {t_float * 1e6:.0f} us ({t_float1 * 1e6:.0f} us "
      f"on 1 BLAS thread), integer {t_int * 1e6:.0f} us")
print(f"float / integer = {min(t_float, t_float1) / t_int:.2f} "
      f"(> 1: the integer model is faster)")

# %% [markdown]
# ## 10. Accuracy against bits, mixed precision and sizes
#
# PTQ (weights only, per channel), QAT (W*b*A8, 3 epochs) and k-means
# (fine-tuned 5 epochs) at 2, 3, 4 and 8 bits:

# %%
bit_list = (2, 3, 4, 8)
curves = {"PTQ": [], "QAT": [], "k-means": []}
for b in bit_list:
    ptq = Q.quantize_mlp(net, None, bits=b, bits_a=None)
    curves["PTQ"].append(evaluate(ptq, X_test, y_test)["accuracy"])
    qat_b, _ = Q.qat_finetune(copy.deepcopy(net), X_train, y_train,
                              bits=b, epochs=3)
    curves["QAT"].append(
        evaluate(qat_b.to_quantized(), X_test, y_test)["accuracy"])
    sh = Q.kmeans_quantize(net, bits=b)
    Q.finetune_centroids(sh, X_train, y_train, epochs=5)
    curves["k-means"].append(evaluate(sh, X_test, y_test)["accuracy"])
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, accs in curves.items():
    ax.plot(bit_list, accs, marker="o", label=name)
ax.axhline(float_acc, ls="--", c="gray", label="float32")
ax.set(xlabel="bits per weight", ylabel="test accuracy", xticks=bit_list)
ax.legend()
plt.show()

# %% [markdown]
# **Mixed precision** (seed 001's 混合量化: some layers integer, others
# float): measure each layer's loss increase at each width, then lower the
# widths greedily — the least sensitive bytes first — under a budget.
# Every size here is `minicomp.metrics.storage_bytes`, the one byte count
# of every format (dense, CSR, int-k + scales, codebook, Huffman, integer):

# %%
budget = storage_bytes(net, "int", bits=4)      # as small as all 4-bit
net_mp, bits_mp, nbytes = Q.mixed_precision(net, X_test, y_test, budget)
print("bits per layer", bits_mp, f"| {nbytes} bytes <= {budget}")
print(f"accuracy {evaluate(net_mp, X_test, y_test)['accuracy']:.4f}")
for row in Q.size_table(net, shared, model):
    print(f"{row['scheme']:28s} {row['bytes']:7d} bytes "
          f"{row['ratio']:5.1f}x")

# %% [markdown]
# ## 11. Summary
#
# * Fixed point is uniform quantization with $S = 2^{-f}$; without a word
#   size (seed 004) or with a clamp alone (seed 002) nothing is saved.
# * $r = S(q - Z)$ with an integer $Z$ keeps 0 exact; the error inside the
#   range is at most $S/2$.
# * One scale per channel costs a few bytes and removes the outlier
#   problem of a single per-tensor scale.
# * int8 PTQ is nearly free on these MLPs; at 4 bits QAT (the STE) wins
#   back what PTQ loses; 2-bit k-means needs fine-tuning and still costs
#   accuracy on the harder MNIST-1D (`minicomp bench quant`).
# * The integer-only model (`to_inference(qnet)`) computes the same codes
#   as the simulated one, bit for bit, with int32 accumulators and
#   fixed-point multipliers.
#
# ## 12. Exercises
#
# 1. `exercises/03_quantization`: write the affine quantizer and
#    per-channel scales (`minicomp check exercises/03_quantization`).
# 2. Replace min-max by the MSE observer at 4-bit activations: which
#    layer's range shrinks most, and what happens to accuracy?
# 3. Quantize the bias to int8 instead of int32. Why does accuracy drop?
# 4. Prune to 90 % (chapter 2), then apply 2-bit k-means and Huffman:
#    how close do you get to Deep Compression's 40×?
