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
   int8 kernels, float logits out) vs the float model
   (:func:`minicomp.blocks.numpy_forward`), batch 1 and 256, median time
   (:func:`minicomp.bench.inference.inference_time`): layer by layer and
   fused (all layers in one compiled call, :mod:`minicomp.fused_model`).
   The float model is timed with BLAS's default threads and with one
   thread; the ratios use the faster float time. Targets: fused >= 1.3x
   float at batch 256, no slower at batch 1.
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
from ..train import BaselineConfig, evaluate, train_baseline
from .inference import format_time, inference_time

DATASETS = ("digits", "mnist1d")
BATCHES = (1, 256)


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
        X = np.resize(data.X_test, (256, data.X_test.shape[1])).astype(np.float32)  # (256, in)
        r["speed"] = [{"batch": B, **inference_time(net, X[:B], 7 if quick else 21, inet)}
                      for B in BATCHES]
        r["kernel"] = choose_path()                        # what Int8Kernel(path="auto") runs
    return r


KEYS = ("float", "ptq8_channel", "ptq8_channel_cal512", "ptq8_tensor", "integer", "outlier_float",
        "outlier_tensor", "outlier_channel", "ptq4_channel", "qat4", "kmeans2", "kmeans2_ft")


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
        row["speed"], row["kernel"] = per_seed[0]["speed"], per_seed[0]["kernel"]
        ratio = {t["batch"]: t["float/fused"] for t in row["speed"]}
        row["sizes"] = per_seed[0]["sizes"]
        f = row["float_mean"]
        row["targets"] = {
            "ptq8_channel <= 0.3 pt": f - row["ptq8_channel_mean"] <= 0.003,
            "qat4 <= 1 pt": f - row["qat4_mean"] <= 0.01,
            "kmeans2_ft <= 2 pt": f - row["kmeans2_ft_mean"] <= 0.02,
            "integer fused >= 1.3x float, batch 256": ratio[256] >= 1.3,
            "integer fused no slower than float, batch 1": ratio[1] >= 1.0,
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
        for t in r["speed"]:
            lines.append(f"  batch {t['batch']:3d}: {format_time(t)}")
        lines.append(f"  (int8 kernel of the layers: {r['kernel']})")
        lines.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                              for k, v in r["targets"].items()))
    return "\n".join(lines)
