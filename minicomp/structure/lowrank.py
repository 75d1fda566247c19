r"""Connection compression by low-rank factorization (truncated SVD).

With the SVD :math:`W = U \Sigma V^\top` (out, in), singular values
:math:`\sigma_1 \ge \sigma_2 \ge \dots`, the best rank-r approximation in
the Frobenius and spectral norms (Eckart & Young 1936) is

.. math:: W \approx W_r = \underbrace{U_r \Sigma_r}_{A\ (\text{out}, r)}\,
          \underbrace{V_r^\top}_{B\ (r, \text{in})},
          \qquad \lVert W - W_r\rVert_F^2 = \sum_{k>r} \sigma_k^2 .

The rank is chosen by the retained **energy** :math:`E(r) = \sum_{k\le r}
\sigma_k^2 / \sum_k \sigma_k^2` (the smallest r with :math:`E(r) \ge e`) or
by a **parameter budget**: the factorized layer stores
:math:`r(\text{in} + \text{out})` weights (+ out biases) instead of
:math:`\text{in}\cdot\text{out}`, so it is smaller only when
:math:`r < \text{in}\,\text{out}/(\text{in} + \text{out})`.

Deployed as two Dense layers with nothing between them: ``Dense(in, r,
bias=False)`` holding B, then ``Dense(r, out)`` holding A and the original
bias; :func:`~minicomp.structure.fold.fold_linear` multiplies them back.
:func:`factorize` splits the singular values evenly, :math:`A = U_r
\Sigma_r^{1/2}`, :math:`B = \Sigma_r^{1/2} V_r^\top` (same product): with
all of :math:`\Sigma` in one factor, the other factor's gradients are
scaled by :math:`\sigma_1` and fine-tuning with SGD diverges at learning
rates the original net trained with.
The factorized net is then fine-tuned with :func:`minicomp.fit` (both
factors train). With calibration inputs ``X``, :func:`factorize` keeps
instead what matters on the data: the rank-r layer closest to W *on its
inputs* (whitened SVD, Wang et al. 2024), which loses much less before
fine-tuning than the plain SVD (``minicomp bench structure``).

References
----------
Eckart, C., Young, G. (1936). The approximation of one matrix by another of
lower rank. Psychometrika 1.
Denton, E. et al. (2014). Exploiting Linear Structure Within Convolutional
Networks for Efficient Evaluation. NeurIPS.
Wang, X., Zheng, Y., Wan, Z., Zhang, M. (2024). SVD-LLM: Truncation-aware
Singular Value Decomposition for Large Language Model Compression.
arXiv:2403.07378.
Xue, J., Li, J., Gong, Y. (2013). Restructuring of deep neural network
acoustic models with singular value decomposition. Interspeech.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..blocks import dense_blocks, numpy_forward
from ..nn import Sequential
from .fold import dense_from, int_list


def _weight(W, where):
    W = check.array(getattr(W, "data", W), "W", ndim=2, dtype=np.float64, where=where)
    return W                                                      # (out, in)


def _shape(shape, where) -> tuple:
    """``(out, in)`` of a weight matrix's ``shape``, checked."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"{where}: shape={shape!r}; expected (out, in), the Dense weight's "
                         "shape")
    return tuple(int_list(shape, "shape", low=1, where=where))


def rank_for_energy(S, energy: float) -> int:
    r"""Smallest r with :math:`\sum_{k\le r}\sigma_k^2 \ge e \sum_k \sigma_k^2`.

    Parameters
    ----------
    S : ndarray, shape (k,)
        Singular values, in decreasing order (as ``np.linalg.svd`` returns).
    energy : float in (0, 1]

    Examples
    --------
    >>> rank_for_energy(np.array([3.0, 2.0, 1.0]), 0.9)   # energies 9/14, 13/14, 1
    2
    """
    S = check.array(S, "S", ndim=1, dtype=np.float64, where="rank_for_energy")
    e = check.number(energy, "energy", low=0.0, high=1.0, low_open=True,
                     where="rank_for_energy")
    if np.any(S < 0) or np.any(np.diff(S) > 0):
        raise ValueError("rank_for_energy: S must be singular values (>= 0, decreasing); got "
                         f"{S[:5]}...")
    if S.max() == 0:
        return 1
    S = S / S.max()                                               # no overflow in S**2
    kept = np.cumsum(S**2) / np.sum(S**2)                               # (k,) E(1), E(2), ...
    return int(np.searchsorted(kept, e * (1 - 1e-12)) + 1)        # first r with E(r) >= e


def lowrank_params(shape, rank: int, bias: bool = True) -> int:
    """Parameters of a rank-``rank`` factorized Dense layer of ``shape`` (out, in).

    Examples
    --------
    >>> lowrank_params((64, 64), 8)        # 8 * (64 + 64) + 64 biases
    1088
    """
    out, n_in = _shape(shape, "lowrank_params")
    r = check.integer(rank, "rank", low=1, high=min(out, n_in), where="lowrank_params")
    return r * (out + n_in) + out * check.flag(bias, "bias", where="lowrank_params")


def rank_for_budget(shape, params: int) -> int:
    """Largest rank whose factors hold at most ``params`` weights (biases not counted).

    Examples
    --------
    >>> rank_for_budget((64, 64), 1024)    # 8 * 128 = 1024
    8
    """
    out, n_in = _shape(shape, "rank_for_budget")
    params = check.integer(params, "params", low=out + n_in, where="rank_for_budget")
    return min(params // (out + n_in), out, n_in)


def truncated_svd(W, rank=None, energy=None):
    """Factors ``(A, B)`` of the best rank-r approximation ``W ≈ A @ B``.

    Parameters
    ----------
    W : ndarray or Parameter, shape (out, in)
    rank : int, optional
        1 <= rank <= min(out, in).
    energy : float in (0, 1], optional
        Choose the rank by :func:`rank_for_energy` instead (exactly one of
        ``rank`` and ``energy``).

    Returns
    -------
    A : ndarray, shape (out, r)      U_r Σ_r
    B : ndarray, shape (r, in)       V_r^T

    Raises
    ------
    TypeError, ValueError
        ``W`` not a finite 2-D array; both or neither of ``rank``/``energy``;
        rank outside [1, min(out, in)]; energy outside (0, 1].

    Examples
    --------
    >>> W = np.array([[3.0, 0.0], [0.0, 1.0]])
    >>> A, B = truncated_svd(W, rank=1)
    >>> A @ B                                  # the larger singular direction only
    array([[3., 0.],
           [0., 0.]])
    """
    W = _weight(W, "truncated_svd")
    if (rank is None) == (energy is None):
        raise ValueError(f"truncated_svd: rank={rank!r}, energy={energy!r}; expected exactly "
                         "one of them")
    U, S, Vt = np.linalg.svd(W, full_matrices=False)             # (out, k), (k,), (k, in)
    if rank is None:
        rank = rank_for_energy(S, energy)
    r = check.integer(rank, "rank", low=1, high=min(W.shape), where="truncated_svd")
    return U[:, :r] * S[:r], Vt[:r]                              # (out, r), (r, in)


def factorize(net, rank=None, energy=None, layers=None, X=None):
    r"""A copy of ``net`` with each chosen Dense layer replaced by its two low-rank factors.

    Parameters
    ----------
    net : Sequential of Dense layers and activations
    rank : int, optional
        Same rank for every chosen layer (clipped to min(out, in)).
    energy : float in (0, 1], optional
        Each layer's own rank by retained energy.
    layers : sequence of int, optional
        Indices into the Dense layers, each at most once; default all of them.
    X : ndarray (N, in), optional
        Calibration inputs of the net. Given, each layer keeps what
        matters on its actual inputs :math:`X_\ell`: the rank-r
        :math:`W'` minimizing :math:`\lVert X_\ell (W - W')^\top\rVert_F`,
        by the SVD of :math:`W L` with :math:`L L^\top = X_\ell^\top X_\ell/N`
        (Cholesky, damped by 1e-6 of its mean diagonal), then
        :math:`W' = (WL)_r L^{-1}` (SVD-LLM, Wang et al. 2024). Energies
        are then those of the layer's outputs.

    Returns
    -------
    net : Sequential
        ``Dense(in, r, bias=False)`` then ``Dense(r, out)`` for each chosen layer.
    ranks : list of int
        The rank each chosen layer actually got: singular values that are
        zero (up to rounding, ``numpy.linalg.matrix_rank``'s tolerance) are
        left out, so a layer whose own rank is below ``rank`` (e.g. after
        neuron pruning) gets its own rank, an all-zero layer rank 1 (zeros).

    Raises
    ------
    TypeError, ValueError
        As :func:`truncated_svd`; ``layers`` not a list of distinct layer
        indices in range; ``X`` not finite (N, in).
    """
    blocks = dense_blocks(net, "factorize")
    chosen = list(range(len(blocks))) if layers is None else \
        int_list(layers, "layers", high=len(blocks) - 1, unique=True, where="factorize")
    if energy is None and rank is not None:
        rank = check.integer(rank, "rank", low=1, where="factorize")
    inputs = None if X is None else numpy_forward(net, X, np.float64, inputs=True,
                                                  where="factorize")[1]
    swap, ranks = {}, []
    for k in chosen:
        d = blocks[k].dense
        W, L = d.W.data.astype(np.float64), None                 # (out, in)
        if inputs is not None:
            C = inputs[k].T @ inputs[k] / len(inputs[k])          # (in, in)
            L = np.linalg.cholesky(C + 1e-6 * (np.trace(C) / len(C) + 1e-12) * np.eye(len(C)))
            W = W @ L                                            # (out, in) whitened
        r = None if rank is None else min(rank, *d.W.shape)
        A, B = truncated_svd(W, rank=r, energy=energy)           # (out, r), (r, in)
        S = np.linalg.norm(A, axis=0)                            # (r,) sigma_k
        keep = S > S.max(initial=0.0) * max(W.shape) * np.finfo(np.float64).eps
        keep[0] = keep[0] or not keep.any()                      # an all-zero layer: rank 1
        A, B, root = A[:, keep], B[keep], np.sqrt(np.maximum(S[keep], 1e-300))   # sqrt(sigma)
        A, B = A / root, B * root[:, None]                       # U sqrt(S), sqrt(S) V^T
        if L is not None:
            B = np.linalg.solve(L.T, B.T).T                      # B L^{-1}: (r, in)
        b = None if d.b is None else d.b.data
        swap[blocks[k].index] = [dense_from(B, None, d.init), dense_from(A, b, d.init)]
        ranks.append(A.shape[1])
    layers_out = []
    for i, m in enumerate(getattr(net, "layers", [net])):
        layers_out += swap.get(i, [copy.deepcopy(m)])
    small = Sequential(*layers_out)
    small.train(net.training)
    return small, ranks
