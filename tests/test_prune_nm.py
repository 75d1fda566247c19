"""N:M sparsity: masks by any criterion, gradual N:M training, compressed storage."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import MLP, evaluate
from minicomp.prune import FineTune, gradual_nm, nm_compress, nm_mask, nm_prune
from minicomp.prune.nm import is_nm, nm_keep
from minicomp.prune.registry import layer_scores


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), m=st.sampled_from([2, 4, 8]), groups=st.integers(1, 6),
       rows=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_nm_mask_keeps_exactly_the_n_largest(n, m, groups, rows, seed):
    n = min(n, m)
    S = np.random.default_rng(seed).standard_normal((rows, groups * m))
    M = nm_mask(S, n, m)
    Sg, Mg = S.reshape(-1, m), M.reshape(-1, m)
    assert (Mg.sum(axis=1) == n).all()
    kept = np.where(Mg == 1, Sg, np.inf).min(axis=1)
    dropped = np.where(Mg == 0, Sg, -np.inf).max(axis=1)
    assert (kept >= dropped).all()                                 # exact top-n per group


@pytest.mark.parametrize("criterion", ["magnitude", "wanda", "taylor"])
def test_nm_prune_by_a_registered_criterion(criterion):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 8)), rng.integers(0, 4, 50)
    net = MLP([8, 8, 4], seed=0)
    scores = layer_scores(net, criterion, X, y)
    masks = nm_prune(net, criterion, 2, 4, X, y)
    for S, M, layer in zip(scores, masks, (net[0], net[2])):
        np.testing.assert_array_equal(M, nm_mask(S, 2, 4))
        assert is_nm(layer.W.data, 2, 4)
    # pruning again to 1:4 keeps only weights still alive
    masks2 = nm_prune(net, "magnitude", 1, 4)
    assert all(((m2 == 1) <= (m1 == 1)).all() and is_nm(m2, 1, 4)
               for m1, m2 in zip(masks, masks2))


def test_gradual_nm_ends_exactly_two_four_and_trains():
    from minicomp.data import load_digits
    d = load_digits()
    net = MLP([64, 32, 12], seed=0)
    FineTune(epochs=6, lr=0.05)(net, d.X_train, d.y_train)
    one_shot = copy.deepcopy(net)
    nm_prune(one_shot, "magnitude", 2, 4)
    gradual_nm(net, d.X_train, d.y_train, 2, 4, fine_tune=FineTune(epochs=4))
    assert all(is_nm(layer.W.data, 2, 4) for layer in (net[0], net[2]))
    assert evaluate(net, d.X_test, d.y_test)["accuracy"] >= \
        evaluate(one_shot, d.X_test, d.y_test)["accuracy"] - 0.02
    assert [nm_keep(t, 2, 4, steps=4) for t in range(5)] == [4, 3, 2, 2, 2]


def test_compressed_storage():
    W = np.array([[0., 2., 0., 3., 1., 0., 0., 0.]], np.float32)
    A = nm_compress(W, 2, 4)
    assert A.values.tolist() == [[2, 3, 1, 0]] and A.bits == 2
    assert A.indices.tolist() == [[1 | 3 << 2 | 0 << 4 | 1 << 6]]   # positions 1, 3, 0, 1
    np.testing.assert_array_equal(A.toarray(), W)
    big = nm_mask(np.random.default_rng(0).random((64, 256)), 2, 4).astype(np.float32)
    assert nm_compress(big, 2, 4).nbytes == 64 * 128 * 4 + 64 * 128 * 2 // 8   # 17 bits/weight


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n=5 > m=4"):
        nm_mask(np.ones((1, 8)), 5, 4)
    with pytest.raises(ValueError, match="not a multiple of m=4"):
        nm_mask(np.ones((1, 6)), 2, 4)
    with pytest.raises(ValueError, match="NaN"):
        nm_mask(np.array([[np.nan, 1, 2, 3]]), 2, 4)
    with pytest.raises(ValueError, match="ranks neurons"):
        nm_prune(MLP([8, 4]), "l1", 2, 4)
    with pytest.raises(ValueError, match="layer 0.*multiple of m=8"):
        nm_prune(MLP([12, 4]), "magnitude", 2, 8)
    with pytest.raises(ValueError, match="criterion='nope'"):
        nm_prune(MLP([8, 4]), "nope")
    with pytest.raises(ValueError, match="group 0 has 4 nonzeros"):
        nm_compress(np.ones((1, 4)), 2, 4)


def test_n_zero_is_refused():
    from minicomp.ptq.sparsegpt import sparsegpt
    with pytest.raises(ValueError, match="nm_mask: n=0; expected an int >= 1"):
        nm_mask(np.ones((2, 8)), 0, 4)                     # would keep nothing
    with pytest.raises(ValueError, match="n=0; expected an int >= 1"):
        nm_prune(MLP([8, 4], seed=0), "magnitude", 0, 4)
    with pytest.raises(ValueError, match="sparsegpt: n=0; expected an int >= 1"):
        sparsegpt(np.ones((2, 8)), np.eye(8), nm=(0, 4))


def test_gradual_nm_checks_before_training():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 8)), rng.integers(0, 4, 20)
    net = MLP([8, 8, 4], seed=0)
    W0 = net[0].W.data.copy()
    with pytest.raises(ValueError, match="gradual_nm: criterion='bogus'"):
        gradual_nm(net, X, y, criterion="bogus", fine_tune=FineTune(epochs=2))
    with pytest.raises(ValueError, match="gradual_nm: criterion='activation' ranks neurons"):
        gradual_nm(net, X, y, criterion="activation", fine_tune=FineTune(epochs=2))
    with pytest.raises(TypeError, match="gradual_nm: X is a NoneType"):
        gradual_nm(net, None, y, fine_tune=FineTune(epochs=2))
    np.testing.assert_array_equal(net[0].W.data, W0)               # nothing was trained


def test_nm_compress_refuses_values_float32_cannot_hold():
    with pytest.raises(ValueError, match=r"nm_compress: W holds 1e\+300, beyond float32's"):
        nm_compress(np.full((1, 4), 1e300), 2, 4)
