r"""Deep Compression end to end: prune -> retrain -> share weights -> fine-tune -> Huffman-code.

Han, Mao & Dally's three stages, each by the library's own mechanism:

1. **Pruning** (:func:`minicomp.prune.gradual`): global magnitude pruning
   during retraining, to Zhu & Gupta's cubic schedule; the masks live on
   the parameters, so :func:`minicomp.fit` keeps pruned weights at 0.
2. **Trained quantization** (:func:`~minicomp.quant.kmeans_quantize`,
   :func:`~minicomp.quant.finetune_centroids`): per layer, the kept weights
   share :math:`2^b - 1` centroids and the pruned ones index the reserved
   entry 0 = 0.0 (masked, so fine-tuning cannot move it); the centroid
   gradient is :math:`\partial L / \partial c_k = \sum_{I_{ij} = k}
   \partial L / \partial W_{ij}`. The biases are then rounded to
   :math:`q \cdot 2^e` with int8 ``q`` (:func:`~minicomp.quant.sparse_huffman.quantize_bias`).
3. **Huffman coding** (:mod:`minicomp.quant.sparse_huffman`): relative
   positions and codebook indices, each stream Huffman-coded.

Every choice is made on the validation split: each candidate (sparsity,
bits) of :class:`PipelineConfig` is run; it passes when its validation
accuracy is within ``max_drop`` of the float net's. Among the passing
candidates at least ``target_ratio`` times smaller than float32 (Deep
Compression's 40x by default), the one with the lowest validation loss
(cross-entropy, which still separates candidates whose accuracies tie)
wins; when none reaches the ratio, or ``target_ratio`` is None, the
passing one with the fewest bytes (sparsities are tried in increasing
order and, with ``stop_early``, the search stops at the first sparsity
where no width passes; failing all, the best validation accuracy wins).
Centroid fine-tuning (lr 0.003 by default) is kept only if it does not
lower the validation accuracy. The choice is only as good as the
validation split: digits' is 136 examples (one is 0.74 points), too few
to resolve a 0.5-point budget by accuracy alone, so the loss decides
among the passing candidates. ``bench pipeline`` prints the chosen
candidate and the test accuracy of every candidate of the sweep.

The stage table (:func:`stage_table`) gives the bytes after each stage,
as Deep Compression's Table 1: float32 (``storage_bytes(net)``), pruned
(``storage_bytes(net, "csr")``), quantized with dense indices
(``storage_bytes(shared, "codebook")``), quantized with relative indices
at fixed widths (``entries * (w + ceil(log2 k))`` bits, :func:`relative_index_bytes`
+ codebooks + int8 biases: Deep Compression's "P+Q"), and Huffman-coded
(the codec's ``nbytes``). ``bench pipeline`` runs it on the
LeNet-300-100-shaped MLP ``[in, 300, 100, classes]`` (biases counted).

References
----------
Han, S., Mao, H. & Dally, W. J. (2016). Deep Compression: Compressing Deep
Neural Networks with Pruning, Trained Quantization and Huffman Coding.
ICLR. arXiv:1510.00149.
Zhu, M., Gupta, S. (2017). To prune, or not to prune. arXiv:1710.01878.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from . import validate
from .blocks import dense_blocks, net_inputs
from .metrics import storage_bytes
from .prune import FineTune, gradual
from .quant import finetune_centroids, kmeans_quantize
from .quant.kmeans import SharedDense
from .quant.sparse_huffman import GAP_BITS, encode, quantize_bias, relative_entries
from .train import evaluate


@dataclass
class PipelineConfig:
    """The recipe of :func:`deep_compression` (choices among the candidates on validation)."""

    sparsities: tuple = (0.9, 0.93, 0.95, 0.97)   # candidate global sparsities, increasing
    bits: tuple = (3, 4, 5)          # candidate codebook widths (2^bits entries, one is 0.0)
    prune_epochs: int = 40           # retraining epochs during gradual pruning
    lr: float = 0.05                 # retraining learning rate (cosine schedule)
    weight_decay: float = 5e-4       # retraining L2 penalty (masked: pruned weights stay 0)
    finetune_epochs: int = 10        # centroid fine-tuning epochs
    finetune_lr: float = 0.003       # centroid learning rate (SGD with momentum)
    max_drop: float = 0.005          # validation accuracy a candidate may lose vs the float net
    target_ratio: float | None = 40.0  # size goal vs float32: lowest validation loss above it
    seed: int = 0                    # shuffling seed of every training run
    stop_early: bool = True          # stop at the first sparsity where no width passes

    def __post_init__(self):
        where = "PipelineConfig"
        for name, low, high in (("sparsities", 0, 1), ("bits", 1, 8)):
            v = getattr(self, name)
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or not len(v) or \
                    list(v) != sorted(v):
                raise ValueError(f"{where}: {name}={v!r}; expected a non-empty increasing "
                                 "sequence")
            for x in v:
                if name == "bits":
                    validate.integer(x, name, low=low, high=high, where=where)
                else:
                    validate.number(x, name, low=low, high=high, high_open=True, where=where)
        for name in ("prune_epochs", "finetune_epochs"):
            validate.integer(getattr(self, name), name, low=1, where=where)
        for name in ("lr", "finetune_lr"):
            validate.number(getattr(self, name), name, low=0, low_open=True, where=where)
        validate.number(self.weight_decay, "weight_decay", low=0, where=where)
        validate.number(self.max_drop, "max_drop", low=0, high=1, where=where)
        if self.target_ratio is not None:
            validate.number(self.target_ratio, "target_ratio", low=1, where=where)
        validate.rng(self.seed, "seed", where=where)
        validate.flag(self.stop_early, "stop_early", where=where)


@dataclass
class DeepCompression:
    """What :func:`deep_compression` returns (``net`` is the compressed model)."""

    net: object                   # Sequential of SharedDense: codebook[index], int8-exact biases
    masks: list                   # the pruning mask (out, in) of each layer, 1 = kept
    encoded: list                 # sparse_huffman.Encoded of each layer
    table: list                   # stage_table rows
    sparsity: float               # the chosen candidate
    bits: int                     # (its codebook width)
    candidates: list = field(default_factory=list)   # every candidate's validation result
    nets: list = field(default_factory=list, repr=False)   # every candidate's k-means net

    @property
    def nbytes(self) -> int:
        return int(sum(e.nbytes for e in self.encoded))


def _shared_layers(shared) -> list:
    return [m for m in shared if isinstance(m, SharedDense)]


def relative_index_bytes(index, k: int) -> int:
    """Bytes of ``index`` as relative positions and indices at fixed widths (no Huffman).

    ``entries * w`` bits of gaps plus ``entries * ceil(log2 k)`` bits of
    indices, each stream rounded up to bytes, at the best ``w`` in 1..8
    (filler entries as in :mod:`~minicomp.quant.sparse_huffman`).

    Examples
    --------
    >>> relative_index_bytes(np.array([[0, 3, 0, 0, 0], [0, 0, 0, 0, 1]]), 4)   # w=3: 2 entries
    2
    """
    flat = np.asarray(index).ravel()                                   # (out * in,)
    b = max(1, math.ceil(math.log2(k)))
    n = [relative_entries(flat, w)[0].size for w in GAP_BITS]
    return min(math.ceil(e * w / 8) + math.ceil(e * b / 8) for e, w in zip(n, GAP_BITS))


def encode_net(shared) -> list:
    """The codec's :class:`~minicomp.quant.sparse_huffman.Encoded` of every SharedDense layer."""
    return [encode(m.index, m.codebook.data, None if m.b is None else m.b.data)
            for m in _shared_layers(shared)]


def _accuracy(net, X, y) -> float:
    return evaluate(net, X, y)["accuracy"]


def choose(candidates, floor: float, dense_bytes: int, target_ratio=None) -> int:
    """Position of the winning candidate (rows with ``val_accuracy``, ``val_loss``, ``bytes``).

    Passing (``val_accuracy >= floor``) and at least ``target_ratio`` times
    smaller than ``dense_bytes``: the lowest validation loss; else passing:
    the fewest bytes; else the best validation accuracy.

    Examples
    --------
    >>> rows = [dict(val_accuracy=1.0, val_loss=0.10, bytes=40),
    ...         dict(val_accuracy=1.0, val_loss=0.30, bytes=20),
    ...         dict(val_accuracy=0.9, val_loss=0.90, bytes=10)]
    >>> choose(rows, 0.99, 1000, 20), choose(rows, 0.99, 1000, None), choose(rows, 0.99, 1000, 90)
    (0, 1, 1)
    """
    def key(k):
        row = candidates[k]
        if row["val_accuracy"] < floor:
            return (2, -row["val_accuracy"])
        if target_ratio is not None and dense_bytes >= target_ratio * row["bytes"]:
            return (0, row["val_loss"])
        return (1, row["bytes"])
    return min(range(len(candidates)), key=key)


def stage_table(net, pruned, shared, X_val, y_val, encoded=None) -> list:
    """Rows ``{stage, bytes, ratio, val_accuracy}`` after each stage (ratio vs float32).

    ``encoded``: :func:`encode_net` of ``shared`` when the caller has it already.
    """
    dense = storage_bytes(net)
    layers, enc = _shared_layers(shared), encode_net(shared) if encoded is None else encoded
    fixed = sum(relative_index_bytes(m.index, m.codebook.size) + e.report["codebook_bytes"]
                + e.report["bias_bytes"] for m, e in zip(layers, enc))
    acc = _accuracy(shared, X_val, y_val)
    rows = [("float32", dense, _accuracy(net, X_val, y_val)),
            ("pruned (CSR)", storage_bytes(pruned, "csr"), _accuracy(pruned, X_val, y_val)),
            ("k-means (dense indices)", storage_bytes(shared, "codebook"), acc),
            ("k-means (relative indices)", fixed, acc),
            ("Huffman", sum(e.nbytes for e in enc), acc)]
    return [{"stage": s, "bytes": int(b), "ratio": dense / b, "val_accuracy": a}
            for s, b, a in rows]


def _quantized(pruned, bits, X, y, X_val, y_val, config):
    """k-means copy of ``pruned`` with fine-tuned centroids (if they help) and int8 biases."""
    shared = kmeans_quantize(pruned, bits)
    before, acc0 = copy.deepcopy(shared), _accuracy(shared, X_val, y_val)
    finetune_centroids(shared, X, y, epochs=config.finetune_epochs, lr=config.finetune_lr,
                       seed=config.seed)
    if _accuracy(shared, X_val, y_val) < acc0:                         # fine-tuning hurt
        shared = before
    for m in _shared_layers(shared):
        if m.b is not None:
            m.b.data[...] = quantize_bias(m.b.data)
    return shared


def deep_compression(net, X, y, X_val, y_val, config: PipelineConfig | None = None):
    """Compress a trained MLP by pruning, trained quantization and Huffman coding.

    Parameters
    ----------
    net : Sequential of Dense (+ ReLU), trained; not changed
    X, y : training inputs (N, in) and labels (N,): retraining, fine-tuning
    X_val, y_val : validation inputs and labels: every choice (the test set is not seen)
    config : PipelineConfig, optional

    Returns
    -------
    DeepCompression
        ``net`` (the k-means net), ``masks``, ``encoded`` (per layer),
        ``table`` (:func:`stage_table`), the chosen ``sparsity`` and ``bits``,
        and ``candidates`` (each one's validation accuracy and bytes).
    """
    where = "deep_compression"
    config = PipelineConfig() if config is None else config
    if not isinstance(config, PipelineConfig):
        raise TypeError(f"{where}: config is a {type(config).__name__}; expected a "
                        "PipelineConfig")
    dense_blocks(net, where)
    X, X_val = net_inputs(net, X, "X", where), net_inputs(net, X_val, "X_val", where)
    classes = dense_blocks(net)[-1].dense.out_features
    y = validate.labels(y, "y", n=len(X), num_classes=classes, where=where)
    y_val = validate.labels(y_val, "y_val", n=len(X_val), num_classes=classes, where=where)
    floor = _accuracy(net, X_val, y_val) - config.max_drop - 1e-12
    recipe = FineTune(epochs=config.prune_epochs, lr=config.lr,
                      weight_decay=config.weight_decay, seed=config.seed)
    candidates, nets, pruned_nets, encoded = [], [], [], []
    for s in config.sparsities:
        pruned = gradual(copy.deepcopy(net), X, y, s, scope="global", fine_tune=recipe)
        passed = False
        for bits in config.bits:
            shared = _quantized(pruned, bits, X, y, X_val, y_val, config)
            val, enc = evaluate(shared, X_val, y_val), encode_net(shared)
            row = {"sparsity": s, "bits": bits, "val_accuracy": val["accuracy"],
                   "val_loss": val["loss"], "bytes": sum(e.nbytes for e in enc)}
            candidates.append(row)
            nets.append(shared)
            pruned_nets.append(pruned)
            encoded.append(enc)
            passed |= row["val_accuracy"] >= floor
        if not passed and config.stop_early:
            break
    k = choose(candidates, floor, storage_bytes(net), config.target_ratio)
    row, pruned, shared, enc = candidates[k], pruned_nets[k], nets[k], encoded[k]
    masks = [np.asarray(b.dense.W.mask if b.dense.W.mask is not None else
                        np.ones(b.dense.W.shape), np.float32) for b in dense_blocks(pruned)]
    return DeepCompression(shared, masks, enc,
                           stage_table(net, pruned, shared, X_val, y_val, enc),
                           row["sparsity"], row["bits"], candidates, nets)
