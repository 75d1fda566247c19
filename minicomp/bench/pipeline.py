"""``minicomp bench pipeline``: Deep Compression's target (issue 19), measured over seeds.

For the LeNet-300-100-shaped MLP ``[in, 300, 100, 10]`` trained by
:func:`minicomp.train.train_baseline` (hidden 300-100) with each seed, on
digits and MNIST-1D, :func:`minicomp.pipeline.deep_compression` prunes,
quantizes and Huffman-codes it, choosing (sparsity, bits) on the
validation split. Reported, mean +/- std over the seeds:

1. the **stage table** (bytes, ratio vs float32, validation accuracy after
   each stage) of the chosen candidate;
2. the **test accuracy loss** of the chosen model vs the float32 net (and
   vs the dense control: the float net retrained with the pruning recipe,
   unpruned, which shows what the extra epochs alone give); target:
   >= 40x fewer bytes at <= 0.5 points mean loss;
3. the **sweep**: every candidate (sparsity, bits), its mean ratio and mean
   test loss, and the largest ratio at <= 0.5 points (a report on the test
   set after every choice was made, not a choice);
4. **bytes vs entropy**: the coded streams against the Shannon bound of
   the stored gap and index symbols, and what else the bytes hold (code
   tables, codebooks, biases);
5. the bytes of ``minicomp.store.pack(net, fmt="huffman")`` (must be equal).

``--quick`` runs one seed with a few epochs and one candidate (a smoke test;
its numbers mean nothing).
"""
from __future__ import annotations

import copy

import numpy as np

from ..pipeline import PipelineConfig, deep_compression
from ..prune import FineTune
from ..train import BaselineConfig, evaluate, train_baseline

DATASETS = ("digits", "mnist1d")
HIDDEN = (300, 100)
TARGET_RATIO, TARGET_LOSS = 40.0, 0.005
PARTS = ("stream_bytes", "entropy_bytes", "table_bytes", "codebook_bytes", "bias_bytes")


def _config(seed: int, quick: bool) -> PipelineConfig:
    if quick:
        return PipelineConfig(sparsities=(0.9,), bits=(4,), prune_epochs=2, finetune_epochs=1,
                              seed=seed)
    return PipelineConfig(seed=seed, stop_early=False)           # the full sweep


def one_seed(dataset: str, seed: int, quick: bool) -> dict:
    """The pipeline on one trained net: its table, test accuracies, sweep and entropy."""
    base = BaselineConfig(dataset=dataset, hidden=HIDDEN, seed=seed, epochs=2 if quick else 40)
    net, _, result, data = train_baseline(base, quiet=True)
    config = _config(seed, quick)
    r = deep_compression(net, data.X_train, data.y_train, data.X_val, data.y_val, config)
    control = copy.deepcopy(net)                                  # dense, same extra epochs
    FineTune(epochs=config.prune_epochs, lr=config.lr, weight_decay=config.weight_decay,
             seed=seed)(control, data.X_train, data.y_train)
    test = lambda m: evaluate(m, data.X_test, data.y_test)["accuracy"]   # noqa: E731
    from ..store import pack
    return {"table": r.table, "sparsity": r.sparsity, "bits": r.bits, "float": result["accuracy"],
            "control": test(control), "compressed": test(r.net), "nbytes": r.nbytes,
            "store_bytes": pack(r.net, fmt="huffman").nbytes,
            "sweep": [{**c, "test_accuracy": test(m)} for c, m in zip(r.candidates, r.nets)],
            "entropy": {k: float(sum(e.report[k] for e in r.encoded)) for k in PARTS}}


def _ms(values) -> tuple:
    return float(np.mean(values)), float(np.std(values))


def summarize(dataset: str, per_seed: list, seeds) -> dict:
    """One row: per-seed values and their mean and std, the sweep, the targets."""
    row = {"dataset": dataset, "net": f"MLP [in, {HIDDEN[0]}, {HIDDEN[1]}, 10]",
           "seeds": list(seeds), "chosen": [(p["sparsity"], p["bits"]) for p in per_seed]}
    row["table"] = [{"stage": s["stage"], **{k: _ms([p["table"][i][k] for p in per_seed])
                                             for k in ("bytes", "ratio", "val_accuracy")}}
                    for i, s in enumerate(per_seed[0]["table"])]
    for k in ("float", "control", "compressed"):
        row[k] = _ms([p[k] for p in per_seed])
    row["loss"] = _ms([p["float"] - p["compressed"] for p in per_seed])
    row["loss_vs_control"] = _ms([p["control"] - p["compressed"] for p in per_seed])
    row["ratio"] = row["table"][-1]["ratio"]
    row["store_bytes_equal"] = all(p["store_bytes"] == p["nbytes"] for p in per_seed)
    row["entropy"] = {k: _ms([p["entropy"][k] for p in per_seed]) for k in PARTS}
    sweep = {}
    for p in per_seed:
        for c in p["sweep"]:
            sweep.setdefault((c["sparsity"], c["bits"]), []).append(
                (p["float"] - c["test_accuracy"], p["table"][0]["bytes"] / c["bytes"]))
    row["sweep"] = [{"sparsity": s, "bits": b, "loss": _ms([v[0] for v in vals]),
                     "ratio": _ms([v[1] for v in vals])}
                    for (s, b), vals in sorted(sweep.items()) if len(vals) == len(per_seed)]
    ok = [c for c in row["sweep"] if c["loss"][0] <= TARGET_LOSS + 1e-12]
    row["largest_ratio"] = max(ok, key=lambda c: c["ratio"][0]) if ok else None
    row["targets"] = {f"chosen: >= {TARGET_RATIO:.0f}x at <= {100 * TARGET_LOSS} pt":
                      row["ratio"][0] >= TARGET_RATIO and row["loss"][0] <= TARGET_LOSS,
                      f"sweep: some candidate >= {TARGET_RATIO:.0f}x at <= {100 * TARGET_LOSS} pt":
                      bool(ok) and row["largest_ratio"]["ratio"][0] >= TARGET_RATIO}
    return row


def run(quick: bool = False, seeds=None) -> list[dict]:
    """One row per dataset (see the module docstring)."""
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    return [summarize(d, [one_seed(d, s, quick) for s in seeds], seeds) for d in DATASETS]


def _pm(v, scale=1.0, fmt=".2f") -> str:
    return f"{v[0] * scale:{fmt}} +/- {v[1] * scale:{fmt}}"


def format_table(rows) -> str:
    lines = []
    for r in rows:
        lines.append(f"{r['dataset']}, {r['net']}, seeds {r['seeds']}, chosen (sparsity, bits) "
                     f"on validation: {r['chosen']}  (mean +/- std over seeds)")
        lines.append(f"  {'stage':<28}{'bytes':>22}{'ratio':>20}{'val accuracy':>22}")
        for s in r["table"]:
            lines.append(f"  {s['stage']:<28}{_pm(s['bytes'], fmt='.0f'):>22}"
                         f"{_pm(s['ratio'], fmt='.1f'):>20}{_pm(s['val_accuracy'], fmt='.4f'):>22}")
        lines.append(f"  test accuracy: float32 {_pm(r['float'], fmt='.4f')}, dense control "
                     f"{_pm(r['control'], fmt='.4f')}, compressed "
                     f"{_pm(r['compressed'], fmt='.4f')}")
        lines.append(f"  loss vs float32 {_pm(r['loss'], 100)} pt (vs dense control "
                     f"{_pm(r['loss_vs_control'], 100)} pt) at {_pm(r['ratio'], fmt='.1f')}x; "
                     f"store.pack bytes equal: {r['store_bytes_equal']}")
        lines.append("  sweep (test, after the choice): " + ", ".join(
            f"{c['sparsity']}/{c['bits']}b {c['ratio'][0]:.0f}x {100 * c['loss'][0]:+.2f}pt"
            for c in r["sweep"]))
        big = r["largest_ratio"]
        lines.append("  largest ratio at <= 0.5 pt mean test loss: " + (
            f"{_pm(big['ratio'], fmt='.1f')}x (sparsity {big['sparsity']}, {big['bits']} bits, "
            f"loss {_pm(big['loss'], 100)} pt)" if big else "none"))
        e = {k: v[0] for k, v in r["entropy"].items()}                  # means over seeds
        over = e["stream_bytes"] / max(e["entropy_bytes"], 1e-9)
        lines.append(f"  coded streams {e['stream_bytes']:.0f} B vs entropy "
                     f"{e['entropy_bytes']:.0f} B ({over:.3f}x); + code tables "
                     f"{e['table_bytes']:.0f}, codebooks {e['codebook_bytes']:.0f}, "
                     f"biases {e['bias_bytes']:.0f} B (means)")
        lines.append("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}"
                                              for k, v in r["targets"].items()))
    return "\n".join(lines)
