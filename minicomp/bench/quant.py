"""``minicomp bench quant``: the quantization issue's targets, measured over seeds.

For the seeds' MLP (hidden 64-64) on digits and MNIST-1D, trained by
:func:`minicomp.train.train_baseline` with each seed:

1. **PTQ int8** -- per-channel and per-tensor weights, per-tensor uint8
   activations calibrated (min-max) on the training set; target:
   per-channel within 0.3 points of float. The same with only 512
   calibration inputs (``ptq8_channel_cal512``) shows how much the
   activation ranges depend on the calibration set. The integer-only
   model (:func:`minicomp.deploy.to_inference` of it) is evaluated too
   (same codes as the simulated per-channel model).
2. **outlier channel** -- the same net with hidden neuron 0 of the first
   layer scaled up 50x and its outgoing weights scaled down 50x: the
   float function is unchanged (ReLU is positively homogeneous), but one
   channel now sets the per-tensor step for all. Per-tensor vs per-channel
   int8 weight-only PTQ accuracy (activations stay float, so the gap is
   the weights' alone).
3. **4-bit QAT** (W4A8, per channel) fine-tuned from the float net; target
   within 1 point of float. **4-bit PTQ** (no training) is the control.
4. **2-bit k-means** (Deep Compression) with centroid fine-tuning; target
   within 2 points.
5. **sizes** in bytes (float32, int8, int4, k-means 2-bit packed and
   Huffman-coded, the integer model).
6. **speed**: the integer-only model (float in, uint8 codes through the
   int8 kernel, float logits out) vs the float model
   (:func:`minicomp.predict`), batch 256, median time. The float model is
   timed with BLAS's default threads and with one thread (threadpoolctl,
   when installed): on a loaded 2-core machine threaded BLAS can be 100x
   slower at this size. The ratio uses the faster float time.
"""
from __future__ import annotations

import copy

import numpy as np

from ..deploy import to_inference
from ..kernels.int8 import choose_path
from ..quant import (
    finetune_centroids,
    kmeans_quantize,
    qat_finetune,
    quantize_mlp,
    size_table,
)
from ..train import BaselineConfig, evaluate, predict, train_baseline
from .timing import median_time

DATASETS = ("digits", "mnist1d")


def _forward_codes(inet, x_q):
    """The int8 model's output codes from input codes ``x_q`` (B, in): integers only."""
    for layer in inet.layers:
        x_q = layer(x_q)                                   # (B, out) 8-bit
    return x_q


def outlier_net(net, scale: float = 50.0):
    """A copy of ``net`` computing the same function with one outlier channel in layer 0."""
    net = copy.deepcopy(net)
    first, second = net.layers[0], net.layers[2]
    first.W.data[0] *= scale                               # row 0: neuron 0's weights
    first.b.data[0] *= scale
    second.W.data[:, 0] /= scale                           # its outgoing weights
    return net


def _one_thread(fn):
    """``fn()`` with BLAS limited to one thread, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(limits=1, user_api="blas"):
        return fn()


def _accuracy(model, data):
    return evaluate(model, data.X_test, data.y_test)["accuracy"]


def one_seed(dataset: str, seed: int, quick: bool) -> dict:
    """Every measurement of the module docstring for one trained net."""
    net, _, result, data = train_baseline(BaselineConfig(dataset=dataset, seed=seed), quiet=True)
    X_cal = data.X_train
    r = {"float": result["accuracy"]}
    q_c = quantize_mlp(net, X_cal, 8, 8, "channel")
    r["ptq8_channel"] = _accuracy(q_c, data)
    r["ptq8_channel_cal512"] = _accuracy(quantize_mlp(net, X_cal[:512], 8, 8, "channel"), data)
    r["ptq8_tensor"] = _accuracy(quantize_mlp(net, X_cal, 8, 8, "tensor"), data)
    inet = to_inference(q_c)                               # int8 layers on the kernels
    r["integer"] = float((inet(data.X_test).argmax(1) == data.y_test).mean())
    out = outlier_net(net)
    r["outlier_float"] = _accuracy(out, data)
    r["outlier_tensor"] = _accuracy(quantize_mlp(out, None, 8, None, "tensor"), data)
    r["outlier_channel"] = _accuracy(quantize_mlp(out, None, 8, None, "channel"), data)
    r["ptq4_channel"] = _accuracy(quantize_mlp(net, X_cal, 4, 8, "channel"), data)
    qat, _ = qat_finetune(copy.deepcopy(net), data.X_train, data.y_train, bits=4,
                          epochs=3 if quick else 10, lr=0.01, seed=seed)
    r["qat4"] = _accuracy(qat.to_quantized(), data)
    shared = kmeans_quantize(net, 2)
    r["kmeans2"] = _accuracy(shared, data)
    finetune_centroids(shared, data.X_train, data.y_train, epochs=5 if quick else 20,
                       lr=0.01, seed=seed)
    r["kmeans2_ft"] = _accuracy(shared, data)
    r["sizes"] = {row["scheme"]: row["bytes"] for row in size_table(net, shared, inet)}
    if seed == 0:                                          # speed: one run per dataset
        X = data.X_test[:256] if len(data.X_test) >= 256 else \
            np.resize(data.X_test, (256, data.X_test.shape[1]))
        X = np.ascontiguousarray(X, dtype=np.float32)
        samples = 7 if quick else 21
        r["float_s"] = median_time(lambda: predict(net, X), samples=samples)
        r["float_1thread_s"] = _one_thread(lambda: median_time(lambda: predict(net, X),
                                                               samples=samples))
        r["integer_s"] = median_time(lambda: inet(X), samples=samples)
        x_q = inet.quantize_input(X)
        r["integer_codes_s"] = median_time(lambda: _forward_codes(inet, x_q), samples=samples)
        r["kernel"] = choose_path()                        # what Int8Kernel(path="auto") runs
    return r


KEYS = ("float", "ptq8_channel", "ptq8_channel_cal512", "ptq8_tensor", "integer", "outlier_float", "outlier_tensor",
        "outlier_channel", "ptq4_channel", "qat4", "kmeans2", "kmeans2_ft")


def run(quick: bool = False, seeds=None) -> list[dict]:
    """One row per dataset: per-seed accuracies, their means, sizes and speed."""
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    rows = []
    for dataset in DATASETS:
        per_seed = [one_seed(dataset, s, quick) for s in seeds]
        row = {"dataset": dataset, "seeds": list(seeds)}
        for k in KEYS:
            row[k] = [p[k] for p in per_seed]
            row[k + "_mean"] = float(np.mean(row[k]))
        for k in ("float_s", "float_1thread_s", "integer_s", "integer_codes_s", "kernel"):
            row[k] = per_seed[0][k]
        best_float = min(t for t in (row["float_s"], row["float_1thread_s"]) if t)
        row["float/integer"] = best_float / row["integer_s"]
        row["sizes"] = per_seed[0]["sizes"]
        f = row["float_mean"]
        row["targets"] = {
            "ptq8_channel <= 0.3 pt": f - row["ptq8_channel_mean"] <= 0.003,
            "qat4 <= 1 pt": f - row["qat4_mean"] <= 0.01,
            "kmeans2_ft <= 2 pt": f - row["kmeans2_ft_mean"] <= 0.02,
            "integer faster than float": row["float/integer"] > 1.0,
        }
        rows.append(row)
    return rows


def format_table(rows) -> str:
    lines = []
    for r in rows:
        lines.append(f"{r['dataset']}, MLP hidden 64-64, seeds {r['seeds']} "
                     f"(test accuracy, mean over seeds; drop vs float in points)")
        f = r["float_mean"]
        for k in KEYS:
            vals = " ".join(f"{v:.4f}" for v in r[k])
            drop = (f - r[k + "_mean"]) * 100
            lines.append(f"  {k:<19} {r[k + '_mean']:.4f}  ({vals})  drop {drop:+.2f}")
        lines.append("  sizes (bytes): " + ", ".join(f"{k} {v}" for k, v in r["sizes"].items()))
        one = f"{r['float_1thread_s'] * 1e6:.0f}" if r["float_1thread_s"] else "n/a"
        lines.append(f"  batch 256: float {r['float_s'] * 1e6:.0f} us ({one} us on 1 BLAS "
                     f"thread), integer "
                     f"{r['integer_s'] * 1e6:.0f} us (codes only {r['integer_codes_s'] * 1e6:.0f}"
                     f" us, kernel {r['kernel']}); float/integer = {r['float/integer']:.2f}")
        lines.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                              for k, v in r["targets"].items()))
    return "\n".join(lines)
