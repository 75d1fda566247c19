r"""Layer-wise reconstruction of a whole MLP, into the library's quantized model.

GPTQ, AdaRound and SparseGPT all solve one problem per Dense layer,

.. math:: \min_{\hat W_\ell} \lVert \tilde X_\ell \hat W_\ell^\top - X_\ell W_\ell^\top
          \rVert_F^2,

on that layer's inputs over a calibration set. :func:`layer_inputs` walks
the layers **sequentially** (as GPTQ's reference code does): layer
:math:`\ell` sees :math:`\tilde X_\ell`, the inputs produced by the layers
*already* quantized (float activations), so each layer also corrects what
the earlier ones got wrong; the float inputs :math:`X_\ell` are the target.

:func:`reconstruct_mlp` starts from :func:`minicomp.quant.quantize_mlp`
(the activation ranges, the bias grid) and swaps each layer's weight codes
for those of a method; the result is the same
:class:`~minicomp.quant.ptq.QuantizedMLP`, so everything that takes one
(:func:`minicomp.deploy.to_inference`, :func:`~minicomp.quant.integer.simulate_codes`)
runs it unchanged. Scales per tensor / channel are round-to-nearest's, so
the int32 bias grid :math:`S_x S_w` is unchanged too.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from ..blocks import numpy_forward
from ..quant.granularity import QTensor
from ..quant.ptq import QuantizedMLP, check_inputs, quantize_mlp, relu_blocks


def calibration_set(net, X_calib, where: str) -> np.ndarray:
    """``X_calib`` checked as a non-empty, finite, varied (N, in) batch for ``net``."""
    blocks = relu_blocks(net, where)
    return check_inputs(blocks[0].dense.in_features, X_calib, "X_calib", where, varied=True)


def layer_inputs(net, X_calib, update, where: str = "layer_inputs"):
    r"""Run ``update(k, W, X_float, X_seen) -> W_new`` on each layer, sequentially.

    ``X_float`` is layer k's input in the float net, ``X_seen`` its input in
    a copy of ``net`` whose layers < k already hold their ``W_new`` (float64
    arrays). Returns that copy (the float net is not modified).
    """
    X_calib = calibration_set(net, X_calib, where)
    _, float_inputs = numpy_forward(net, X_calib, np.float64, inputs=True, where=where)
    work = copy.deepcopy(net)
    blocks = relu_blocks(work, where)
    for k, block in enumerate(blocks):
        _, seen = numpy_forward(work, X_calib, np.float64, inputs=True, where=where)
        W_new = update(k, block.dense.W.data.astype(np.float64), float_inputs[k], seen[k])
        block.dense.W.data[...] = W_new
    return work


def reconstruct_mlp(net, X_calib, quantize_layer, bits: int = 4, bits_a: int | None = 8,
                    granularity: str = "channel", group_size: int | None = None,
                    where: str = "reconstruct_mlp") -> QuantizedMLP:
    r"""A :class:`QuantizedMLP` whose weight codes are ``quantize_layer(k, W, X, X_seen)``'s.

    ``quantize_layer`` returns a :class:`~minicomp.quant.granularity.QTensor`
    of ``bits`` and ``granularity``; the rest (activation ranges from
    ``X_calib``, bias grid) is :func:`minicomp.quant.quantize_mlp`'s.
    """
    base = quantize_mlp(net, X_calib, bits, bits_a, granularity, group_size=group_size)
    codes = []

    def update(k, W, X, X_seen):
        Q = quantize_layer(k, W, X, X_seen)
        codes.append(Q)
        return Q.dequantize()

    layer_inputs(net, X_calib, update, where)
    layers = [dataclasses.replace(L, W=Q) for L, Q in zip(base.qlayers, codes)]
    return QuantizedMLP(layers, base.S_in, base.Z_in, base.bits_a)


def as_int8(qnet: QuantizedMLP) -> QuantizedMLP:
    """The same model with its symmetric <= 8-bit weight codes labelled int8.

    A 4-bit code in [-7, 7] with scale S *is* an int8 code with scale S: the
    int8 kernels (:func:`minicomp.deploy.to_inference`) run it unchanged,
    with the same outputs. Wider, affine or per-group weights are refused
    there, not here.
    """
    if not isinstance(qnet, QuantizedMLP):
        raise TypeError(f"as_int8: qnet is a {type(qnet).__name__}; expected a QuantizedMLP")
    layers = []
    for L in qnet.qlayers:
        W = L.W
        if W.scheme == "symmetric" and W.bits <= 8:
            W = QTensor(W.q.astype(np.int8), W.S, W.Z, 8, W.scheme, W.granularity,
                        W.group_size)
        layers.append(dataclasses.replace(L, W=W))
    return QuantizedMLP(layers, qnet.S_in, qnet.Z_in, qnet.bits_a)
