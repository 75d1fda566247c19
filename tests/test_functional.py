"""Composite ops (no backward code of their own): finite differences for each,
hand-worked values, numerical stability at extreme logits, and input errors."""
import numpy as np
import pytest

from minicomp import Tensor, gradcheck
from minicomp import functional as F


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def probs(*shape, seed=0):
    """Rows of a softmax: strictly positive, summing to 1 along the last axis."""
    z = np.exp(rand(*shape, seed=seed))
    return z / z.sum(axis=-1, keepdims=True)


LABELS = np.array([2, 0, 4, 4, 1])                         # 5 rows, 5 classes; 3 unused


# ---- gradchecks ------------------------------------------------------------
def test_sigmoid_gradcheck():
    assert gradcheck(F.sigmoid, rand(3, 4, seed=1) * 3)


def test_tanh_and_relu_gradcheck():
    assert gradcheck(F.tanh, rand(3, 4, seed=1))
    x = (np.random.default_rng(2).permutation(12).reshape(3, 4) - 5.5) * 0.1   # no 0s
    assert gradcheck(F.relu, x)


def test_linear_gradcheck():
    assert gradcheck(F.linear, rand(4, 3, seed=1), rand(2, 3, seed=2), rand(2, seed=3))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_gradcheck(axis):
    assert gradcheck(lambda x: F.softmax(x, axis=axis), rand(3, 4, seed=1))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_log_softmax_gradcheck(axis):
    assert gradcheck(lambda x: F.log_softmax(x, axis=axis), rand(3, 4, seed=1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [0, -1, None])
def test_logsumexp_gradcheck(axis, keepdims):
    assert gradcheck(lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims), rand(3, 4, seed=1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_int_labels_gradcheck(reduction):
    assert gradcheck(lambda z: F.cross_entropy(z, LABELS, reduction=reduction), rand(5, 5, seed=1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_soft_targets_gradcheck(reduction):
    T = probs(5, 5, seed=2)
    assert gradcheck(lambda z: F.cross_entropy(z, T, reduction=reduction), rand(5, 5, seed=1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_soft_targets_requiring_grad_gradcheck(reduction):
    # gradcheck makes every input require grad, so the targets get a gradient too
    assert gradcheck(lambda z, t: F.cross_entropy(z, t, reduction=reduction),
                     rand(5, 5, seed=1), probs(5, 5, seed=2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_gradcheck(reduction):
    assert gradcheck(lambda a: F.mse(a, rand(3, 4, seed=2), reduction=reduction), rand(3, 4, seed=1))
    assert gradcheck(lambda a, b: F.mse(a, b, reduction=reduction), rand(3, 4, seed=1),
                     rand(3, 4, seed=2))


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div_gradcheck_constant_target(reduction):
    p = probs(4, 5, seed=2)
    assert gradcheck(lambda z: F.kl_div(F.log_softmax(z), p, reduction=reduction),
                     rand(4, 5, seed=1))


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div_gradcheck_target_requiring_grad(reduction):
    # p > 0 everywhere: the derivative of p log p is log p + 1, finite
    assert gradcheck(lambda log_q, p: F.kl_div(log_q, p, reduction=reduction),
                     np.log(probs(4, 5, seed=1)), probs(4, 5, seed=2))


def test_kl_div_gradcheck_target_with_exact_zeros():
    p = probs(4, 5, seed=2)
    p[:, 0] = 0.0
    p /= p.sum(axis=1, keepdims=True)
    assert gradcheck(lambda z: F.kl_div(F.log_softmax(z), p), rand(4, 5, seed=1))


# ---- hand-worked values ----------------------------------------------------
def test_cross_entropy_of_equal_logits_is_log_2():
    # softmax([0, 0]) = [1/2, 1/2] -> loss = -log(1/2) = log 2;
    # gradient softmax - one_hot = [1/2 - 1, 1/2] = [-1/2, 1/2]
    z = Tensor(np.array([[0.0, 0.0]]), requires_grad=True)
    loss = F.cross_entropy(z, np.array([0]))
    np.testing.assert_allclose(loss.item(), np.log(2), rtol=1e-7)
    loss.backward()
    np.testing.assert_allclose(z.grad, [[-0.5, 0.5]], rtol=1e-6)


def test_cross_entropy_reductions_hand_worked():
    # row 0: logits [0, 0], label 1 -> log 2; row 1: logits [0, log 3], label 1 ->
    # softmax = [1/4, 3/4] -> -log(3/4) = log(4/3)
    z = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    y = np.array([1, 1])
    per_row = [np.log(2), np.log(4 / 3)]
    np.testing.assert_allclose(F.cross_entropy(z, y, reduction="none").data, per_row)
    np.testing.assert_allclose(F.cross_entropy(z, y, reduction="sum").item(), sum(per_row))
    np.testing.assert_allclose(F.cross_entropy(z, y).item(), sum(per_row) / 2)


def test_softmax_of_huge_logit_is_finite():
    for dtype in (np.float32, np.float64):
        s = F.softmax(Tensor(np.array([1000.0, 0.0], dtype=dtype)))
        assert np.all(np.isfinite(s.data))
        np.testing.assert_allclose(s.data, [1.0, 0.0], atol=1e-7)


def test_log_softmax_of_huge_logit_has_no_inf_or_nan():
    # log_softmax([1000, 0]) = [0 - log(1 + e^-1000), -1000 - log(1 + e^-1000)] = [0, -1000]
    for dtype in (np.float32, np.float64):
        x = Tensor(np.array([1000.0, 0.0], dtype=dtype), requires_grad=True)
        y = F.log_softmax(x)
        np.testing.assert_allclose(y.data, [0.0, -1000.0])
        y.backward(np.array([1.0, 0.0]))
        assert np.all(np.isfinite(x.grad))


def test_softmax_rows_sum_to_one():
    s = F.softmax(rand(3, 5, seed=1) * 10, axis=1)
    np.testing.assert_allclose(s.data.sum(axis=1), 1.0, rtol=1e-12)
    s0 = F.softmax(rand(3, 5, seed=1), axis=0)
    np.testing.assert_allclose(s0.data.sum(axis=0), 1.0, rtol=1e-12)


def test_logsumexp_values():
    # logsumexp([1000, 1000]) = 1000 + log 2 (no overflow); small values match NumPy
    np.testing.assert_allclose(F.logsumexp(np.array([1000.0, 1000.0])).item(), 1000 + np.log(2))
    x = rand(3, 4, seed=1)
    np.testing.assert_allclose(F.logsumexp(x, axis=0).data, np.log(np.exp(x).sum(axis=0)))
    assert F.logsumexp(x, axis=1, keepdims=True).shape == (3, 1)
    assert F.logsumexp(x, axis=None).shape == ()


def test_kl_div_of_p_with_itself_is_zero():
    p = probs(4, 5, seed=3)
    for reduction in ("batchmean", "sum", "mean"):
        assert abs(F.kl_div(np.log(p), p, reduction=reduction).item()) < 1e-12


def test_kl_div_hand_worked():
    # p = [1/2, 1/2], q = [1/4, 3/4]: KL = 1/2 log(2) + 1/2 log(2/3) = 1/2 log(4/3)
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    np.testing.assert_allclose(F.kl_div(np.log(q), p).item(), 0.5 * np.log(4 / 3))


def test_kl_div_reductions_relate_as_documented():
    # batchmean = sum / N, mean = sum / (N C), none = per-element terms
    log_q, p = np.log(probs(4, 5, seed=1)), probs(4, 5, seed=2)
    total = F.kl_div(log_q, p, reduction="sum").item()
    np.testing.assert_allclose(F.kl_div(log_q, p).item(), total / 4)
    np.testing.assert_allclose(F.kl_div(log_q, p, reduction="mean").item(), total / 20)
    np.testing.assert_allclose(F.kl_div(log_q, p, reduction="none").data.sum(), total)


def test_kl_div_with_zeros_in_target_is_finite():
    # 0 log 0 = 0: a zero probability contributes nothing, and no nan in the gradient
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    z = Tensor(np.array([[2.0, -1.0], [0.0, 3.0]]), requires_grad=True)
    loss = F.kl_div(F.log_softmax(z), p)
    assert np.isfinite(loss.item())
    loss.backward()
    assert np.all(np.isfinite(z.grad))


def test_kl_div_target_tensor_with_zeros_requiring_grad_is_finite():
    p = Tensor(np.array([[1.0, 0.0], [0.5, 0.5]]), requires_grad=True)
    log_q = Tensor(np.log(np.array([[0.9, 0.1], [0.5, 0.5]])), requires_grad=True)
    loss = F.kl_div(log_q, p)
    # row 0: 1 log(1/0.9); row 1: 0 -> batchmean = log(1/0.9) / 2
    np.testing.assert_allclose(loss.item(), np.log(1 / 0.9) / 2)
    loss.backward()
    assert np.all(np.isfinite(p.grad)) and np.all(np.isfinite(log_q.grad))


def test_sigmoid_of_plus_minus_1000_is_finite_with_finite_gradient():
    for dtype in (np.float32, np.float64):
        x = Tensor(np.array([-1000.0, 0.0, 1000.0], dtype=dtype), requires_grad=True)
        s = F.sigmoid(x)
        np.testing.assert_array_equal(s.data, [0.0, 0.5, 1.0])
        s.sum().backward()
        np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.0])   # s (1 - s)


def test_sigmoid_matches_formula():
    x = rand(10, seed=1) * 4
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x)), rtol=1e-12)


def test_mse_hand_worked():
    # (y_hat - y)^2 = [0, 4, 9] -> mean 13/3, sum 13
    y_hat, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(F.mse(y_hat, y).item(), 13 / 3)
    np.testing.assert_allclose(F.mse(y_hat, y, reduction="sum").item(), 13.0)
    np.testing.assert_allclose(F.mse(y_hat, y, reduction="none").data, [0, 4, 9])


def test_one_hot():
    np.testing.assert_array_equal(F.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert F.one_hot([1], 2).dtype == np.float32


def test_cross_entropy_int_labels_equal_one_hot_soft_targets():
    rng = np.random.default_rng(4)
    z0 = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    for reduction in ("mean", "sum", "none"):
        a, b = Tensor(z0, requires_grad=True), Tensor(z0, requires_grad=True)
        la = F.cross_entropy(a, y, reduction=reduction)
        lb = F.cross_entropy(b, F.one_hot(y, 4), reduction=reduction)
        np.testing.assert_allclose(la.data, lb.data, rtol=1e-6)
        la.sum().backward()
        lb.sum().backward()
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-6, atol=1e-7)


def test_losses_keep_float32():
    z = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32),
               requires_grad=True)
    p = probs(4, 3, seed=1)                                   # float64 constant
    losses = [F.cross_entropy(z, [0, 1, 2, 0]), F.cross_entropy(z, p),
              F.mse(z, p), F.kl_div(F.log_softmax(z), p), F.softmax(z).sum(),
              F.sigmoid(z).sum(), F.logsumexp(z).sum()]
    for loss in losses:
        assert loss.dtype == np.float32
        z.grad = None
        loss.backward()
        assert z.grad.dtype == np.float32


# ---- bad input -------------------------------------------------------------
@pytest.mark.parametrize("bad", [10, -1])
def test_cross_entropy_label_out_of_range_names_it(bad):
    z = np.zeros((3, 10))
    with pytest.raises(ValueError, match=rf"label {bad}\b"):
        F.cross_entropy(z, np.array([0, bad, 3]))


def test_cross_entropy_float_labels_are_type_error():
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_cross_entropy_wrong_number_of_labels():
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_cross_entropy_soft_targets_wrong_shape():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.cross_entropy(np.zeros((2, 3)), np.full((2, 4), 0.25))


def test_cross_entropy_logits_must_be_2d():
    with pytest.raises(ValueError, match="2-D"):
        F.cross_entropy(np.zeros(3), np.array([0]))


def test_mse_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as err:
        F.mse(np.zeros((3, 1)), np.zeros(3))
    assert "(3, 1)" in str(err.value) and "(3,)" in str(err.value)


def test_kl_div_shape_mismatch():
    with pytest.raises(ValueError, match="kl_div"):
        F.kl_div(np.zeros((2, 3)), np.full((3, 2), 0.5))


@pytest.mark.parametrize("fn, args", [
    (F.cross_entropy, (np.zeros((2, 3)), np.array([0, 1]))),
    (F.mse, (np.zeros(3), np.zeros(3))),
    (F.kl_div, (np.log(np.full((2, 2), 0.5)), np.full((2, 2), 0.5))),
])
@pytest.mark.parametrize("reduction", ["avg", "MEAN", None])
def test_bad_reduction_name_is_value_error(fn, args, reduction):
    with pytest.raises(ValueError, match="reduction"):
        fn(*args, reduction=reduction)


@pytest.mark.parametrize("fn, args", [
    (F.cross_entropy, (np.zeros((2, 3)), np.array([0, 1]))),
    (F.mse, (np.zeros(3), np.zeros(3))),
])
def test_batchmean_is_only_for_kl_div(fn, args):
    with pytest.raises(ValueError, match="reduction"):
        fn(*args, reduction="batchmean")


@pytest.mark.parametrize("bad", [-1, 3])
def test_one_hot_out_of_range_label_is_value_error(bad):
    # -1 must not wrap around to the last class
    with pytest.raises(ValueError, match=rf"label {bad}\b"):
        F.one_hot([0, bad], 3)
