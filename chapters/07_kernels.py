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
# # Chapter 7 — Kernels: making compressed models fast
#
# *Why zeros and small integers do not speed anything up by themselves, and
# the two kernels that make them pay: a sparse (CSR) matrix product and an
# int8 matrix product with int32 accumulators.*
#
# ## 1. The idea
#
# Pruning (chapter 2) sets most weights to zero; quantization stores them as
# 8-bit integers. Both shrink the *file*. Whether they make the model
# *faster* depends only on the code that multiplies: a dense float32 matrix
# product does exactly the same work whether a weight is 0.37 or 0.0, and
# NumPy has no fast product for int8 arrays at all. So we write the two
# kernels ourselves — each first as a short loop you can read
# (`minicomp/kernels/reference.py`), then as a compiled Numba kernel with
# the same signature (`minicomp/kernels/sparse.py`, `int8.py`) — and
# measure them against the libraries you would otherwise use.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minicomp.bench.timing import cpu, median_time
from minicomp.kernels import reference as R
from minicomp.kernels import sparse as S

rng = np.random.default_rng(0)
print("CPU:", cpu())   # every time below is from this machine


def us(fn, samples=15):
    # microseconds per call: the fastest of `samples` short samples (each
    # >= 0.2 ms). On a shared 2-core machine a thread of a 2-thread kernel
    # is often descheduled for milliseconds; the fastest sample is the one
    # that was not, the median may not be.
    time.sleep(0.25)                   # the last library's threads idle
    return min(median_time(fn, samples=1, min_sample=2e-4, warmup=0)
               for _ in range(samples)) * 1e6


# %% [markdown]
# ## 2. Why sparse weights are not faster in dense BLAS
#
# A layer $Y = XW^\top$ with $W$ of shape (out, in) costs
# $B \cdot \text{out} \cdot \text{in}$ multiply-adds in a dense product
# (BLAS), *whatever the values are*. The hardware multiplies by zero as fast
# as by anything else, and BLAS never looks. We zero 90 % of a 1024×1024
# weight matrix and time the product.

# %%
n_in, n_out, B = 1024, 1024, 32
W = rng.standard_normal((n_out, n_in)).astype(np.float32)   # (out, in)
X = rng.standard_normal((B, n_in)).astype(np.float32)       # (B, in)
W_90 = np.where(rng.random(W.shape) < 0.9, 0, W).astype(np.float32)

t_dense = us(lambda: X @ W.T)
t_zeros = us(lambda: X @ W_90.T)
print(f"dense W          {t_dense:8.0f} us")
print(f"W with 90% zeros {t_zeros:8.0f} us   (ratio {t_dense / t_zeros:.2f})")

# %% [markdown]
# What to conclude: the ratio is about 1 (timing noise on a shared
# machine moves it a little either way): nine zeros in ten change nothing
# for BLAS.

# %% [markdown]
# > **What the seed sample gets wrong (seed 000, sections 2 and 4.3).**
# > The seed says pruning "删除不重要的神经元或权重，减少模型的复杂度，从而
# > 提高模型的效率" — *deletes unimportant neurons or weights, reducing the
# > model's complexity and thereby raising its efficiency*. Its sample
# > `prune(model, 0.01)` calls a `get_pruned()` method that Keras layers do
# > not have (`hasattr` is false, so the loop silently does nothing); what
# > it means — magnitude pruning with threshold 0.01, weights set to zero in
# > place — is run below on its own 784-64-64-10 network. The zeros are
# > there; the time of the forward pass is not smaller.

# %%
# the seed's network, weights as Keras would initialise them (Glorot)
sizes = [784, 64, 64, 10]
Ws = [rng.uniform(-1, 1, (o, i)).astype(np.float32) * np.sqrt(6 / (i + o))
      for i, o in zip(sizes[:-1], sizes[1:])]
X_seed = rng.standard_normal((32, 784)).astype(np.float32)


def forward(Ws, X):
    for k, W_k in enumerate(Ws):
        X = X @ W_k.T
        X = np.maximum(X, 0) if k < len(Ws) - 1 else X
    return X


t_before = us(lambda: forward(Ws, X_seed))
for W_k in Ws:                      # the seed's prune(model, 0.01)
    W_k[np.abs(W_k) < 0.01] = 0
zeros = sum((W_k == 0).sum() for W_k in Ws) / sum(W_k.size for W_k in Ws)
t_after = us(lambda: forward(Ws, X_seed))
print(f"{zeros:.1%} of the weights are now zero")
print(f"forward: {t_before:.0f} us before, {t_after:.0f} us after")

# %% [markdown]
# What to conclude: the seed's threshold zeroes the printed share of this
# network's weights, and the forward pass takes about as long as before
# (both times printed) — just as the matrix that is 90 % zeros (above)
# runs at the dense speed. Speed needs a format that does not store the
# zeros, and a kernel that skips them.

# %% [markdown]
# ## 3. How CSR works
#
# *Compressed sparse row* stores a matrix row by row, keeping only the
# nonzero entries:
#
# - `data` — the nonzero values, row after row (float32);
# - `indices` — the column of each value;
# - `indptr` — where each row starts: row $i$ is
#   `data[indptr[i]:indptr[i+1]]`, so `indptr` has out + 1 entries and
#   ends at nnz (the number of nonzeros).
#
# Then one output is a short dot product over the stored entries only:
#
# $$Y_{b,i} = \sum_{k=\mathrm{indptr}_i}^{\mathrm{indptr}_{i+1}-1}
# \mathrm{data}_k\, X_{b,\,\mathrm{indices}_k}.$$
#
# We build one by hand.

# %%
W_small = np.array([[0, 2, 0, 0],
                    [0, 0, 0, 0],          # an empty row
                    [1, 0, 0, 3]], np.float32)

data, indices, indptr = [], [], [0]
for row in W_small:
    for j, w in enumerate(row):
        if w != 0:
            data.append(w)
            indices.append(j)
    indptr.append(len(data))
print("data   ", data)
print("indices", indices)
print("indptr ", indptr)

A = S.to_csr(W_small)
assert A.data.tolist() == data and A.indices.tolist() == indices
assert A.indptr.tolist() == indptr
print(A.indices.dtype, A.indptr.dtype, "->", A.nbytes, "bytes vs",
      W_small.nbytes, "dense")

# %% [markdown]
# The index arrays use the **narrowest unsigned type** that holds them:
# `uint8` here, `uint16` for a 784-input layer (columns up to 783), `uint32`
# beyond 65,535 inputs. A CSR entry then costs 4 + 2 bytes, not 4 + 8, and
# CSR is the smaller for *size* below 2/3 density (sparsity above 1/3)
# for a 784-input layer (4·n_in bytes per dense row vs 6·nnz). Unsigned
# also matters for *speed*, as we will see.

# %%
W_784 = np.where(rng.random((300, 784)) < 0.9, 0,
                 rng.standard_normal((300, 784))).astype(np.float32)
A_784 = S.to_csr(W_784)
print(A_784.indices.dtype, A_784.indptr.dtype, f"nnz={A_784.nnz}")
print(f"CSR {A_784.nbytes:,} bytes vs dense {W_784.nbytes:,} bytes "
      f"({W_784.nbytes / A_784.nbytes:.1f}x smaller)")


# %% [markdown]
# What to conclude: CSR pays for every nonzero twice — its value and its
# column index (here 2 bytes) — plus a pointer per row; at 90 % zeros
# that is the printed factor smaller than the dense matrix.
#
# ### From scratch, then with the library
#
# The formula is two loops. Here it is as plain Python over a batch, then
# the reference kernel (the same loops, vectorized over the batch), then
# the Numba kernel. All three must agree.

# %%
def csr_matmul_scratch(X, A):
    Y = np.zeros((X.shape[0], A.shape[0]), np.float32)     # (B, out)
    for b in range(X.shape[0]):
        for i in range(A.shape[0]):
            for k in range(A.indptr[i], A.indptr[i + 1]):
                Y[b, i] += A.data[k] * X[b, A.indices[k]]
    return Y


X_4 = rng.standard_normal((4, 784)).astype(np.float32)
Y_scratch = csr_matmul_scratch(X_4, A_784)
np.testing.assert_allclose(Y_scratch, R.sparse_linear(X_4, A_784),
                           rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(Y_scratch, S.sparse_linear(X_4, A_784),
                           rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(Y_scratch, X_4 @ W_784.T, rtol=1e-4, atol=1e-4)
print("scratch == reference == Numba kernel == dense product")

# %% [markdown]
# ## 4. Two designs for one formula
#
# **Batch 1–3: row gather-dot.** For each output row, walk its stored
# entries and *gather* `x[indices[k]]`. What made it fast on the CPU it
# was tuned on (not necessarily the one printed at the top;
# `minicomp bench kernels` measures yours):
#
# - **unsigned indices** — with a signed index Numba must handle Python's
#   negative indexing (`x[-1]`), a test and a fix-up per access; with
#   `uint16`/`uint32` indices and loop counters it cannot be negative;
# - **four accumulators** — four independent sums instead of one chain,
#   so the additions overlap;
# - **no `fastmath` reordering** — it lets LLVM emit a vector *gather*
#   instruction, which was slower than scalar loads on that CPU.
#
# **Batch ≥ 4: AXPY across the batch.** With $X^\top$ (in, B) contiguous,
# output row $i$ is $\sum_k \mathrm{data}_k X^\top[\mathrm{indices}_k, :]$ —
# each stored weight updates a whole contiguous vector of B outputs, which
# vectorizes perfectly. Outputs are computed in tiles of 16 and written as
# short rows; the two threads each take half of the batch.
#
# On small products the kernel runs on one thread: waking the second
# costs more than it saves. Which design and how many threads
# `choose_kernel` picks for a few sizes:

# %%
for batch, nnz in [(1, 2_000), (1, 23_500), (32, 23_500), (256, 23_500)]:
    print(f"B={batch:<4} nnz={nnz:<7,} -> {S.choose_kernel(batch, nnz)}")

# %% [markdown]
# ## 5. Measured: speed-up versus sparsity, and the crossover
#
# A small live grid (1024→1024, batch 1 and 32): float32 BLAS, scipy's CSR
# and ours, through `minicomp.deploy.SparseDense` (a CSR layer that
# validates its arrays once, not on every call). Each time is the fastest
# of 15 short samples; the numbers move between runs on a shared
# machine, the trend does not. (`minicomp bench kernels` runs the full grid
# of the issue, with torch, and reports medians.)

# %%
import scipy.sparse

from minicomp.deploy import SparseDense

SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
U = rng.random(W.shape)
speedup = {}                                   # batch -> list of ratios
for B in (1, 32):
    X_b = rng.standard_normal((B, n_in)).astype(np.float32)
    speedup[B] = []
    for s in SPARSITIES:
        W_s = np.where(U < s, 0, W).astype(np.float32)
        layer = SparseDense(S.to_csr(W_s))     # checks the CSR once
        W_sp = scipy.sparse.csr_array(W_s)
        layer(X_b)                             # compile before timing
        t_blas = us(lambda: X_b @ W_s.T)
        t_scipy = us(lambda: (W_sp @ X_b.T).T)
        t_ours = us(lambda: layer(X_b))
        speedup[B].append(t_blas / t_ours)
        print(f"B={B:<3} s={s:<5} BLAS {t_blas:7.0f} us  scipy "
              f"{t_scipy:7.0f} us  ours {t_ours:7.0f} us  "
              f"BLAS/ours {t_blas / t_ours:5.2f}")


# %%
def crossover(sparsities, ratios):
    # first sparsity where ratio >= 1, by linear interpolation in log(ratio)
    r = np.log(ratios)
    for k in range(1, len(r)):
        if r[k - 1] < 0 <= r[k]:
            t = -r[k - 1] / (r[k] - r[k - 1])
            return sparsities[k - 1] + t * (sparsities[k] - sparsities[k - 1])
    return None if r[-1] < 0 else sparsities[0]


fig, ax = plt.subplots(figsize=(6, 3.5))
for B, ratios in speedup.items():
    c = crossover(SPARSITIES, ratios)
    label = f"batch {B}" + (f" (crossover ~{c:.2f})" if c else "")
    print(f"batch {B}: sparse kernel beats BLAS from sparsity "
          + (f"~{c:.2f}" if c else "(none in this grid)"))
    ax.plot(SPARSITIES, ratios, "o-", label=label)
ax.axhline(1, color="gray", lw=1, ls="--")
ax.set_yscale("log")
ax.set_xlabel("sparsity (fraction of zero weights)")
ax.set_ylabel("speed-up over float32 BLAS")
ax.set_title("1024→1024: CSR kernel vs dense matmul")
ax.legend()
plt.show()

# %% [markdown]
# Below the crossover the sparse kernel is *slower* than BLAS: a dense
# product streams memory perfectly and uses every vector lane, while CSR
# pays for an index per weight and irregular loads. Unstructured sparsity
# starts to pay only past the printed crossover, a high sparsity —
# which is why pruning papers report 90 %+; compare the crossovers of
# the two batch sizes (one run).

# %% [markdown]
# ## 6. int8: integers that must not overflow
#
# Quantization (Jacob et al. 2018) writes every real value as
# $r = S\,(q - Z)$ with an 8-bit integer $q$, a real scale $S$ and an
# integer zero point $Z$. Weights are symmetric int8 ($Z_w = 0$), one scale
# per output; activations uint8. A dense layer then becomes
#
# $$q_{y,i} = Z_y + M_i \Big(\underbrace{\sum_j (q_{x,j} - Z_x)\,
# q_{w,ij} + q_{b,i}}_{\text{int32 accumulator}}\Big),\qquad
# M_i = \frac{S_x S_{w,i}}{S_y}.$$
#
# The products need 16 bits ($255 \times 128$) and their *sum* needs more.
# Here is what happens in int8 and int16 — by a run.

# %%
x_q = np.full(784, 255 - 128, np.int16)        # q_x - Z_x, worst case 127
w_q = np.full(784, 127, np.int8)

with np.errstate(over="ignore"):     # scalars warn; arrays wrap silently
    print("int8 * int8 :", np.int8(127) * np.int8(127), "(true: 16129)")
    acc16 = np.zeros((), np.int16)
    for a, b in zip(x_q, w_q.astype(np.int16)):
        acc16 = (acc16 + a * b).astype(np.int16)    # wraps modulo 2^16
acc32 = np.dot(x_q.astype(np.int32), w_q.astype(np.int32))
print("sum in int16:", int(acc16))
print("sum in int32:", int(acc32), "(true:", 784 * 127 * 127, ")")

# %% [markdown]
# What to conclude: an int8 product wraps, an int16 running sum wraps;
# only the int32 sum is exact — hence the int32 accumulator.

# %% [markdown]
# > **What the seed sample gets wrong (seed 000, section 4.4).** The seed
# > says quantization "减少模型的存储和计算量" — *reduces storage and
# > computation* — and its sample `quantize(model, 8)` calls a
# > `layer.quantize` method that Keras layers do not have (so, again,
# > nothing happens). Done naively in NumPy — cast to int8 and multiply —
# > it is both **wrong** (NumPy keeps int8 · int8 in int8, so sums wrap)
# > and **slow** (there is no integer BLAS: `np.matmul` on integers is a
# > plain loop).

# %%
W_f = rng.standard_normal((256, 784)).astype(np.float32) * 0.05
X_f = rng.random((32, 784)).astype(np.float32)
S_w = np.abs(W_f).max() / 127                    # one scale, symmetric
W_i8 = np.round(W_f / S_w).astype(np.int8)
X_i8 = np.round(X_f * 127).astype(np.int8)       # S_x = 1/127

naive = X_i8 @ W_i8.T                            # what "quantize" gives
exact = X_i8.astype(np.int32) @ W_i8.T.astype(np.int32)
print("result dtype:", naive.dtype, "| entries that wrapped:",
      f"{(naive != exact).mean():.0%}")
t_f32 = us(lambda: X_f @ W_f.T)
t_i32 = us(lambda: X_i8.astype(np.int32) @ W_i8.T.astype(np.int32),
           samples=2)
print(f"float32 BLAS {t_f32:.0f} us, int32 np.matmul {t_i32:.0f} us "
      f"({t_i32 / t_f32:.1f}x the time)")

# %% [markdown]
# What to conclude: the naive product is wrong (the printed share of
# entries wrapped) and slower than float (the printed factor, one run):
# integers pay only with a kernel that accumulates in int32.

# %% [markdown]
# ### Requantization with $M = 2^{-n} M_0$, step by step
#
# The accumulator is int32, the output uint8: we must multiply by the real
# $M$ (typically $10^{-4}$–$10^{-2}$) *without floating point*. Jacob et
# al. write $M = 2^{-n} M_0$ with $M_0 \in [0.5, 1)$, store $M_0$ as a
# 31-bit integer $m_0 = \mathrm{round}(M_0 \cdot 2^{31})$, and apply it as
# one integer multiply and one shift by $\text{shift} = 31 + n$, adding
# $2^{\text{shift}-1}$ first so the shift rounds half up:
#
# $$q_y = \mathrm{clamp}\Big(\big\lfloor (acc \cdot m_0 + 2^{shift-1})
# / 2^{shift}\big\rfloor + Z_y\Big).$$

# %%
S_x, S_w1, S_y, Z_y = 0.02, 0.004, 0.05, 128
M = S_x * S_w1 / S_y                               # 0.0016
M0, e = np.frexp(M)                                # M = M0 * 2^e
n = -int(e)                  # a Python int: 1 << 39 in int32 would wrap
m0 = int(np.round(M0 * 2**31))
shift = 31 + n
print(f"M = {M}  =  2^-{n} * {M0}")
print(f"m0 = {m0}, shift = {shift}: m0 * 2^-shift = {m0 * 2.0**-shift}")

acc = np.array([[-31_000, -300, 0, 312, 313, 95_000]], np.int32)
y_int = (acc.astype(np.int64) * m0 + (1 << (shift - 1))) >> shift
q_y = np.clip(y_int + Z_y, 0, 255).astype(np.uint8)
print("acc * M      :", np.round(acc * M, 3))
print("integer path :", q_y)
m0_lib, shift_lib = R.quantize_multiplier(M)
assert (int(m0_lib), int(shift_lib)) == (m0, shift)
np.testing.assert_array_equal(q_y, R.requantize(acc, m0, shift, Z_y))
print("scratch == minicomp.kernels.reference.requantize")

# %% [markdown]
# What to conclude: one integer multiply, one add and one shift give the
# rounded $acc \cdot M$ of the printed float row (ties at .5 going up),
# clamped to uint8 — the same integers as the library's reference.
#
# ### From the reference to the fast kernel
#
# `reference.int8_linear` is the two steps above in NumPy, summing in int64
# and checking the result fits int32. The fast kernel
# (`minicomp.kernels.int8`) gives bit-identical integers: it accumulates
# in int32 (Numba would otherwise promote to int64 and halve the vector
# width), folds $Z_x$ into the bias, and — where the CPU has it — uses the
# VNNI instruction `vpdpbusd`, which multiplies 64 uint8 × int8 pairs and
# adds them into 16 int32 sums in one step. `minicomp.deploy.Int8Dense`,
# the layer (it turns the scales into `m0, shift`), packs the weights once
# into an `Int8Kernel` and runs it. (Names: a layer is a `…Dense`; a kernel,
# integers only, is a `…_linear` function or a `…Kernel` object.)

# %%
from minicomp.deploy import Int8Dense
from minicomp.kernels import int8 as K8

W_l = rng.standard_normal((1024, 1024)).astype(np.float32) * 0.03
b_l = rng.standard_normal(1024).astype(np.float32) * 0.1
X_l = np.abs(rng.standard_normal((32, 1024))).astype(np.float32)
S_x, Z_x = float(X_l.max()) / 255, 0               # inputs >= 0 (after ReLU)
S_wl = np.abs(W_l).max(axis=1) / 127               # (out,) per channel
w_q = np.round(W_l / S_wl[:, None]).astype(np.int8)
bias_q = np.round(b_l / (S_x * S_wl)).astype(np.int32)
Y_f = X_l @ W_l.T + b_l
S_y, Z_y = float(Y_f.max() - Y_f.min()) / 255, 0
Z_y = int(round(-float(Y_f.min()) / S_y))
m0_l, shift_l = R.quantize_multiplier(S_x * S_wl / S_y)
x_q = np.clip(np.round(X_l / S_x) + Z_x, 0, 255).astype(np.uint8)

y_ref = R.int8_linear(x_q, Z_x, w_q, bias_q, m0_l, shift_l, Z_y)
y_fast = K8.int8_linear(x_q, Z_x, w_q, bias_q, m0_l, shift_l, Z_y)
layer = Int8Dense(w_q, bias_q, S_x, Z_x, S_wl, S_y, Z_y)
np.testing.assert_array_equal(y_ref, y_fast)
np.testing.assert_array_equal(y_ref, layer(x_q))
err = np.abs(S_y * (y_ref.astype(float) - Z_y) - Y_f).max()
print(f"bit-exact; max |dequantized - float| = {err:.4f} (S_y = {S_y:.4f})")

t_ref = us(lambda: R.int8_linear(x_q, Z_x, w_q, bias_q, m0_l, shift_l, Z_y),
           samples=2)
t_f32 = us(lambda: X_l @ W_l.T + b_l)
t_i8 = us(lambda: layer(x_q))
print(f"reference {t_ref:.0f} us | float32 BLAS {t_f32:.0f} us | "
      f"int8 kernel {t_i8:.0f} us ({t_f32 / t_i8:.1f}x BLAS)")

# %% [markdown]
# What to conclude: the same integers, three speeds (one run): the
# reference is for reading, the kernel for running, and the printed
# ratio to float32 BLAS is what int8 buys on this CPU.

# %% [markdown]
# ## 7. A whole model: `to_inference`
#
# `minicomp.deploy.to_inference` turns what the library produces into one
# inference-only model: a pruned `MLP` into a chain of `SparseDense`
# layers (masks from `W.mask`, or a dict), a `QuantizedMLP` (chapter 03)
# into a chain of the `Int8Dense` layers above — ReLUs fused — whose
# predictions match the float (or simulated) model. Here we train the
# baseline on digits for a few epochs, keep the largest 20 % of each
# layer's weights, and compare; `model.nbytes` is the CSR storage
# (`minicomp.metrics.storage_bytes`).

# %%
from minicomp import MLP, fit
from minicomp.data import load_digits
from minicomp.deploy import to_inference
from minicomp.metrics import storage_bytes
from minicomp.prune.mask import apply_mask, mask_from_scores
from minicomp.quant import quantize_mlp
from minicomp.train import evaluate, predict

X_train, y_train, X_test, y_test = load_digits()
net = MLP([64, 64, 64, 10], seed=0)
fit(net, X_train, y_train, lr=0.1, epochs=15, quiet=True, seed=0)
acc_dense = evaluate(net, X_test, y_test)["accuracy"]
for layer in net.layers[::2]:                      # the Dense layers
    apply_mask(layer.W, mask_from_scores(np.abs(layer.W.data), 0.8))
model = to_inference(net)
print(model)
y_hat = model.predict(X_test.astype(np.float32))
np.testing.assert_allclose(y_hat, predict(net, X_test), rtol=1e-4,
                           atol=1e-5)
print(f"accuracy: dense {acc_dense:.3f}, 80% pruned (no fine-tuning) "
      f"{(y_hat.argmax(1) == y_test).mean():.3f}")
print(f"weights: {model.nbytes:,} bytes vs {storage_bytes(net):,} dense")

# %% [markdown]
# The same call on the (pruned) net quantized to 8 bits, chapter 03's
# integer-only model: `Int8Dense` layers, float in, float out.

# %%
model8 = to_inference(quantize_mlp(net, X_train[:512]))
print(model8)
acc8 = (model8.predict(X_test).argmax(1) == y_test).mean()
print(f"int8 accuracy {acc8:.3f}, {model8.nbytes:,} bytes")

# %% [markdown]
# What to conclude: pruning without fine-tuning costs the printed
# accuracy (chapter 2 fine-tunes it back), the CSR model stores the
# printed fraction of the dense bytes, and the int8 model's accuracy
# stays close to the pruned float model's.

# %% [markdown]
# ## 8. Summary
#
# - A dense product costs the same with or without zeros; int8 arrays in
#   NumPy are slow *and* overflow. Compression pays only with kernels that
#   use the format.
# - **CSR** stores values, column indices (narrowest unsigned type) and row
#   pointers; $Y_{b,i} = \sum_k \mathrm{data}_k X_{b,\mathrm{indices}_k}$.
# - The sparse kernel has two designs (gather-dot for batch < 4, AXPY
#   across the batch above), runs serially on small products, and
#   beats BLAS only past a high crossover sparsity (printed in
#   section 5).
# - **int8**: accumulate in int32 ($255 \cdot 128 \cdot 65{,}536 < 2^{31}$),
#   requantize with $M = 2^{-n} M_0$ as one multiply, one add and one shift
#   — bit-exact against the reference.
# - `to_inference` turns a pruned `MLP` or a `QuantizedMLP` into a model
#   on these kernels; `minicomp bench kernels` measures all of it against
#   BLAS, scipy and torch.
#
# ## Exercises
#
# 1. Measure the crossover for batch 256 on 784→300. Is it earlier or later
#    than for batch 32, and why (think about how much of $X^\top$ fits in
#    the cache)?
# 2. Change `csr_matmul_scratch` to store *column* indices as `int64` and
#    count the bytes of a 4096×4096 layer at 90 % sparsity in both index
#    types. How much of the CSR size is indices?
# 3. For in_features = 784 and uint8 activations with $Z_x = 0$, what is the
#    largest `|bias_q|` for which the int32 accumulator cannot overflow?
#    Check your bound with `reference.int8_accumulate`.
# 4. Requantize with `shift` one smaller than `quantize_multiplier` says
#    (and `m0` halved). Which outputs change, and by how much?
