r"""Neuron alignment by weight matching (Git Re-Basin), so that weights can be averaged.

Permuting the hidden neurons of a layer -- rows of its weight matrix and
bias, columns of the next layer's matrix -- does not change what an MLP
computes:

.. math:: W_\ell \to P_\ell W_\ell P_{\ell-1}^\top, \quad b_\ell \to P_\ell b_\ell
          \qquad (P_0 = P_L = I: \text{inputs and classes stay put})

Two independently trained nets are therefore best compared, or averaged,
after choosing the permutations of net B that make its weights closest to
net A's:

.. math:: \max_{P_1..P_{L-1}} \sum_\ell \langle W^A_\ell,\ P_\ell W^B_\ell P_{\ell-1}^\top\rangle_F
          + \langle b^A_\ell, P_\ell b^B_\ell\rangle

With all permutations but :math:`P_\ell` held fixed this is a linear
assignment problem, :math:`\max_{P_\ell} \langle P_\ell, S_\ell\rangle_F` with

.. math:: S_\ell = W^A_\ell (W^B_\ell P_{\ell-1}^\top)^\top + b^A_\ell {b^B_\ell}^\top
          + {W^A_{\ell+1}}^\top (P_{\ell+1} W^B_{\ell+1})

solved exactly (Hungarian method, ``scipy.optimize.linear_sum_assignment``);
the layers are visited in a random order until no permutation changes
(Ainsworth et al. 2023, Algorithm 1, "weight matching").

References
----------
Ainsworth, S., Hayase, J., Srinivasa, S. (2023). Git Re-Basin: Merging
Models modulo Permutation Symmetries. ICLR.
Entezari, R., et al. (2022). The Role of Permutation Invariance in Linear
Mode Connectivity of Neural Networks. ICLR.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..blocks import dense_blocks
from .merge import check_same_architecture


def _check_perms(net, perms, where) -> list:
    sizes = [b.dense.out_features for b in dense_blocks(net, where)[:-1]]   # hidden widths
    if not isinstance(perms, (list, tuple)) or len(perms) != len(sizes):
        got = f"{len(perms)} entries" if isinstance(perms, (list, tuple)) else repr(perms)
        raise ValueError(f"{where}: perms has {got}; expected a list of {len(sizes)} "
                         "permutations, one per hidden layer")
    out = []
    for i, (p, n) in enumerate(zip(perms, sizes)):
        p = check.array(p, f"perms[{i}]", ndim=1, where=where)
        if p.dtype.kind not in "iu" or not np.array_equal(np.sort(p), np.arange(n)):
            raise ValueError(f"{where}: perms[{i}] is not a permutation of 0..{n - 1}; expected "
                             "each hidden layer's neuron order")
        out.append(p.astype(np.int64))
    return out


def permute_hidden(net, perms):
    """A copy of ``net`` whose hidden layer ``l`` lists its neurons in the order ``perms[l]``.

    The copy computes the same function (up to float rounding).

    Examples
    --------
    >>> from minicomp import MLP
    >>> net = MLP([3, 4, 2], seed=0)
    >>> X = np.ones((1, 3), np.float32)
    >>> bool(np.allclose(permute_hidden(net, [[3, 1, 0, 2]])(X).data, net(X).data))
    True
    """
    perms = _check_perms(net, perms, "permute_hidden")
    out = copy.deepcopy(net)
    blocks = dense_blocks(out, "permute_hidden")
    for p, block, after in zip(perms, blocks[:-1], blocks[1:]):
        block.dense.W.data[...] = block.dense.W.data[p]                 # rows: (out, in)
        if block.dense.b is not None:
            block.dense.b.data[...] = block.dense.b.data[p]
        after.dense.W.data[...] = after.dense.W.data[:, p]              # next layer's columns
    return out


def weight_matching(net_a, net_b, max_iter: int = 100, seed=0) -> list:
    """Permutations of ``net_b``'s hidden neurons that best match ``net_a``'s weights.

    Returns
    -------
    perms : list of int arrays, one per hidden layer
        ``permute_hidden(net_b, perms)`` is net B aligned to net A.
    """
    from scipy.optimize import linear_sum_assignment   # scipy comes with scikit-learn
    where = "weight_matching"
    check_same_architecture([net_a, net_b], where)
    max_iter = check.integer(max_iter, "max_iter", low=1, where=where)
    rng = check.rng(seed, where=where)
    A, B = dense_blocks(net_a, where), dense_blocks(net_b, where)
    for name, blocks in (("net_a", A), ("net_b", B)):
        for b in blocks:
            for p in (b.dense.W, b.dense.b):
                if p is not None:
                    check.array(p.data, f"{name}'s layer {b.index} weights", where=where)
    Wa = [b.dense.W.data.astype(np.float64) for b in A]
    Wb = [b.dense.W.data.astype(np.float64) for b in B]
    ba = [np.zeros(len(W)) if b.dense.b is None else b.dense.b.data for b, W in zip(A, Wa)]
    bb = [np.zeros(len(W)) if b.dense.b is None else b.dense.b.data for b, W in zip(B, Wb)]
    L = len(Wa)
    perms = [np.arange(len(Wa[l])) for l in range(L - 1)]
    for _ in range(max_iter):
        changed = False
        for l in rng.permutation(L - 1):
            before = slice(None) if l == 0 else perms[l - 1]                 # inputs stay put
            S = Wa[l] @ Wb[l][:, before].T + np.outer(ba[l], bb[l])           # (n_l, n_l)
            nxt = Wb[l + 1] if l + 1 == L - 1 else Wb[l + 1][perms[l + 1]]   # (n_l+1, n_l)
            S += Wa[l + 1].T @ nxt
            _, p = linear_sum_assignment(S, maximize=True)                   # row i <- b's p[i]
            if not np.array_equal(p, perms[l]):
                perms[l], changed = p, True
        if not changed:
            break
    return perms


def align(net_a, net_b, max_iter: int = 100, seed=0):
    """``net_b`` with its hidden neurons permuted to match ``net_a`` (same function as net_b)."""
    return permute_hidden(net_b, weight_matching(net_a, net_b, max_iter, seed))
