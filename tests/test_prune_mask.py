"""Masks: scores -> mask, exact sparsity, idempotence, global minimum, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import MLP
from minicomp.prune import mask_from_scores, prune, remove
from minicomp.prune.mask import (
    apply_mask,
    default_min_keep,
    global_masks,
    num_to_prune,
    prune_neurons,
    sparsity,
    threshold_mask,
)


def test_mask_hand_worked():
    # scores 3, 1, 0.5, 2: removing half drops the two smallest (1 and 0.5)
    mask = mask_from_scores([[3., 1.], [0.5, 2.]], 0.5)
    np.testing.assert_array_equal(mask, [[1, 0], [0, 1]])
    assert mask.dtype == np.float32
    # count: remove 3 of 4 -> only the largest (3) stays
    np.testing.assert_array_equal(mask_from_scores([[3., 1.], [0.5, 2.]], 3), [[1, 0], [0, 0]])
    # -inf (already pruned) goes before any real score
    np.testing.assert_array_equal(mask_from_scores([-np.inf, 0.0, 5.0], 1), [0, 1, 1])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.floats(0, 1), st.integers(0, 2**31))
def test_achieved_sparsity_equals_requested(rows, cols, fraction, seed):
    scores = np.random.default_rng(seed).integers(0, 3, (rows, cols)).astype(float)  # ties
    mask = mask_from_scores(scores, fraction)
    assert (mask == 0).sum() == round(fraction * rows * cols)
    k = seed % (rows * cols + 1)
    assert (mask_from_scores(scores, k) == 0).sum() == k
    kept, removed = scores[mask == 1], scores[mask == 0]
    if kept.size and removed.size:
        assert removed.max() <= kept.min()            # never keeps a lower score


def test_threshold_mask_is_the_seed_rule():
    # remove {w : |w| < 0.01}: 0.005 and 0.001 go, 0.01 and 0.2 stay
    W = np.array([[0.005, -0.2], [0.01, -0.001]])
    np.testing.assert_array_equal(threshold_mask(np.abs(W), 0.01), [[0, 1], [1, 0]])


@pytest.mark.parametrize("amount, error, words", [
    (-1, ValueError, "between 0 and"), (5, ValueError, "between 0 and"),
    (-0.1, ValueError, "[0, 1]"), (1.5, ValueError, "[0, 1]"), (float("nan"), ValueError, "[0, 1]"),
    (True, TypeError, "int"), ("half", TypeError, "int"), (None, TypeError, "int"),
])
def test_bad_amount_raises_clearly(amount, error, words):
    with pytest.raises(error, match="amount") as info:
        mask_from_scores(np.ones(4), amount)
    assert words in str(info.value)


def test_bad_scores_and_shapes_raise():
    with pytest.raises(ValueError, match="NaN"):
        mask_from_scores([1.0, np.nan], 1)
    with pytest.raises(ValueError, match="empty"):
        mask_from_scores([], 0)
    net = MLP([3, 2], seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(2, 3\)"):
        apply_mask(net[0].W, np.ones((3, 2)))
    with pytest.raises(ValueError, match="0 and 1"):
        apply_mask(net[0].W, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"neuron_mask has shape \(3,\)"):
        prune_neurons(net[0], np.ones(3))


def test_num_to_prune_rounds_like_pytorch():
    assert num_to_prune(0.5, 10) == 5 and num_to_prune(0.26, 10) == 3
    assert num_to_prune(1.0, 7) == 7 and num_to_prune(0, 7) == 0


def test_masking_twice_changes_nothing():
    net = MLP([8, 6, 4], seed=0)
    masks1 = prune(net, "magnitude", 0.5)
    W1 = [m.W.data.copy() for m in (net[0], net[2])]
    masks2 = prune(net, "magnitude", 0.5)
    for a, b in zip(masks1, masks2):
        np.testing.assert_array_equal(a, b)
    for W, m in zip(W1, (net[0], net[2])):
        np.testing.assert_array_equal(W, m.W.data)
    apply_mask(net[0].W, masks1[0])
    np.testing.assert_array_equal(net[0].W.mask, masks1[0])


def test_pruning_further_only_adds_zeros():
    net = MLP([8, 6, 4], seed=0)
    prune(net, "random", 0.5, seed=0)
    before = net[0].W.mask.copy()
    prune(net, "random", 0.75, seed=1)               # other random scores, same old zeros
    assert (net[0].W.mask[before == 0] == 0).all()
    assert (net[0].W.mask == 0).sum() == 36


def test_global_never_empties_a_layer():
    big, tiny = np.array([5., 6., 7., 8.]), np.array([0.1, 0.2])
    m_big, m_tiny = global_masks([big, tiny], 3)
    # a plain global threshold would remove 0.1, 0.2 and 5; tiny keeps its best
    np.testing.assert_array_equal(m_big, [0, 0, 1, 1])
    np.testing.assert_array_equal(m_tiny, [0, 1])
    with pytest.raises(ValueError, match="min_keep"):
        global_masks([big, tiny], 5)                 # 6 entries, 2 must stay


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=4), st.floats(0, 0.98),
       st.integers(0, 2**31))
def test_global_keeps_minimum_and_exact_count(sizes, fraction, seed):
    rng = np.random.default_rng(seed)
    scores = [rng.random(n) * 10.0 ** rng.integers(-6, 3) for n in sizes]   # wild scales
    k = round(fraction * sum(sizes))
    if k > sum(n - default_min_keep(n) for n in sizes):
        return
    masks = global_masks(scores, fraction)
    assert sum((m == 0).sum() for m in masks) == k
    for m, n in zip(masks, sizes):
        assert m.sum() >= default_min_keep(n) >= 1


def test_global_prune_of_a_network_keeps_every_layer():
    net = MLP([16, 16, 16, 4], seed=0)
    net[2].W.data *= 1e-4                            # a layer of tiny weights
    prune(net, "magnitude", 0.9, scope="global")
    assert np.count_nonzero(net[2].W.data) >= default_min_keep(256)


def test_remove_bakes_masks_in():
    net = MLP([5, 4, 3], seed=0)
    prune(net, "magnitude", 0.5)
    zeros = net[0].W.data == 0
    remove(net)
    assert all(p.mask is None for p in net.parameters())
    assert (net[0].W.data[zeros] == 0).all() and zeros.sum() == 10


def test_loading_weights_into_a_pruned_net_keeps_pruned_weights_zero():
    from minicomp.deploy import to_inference
    from minicomp.train import predict
    net, other = MLP([6, 8, 3], seed=0), MLP([6, 8, 3], seed=1)
    prune(net, "magnitude", 0.5)
    net.load_state_dict(other.state_dict())
    for p in net.parameters():
        if p.mask is not None:
            assert np.all(p.data[p.mask == 0] == 0) and np.all(p.data[p.mask == 1] != 0)
    X = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    # CSR sums in another order than BLAS: equal up to float32 rounding
    np.testing.assert_allclose(predict(net, X), to_inference(net).predict(X), rtol=1e-5,
                               atol=1e-6)
    assert sparsity(net) == 0.5
