r"""Node compression: merge neurons whose outputs are (scaled, shifted) copies of others.

If hidden neuron j's output on the data is an affine copy of neuron i's,
:math:`a_j \approx s\,a_i + c`, the next layer does not need both:

.. math:: \sum_m W'_{:,m} a_m \approx \dots + (W'_{:,i} + s\,W'_{:,j})\,a_i + \dots
          + W'_{:,j}\,c,

so neuron j is removed (row j of W, entry j of b, column j of the next
layer's W'), its outgoing weights are folded into the survivor
(:math:`W'_{:,i} \mathrel{+}= s W'_{:,j}`) and the constant into the next
bias (:math:`b' \mathrel{+}= c\,W'_{:,j}`). s and c are the least-squares
fit on a batch of activations, and the fit's residual is the error of the
merge:

.. math:: s_{ij} = \frac{\mathrm{cov}(a_i, a_j)}{\mathrm{var}(a_i)},\quad
          c_{ij} = \bar a_j - s_{ij}\bar a_i,\quad
          e_{ij} = \sqrt{\mathrm{var}(a_j) - \mathrm{cov}(a_i, a_j)^2/\mathrm{var}(a_i)} .

A constant (e.g. dead) neuron has :math:`e = 0` with any partner: it is
folded into the bias, exactly. Merges are made greedily, smallest error
first, on the activations *after* the activation function, so it works
for any activation. Unlike pruning (:func:`minicomp.prune.prune` +
:func:`~minicomp.prune.compact`), which deletes a neuron and its
contribution, merging keeps the part of it that another neuron can carry.

Deviation: Mariet & Sra (2016) choose the neurons to keep with a
determinantal point process and re-weight by a least-squares fit of every
removed neuron on all kept ones; here each removed neuron is fitted on
one partner (cheaper, and exact for duplicates and dead units).

References
----------
Srinivas, S., Babu, R. V. (2015). Data-free Parameter Pruning for Deep
Neural Networks. BMVC (merging similar neurons).
Mariet, Z., Sra, S. (2016). Diversity Networks. ICLR.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..blocks import numpy_forward
from ..nn import Sequential
from ..prune.mask import num_to_prune
from .fold import dense_from, int_list, sequential_blocks


def merge_errors(A):
    r"""Pairwise affine fits :math:`a_j \approx s_{ij} a_i + c_{ij}` of the columns of ``A``.

    Parameters
    ----------
    A : ndarray, shape (N, n)
        Activations of n neurons on N inputs.

    Returns
    -------
    E, S, C : ndarrays, shape (n, n)
        RMS residual, scale and shift of fitting column j on column i
        (``E[i, i]`` is inf: a neuron does not merge into itself).

    Examples
    --------
    >>> A = np.array([[0., 1., 5.], [1., 3., 5.], [2., 5., 5.]])   # a1 = 2 a0 + 1, a2 = 5
    >>> E, S, C = merge_errors(A)
    >>> float(E[0, 1]), float(S[0, 1]), float(C[0, 1]), float(E[0, 2]), float(C[0, 2])
    (0.0, 2.0, 1.0, 0.0, 5.0)
    """
    A = check.array(A, "A", ndim=2, dtype=np.float64, where="merge_errors")
    mean = A.mean(axis=0)                                        # (n,)
    Ac = A - mean                                                # (N, n)
    cov = Ac.T @ Ac / len(A)                                     # (n, n)
    var = np.diag(cov).copy()                                    # (n,)
    safe = np.where(var > 0, var, 1.0)
    S = np.where(var[:, None] > 0, cov / safe[:, None], 0.0)     # (n, n) s_ij
    resid = var[None, :] - S * cov                               # var_j - cov_ij^2 / var_i
    E = np.sqrt(np.maximum(resid, 0.0))                          # (n, n)
    np.fill_diagonal(E, np.inf)
    C = mean[None, :] - S * mean[:, None]                        # (n, n) c_ij
    return E, S, C


def merge_neurons(net, X, amount, layers=None):
    """A copy of ``net`` with ``amount`` neurons of each hidden layer merged into others.

    Parameters
    ----------
    net : Sequential of Dense layers and elementwise activations
    X : ndarray, shape (N, in)
        Inputs on which the activations are compared (a calibration batch).
    amount : int or float
        Neurons to remove per chosen layer: a count, or a fraction in [0, 1)
        (as in :func:`minicomp.prune.prune`).
    layers : sequence of int, optional
        Indices into the Dense layers; default every hidden layer.

    Returns
    -------
    net : Sequential
        Narrower hidden layers; ``net`` is not modified.
    merges : list of dict
        One per merge: ``layer``, ``kept``, ``removed`` (indices in the
        layer as it was), ``scale``, ``shift``, ``error`` (RMS residual).

    Raises
    ------
    TypeError, ValueError
        What :func:`~minicomp.blocks.numpy_forward` refuses on ``net`` and
        ``X``; a bad ``amount`` (or one that would empty a layer); a layer
        index that is not a hidden layer.

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([3, 4, 2], seed=0)
    >>> net[0].W.data[3] = 2 * net[0].W.data[1]; net[0].b.data[3] = 0   # neuron 3 = 2 x neuron 1
    >>> X = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    >>> small, merges = merge_neurons(net, X, 1)
    >>> small[0].W.shape, merges[0]["kept"], merges[0]["removed"], round(merges[0]["scale"], 4)
    ((3, 3), 1, 3, 2.0)
    >>> bool(np.allclose(small(X).data, net(X).data, atol=1e-5))
    True
    """
    blocks = sequential_blocks(net, "merge_neurons")
    hidden = range(len(blocks) - 1)
    chosen = hidden if layers is None else \
        int_list(layers, "layers", high=len(blocks) - 2, where="merge_neurons")
    Ws = [b.dense.W.data.astype(np.float64) for b in blocks]     # (out, in) each
    bs = [np.zeros(len(W)) if b.dense.b is None else b.dense.b.data.astype(np.float64)
          for W, b in zip(Ws, blocks)]
    current, merges = net, []
    for k in sorted(set(chosen)):
        n = Ws[k].shape[0]
        m = num_to_prune(amount, n, where="merge_neurons")
        if m >= n:
            raise ValueError(f"merge_neurons: amount={amount!r} removes all {n} neurons of "
                             f"layer {k}; expected at most {n - 1}")
        _, inputs = numpy_forward(current, X, dtype=np.float64, inputs=True,
                                  where="merge_neurons")
        E, S, C = merge_errors(inputs[k + 1])                    # (n, n) each
        alive = np.ones(n, bool)
        for _ in range(m):
            E[:, ~alive] = np.inf
            E[~alive, :] = np.inf
            i, j = np.unravel_index(np.argmin(E), E.shape)       # merge j into i
            bs[k + 1] += Ws[k + 1][:, j] * C[i, j]               # (out',) constant part
            Ws[k + 1][:, i] += S[i, j] * Ws[k + 1][:, j]         # (out',) folded weights
            alive[j] = False
            merges.append({"layer": k, "kept": int(i), "removed": int(j),
                           "scale": float(S[i, j]), "shift": float(C[i, j]),
                           "error": float(E[i, j])})
        Ws[k], bs[k], Ws[k + 1] = Ws[k][alive], bs[k][alive], Ws[k + 1][:, alive]
        current = _rebuild(net, blocks, Ws, bs)
    return _rebuild(net, blocks, Ws, bs), merges


def _rebuild(net, blocks, Ws, bs):
    """``net``'s layers with the Dense layers replaced by (Ws, bs)."""
    layers = [copy.deepcopy(m) for m in net.layers]
    for b, W, bias in zip(blocks, Ws, bs):
        has_b = b.dense.b is not None or np.any(bias)          # a folded constant needs one
        layers[b.index] = dense_from(W, bias if has_b else None, b.dense.init)
    out = Sequential(*layers)
    out.train(net.training)
    return out
