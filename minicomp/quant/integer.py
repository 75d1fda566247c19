r"""Integer-only inference (Jacob et al. 2018): the math from a QuantizedMLP to int8 layers.

From :math:`r = S(q - Z)` for the input x, the weights w (symmetric,
:math:`Z_w = 0`, one scale per output channel) and the output y of a
dense layer, :math:`y = x W^\top + b` becomes

.. math:: q_{y,i} = Z_y + M_i\,\mathrm{acc}_i, \qquad
          \mathrm{acc}_i = \sum_j (q_{x,j} - Z_x)\, q_{w,ij} + q_{b,i}, \qquad
          M_i = \frac{S_x S_{w,i}}{S_y},

with the bias on the accumulator's grid, :math:`q_b = \mathrm{round}(b /
(S_x S_w))` (int32), and the real multiplier applied as a fixed-point
number :math:`M \approx m_0 2^{-\mathrm{shift}}` (a 31-bit :math:`m_0`, from
:func:`minicomp.kernels.reference.quantize_multiplier`), rounded half up,
clamped to uint8 -- with ReLU fused as a lower clamp at :math:`Z_y`.
Only the network's input is quantized and its output dequantized in float.

:func:`int8_settings` computes, from the simulated model
(:class:`~minicomp.quant.ptq.QuantizedMLP`), each layer's ``w_q, bias_q,
S_x, Z_x, S_w, S_y, Z_y``; :func:`minicomp.deploy.to_inference` runs them
on the int8 kernels (``to_inference(qnet)``).

**Simulated vs integer.** :func:`simulate_codes` computes the same codes
from the *float* simulated model (:class:`~minicomp.quant.ptq.QuantizedMLP`)
in float64: the accumulator is recovered as
:math:`\mathrm{round}((\hat x \hat W^\top + \hat b) / (S_x S_w))` (exact: the
float error is far below 1/2), and the requantization uses the same
:math:`m_0 2^{-\mathrm{shift}}` -- not the ideal M. The product
:math:`\mathrm{acc} \cdot m_0` needs up to 62 bits and float64 holds 53, so
:func:`fixed_point_round` splits :math:`m_0 = 2^{16} m_{hi} + m_{lo}`: each
partial product is exact, and the rounding decision is taken by exact
comparisons. The test suite checks the two agree on every code.

References
----------
Jacob, B. et al. (2018). Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.

Deviations: the last layer is requantized to uint8 like the others (its
range calibrated on the logits); per-group and affine weights are refused.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..kernels import reference
from .ptq import QuantizedMLP, check_inputs
from .uniform import quantize


def fixed_point_round(acc, m0, shift) -> np.ndarray:
    r"""``floor((acc·m0 + 2^(shift−1)) / 2^shift)`` computed exactly in float64.

    .. math:: \mathrm{acc}\, m_0 2^{-s} = P_1 + P_2,\quad
              P_1 = \mathrm{acc}\, m_{hi} 2^{16-s},\ P_2 = \mathrm{acc}\, m_{lo} 2^{-s}

    Both products have at most 47 significant bits (exact). With
    :math:`P_k = I_k + f_k` (integer and fractional parts, exact), the
    result is :math:`I_1 + I_2 + [f_1 + f_2 \ge 1/2] + [f_1 + f_2 \ge 3/2]`,
    and each test is the exact comparison :math:`f_2 \ge c - f_1`.

    Parameters
    ----------
    acc : array of integer values (any dtype), ``|acc| < 2^31``
    m0, shift : int32 arrays broadcastable to ``acc`` (``shift`` in 16..62)

    Returns
    -------
    ndarray float64 of integer values

    Examples
    --------
    >>> m0, shift = reference.quantize_multiplier(0.25)
    >>> fixed_point_round(np.array([2.0, 6.0, -6.0]), m0, shift)   # 0.5, 1.5, -1.5 up
    array([ 1.,  2., -1.])
    """
    where = "fixed_point_round"
    acc = validate.array(acc, "acc", nonempty=False, where=where, dtype=np.float64)
    bad = (acc != np.rint(acc)) | (np.abs(acc) >= 2**31)
    if bad.any():
        raise ValueError(f"{where}: acc contains {acc[bad][0]}; expected integers with "
                         "|acc| < 2^31 (int32 accumulators)")
    m0, shift = (validate.array(v, k, where=where) for v, k in ((m0, "m0"), (shift, "shift")))
    if m0.dtype.kind not in "iu" or shift.dtype.kind not in "iu":
        raise TypeError(f"{where}: m0 and shift must be integers (see quantize_multiplier), "
                        f"got {m0.dtype} and {shift.dtype}")
    m0, shift = m0.astype(np.int64), shift.astype(np.int64)
    if (m0 < 0).any() or (m0 >= 2**31).any():
        raise ValueError(f"{where}: m0 must lie in [0, 2^31), got {m0.min()}..{m0.max()}")
    if (shift < 16).any() or (shift > 62).any():
        raise ValueError(f"{where}: shift must lie in [16, 62] for the exact float64 split, "
                         f"got {shift.min()}..{shift.max()}")
    m_hi, m_lo = (m0 >> 16).astype(np.float64), (m0 & 0xFFFF).astype(np.float64)
    P1 = acc * (m_hi * np.ldexp(1.0, 16 - shift))          # exact: <= 46 significant bits
    P2 = acc * (m_lo * np.ldexp(1.0, -shift))              # exact: <= 47 significant bits
    I1, I2 = np.floor(P1), np.floor(P2)
    f1, f2 = P1 - I1, P2 - I2                              # exact fractional parts in [0, 1)
    return I1 + I2 + (f2 >= 0.5 - f1) + (f2 >= 1.5 - f1)


def check_int8(qnet, where: str) -> QuantizedMLP:
    """``qnet`` if it is a QuantizedMLP of 8-bit activations and symmetric int8 weights
    (zero point 0, per tensor or channel): what the int8 kernel computes exactly."""
    if not isinstance(qnet, QuantizedMLP):
        raise TypeError(f"{where}: qnet is a {type(qnet).__name__}; expected a QuantizedMLP "
                        "(from quantize_mlp)")
    groups = [k for k, L in enumerate(qnet.qlayers) if L.W.granularity == "group"]
    if groups:
        raise ValueError(f"{where}: qnet has per-group weight scales (granularity='group', "
                         f"group_size={qnet.qlayers[groups[0]].W.group_size}, layer "
                         f"{groups[0]}); the int8 kernel takes one weight scale per tensor or "
                         "per output channel only: quantize_mlp(..., granularity='channel')")
    if qnet.bits_a != 8 or any(L.W.bits != 8 for L in qnet.qlayers):
        raise ValueError(f"{where}: qnet has bits_a={qnet.bits_a} and weight bits "
                         f"{[L.W.bits for L in qnet.qlayers]}; expected 8-bit weights (per "
                         "tensor or per channel) and 8-bit activations")
    for k, L in enumerate(qnet.qlayers):        # int8 codes, Z_w = 0: else they wrap or shift
        q, Z = np.asarray(L.W.q), np.asarray(L.W.Z)
        if L.W.scheme != "symmetric" or q.dtype != np.int8 or Z.any():
            raise ValueError(f"{where}: layer {k} has {L.W.scheme} weights (zero point "
                             f"{Z[Z != 0][0] if Z.any() else 0}, {q.dtype} codes); the int8 "
                             "kernel needs symmetric int8 weights (zero point 0), as "
                             "quantize_mlp(net, X_calib) makes them, or quantize_tensor(W, 8, "
                             "scheme='symmetric')")
    return qnet


def weight_scales(L) -> np.ndarray:
    """``S_w`` of a :class:`~minicomp.quant.ptq.QuantLayer`, one per output channel, float64."""
    out = L.W.q.shape[0]
    return np.broadcast_to(np.asarray(L.W.S, dtype=np.float64), (out, 1))[:, 0]   # (out,)


def int8_settings(qnet: QuantizedMLP, where: str = "int8_settings") -> list[dict]:
    r"""The integer-only layers of an 8-bit ``qnet``, one dict per layer.

    Each dict holds the arguments of :class:`minicomp.deploy.Int8Dense`:
    ``w_q`` (int8 codes), ``bias_q`` :math:`= \mathrm{round}(\hat b / (S_x S_w))`
    (int32), ``S_x, Z_x`` (the layer's input: the previous layer's output),
    ``S_w`` (out,), ``S_y, Z_y`` and ``relu``; :func:`minicomp.deploy.to_inference`
    builds the model from them (``where``, its name in messages: refusals
    of :func:`check_int8` name the public function).

    Examples
    --------
    >>> from minicomp import MLP
    >>> from minicomp.quant import quantize_mlp
    >>> net = MLP([4, 8, 3], seed=0)
    >>> X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    >>> p = int8_settings(quantize_mlp(net, X))
    >>> p[0]["w_q"].dtype, p[0]["bias_q"].dtype, p[1]["S_x"] == p[0]["S_y"], p[0]["relu"]
    (dtype('int8'), dtype('int32'), True, True)
    """
    check_int8(qnet, where)
    layers, S_x, Z_x = [], qnet.S_in, qnet.Z_in
    for L in qnet.qlayers:
        S_w = weight_scales(L)                                                  # (out,)
        bias_q = np.rint(L.b_hat.astype(np.float64) / (S_x * S_w)).astype(np.int32)
        layers.append({"w_q": np.ascontiguousarray(L.W.q, dtype=np.int8), "bias_q": bias_q,
                       "S_x": S_x, "Z_x": int(Z_x), "S_w": S_w, "S_y": L.S_y,
                       "Z_y": int(L.Z_y), "relu": L.relu})
        S_x, Z_x = L.S_y, L.Z_y
    return layers


def simulate_codes(qnet: QuantizedMLP, X) -> np.ndarray:
    """The last layer's uint8 codes, from the float simulated model in float64 only.

    Each layer computes :math:`\\hat y = \\hat x \\hat W^\\top + \\hat b` in float64,
    recovers the accumulator :math:`\\mathrm{round}(\\hat y / (S_x S_w))` and
    requantizes it with :func:`fixed_point_round` (see the module docstring).
    """
    check_int8(qnet, "simulate_codes")
    X = check_inputs(qnet.qlayers[0].W.q.shape[1], X, "X", "simulate_codes", "batch")
    S_x, Z_x = qnet.S_in, qnet.Z_in
    x_hat = S_x * (quantize(X, S_x, Z_x, 8, "affine").astype(np.float64) - Z_x)   # (N, in)
    for L in qnet.qlayers:
        S_w = weight_scales(L)                                                   # (out,)
        W_hat = S_w[:, None] * L.W.q.astype(np.float64)                          # (out, in)
        y_hat = x_hat @ W_hat.T + L.b_hat.astype(np.float64)                     # (N, out)
        acc = np.rint(y_hat / (S_x * S_w))
        m0, shift = reference.quantize_multiplier(S_x * S_w / L.S_y)
        q = fixed_point_round(acc, m0, shift) + L.Z_y
        q = np.clip(q, L.Z_y if L.relu else 0, 255)
        S_x, Z_x = L.S_y, L.Z_y
        x_hat = S_x * (q - Z_x)
    return q.astype(np.uint8)
