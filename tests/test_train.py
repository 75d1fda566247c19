"""fit / evaluate / predict: learning, determinism, callbacks, early stopping, divergence."""
import numpy as np
import pytest

from minicomp import MLP, evaluate, fit, predict
from minicomp.data import load_digits, make_blobs
from minicomp.optim import SGD, StepLR
from minicomp.train import BaselineConfig, Step, TrainingDiverged, train_baseline


def blobs():
    X, y = make_blobs(300, num_classes=3, num_features=2, std=0.5, seed=0)
    return X, y


def test_fit_learns_separable_blobs():
    X, y = blobs()
    net = MLP([2, 16, 3], seed=0)
    history = fit(net, X, y, lr=0.1, epochs=20, batch_size=16, quiet=True)
    assert history.loss[-1] < history.loss[0]
    assert evaluate(net, X, y)["accuracy"] > 0.95
    assert len(history.loss) == 20 and len(history.accuracy) == 20
    assert len(history.step_loss) == 20 * int(np.ceil(300 / 16))


def test_same_seed_same_weights_and_accuracy():
    X_train, y_train, X_test, y_test = load_digits()
    results = []
    for _ in range(2):
        net = MLP([64, 32, 10], seed=5)
        fit(net, X_train, y_train, lr=0.05, epochs=3, seed=11, quiet=True)
        results.append((net.state_dict(), evaluate(net, X_test, y_test)["accuracy"]))
    (s1, a1), (s2, a2) = results
    assert a1 == a2
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])


def test_different_shuffle_seed_gives_different_weights():
    X, y = blobs()
    a, b = MLP([2, 8, 3], seed=0), MLP([2, 8, 3], seed=0)
    fit(a, X, y, epochs=1, seed=1, quiet=True)
    fit(b, X, y, epochs=1, seed=2, quiet=True)
    assert not np.array_equal(a[0].W.data, b[0].W.data)


def test_callbacks_run_after_every_step():
    X, y = blobs()
    seen = []
    fit(MLP([2, 4, 3]), X, y, epochs=2, batch_size=100, quiet=True,
        callbacks=[lambda s: seen.append((s.epoch, s.step, s.global_step))])
    assert seen == [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 3), (1, 1, 4), (1, 2, 5)]


def test_callback_can_hold_a_mask_during_training():
    X, y = blobs()
    net = MLP([2, 16, 3], seed=0)
    mask = (np.random.default_rng(0).random(net[0].W.shape) > 0.5).astype(np.float32)

    def reapply(step: Step):
        step.net[0].W.data *= mask
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    fit(net, X, y, optimizer=opt, epochs=3, quiet=True, callbacks=[reapply])
    assert np.all(net[0].W.data[mask == 0] == 0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_epoch_and_step():
    X, y = blobs()
    X = X * 1e20                                   # logits overflow to inf -> nan loss
    with pytest.raises(TrainingDiverged, match=r"epoch 1/3, step \d+") as info:
        fit(MLP([2, 8, 3], seed=0), X, y, lr=10.0, epochs=3, quiet=True)
    assert isinstance(info.value.history.step_loss, list)


def test_early_stopping_restores_best_weights():
    X, y = blobs()
    net = MLP([2, 8, 3], seed=0)
    history = fit(net, X, y, lr=0.5, epochs=60, early_stopping=2, quiet=True,
                  validation=(X[:50], y[:50]))
    assert history.best_epoch is not None
    assert len(history.loss) < 60 or history.best_epoch == 59
    best = min(history.val_loss)
    assert evaluate(net, X[:50], y[:50])["loss"] == pytest.approx(best, rel=1e-6)


def test_scheduler_steps_per_epoch_and_lr_recorded():
    X, y = blobs()
    net = MLP([2, 4, 3])
    opt = SGD(net.parameters(), lr=0.4)
    history = fit(net, X, y, optimizer=opt, epochs=4, scheduler=StepLR(opt, 1, 0.5), quiet=True)
    assert history.lr == [0.4, 0.2, 0.1, 0.05]


def test_mse_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)   # (200, 1)
    net = MLP([3, 1], activation="identity", seed=0)
    fit(net, X, y, loss="mse", lr=0.1, epochs=30, quiet=True)
    assert evaluate(net, X, y, loss="mse")["loss"] < 1e-3
    np.testing.assert_allclose(net[0].W.data, [[1.0, -2.0, 0.5]], atol=0.02)


def test_predict_uses_eval_mode_and_restores_training():
    from minicomp.nn import Dropout, Sequential, Dense
    net = Sequential(Dense(2, 2, seed=0), Dropout(0.5, seed=0))
    X = np.ones((4, 2), np.float32)
    a, b = predict(net, X), predict(net, X)
    np.testing.assert_array_equal(a, b)            # dropout off
    assert net.training


def test_fit_trains_in_the_weights_dtype():
    X, y = blobs()
    net = MLP([2, 4, 3], seed=0)
    fit(net, X.astype(np.float64), y, epochs=1, quiet=True,
        callbacks=[lambda s: [(p.grad.dtype == np.float32) or pytest.fail("float64 grad")
                              for p in s.net.parameters()]])
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_fit_rejects_bad_arguments():
    X, y = blobs()
    with pytest.raises(ValueError, match="300 rows but y has 10"):
        fit(MLP([2, 3]), X, y[:10], quiet=True)
    with pytest.raises(ValueError, match="epochs"):
        fit(MLP([2, 3]), X, y, epochs=0, quiet=True)
    with pytest.raises(ValueError, match="loss"):
        fit(MLP([2, 3]), X, y, loss="hinge", quiet=True)
    with pytest.raises(ValueError, match="early_stopping"):
        fit(MLP([2, 3]), X, y, early_stopping=0, quiet=True)


def test_baseline_reaches_97_percent_on_digits():
    accuracies = []                                  # mean of 3 seeds: one seed is noisy
    for seed in range(3):
        net, history, result, data = train_baseline(BaselineConfig(seed=seed), quiet=True)
        accuracies.append(result["accuracy"])
    assert data.name == "digits"
    assert net.sizes == [64, 64, 64, 10]
    assert np.mean(accuracies) >= 0.97 and min(accuracies) >= 0.96


def test_baseline_validates_on_the_validation_split_not_the_test_set():
    config = BaselineConfig(epochs=3)
    net, history, result, data = train_baseline(config, quiet=True)
    assert len(data.X_val) > 0 and len(data.X_train) + len(data.X_val) == 1347
    assert len(history.val_accuracy) == 3
    on_val = evaluate(net, data.X_val, data.y_val)
    assert history.val_loss[-1] == pytest.approx(on_val["loss"], rel=1e-6)
    assert history.val_accuracy[-1] == on_val["accuracy"]
    assert result["loss"] == pytest.approx(evaluate(net, data.X_test, data.y_test)["loss"])
    assert result["loss"] != pytest.approx(history.val_loss[-1], rel=1e-6)


def test_baseline_early_stopping_and_no_validation():
    net, history, result, data = train_baseline(BaselineConfig(epochs=4, early_stopping=1),
                                                quiet=True)
    assert history.best_epoch is not None and len(history.loss) <= 4
    net, history, result, data = train_baseline(BaselineConfig(epochs=1, validation=0.0),
                                                quiet=True)
    assert data.X_val.shape == (0, 64) and history.val_loss == [] and len(data.X_train) == 1347


@pytest.mark.parametrize("changes, error, words", [
    ({"validation": float("nan")}, ValueError, "validation=nan; expected a finite number"),
    ({"validation": 1.0}, ValueError, "validation=1.0"),
    ({"validation": True}, TypeError, r"validation=True \(bool\)"),
    ({"validation": 0.0, "early_stopping": 3}, ValueError, "early_stopping=3 with validation=0"),
    ({"early_stopping": 0}, ValueError, "early_stopping=0"),
])
def test_baseline_rejects_bad_validation_settings(changes, error, words):
    with pytest.raises(error, match=words):
        train_baseline(BaselineConfig(epochs=1, **changes), quiet=True)


def test_baseline_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="dataset"):
        train_baseline(BaselineConfig(dataset="cifar"), quiet=True)
