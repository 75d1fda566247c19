"""Regressions from the review of minicomp.ensemble: each bad input found gets a clear error."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.nn import Dense, Dropout, Module, ReLU, Sequential
from minicomp.ensemble import (
    average_probabilities,
    average_weights,
    cascade_curve,
    cascade_predict,
    choose_tau,
    distill_ensemble,
    fit_stacker,
    log_loss,
    net_learner,
    samme,
    samme_predict,
    weight_matching,
)

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)


def stump(X, y, w, rng):
    """The best one-feature threshold-at-0 rule under the weights ``w``."""
    best = min((float(w @ (((X[:, j] > 0) == s) != y)), j, s) for j in range(X.shape[1])
               for s in (False, True))
    _, j, s = best
    return lambda Z: ((np.asarray(Z)[:, j] > 0) == s).astype(np.int64)


# 4. samme with a large learning rate


def test_samme_large_learning_rate_stays_finite():
    y2 = (X[:, 0] + 0.7 * X[:, 1] > 0).astype(int)          # no stump is perfect
    model = samme(stump, X, y2, 2, rounds=8, learning_rate=1e6)
    assert len(model.alphas) >= 2
    assert np.isfinite(model.alphas).all() and np.isfinite(model.errors).all()
    assert set(samme_predict(model, X)) <= {0, 1}


def test_samme_perfect_learner_gets_alpha_one():
    model = samme(stump, X, y, 2, rounds=5)                 # feature 0 is perfect
    assert model.alphas == [1.0] and model.errors == [0.0]


# 5. one model's probabilities must be 2-D


def test_single_model_probabilities_must_be_2d():
    with pytest.raises(ValueError, match=r"log_loss: P has shape \(2, 1, 2\) \(3-D\); "
                                         "expected a 2-D array"):
        log_loss([[[.9, .1]], [[.1, .9]]], [0])
    P = np.full((2, 3, 2), 0.5)
    with pytest.raises(ValueError, match="cascade_predict: P_small has shape .*expected a 2-D"):
        cascade_predict(P, P[0], 0.5)


# 6 and 16. cascade_curve checks labels and widths


class Res(Module):
    def __init__(self):
        self.inner = MLP([4, 2], seed=0)

    def forward(self, x):
        return self.inner(x)


def test_cascade_curve_checks_labels_and_widths():
    small, large = MLP([4, 2], seed=0), MLP([4, 8, 2], seed=1)
    with pytest.raises(ValueError, match="cascade_curve: y contains the label 6; expected "
                                         r"labels in 0..1"):
        cascade_curve(small, large, X, y + 5)
    with pytest.raises(ValueError, match=r"cascade_curve: taus has shape \(\) \(0-D\)"):
        cascade_curve(small, large, X, y, taus=0.5)
    with pytest.raises(ValueError, match=r"cascade_curve: \[small, large\]\[0\] is a Res "
                                         "whose input and output widths are unknown"):
        cascade_curve(Res(), large, X, y)


def test_net_classifier_unknown_widths_and_not_fitted():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError

    from minicomp.ensemble import NetClassifier
    with pytest.raises(ValueError, match=r"NetClassifier.fit: members\[0\] is a Res whose"):
        NetClassifier(Res()).fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        NetClassifier(MLP([4, 2])).predict(X)


# 8. same architecture: activations and Dropout p


def test_average_weights_compares_layers_not_only_shapes():
    a = MLP([4, 8, 2], seed=0)
    with pytest.raises(ValueError, match="nets\\[1\\] differs from nets\\[0\\].*activation="):
        average_weights([a, MLP([4, 8, 2], activation="tanh", seed=1)])
    d1 = Sequential(Dense(4, 8), ReLU(), Dropout(0.1), Dense(8, 2))
    d2 = Sequential(Dense(4, 8), ReLU(), Dropout(0.5), Dense(8, 2))
    with pytest.raises(ValueError, match=r"net\[2\] = Dropout\(p=0.5\) where nets\[0\] has "
                                         r"net\[2\] = Dropout\(p=0.1\)"):
        average_weights([d1, d2])
    with pytest.raises(ValueError, match="weight_matching: nets\\[1\\] differs"):
        weight_matching(d1, d2)
    average_weights([a, MLP([4, 8, 2], seed=1)])           # only the seeds differ: fine


# 10. small ones


def test_small_ones():
    with pytest.raises(ValueError, match="samme: fit_learner makes nets of 3 classes but "
                                         "num_classes=2"):
        samme(net_learner(3), X, y, 2)
    P = np.full((2, 3, 2), 0.5)
    with pytest.raises(TypeError, match="average_probabilities: weights has dtype bool"):
        average_probabilities(P, [True, False])


# 11. samme checks the learner's predictions


@pytest.mark.parametrize("out, error, match", [
    (lambda Z: np.zeros((len(Z), 1), int), ValueError, r"has shape \(40, 1\) \(2-D\)"),
    (lambda Z: np.full(len(Z), 5), ValueError, "contains the label 5; expected labels in 0..1"),
    (lambda Z: np.full(len(Z), 0.5), ValueError, "holds non-integer values"),
    (lambda Z: np.zeros(3, int), ValueError, "has 3 labels; expected 40"),
])
def test_samme_checks_predictions(out, error, match):
    with pytest.raises(error, match=f"samme: the round-0 learner's predictions h.X. {match}"):
        samme(lambda X, y, w, r: out, X, y, 2)
    with pytest.raises(TypeError, match="samme: fit_learner returned a int"):
        samme(lambda X, y, w, r: 3, X, y, 2)


# 12. weight_matching with NaN weights


def test_weight_matching_nan_weights():
    a, b = MLP([4, 8, 2], seed=0), MLP([4, 8, 2], seed=1)
    b[2].W.data[0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_matching: net_b's layer 2 weights contains "
                                         "nan at \\[0, 0\\]"):
        weight_matching(a, b)


# 13. scalars where sequences are expected


def test_scalar_hidden_widths():
    with pytest.raises(TypeError, match="net_learner: hidden=16 .int.; expected a list"):
        net_learner(2, hidden=16)
    P = np.full((2, 3, 2), 0.5)
    with pytest.raises(TypeError, match="fit_stacker: hidden=4 .int.; expected a list"):
        fit_stacker(P, [0, 1, 0], hidden=4)


# 15. choose_tau rows


@pytest.mark.parametrize("curve, error, match", [
    ([{"tau": 0.5}], ValueError, r"curve\[0\] has no 'accuracy'"),
    ([0.5], TypeError, r"curve\[0\] is a float; expected a dict"),
    ([{"accuracy": "hi", "macs": 1.0}], TypeError, r"curve\[0\]\['accuracy'\]='hi'"),
    ([{"accuracy": 0.5, "macs": float("nan")}], ValueError, r"curve\[0\]\['macs'\]=nan"),
])
def test_choose_tau_malformed_rows(curve, error, match):
    with pytest.raises(error, match=f"choose_tau: {match}"):
        choose_tau(curve, target=0.5)


# 17. distill_ensemble names the student


def test_distill_ensemble_names_the_student():
    members = [MLP([4, 2], seed=0), MLP([4, 2], seed=1)]
    with pytest.raises(ValueError, match="distill_ensemble: student takes 4 features and has "
                                         "3 classes but the members take 4 and have 2"):
        distill_ensemble(MLP([4, 3]), members, X, y, epochs=1)
