"""Tests of minicomp.ensemble: weight averaging, soups, permutation alignment, distillation."""
import copy

import numpy as np
import pytest

from minicomp import MLP, evaluate, fit, predict
from minicomp.data import make_blobs
from minicomp.ensemble import (
    align,
    average_weights,
    distill_ensemble,
    greedy_soup,
    permute_hidden,
    uniform_soup,
    weight_matching,
)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(240, num_classes=3, num_features=5, std=2.5, seed=1)
    return X.astype(np.float32), y


def test_average_weights_hand_worked_and_identical_nets():
    a, b = MLP([3, 4, 2], seed=0), MLP([3, 4, 2], seed=1)
    soup = average_weights([a, b], [0.25, 0.75])
    np.testing.assert_allclose(soup[0].W.data, 0.25 * a[0].W.data + 0.75 * b[0].W.data,
                               rtol=1e-6)
    same = uniform_soup([a, copy.deepcopy(a), copy.deepcopy(a)])
    for k, v in a.state_dict().items():
        np.testing.assert_allclose(same.state_dict()[k], v, rtol=1e-6)
    assert soup is not a and a[0].W.data is not soup[0].W.data


def test_average_weights_refuses_other_architectures_and_bad_weights():
    with pytest.raises(ValueError, match="classes"):
        average_weights([MLP([3, 4, 2]), MLP([3, 4, 5])])
    with pytest.raises(ValueError, match="architecture"):
        average_weights([MLP([3, 4, 2]), MLP([3, 6, 2])])
    with pytest.raises(ValueError, match="empty"):
        average_weights([])
    with pytest.raises(ValueError, match="weights"):
        average_weights([MLP([3, 2]), MLP([3, 2])], [0.5, 0.6])


def test_greedy_soup_starts_from_the_best_ingredient_and_never_gets_worse(blobs):
    X, y = blobs
    base = MLP([5, 16, 3], seed=0)
    fit(base, X, y, epochs=3, lr=0.05, seed=0, quiet=True)
    ingredients = []
    for seed, lr in enumerate([0.01, 0.05, 0.1]):
        net = copy.deepcopy(base)
        fit(net, X, y, epochs=2, lr=lr, seed=seed + 1, quiet=True)
        ingredients.append(net)
    scores = [evaluate(n, X, y)["accuracy"] for n in ingredients]
    soup, chosen = greedy_soup(ingredients, X, y)
    assert chosen[0] == int(np.argmax(scores))
    assert evaluate(soup, X, y)["accuracy"] >= max(scores)


def test_permute_hidden_keeps_the_function_and_refuses_bad_perms():
    net = MLP([4, 6, 5, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    perms = [np.random.default_rng(1).permutation(6), np.random.default_rng(2).permutation(5)]
    np.testing.assert_allclose(predict(permute_hidden(net, perms), X), predict(net, X),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="permutation"):
        permute_hidden(net, [np.zeros(6, int), np.arange(5)])
    with pytest.raises(ValueError, match="one per hidden layer"):
        permute_hidden(net, [np.arange(6)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_of_a_permuted_copy_recovers_it_exactly(seed):
    net = MLP([6, 16, 12, 8, 3], seed=seed)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(n) for n in (16, 12, 8)]
    shuffled = permute_hidden(net, perms)
    assert not np.array_equal(shuffled[0].W.data, net[0].W.data)
    back = align(net, shuffled)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    found = weight_matching(net, shuffled)
    for p, q in zip(found, perms):                   # found undoes perms: q[p] = identity
        np.testing.assert_array_equal(q[p], np.arange(len(p)))


def test_alignment_brings_independent_nets_closer(blobs):
    X, y = blobs
    a, b = MLP([5, 32, 3], seed=0), MLP([5, 32, 3], seed=1)
    for net, seed in ((a, 0), (b, 1)):
        fit(net, X, y, epochs=5, lr=0.05, seed=seed, quiet=True)
    b2 = align(a, b)
    np.testing.assert_allclose(predict(b2, X), predict(b, X), rtol=1e-4, atol=1e-5)
    dist = lambda u, v: sum(float(((u.state_dict()[k] - v.state_dict()[k]) ** 2).sum())  # noqa
                            for k in u.state_dict())
    assert dist(a, b2) < dist(a, b)


def test_distill_ensemble_trains_the_student_and_checks_it(blobs):
    X, y = blobs
    members = []
    for seed in range(2):
        net = MLP([5, 16, 3], seed=seed)
        fit(net, X, y, epochs=3, lr=0.05, seed=seed, quiet=True)
        members.append(net)
    student = MLP([5, 4, 3], seed=9)
    before = student[0].W.data.copy()
    history = distill_ensemble(student, members, X, y, T=3.0, alpha=0.8, epochs=2, lr=0.05,
                               quiet=True)
    assert len(history.loss) == 2 and not np.array_equal(before, student[0].W.data)
    with pytest.raises(ValueError, match="classes"):
        distill_ensemble(MLP([5, 4]), members, X, y, epochs=1, quiet=True)
    with pytest.raises(ValueError, match="T"):
        distill_ensemble(student, members, X, y, T=0.0, epochs=1, quiet=True)
