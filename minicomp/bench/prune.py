"""``minicomp bench prune``: the pruning issue's targets, measured over seeds.

1. **compression** -- the largest factor (weights / nonzero weights) reached
   with at most 0.3 points of mean test-accuracy loss after fine-tuning,
   by gradual global magnitude pruning (Zhu & Gupta's cubic schedule)
   during 40 epochs of fine-tuning, on digits and MNIST-1D, for the seeds'
   MLP (hidden 64-64) and a LeNet-300-100-sized MLP (hidden 300-100, the
   net of Han et al.'s 12x). The dense net fine-tuned with the same recipe
   is reported as a control.
2. **structured** -- hidden neurons removed by R_i (seed 000) during 40
   epochs of fine-tuning (cubic schedule), the largest fraction at <= 1
   point mean loss, for both MLPs on both datasets; then ``compact()`` and
   the dense (BLAS) inference time of the smaller net vs the unpruned one,
   batch 256. L1 norm and random neuron pruning are run at the same
   fractions for comparison.
3. **correlation** -- Spearman rank correlation of each criterion with the
   true change of the training loss when one weight (or one hidden neuron)
   is removed, measured by ablating every one of them in turn (Molchanov
   et al. 2017's oracle), within each layer, averaged over layers and seeds.
4. **reconstruction** -- relative layer reconstruction error
   ``||X W'^T - X W^T||^2 / ||X W^T||^2`` of OBS (with its update), OBD
   (layer-wise, zeroing) and magnitude (zeroing) at several sparsities.
"""
from __future__ import annotations

import copy
import time

import numpy as np

from ..blocks import dense_blocks, numpy_forward
from ..prune import FineTune, compact, gradual, mask_from_scores, prune, size_report
from ..prune.obd import obd_layer_scores
from ..prune.obs import obs_prune, obs_scores, reconstruction_error
from ..prune.registry import layer_scores
from ..prune.taylor import taylor_scores
from ..train import BaselineConfig, evaluate, train_baseline
from .inference import format_time, inference_time
from .timing import SETTLE, median_time


def dense_layers(net) -> list:
    """The Dense layers of ``net``, in order."""
    return [block.dense for block in dense_blocks(net)]


def layer_inputs(net, X) -> list:
    """The input (N, in_k) of every Dense layer of ``net`` on ``X``, float32."""
    return numpy_forward(net, X, inputs=True)[1]


SPARSITIES = (0.5, 0.75, 0.875, 0.9, 0.917, 0.93, 0.95, 0.96)      # 2x ... 25x
NEURON_FRACTIONS = (0.25, 0.5, 0.625, 0.75)


def _recipe(seed):
    return FineTune(epochs=40, lr=0.05, weight_decay=5e-4, seed=seed)


def _trained(dataset, hidden, seed):
    net, _, result, data = train_baseline(BaselineConfig(dataset=dataset, hidden=hidden,
                                                         seed=seed), quiet=True)
    return net, result["accuracy"], data


def compression(datasets, hiddens, seeds, sparsities) -> list:
    """Target 1: one row per (dataset, net) with accuracy at every sparsity."""
    rows = []
    for dataset in datasets:
        for hidden in hiddens:
            base, control, acc = [], [], {s: [] for s in sparsities}
            nets = {}
            for seed in seeds:
                net0, a0, data = _trained(dataset, hidden, seed)
                base.append(a0)
                dense = copy.deepcopy(net0)
                _recipe(seed)(dense, data.X_train, data.y_train)
                control.append(evaluate(dense, data.X_test, data.y_test)["accuracy"])
                for s in sparsities:
                    net = copy.deepcopy(net0)
                    gradual(net, data.X_train, data.y_train, s, fine_tune=_recipe(seed),
                            scope="global")
                    acc[s].append(evaluate(net, data.X_test, data.y_test)["accuracy"])
                    nets[s] = net
            drops = {s: 100 * (np.mean(base) - np.mean(acc[s])) for s in sparsities}
            ok = [s for s in sparsities if drops[s] <= 0.3]
            best = max(ok) if ok else None
            below = 0                                # every level up to it passes
            while below < len(sparsities) and drops[sparsities[below]] <= 0.3:
                below += 1
            report = size_report(nets[best]) if best is not None else None
            rows.append({
                "dataset": dataset, "hidden": "-".join(map(str, hidden)), "seeds": list(seeds),
                "baseline_acc": float(np.mean(base)), "dense_finetuned_acc": float(np.mean(control)),
                "acc": {f"{1 / (1 - s):.1f}x": float(np.mean(acc[s])) for s in sparsities},
                "drop_points": {f"{1 / (1 - s):.1f}x": float(drops[s]) for s in sparsities},
                "best_factor": (report["compression"] if report else None),
                "best_factor_all_below": (1 / (1 - sparsities[below - 1]) if below else None),
                "best_dense_bytes": report["dense_bytes"] if report else None,
                "best_csr_bytes": report["csr_bytes"] if report else None})
    return rows


def structured(datasets, seeds, fractions, hiddens=((64, 64),)) -> list:
    """Target 2: neurons removed by R_i (and L1, random) with fine-tuning; compact speed."""
    rows = []
    for dataset in datasets:
        for hidden in hiddens:
            rows.append(_structured_one(dataset, hidden, seeds, fractions))
    return rows


def _structured_one(dataset, hidden, seeds, fractions) -> dict:
    base, acc, small_net, big_net = [], {}, None, None
    for seed in seeds:
        net0, a0, data = _trained(dataset, hidden, seed)
        base.append(a0)
        for crit in ("activation", "l1", "random_neuron"):
            for f in fractions:
                net = copy.deepcopy(net0)
                gradual(net, data.X_train, data.y_train, f, criterion=crit,
                        fine_tune=_recipe(seed), seed=seed)
                acc.setdefault((crit, f), []).append(
                    evaluate(net, data.X_test, data.y_test)["accuracy"])
                if crit == "activation" and f == 0.5 and small_net is None:
                    small_net, big_net = compact(net), net0
    drops = {k: 100 * (np.mean(base) - np.mean(v)) for k, v in acc.items()}
    ok = [f for f in fractions if drops[("activation", f)] <= 1.0]
    X = np.ascontiguousarray(data.X_test[:256], dtype=np.float32)
    time.sleep(SETTLE)                               # idle thread pools first
    t_big = median_time(lambda: numpy_forward(big_net, X), samples=31)
    t_small = median_time(lambda: numpy_forward(small_net, X), samples=31)
    pruned = copy.deepcopy(big_net)                  # compact() vs the masked net
    prune(pruned, "activation", 0.5, data.X_train)
    same = bool(np.allclose(numpy_forward(compact(pruned), X), numpy_forward(pruned, X),
                            rtol=1e-5, atol=1e-5))
    return {
        "dataset": dataset, "hidden": "-".join(map(str, hidden)), "seeds": list(seeds),
        "baseline_acc": float(np.mean(base)),
        "drop_points": {f"{c} {f:.3f}": float(d) for (c, f), d in drops.items()},
        "max_fraction_removed_R_i": max(ok) if ok else None,
        "compact_shapes_at_0.5": [m.W.shape for m in dense_layers(small_net)],
        "compact_identical": same, "dense_us_original": t_big * 1e6,
        "dense_us_compact": t_small * 1e6, "speedup_compact": t_big / t_small}


def _spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def _xent(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())


def correlation(seeds, hidden=(32, 32)) -> dict:
    """Target 3: Spearman of each criterion with single-weight / single-neuron ablation."""
    conn = ("magnitude", "random", "wanda", "taylor", "taylor_first_order", "obd", "obs")
    neur = ("activation", "taylor_neuron", "l1", "l2", "random_neuron")
    result = {c: [] for c in conn + neur}
    for seed in seeds:
        net, _, data = _trained("digits", hidden, seed)
        X, y = data.X_train, data.y_train
        L0 = _xent(numpy_forward(net, X), y)
        layers = dense_layers(net)
        truth_w, truth_n = [], []
        for k, m in enumerate(layers):
            W = m.W.data
            dw = np.zeros(W.shape)
            for idx in np.ndindex(*W.shape):                # remove one weight at a time
                w = W[idx]
                W[idx] = 0.0
                dw[idx] = abs(_xent(numpy_forward(net, X), y) - L0)
                W[idx] = w
            truth_w.append(dw)
            if k < len(layers) - 1:
                dn = np.zeros(m.out_features)
                for i in range(m.out_features):             # remove one neuron at a time
                    row, b = W[i].copy(), m.b.data[i]
                    W[i], m.b.data[i] = 0.0, 0.0
                    dn[i] = abs(_xent(numpy_forward(net, X), y) - L0)
                    W[i], m.b.data[i] = row, b
                truth_n.append(dn)
        inputs = layer_inputs(net, X)
        scores = {c: layer_scores(net, c, X, y, seed) for c in conn + neur
                  if c not in ("obs", "taylor_first_order")}
        scores["obs"] = [obs_scores(m, x) for m, x in zip(layers, inputs)]
        scores["taylor_first_order"] = taylor_scores(net, X, y, mode="first_order")
        for c in conn:
            result[c].append(np.mean([_spearman(s.ravel(), t.ravel())
                                      for s, t in zip(scores[c], truth_w)]))
        for c in neur:
            result[c].append(np.mean([_spearman(s, t) for s, t in zip(scores[c], truth_n)]))
    return {"net": f"digits MLP 64-{'-'.join(map(str, hidden))}-10", "seeds": list(seeds),
            "spearman": {c: float(np.mean(v)) for c, v in result.items()}}


def reconstruction(seeds, sparsities=(0.5, 0.75, 0.9)) -> list:
    """Target 4: layer reconstruction error of OBS < OBD < magnitude."""
    rows = []
    for dataset in ("digits", "mnist1d"):
        errs = {}
        for seed in seeds:
            net, _, data = _trained(dataset, (64, 64), seed)
            X = data.X_train[:1000]
            for k, (m, x) in enumerate(zip(dense_layers(net), layer_inputs(net, X))):
                W = m.W.data.astype(np.float64)
                for s in sparsities:
                    e = errs.setdefault((k, s), {"magnitude": [], "obd": [], "obs": []})
                    e["magnitude"].append(reconstruction_error(
                        W, W * mask_from_scores(np.abs(W), s), x))
                    e["obd"].append(reconstruction_error(
                        W, W * mask_from_scores(obd_layer_scores(W, x), s), x))
                    e["obs"].append(reconstruction_error(W, obs_prune(W, x, s)[0], x))
        for (k, s), e in sorted(errs.items()):
            mean = {c: float(np.mean(v)) for c, v in e.items()}
            rows.append({"dataset": dataset, "layer": k, "sparsity": s, **mean,
                         "obs<obd<magnitude": mean["obs"] < mean["obd"] < mean["magnitude"]})
    return rows


def run(quick: bool = False, seeds=None) -> dict:
    """All four measurements; ``quick``: one seed, fewer points (a smoke run)."""
    seeds = tuple(seeds or ((0,) if quick else (0, 1, 2)))
    sparsities = (0.75, 0.9, 0.917) if quick else SPARSITIES
    hiddens = ((64, 64),) if quick else ((64, 64), (300, 100))
    result = {
        "compression": compression(("digits", "mnist1d"), hiddens, seeds, sparsities),
        "structured": structured(("digits",) if quick else ("digits", "mnist1d"), seeds,
                                 (0.5,) if quick else NEURON_FRACTIONS, hiddens),
        "correlation": correlation(seeds, hidden=(16, 16) if quick else (32, 32)),
        "reconstruction": reconstruction(seeds, (0.5, 0.9) if quick else (0.5, 0.75, 0.9)),
    }
    result["timing"] = []
    for hidden, s in (((64, 64), 0.9), ((300, 100), 0.93)):
        net, _, data = _trained("digits", hidden, seeds[0])
        prune(net, "magnitude", s, scope="global")   # timing only: no fine-tuning
        sizes = {k: v for k, v in size_report(net).items() if k != "layers"}
        for batch in (1, 256):
            X = np.ascontiguousarray(data.X_test[:batch], dtype=np.float32)
            result["timing"].append({"hidden": "-".join(map(str, hidden)), "batch": batch,
                                     **sizes, **inference_time(net, X, 7 if quick else 21)})
    return result


def timing_targets(timing) -> dict:
    """Pruned >= 10x: fused CSR >= 1.3x the float forward at batch >= 32, >= 1x below."""
    return {f"MLP {t['hidden']} batch {t['batch']} fused >= {need}x float":
            t["float/fused"] >= need for t in timing if t["compression"] >= 10
            for need in [1.3 if t["batch"] >= 32 else 1.0]}


def format_table(result: dict) -> str:
    """The four measurements as plain-text tables."""
    out = [("1. compression at <= 0.3 points mean test-accuracy loss "
            "(gradual global magnitude, 40 epochs fine-tuning)")]
    for r in result["compression"]:
        best = f"{r['best_factor']:.1f}x" if r["best_factor"] else "none"
        below = (f"{r['best_factor_all_below']:.1f}x" if r["best_factor_all_below"]
                 else "none")
        out.append(f"  {r['dataset']:<8} MLP {r['hidden']:<7} seeds {r['seeds']}  "
                   f"baseline {r['baseline_acc']:.4f}  dense fine-tuned "
                   f"{r['dense_finetuned_acc']:.4f}  largest factor {best} "
                   f"(every level up to {below})")
        out.append("    " + "  ".join(f"{k}: {v:+.2f}" for k, v in r["drop_points"].items())
                   + "  (points lost)")
        if r["best_factor"]:
            out.append(f"    at {best}: {r['best_dense_bytes']} B dense -> "
                       f"{r['best_csr_bytes']} B CSR")
    out.append("2. structured: hidden neurons removed, points lost after fine-tuning")
    for r in result["structured"]:
        out.append(f"  {r['dataset']:<8} MLP {r['hidden']:<7} baseline {r['baseline_acc']:.4f}"
                   f"  largest R_i fraction at <= 1 point: {r['max_fraction_removed_R_i']}")
        out.append("    " + "  ".join(f"{k}: {v:+.2f}" for k, v in r["drop_points"].items()))
        out.append(f"    compact at 0.5: {r['compact_shapes_at_0.5']}, identical outputs "
                   f"{r['compact_identical']}, dense {r['dense_us_original']:.1f} us -> "
                   f"{r['dense_us_compact']:.1f} us ({r['speedup_compact']:.2f}x)")
    c = result["correlation"]
    out.append(f"3. Spearman with true ablation loss change ({c['net']}, seeds {c['seeds']})")
    out.append("  " + "  ".join(f"{k}: {v:.2f}" for k, v in c["spearman"].items()))
    out.append("4. layer reconstruction error (relative): OBS < OBD < magnitude?")
    for r in result["reconstruction"]:
        out.append(f"  {r['dataset']:<8} layer {r['layer']} sparsity {r['sparsity']:.2f}: "
                   f"obs {r['obs']:.4f}  obd {r['obd']:.4f}  magnitude {r['magnitude']:.4f}"
                   f"  {'yes' if r['obs<obd<magnitude'] else 'NO'}")
    out.append("5. inference of magnitude-pruned digits MLPs (global): float NumPy forward vs "
               "the CSR model, layer by layer and fused (ratios: float / CSR)")
    for t in result["timing"]:
        out.append(f"  MLP {t['hidden']:<7} {t['compression']:5.1f}x batch {t['batch']:4d} "
                   f"({t['dense_bytes']} B dense, {t['csr_bytes']} B CSR): {format_time(t)}")
    out.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                        for k, v in timing_targets(result["timing"]).items()))
    return "\n".join(out)
