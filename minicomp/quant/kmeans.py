r"""Weight sharing by k-means (Deep Compression): a ``2^bits``-entry codebook per layer.

The weights of a layer are clustered into :math:`k = 2^{b}` clusters by
1-D k-means, minimising :math:`\sum_i \sum_{w \in c_i} |w - c_i|^2`; each
weight is then stored as the ``b``-bit index of its centroid and the
layer keeps a float32 codebook of k values. This is the seeds' "sub-integer"
quantization (子整数量化): 2–4 bits per weight with *non-uniform* levels.

Centroids are then **fine-tuned**: with :math:`W_{ij} = c_{I_{ij}}`, the
gradient of a centroid is the sum of the gradients of the weights that
share it,

.. math:: \frac{\partial L}{\partial c_k} = \sum_{ij:\, I_{ij} = k}
          \frac{\partial L}{\partial W_{ij}},

which is exactly the backward pass of the indexing primitive
``codebook[I]`` (``np.add.at``), so :class:`SharedDense` trains through
:func:`minicomp.fit` like any layer.

References
----------
Han, S., Mao, H. & Dally, W. J. (2016). Deep Compression: Compressing Deep
Neural Networks with Pruning, Trained Quantization and Huffman Coding.
ICLR. arXiv:1510.00149, section 3 (linear initialisation works best).

Deviations: Lloyd iterations from the linear initialisation (no k-means++);
an empty cluster keeps its centroid, so the codebook always has exactly
``2^bits`` entries.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from ..nn import Dense, Module, Parameter, Sequential
from ..optim import SGD, CosineLR
from ..tensor import Tensor
from ..train import fit
from .ptq import check_inputs
from .uniform import check_finite


def _lloyd(flat, k: int, iters: int):
    """Lloyd's 1-D k-means of ``flat`` (n,) with ``k`` linearly initialised centroids."""
    c = np.linspace(flat.min(), flat.max(), k)                    # (k,) linear init
    index = None
    for _ in range(iters):
        edges = (c[1:] + c[:-1]) / 2                                # nearest centroid
        new_index = np.searchsorted(edges, flat)                    # (n,)
        if index is not None and np.array_equal(new_index, index):
            break
        index = new_index
        sums = np.bincount(index, weights=flat, minlength=c.size)
        counts = np.bincount(index, minlength=c.size)
        c = np.where(counts > 0, sums / np.maximum(counts, 1), c)   # empty: keep
        c = np.sort(c)
    return c, np.searchsorted((c[1:] + c[:-1]) / 2, flat)


def _shared_codebook(W, mask, bits: int, iters: int):
    """Codebook, index and codebook mask of one layer; pruned weights stay exactly 0.

    Pruned entries (mask 0, or exact zeros of a masked weight) are not clustered: they
    index a reserved codebook entry 0 holding 0.0, masked so fine-tuning keeps it at 0;
    the kept weights share the other ``2^bits - 1`` centroids.
    """
    pruned = None if mask is None else (np.asarray(mask) == 0) | (W == 0)      # (out, in)
    if pruned is None or not pruned.any():
        return (*kmeans_1d(W, bits, iters), None)
    kept = W[~pruned].astype(np.float64)                                # (n_kept,)
    c, idx = _lloyd(kept, 2**bits - 1, iters) if kept.size else (np.zeros(2**bits - 1), 0)
    codebook = np.concatenate([[0.0], c]).astype(np.float32)            # (2^bits,), [0] = 0
    index = np.zeros(W.shape, np.uint8)
    index[~pruned] = 1 + idx
    return codebook, index, (np.arange(2**bits) > 0).astype(np.float32)


def kmeans_1d(w, bits: int, iters: int = 50):
    """Lloyd's k-means on the values ``w`` with ``2^bits`` linearly initialised centroids.

    Parameters
    ----------
    w : array_like of finite floats
    bits : int in [1, 8]
    iters : int, maximum Lloyd iterations (stops early when assignments settle)

    Returns
    -------
    codebook : ndarray float32 (2^bits,), sorted
    index : ndarray uint8, shape of ``w``

    Examples
    --------
    >>> codebook, index = kmeans_1d([0.0, 0.1, 0.9, 1.0], bits=1)
    >>> codebook, index
    (array([0.05, 0.95], dtype=float32), array([0, 0, 1, 1], dtype=uint8))
    """
    where = "kmeans_1d"
    bits = validate.integer(bits, "bits", low=1, high=8, where=where)   # k = 2^bits centroids
    iters = validate.integer(iters, "iters", low=1, where=where)
    w = check_finite("w", w, where)
    if w.size == 0:
        raise ValueError(f"{where}: w is empty; nothing to cluster")
    c, index = _lloyd(w.ravel(), 2**bits, iters)
    return c.astype(np.float32), index.reshape(w.shape).astype(np.uint8)


class SharedDense(Module):
    """Dense layer whose weights are ``codebook[index]`` (trainable codebook, fixed index)."""

    _state_names: ClassVar[dict] = {"codebook": "codebook", "b": "bias"}

    def __init__(self, codebook, index, bias=None):
        where = "SharedDense"
        codebook = validate.array(codebook, "codebook", ndim=1, where=where)
        k = codebook.size
        if k & (k - 1):
            raise ValueError(f"{where}: codebook has {k} entries; expected 2^bits entries")
        index = validate.array(index, "index", ndim=2, where=where)
        if index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= k:
            raise ValueError(f"{where}: index ({index.dtype}, {index.min()}..{index.max()}) "
                             f"must hold integers in [0, {k}), positions in the codebook")
        if bias is not None:
            bias = validate.array(bias, "bias", ndim=1, where=where)
            if bias.shape != (index.shape[0],):
                raise ValueError(f"{where}: bias has shape {bias.shape}; expected "
                                 f"({index.shape[0]},), one per row of index")
        self.codebook = Parameter(codebook)                          # (k,)
        self.index = index.astype(np.intp)                           # (out, in)
        self.b = None if bias is None else Parameter(bias)           # (out,)

    @property
    def bits(self) -> int:
        return int(np.log2(self.codebook.size))

    in_features = property(lambda self: int(self.index.shape[1]),
                           doc="Inputs, as Dense's (:func:`minicomp.nn.io_features` reads it).")
    out_features = property(lambda self: int(self.index.shape[0]), doc="Outputs, as Dense's.")

    def weight(self) -> np.ndarray:
        return self.codebook.data[self.index]                        # (out, in)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(validate.array(
            x, "x", nonempty=False, finite=False, where=repr(self)))        # numbers only
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: input of shape {x.shape}; expected (N, "
                             f"{self.in_features}), {self.in_features} features per row")
        W = self.codebook[self.index]                                # gradient: add.at per cluster
        return x.linear(W, self.b)

    def extra_repr(self):
        return f"{self.index.shape[1]} -> {self.index.shape[0]}, {self.codebook.size} centroids"


def kmeans_quantize(net, bits: int = 2, iters: int = 50) -> Sequential:
    """A copy of ``net`` with each Dense replaced by a :class:`SharedDense` (one codebook per layer).

    Examples
    --------
    >>> from minicomp import MLP
    >>> shared = kmeans_quantize(MLP([8, 16, 4], seed=0), bits=2)
    >>> [layer.codebook.size for layer in shared if isinstance(layer, SharedDense)]
    [4, 4]
    """
    where = "kmeans_quantize"
    if not isinstance(net, Sequential):
        raise TypeError(f"{where}: net is a {type(net).__name__}; expected a Sequential of "
                        "Dense layers and activations, e.g. an MLP")
    blocks = dense_blocks(net, where)
    bits = validate.integer(bits, "bits", low=1, high=8, where=where)
    for k, (_, dense, _) in enumerate(blocks):
        check_finite(f"layer {k} weights", dense.W.data, where)
        if dense.W.size < 2**bits:
            raise ValueError(f"{where}: layer {k} has {dense.W.size} weights, fewer than the "
                             f"2^{bits} = {2**bits} centroids of bits={bits}; expected "
                             "2^bits <= the number of weights of every layer")
    layers = list(net.layers)
    for i, dense, _ in blocks:                                  # each Dense -> SharedDense
        codebook, index, keep = _shared_codebook(dense.W.data, dense.W.mask, bits, iters)
        layers[i] = SharedDense(codebook, index, None if dense.b is None else dense.b.data.copy())
        layers[i].codebook.mask = keep                          # entry 0 of a pruned layer: 0
    return Sequential(*layers)


def finetune_centroids(shared, X, y, epochs: int = 5, lr: float = 0.01, momentum: float = 0.9,
                       batch_size: int = 32, seed=0, quiet: bool = True):
    """Train the codebooks and biases of ``shared`` (in place) through :func:`minicomp.fit`.

    Parameters
    ----------
    shared : Sequential from :func:`kmeans_quantize`
    X, y : training inputs (N, in) and integer labels (N,)
    epochs, lr, momentum, batch_size : SGD with momentum, cosine schedule
    seed : int or Generator, shuffling seed
    quiet : bool, no progress bar

    Returns
    -------
    History

    Notes
    -----
    The indices never change: only the :math:`2^b` centroids of each layer
    (and the biases) move, each by the sum of its weights' gradients.
    """
    where = "finetune_centroids"
    if not isinstance(shared, Sequential) or not any(isinstance(m, SharedDense) for m in shared):
        raise TypeError(f"{where}: shared is a {type(shared).__name__} without SharedDense "
                        "layers; expected the Sequential of kmeans_quantize")
    first = next(m for m in shared if isinstance(m, (SharedDense, Dense)))
    X = check_inputs(first.in_features, X, "X", where, "training set").astype(np.float32)
    y = validate.labels(y, "y", n=len(X), where=where)
    epochs = validate.integer(epochs, "epochs", low=1, where=where)   # before CosineLR(T=...)
    opt = SGD(shared.parameters(), lr=lr, momentum=momentum)
    return fit(shared, X, y, optimizer=opt, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=CosineLR(opt, T=epochs), quiet=quiet, desc="k-means fine-tune")
