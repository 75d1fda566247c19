r"""What pruning buys: nonzeros, and bytes stored densely and in CSR.

A pruned matrix stored densely is exactly as large as before. The honest
size of a sparse layer is its CSR storage, counted by the library's one
size function :func:`minicomp.metrics.storage_bytes`:

.. math:: \text{bytes} = 4\,\text{nnz} + b_\text{idx}\,\text{nnz}
          + b_\text{ptr}\,(\text{out} + 1) + 4\,\text{out},

with column indices in the narrowest unsigned type that holds ``in - 1``
(1 byte for up to 256 inputs), row pointers in the narrowest type that
holds nnz, and a dense float32 bias -- not "nonzeros x 4". At high
sparsity CSR is smaller than dense; near 50 % sparsity with 4-byte values
and 1-2 byte indices it is not, which the report shows.

How fast the pruned net runs is measured in :mod:`minicomp.bench`, on the
one CSR inference path :func:`minicomp.deploy.to_inference`.
"""
from __future__ import annotations

import numpy as np

from ..blocks import dense_blocks
from ..metrics import storage_bytes


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
    rows, biases, nonzero_b = [], 0, 0
    for b in dense_blocks(net, "size_report"):
        m = b.dense
        W = m.W.data if m.W.mask is None else m.W.data * m.W.mask      # (out, in)
        rows.append({"shape": tuple(W.shape), "weights": int(W.size),
                     "nonzero": int(np.count_nonzero(W)),
                     "dense_bytes": storage_bytes(m), "csr_bytes": storage_bytes(m, "csr")})
        biases += int(m.b.size) if m.b is not None else 0
        nonzero_b += int(np.count_nonzero(m.b.data)) if m.b is not None else 0
    total = {k: sum(r[k] for r in rows) for k in ("weights", "nonzero", "dense_bytes",
                                                   "csr_bytes")}
    total.update(layers=rows, parameters=total["weights"] + biases,
                 nonzero_parameters=total["nonzero"] + nonzero_b,
                 compression=total["weights"] / max(total["nonzero"], 1))
    return total
