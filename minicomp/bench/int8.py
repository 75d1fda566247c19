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
  and the pure-Numba register-blocked path,

all ratios from one run. Then, in fresh processes with an empty Numba cache:
the cold compile time of the int8 kernels this CPU uses (serial and
parallel), and a warm process's ``import`` + first call (cache filled).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..kernels.int8 import Int8Kernel
from ..kernels.reference import quantize_multiplier
from ..kernels.vnni import cpu_features, cpu_vnni
from .timing import median_time

SHAPES = ((784, 300), (1024, 1024), (4096, 4096))
BATCHES = (1, 32, 256)


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
        qW = torch.quantize_per_channel(torch.from_numpy(W), torch.from_numpy(S_w.astype(np.float64)),
                                        torch.zeros(N, dtype=torch.long), 0, torch.qint8)
        layer.set_weight_bias(qW, torch.from_numpy(b))
        layer.scale, layer.zero_point = float(S_y), 0
        layers[engine] = (engine, layer)
    return layers


def _time_torch(engine, layer, xq, kw):
    import torch
    torch.backends.quantized.engine = engine
    with torch.inference_mode():
        return median_time(lambda: layer(xq), **kw)


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
    row["numpy_f32"] = median_time(lambda: x @ W.T, **kw)
    for engine, layer in _torch_layers(W, b, S_x, S_w, S_y).values():
        import torch
        time.sleep(0.25)                         # let the previous pool's threads idle (OpenBLAS spins ~0.1 s)
        xq = torch.quantize_per_tensor(torch.from_numpy(x), S_x, 0, torch.quint8)
        row[f"torch_{engine}"] = _time_torch(engine, layer, xq, kw)
    paths = (["vnni"] if cpu_vnni() else []) + (["madd"] if "avx2" in cpu_features() else [])
    paths += ["blocked"]
    for path in paths:
        kernel = Int8Kernel(w_q, bias_q, 0, m0, shift, 0, relu=True, path=path)
        time.sleep(0.25)
        row[f"ours_{path}"] = median_time(lambda kernel=kernel: kernel(x_q), **kw)
    for path in paths:
        row[f"f32/{path}"] = row["numpy_f32"] / row[f"ours_{path}"]
        if "torch_fbgemm" in row:
            row[f"fbgemm/{path}"] = row["torch_fbgemm"] / row[f"ours_{path}"]
    return row


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
    for parallel in (False, True):
        kernel = Int8Kernel(w_q, None, 0, m0, shift, 0, relu=True, path=path, parallel=parallel)
        t = time.perf_counter()
        kernel(np.ones((1, 784), np.uint8))
        times[f"{path}_{'parallel' if parallel else 'serial'}"] = time.perf_counter() - t
print(json.dumps({"import": t_import, "first_calls": times,
                  "total": time.perf_counter() - t0}))
"""


def _fresh_process(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": os.pathsep.join(sys.path)}
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
    """Every shape and batch (``quick``: fewer, shorter samples), then compile times."""
    kw = {"samples": 5, "min_sample": 1e-3, "warmup": 2} if quick else {}
    rows = [run_shape(K, N, B, kw) for K, N in SHAPES for B in BATCHES]
    return rows + compile_rows()


def format_table(rows) -> str:
    """Median µs per call and ratios (> 1: ours is faster), then compile times."""
    timing = [r for r in rows if "shape" in r]
    cols = [k for k in timing[0] if k not in ("shape", "batch")]
    lines = ["| in->out | B | " + " | ".join(cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for r in timing:
        cells = [f"{r[c] * 1e6:.1f}" if "/" not in c else f"**{r[c]:.2f}x**" for c in cols]
        lines.append(f"| {r['shape']} | {r['batch']} | " + " | ".join(cells) + " |")
    lines.append("\n(times in µs; ratio columns a/b = time of a / time of ours)")
    for r in rows:
        if "measure" in r:
            extra = ", ".join(f"{k} {v:.2f} s" for k, v in r.items()
                              if k not in ("measure", "seconds"))
            lines.append(f"{r['measure']}: {r['seconds']:.2f} s ({extra})")
    return "\n".join(lines)
