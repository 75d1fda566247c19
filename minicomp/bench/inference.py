"""Inference time of a (pruned) net: the dense BLAS forward pass vs the CSR kernel.

Timing lives in :mod:`minicomp.bench`; this is the measurement
``minicomp bench prune`` reports (and that :mod:`minicomp.prune.report`
used to carry): the median seconds of one forward pass on ``X`` (batch, in)
through :func:`minicomp.blocks.numpy_forward` (float32 BLAS matmuls, ``W`` as
stored) and through the sparse inference model of
:func:`minicomp.deploy.to_inference` (CSR layers checked once, ReLU fused,
:func:`minicomp.kernels.sparse.sparse_linear`). Before each library is
timed the process sleeps :data:`~minicomp.bench.timing.SETTLE` seconds, so
the worker threads of the one timed before stop spinning.
"""
from __future__ import annotations

import time

import numpy as np

from .. import validate
from ..deploy import to_inference
from ..blocks import numpy_forward
from .timing import SETTLE, median_time


def inference_time(net, X, samples: int = 15) -> dict:
    """Median seconds of one forward pass on ``X``: dense BLAS and the CSR kernel.

    Parameters
    ----------
    net : Sequential (e.g. an MLP) of Dense layers, pruned or not
    X : array_like, shape (batch, in), finite
    samples : int >= 1
        Samples per median (:func:`~minicomp.bench.timing.median_time`).

    Returns
    -------
    dict
        ``dense_s``, ``sparse_s`` and ``sparse_kernel`` (the kernel's module).

    Raises
    ------
    TypeError, ValueError
        ``X`` not a finite 2-D array, bad ``samples``; ``net`` not a
        Sequential or ``X`` not of its width (from ``numpy_forward``).
    """
    X = np.ascontiguousarray(validate.array(X, "X", ndim=2, dtype=np.float32,
                                            where="inference_time"))    # (B, in), finite
    samples = validate.integer(samples, "samples", low=1, where="inference_time")
    time.sleep(SETTLE)                       # let other thread pools stop spinning
    dense_s = median_time(lambda: numpy_forward(net, X), samples=samples)
    model = to_inference(net)                # CSR layers, checked once, ReLU fused
    time.sleep(SETTLE)
    sparse_s = median_time(lambda: model.predict(X), samples=samples)
    return {"dense_s": dense_s, "sparse_s": sparse_s, "sparse_kernel": "minicomp.kernels.sparse"}
