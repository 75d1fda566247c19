"""Inference time of a compressed net: the float NumPy forward vs its inference model.

Timing lives in :mod:`minicomp.bench`; this is the measurement
``minicomp bench prune`` and ``minicomp bench quant`` report: the median
seconds of one forward pass on ``X`` (batch, in)

- of the float net, :func:`minicomp.blocks.numpy_forward` (float32 BLAS
  matmuls), with BLAS's default threads and with one thread (threadpoolctl,
  when installed: on a loaded 2-core machine threaded BLAS can be 100x
  slower at these sizes); the faster of the two is the baseline;
- of its inference model (:func:`minicomp.deploy.to_inference`: CSR layers,
  or int8 layers) layer by layer (``predict(X, fused=False)``) and fused,
  all layers in one compiled call (``predict(X)``,
  :mod:`minicomp.fused_model`), with the design the dispatcher chose.

Before each library is timed the process sleeps
:data:`~minicomp.bench.timing.SETTLE` seconds, so the worker threads of the
one timed before stop spinning. The machine's load average is recorded: on a
shared VM under load, wall-clock medians also measure the other processes,
so the one-thread float forward and the fused call are timed in CPU seconds
of this process too (:func:`~minicomp.bench.timing.median_time` with
``clock=time.process_time``; fair for one thread each, while a
threaded call's CPU seconds add up over its threads).
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import validate
from ..blocks import numpy_forward
from ..deploy import to_inference
from ..fused_model import FusedModel
from .timing import SETTLE, median_time, one_blas_thread


def inference_time(net, X, samples: int = 15, model=None) -> dict:
    """Median seconds of one forward pass on ``X``: float NumPy, layer by layer, fused.

    Parameters
    ----------
    net : Sequential (e.g. an MLP) of Dense layers, pruned or not: the float model
    X : array_like, shape (batch, in), finite
    samples : int >= 1
        Samples per median (:func:`~minicomp.bench.timing.median_time`).
    model : InferenceModel, optional
        The compressed model; default ``to_inference(net)`` (CSR layers).

    Returns
    -------
    dict
        ``dense_s`` (BLAS default threads), ``dense_1thread_s`` (or None),
        ``float_s`` (the faster), ``layers_s`` and ``fused_s`` (the model; also
        ``sparse_s``, its former name),
        ``design`` (the fused design run), ``float/fused``, ``float/layers``,
        ``float_cpu_s`` (one BLAS thread, or None) and ``fused_cpu_s`` (CPU seconds)
        and ``load`` (1-minute load average).

    Raises
    ------
    TypeError, ValueError
        ``X`` not a finite 2-D array, bad ``samples``; ``net`` not a
        Sequential or ``X`` not of its width (from ``numpy_forward``).
    """
    X = np.ascontiguousarray(validate.array(X, "X", ndim=2, dtype=np.float32,
                                            where="inference_time"))    # (B, in), finite
    samples = validate.integer(samples, "samples", low=1, where="inference_time")
    model = to_inference(net) if model is None else model
    model.predict(X)                         # compile / load and choose the design first
    r = {"dense_s": median_time(lambda: numpy_forward(net, X), samples=samples, pause=SETTLE)}
    r["dense_1thread_s"] = one_blas_thread(lambda: median_time(
        lambda: numpy_forward(net, X), samples=samples, pause=SETTLE))
    r["float_s"] = min(t for t in (r["dense_s"], r["dense_1thread_s"]) if t)
    r["layers_s"] = median_time(lambda: model.predict(X, fused=False), samples=samples,
                                pause=SETTLE)
    r["fused_s"] = median_time(lambda: model.predict(X), samples=samples, pause=SETTLE)
    r["sparse_s"] = r["fused_s"]             # its name before fusion (what model.predict runs)
    r["design"] = FusedModel(model).design(X)
    cpu = {"samples": samples, "warmup": 1, "clock": time.process_time}    # CPU seconds
    r["float_cpu_s"] = one_blas_thread(lambda: median_time(lambda: numpy_forward(net, X), **cpu))
    r["fused_cpu_s"] = median_time(lambda: model.predict(X), **cpu)
    r["float/fused"], r["float/layers"] = r["float_s"] / r["fused_s"], r["float_s"] / r["layers_s"]
    r["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return r


def format_time(r: dict) -> str:
    """One line of :func:`inference_time`'s result (microseconds and ratios)."""
    one = f"{r['dense_1thread_s'] * 1e6:.1f}" if r["dense_1thread_s"] else "n/a"
    load = f", load {r['load']:.1f}" if r.get("load") is not None else ""
    cpu = (f"; CPU time: float {r['float_cpu_s'] * 1e6:.1f} us, fused "
           f"{r['fused_cpu_s'] * 1e6:.1f} us ({r['float_cpu_s'] / r['fused_cpu_s']:.2f}x)"
           if r.get("float_cpu_s") and r.get("fused_cpu_s") else "")
    return (f"float {r['dense_s'] * 1e6:.1f} us ({one} on 1 BLAS thread), layer by layer "
            f"{r['layers_s'] * 1e6:.1f} us ({r['float/layers']:.2f}x), fused "
            f"{r['fused_s'] * 1e6:.1f} us ({r['float/fused']:.2f}x, {r['design']}){load}{cpu}")
