"""``minicomp bench onnx``: a compressed model on minicomp's kernels and in onnxruntime.

The tour's kinds of model on digits (the baseline MLP 64-64-64-10 of
:func:`minicomp.train.train_baseline`): float (dense records), pruned to
90 % sparsity by magnitude (CSR records), int8 integer-only
(:func:`~minicomp.quant.quantize_mlp` then
:func:`~minicomp.deploy.to_inference`) and k-means with 4-bit codebooks
(:func:`~minicomp.quant.kmeans.kmeans_quantize`), each packed with
:func:`minicomp.store.pack`. For each, at batch 1 and 256, the median
time of one call of

- ``model.predict(X)`` on minicomp's kernels,
- the :func:`minicomp.store.onnx.to_onnx` graph in an onnxruntime CPU
  session with 1 and with 2 intra-op threads (inter-op 1, all graph
  optimizations),

timed in interleaved rounds (:func:`~minicomp.bench.timing.interleaved_times`);
ours also with BLAS limited to one thread (threadpoolctl, when installed: the
float kinds' ``X @ W.T`` is BLAS, which on a loaded 2-core machine can be
far slower threaded). ``ort1/ours`` (ours: the faster of the two) > 1: ours
is faster. Each row also gives the bytes of the compressed model and of its
ONNX file, whether onnxruntime's labels on the test set equal the kernels'
and the largest output difference. The first row is the CPU and the load
average; without onnxruntime it is the only row and says so.
"""
from __future__ import annotations

import os

import numpy as np

from .timing import cpu, interleaved_times, one_blas_thread

BATCHES = (1, 256)
SPARSITY = 0.9          # fraction of each layer's weights pruned (magnitude, per layer)
KMEANS_BITS = 4         # codebook of 16 centroids per layer


def models(quick: bool = False) -> tuple:
    """``(name -> CompressedModel, X_test float32)``: the baseline (fewer epochs with
    ``quick``) packed four ways, and the digits test inputs."""
    from ..deploy import to_inference
    from ..prune.mask import mask_from_scores
    from ..quant import quantize_mlp
    from ..quant.kmeans import kmeans_quantize
    from ..store import pack
    from ..train import BaselineConfig, train_baseline

    net, _, _, data = train_baseline(BaselineConfig(epochs=5 if quick else 40), quiet=True)
    masks = {i: mask_from_scores(np.abs(m.W.data), SPARSITY)           # by layer position
             for i, m in enumerate(net.layers) if hasattr(m, "W")}
    X_cal = data.X_train[:512]
    built = {"float": pack(net, fmt="dense"),
             "pruned csr": pack(to_inference(net, masks=masks)),
             "int8": pack(to_inference(quantize_mlp(net, X_cal))),
             "k-means": pack(kmeans_quantize(net, bits=KMEANS_BITS))}
    return built, data.X_test.astype(np.float32)


def session(proto, threads: int):
    """An onnxruntime CPU session of ``proto`` with ``threads`` intra-op threads."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run_model(name, model, X_test, kw) -> list[dict]:
    """One row per batch: seconds per call of ours and onnxruntime's, and agreement."""
    from ..store.onnx import to_onnx
    proto = to_onnx(model)
    sessions = {t: session(proto, t) for t in (1, 2)}
    Y_ort = sessions[1].run(None, {"X": X_test})[0]                   # (N, classes)
    Y_ours = model.predict(X_test)
    agree = {"labels_equal": bool((Y_ort.argmax(1) == Y_ours.argmax(1)).all()),
             "max_abs_diff": float(np.abs(Y_ort - Y_ours).max())}
    rows = []
    for B in BATCHES:
        X = np.ascontiguousarray(np.resize(X_test, (B, X_test.shape[1])))   # (B, in)
        calls = {"ours": lambda X=X: model.predict(X),
                 **{f"ort{t}": lambda s=s, X=X: s.run(None, {"X": X}) for t, s in
                    sessions.items()}}
        model.predict(X)                                              # designs decided
        times = interleaved_times(calls, **kw)
        blas1 = one_blas_thread(lambda c=calls["ours"]: interleaved_times({"x": c}, **kw))
        times["ours_blas1"] = None if blas1 is None else blas1["x"]
        best = min(t for t in (times["ours"], times["ours_blas1"]) if t is not None)
        rows.append({"model": name, "batch": B, "bytes": model.nbytes,
                     "onnx_bytes": proto.ByteSize(),
                     **{f"{k}_s": v for k, v in times.items()},
                     "ort1/ours": times["ort1"] / best, "ort2/ours": times["ort2"] / best,
                     **agree})
    return rows


def run(quick: bool = False) -> list[dict]:
    """Every model and batch (``quick``: a shorter training, fewer and shorter samples)."""
    head = {"measure": "machine", "cpu": cpu(), "load average": os.getloadavg()}
    try:
        import onnxruntime
    except ImportError:
        return [{**head, "onnxruntime": None}]
    head["onnxruntime"] = onnxruntime.__version__
    kw = {"rounds": 1, "samples": 5, "min_sample": 1e-3, "warmup": 2} if quick else \
        {"rounds": 3, "samples": 9}
    built, X_test = models(quick)
    return [head] + [row for name, model in built.items()
                     for row in run_model(name, model, X_test, kw)]


def format_table(rows) -> str:
    """Median µs per call and ratios (> 1: ours is faster)."""
    head = rows[0]
    lines = [f"{head['cpu']}; load average {head['load average']}; onnxruntime "
             f"{head['onnxruntime'] or 'not installed'}"]
    if len(rows) == 1:
        return "\n".join(lines)
    lines += ["| model | B | bytes | ONNX bytes | ours µs | ours, 1 BLAS thread µs | ort 1 "
              "thread µs | ort 2 threads µs | ort1/ours | ort2/ours | labels equal | max |Δ| |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows[1:]:
        blas1 = "-" if r["ours_blas1_s"] is None else f"{r['ours_blas1_s'] * 1e6:.1f}"
        lines.append(f"| {r['model']} | {r['batch']} | {r['bytes']:,} | {r['onnx_bytes']:,} | "
                     f"{r['ours_s'] * 1e6:.1f} | {blas1} | {r['ort1_s'] * 1e6:.1f} | "
                     f"{r['ort2_s'] * 1e6:.1f} | **{r['ort1/ours']:.2f}x** | "
                     f"**{r['ort2/ours']:.2f}x** | {r['labels_equal']} | "
                     f"{r['max_abs_diff']:.1e} |")
    return "\n".join(lines)
