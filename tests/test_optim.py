"""Optimizers against hand-computed steps, schedules, and masks that hold."""
import math

import numpy as np
import pytest

from minicomp.nn import Parameter
from minicomp.optim import SGD, Adam, CosineLR, StepLR, cosine_schedule, step_schedule


def param(values, grad):
    p = Parameter(np.array(values, dtype=np.float64), dtype=np.float64)
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_sgd_is_theta_minus_lr_grad():
    # theta = [1, 2], grad = [0.5, -1], lr = 0.1 -> [1 - 0.05, 2 + 0.1] = [0.95, 2.1]
    p = param([1.0, 2.0], [0.5, -1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1])


def test_sgd_momentum_two_steps():
    # step 1: v = g = [1]        -> theta = 0 - 0.1*1 = -0.1
    # step 2: v = 0.9*1 + 2 = 2.9 -> theta = -0.1 - 0.29 = -0.39
    p = param([0.0], [1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1])
    p.grad = np.array([2.0])
    opt.step()
    np.testing.assert_allclose(p.data, [-0.39])
    np.testing.assert_allclose(opt.state[p]["momentum"], [2.9])


def test_sgd_nesterov_two_steps():
    # step 1: v = 1,  update g + 0.9 v = 1.9     -> theta = -0.19
    # step 2: v = 0.9 + 2 = 2.9, update 2 + 2.61 = 4.61 -> theta = -0.19 - 0.461 = -0.651
    p = param([0.0], [1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()
    np.testing.assert_allclose(p.data, [-0.19])
    p.grad = np.array([2.0])
    opt.step()
    np.testing.assert_allclose(p.data, [-0.651])


def test_sgd_weight_decay_adds_lambda_theta():
    # g + 0.5*theta = 1 + 0.5*2 = 2 -> theta = 2 - 0.1*2 = 1.8
    p = param([2.0], [1.0])
    SGD([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, [1.8])


def test_adam_first_step_is_lr_times_sign():
    # m_hat = g, v_hat = g^2 -> step = lr * g / (|g| + eps) ~= lr * sign(g)
    p = param([1.0, 1.0], [3.0, -0.5])
    Adam([p], lr=0.01, eps=1e-8).step()
    np.testing.assert_allclose(p.data, [0.99, 1.01], rtol=1e-7)


def test_adam_second_step_hand_computed():
    b1, b2, lr, eps = 0.9, 0.999, 0.1, 1e-8
    p = param([0.0], [1.0])
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    opt.step()
    p.grad = np.array([3.0])
    opt.step()
    m = b1 * (1 - b1) * 1 + (1 - b1) * 3          # 0.09 + 0.3 = 0.39
    v = b2 * (1 - b2) * 1 + (1 - b2) * 9          # 0.000999 + 0.009 = 0.009999
    first = -lr * 1.0 / (1.0 + eps)                # m_hat = 1, sqrt(v_hat) = 1
    expected = first - lr * (m / (1 - b1 ** 2)) / (math.sqrt(v / (1 - b2 ** 2)) + eps)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-9)


def test_adamw_decoupled_decay_shrinks_weights_directly():
    # zero gradient: only the decoupled decay acts: theta = 2 - 0.1*0.5*2 = 1.9
    p = param([2.0], [0.0])
    Adam([p], lr=0.1, weight_decay=0.5, decoupled=True).step()
    np.testing.assert_allclose(p.data, [1.9])


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda ps: Adam(ps, lr=0.1),
    lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
    lambda ps: Adam(ps, lr=0.1, weight_decay=0.1, decoupled=True),
])
def test_masked_weights_stay_zero_through_state_and_decay(make):
    rng = np.random.default_rng(0)
    p = Parameter(rng.standard_normal((4, 5)))
    mask = (rng.random((4, 5)) > 0.5).astype(np.float32)
    p.data *= mask
    p.mask = mask
    opt = make([p])
    for _ in range(20):
        p.grad = rng.standard_normal((4, 5)).astype(np.float32) + 1.0   # never zero
        opt.step()
        assert np.all(p.data[mask == 0] == 0)
    for name, buf in opt.state[p].items():
        if isinstance(buf, np.ndarray):
            assert np.all(buf[mask == 0] == 0), name
    assert np.all(p.data[mask == 1] != 0)          # the kept weights did train


def test_mask_added_late_also_clears_existing_momentum():
    p = param([1.0, 1.0], [1.0, 1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()                                      # momentum now nonzero everywhere
    p.mask = np.array([1.0, 0.0])
    p.data *= p.mask
    for _ in range(5):
        p.grad = np.array([1.0, 1.0])
        opt.step()
        assert p.data[1] == 0.0
    assert opt.state[p]["momentum"][1] == 0.0


def test_step_skips_parameters_without_grad():
    p = param([1.0], [0.0])
    p.grad = None
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1.0])


def test_optimizer_never_modifies_grad_in_place():
    p = param([1.0, 2.0], [1.0, 1.0])
    p.mask = np.array([1.0, 0.0])
    g = p.grad
    for opt in (SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), Adam([p], lr=0.1)):
        opt.step()
        np.testing.assert_array_equal(g, [1.0, 1.0])


def test_schedules_are_pure_functions():
    assert step_schedule(0, 1.0, step_size=10, gamma=0.5) == 1.0
    assert step_schedule(25, 1.0, step_size=10, gamma=0.5) == 0.25
    assert cosine_schedule(0, 1.0, T=10) == pytest.approx(1.0)
    assert cosine_schedule(5, 1.0, T=10) == pytest.approx(0.5)
    assert cosine_schedule(10, 1.0, T=10, lr_min=0.1) == pytest.approx(0.1)
    assert cosine_schedule(99, 1.0, T=10, lr_min=0.1) == pytest.approx(0.1)   # stays at the end


def test_schedulers_drive_the_optimizer_lr():
    p = param([0.0], [1.0])
    opt = SGD([p], lr=0.4)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.lr)
        sched.step()
    assert lrs == [0.4, 0.4, 0.2, 0.2, 0.1]
    opt2 = SGD([p], lr=1.0)
    cos = CosineLR(opt2, T=4)
    for _ in range(4):
        cos.step()
    assert opt2.lr == pytest.approx(0.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0), "lr"), (dict(lr=-1), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(lr=0.1, momentum=1.0), "momentum"), (dict(lr=0.1, nesterov=True), "nesterov"),
    (dict(lr=0.1, weight_decay=-1), "weight_decay"),
])
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([param([0.0], [0.0])], **kwargs)


def test_adam_and_schedules_reject_bad_input():
    with pytest.raises(ValueError, match="betas"):
        Adam([param([0.0], [0.0])], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(SGD([param([0.0], [0.0])], lr=0.1), step_size=0)
    with pytest.raises(ValueError, match="T="):
        CosineLR(SGD([param([0.0], [0.0])], lr=0.1), T=0)
