"""Post-training compression by reconstruction: no retraining, a calibration set at most.

Optimal Brain Surgeon (:mod:`minicomp.prune.obs`) fixes one weight and
moves the others to keep a layer's outputs. The methods here take that
idea, layer by layer, to the compression every 2026 toolkit ships:

- :mod:`.gptq`: GPTQ -- OBS's update column after column, through one
  Cholesky factor of :math:`H^{-1}`; any grid of :mod:`minicomp.quant`;
- :mod:`.sparsegpt`: SparseGPT -- the same loop choosing a mask
  (unstructured, N:M) instead of a rounding, or both;
- :mod:`.adaround`: AdaRound -- up or down per weight, learned on the
  layer's reconstruction loss with the engine's autograd;
- :mod:`.equalize`: data-free quantization -- cross-layer equalization and
  bias correction (analytic or empirical);
- :mod:`.transforms`: equivalent transformations -- SmoothQuant and AWQ,
  a per-input-channel scale folded through a layer boundary;
- :mod:`.layerwise`: the sequential layer-by-layer walk and the
  :class:`~minicomp.quant.ptq.QuantizedMLP` they produce (so
  :func:`minicomp.deploy.to_inference` runs it; ``as_int8`` for < 8 bits).

=========================== ============= ======== ===================================
entry point                 compresses    data     file (paper)
=========================== ============= ======== ===================================
``gptq_mlp``                weights, any  calib.   :mod:`.gptq` (Frantar et al. 2023)
                            bits
``sparsegpt_net``           weights,      calib.   :mod:`.sparsegpt` (Frantar &
                            sparse (+q)            Alistarh 2023)
``adaround_mlp``            weights, any  calib.   :mod:`.adaround` (Nagel et al. 2020)
                            bits
``cross_layer_equalize``    (rescales)    none     :mod:`.equalize` (Nagel et al. 2019)
``bias_correction``         (biases)      none or  :mod:`.equalize` (Nagel et al. 2019)
                                          calib.
``smoothquant``             (rescales)    calib.   :mod:`.transforms` (Xiao et al. 2023)
``awq``                     (rescales)    calib.   :mod:`.transforms` (Lin et al. 2024)
=========================== ============= ======== ===================================

The rescaling methods return a copy of the net computing the same float
function; quantize it with :func:`minicomp.quant.quantize_mlp` as usual.
The one-layer functions (``gptq``, ``sparsegpt``, ``adaround``, ...) are
imported from their files.

Examples
--------
>>> import numpy as np
>>> from minicomp import MLP
>>> from minicomp.deploy import to_inference
>>> from minicomp.ptq import as_int8, gptq_mlp
>>> net = MLP([8, 16, 4], seed=0)
>>> X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
>>> qnet = gptq_mlp(net, X, bits=4)                 # 4-bit weights, 8-bit activations
>>> model = to_inference(as_int8(qnet))             # the same codes on the int8 kernels
>>> bool((model(X).argmax(1) == qnet(X).data.argmax(1)).mean() > 0.9)
True
"""
from .adaround import adaround_mlp
from .equalize import bias_correction, cross_layer_equalize
from .gptq import gptq_mlp
from .layerwise import as_int8
from .sparsegpt import sparsegpt_net
from .transforms import awq, smoothquant

__all__ = ["gptq_mlp", "sparsegpt_net", "adaround_mlp", "cross_layer_equalize",
           "bias_correction", "smoothquant", "awq", "as_int8"]
