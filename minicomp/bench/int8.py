"""``minicomp bench int8``: the int8 dense layer vs float32 BLAS and torch's quantized engines.

For in→out = 784→300, 1024→1024, 4096→4096 and batch 1, 32, 256: the median
time of one layer call (bias, per-channel requantization, ReLU, uint8
out) for

- NumPy float32 ``x @ W.T`` (BLAS; the float layer it replaces, without
  bias or ReLU -- a lower bound on the float layer),
- torch's quantized ``LinearReLU`` with the fbgemm and x86 engines (when
  torch is installed; 2 threads),
- ours (:class:`minicomp.kernels.int8.Int8Kernel`): the VNNI path (when the
  CPU has the instruction), the AVX2 ``vpmaddwd`` path (when it has AVX2)
  and the pure-Numba register-blocked path, each running the design its
  first call measured fastest (column ``kernel``: the VNNI path's design),

all ratios from one run, each cell's libraries timed in 3 interleaved
rounds (:func:`~minicomp.bench.timing.interleaved_times`). Then the per-call overhead (a 16→16 layer at
batch 1: almost no arithmetic), the issue's targets (met or not), and, in
fresh processes with an empty Numba cache, the cold compile time of the
int8 kernels this CPU uses and a warm process's ``import`` + first call.
The first row says the CPU, the load average and ``OPENBLAS_NUM_THREADS``
(BLAS ratios depend on it: run once unset and once with ``=1``).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..kernels.dispatch import batch_bucket
from ..kernels.int8 import Int8Kernel
from ..kernels.reference import quantize_multiplier
from ..kernels.vnni import cpu_features, cpu_vnni
from .timing import cpu, interleaved_times, read_bandwidth

SHAPES = ((784, 300), (1024, 1024), (4096, 4096))
BATCHES = (1, 32, 256)
# (description, row filter, ratio column, minimum) from issue 17
TARGETS = (("VNNI vs fp32 BLAS, worst cell >= 3x", lambda r: True, "f32/vnni", 3.0),
           ("VNNI vs fbgemm, B >= 32, worst >= 0.9x", lambda r: r["batch"] >= 32,
            "fbgemm/vnni", 0.9),
           ("VNNI vs fbgemm, B = 1, worst >= 1.4x", lambda r: r["batch"] == 1,
            "fbgemm/vnni", 1.4),
           ("madd (AVX2 path) vs fp32 BLAS, B >= 32, >= 2x (target on AVX2-only CPUs)",
            lambda r: r["batch"] >= 32, "f32/madd", 2.0))


def _torch_layers(W, b, S_x, S_w, S_y):
    """torch quantized LinearReLU per engine, or {} without torch."""
    try:
        import torch
        from torch.ao.nn.intrinsic.quantized import LinearReLU
    except ImportError:
        return {}
    torch.set_num_threads(2)
    layers = {}
    for engine in ("fbgemm", "x86"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        N, K = W.shape
        layer = LinearReLU(K, N)
        qW = torch.quantize_per_channel(torch.from_numpy(W),
                                        torch.from_numpy(S_w.astype(np.float64)),
                                        torch.zeros(N, dtype=torch.long), 0, torch.qint8)
        layer.set_weight_bias(qW, torch.from_numpy(b))
        layer.scale, layer.zero_point = float(S_y), 0
        layers[engine] = (engine, layer)
    return layers


def _paths():
    return (["vnni"] if cpu_vnni() else []) + (["madd"] if "avx2" in cpu_features() else []) \
        + ["blocked"]


def run_shape(K, N, B, kw, seed=0):
    """One row: median seconds per call of every implementation, and ratios."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(np.float32)  # (out, in)
    b = (0.1 * rng.standard_normal(N)).astype(np.float32)              # (out,)
    x = rng.random((B, K)).astype(np.float32)                           # (B, in) in [0, 1)
    S_x, S_y = 1 / 255, 0.05
    S_w = (np.abs(W).max(1) / 127).astype(np.float32)                   # (out,) symmetric
    w_q = np.round(W / S_w[:, None]).astype(np.int8)                    # (out, in)
    x_q = np.round(x / S_x).astype(np.uint8)                            # (B, in), Z_x = 0
    bias_q = np.round(b / (S_x * S_w)).astype(np.int32)                 # (out,)
    m0, shift = quantize_multiplier(S_x * S_w.astype(np.float64) / S_y)
    row = {"shape": f"{K}->{N}", "batch": B}
    calls, before, inference = {"numpy_f32": lambda: x @ W.T}, {}, contextlib.nullcontext()
    for engine, layer in _torch_layers(W, b, S_x, S_w, S_y).values():
        import torch
        xq = torch.quantize_per_tensor(torch.from_numpy(x), S_x, 0, torch.quint8)
        calls[f"torch_{engine}"] = lambda layer=layer, xq=xq: layer(xq)
        before[f"torch_{engine}"] = lambda engine=engine: setattr(
            torch.backends.quantized, "engine", engine)             # untimed, each round
        inference = torch.inference_mode()
    for path in _paths():
        kernel = Int8Kernel(w_q, bias_q, 0, m0, shift, 0, relu=True, path=path)
        kernel(x_q)                                                 # decides its design
        calls[f"ours_{path}"] = lambda kernel=kernel: kernel(x_q)
        row.setdefault("kernel", kernel.decisions[batch_bucket(B)])
    with inference:                                                 # torch's calls: no autograd
        row.update({f"{n}_s": t for n, t in interleaved_times(calls, before=before, **kw).items()})
    for path in _paths():
        row[f"f32/{path}"] = row["numpy_f32_s"] / row[f"ours_{path}_s"]
        if "torch_fbgemm_s" in row:
            row[f"fbgemm/{path}"] = row["torch_fbgemm_s"] / row[f"ours_{path}_s"]
    return row


def overhead_row(kw) -> dict:
    """Per-call time of a 16→16 layer at batch 1 (path "auto"): the fixed cost of a call."""
    m0, shift = quantize_multiplier(1e-3)
    kernel = Int8Kernel(np.ones((16, 16), np.int8), None, 0, m0, shift, 0, relu=True)
    x = np.ones((1, 16), np.uint8)
    t = interleaved_times({"call": lambda: kernel(x)}, **kw)["call"]
    return {"measure": "per-call overhead, 16->16 at B=1 (target < 2 us)",
            "seconds": t, "met": t < 2e-6}


def bandwidth_row(rows) -> dict:
    """At batch 1 the int8 weights are nearly all the bytes a call reads (``in x out``):
    each B=1 cell's bytes per second, ours (the first path) and fbgemm's, against a plain
    streaming read of the same footprint (:func:`~minicomp.bench.timing.read_bandwidth`)."""
    cells = []
    for r in rows:
        if "shape" not in r or r["batch"] != 1:
            continue
        K, N = map(int, r["shape"].split("->"))
        ceiling = read_bandwidth(K * N)
        ours = next(k for k in r if k.startswith("ours_") and k.endswith("_s"))
        cells.append({"shape": r["shape"], "bytes": K * N, "read_GBps": ceiling / 1e9,
                      "ours": ours.removesuffix("_s"), "ours_GBps": K * N / r[ours] / 1e9,
                      "fbgemm_GBps": K * N / r["torch_fbgemm_s"] / 1e9
                      if r.get("torch_fbgemm_s") else None})
    return {"measure": "bandwidth at B=1", "cells": cells}


def targets_row(rows) -> dict:
    """Each of the issue's int8 targets: worst ratio and whether it is met."""
    out = []
    for text, keep, col, floor in TARGETS:
        ratios = [r[col] for r in rows if "shape" in r and col in r and keep(r)]
        if ratios:
            out.append({"target": text, "worst": min(ratios), "met": min(ratios) >= floor})
    return {"measure": "targets", "targets": out}


_COLD = """
import json, time
import numpy as np
t0 = time.perf_counter()
from minicomp.kernels.int8 import Int8Kernel
from minicomp.kernels.reference import quantize_multiplier
from minicomp.kernels.vnni import cpu_features, cpu_vnni
t_import = time.perf_counter() - t0
m0, shift = quantize_multiplier(0.001)
w_q = np.ones((300, 784), np.int8)
times = {}
auto = Int8Kernel(w_q, None, 0, m0, shift, 0).path      # what path="auto" runs: timed first
for path in [auto] + [p for p in ("madd", "blocked") if p != auto
                      and (p != "madd" or "avx2" in cpu_features())]:
    kernel = Int8Kernel(w_q, None, 0, m0, shift, 0, relu=True, path=path)
    for name in kernel.designs(10**6):                  # every design (K-blocked too)
        t = time.perf_counter()
        kernel(np.ones((1, 784), np.uint8), design=name)
        times[name] = time.perf_counter() - t
print(json.dumps({"import": t_import, "first_calls": times,
                  "total": time.perf_counter() - t0}))
"""


def _fresh_process(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": os.pathsep.join(sys.path),
           "MINICOMP_DISPATCH_CACHE": "off"}
    t = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True,
                            text=True, check=True, timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process"] = time.perf_counter() - t
    return report


def compile_rows():
    """Cold compile (empty cache) and a warm process's import + first call, in seconds."""
    with tempfile.TemporaryDirectory() as cache_dir:
        cold, warm = _fresh_process(cache_dir), _fresh_process(cache_dir)
    first = next(iter(warm["first_calls"]))              # the process's first call: path="auto"
    return [{"measure": "cold compile, all int8 kernels (first calls)",
             "seconds": sum(cold["first_calls"].values()), **cold["first_calls"]},
            {"measure": "warm: import + first call (B=1, 784->300)",
             "seconds": warm["import"] + warm["first_calls"][first],
             "import": warm["import"], "whole process incl. interpreter": warm["process"]}]


def run(quick: bool = False) -> list[dict]:
    """Every shape and batch (``quick``: fewer, shorter samples), then overhead, targets,
    compile times."""
    kw = {"rounds": 1, "samples": 5, "min_sample": 1e-3, "warmup": 2} if quick else \
        {"rounds": 3, "samples": 7}
    head = {"measure": "machine", "cpu": cpu(), "load average": os.getloadavg(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset")}
    rows = [run_shape(K, N, B, kw) for K, N in SHAPES for B in BATCHES]
    return [head] + rows + [overhead_row(kw), bandwidth_row(rows), targets_row(rows)] \
        + compile_rows()


def format_table(rows) -> str:
    """Median µs per call and ratios (> 1: ours is faster), then overhead, targets, compile."""
    timing = [r for r in rows if "shape" in r]
    cols = [k for k in timing[0] if k not in ("shape", "batch", "kernel")]
    lines = [f"{r['cpu']}; load average {r['load average']}; OPENBLAS_NUM_THREADS="
             f"{r['OPENBLAS_NUM_THREADS']}" for r in rows if r.get("measure") == "machine"]
    lines += ["| in->out | B | " + " | ".join(c.removesuffix("_s") for c in cols) + " | design |",
              "|---|---|" + "---|" * (len(cols) + 1)]
    for r in timing:
        cells = [f"{r[c] * 1e6:.1f}" if "/" not in c else f"**{r[c]:.2f}x**" for c in cols]
        lines.append(f"| {r['shape']} | {r['batch']} | " + " | ".join(cells)
                     + f" | {r.get('kernel', '')} |")
    lines.append("\n(times in µs; ratio columns a/b = time of a / time of ours)")
    for r in rows:
        if r.get("measure") == "bandwidth at B=1":
            lines += [f"{r['measure']}: {c['shape']} reads {c['bytes'] / 2**20:.1f} MiB of weights;"
                      f" a plain read of that size by 2 threads: {c['read_GBps']:.1f} GB/s;"
                      f" {c['ours']} {c['ours_GBps']:.1f} GB/s"
                      + (f", fbgemm {c['fbgemm_GBps']:.1f} GB/s" if c["fbgemm_GBps"] else "")
                      for c in r["cells"]]
        elif r.get("measure") == "targets":
            lines += [f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: worst "
                      f"{t['worst']:.2f}x" for t in r["targets"]]
        elif "seconds" in r and "met" in r:
            lines.append(f"{r['measure']}: {r['seconds'] * 1e6:.2f} us "
                         f"[{'met' if r['met'] else 'MISSED'}]")
        elif "seconds" in r:
            extra = ", ".join(f"{k} {v:.2f} s" for k, v in r.items()
                              if k not in ("measure", "seconds"))
            lines.append(f"{r['measure']}: {r['seconds']:.2f} s ({extra})")
    return "\n".join(lines)
