"""``minicomp bench formats``: bit-exact formats; speed of the 2:4 and ternary kernels.

1. **bit-exact**: every minifloat (E4M3, E5M2, E3M2, E2M3, E2M1) encodes
   10^6 random float32 (random bit patterns, so NaN, inf and subnormals, and
   scaled normals) exactly as ``ml_dtypes`` does, and every code decodes to
   ml_dtypes' value (when ml_dtypes is installed).
2. **speed**: for each layer shape (784→300, 1024→1024, 4096→4096) and batch
   (1, 32, 256), ``Y = X @ W.T`` timed as float32 BLAS (NumPy), the CSR kernel
   (:mod:`minicomp.kernels.sparse`) and the N:M kernel
   (:mod:`minicomp.kernels.nm`) on the same 2:4 matrix (50 % sparse), the
   int8 kernel (:mod:`minicomp.kernels.int8`, integer in and out) and the
   ternary kernel (:mod:`minicomp.kernels.ternary`, int8 activations in,
   int32 out). Ratios are BLAS time / kernel time (> 1: the kernel wins),
   medians of grouped samples after a pause (:func:`~.timing.median_time`).
3. The issue's targets: 2:4 ≥ 1.3x and ternary ≥ 2x BLAS at batch 1 on 4096².

``quick``: 1024² and 4096², batch 1 and 32, 2·10^5 floats, fewer samples.
``threads=1`` times everything on one thread (Numba and, through
threadpoolctl when installed, BLAS): on a loaded 2-core machine threaded
runs are dominated by the scheduler's time slices, one thread is not.
"""
from __future__ import annotations

import contextlib
import time

import numba
import numpy as np

from ..formats import minifloat
from ..kernels.int8 import Int8Kernel
from ..kernels.nm import nm_linear, to_nm
from ..kernels.reference import quantize_multiplier
from ..kernels.sparse import kernel_arrays, sparse_linear, to_csr
from ..kernels.ternary import pack_ternary, ternary_linear
from .timing import SETTLE, cpu, median_time

SHAPES = ((784, 300), (1024, 1024), (4096, 4096))        # (in, out)
BATCHES = (1, 32, 256)
QUICK = {"shapes": SHAPES[1:], "batches": (1, 32)}
KERNELS = ("csr", "nm", "int8", "ternary")
TARGETS = (("nm", 1.3), ("ternary", 2.0))                 # BLAS / kernel at B=1 on 4096^2


def exactness(n: int = 10**6, seed: int = 0) -> list[dict]:
    """One row per minifloat: mismatches against ml_dtypes on ``n`` floats and all codes."""
    try:
        import ml_dtypes
    except ImportError:
        return [{"bench": "exact", "format": "all", "note": "ml_dtypes not installed"}]
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        x = np.concatenate([rng.integers(0, 2**32, n // 2, dtype=np.uint32).view(np.float32),
                            (rng.standard_normal(n - n // 2) * np.exp(
                                rng.uniform(-25, 15, n - n // 2))).astype(np.float32)])
    rows = []
    for name, f in minifloat.MINIFLOATS.items():
        t = getattr(ml_dtypes, f.ml_dtype)
        xs = x[~np.isnan(x)] if f.specials == "none" else x      # no NaN code: refused
        t0 = time.perf_counter()
        ours = minifloat.encode(xs, name)
        seconds = time.perf_counter() - t0
        codes = np.arange(2 ** f.bits, dtype=np.uint8)
        rows.append({"bench": "exact", "format": name, "floats": int(xs.size),
                     "mismatches": int((ours != xs.astype(t).view(np.uint8)).sum()),
                     "code_mismatches": int((~((minifloat.decode_table(name) == codes.view(
                         t).astype(np.float64)) | np.isnan(minifloat.decode_table(name)))).sum()),
                     "encode_s": seconds})
    return rows


def two_four(W: np.ndarray) -> np.ndarray:
    """``W`` with the 2 largest |w| of every 4 consecutive inputs kept (a 2:4 matrix)."""
    G = np.abs(W).reshape(W.shape[0], -1, 4)
    keep = np.argsort(-G, axis=2, kind="stable")[:, :, :2]
    mask = np.zeros(G.shape, dtype=W.dtype)
    np.put_along_axis(mask, keep, 1, axis=2)
    return W * mask.reshape(W.shape)


def contenders(W, X, seed: int = 0) -> dict:
    """name -> zero-argument call: BLAS on ``W`` (dense 2:4), and each kernel on its format."""
    rng = np.random.default_rng(seed)
    csr, A = kernel_arrays(to_csr(W)), to_nm(W, 2, 4)
    w_q = np.clip(np.rint(W / np.abs(W).max() * 127), -127, 127).astype(np.int8)
    x_q = rng.integers(0, 256, X.shape).astype(np.uint8)
    m0, shift = quantize_multiplier(1e-3)
    int8 = Int8Kernel(w_q, None, 128, m0, shift, 128)
    T = pack_ternary(rng.integers(-1, 2, W.shape))
    x_i8 = (x_q.astype(np.int16) - 128).astype(np.int8)
    return {"numpy": lambda: X @ W.T, "csr": lambda: sparse_linear(X, csr, check=False),
            "nm": lambda: nm_linear(X, A), "int8": lambda: int8(x_q),
            "ternary": lambda: ternary_linear(x_i8, T)}


@contextlib.contextmanager
def thread_limit(threads):
    """Numba (and BLAS, via threadpoolctl if installed) on ``threads`` threads; None: as is."""
    if threads is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(threads)
    except ImportError:
        limit = contextlib.nullcontext()
    try:
        with limit:
            yield
    finally:
        numba.set_num_threads(before)


def run(quick: bool = False, shapes=None, batches=None, floats=None, seed: int = 0,
        threads: int | None = None) -> list:
    """Rows: the exactness checks, one row per (shape, batch), and a summary with the targets.

    ``shapes``, ``batches`` and ``floats`` override the grid (tests use tiny ones);
    ``threads`` limits Numba and BLAS threads (None: their defaults).
    """
    with thread_limit(threads):
        rows = _run(quick, shapes, batches, floats, seed)
    rows[-1]["threads"] = threads or numba.get_num_threads()
    return rows


def _run(quick, shapes, batches, floats, seed) -> list:
    grid = QUICK if quick else {"shapes": SHAPES, "batches": BATCHES}
    shapes, batches = shapes or grid["shapes"], batches or grid["batches"]
    timing = {"samples": 5, "min_sample": 1e-3, "warmup": 1} if quick else \
        {"samples": 11, "min_sample": 2e-3, "warmup": 2}
    rows = exactness(floats or (2 * 10**5 if quick else 10**6), seed)
    rng = np.random.default_rng(seed)
    for n_in, n_out in shapes:
        W = two_four(rng.standard_normal((n_out, n_in)).astype(np.float32))   # (out, in)
        for batch in batches:
            X = rng.standard_normal((batch, n_in)).astype(np.float32)
            calls = contenders(W, X, seed)
            np.testing.assert_allclose(calls["nm"](), calls["numpy"](), rtol=1e-3, atol=1e-3)
            row = {"bench": "speed", "in": n_in, "out": n_out, "batch": batch}
            for name, call in calls.items():
                call()                                                    # compiles
                row[name + "_s"] = median_time(call, pause=SETTLE / (5 if quick else 1),
                                               **timing)
            for name in KERNELS:
                row["numpy/" + name] = row["numpy_s"] / row[name + "_s"]
            rows.append(row)
    return rows + [summary(rows)]


def summary(rows) -> dict:
    """The CPU and each target measurable in ``rows``: the ratio and whether it is met."""
    out = {"bench": "summary", "cpu": cpu(), "targets": []}
    for name, floor in TARGETS:
        for r in rows:
            if r["bench"] == "speed" and r["batch"] == 1 and r["in"] == r["out"] == 4096:
                ratio = r["numpy/" + name]
                out["targets"].append({"target": f"{name} >= {floor}x BLAS, B=1, 4096^2",
                                       "ratio": ratio, "met": ratio >= floor})
    exact = [r for r in rows if r["bench"] == "exact" and "mismatches" in r]
    if exact:
        ok = all(r["mismatches"] == r["code_mismatches"] == 0 for r in exact)
        out["targets"].append({"target": "every minifloat bit-exact with ml_dtypes",
                               "ratio": None, "met": ok})
    return out


def format_table(rows) -> str:
    lines = []
    for r in rows:
        if r["bench"] == "exact":
            lines.append(f"{r['format']:<5} " + (r["note"] if "note" in r else (
                f"{r['floats']} floats: {r['mismatches']} mismatches vs ml_dtypes, "
                f"{r['code_mismatches']} codes decode differently ({r['encode_s']:.3f} s)")))
    head = f"{'in->out':<11} {'B':>4} {'numpy us':>9} " + " ".join(
        f"{k + ' us':>10}" for k in KERNELS) + "  " + " ".join(f"{'BLAS/' + k:>12}"
                                                           for k in KERNELS)
    lines += ["", head, "-" * len(head)]
    for r in (r for r in rows if r["bench"] == "speed"):
        lines.append(f"{r['in']}->{r['out']:<{10 - len(str(r['in']))}} {r['batch']:>4} "
                     f"{r['numpy_s'] * 1e6:9.1f} " + " ".join(
                         f"{r[k + '_s'] * 1e6:10.1f}" for k in KERNELS) + "  " + " ".join(
                         f"{r['numpy/' + k]:12.2f}" for k in KERNELS))
    lines.append("ratios > 1: the kernel is faster than float32 BLAS on the same layer "
                 "(csr, nm: the 2:4 matrix; int8, ternary: integer activations)")
    for s in (r for r in rows if r["bench"] == "summary"):
        lines.append(f"CPU: {s['cpu']}; timed on {s.get('threads')} thread(s)")
        for t in s["targets"]:
            ratio = "" if t["ratio"] is None else f": {t['ratio']:.2f}x"
            lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}{ratio}")
    return "\n".join(lines)
