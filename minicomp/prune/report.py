r"""What pruning buys: nonzeros, bytes in CSR, and inference time.

A pruned matrix stored densely is exactly as large as before. The honest
size of a sparse layer is its CSR storage (:mod:`minicomp.kernels.reference`):

.. math:: \text{bytes} = 4\,\text{nnz} + b_\text{idx}\,\text{nnz}
          + b_\text{ptr}\,(\text{out} + 1),

with column indices in the narrowest unsigned type that holds ``in - 1``
(1 byte for up to 256 inputs) and row pointers in the narrowest type that
holds nnz -- not "nonzeros x 4". Biases stay dense (4 bytes each).
At high sparsity CSR is smaller than dense; near 50 % sparsity with 4-byte
values and 1-2 byte indices it is not, which the report shows.

Inference time compares the dense BLAS forward pass with the CSR kernel
:func:`minicomp.kernels.sparse.sparse_linear` (Numba) when that module is
available; without it only the dense time is reported. Before each
timing the process sleeps briefly: the worker threads of the library timed
before (OpenBLAS, Numba's OpenMP pool) keep spinning for a while and would
otherwise slow the next one down by orders of magnitude on 2 cores.
"""
from __future__ import annotations

import time

import numpy as np

from .. import validate
from ..bench.timing import median_time
from ..kernels.reference import to_csr
from ..nn import Dense, Dropout, Identity, ReLU, Sequential, Sigmoid, Tanh
from .activation import net_inputs
from .mask import dense_layers

SETTLE = 0.3          # seconds of sleep before timing: OpenBLAS and Numba (omp) threads
                      # spin after work and would steal the 2 cores from the next library


def _effective_W(m: Dense) -> np.ndarray:
    return m.W.data * m.W.mask if m.W.mask is not None else m.W.data


def size_report(net) -> dict:
    """Nonzeros and bytes of every Dense layer of ``net`` and of the whole.

    Returns
    -------
    dict
        ``layers``: one dict per Dense layer (``shape``, ``weights``,
        ``nonzero``, ``dense_bytes``, ``csr_bytes``, both with the bias);
        ``weights``, ``nonzero``, ``parameters``, ``nonzero_parameters``,
        ``dense_bytes``, ``csr_bytes``, ``compression`` (weights / nonzero
        weights) for the whole net.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([4, 3], seed=0)
    >>> net[0].W.data[:, :2] = 0                     # 6 of 12 weights left
    >>> r = size_report(net)
    >>> r["nonzero"], r["dense_bytes"], r["csr_bytes"]   # 48+12; 6*4+6*1+4*1 + 12
    (6, 60, 46)
    """
    rows = []
    for m in dense_layers(net, "size_report"):
        W = _effective_W(m)                                          # (out, in)
        bias_bytes = m.b.data.nbytes if m.b is not None else 0
        rows.append({"shape": tuple(W.shape), "weights": int(W.size),
                     "nonzero": int(np.count_nonzero(W)),
                     "dense_bytes": int(W.size * 4 + bias_bytes),
                     "csr_bytes": int(to_csr(W).nbytes + bias_bytes)})
    biases = sum(int(m.b.size) if m.b is not None else 0 for m in dense_layers(net))
    nonzero_b = sum(int(np.count_nonzero(m.b.data)) if m.b is not None else 0
                    for m in dense_layers(net))
    total = {k: sum(r[k] for r in rows) for k in ("weights", "nonzero", "dense_bytes",
                                                   "csr_bytes")}
    total.update(layers=rows, parameters=total["weights"] + biases,
                 nonzero_parameters=total["nonzero"] + nonzero_b,
                 compression=total["weights"] / max(total["nonzero"], 1))
    return total


def _activation(layer, h: np.ndarray) -> np.ndarray:
    if isinstance(layer, ReLU):
        return np.maximum(h, 0)
    if isinstance(layer, Tanh):
        return np.tanh(h)
    if isinstance(layer, Sigmoid):
        return 1.0 / (1.0 + np.exp(-h))
    if isinstance(layer, (Identity, Dropout)):
        return h
    raise TypeError(f"layer {type(layer).__name__} is not supported; expected Dense or an "
                    f"elementwise activation")


def dense_forward(net, X) -> np.ndarray:
    """Inference of a Sequential in plain NumPy (BLAS matmuls, float32, no autograd).

    Uses ``W`` as stored, like :meth:`minicomp.nn.Dense.forward` (pruned
    entries are zero in ``W`` itself: masks zero them when applied and
    the optimizers keep them zero).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"dense_forward: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    h = net_inputs(net, X, where="dense_forward", dtype=np.float32)   # (B, in), finite
    for layer in net:
        if isinstance(layer, Dense):
            h = h @ layer.W.data.T                                   # (B, in) -> (B, out)
            h = h + layer.b.data if layer.b is not None else h
        else:
            h = _activation(layer, h)
    return h


def sparse_forward(net, X, kernel=None, csrs=None) -> np.ndarray:
    """Inference with every Dense layer in CSR through ``kernel(X, csr, bias)``.

    ``kernel`` defaults to the Numba kernel (:mod:`minicomp.kernels.sparse`,
    imported here so that importing :mod:`minicomp.prune` loads no Numba);
    ``csrs`` are prebuilt matrices (one per Dense).
    """
    where = "sparse_forward"
    if not isinstance(net, Sequential):
        raise TypeError(f"{where}: net is a {type(net).__name__}; expected a Sequential "
                        "(e.g. an MLP)")
    if kernel is None:
        from ..kernels.sparse import sparse_linear as kernel
    if not callable(kernel):
        raise TypeError(f"{where}: kernel is a {type(kernel).__name__}; expected a callable "
                        "kernel(X, csr, bias)")
    layers = dense_layers(net)
    csrs = csrs if csrs is not None else [to_csr(_effective_W(m)) for m in layers]
    if not isinstance(csrs, (list, tuple)) or len(csrs) != len(layers):
        raise ValueError(f"{where}: csrs={type(csrs).__name__} of length "
                         f"{len(csrs) if hasattr(csrs, '__len__') else '?'}; expected a list "
                         f"of one CSR per Dense layer ({len(layers)})")
    h, k = net_inputs(net, X, where=where, dtype=np.float32), 0    # (B, in), finite
    for layer in net:
        if isinstance(layer, Dense):
            h = kernel(h, csrs[k], None if layer.b is None else layer.b.data)   # (B, out)
            k += 1
        else:
            h = _activation(layer, h)
    return h


def inference_time(net, X, samples: int = 15) -> dict:
    """Median seconds of one forward pass on ``X``: dense BLAS and the CSR kernel.

    Returns
    -------
    dict
        ``dense_s``, ``sparse_s`` (through :func:`minicomp.deploy.to_inference`)
        and ``sparse_kernel`` (the kernel's module name).
    """
    X = np.ascontiguousarray(net_inputs(net, X, where="inference_time", dtype=np.float32))
    samples = validate.integer(samples, "samples", low=1, where="inference_time")
    time.sleep(SETTLE)                     # let other thread pools stop spinning
    dense_s = median_time(lambda: dense_forward(net, X), samples=samples)
    from ..deploy import to_inference
    model = to_inference(net)                # CSR layers, checked once, ReLU fused
    time.sleep(SETTLE)
    return {"dense_s": dense_s, "sparse_s": median_time(lambda: model.predict(X), samples=samples),
            "sparse_kernel": "minicomp.kernels.sparse"}
