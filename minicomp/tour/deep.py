"""The tour's last row: Deep Compression's full pipeline, prune -> quantize -> encode.

Han, Mao & Dally (2016) chain three stages, each keeping the accuracy of
the one before: magnitude pruning with retraining (only the surviving
connections are stored), trained quantization (k-means shared weights per
layer, centroids fine-tuned; a pruned weight stays at the exact zero of
the codebook), and Huffman coding of the relative positions and indices.
The row calls :func:`minicomp.pipeline.deep_compression`, which chooses the
sparsity and the codebook width on the validation split by its own rule
(:class:`~minicomp.pipeline.PipelineConfig`; a candidate may lose at most the
tour's ``config.tolerance`` points), and stores its k-means net
Huffman-coded (:func:`minicomp.store.pack`, ``fmt="huffman"``).

Han, S., Mao, H., Dally, W. J. (2016). Deep Compression: Compressing Deep
Neural Networks with Pruning, Trained Quantization and Huffman Coding.
ICLR. arXiv:1510.00149.
"""
from __future__ import annotations

from ..pipeline import PipelineConfig, deep_compression
from .registry import Candidate, technique


def pipeline_config(ctx) -> PipelineConfig:
    """:class:`~minicomp.pipeline.PipelineConfig`'s defaults, with the tour's tolerance and
    seed (``--quick``: one candidate, few epochs)."""
    quick = dict(sparsities=(0.9,), bits=(3,), prune_epochs=5, finetune_epochs=3)
    return PipelineConfig(max_drop=ctx.config.tolerance / 100, seed=ctx.seed,
                          **(quick if ctx.config.quick else {}))


@technique("pipeline", "Deep Compression pipeline")
def pipeline(ctx) -> Candidate:
    result = deep_compression(ctx.net, ctx.X, ctx.y, ctx.X_val, ctx.y_val, pipeline_config(ctx))
    n = len(result.candidates)
    return Candidate(result.net, "huffman", {}, (
        f"sparsity {100 * result.sparsity:g}%, {2 ** result.bits} centroids, Huffman"
        + (f" (chosen on val among {n})" if n > 1 else " (one candidate)")))
