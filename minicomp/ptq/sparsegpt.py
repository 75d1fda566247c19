r"""SparseGPT: GPTQ's column loop choosing a mask instead of a rounding.

The loop of :func:`~minicomp.ptq.gptq.column_loop` fixes column j of a
layer's weights and moves the columns not yet fixed through the Cholesky
factor U of :math:`H^{-1}` (:math:`H = 2X^\top X + \lambda I`). SparseGPT
fixes a pruned weight to 0 and a kept one to itself (or to its rounding,
for joint sparse + quantized weights). Which weights are pruned is chosen
by OBS's saliency with the *current* inverse Hessian,

.. math:: \text{score}_{ij} = \frac{w_{ij}^2}{[H^{-1}]_{jj}}
          = \frac{w_{ij}^2}{U_{jj}^2},

unstructured: the lowest fraction of the scores of each block of B columns
(chosen when the loop reaches the block, with the weights already moved
by the earlier blocks); N:M: the N largest of every M consecutive columns
of each row (:func:`minicomp.prune.nm_mask`), chosen when the loop
reaches the group. Every row then meets the N:M pattern exactly.

References
----------
Frantar, E., Alistarh, D. (2023). SparseGPT: Massive Language Models Can Be
Accurately Pruned in One-Shot. ICML. arXiv:2301.00774.

Deviations: float64; the mask block for unstructured sparsity is the lazy
batch (``block_size``), as in the reference code's default;
:func:`sparsegpt_net` by default prunes each layer's
:func:`~minicomp.ptq.gptq.asymmetric_target` (aiming at the float net's
outputs, as GPTAQ does for GPTQ), not the layer's own weights.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate
from ..blocks import dense_blocks
from ..prune.mask import apply_mask, mask_from_scores
from ..prune.nm import check_nm, nm_mask
from ..quant.granularity import quantize_tensor
from ..quant.uniform import check_finite, qrange
from .gptq import asymmetric_target, check_hessian, column_loop, inverse_cholesky
from .layerwise import layer_inputs


def sparsegpt(W, H, amount=None, nm=None, bits: int | None = None, damp: float = 0.01,
              block_size: int = 128):
    r"""Prune ``W`` (out, in) one-shot on the layer's Hessian ``H``, compensating the rest.

    Parameters
    ----------
    W : ndarray, shape (out, in)
    H : ndarray, shape (in, in), :math:`2X^\top X` of the layer's inputs
    amount : float in [0, 1], optional
        Unstructured: the fraction pruned in each block of columns (default
        0.5). Refused together with ``nm``, which sets the sparsity itself.
    nm : (int, int), optional
        ``(N, M)``: keep N of every M consecutive weights of a row (2:4).
    bits : int, optional
        Joint sparse + quantized: kept weights are rounded to the symmetric
        per-channel grid of ``W`` (round-to-nearest's) as they are fixed.
    damp, block_size :
        As in :func:`~minicomp.ptq.gptq.gptq`.

    Returns
    -------
    W_new : ndarray, float32, (out, in), exactly 0 where pruned
    mask : ndarray, float32, (out, in), 0/1

    Raises
    ------
    ValueError
        N > M, M not dividing ``in``, a bad amount, both amount and nm, bad bits, ``H``
        singular without damping or of the wrong shape.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, W = rng.normal(size=(64, 8)), rng.normal(size=(3, 8))
    >>> W_new, mask = sparsegpt(W, X.T @ X, nm=(2, 4))
    >>> mask.reshape(3, 2, 4).sum(axis=2)             # 2 kept in every 4
    array([[2., 2.],
           [2., 2.],
           [2., 2.]], dtype=float32)
    """
    where = "sparsegpt"
    W = check_finite("W", validate.array(W, "W", ndim=2, where=where), where).copy()
    H = check_hessian(H, W.shape[1], where)
    block_size = validate.integer(block_size, "block_size", low=1, where=where)
    if nm is not None:
        if amount is not None:
            raise ValueError(f"{where}: amount={amount!r} and nm={nm!r}; expected one of them "
                             "(N:M fixes the sparsity at 1 - N/M)")
        if not isinstance(nm, (tuple, list)) or len(nm) != 2:
            raise ValueError(f"{where}: nm={nm!r}; expected a pair (N, M) such as (2, 4)")
        n, m = check_nm(nm[0], nm[1], W.shape[1], where=where)
        block_size = m * max(1, block_size // m)
    else:
        amount = validate.number(0.5 if amount is None else amount, "amount", low=0, high=1,
                                 where=where)
    Q = None if bits is None else quantize_tensor(W, bits, "symmetric", "channel")
    U = inverse_cholesky(H, damp, where)
    mask = np.ones(W.shape, dtype=np.float32)

    def fix(j, W, U):
        if nm is not None and j % m == 0:
            scores = W[:, j:j + m] ** 2 / np.diag(U)[j:j + m] ** 2     # (out, m)
            mask[:, j:j + m] = nm_mask(scores, n, m)
        elif nm is None and j % block_size == 0:
            j1 = min(j + block_size, W.shape[1])
            scores = W[:, j:j1] ** 2 / np.diag(U)[j:j1] ** 2           # (out, B)
            mask[:, j:j1] = mask_from_scores(scores, amount)
        w = W[:, j]
        if Q is not None:
            S = np.broadcast_to(Q.S, (W.shape[0], 1))[:, 0]            # (out,)
            w = S * np.clip(np.rint(w / S), *qrange(Q.bits, "symmetric"))
        return w * mask[:, j]

    W = column_loop(W, U, fix, block_size)
    return W.astype(np.float32), mask


def sparsegpt_net(net, X_calib, amount=None, nm=None, bits: int | None = None,
                  damp: float = 0.01, block_size: int = 128, asymmetric: bool = True):
    """A copy of ``net`` with every Dense layer pruned by :func:`sparsegpt`, sequentially.

    Each layer's Hessian is :math:`2\\tilde X^\\top \\tilde X` of its inputs in the
    net already pruned before it (see :func:`~minicomp.ptq.layerwise.layer_inputs`);
    the masks are attached as in :mod:`minicomp.prune` (``W.mask``), so
    fine-tuning, :func:`minicomp.prune.size_report` and
    :func:`minicomp.deploy.to_inference` treat the result as any pruned net.
    ``asymmetric`` (default) prunes :func:`~minicomp.ptq.gptq.asymmetric_target`'s
    :math:`W^*`, so each layer aims at the float net's outputs (as
    :func:`~minicomp.ptq.gptq.gptq_mlp` does); ``False`` matches each layer's
    own outputs on the pruned net's inputs (the paper's loop). Chosen on
    validation (``minicomp bench ptq_choices``: MNIST-1D, drop vs float in
    points; 64-64, 6 seeds: 50 % 2.79 vs 4.83, 2:4 7.48 vs 10.44; 256-256,
    3 seeds: 1.08 vs 1.67, 2.25 vs 4.46).
    """
    masks = []
    asymmetric = validate.flag(asymmetric, "asymmetric", where="sparsegpt_net")

    def update(k, W, X, X_seen):
        if asymmetric:
            W = asymmetric_target(W, X, X_seen, damp, "sparsegpt_net")
        W_new, mask = sparsegpt(W, 2 * X_seen.T @ X_seen, amount, nm, bits, damp, block_size)
        masks.append(mask)
        return W_new

    pruned = layer_inputs(copy.deepcopy(net), X_calib, update, "sparsegpt_net")
    for block, mask in zip(dense_blocks(pruned), masks):
        apply_mask(block.dense.W, mask)
    return pruned
