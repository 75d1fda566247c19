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
# *Why zeros and small integers do not speed anything up by themselves, the
# two kernels that make them pay (a sparse CSR product and an int8 product
# with int32 accumulators), how the library picks among several designs of
# each by measuring them, and how a whole small model runs in one call.*
#
# ## 1. The idea
#
# Pruning (chapter 2) sets most weights to zero; quantization stores them as
# 8-bit integers. Both shrink the *file*. Whether they make the model
# *faster* depends only on the code that multiplies: a dense float32 matrix
# product does exactly the same work whether a weight is 0.37 or 0.0, and
# NumPy has no fast product for int8 arrays at all. So we write the kernels
# ourselves — each first as a short loop you can read
# (`minicomp/kernels/reference.py`), then as a compiled Numba kernel with
# the same signature (`minicomp/kernels/sparse.py`, `int8.py`) — and
# measure them against the libraries you would otherwise use.
#
# **How we time.** This course runs on shared machines: a call that needs
# two cores often waits for one that another process holds, and a
# 2-thread time then measures the scheduler, not the code. So every time
# below runs on **one thread** (BLAS and Numba alike: a per-core
# comparison) and is printed as the **median of 7 samples
# [fastest–slowest]**, each sample at least 1 ms of calls (short samples
# are less often interrupted by another process); conclusions use the
# median. `minicomp bench kernels` measures the threaded designs too.
# The dispatcher's decisions are kept in memory only
# (`MINICOMP_DISPATCH_CACHE=off`, set before minicomp is imported), so the
# notebook writes no cache file.

# %%
import os

os.environ["MINICOMP_DISPATCH_CACHE"] = "off"  # decisions in memory only

import time

import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter, LogLocator
import numba
import numpy as np
from threadpoolctl import threadpool_limits    # ships with scikit-learn

from minicomp.bench.timing import cpu
from minicomp.kernels import reference as R
from minicomp.kernels import sparse as S

threadpool_limits(limits=1, user_api="blas")   # one BLAS thread
numba.set_num_threads(1)                       # one Numba thread
rng = np.random.default_rng(0)
print("CPU:", cpu())   # every time below is from this machine


def times_us(fn, repeats=7, min_sample=1e-3):
    # microseconds per call of fn() in `repeats` samples, each sample
    # running fn() enough times to last >= min_sample seconds
    fn()                                   # compile / warm up, untimed
    t0 = time.perf_counter()
    fn()
    number = max(1, int(min_sample / max(time.perf_counter() - t0, 1e-7)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number * 1e6)
    return np.array(samples)


def show(t):
    # "median [fastest-slowest]" of the samples, in microseconds
    return f"{np.median(t):8.1f} us [{t.min():.1f}-{t.max():.1f}]"


def spread(*ts):
    # the widest (slowest - fastest) / median among the timings ts
    return max((t.max() - t.min()) / np.median(t) for t in ts)


# %% [markdown]
# What to conclude: the feature list decides which int8 paths exist on
# this machine (section 8): `avx512_vnni` or `avx_vnni` for the VNNI
# path, `avx2` for the `madd` path; the portable path runs anywhere.


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

t_dense = times_us(lambda: X @ W.T)
t_zeros = times_us(lambda: X @ W_90.T)
print(f"dense W          {show(t_dense)}")
print(f"W with 90% zeros {show(t_zeros)}")
print(f"ratio of medians {np.median(t_dense) / np.median(t_zeros):.2f}")

# %% [markdown]
# What to conclude: the ratio of the medians is close to 1 (read the
# spreads: the two ranges overlap or nearly so) — nine zeros in ten
# change nothing for BLAS.

# %% [markdown]
# > **What the seed sample gets wrong (seed 000, sections 2 and 4.3).**
# > The seed says pruning "删除不重要的神经元或权重，减少模型的复杂度，从而
# > 提高模型的效率" — *deletes unimportant neurons or weights, reducing the
# > model's complexity and thereby raising its efficiency*. Its sample
# > `prune(model, 0.01)` calls a `get_pruned()` method that Keras layers do
# > not have (`hasattr` is false, so the loop silently does nothing); what
# > it means — magnitude pruning with threshold 0.01, weights set to zero in
# > place — is run below (a NumPy translation) on its own 784-64-64-10
# > network. The zeros are there; the time of the forward pass is not
# > smaller.

# %%
# the seed's network, weights as Keras would initialise them (Glorot)
sizes = [784, 64, 64, 10]
Ws = [(rng.uniform(-1, 1, (o, i)).astype(np.float32) * np.sqrt(6 / (i + o)),
       np.zeros(o, np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]
X_seed = rng.standard_normal((32, 784)).astype(np.float32)


def forward(params, X):
    # a float MLP in plain NumPy: [(W, b), ...], ReLU between layers
    for k, (W_k, b_k) in enumerate(params):
        X = X @ W_k.T + b_k                                # (B, out)
        X = np.maximum(X, 0) if k < len(params) - 1 else X
    return X


t_before = times_us(lambda: forward(Ws, X_seed))
for W_k, _ in Ws:                   # the seed's prune(model, 0.01)
    W_k[np.abs(W_k) < 0.01] = 0
zeros = (sum((W_k == 0).sum() for W_k, _ in Ws)
         / sum(W_k.size for W_k, _ in Ws))
t_after = times_us(lambda: forward(Ws, X_seed))
print(f"{zeros:.1%} of the weights are now zero")
print(f"forward before {show(t_before)}")
print(f"forward after  {show(t_after)}")

# %% [markdown]
# What to conclude: the seed's threshold zeroes only the printed share of
# this network's weights, and the forward pass takes about as long as
# before (compare the two medians against their spreads) — just as the
# matrix that is 90 % zeros (above) runs at the dense speed. Speed needs a
# format that does not store the zeros, and a kernel that skips them.

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
            data.append(float(w))
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
# What to conclude: the hand-built arrays equal the library's `to_csr`;
# the empty row costs one repeated pointer and nothing else. (On a 3×4
# matrix CSR already saves bytes, printed; on a bigger, denser one it
# need not.)
#
# The index arrays use the **narrowest unsigned type** that holds them:
# `uint8` here, `uint16` for a 784-input layer (columns up to 783),
# `uint32` beyond 65,536 inputs. A CSR entry then costs 4 + 2 bytes, not
# 4 + 8, and for a 784-input layer CSR is smaller than the dense matrix
# below 2/3 density (4·in bytes per dense row against 6·nnz). Unsigned
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
# that is the printed factor smaller than the dense matrix, less than the
# 10× the zeros alone would suggest.
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
# What to conclude: the three agree to float rounding (they add in
# different orders), so from here on only speed differs.
#
# ## 4. Several designs for one formula
#
# **Small batches: row gather-dot** (`rowdot_*`). For each output row,
# walk its stored entries and *gather* `x[indices[k]]`. What makes it
# fast:
#
# - **unsigned indices** — with a signed index Numba must handle Python's
#   negative indexing (`x[-1]`), a test and a fix-up per access; with
#   `uint16`/`uint32` indices and loop counters it cannot be negative;
# - **four accumulators** — four independent sums instead of one chain,
#   so the additions overlap;
# - **no `fastmath` reordering** — it would let LLVM emit a vector
#   *gather* instruction, which is not always faster than scalar loads.
#
# **Larger batches: AXPY across the batch** (`axpy_*`). With $X^\top$
# (in, B) contiguous, output row $i$ is
# $\sum_k \mathrm{data}_k X^\top[\mathrm{indices}_k, :]$ — each stored
# weight updates a whole contiguous vector of B outputs, which vectorizes
# perfectly, but $X$ must be transposed first. Outputs are computed in
# tiles of 16 and written as short rows.
#
# Each design also exists in a parallel form (threads split the outputs
# or the batch). Which one is fastest is **not** decided by a rule: the
# first call on a new shape measures the candidates (section 6). The
# candidates, in preference order, for a few batch sizes on two threads
# and on the one thread of this notebook:

# %%
for batch in (1, 4, 32, 256):
    print(f"B={batch:<4} 2 threads: {S.candidates(batch, threads=2)}")
    print(f"{'':7}1 thread:  {S.candidates(batch, threads=1)}")

# %% [markdown]
# What to conclude: at batch 1 only the row gather-dot is a candidate;
# at batch 4 and 32 both are, the AXPY design first (this order is only
# the tie-breaker: section 6 measures); serial designs always come before
# parallel ones (a parallel design must be measurably faster to hold a
# second core). On one thread only the serial designs remain.

# %% [markdown]
# ## 5. Measured: speed-up versus sparsity, and the crossover
#
# A small live grid (1024→1024, batch 1 and 32): float32 BLAS, scipy's CSR
# and ours, through `minicomp.deploy.SparseDense` (a CSR layer that
# validates its arrays once, not on every call). One matrix per sparsity;
# each time the median of 7 samples. (`minicomp bench kernels` runs the
# full grid of the issue, with torch and threads.)

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
        t = [times_us(lambda: X_b @ W_s.T),
             times_us(lambda: (W_sp @ X_b.T).T),
             times_us(lambda: layer(X_b))]
        t_blas, t_scipy, t_ours = (np.median(t_k) for t_k in t)
        speedup[B].append(t_blas / t_ours)
        print(f"B={B:<3} s={s:<5} BLAS {t_blas:6.1f} us  scipy "
              f"{t_scipy:6.1f}  ours {t_ours:6.1f}  BLAS/ours "
              f"{t_blas / t_ours:5.2f}  (spread <= {spread(*t):.0%})")

# %% [markdown]
# What to conclude, reading the rows: BLAS takes about the same time at
# every sparsity (it does the same work), while scipy's and our CSR
# kernels get faster as the zeros grow; the last column says how far a
# median could move within its 7 samples. Where the sparse kernel
# overtakes BLAS is plotted next.

# %% [markdown]
# **The cost around the call.** At batch 1 and 99 % sparsity a 784→300
# layer has about 2,400 stored weights: a microsecond or so of
# arithmetic. Python around the kernel (checking the arrays, computing
# the dispatch key, looking the decision up, allocating the output) can
# cost as much or more. `sparse_linear` pays all of it on every call;
# `S.SparseKernel(csr)` (what `SparseDense` holds) checks the CSR once
# and remembers each batch size's design, so a call is the input check,
# the allocation and the compiled call.

# %%
from minicomp.kernels import dispatch

W_99 = np.where(rng.random((300, 784)) < 0.99, 0,
                rng.standard_normal((300, 784))).astype(np.float32)
A_99 = S.to_csr(W_99)
kernel_99 = S.SparseKernel(A_99)
x_1 = rng.standard_normal((1, 784)).astype(np.float32)
kernel_99(x_1)                                   # decides the design
chosen = dispatch.explain()[-1]["winner"]
A_k, y_1 = S.kernel_arrays(A_99), np.empty((1, 300), np.float32)
extra = S.design_args(chosen, 1, 784)
calls = {"the compiled design alone": lambda: S.KERNELS[chosen](
             x_1, A_k.data, A_k.indices, A_k.indptr, y_1, *extra),
         "SparseKernel (the layer's)": lambda: kernel_99(x_1),
         "sparse_linear, CSR checked": lambda: S.sparse_linear(x_1, A_99),
         "BLAS, dense": lambda: x_1 @ W_99.T}
per_call = {name: np.median(times_us(fn)) for name, fn in calls.items()}
for name, us in per_call.items():
    print(f"{name:<28} {us:6.2f} us")
assert np.allclose(kernel_99(x_1), x_1 @ W_99.T, atol=1e-4)

# %% [markdown]
# What to conclude: compare the first two lines (what the layer adds to
# the compiled kernel) with the third (what a one-off call adds), and
# all three with BLAS's time. At this size the Python around a call is
# a large share of the total, so whether the sparse layer beats the
# dense one at batch 1 depends on keeping that share small, not only on
# the kernel (one run; the design is this machine's choice).


# %%
def crossover(xs, ratios):
    # first x where ratio >= 1, by linear interpolation in log(ratio)
    r = np.log(ratios)
    for k in range(1, len(r)):
        if r[k - 1] < 0 <= r[k]:
            t = -r[k - 1] / (r[k] - r[k - 1])
            return xs[k - 1] + t * (xs[k] - xs[k - 1])
    return None if r[-1] < 0 else xs[0]


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
ax.set_ylabel("speed-up over float32 BLAS (medians)")
ax.set_title("1024→1024, one thread: CSR kernel vs dense matmul")
ax.legend()
plt.show()

# %% [markdown]
# What to conclude: below the printed crossover the sparse kernel is
# *slower* than BLAS — a dense product streams memory perfectly and uses
# every vector lane, while CSR pays for an index per weight and irregular
# loads. Unstructured sparsity pays only past that crossover, a high
# sparsity, which is why pruning papers report 90 %+. Compare the two
# printed crossovers: the batch changes where sparsity starts to pay (one
# matrix per cell; the medians, not single runs). Our kernel is also
# compared with scipy's CSR product in each printed row: same format,
# different kernel.

# %% [markdown]
# ## 6. Choosing a design by measurement
#
# ### The idea: a threshold tuned on one CPU is wrong on another
#
# The row gather-dot and the AXPY design compute the same $Y$. Their costs
# per example, roughly:
#
# $$t_\text{rowdot}(B) \approx B\,\mathrm{nnz}\;c_\text{gather},\qquad
# t_\text{axpy}(B) \approx B\,\text{in}\;c_\text{transpose}
# + \mathrm{nnz}\,\big(c_\text{row} + B\,c_\text{vector}\big),$$
#
# so the AXPY design pays a transpose and a fixed cost per stored weight,
# then gains from vector lanes as $B$ grows. Where the two cross depends
# on $c_\text{gather}$ (how fast the CPU gathers scattered floats),
# $c_\text{vector}$ (its vector width), the caches — and the layer. A
# library that writes "AXPY from batch 4" has measured these constants on
# *one* CPU. We measure both designs here, calling the two Numba
# functions directly, on the 784→300 layer at 90 % sparsity.

# %%
A_k = S.kernel_arrays(A_784)          # the index dtypes the kernels take
designs2 = {name: S.KERNELS[name] for name in ("rowdot_serial",
                                                "axpy_serial")}


def run(name, X_b, A=A_k):
    Y = np.empty((X_b.shape[0], A.shape[0]), np.float32)      # (B, out)
    designs2[name](X_b, A.data, A.indices, A.indptr, Y)
    return Y


BATCHES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
per_example = {name: [] for name in designs2}       # us per example
for batch in BATCHES:
    X_b = rng.standard_normal((batch, 784)).astype(np.float32)
    t = {}
    for name in designs2:
        t[name] = times_us(lambda: run(name, X_b))
        per_example[name].append(np.median(t[name]) / batch)
    r, a = per_example["rowdot_serial"][-1], per_example["axpy_serial"][-1]
    print(f"B={batch:<3} us/example: rowdot {r:5.2f}  axpy {a:5.2f}  "
          f"faster: {'rowdot' if r < a else 'axpy':<6}  "
          f"fixed rule: {S.choose_kernel(batch, threads=1):<13} "
          f"(spread <= {spread(*t.values()):.0%})")
ratio = (np.array(per_example["rowdot_serial"])
         / np.array(per_example["axpy_serial"]))
cross = crossover(BATCHES, ratio)
print("AXPY overtakes row-dot from batch",
      f"~{cross:.1f}" if cross else "(not in this grid)")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, t in per_example.items():
    ax.plot(BATCHES, t, "o-", label=name)
ax.axvline(4, color="gray", lw=1, ls="--", label="fixed rule: AXPY from 4")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xticks(BATCHES, [str(b) for b in BATCHES])
ax.minorticks_off()
ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
ax.set_xlabel("batch size")
ax.set_ylabel("us per example (median of 7)")
ax.set_title("784→300 at 90 % sparsity: two designs, one thread")
ax.legend()
plt.show()

# %% [markdown]
# What to conclude: on this CPU the two curves cross at the printed batch
# (the "faster" column says which design wins each batch, the "fixed
# rule" column what a constant would have run). Wherever the two columns
# disagree, the constant costs the printed difference in time per
# example; a CPU with slower gathers or wider vectors moves the
# crossover, and the constant with it. So the library does not guess: it
# measures.
#
# ### The rule, from scratch
#
# Run every candidate once untimed (compilation must not count), then
# time them in *interleaved* rounds (d1 d2 d1 d2 …, so a burst of load
# from another process hits both alike), take each design's median $m_d$,
# and keep the **first** design, in a preference order, within a margin
# of the best:
#
# $$\mathrm{winner} = \text{first } d \text{ with }
# m_d \le (1 + \text{margin}) \min_e m_e .$$
#
# The margin makes near-ties go to the design listed first (the safer
# one: serial before parallel), not to whichever the noise favoured.

# %%
def pick(medians, margin=0.1):
    # the first design (dict order) within `margin` of the fastest
    best = min(medians.values())
    return next(n for n, m in medians.items() if m <= (1 + margin) * best)


def choose_scratch(designs, repeats=5, margin=0.1):
    for fn in designs.values():
        fn()                                  # compile: never timed
    t = {name: [] for name in designs}
    for _ in range(repeats):                  # interleaved rounds
        for name, fn in designs.items():
            t0 = time.perf_counter()
            fn()
            t[name].append(time.perf_counter() - t0)
    medians = {name: float(np.median(v)) for name, v in t.items()}
    return pick(medians, margin), medians


scratch_winner = {}
for batch in (1, 32):
    X_b = rng.standard_normal((batch, 784)).astype(np.float32)
    calls = {name: (lambda name=name: run(name, X_b)) for name in designs2}
    winner, medians = choose_scratch(calls)
    scratch_winner[batch] = winner
    print(f"B={batch:<3}", {n: f"{m * 1e6:.1f} us" for n, m in
                            medians.items()}, "->", winner)

# %% [markdown]
# What to conclude: five timed calls per design (a few milliseconds in
# all here) are enough to pick a winner per batch; the printed winners
# should agree with the sides of the crossover measured above (a batch
# near the crossover is a near-tie and may go either way — harmless,
# since the two designs are then about equally fast).
#
# ### With the library: `dispatch.choose` and `explain`
#
# `minicomp.kernels.dispatch.choose(family, key, designs)` is the same
# rule (margin `dispatch.MARGIN`, medians of interleaved rounds after a
# warm-up round, rounds sized to a budget of `dispatch.BUDGET` seconds),
# plus memory: the winner is
# remembered for `(family, key)` — in this process, and normally in a
# small JSON file next to Numba's cache, keyed by the CPU, so the next
# process does not measure again (here the file is off). The key holds
# *bucketed* facts of the call: shape, `batch_bucket` (the next power of
# two) and `density_bucket` (−log2 of the stored fraction, to a half).
# `explain()` lists every decision with the times behind it.

# %%
from minicomp.kernels import dispatch

print("margin", dispatch.MARGIN, "| budget per decision",
      dispatch.BUDGET, "s")
for batch in (1, 32):
    X_b = rng.standard_normal((batch, 784)).astype(np.float32)
    calls = {name: (lambda name=name: run(name, X_b)) for name in designs2}
    key = (300, 784, dispatch.batch_bucket(batch),
           dispatch.density_bucket(A_784.nnz, W_784.size))
    winner = dispatch.choose("chapter07", key, calls)
    d = dispatch.explain()[-1]
    print(f"B={batch:<3} key {d['key']}: winner {winner} "
          f"({d['source']}), scratch rule chose {scratch_winner[batch]}")
    print("      times:", {n: f"{t * 1e6:.1f} us"
                           for n, t in d["times"].items()})
    assert winner == pick(d["times"], dispatch.MARGIN)  # the same rule
    assert dispatch.choose("chapter07", key, calls) == winner  # remembered

# %% [markdown]
# What to conclude: applied to the library's own measured times, our
# `pick` chooses the library's winner (asserted) — the rule is the same;
# whether the two processes of measurement agree is printed beside it
# (near-ties may differ, for the reason above). A second call with the
# same key measures nothing.
#
# `sparse_linear` calls `choose` itself, with the candidates of section 4.
# The variable `MINICOMP_KERNEL=family:name` forces a design (for
# experiments, or to rule the dispatcher out when chasing a bug):

# %%
X_2 = rng.standard_normal((2, 784)).astype(np.float32)
Y_auto = S.sparse_linear(X_2, A_784)
print({k: dispatch.explain()[-1][k] for k in ("family", "key", "winner",
                                               "source")})
os.environ["MINICOMP_KERNEL"] = "sparse:axpy_serial"
Y_forced = S.sparse_linear(X_2, A_784)
print({k: dispatch.explain()[-1][k] for k in ("family", "winner",
                                               "source")})
del os.environ["MINICOMP_KERNEL"]
np.testing.assert_allclose(Y_auto, Y_forced, rtol=1e-5, atol=1e-5)

# %% [markdown]
# What to conclude: the first call on this (shape, batch bucket, sparsity
# bucket, threads, index width) key was measured — the printed `source` —
# and the forced call ran the named design whatever the measurement
# said; the two outputs agree.

# %% [markdown]
# **Which near-ties the margin should decide.** The margin has one
# reason: a parallel design holds a second core and can stall, so a
# serial design within the margin keeps the call. Between two parallel
# designs (AXPY split over the batch or over the outputs; the int8
# kernel's K-blocked and unblocked loops), or two serial ones, that reason
# is gone, and keeping the first listed only throws away what was
# measured. So the library's kernels also tell `choose` which designs
# start threads (`threaded=`; a sparse layer passes `S.PARALLEL`): the
# fastest design wins, unless one without threads is within the margin
# of it (then the fastest of those). From scratch, checked against the
# library on three toy designs that sleep (this chapter runs one Numba
# thread, so its real layers have no parallel candidate here):

# %%
def pick_threaded(medians, threaded, margin=0.1):
    # the fastest; a design without threads keeps a near-tie
    best = min(medians.values())
    near = {n: m for n, m in medians.items() if m <= (1 + margin) * best}
    calm = {n: m for n, m in near.items() if n not in threaded}
    pool = calm or medians
    return min(pool, key=pool.get)


toys = {"serial": lambda: time.sleep(6e-4),
        "split_a": lambda: time.sleep(5e-4),
        "split_b": lambda: time.sleep(4.6e-4)}
winner = dispatch.choose("toy_threads", (1,), toys,
                         threaded={"split_a", "split_b"})
d = dispatch.explain()[-1]
print({n: f"{t * 1e6:.0f} us" for n, t in d["times"].items()},
      "->", winner)
assert winner == pick_threaded(d["times"], {"split_a", "split_b"})
print("first within the margin (no threaded= given):",
      pick(d["times"], dispatch.MARGIN))

# %% [markdown]
# What to conclude: the library's winner is the scratch rule's
# (asserted). The last line is what the plain rule picks from the same
# times: the first listed design within the margin, which keeps
# `split_a` whenever it measured within 10 % of `split_b` although
# `split_b` was faster. The sleeps are not exact, so which line wins
# can vary from run to run; the two rules themselves do not.

# %% [markdown]
# **When the measurement was unlucky.** On a shared or virtual machine a
# parallel design sometimes waits milliseconds for a descheduled thread.
# `choose` guards against that in three ways: a measurement in which a
# design stalled (one run over `dispatch.STALL` times its median and over
# `dispatch.STALL_MIN` seconds) is repeated once; a decision made while
# a design stalled stays in this process and is not written to the file;
# and `dispatch.observe` watches the calls of a winner: once
# `dispatch.WATCH` calls and `dispatch.WATCH_S` seconds of them have
# been seen (so that one stall among the first calls of a fast design is
# not the verdict), if their mean exceeds the time measured for a design
# the caller prefers (listed before it: a serial one), the winner is
# banned and the next call decides again. Two toy
# designs show the last rule: "serial" takes 0.3 ms, "parallel" nothing
# while measured, then its calls report 0.5 ms each (stalls).

# %%
toy = {"serial": lambda: time.sleep(3e-4), "parallel": lambda: None}
print("winner:", dispatch.choose("toy", (1,), toy))
calls = 0
while dispatch.remembered("toy", (1,)) == "parallel":
    dispatch.observe("toy", (1,), 5e-4)          # a call that took 0.5 ms
    calls += 1
print(f"banned after {calls} slow calls ({calls * 0.5:.0f} ms of them):",
      dispatch.explain()[-1]["source"])
print("decided again:", dispatch.choose("toy", (1,), toy))

# %% [markdown]
# What to conclude: the parallel design won the measurement, but once
# its calls averaged more than the serial design's measured time it was
# dropped (`source` "stalled"), and the next decision left it out. A
# `SparseKernel` (what `SparseDense` holds) and a fused model report
# their calls this way when their design is a parallel one.
#
# **Threads that are not ours.** A parallel design needs every core, and
# this process may have other threads still running: after each product,
# OpenBLAS (NumPy's BLAS) keeps its worker threads spinning for a while in
# case another product follows. A measurement taken then finds the
# parallel designs slow for a reason that has nothing to do with them.
# From scratch, the probe is one line of arithmetic: sleep a few
# milliseconds and see how much CPU time the *process* used meanwhile —
# the sleeping thread uses none, so whatever was used came from the others.

# %%
def busy_cores(seconds=2e-3):
    # cores the process's other threads kept busy while this one slept
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


A_big = rng.standard_normal((256, 1024)).astype(np.float32)
B_big = rng.standard_normal((1024, 1024)).astype(np.float32)
print(f"before a product: {busy_cores():.2f} cores busy")
# this chapter runs BLAS on one thread (top); a program by default uses all
with threadpool_limits(limits=os.cpu_count(), user_api="blas"):
    A_big @ B_big                                    # a NumPy product
    t_start, trace = time.perf_counter(), []
    while time.perf_counter() - t_start < 0.3:
        trace.append((1e3 * (time.perf_counter() - t_start), busy_cores()))
ms, busy = np.array(trace).T
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(ms, busy, ".-")
ax.set(xlabel="ms after a NumPy product", ylabel="other threads' cores",
       title="Busy threads left behind by one BLAS call")
plt.show()
busy_ms = ms[busy >= dispatch.QUIET]
print("last busy probe:", f"{busy_ms[-1]:.0f} ms after the product"
      if busy_ms.size else "none")
probe, in_a_row, limit = dispatch.SETTLE
print(f"dispatch waits for {in_a_row} quiet probes of {probe * 1e3:.0f} ms"
      f" in a row (under {dispatch.QUIET} busy cores), at most {limit} s")

# %% [markdown]
# What to conclude: the plot shows whether this machine's BLAS left
# threads spinning after the product and for how long (the printed last
# busy probe); a design timed during that window would be judged on a
# shared core. A spinning thread also yields now and then, so a single
# quiet probe proves nothing: `choose` runs the same probe before it
# measures and waits for the printed number of quiet probes in a row
# (at most the printed bound). If it
# never gets quiet — a program with its own busy threads — the decision
# is still made but kept in memory only, with `source` "busy", like a
# decision during which a design stalled.
#
# ### The guarantee: every design computes the same result
#
# Choosing by speed is safe only if the choice cannot change the answer.
# Every design is tested against the naive twin in
# `kernels/reference.py` (`reference_sparse.py` for the feature-major
# designs, which take and return activations transposed, (features,
# batch), the layout a model can keep between layers); here we check all
# of them, serial and parallel (the parallel ones split the work in two
# chunks even on one thread), at batch 9 and at batch 1.

# %%
from minicomp.kernels import reference_sparse as RS

for batch in (1, 9):
    X_b = rng.standard_normal((batch, 784)).astype(np.float32)
    Y_twin = R.sparse_linear(X_b, A_784)                    # (B, out)
    for name in [n for n in S.KERNELS if not n.startswith("fm")]:
        Y = np.empty_like(Y_twin)
        S.KERNELS[name](X_b, A_k.data, A_k.indices, A_k.indptr, Y,
                        *S.design_args(name, 2, 784))
        np.testing.assert_allclose(Y, Y_twin, rtol=1e-5, atol=1e-5)
    XT = np.ascontiguousarray(X_b.T)                        # (in, B)
    for name in ("fm_serial", "fm_parallel"):               # feature-major
        YT = np.empty((300, batch), np.float32)             # (out, B)
        S.KERNELS[name](XT, A_k.data, A_k.indices, A_k.indptr, YT,
                        *S.design_args(name, 2, 784))
        np.testing.assert_allclose(YT, RS.sparse_linear_fm(XT, A_784),
                                   rtol=1e-5, atol=1e-5)
print(f"all {len(S.KERNELS)} designs == their twins at batch 1 and 9")

# %% [markdown]
# What to conclude: the designs agree with the twin to float rounding
# (they add in different orders: allclose, not bit-equal); which one the
# dispatcher picks changes the time, never the answer beyond rounding.
# For int8 (section 8) the designs agree bit for bit.

# %% [markdown]
# ## 7. int8: integers that must not overflow
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
# > nothing happens). Done naively in NumPy (a translation) — cast to int8
# > and multiply — it is both **wrong** (NumPy keeps int8 · int8 in int8,
# > so sums wrap) and **slow** (there is no integer BLAS: `np.matmul` on
# > integers is a plain loop).

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
t_f32 = times_us(lambda: X_f @ W_f.T)
t_i32 = times_us(lambda: X_i8.astype(np.int32) @ W_i8.T.astype(np.int32),
                 repeats=3)
print(f"float32 BLAS    {show(t_f32)}")
print(f"int32 np.matmul {show(t_i32)}")
print("int32 / float32 (medians):",
      f"{np.median(t_i32) / np.median(t_f32):.1f}x")

# %% [markdown]
# What to conclude: the naive product is wrong (the printed share of
# entries wrapped) and slower than float by the printed factor (medians;
# the ranges do not come near each other): integers pay only with a
# kernel that accumulates in int32.

# %% [markdown]
# ### Requantization with $M = 2^{-n} M_0$, step by step
#
# The accumulator is int32, the output uint8: we must multiply by the real
# $M$ (a small number: 0.0016 in the example below) *without floating
# point*. Jacob et al. write $M = 2^{-n} M_0$ with $M_0 \in [0.5, 1)$,
# store $M_0$ as a 31-bit integer $m_0 = \mathrm{round}(M_0 \cdot 2^{31})$,
# and apply it as one integer multiply and one shift by
# $\text{shift} = 31 + n$, adding $2^{\text{shift}-1}$ first so the shift
# rounds half up:
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
# in int32, folds $Z_x$ into the bias
# ($\beta_i = q_{b,i} - Z_x \sum_j w_{ij}$, once, when it is built), and —
# where the CPU has it — uses the VNNI instruction `vpdpbusd`, which
# multiplies 64 uint8 × int8 pairs and adds them into 16 int32 sums in
# one step. `minicomp.deploy.Int8Dense`, the layer (it turns the scales
# into `m0, shift`), packs the weights once into an `Int8Kernel` and runs
# it. (Names: a layer is a `…Dense`; a kernel, integers only, is a
# `…_linear` function or a `…Kernel` object.)

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
S_y = float(Y_f.max() - Y_f.min()) / 255
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

t_ref = times_us(lambda: R.int8_linear(x_q, Z_x, w_q, bias_q, m0_l,
                                       shift_l, Z_y), repeats=3)
t_f32 = times_us(lambda: X_l @ W_l.T + b_l)
t_i8 = times_us(lambda: layer(x_q))
print(f"reference    {show(t_ref)}")
print(f"float32 BLAS {show(t_f32)}")
print(f"int8 kernel  {show(t_i8)}")
print(f"BLAS / int8 kernel (medians): "
      f"{np.median(t_f32) / np.median(t_i8):.1f}x")

# %% [markdown]
# What to conclude: the same integers, three speeds: the reference is for
# reading, the kernel for running, and the printed ratio of medians to
# float32 BLAS (one thread each) is what int8 buys on this CPU. The
# quantization error is below about one output step $S_y$ (printed
# beside it).

# %% [markdown]
# ## 8. K-blocking and packing
#
# ### The cache arithmetic
#
# The VNNI kernel computes a tile of batch rows × 64 outputs in
# registers: 6 rows where it can (24 of the 32 vector registers hold
# accumulators), then 4, then single rows. For each group of 4 inputs it
# reads the 64 outputs' 4 weight bytes each — 256 bytes — so one
# **panel** (64 outputs, all `in` inputs) is $64 \cdot \text{in}$ bytes,
# and it is read once per row tile, about $B/6$ times. If the panel fits
# in the L1 data cache, the rereads are
# nearly free; if not, each one streams it again from L2. **K-blocking**
# cuts the inputs into blocks of `kc` groups so a block (256·kc bytes)
# fills half of L1, and runs *every* row tile over one block before the
# next, adding into an int32 buffer. **Packing** stores the weights in
# exactly the order the kernel reads them (panel, group, vector, lane,
# byte), once, so every load is one contiguous 64-byte vector. The sizes,
# read from this machine:

# %%
from minicomp.kernels import vnni
from minicomp.kernels.dispatch_cache import cache_bytes   # Linux sysfs

L1, L2 = vnni.l1d_bytes(), cache_bytes(2)
kc = vnni.k_block()
print(f"tiles: 6, {vnni.MR} or 1 batch rows x {vnni.PANEL} outputs; "
      f"{vnni.PANEL} x 4 = {vnni.PANEL * 4} weight bytes per group")
print(f"L1 data {L1:,} bytes | L2 "
      + (f"{L2:,} bytes" if L2 else "unknown"))
for n_in_k in (64, 784, 1024):
    panel = 64 * n_in_k
    print(f"in={n_in_k:<5} panel {panel:7,} bytes = {panel / L1:5.2f} x L1")
print(f"k_block() = {kc} groups of 4 inputs -> a block is "
      f"{256 * kc:,} bytes = {256 * kc / L1:.2f} x L1")
W_packed = 1024 * 1024                           # bytes of a 1024² int8 W
print(f"whole 1024x1024 int8 W: {W_packed:,} bytes"
      + (f" = {W_packed / L2:.2f} x L2" if L2 else ""))

# %% [markdown]
# What to conclude: a 64-input layer's panel fits L1 many times over
# (nothing to block), while the panels of the 784- and 1024-input layers
# are the printed multiples of L1: without blocking, every row tile
# rereads them from L2. The block size `k_block()` is derived from the
# printed L1, not typed in; and the printed fraction of L2 says whether
# the whole packed 1024² matrix can stay in L2 between calls.
#
# ### From scratch: the packing order and a blocked sum
#
# Packing is a reshape and a transpose; we write it as the loop over the
# index it defines, `wp[p, k, j, lane, q] = W[64p + 16j + lane, 4k + q]`,
# and compare. Blocking changes only the order of an *integer* sum, so it
# cannot change the result: we check that too, on the layer above.

# %%
W_s8 = rng.integers(-128, 128, (128, 12), dtype=np.int8)  # (out, in)
wp, k4 = vnni.pack(W_s8)
wp_scratch = np.zeros((2, k4, 4, 16, 4), np.int8)   # (P, k4, j, lane, q)
for p in range(2):
    for k in range(k4):
        for j in range(4):
            for lane in range(16):
                for q in range(4):
                    wp_scratch[p, k, j, lane, q] = \
                        W_s8[64 * p + 16 * j + lane, 4 * k + q]
np.testing.assert_array_equal(wp, wp_scratch.ravel())
print("pack == the scratch loop; first 64-byte vector:",
      wp[:8].tolist(), "...")

x64, w64 = x_q.astype(np.int64), w_q.astype(np.int64)
acc_full = x64 @ w64.T                                    # (B, out)
kc_in = 4 * kc                                            # inputs per block
acc_blocked = sum(x64[:, k0:k0 + kc_in] @ w64[:, k0:k0 + kc_in].T
                  for k0 in range(0, w64.shape[1], kc_in))
np.testing.assert_array_equal(acc_full, acc_blocked)
print(f"K-blocked sum ({-(-w64.shape[1] // kc_in)} blocks of "
      f"{kc_in} inputs) == full sum")

# %% [markdown]
# What to conclude: the library's packing is exactly the index formula,
# and the blocked accumulation equals the unblocked one (integers add
# exactly in any order; the kernels wrap in int32, whose result is exact
# whenever the true sum fits — which the kernel proves when it is built).
#
# ### With the library: the int8 designs on one shape
#
# `Int8Kernel(...).designs(batch)` lists the designs measured for a
# batch: each CPU path (`vnni` with `vpdpbusd`, `madd` on AVX2, the
# portable `blocked`), serial or parallel, and for VNNI the K-blocked
# `_kb_` variants when `in` exceeds one block. `kernel(x_q, design=name)`
# runs one; `kernel.decisions` shows what the dispatcher chose. We time
# every design of every path this CPU has on the 1024→1024 layer at batch
# 32, each checked bit for bit against the reference output `y_ref`.

# %%
int8_times = {}
for path in ("blocked", "madd", "vnni"):
    try:
        kernel = K8.Int8Kernel(w_q, bias_q, Z_x, m0_l, shift_l, Z_y,
                               path=path)
    except RuntimeError as err:                # the CPU lacks the path
        print(f"{path}: {err}")
        continue
    for name in kernel.designs(x_q.shape[0]):
        np.testing.assert_array_equal(kernel(x_q, design=name), y_ref)
        int8_times[name] = t = times_us(lambda: kernel(x_q, design=name))
        gmacs = x_q.shape[0] * w_q.size / np.median(t) / 1e3
        print(f"{name:<16} {show(t)}  {gmacs:6.1f} GMAC/s")
kernel(x_q)                                    # the dispatcher decides
print("dispatcher chose, per batch bucket:", kernel.decisions)

# %% [markdown]
# What to conclude: every design gives the reference's integers (asserted
# above), so the choice is free; the printed medians rank the paths on
# this CPU, and the `_kb_` line against the unblocked one of the same
# path says what K-blocking buys at this shape (where the two ranges
# overlap, nothing measurable — the L2 stream kept up). The dispatcher's
# pick for `auto` is printed last: the fastest in its own measurement,
# except that a serial design within `dispatch.MARGIN` of a faster
# parallel one keeps the call (`threaded=`, section 6), so a parallel
# design a few percent faster in our timing need not be the one it picks.

# %% [markdown]
# ## 9. A whole model: `to_inference`
#
# `minicomp.deploy.to_inference` turns what the library produces into one
# inference-only model: a pruned `MLP` into a chain of `SparseDense`
# layers (masks from `W.mask`, or a dict), a `QuantizedMLP` (chapter 03)
# into a chain of the `Int8Dense` layers above — ReLUs fused — whose
# predictions match the float (or simulated) model. We train a 64-64-10
# MLP on digits for a few epochs, quantize it to 8 bits (calibrated on
# 512 training images), then keep the largest 20 % of each layer's
# weights (no fine-tuning) — for 3 seeds; `model.nbytes` is the storage
# of the inference model (`minicomp.metrics.storage_bytes`).

# %%
from minicomp import MLP, fit
from minicomp.data import load_digits
from minicomp.deploy import to_inference
from minicomp.metrics import storage_bytes
from minicomp.prune.mask import apply_mask, mask_from_scores
from minicomp.quant import quantize_mlp
from minicomp.train import evaluate, predict

X_train, y_train, X_test, y_test = load_digits()
X_test = X_test.astype(np.float32)
acc = {"float": [], "int8": [], "80% pruned": []}
for seed in (2, 1, 0):            # seed 0 last: its models are used below
    net = MLP([64, 64, 10], seed=seed)
    fit(net, X_train, y_train, lr=0.1, epochs=15, quiet=True, seed=seed)
    acc["float"].append(evaluate(net, X_test, y_test)["accuracy"])
    params = [(d.W.data.copy(), d.b.data.copy()) for d in net.layers[::2]]
    np.testing.assert_allclose(forward(params, X_test),
                               predict(net, X_test), rtol=1e-4, atol=1e-4)
    bytes_float = storage_bytes(net)
    model8 = to_inference(quantize_mlp(net, X_train[:512]))
    acc["int8"].append((model8.predict(X_test).argmax(1) == y_test).mean())
    for d in net.layers[::2]:                       # the Dense layers
        apply_mask(d.W, mask_from_scores(np.abs(d.W.data), 0.8))
    model = to_inference(net)
    y_hat = model.predict(X_test)
    np.testing.assert_allclose(y_hat, predict(net, X_test), rtol=1e-4,
                               atol=1e-5)
    acc["80% pruned"].append((y_hat.argmax(1) == y_test).mean())
print(model8)
print(model)
for name, a in acc.items():
    print(f"{name:<11} test accuracy {np.mean(a):.3f} ± {np.std(a):.3f}")
print(f"bytes (seed 0): float {bytes_float:,}, int8 {model8.nbytes:,}, "
      f"CSR {model.nbytes:,}")

# %% [markdown]
# What to conclude (mean ± std over 3 seeds): the int8 model's accuracy
# is within the printed spread of the float model's, in the printed
# bytes; pruning 80 % without fine-tuning costs the
# printed accuracy (chapter 2 fine-tunes it back), and its CSR model
# stores the printed bytes. The asserts show the CSR model computes what
# the masked net computes.

# %% [markdown]
# ## 10. Whole models in one call
#
# ### The idea: on a small model, the calls cost more than the work
#
# A 64→64 layer is 64·64 multiply-adds per example: at the GMAC/s
# printed in section 8, a tiny fraction of a microsecond of arithmetic
# at batch 1. Calling it from Python costs a fixed overhead per layer —
# argument checks, an output allocation, Numba checking the types of
# many arguments — and the model adds the input's quantization and the
# output's dequantization. A cost model per layer:
#
# $$t_\text{layer}(B) \approx t_0 + B \cdot \text{MACs} \cdot
# t_\text{MAC},$$
#
# with $t_0$ the per-call overhead. We estimate the arithmetic at batch 1
# from the time per example at batch 256 (where $t_0$ is shared by 256
# examples, so this *over*-estimates the arithmetic) and compare it with
# the time of one call at batch 1 (seed 0's int8 model).

# %%
def layer_inputs(model, X):
    # the codes entering each layer of an int8 model, plus the output
    codes = [model.quantize_input(X)]
    for d in model.layers:
        codes.append(d(codes[-1]))
    return codes


c1 = layer_inputs(model8, X_test[:1])                  # B = 1
c256 = layer_inputs(model8, X_test[:256])              # B = 256
t_layers = 0.0
for k, d in enumerate(model8.layers):
    t = times_us(lambda: d(c1[k])), times_us(lambda: d(c256[k]))
    t1, arith = np.median(t[0]), np.median(t[1]) / 256
    t_layers += t1
    print(f"layer {k} {d.w_q.shape[1]:>2}->{d.w_q.shape[0]:<2} "
          f"{d.w_q.size:5,} MACs: one call at B=1 {t1:5.2f} us, "
          f"arithmetic <= {arith:5.3f} us ({arith / t1:.0%}; "
          f"spread <= {spread(*t):.0%})")
last = model8.layers[-1]
t = (times_us(lambda: model8.quantize_input(X_test[:1])),
     times_us(lambda: (last.S_y * (c1[-1].astype(np.float64) - last.Z_y))
              .astype(np.float32)))
t_quant, t_deq = np.median(t[0]), np.median(t[1])
steps = {"quantize input": t_quant, "the layer calls": t_layers,
         "dequantize output": t_deq}
print(", ".join(f"{k} {v:.2f} us" for k, v in steps.items()),
      f"(medians; spread <= {spread(*t):.0%})")
print("largest step at B=1:", max(steps, key=steps.get))

# %% [markdown]
# What to conclude: at batch 1 each layer call costs many times its
# arithmetic (the printed percentages are the *most* the arithmetic can
# be), and quantizing the input (it also checks the input for NaN/inf)
# and dequantizing the output add the printed costs — the largest step
# is named last. Faster arithmetic cannot help here: the cure is fewer
# calls and fewer trips through NumPy.
#
# ### Keep the activations as codes between layers
#
# So run every layer in **one** compiled call: quantize the input once,
# and pass each layer's output *codes* straight to the next layer —
# the requantized uint8 codes are already its input (layer $k$'s
# $S_y, Z_y$ are layer $k+1$'s $S_x, Z_x$). The ReLU needs no float
# either: real 0 is the code $Z_y$, and $\max(r, 0)$ with
# $r = S_y(q - Z_y)$ is $S_y(\max(q, Z_y) - Z_y)$, so **ReLU is the lower
# clamp of the requantization at $Z_y$**:
#
# $$q_{k+1} = \mathrm{clamp}\Big(Z_y + \big\lfloor (a\, m_0 + 2^{s-1})
# / 2^{s} \big\rfloor,\ \ Z_y,\ 255\Big).$$
#
# Checked on every uint8 code for a zero point of 100 (any would do):

# %%
S_r, Z_r = 0.1, 100
q_all = np.arange(256)                                   # every code
r_all = S_r * (q_all - Z_r)                              # real values
q_relu = np.clip(np.rint(np.maximum(r_all, 0) / S_r) + Z_r, 0, 255)
np.testing.assert_array_equal(q_relu, np.maximum(q_all, Z_r))
print("quantize(relu(dequantize(q))) == max(q, Z_y) for all 256 codes")

# %% [markdown]
# What to conclude: the ReLU on reals and the clamp on codes agree on
# every code, so a whole int8 MLP is integers from the quantized input to
# the last layer's codes.
#
# ### From scratch: the integer chain in NumPy
#
# The whole model, from float input to the last codes, in a few lines of
# NumPy (int64, so nothing can wrap): quantize, then per layer the int32
# accumulator, the fixed-point multiply with rounding, the zero point, the
# clamp (the ReLU). It must equal the library's fused model **bit for
# bit** — codes, not floats.

# %%
def int_chain(model, X):
    first = model.layers[0]
    lo, hi = R.dtype_range(first.x_dtype)
    q = np.clip(np.rint(X.astype(np.float64) / first.S_x) + first.Z_x,
                lo, hi).astype(np.int64)                      # (B, in)
    for d in model.layers:
        acc = (q - d.Z_x) @ d.w_q.T.astype(np.int64)          # (B, out)
        acc += 0 if d.bias_q is None else d.bias_q
        m0, s = d.m0.astype(np.int64), d.shift.astype(np.int64)
        y = (acc * m0 + (np.int64(1) << (s - 1))) >> s       # round half up
        lo, hi = R.dtype_range(d.out_dtype)
        q = np.clip(y + d.Z_y, d.Z_y if d.relu else lo, hi)  # ReLU: clamp
    return q                                                  # (B, out)


from minicomp.fused_model import FusedModel

q_scratch = int_chain(model8, X_test)
codes, Y_fused = FusedModel(model8)(X_test)
np.testing.assert_array_equal(q_scratch, codes)
np.testing.assert_array_equal(q_scratch, model8.forward_int(X_test))
np.testing.assert_array_equal(q_scratch,
                              model8.forward_int(X_test, fused=False))
Y_scratch = (last.S_y * (q_scratch - last.Z_y)).astype(np.float32)
np.testing.assert_array_equal(Y_scratch, model8.predict(X_test))
np.testing.assert_array_equal(Y_scratch, Y_fused)
print(f"scratch chain == FusedModel == forward_int (fused and layer by "
      f"layer), bit for bit, on {len(X_test)} test images")

# %% [markdown]
# What to conclude: the NumPy chain, the fused kernel and the
# layer-by-layer model give the same codes and the same dequantized
# floats — fusing changes where the work happens, not one bit of it.
#
# ### The speed: one call versus a call per layer versus float
#
# `model.predict(X)` runs the fused kernel (`fused=True`, the default);
# `predict(X, fused=False)` the layers one by one; the float model is the
# plain NumPy forward pass of the same trained net (BLAS, one thread).

# %%
speed = {}
for B in (1, 256):
    X_b = X_test[:B]
    speed[B] = {
        "fused int8 (one call)": times_us(lambda: model8.predict(X_b)),
        "int8 layer by layer": times_us(
            lambda: model8.predict(X_b, fused=False)),
        "float NumPy forward": times_us(lambda: forward(params, X_b))}
    for name, t in speed[B].items():
        print(f"B={B:<3} {name:<22} {show(t)}")
for B, t in speed.items():
    m = {name: np.median(v) for name, v in t.items()}
    fused = m["fused int8 (one call)"]
    print(f"B={B:<3} fused is {m['int8 layer by layer'] / fused:.1f}x "
          f"faster than layer by layer and "
          f"{m['float NumPy forward'] / fused:.2f}x the speed of float")

fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(speed[1])
for i, B in enumerate(speed):
    med = [np.median(speed[B][n]) / B for n in names]
    ax.bar(np.arange(3) + 0.4 * i, med, width=0.4, label=f"batch {B}")
ax.set_xticks(np.arange(3) + 0.2, names)
ax.set_yscale("log")
ax.set_ylabel("us per example (median of 7)")
ax.set_title("64-64-10 on digits: whole model, one thread")
ax.legend()
plt.show()

# %% [markdown]
# What to conclude, from the two ratio lines: the fused call removes
# most of the per-layer overhead measured above — the first ratio is how
# much, at each batch. The second ratio says whether the compressed model
# is now faster than its float model end to end on this CPU (above 1:
# yes) at batch 1 and at batch 256; the ranges printed above each line
# say whether a ratio near 1 is a tie.

# %% [markdown]
# ## 11. Summary
#
# - A dense product costs the same with or without zeros; int8 arrays in
#   NumPy are slow *and* overflow. Compression pays only with kernels that
#   use the format.
# - **CSR** stores values, column indices (narrowest unsigned type) and row
#   pointers; $Y_{b,i} = \sum_k \mathrm{data}_k X_{b,\mathrm{indices}_k}$.
#   It beats BLAS only past a high crossover sparsity (printed in
#   section 5).
# - **Several designs** compute each kernel (row gather-dot, AXPY over the
#   batch; serial, parallel; for int8 the CPU paths and K-blocking). Where
#   one overtakes another depends on the CPU and the shape (section 6), so
#   `dispatch.choose` times the candidates on the first call of a
#   (shape, batch bucket, sparsity bucket) and keeps the fastest (a
#   serial design within 10 % of a parallel one keeps the call, since
#   threads can stall); `explain()` shows why; `MINICOMP_KERNEL` forces
#   one. Every design equals its twin, so the choice changes only the
#   time. A
#   measurement is only as good as the moment: `choose` waits until no
#   other thread of the process (OpenBLAS's, after a product) holds a
#   core, and a busy or stalled verdict is not written to disk.
# - **int8**: accumulate in int32 ($255 \cdot 128 \cdot 65{,}536 < 2^{31}$),
#   requantize with $M = 2^{-n} M_0$ as one multiply, one add and one shift
#   — bit-exact against the reference. **K-blocking** keeps a block of the
#   weight panel in L1 while every row tile uses it; **packing** lays the
#   weights out in the order the kernel reads them.
# - **Whole models**: on small MLPs the per-layer call costs more than the
#   arithmetic; `to_inference(...).predict` runs all layers in one
#   compiled call, int8 activations kept as codes (ReLU a clamp at $Z_y$),
#   bit-exact with the layer-by-layer chain.
#
# ## Exercises
#
# Ideas to implement and measure (no graded exercise for kernels; check
# each result against a twin, as the chapter does):
#
# 1. Measure the crossover sparsity for batch 256 on 784→300. Is it
#    earlier or later than for batch 32, and why (think about how much of
#    $X^\top$ fits in the cache)?
# 2. Add a third design to `choose_scratch`: BLAS on the dense copy of the
#    CSR matrix. Find the sparsities at which the chooser picks it, and
#    extend the key with `dispatch.density_bucket` so the decision is
#    remembered per sparsity.
# 3. Change `csr_matmul_scratch` to store *column* indices as `int64` and
#    count the bytes of a 4096×4096 layer at 90 % sparsity in both index
#    types. How much of the CSR size is indices?
# 4. For in_features = 784 and uint8 activations with $Z_x = 0$, what is
#    the largest `|bias_q|` for which the int32 accumulator cannot
#    overflow? Check your bound with `reference.int8_accumulate`.
# 5. Requantize with `shift` one smaller than `quantize_multiplier` says
#    (and `m0` halved). Which outputs change, and by how much?
# 6. Time the `vnni_kb_serial` design for layers with 256 to 4096 inputs
#    (batch 64) against `vnni_serial`, and plot the ratio against the
#    panel's bytes / L1. Where does blocking start to pay?
# 7. Write `int_chain` as one `@numba.njit` function over a batch, and
#    compare its time at batch 1 with `model8.predict`: how much of the
#    fused kernel's advantage is "one call", and how much the VNNI
#    instruction?
# 8. With `busy_cores` from section 6, time a parallel sparse design
#    (`rowdot_vec_parallel`, 4096→4096, batch 1) in a loop right after a
#    NumPy product and again after the probe says the process is quiet.
#    Then run the same script with `OPENBLAS_THREAD_TIMEOUT=4` set before
#    Python starts. What does each of the three timings tell a design
#    chooser that measured at that moment?
