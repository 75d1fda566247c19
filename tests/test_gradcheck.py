"""The gradient checker itself: it passes correct ops, catches a wrong backward,
reports where, and leaves the caller's data alone."""
import numpy as np
import pytest

from minicomp import Tensor, gradcheck
from minicomp.gradcheck import GradcheckError


def square_with_wrong_backward(x: Tensor) -> Tensor:
    """x ** 2 whose backward forgets the factor 2: gives x instead of 2x."""
    out = Tensor._make(x.data ** 2, (x,), "bad_square")
    if out.requires_grad:
        def _backward():
            g = out.grad * x.data                              # wrong: should be 2 * x
            x.grad = g if x.grad is None else x.grad + g
        out._backward = _backward
    return out


def test_returns_true_on_a_correct_op():
    assert gradcheck(lambda a: (a * a).sum(), np.array([1.0, -2.0])) is True


def test_returns_true_for_several_inputs():
    rng = np.random.default_rng(0)
    assert gradcheck(lambda a, b: (a @ b).tanh(), rng.standard_normal((2, 3)),
                     rng.standard_normal((3, 4)))


def test_works_for_non_scalar_outputs():
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert gradcheck(lambda a: a.exp() * 2, x)                 # (3, 4) output
    assert gradcheck(lambda a: a.sum(axis=0), x)               # (4,) output


def test_catches_wrong_backward_in_non_scalar_output():
    x = np.array([[0.5, -1.0], [2.0, 1.5]])
    with pytest.raises(GradcheckError):
        gradcheck(square_with_wrong_backward, x)


def test_wrong_backward_raises_gradcheck_error():
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: square_with_wrong_backward(a).sum(), np.array([1.0, 2.0]))


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_error_message_names_the_input_index():
    # input 0 (a) has a correct gradient, input 1 (b) a wrong one
    a, b = np.ones(3), np.array([0.5, -3.0, 1.0])
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(lambda a, b: (a * square_with_wrong_backward(b)).sum(), a, b)


def test_error_message_names_the_worst_entry():
    # the error |analytic - numeric| is proportional to |b_k| (x instead of 2x):
    # entry 0 is already wrong, but entry (1,) with |b| = 3 is the worst
    a, b = np.ones(3), np.array([0.5, -3.0, 1.0])
    with pytest.raises(GradcheckError) as err:
        gradcheck(lambda a, b: (a * square_with_wrong_backward(b)).sum(), a, b)
    assert "index (1,)" in str(err.value)


def test_error_message_gives_analytic_and_numeric_values():
    # d/dx sum(x^2) at x = 2 is 4 (numeric); the wrong backward gives 2 (analytic).
    # A scalar output is still multiplied by one random weight r, so compare the ratio.
    with pytest.raises(GradcheckError) as err:
        gradcheck(lambda a: square_with_wrong_backward(a).sum(), np.array([2.0]))
    msg = str(err.value)
    analytic = float(msg.split("analytic ")[1].split(",")[0])
    numeric = float(msg.split("numeric ")[1].split(" ")[0])
    np.testing.assert_allclose(numeric / analytic, 2.0, rtol=1e-6)


def test_returns_false_without_raising():
    assert gradcheck(lambda a: square_with_wrong_backward(a).sum(), np.array([1.0, 2.0]),
                     raise_exception=False) is False


def test_does_not_modify_the_callers_arrays():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = Tensor(np.array([0.25, 4.0]))
    a_before, t_before = a.copy(), t.data.copy()
    gradcheck(lambda a, t: (a * t).sum(), a, t)
    gradcheck(lambda a: square_with_wrong_backward(a).sum(), a, raise_exception=False)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(t.data, t_before)
    assert t.grad is None


def test_float32_inputs_are_checked_in_float64():
    x = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    assert gradcheck(lambda a: (a ** 3).sum(), x)
    assert x.dtype == np.float32


def test_rejects_a_function_that_returns_float32():
    with pytest.raises(TypeError, match="float32"):
        gradcheck(lambda a: Tensor(a.data, dtype=np.float32, requires_grad=True) * 2,
                  np.array([1.0, 2.0]))


def test_rejects_a_function_that_does_not_return_a_tensor():
    with pytest.raises(TypeError, match="Tensor"):
        gradcheck(lambda a: a.data.sum(), np.array([1.0, 2.0]))


def test_needs_at_least_one_input():
    with pytest.raises(ValueError):
        gradcheck(lambda: Tensor(1.0))


def test_unused_input_has_zero_gradient_and_passes():
    assert gradcheck(lambda a, b: (a * 2).sum(), np.array([1.0]), np.array([5.0, 6.0]))
