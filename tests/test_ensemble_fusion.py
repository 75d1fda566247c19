"""Tests of minicomp.ensemble: parallel (averaging, vote), cascade, SAMME, hybrid."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import MLP, fit, predict
from minicomp import functional as F
from minicomp.blocks import count_macs
from minicomp.data import make_blobs
from minicomp.ensemble import (
    NetClassifier,
    accuracy_vs_members,
    average_logits,
    average_probabilities,
    cascade_cost,
    cascade_curve,
    cascade_predict,
    choose_tau,
    fit_simplex_weights,
    fit_stacker,
    log_loss,
    majority_vote,
    member_probabilities,
    net_learner,
    samme,
    samme_predict,
    stack_features,
    stack_probabilities,
)
from minicomp.metrics import accuracy


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(300, num_classes=3, num_features=4, std=2.0, seed=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def nets(blobs):
    X, y = blobs
    out = []
    for seed, sizes in enumerate([[4, 8, 3], [4, 16, 3], [4, 3]]):
        net = MLP(sizes, seed=seed)
        fit(net, X, y, epochs=5, lr=0.05, seed=seed, quiet=True)
        out.append(net)
    return out


def softmax(Z):
    return F.softmax(np.asarray(Z, np.float64)).data


# ---- parallel

def test_averaging_identical_members_equals_the_member(blobs, nets):
    X, _ = blobs
    P = member_probabilities([nets[0]] * 3, X)
    np.testing.assert_allclose(average_probabilities(P), softmax(predict(nets[0], X)),
                               rtol=1e-6, atol=1e-7)
    votes = P.argmax(axis=2)
    np.testing.assert_array_equal(majority_vote(votes, 3), votes[0])


def test_average_probabilities_hand_worked_and_weighted():
    P = [[[0.9, 0.1], [0.5, 0.5]], [[0.3, 0.7], [0.1, 0.9]]]
    np.testing.assert_allclose(average_probabilities(P), [[0.6, 0.4], [0.3, 0.7]])
    # weights (0.75, 0.25): 0.75*0.9 + 0.25*0.3 = 0.75
    np.testing.assert_allclose(average_probabilities(P, [0.75, 0.25])[0], [0.75, 0.25])


def test_vote_tie_goes_to_the_lowest_class_whatever_the_member_order():
    votes = np.array([[2, 0, 1], [1, 0, 1], [0, 2, 2], [2, 1, 0]])   # (M=4, N=3)
    # example 0: votes 2,1,0,2 -> 2 wins; example 1: 0,0,2,1 -> 0; example 2: 1,1,2,0 -> 1
    np.testing.assert_array_equal(majority_vote(votes, 3), [2, 0, 1])
    tie = np.array([[2, 1], [1, 2], [0, 0], [2, 1]])   # ex 0: 2,1,0,2 -> 2; ex 1: 1,2,0,1 -> 1
    np.testing.assert_array_equal(majority_vote(tie, 3), [2, 1])
    two_way = np.array([[3], [1], [3], [1]])           # 2 votes each for 1 and 3: lowest, 1
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3]):
        assert majority_vote(two_way[order], 4)[0] == 1


def test_averaging_logits_is_not_averaging_probabilities():
    Z = np.array([[[10.0, 0.0]], [[0.0, 3.0]], [[0.0, 3.0]]])        # one over-confident net
    assert average_logits(Z).argmax() == 0
    assert average_probabilities(softmax(Z)).argmax() == 1
    # with equal logit scales on one example they can still differ, never NaN
    assert np.isfinite(average_logits(Z * 100)).all()


def test_accuracy_vs_members_ends_at_the_full_average(blobs, nets):
    X, y = blobs
    P = member_probabilities(nets[:2], X)
    curve = accuracy_vs_members(P, y)
    assert curve[0] == accuracy(P[0], y)
    assert curve[-1] == accuracy(average_probabilities(P), y)


def test_bad_members_are_refused(blobs, nets):
    X, _ = blobs
    with pytest.raises(ValueError, match="classes"):
        member_probabilities([nets[0], MLP([4, 5])], X)
    with pytest.raises(ValueError, match="input width"):
        member_probabilities([nets[0], MLP([5, 3])], X)
    with pytest.raises(ValueError, match="empty"):
        member_probabilities([], X)
    with pytest.raises(TypeError, match="list"):
        member_probabilities(nets[0], X)
    with pytest.raises(TypeError, match=r"members\[1\]"):
        member_probabilities([nets[0], "net"], X)


def test_bad_probabilities_are_refused():
    P = np.full((2, 3, 2), 0.5)
    P[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="nan"):
        average_probabilities(P)
    with pytest.raises(ValueError, match="probability distribution"):
        average_probabilities(np.full((2, 3, 2), 0.7))
    with pytest.raises(ValueError, match="weights"):
        average_probabilities(np.full((2, 3, 2), 0.5), [0.7, 0.7])
    with pytest.raises(ValueError, match="weights"):
        average_probabilities(np.full((2, 3, 2), 0.5), [1.5, -0.5])
    with pytest.raises(ValueError, match="label"):
        majority_vote([[0, 3]], 3)


# ---- cascade

def test_cascade_tau_zero_uses_only_the_small_model_and_a_high_tau_only_the_large(blobs, nets):
    X, y = blobs
    small, large = nets[2], nets[1]
    P = member_probabilities([small, large], X)
    y_hat, deferred = cascade_predict(P[0], P[1], 0.0)
    assert not deferred.any()
    np.testing.assert_array_equal(y_hat, P[0].argmax(axis=1))
    above = float(np.nextafter(P[0].max(axis=1).max(), 2.0))
    y_hat, deferred = cascade_predict(P[0], P[1], min(above, 1.0))
    assert deferred.all()
    np.testing.assert_array_equal(y_hat, P[1].argmax(axis=1))
    rows = cascade_curve(small, large, X, y, [0.0, min(above, 1.0)])
    assert rows[0]["macs"] == count_macs(small) and rows[0]["deferred"] == 0.0
    assert rows[1]["macs"] == count_macs(small) + count_macs(large)
    assert rows[0]["accuracy"] == accuracy(P[0], y) and rows[1]["accuracy"] == accuracy(P[1], y)


def test_cascade_hand_worked_cost_and_choice():
    y_hat, deferred = cascade_predict([[0.9, 0.1], [0.6, 0.4]], [[0.2, 0.8], [0.3, 0.7]], 0.8)
    np.testing.assert_array_equal(y_hat, [0, 1])
    assert cascade_cost(deferred, 100, 1000) == 600.0          # 100 + 1/2 * 1000
    rows = [{"tau": t, "accuracy": a, "macs": m} for t, a, m in
            [(0.0, 0.5, 1.0), (0.5, 0.9, 5.0), (0.7, 0.9, 7.0), (1.0, 0.95, 11.0)]]
    assert choose_tau(rows, 0.9)["tau"] == 0.5
    assert choose_tau(rows, 0.99)["tau"] == 1.0                 # unreachable: most accurate
    assert choose_tau(rows, budget=8.0)["tau"] == 0.5           # 0.9 at 5 MACs beats 0.9 at 7
    assert choose_tau(rows, budget=11.0)["tau"] == 1.0
    assert choose_tau(rows, budget=0.5)["tau"] == 0.0           # nothing within: cheapest
    with pytest.raises(ValueError, match="exactly one"):
        choose_tau(rows, 0.9, budget=5.0)
    with pytest.raises(ValueError, match="exactly one"):
        choose_tau(rows)


@pytest.mark.parametrize("tau", [-0.1, 1.5, float("nan"), float("inf")])
def test_tau_outside_zero_one_is_refused(tau):
    with pytest.raises(ValueError, match="tau"):
        cascade_predict([[0.5, 0.5]], [[0.5, 0.5]], tau)


def test_cascade_bad_input():
    with pytest.raises(TypeError, match="tau"):
        cascade_predict([[0.5, 0.5]], [[0.5, 0.5]], "0.5")
    with pytest.raises(ValueError, match="shape"):
        cascade_predict([[0.5, 0.5]], [[0.2, 0.3, 0.5]], 0.5)
    with pytest.raises(ValueError, match="nan"):
        cascade_predict([[np.nan, 0.5]], [[0.5, 0.5]], 0.5)
    with pytest.raises(TypeError, match="bools"):
        cascade_cost([0, 1], 1, 2)


# ---- SAMME

def test_samme_matches_sklearn_adaboost_with_stumps(blobs):
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = blobs

    def stump(X, y, w, rng):
        tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y, sample_weight=w)
        return tree.predict

    ours = samme(stump, X, y, num_classes=3, rounds=6)
    ref = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1, random_state=0),
                             n_estimators=6, random_state=0).fit(X, y)
    n = len(ours.alphas)
    np.testing.assert_allclose(ours.alphas, ref.estimator_weights_[:n], rtol=1e-6)
    np.testing.assert_allclose(ours.errors, ref.estimator_errors_[:n], rtol=1e-6)
    if n == len(ref.estimators_):
        np.testing.assert_array_equal(samme_predict(ours, X), ref.predict(X))


def test_samme_with_small_nets_improves_on_its_first_learner(blobs):
    X, y = blobs
    model = samme(net_learner(3, hidden=[2], epochs=2), X, y, num_classes=3, rounds=5, seed=0)
    assert all(a > 0 for a in model.alphas) and all(e < 2 / 3 for e in model.errors)
    first = accuracy(np.asarray(model.learners[0](X)), y)
    assert accuracy(samme_predict(model, X), y) >= first - 0.02


def test_samme_refuses_a_learner_no_better_than_chance(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="better than chance"):
        samme(lambda X, y, w, rng: (lambda Z: np.zeros(len(Z), int)), X, y, num_classes=3)
    with pytest.raises(TypeError, match="fit_learner"):
        samme("stump", X, y, num_classes=3)


# ---- hybrid

def test_fitted_simplex_weights_are_on_the_simplex_and_match_scipy():
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=(4, 200))                      # (M, N, C)
    y = rng.integers(0, 3, 200)
    P[1, np.arange(200), y] += 0.5                                    # member 1 is informative
    P[2, np.arange(200), y] += 0.3
    P /= P.sum(axis=2, keepdims=True)
    w = fit_simplex_weights(P, y, steps=500)
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-9
    P_y = P[:, np.arange(200), y].T                                   # (N, M)
    res = minimize(lambda v: -np.log(P_y @ v).mean(), np.full(4, 0.25), method="SLSQP",
                   bounds=[(0, 1)] * 4, constraints={"type": "eq", "fun": lambda v: v.sum() - 1})
    ours = log_loss(average_probabilities(P, w), y)
    assert ours <= res.fun + 1e-3
    assert ours <= log_loss(average_probabilities(P), y)


def test_simplex_objective_gradient_matches_finite_differences():
    from minicomp.ensemble.hybrid import simplex_log_loss
    from minicomp.gradcheck import gradcheck

    rng = np.random.default_rng(2)
    P_y = rng.uniform(0.05, 1.0, size=(30, 4))                        # (N, M)
    assert gradcheck(lambda a: simplex_log_loss(a, P_y), rng.standard_normal((4, 1)))


def test_stacking_learns_which_member_to_trust():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[y] * 0.8 + 0.2 / 3                               # right with 0.8 + 1/15
    noise = rng.dirichlet(np.ones(3), size=300)
    P = np.stack([noise, good])                                       # (2, 300, 3)
    assert stack_features(P).shape == (300, 6)
    meta = fit_stacker(P[:, :200], y[:200], epochs=30)
    assert accuracy(stack_probabilities(meta, P[:, 200:]), y[200:]) == 1.0


def test_sklearn_voting_and_stacking_accept_the_wrapped_members(blobs, nets):
    from sklearn.base import clone
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    wrapped = [(f"m{i}", NetClassifier(net).fit(X, y)) for i, net in enumerate(nets)]
    assert clone(wrapped[0][1]).get_params()["epochs"] == 0
    vote = VotingClassifier([(n, FrozenEstimator(e)) for n, e in wrapped], voting="soft")
    vote.fit(X, y)
    ours = average_probabilities(member_probabilities(nets, X))
    np.testing.assert_allclose(vote.predict_proba(X), ours, rtol=1e-5, atol=1e-6)
    stack = StackingClassifier(wrapped, LogisticRegression(max_iter=500), cv="prefit").fit(X, y)
    assert stack.predict(X).shape == y.shape and stack.score(X, y) > 0.5
    trained = NetClassifier(MLP([4, 3], seed=0), epochs=2).fit(X, y)
    assert trained.net_ is not trained.net and trained.score(X, y) > 0.34


# ---- properties


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_majority_vote_is_the_naive_count_and_ignores_member_order(M, N, C, seed):
    rng = np.random.default_rng(seed)
    votes = rng.integers(0, C, size=(M, N))
    naive = [min(c for c in range(C) if list(col).count(c) == max(
        list(col).count(k) for k in range(C))) for col in votes.T]
    np.testing.assert_array_equal(majority_vote(votes, C), naive)
    np.testing.assert_array_equal(majority_vote(votes[rng.permutation(M)], C), naive)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 20), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_cascade_answers_each_example_from_exactly_one_model(N, tau, seed):
    rng = np.random.default_rng(seed)
    P_s, P_l = rng.dirichlet(np.ones(4), N), rng.dirichlet(np.ones(4), N)
    y_hat, deferred = cascade_predict(P_s, P_l, tau)
    np.testing.assert_array_equal(deferred, P_s.max(axis=1) < tau)
    np.testing.assert_array_equal(y_hat[~deferred], P_s[~deferred].argmax(axis=1))
    np.testing.assert_array_equal(y_hat[deferred], P_l[deferred].argmax(axis=1))
    assert cascade_cost(deferred, 3, 10) == 3 + 10 * deferred.mean()
