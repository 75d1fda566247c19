"""Quantization: from fixed point to integer-only int8 inference, and weight sharing.

One file per idea; each starts with its formula and its paper.

- :mod:`.fixed_point`: seed 004's Q(x) = round(x·2^f)/2^f, range, overflow;
- :mod:`.uniform`: affine r = S(q − Z) and symmetric quantizers, 1–16 bits;
- :mod:`.granularity`: per-tensor, per-channel and per-group scales;
- :mod:`.observers`: min-max, moving-average, percentile and MSE ranges;
- :mod:`.ptq`: post-training quantization of an MLP (the simulated model);
- :mod:`.qat`: fake quantization with the straight-through estimator;
- :mod:`.lsq`: learned quantizers on the same estimator: LSQ and LSQ+
  (step size, offset), PACT (activation clip), ternary QAT (BitNet b1.58);
- :mod:`.mixed`: per-layer bit widths from measured sensitivity;
- :mod:`.integer`: the integer-only model's settings (run by
  :func:`minicomp.deploy.to_inference` on the int8 kernels);
- :mod:`.kmeans` and :mod:`.huffman`: Deep Compression's weight sharing;
- :mod:`.size`: the size table (bytes by :func:`minicomp.metrics.storage_bytes`).

``__all__`` lists the entry points; helpers (the observer classes,
``qrange``, ``QTensor``, ``kmeans_1d``, ``huffman_code``, ``relu_blocks``,
...) are imported from their modules.

Examples
--------
>>> import numpy as np
>>> from minicomp import MLP
>>> from minicomp.deploy import to_inference
>>> from minicomp.quant import quantize_mlp
>>> net = MLP([8, 16, 4], seed=0)
>>> X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
>>> qnet = quantize_mlp(net, X, bits=8, granularity="channel")
>>> model = to_inference(qnet)                      # integer-only, on the int8 kernels
>>> agree = (model(X).argmax(1) == net(X).data.argmax(1)).mean()
>>> bool(agree > 0.9)
True
"""
from .fixed_point import fixed_point, from_fixed, to_fixed
from .granularity import quantize_tensor
from .huffman import huffman_bytes, huffman_decode, huffman_encode
from .integer import int8_settings, simulate_codes
from .kmeans import finetune_centroids, kmeans_quantize
from .lsq import LearnedQuantMLP, lsq_finetune, lsq_quantize, pact_quantize
from .mixed import mixed_precision
from .observers import make_observer
from .ptq import calibrate, quantize_mlp, quantize_weights
from .qat import QATMLP, fake_quantize_ste, qat_finetune
from .size import size_table
from .uniform import dequantize, fake_quantize, quantize, scale_zero_point

__all__ = [                       # the entry points, in the order of the chapter
    "to_fixed", "from_fixed", "fixed_point",
    "scale_zero_point", "quantize", "dequantize", "fake_quantize",
    "quantize_tensor", "make_observer", "calibrate", "quantize_mlp", "quantize_weights",
    "fake_quantize_ste", "QATMLP", "qat_finetune", "lsq_quantize", "pact_quantize",
    "LearnedQuantMLP", "lsq_finetune", "mixed_precision",
    "kmeans_quantize", "finetune_centroids", "huffman_encode", "huffman_decode",
    "huffman_bytes", "int8_settings", "simulate_codes", "size_table",
]
