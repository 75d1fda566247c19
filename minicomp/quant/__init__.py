"""Quantization: from fixed point to integer-only int8 inference, and weight sharing.

One file per idea; each starts with its formula and its paper.

- :mod:`.fixed_point`: seed 004's Q(x) = round(x·2^f)/2^f, range, overflow;
- :mod:`.uniform`: affine r = S(q − Z) and symmetric quantizers, 1–16 bits;
- :mod:`.granularity`: per-tensor, per-channel and per-group scales;
- :mod:`.observers`: min-max, moving-average, percentile and MSE ranges;
- :mod:`.ptq`: post-training quantization of an MLP (the simulated model);
- :mod:`.qat`: fake quantization with the straight-through estimator;
- :mod:`.mixed`: per-layer bit widths from measured sensitivity;
- :mod:`.integer`: integer-only inference on the int8 kernels;
- :mod:`.kmeans` and :mod:`.huffman`: Deep Compression's weight sharing;
- :mod:`.size`: bytes of every scheme beside float32.

Examples
--------
>>> import numpy as np
>>> from minicomp import MLP
>>> from minicomp.quant import quantize_mlp, IntegerMLP
>>> net = MLP([8, 16, 4], seed=0)
>>> X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
>>> qnet = quantize_mlp(net, X, bits=8, granularity="channel")
>>> inet = IntegerMLP(qnet)
>>> agree = (inet(X).argmax(1) == net(X).data.argmax(1)).mean()
>>> bool(agree > 0.9)
True
"""
from .fixed_point import (
    distinct_values,
    fixed_point,
    fixed_point_range,
    from_fixed,
    to_fixed,
    wrap_around,
)
from .granularity import (
    QTensor,
    fake_quantize_tensor,
    quantize_tensor,
    reconstruction_error,
)
from .huffman import (
    entropy_bits,
    huffman_bytes,
    huffman_code,
    huffman_decode,
    huffman_encode,
)
from .integer import IntegerMLP, fixed_point_round, simulate_codes
from .kmeans import SharedDense, finetune_centroids, kmeans_1d, kmeans_quantize
from .mixed import choose_bits, layer_sensitivity, mixed_precision
from .observers import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    Observer,
    PercentileObserver,
    make_observer,
)
from .ptq import QuantizedMLP, calibrate, dense_blocks, quantize_mlp, quantize_weights
from .qat import QATMLP, fake_quant, qat_finetune
from .size import (
    float_bytes,
    kmeans_bytes,
    size_table,
    uniform_bytes,
    uniform_layer_bytes,
)
from .uniform import (
    check_bits,
    code_dtype,
    dequantize,
    fake_quantize,
    qrange,
    quant_range,
    quantize,
    scale_zero_point,
)

__all__ = [
    "QATMLP",
    "IntegerMLP",
    "MSEObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "Observer",
    "PercentileObserver",
    "QTensor",
    "QuantizedMLP",
    "SharedDense",
    "calibrate",
    "check_bits",
    "choose_bits",
    "code_dtype",
    "dense_blocks",
    "dequantize",
    "distinct_values",
    "entropy_bits",
    "fake_quant",
    "fake_quantize",
    "fake_quantize_tensor",
    "finetune_centroids",
    "fixed_point",
    "fixed_point_range",
    "fixed_point_round",
    "float_bytes",
    "from_fixed",
    "huffman_bytes",
    "huffman_code",
    "huffman_decode",
    "huffman_encode",
    "kmeans_1d",
    "kmeans_bytes",
    "kmeans_quantize",
    "layer_sensitivity",
    "make_observer",
    "mixed_precision",
    "qat_finetune",
    "qrange",
    "quant_range",
    "quantize",
    "quantize_mlp",
    "quantize_tensor",
    "quantize_weights",
    "reconstruction_error",
    "scale_zero_point",
    "simulate_codes",
    "size_table",
    "to_fixed",
    "uniform_bytes",
    "uniform_layer_bytes",
    "wrap_around",
]
