"""Knowledge distillation: the loss (hand-worked, torch oracle, T², batchmean), training, hints."""
import copy
import math

import numpy as np
import pytest

from minicomp import MLP, fit, predict
from minicomp.distill import (Distill, DistillConfig, TeacherEnsemble, average_teachers, distill,
                              hint_train, kd_loss, soft_targets)
from minicomp.gradcheck import gradcheck
from minicomp.nn import Dense, Dropout, ReLU, Sequential
from minicomp.prune import compact, one_shot
from minicomp.tensor import Tensor

RNG = np.random.default_rng(0)


def data(n=96, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return X, (X[:, :k].argmax(axis=1)).astype(np.int64)


# ---- the loss -----------------------------------------------------------------------------

def test_hand_computed_2x3_example():
    # T = 2: z_s/T = [ln 2, 0, 0] -> q = [1/2, 1/4, 1/4]; z_t = 0 -> p = [1/3, 1/3, 1/3].
    # Row 0: KL(p||q) = 1/3 [ln((1/3)/(1/2)) + 2 ln((1/3)/(1/4))] = 1/3 ln(32/27); row 1: 0.
    # batchmean: (1/2)(1/3) ln(32/27); times T^2 = 4.
    z_s = np.array([[2 * math.log(2), 0.0, 0.0], [0.0, 0.0, 0.0]])
    z_t = np.zeros((2, 3))
    soft = 4 * math.log(32 / 27) / 6
    assert float(kd_loss(Tensor(z_s), z_t, T=2.0, alpha=1.0).data) == pytest.approx(soft)
    # labels y = [1, 0]: CE row 0 = -ln(1/6) (softmax(z_s) = [4, 1, 1]/6), row 1 = -ln(1/3)
    hard = (math.log(6) + math.log(3)) / 2
    value = float(kd_loss(Tensor(z_s), z_t, np.array([1, 0]), T=2.0, alpha=0.5).data)
    assert value == pytest.approx(0.5 * soft + 0.5 * hard)


def test_zero_kl_when_student_equals_teacher():
    z = RNG.standard_normal((4, 5))
    for T in (0.5, 1.0, 7.0):
        assert abs(float(kd_loss(Tensor(z), z, T=T, alpha=1.0).data)) < 1e-12


def test_batchmean_not_element_mean():
    z_s, z_t = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 4))
    p, q = soft_targets(z_t, 3.0), soft_targets(z_s, 3.0)
    kl_rows = (p * (np.log(p) - np.log(q))).sum(axis=1)                 # (N,)
    value = float(kd_loss(Tensor(z_s), z_t, T=3.0, alpha=1.0).data)
    assert value == pytest.approx(9 * kl_rows.mean(), rel=1e-10)       # sum / N, times T^2
    assert value != pytest.approx(9 * kl_rows.sum() / z_s.size)        # 'mean': K times smaller


def test_t_squared_keeps_the_gradient_scale():
    # Zero-mean logits: the soft term's gradient ~ (z_s - z_t)/(N K) whatever T is.
    z_s = RNG.standard_normal((8, 10))
    z_t = RNG.standard_normal((8, 10))
    z_s, z_t = z_s - z_s.mean(1, keepdims=True), z_t - z_t.mean(1, keepdims=True)

    def grad_norm(T):
        t = Tensor(z_s, requires_grad=True)
        kd_loss(t, z_t, T=T, alpha=1.0).backward()
        return np.linalg.norm(t.grad)

    assert grad_norm(20.0) / grad_norm(10.0) == pytest.approx(1.0, abs=0.02)   # with T²
    t = Tensor(z_s, requires_grad=True)
    kd_loss(t, z_t, T=200.0, alpha=1.0).backward()
    np.testing.assert_allclose(t.grad, (z_s - z_t) / z_s.size, rtol=0.05, atol=1e-4)


def test_swapped_kl_arguments_differ():
    z_s, z_t = RNG.standard_normal((5, 4)) * 2, RNG.standard_normal((5, 4)) * 2
    right = float(kd_loss(Tensor(z_s), z_t, T=1.0, alpha=1.0).data)
    swapped = float(kd_loss(Tensor(z_t), z_s, T=1.0, alpha=1.0).data)
    assert abs(right - swapped) > 1e-3


def test_gradcheck_whole_loss():
    z_t, y = RNG.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    for T, alpha in ((1.0, 0.3), (4.0, 0.9), (2.5, 1.0)):
        assert gradcheck(lambda z: kd_loss(z, z_t, y, T=T, alpha=alpha),
                         RNG.standard_normal((4, 3)))


def test_hard_labels_are_cross_entropy_with_the_teachers_argmax():
    from minicomp.functional import cross_entropy
    z_s, z_t = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 4))
    hard = kd_loss(Tensor(z_s), z_t, T=7.0, alpha=1.0, hard=True)
    assert float(hard.data) == pytest.approx(float(cross_entropy(Tensor(z_s),
                                                                 z_t.argmax(1)).data))


def test_torch_oracle_float64():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    z_s, z_t, y = RNG.standard_normal((7, 5)), RNG.standard_normal((7, 5)) * 3, RNG.integers(0, 5, 7)
    for T, alpha in ((1.0, 0.5), (4.0, 0.9), (10.0, 1.0)):
        t = Tensor(z_s, requires_grad=True)
        L = kd_loss(t, z_t, y, T=T, alpha=alpha)
        L.backward()
        ts = torch.tensor(z_s, requires_grad=True)
        soft = tf.kl_div(tf.log_softmax(ts / T, dim=1), tf.softmax(torch.tensor(z_t) / T, dim=1),
                         reduction="batchmean") * T ** 2
        Lt = alpha * soft + (1 - alpha) * tf.cross_entropy(ts, torch.tensor(y))
        Lt.backward()
        assert abs(float(L.data) - Lt.item()) < 1e-6
        np.testing.assert_allclose(t.grad, ts.grad.numpy(), atol=1e-6)


def test_average_teachers_averages_probabilities_not_logits():
    z1, z2 = RNG.standard_normal((4, 3)) * 4, RNG.standard_normal((4, 3))
    for T in (1.0, 3.0):
        z = average_teachers([z1, z2], T)
        np.testing.assert_allclose(soft_targets(z, T),
                                   (soft_targets(z1, T) + soft_targets(z2, T)) / 2, atol=1e-12)
    assert not np.allclose(soft_targets((z1 + z2) / 2, 1.0), soft_targets(
        average_teachers([z1, z2], 1.0), 1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(T=0.0), "T=0.0"), (dict(T=-1.0), "T=-1.0"), (dict(T=float("inf")), "T"),
    (dict(alpha=1.5), "alpha=1.5"), (dict(alpha=-0.1), "alpha=-0.1"),
    (dict(teacher=np.zeros((4, 4))), r"teacher_logits has shape \(4, 4\)"),
    (dict(teacher=np.zeros((3, 3))), r"teacher_logits has shape \(3, 3\)"),
    (dict(teacher=np.full((4, 3), np.nan)), "teacher_logits contains nan"),
    (dict(student=np.full((4, 3), np.inf)), "student_logits contains inf"),
    (dict(y=np.array([0, 1, 2, 3])), "label 3"),
    (dict(y=None, alpha=0.5), "y is None"),
])
def test_bad_input(kwargs, match):
    args = dict(student=np.zeros((4, 3)), teacher=np.zeros((4, 3)), y=np.array([0, 1, 2, 0]),
                T=2.0, alpha=0.9)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kd_loss(Tensor(args.pop("student")), args.pop("teacher"), **args)
    if {"T", "alpha"} & kwargs.keys() and "y" not in kwargs:
        with pytest.raises(ValueError, match=match):
            DistillConfig(T=args["T"], alpha=args["alpha"])


# ---- training through fit ---------------------------------------------------------------

def test_teacher_never_changes_and_stays_in_eval_mode():
    X, y = data()
    teacher = Sequential(Dense(6, 16, seed=0), ReLU(), Dropout(0.5, seed=0), Dense(16, 3, seed=1))
    teacher.train()
    before = teacher.state_dict()
    student = MLP([6, 4, 3], seed=1)
    for cache in (True, False):
        distill(student, teacher, X, y, DistillConfig(cache=cache), epochs=2, quiet=True)
        after = teacher.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before)
        assert all(p.grad is None for p in teacher.parameters())
        assert teacher.training                      # put back as it was


def test_cached_and_per_batch_teacher_train_the_same_student():
    X, y = data()
    teacher = MLP([6, 16, 3], seed=0)
    fit(teacher, X, y, epochs=3, quiet=True)
    a, b = MLP([6, 4, 3], seed=1), MLP([6, 4, 3], seed=1)
    distill(a, teacher, X, y, DistillConfig(cache=True), epochs=3, quiet=True)
    distill(b, teacher, X, y, DistillConfig(cache=False), epochs=3, quiet=True)
    np.testing.assert_allclose(predict(a, X), predict(b, X), rtol=1e-5, atol=1e-6)


def test_fit_passes_the_batchs_teacher_logits():
    X, y = data(n=10)
    seen = []

    def loss(y_hat, y_b, t_b):
        seen.append((y_b.copy(), t_b.copy()))
        return kd_loss(y_hat, t_b, y_b)

    cached = np.arange(30, dtype=np.float32).reshape(10, 3)       # row i: 3i, 3i+1, 3i+2
    fit(MLP([6, 3], seed=0), X, y, loss=loss, teacher=cached, epochs=1, batch_size=4, quiet=True)
    rows = np.concatenate([t[:, 0] for _, t in seen]) // 3
    np.testing.assert_array_equal(np.concatenate([y_b for y_b, _ in seen]), y[rows.astype(int)])
    assert sorted(rows) == list(range(10))


def test_several_teachers_are_averaged():
    X, y = data()
    t1, t2 = MLP([6, 8, 3], seed=0), MLP([6, 8, 3], seed=5)
    ens = TeacherEnsemble([t1, t2], T=2.0)
    np.testing.assert_allclose(predict(ens, X), average_teachers(
        [predict(t1, X), predict(t2, X)], 2.0), rtol=1e-5)
    student = MLP([6, 4, 3], seed=1)
    distill(student, [t1, t2], X, y, DistillConfig(T=2.0), epochs=1, quiet=True)


def test_distill_validation_reports_the_task_loss():
    X, y = data()
    teacher = MLP([6, 16, 3], seed=0)
    history = distill(MLP([6, 4, 3], seed=1), teacher, X, y, epochs=2, quiet=True,
                      validation=(X[:20], y[:20]))
    assert len(history.val_accuracy) == 2 and len(history.val_loss) == 2


@pytest.mark.parametrize("make, exc, match", [
    (lambda s: MLP([6, 8, 4], seed=0), ValueError, "teacher maps 6 -> 4"),
    (lambda s: MLP([5, 8, 3], seed=0), ValueError, "teacher maps 5 -> 3"),
    (lambda s: [], ValueError, "empty list"),
    (lambda s: "net", TypeError, "teacher"),
    (lambda s: s, ValueError, "shares"),
])
def test_distill_bad_teachers(make, exc, match):
    X, y = data()
    student = MLP([6, 4, 3], seed=1)
    with pytest.raises(exc, match=match):
        distill(student, make(student), X, y, DistillConfig(cache=False), epochs=1, quiet=True)


def test_fit_refuses_bad_cached_logits_and_distill_its_own_arguments():
    X, y = data()
    net = MLP([6, 4, 3], seed=1)
    with pytest.raises(ValueError, match=r"teacher has shape \(96, 4\)"):
        fit(net, X, y, loss=kd_loss, teacher=np.zeros((96, 4)), quiet=True)
    with pytest.raises(ValueError, match="teacher contains nan"):
        fit(net, X, y, loss=kd_loss, teacher=np.full((96, 3), np.nan), quiet=True)
    with pytest.raises(TypeError, match="config is a dict"):
        distill(net, MLP([6, 3]), X, y, {"T": 2})
    with pytest.raises(TypeError, match="loss= is set by distill"):
        distill(net, MLP([6, 3]), X, y, loss="mse")


def test_prune_then_distill_through_the_pruning_procedures():
    X, y = data(n=128)
    teacher = MLP([6, 32, 3], seed=0)
    fit(teacher, X, y, epochs=5, quiet=True)
    student = copy.deepcopy(teacher)
    one_shot(student, X, y, "activation", 0.5, fine_tune=Distill(teacher=teacher, epochs=2))
    small = compact(student)
    assert small[0].out_features == 16
    with pytest.raises(ValueError, match="teacher is None"):
        Distill()


# ---- hints ----------------------------------------------------------------------------------

def test_hint_train_trains_the_guided_layers_only():
    X, y = data()
    teacher = MLP([6, 16, 12, 3], seed=0)
    student = MLP([6, 5, 4, 3], seed=1)
    W_out = student[-1].W.data.copy()
    W_in = student[0].W.data.copy()
    regressor, history = hint_train(student, teacher, X, student_layer=0, teacher_layer=1,
                                    epochs=20, lr=0.05, quiet=True)
    assert (regressor.in_features, regressor.out_features) == (5, 12)
    assert history.loss[-1] < history.loss[0]
    assert np.array_equal(student[-1].W.data, W_out)            # above the guided layer
    assert not np.array_equal(student[0].W.data, W_in)          # the guided layer learned


@pytest.mark.parametrize("kwargs, match", [
    (dict(student_layer=2), "student_layer=2"), (dict(teacher_layer=-1), "teacher_layer=-1"),
])
def test_hint_train_bad_layers(kwargs, match):
    X, _ = data()
    with pytest.raises(ValueError, match=match):
        hint_train(MLP([6, 5, 4, 3]), MLP([6, 16, 12, 3]), X, **kwargs)
    with pytest.raises(ValueError, match="X contains nan"):
        hint_train(MLP([6, 5, 4, 3]), MLP([6, 16, 12, 3]), np.full((4, 6), np.nan))


# ---- augmentation: the teacher labels inputs the labels never covered ------------------------

def test_random_shift_rolls_each_row_and_checks_its_argument():
    from minicomp.data import random_shift
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = random_shift(2)(X, np.random.default_rng(0))
    for row, new in zip(X, out):
        assert any(np.array_equal(np.roll(row, s), new) for s in range(-2, 3))
    np.testing.assert_array_equal(random_shift(0)(X, np.random.default_rng(1)), X)
    with pytest.raises(ValueError, match="max_shift=-1"):
        random_shift(-1)


def test_fit_augments_every_batch_reproducibly_and_keeps_the_order():
    X, y = data(n=40)
    seen = []

    def spy(X_b, rng):
        seen.append(X_b.copy())
        return X_b + rng.standard_normal(X_b.shape).astype(X_b.dtype) * 0.01

    def run(augment):
        net = MLP([6, 3], seed=0)
        fit(net, X, y, epochs=2, batch_size=16, seed=5, quiet=True, augment=augment)
        return predict(net, X)

    a, b = run(spy), run(spy)
    np.testing.assert_array_equal(a, b)                     # same seed, same noise
    plain = []
    fit(MLP([6, 3], seed=0), X, y, epochs=2, batch_size=16, seed=5, quiet=True,
        callbacks=[lambda step: plain.append(step.step)])
    assert len(seen) == 2 * len(plain)                      # once per step, in both runs
    order = [s[:, 0].tolist() for s in seen[:len(plain)]]
    assert sorted(sum(order[:3], [])) == sorted(X[:, 0].tolist())   # epoch 1: every row once


def test_augment_is_checked():
    X, y = data(n=20)
    net = MLP([6, 3], seed=0)
    with pytest.raises(TypeError, match="augment is a int"):
        fit(net, X, y, quiet=True, augment=3)
    with pytest.raises(ValueError, match=r"returned shape \(16, 5\)"):
        fit(net, X, y, batch_size=16, quiet=True, augment=lambda X_b, rng: X_b[:, :5])
    with pytest.raises(ValueError, match="augment\\(X_b, rng\\) contains nan"):
        fit(net, X, y, quiet=True, augment=lambda X_b, rng: X_b * np.nan)
    with pytest.raises(ValueError, match="cached teacher logits"):
        fit(net, X, y, loss=kd_loss, teacher=np.zeros((20, 3)), quiet=True,
            augment=lambda X_b, rng: X_b)


def test_distill_with_augmentation_runs_the_teacher_on_the_augmented_batches():
    from minicomp.data import random_shift
    X, y = data(n=64)
    teacher = MLP([6, 16, 3], seed=0)
    calls = []
    forward = teacher.forward
    teacher.forward = lambda x: calls.append(x.data.copy()) or forward(x)
    Distill(teacher=teacher, epochs=1, batch_size=32, augment=random_shift(2))(
        MLP([6, 4, 3], seed=1), X, y)
    assert len(calls) == 2 and all(c.shape == (32, 6) for c in calls)   # per batch, not once
    assert not any(np.array_equal(np.sort(c, axis=0), np.sort(X[:32], axis=0)) for c in calls)


# ---- review findings ---------------------------------------------------------------------

def test_a_teacher_that_is_the_student_is_refused_before_training_even_when_cached():
    X, y = data()
    s = MLP([6, 4, 3], seed=1)
    before = s.state_dict()
    with pytest.raises(ValueError, match="shares"):
        distill(s, s, X, y, epochs=1, quiet=True)                    # cache=True (default)
    with pytest.raises(ValueError, match="shares"):
        hint_train(s, s, X, quiet=True)
    assert all(np.array_equal(before[k], v) for k, v in s.state_dict().items())


def test_tiny_temperatures_and_overflowing_logits_are_refused():
    with pytest.raises(ValueError, match="overflows at T"):
        soft_targets([[1.0, 0.0]], T=1e-320)
    with pytest.raises(ValueError, match="student_logits / T overflows"):
        kd_loss(Tensor([[1.0, 0.0]]), [[0.0, 1.0]], [0], T=1e-310)
    z = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="beyond the range of float32"):
        kd_loss(Tensor(z.astype(np.float32)), z * 1e300, [0, 1])


def test_teacher_ensemble_and_distill_check_their_arguments_when_built():
    with pytest.raises(ValueError, match="empty list"):
        TeacherEnsemble([])
    with pytest.raises(TypeError, match="teacher"):
        TeacherEnsemble(["a", "b"])
    with pytest.raises(ValueError, match="T=-1"):
        TeacherEnsemble([MLP([6, 3])], T=-1)
    with pytest.raises(ValueError, match=r"teachers\[1\] maps"):
        TeacherEnsemble([MLP([6, 3]), MLP([6, 4])])
    with pytest.raises(TypeError, match="teacher"):
        Distill(teacher="x")
    with pytest.raises(TypeError, match="config is a dict"):
        Distill(teacher=MLP([6, 3]), config={"T": 2})


def test_fit_with_a_teacher_needs_a_loss_that_takes_its_logits():
    X, y = data()
    with pytest.raises(ValueError, match="loss\\(y_hat, y, teacher_logits\\)"):
        fit(MLP([6, 3]), X, y, teacher=MLP([6, 3], seed=2), quiet=True)
    with pytest.raises(TypeError, match="loss= is set by hint_train"):
        hint_train(MLP([6, 4, 3]), MLP([6, 5, 3]), X, loss="mse")


def test_augmentations_check_their_batch_and_noise_ints_in_float():
    from minicomp.data import gaussian_noise, random_shift
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="X_b has shape"):
        random_shift(1)(np.arange(5.0), rng)
    with pytest.raises(TypeError, match="rng is a int"):
        random_shift(1)(np.ones((2, 3)), 0)
    noisy = gaussian_noise(0.5)(np.ones((2, 3), dtype=int), rng)
    assert noisy.dtype == np.float64 and not np.all(noisy == 1.0)
    assert gaussian_noise(0.5)([[1.0, 2.0]], rng).shape == (1, 2)
