"""``minicomp bench ptq``: the post-training reconstruction issue's targets, over seeds.

For the seeds' MLP (hidden 64-64) on digits and MNIST-1D, trained by
:func:`minicomp.train.train_baseline` with each seed, calibrated on the
whole training set (GPTQ's H and AdaRound's loss; a choice made on
validation, below):

1. **bits** -- per-channel symmetric weights with 8-bit activations at 4
   and 3 bits: round-to-nearest (:func:`minicomp.quant.quantize_mlp`),
   GPTQ and AdaRound. Targets: at 4 bits GPTQ and AdaRound lose at most
   half of round-to-nearest's drop (n/a where that drop is within the
   spread over seeds: half of noise is not a measurement); at 3 bits GPTQ beats it by >= 5
   points on MNIST-1D. The 4-bit GPTQ model also runs on the int8
   kernels (:func:`minicomp.deploy.to_inference` of
   :func:`~minicomp.ptq.as_int8` of it): ``integer_gptq4``. ``gptq*`` is
   :func:`~minicomp.ptq.gptq_mlp`'s default, asymmetric calibration (each
   layer aims at the float net's outputs); ``gptq*_sym`` is the original
   GPTQ (each layer matches its own outputs on the quantized net's
   inputs). The calibration set (all training rows rather than 512),
   AdaRound's iterations and GPTQ's asymmetric default were chosen on a
   validation split, the test set unused: ``minicomp bench ptq_choices``
   reruns that experiment (e.g. W3A8 64-64, drop vs float in points,
   512 rows / all rows: original GPTQ 4.08 / 2.98, AdaRound 2,000
   iterations 3.71 / 1.67, round-to-nearest 8.65 / 8.62).
2. **sparsity** -- SparseGPT at 50 % and 2:4, one-shot, against
   magnitude pruning one-shot at equal sparsity (no fine-tuning); n/a where
   magnitude pruning's own drop is within the spread over seeds.
3. **equalization** -- the net with hidden neuron 0 of layer 0 scaled up
   50x and its outgoing weights down 50x (the same function; channel
   ranges differ by >= 10x): per-tensor W8A8 as is, after cross-layer
   equalization, and after equalization + analytic bias correction (no
   data). Target: the last recovers >= half of the drop. On the trained
   net itself: per-tensor W4A8 as is, and after equalization + bias
   correction, analytic and empirical (``E[x]`` on the calibration set).
4. **transforms** -- the net with 1 % of layer 1's input channels (one of
   64) made an activation outlier 30x: 3-bit weight-only round-to-nearest
   vs AWQ, keeping the salient vs a random channel in float, and per-tensor
   W8A8 vs SmoothQuant (alpha 0.5).

The bits targets (item 1) are judged on **10 seeds** per net (rows
``digits bits`` and ``mnist1d bits``: the 3 seeds above and 7 more nets
trained for item 1 only; the larger MLP below): the drops they compare are
about a point, and so is their spread over seeds, so 3 seeds cannot decide
them (the number was fixed before any 10-seed run).

A **larger MLP** (MNIST-1D, hidden 256-256, 30 epochs, batch 64) is
trained with each of the 10 seeds (bits 4, 3, 2). **Speed**:
GPTQ of one 512 x 512 layer (H from 2048 random rows), median of 3, with
BLAS's default threads and on one thread (threadpoolctl, when installed);
``--quick`` times one run.
"""
from __future__ import annotations

import copy

import numpy as np

from ..blocks import dense_blocks, numpy_forward
from ..deploy import to_inference
from ..prune import nm_mask, prune
from ..prune.mask import apply_mask
from ..ptq import (
    adaround_mlp,
    as_int8,
    awq,
    bias_correction,
    cross_layer_equalize,
    gptq_mlp,
    smoothquant,
    sparsegpt_net,
)
from ..ptq.equalize import scale_neurons
from ..ptq.gptq import gptq
from ..ptq.transforms import protect_channels, salient_channels
from ..quant import quantize_mlp, quantize_weights
from ..train import BaselineConfig, evaluate, train_baseline
from .timing import median_time, one_blas_thread

DATASETS = ("digits", "mnist1d")
# the bits targets compare drops of about a point whose spread over seeds is about a point
# (chapter 06, minicomp bench ptq_choices): 3 seeds cannot decide them, so they are measured
# on 10 (fixed before any 10-seed run; the 3-seed rows show the same keys for reference)
BITS_SEEDS = 10


def _acc(model, data) -> float:
    return evaluate(model, data.X_test, data.y_test)["accuracy"]


def planted(net, layer: int, channels, scale: float):
    """A copy of ``net`` (same function) whose layer-``layer`` input ``channels`` are
    ``scale`` x larger and their weights ``scale`` x smaller."""
    net = copy.deepcopy(net)
    blocks = dense_blocks(net)
    s = np.ones(blocks[layer - 1].dense.out_features)
    s[list(channels)] = 1.0 / scale
    scale_neurons(blocks[layer - 1].dense, blocks[layer].dense, s)
    return net


def _nm_magnitude(net, n=2, m=4):
    net = copy.deepcopy(net)
    for b in dense_blocks(net):
        apply_mask(b.dense.W, nm_mask(np.abs(b.dense.W.data), n, m))
    return net


def bits_rows(net, data, X_cal, seed, bits_list, iters) -> dict:
    """Round-to-nearest, GPTQ and AdaRound accuracies at each bit width (W per channel, A8)."""
    r = {}
    for bits in bits_list:
        r[f"rtn{bits}"] = _acc(quantize_mlp(net, X_cal, bits, 8), data)
        r[f"gptq{bits}"] = _acc(gptq_mlp(net, X_cal, bits, 8), data)
        r[f"gptq{bits}_sym"] = _acc(gptq_mlp(net, X_cal, bits, 8, asymmetric=False), data)
        r[f"adaround{bits}"] = _acc(adaround_mlp(net, X_cal, bits, 8, iters=iters, seed=seed),
                                    data)
    return r


def bits_only(dataset: str, seed: int, quick: bool, more: bool = False):
    """Train the baseline with ``seed``; item 1 (float and :func:`bits_rows`). ``more``:
    also return ``(net, data, X_cal)`` for the other items."""
    net, _, result, data = train_baseline(
        BaselineConfig(dataset=dataset, seed=seed, epochs=3 if quick else 40), quiet=True)
    X_cal = data.X_train[:512] if quick else data.X_train
    r = {"float": result["accuracy"],
         **bits_rows(net, data, X_cal, seed, (4, 3), 20 if quick else 2000)}
    return (r, net, data, X_cal) if more else r


def one_seed(dataset: str, seed: int, quick: bool) -> dict:
    """Every measurement of items 1-4 of the module docstring for one trained net."""
    r, net, data, X_cal = bits_only(dataset, seed, quick, more=True)
    rng = np.random.default_rng(seed)
    inet = to_inference(as_int8(gptq_mlp(net, X_cal, 4, 8)))
    r["integer_gptq4"] = float((inet(data.X_test).argmax(1) == data.y_test).mean())
    r["sparsegpt50"] = _acc(sparsegpt_net(net, X_cal, 0.5), data)
    magnitude = copy.deepcopy(net)
    prune(magnitude, "magnitude", 0.5)
    r["magnitude50"] = _acc(magnitude, data)
    r["sparsegpt24"] = _acc(sparsegpt_net(net, X_cal, nm=(2, 4)), data)
    r["magnitude24"] = _acc(_nm_magnitude(net), data)
    out = planted(net, 1, [0], 50.0)                       # hidden neuron 0 of layer 0, x50
    r["outlier_tensor8"] = _acc(quantize_mlp(out, X_cal, 8, 8, "tensor"), data)
    eq = cross_layer_equalize(out)
    r["cle_tensor8"] = _acc(quantize_mlp(eq, X_cal, 8, 8, "tensor"), data)
    r["cle_bc_tensor8"] = _acc(quantize_mlp(bias_correction(eq, 8, "tensor"), X_cal, 8, 8,
                                            "tensor"), data)
    r["rtn4_tensor"] = _acc(quantize_mlp(net, X_cal, 4, 8, "tensor"), data)   # plain net
    eq4 = cross_layer_equalize(net)
    r["cle_bc4_tensor"] = _acc(quantize_mlp(bias_correction(eq4, 4, "tensor"), X_cal, 4, 8,
                                            "tensor"), data)
    r["cle_bc4_tensor_empirical"] = _acc(quantize_mlp(
        bias_correction(eq4, 4, "tensor", X=X_cal), X_cal, 4, 8, "tensor"), data)
    hot = planted(net, 1, [int(rng.integers(64))], 30.0)   # 1 % of 64 inputs: one channel
    r["planted_rtn_w3"] = _acc(quantize_mlp(hot, None, 3, None), data)
    r["awq_w3"] = _acc(quantize_mlp(awq(hot, X_cal, 3), None, 3, None), data)
    _, inputs = numpy_forward(hot, X_cal, inputs=True)
    salient = salient_channels(inputs[1], 0.01)
    others = np.setdiff1d(np.arange(64), salient)
    for name, channels in (("salient", salient), ("random", rng.choice(others, len(salient)))):
        q = copy.deepcopy(hot)
        quantize_weights(q, 3)
        q[2].W.data[...] = protect_channels(hot[2].W.data, channels, 3)
        r[f"protect_{name}_w3"] = _acc(q, data)
    r["planted_w8a8_tensor"] = _acc(quantize_mlp(hot, X_cal, 8, 8, "tensor"), data)
    r["smoothquant_w8a8_tensor"] = _acc(quantize_mlp(smoothquant(hot, X_cal, 0.5), X_cal, 8, 8,
                                                     "tensor"), data)
    return r


def large_mlp(seeds, quick: bool) -> dict:
    """The larger MLP, trained once per seed, calibrated like the small ones."""
    hidden = (32, 32) if quick else (256, 256)
    per_seed = []
    for seed in seeds:
        net, _, result, data = train_baseline(BaselineConfig(
            dataset="mnist1d", hidden=hidden, epochs=3 if quick else 30, batch_size=64,
            seed=seed), quiet=True)
        X_cal = data.X_train[:512] if quick else data.X_train
        per_seed.append({"float": result["accuracy"], **bits_rows(
            net, data, X_cal, seed, (4, 3, 2), 20 if quick else 2000)})
    row = _summarise("mnist1d large", seeds, per_seed)
    row["hidden"] = list(hidden)
    return row


def _summarise(name, seeds, per_seed) -> dict:
    row = {"dataset": name, "seeds": list(seeds), "keys": list(per_seed[0])}
    for k in per_seed[0]:
        row[k] = [p[k] for p in per_seed]
        row[k + "_mean"], row[k + "_std"] = float(np.mean(row[k])), float(np.std(row[k]))
    return row


def _targets(row) -> dict:
    f, m, t = row["float_mean"], lambda k: row[k + "_mean"], {}
    if row["dataset"].endswith((" bits", " large")):
        drop, noise = f - m("rtn4"), max(row["rtn4_std"], row["float_std"])
        # None (n/a): round-to-nearest's own drop is within the spread over seeds
        t = {f"{k} drop <= half of rtn4's": f - m(k) <= drop / 2 if drop > noise else None
             for k in ("gptq4", "adaround4")}
    if row["dataset"] == "mnist1d bits":
        t["gptq3 >= rtn3 + 5 pt"] = m("gptq3") - m("rtn3") >= 0.05
    if "sparsegpt50" in row:
        for k in ("50", "24"):      # n/a when magnitude pruning's own drop is within noise
            measurable = f - m("magnitude" + k) > max(row[f"magnitude{k}_std"], row["float_std"])
            t[f"sparsegpt{k} > magnitude{k}"] = m("sparsegpt" + k) > m(
                "magnitude" + k) if measurable else None
        drop = f - m("outlier_tensor8")
        t["cle+bc recovers >= half of tensor8's drop"] = m("cle_bc_tensor8") - m(
            "outlier_tensor8") >= drop / 2
    return t


def run(quick: bool = False, seeds=None) -> list[dict]:
    """One row per dataset and one for the larger MLP, then the GPTQ timing row."""
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    rows = []
    for dataset in DATASETS:
        full = [one_seed(dataset, s, quick) for s in seeds]
        rows.append(_summarise(dataset, seeds, full))
        more = list(range(max(seeds) + 1, max(seeds) + 1 + (2 if quick else BITS_SEEDS)
                          - len(seeds)))
        extra = [bits_only(dataset, s, quick) for s in more]
        rows.append(_summarise(f"{dataset} bits", [*seeds, *more],
                               [{k: r[k] for k in extra[0]} for r in full] + extra))
    rows.append(large_mlp(seeds if quick else range(BITS_SEEDS), quick))
    for row in rows:
        row["targets"] = _targets(row)
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((2048, 512)), rng.standard_normal((512, 512))
    H = 2 * X.T @ X
    timing = {"samples": 1, "warmup": 0} if quick else {"samples": 3, "warmup": 1}
    seconds = median_time(lambda: gptq(W, H, 4), **timing)
    one = one_blas_thread(lambda: median_time(lambda: gptq(W, H, 4), **timing))
    rows.append({"dataset": "speed", "gptq_512_s": seconds, "gptq_512_1thread_s": one,
                 "targets": {"gptq 512x512 < 1 s": min(seconds, one or seconds) < 1.0}})
    return rows


def format_table(rows) -> str:
    lines = []
    for r in rows:
        if r["dataset"] == "speed":
            one = r.get("gptq_512_1thread_s")
            lines.append(f"GPTQ of one 512 x 512 layer (4 bits, per channel): "
                         f"{r['gptq_512_s']:.3f} s (median of 3; "
                         f"{'n/a' if one is None else f'{one:.3f} s'} on 1 BLAS thread)")
        else:
            size = "-".join(str(h) for h in r.get("hidden", (64, 64)))
            lines.append(f"{r['dataset']}, MLP hidden {size}, seeds {r['seeds']} (test "
                         "accuracy, mean ± std over seeds; drop vs float in points)")
            f = r["float_mean"]
            for k in r["keys"]:
                vals = " ".join(f"{v:.4f}" for v in r[k])
                lines.append(f"  {k:<24} {r[k + '_mean']:.4f} ± {r[k + '_std']:.4f}  "
                             f"({vals})  drop {(f - r[k + '_mean']) * 100:+.2f}")
        verdict = {True: "met", False: "MISSED", None: "n/a (the baseline method's drop is "
                   "within the spread over seeds)"}
        lines.append("  targets: " + ", ".join(f"{k}: {verdict[v]}"
                                              for k, v in r["targets"].items()))
    return "\n".join(lines)
