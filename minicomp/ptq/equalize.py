r"""Data-free quantization: cross-layer equalization and bias correction.

**Equalization.** ReLU is positively homogeneous, :math:`\mathrm{relu}(x/s) =
\mathrm{relu}(x)/s` for :math:`s > 0`, so neuron i of layer 1 can be scaled
down by :math:`s_i` and its outgoing weights in layer 2 up by :math:`s_i`
without changing the function:

.. math:: W_1' = S^{-1} W_1,\quad b_1' = S^{-1} b_1,\quad W_2' = W_2 S, \qquad
          S = \mathrm{diag}(s).

With :math:`r^{(1)}_i = \max_j |W_{1,ij}|` (neuron i's output-channel range)
and :math:`r^{(2)}_i = \max_k |W_{2,ki}|` (its input-channel range in layer
2), :math:`s_i = \sqrt{r^{(1)}_i / r^{(2)}_i}` makes both ranges
:math:`\sqrt{r^{(1)}_i r^{(2)}_i}`: the precision of per-tensor quantization
is then shared evenly between the channels. Sweeps over all consecutive
pairs are repeated until the scales stop changing.

**Bias correction.** Quantizing W to :math:`\hat W = W + \varepsilon` shifts
the layer's expected output by :math:`\varepsilon\,\mathbb E[x]`; subtracting
it from the bias removes the bias of the error:
:math:`b' = b - \varepsilon\,\mathbb E[x]`. *Empirical*: :math:`\mathbb E[x]`
is the mean of the layer's inputs on data. *Analytic* (no data): the
inputs' mean and variance are propagated through the net, each
pre-activation :math:`z \sim \mathcal N(m, v)` with
:math:`m = W\mu + b,\ v = W^{\circ 2}\sigma^2`, and for a ReLU

.. math:: \mathbb E[\mathrm{relu}(z)] = m\,\Phi(m/\sqrt v) + \sqrt v\,\phi(m/\sqrt v).

References
----------
Nagel, M., van Baalen, M., Blankevoort, T., Welling, M. (2019). Data-Free
Quantization Through Weight Equalization and Bias Correction. ICCV.
arXiv:1906.04721.

Deviations: the nets here have no batch normalization, whose
:math:`\beta, \gamma` give the paper the pre-activation statistics; the
analytic correction instead propagates an assumed input distribution
(default: standardized inputs, mean 0 and variance 1) treating the
features as independent. The bias after a ReLU is scaled with its neuron.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import validate
from ..blocks import numpy_forward
from ..nn import ReLU
from ..quant.granularity import GRANULARITIES, quantize_tensor
from ..quant.ptq import relu_blocks
from ..quant.uniform import check_bits


def channel_ranges(net) -> list:
    """Each Dense layer's output-channel ranges :math:`\\max_j |W_{ij}|`, (out,) each.

    >>> from minicomp import MLP
    >>> [r.shape for r in channel_ranges(MLP([4, 3, 2]))]
    [(3,), (2,)]
    """
    return [np.abs(b.dense.W.data).max(axis=1) for b in relu_blocks(net, "channel_ranges")]


def equalization_scales(W1, W2) -> np.ndarray:
    r""":math:`s_i = \sqrt{r^{(1)}_i / r^{(2)}_i}` for the hidden neurons between ``W1`` and
    ``W2`` (1 where a range is 0).

    >>> equalization_scales(np.array([[4.0], [1.0]]), np.array([[1.0, 4.0]]))
    array([2. , 0.5])
    """
    r1 = np.abs(W1).max(axis=1)                                        # (hidden,)
    r2 = np.abs(W2).max(axis=0)                                        # (hidden,)
    ok = (r1 > 0) & (r2 > 0)
    return np.where(ok, np.sqrt(np.where(ok, r1, 1.0) / np.where(ok, r2, 1.0)), 1.0)


def scale_neurons(first, second, s) -> None:
    r"""In place: :math:`W_1 \leftarrow S^{-1}W_1,\ b_1 \leftarrow S^{-1}b_1,\ W_2 \leftarrow
    W_2 S` for Dense layers ``first`` and ``second`` (a ReLU or nothing between them) and
    positive ``s`` (hidden,): the function is unchanged. THE fold of equalization,
    SmoothQuant and AWQ."""
    s = np.asarray(s, dtype=np.float64)
    if s.shape != (first.out_features,) or not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError(f"scale_neurons: s has shape {s.shape} or non-positive values; "
                         f"expected ({first.out_features},) finite positive scales")
    first.W.data /= s[:, None].astype(first.W.data.dtype)              # rows: neurons
    if first.b is not None:
        first.b.data /= s.astype(first.b.data.dtype)
    second.W.data *= s[None, :].astype(second.W.data.dtype)            # columns: inputs


def cross_layer_equalize(net, max_sweeps: int = 50, tol: float = 1e-6):
    """A copy of ``net`` computing the same function, with equalized channel ranges.

    Parameters
    ----------
    net : Sequential of Dense layers, each followed by ReLU or nothing
    max_sweeps : int
        Passes over every pair of consecutive layers, at most.
    tol : float
        Stop when every scale of a sweep is within ``tol`` of 1.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([4, 8, 3], seed=0)
    >>> net[0].W.data[0] *= 50; net[0].b.data[0] *= 50; net[2].W.data[:, 0] /= 50
    >>> eq = cross_layer_equalize(net)
    >>> X = np.random.default_rng(0).normal(size=(5, 4))
    >>> bool(np.allclose(eq(X).data, net(X).data, atol=1e-5))
    True
    >>> bool(channel_ranges(eq)[0].max() < channel_ranges(net)[0].max() / 5)
    True
    """
    where = "cross_layer_equalize"
    max_sweeps = validate.integer(max_sweeps, "max_sweeps", low=1, where=where)
    tol = validate.number(tol, "tol", low=0, where=where)
    net = copy.deepcopy(net)
    blocks = relu_blocks(net, where)
    for _ in range(max_sweeps):
        worst = 0.0
        for first, second in zip(blocks, blocks[1:]):
            s = equalization_scales(first.dense.W.data.astype(np.float64),
                                    second.dense.W.data.astype(np.float64))   # (h,)
            scale_neurons(first.dense, second.dense, s)
            worst = max(worst, float(np.abs(s - 1).max()))
        if worst <= tol:
            break
    return net


def _normal_relu_moments(m, v):
    """Mean and variance of relu(z) for z ~ N(m, v), elementwise."""
    s = np.sqrt(np.maximum(v, 1e-30))
    a = m / s
    Phi = 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
    phi = np.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mean = m * Phi + s * phi
    return mean, np.maximum((m * m + v) * Phi + m * s * phi - mean ** 2, 0.0)


def expected_inputs(net, input_mean=None, input_var=None) -> list:
    """Analytic :math:`\\mathbb E[x]` of every Dense layer's input (see the module docstring)."""
    blocks = relu_blocks(net, "expected_inputs")
    n_in = blocks[0].dense.in_features
    mu = np.zeros(n_in) if input_mean is None else validate.array(
        input_mean, "input_mean", ndim=1, where="bias_correction", dtype=np.float64)
    var = np.ones(n_in) if input_var is None else validate.array(
        input_var, "input_var", ndim=1, where="bias_correction", dtype=np.float64)
    if mu.shape != (n_in,) or var.shape != (n_in,):
        raise ValueError(f"bias_correction: input_mean and input_var have shapes {mu.shape} "
                         f"and {var.shape}; expected ({n_in},) each, one per input")
    if (var < 0).any():
        raise ValueError(f"bias_correction: input_var holds {float(var[var < 0][0])}, a "
                         "variance < 0; expected variances >= 0")
    means = []
    for block in blocks:
        means.append(mu)
        W = block.dense.W.data.astype(np.float64)                      # (out, in)
        b = 0.0 if block.dense.b is None else block.dense.b.data.astype(np.float64)
        m, v = W @ mu + b, (W ** 2) @ var                              # (out,) each
        mu, var = _normal_relu_moments(m, v) if isinstance(block.act, ReLU) else (m, v)
    return means


def bias_correction(net, bits: int = 8, granularity: str = "tensor", X=None,
                    input_mean=None, input_var=None):
    r"""A copy of ``net`` whose biases absorb the expected error of quantizing its weights.

    :math:`b' = b - (\hat W - W)\,\mathbb E[x]` per layer, with :math:`\hat W`
    the symmetric ``bits``-bit weights at ``granularity``
    (:func:`~minicomp.quant.quantize_tensor`, as :func:`~minicomp.quant.quantize_mlp`
    will make them). Quantize the result with the same bits and granularity.

    Parameters
    ----------
    X : ndarray (N, in), optional
        Empirical correction (E[x] measured on ``X``); without it, analytic
        (no data) from ``input_mean`` and ``input_var`` (default 0 and 1).
    """
    where = "bias_correction"
    check_bits(bits, "symmetric", where=where)
    granularity = validate.choice(granularity, "granularity", GRANULARITIES[:2], where=where)
    if X is not None and (input_mean is not None or input_var is not None):
        raise ValueError(f"{where}: X and input_mean/input_var given; expected X (empirical "
                         "means) or input_mean/input_var (analytic), not both")
    if X is None:
        means = expected_inputs(net, input_mean, input_var)
    else:
        _, inputs = numpy_forward(net, X, np.float64, inputs=True, where=where)
        means = [x.mean(axis=0) for x in inputs]                       # (in_l,) each
    net = copy.deepcopy(net)
    for block, mu in zip(relu_blocks(net, where), means):
        W = block.dense.W.data.astype(np.float64)
        eps = quantize_tensor(W, bits, "symmetric", granularity).dequantize() - W
        if block.dense.b is not None:
            block.dense.b.data -= (eps @ mu).astype(block.dense.b.data.dtype)   # (out,)
    return net
