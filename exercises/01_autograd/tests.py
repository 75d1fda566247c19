"""Tests of exercise 01 (run in the grader; the student's code runs sandboxed).

Public cases compare with hand-worked exact gradients. Hidden cases
compare with central finite differences, computed here in the grader, of
a scalar loss L = sum(grad_out * f(inputs)), whose gradient is exactly
what the backward functions return:

    dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / (2 h),   h = 1e-6, float64.

Helpers only hidden cases use live in the hidden block (``release``
refuses them outside it).
"""
import numpy as np

from minicomp.grading import case

# The exercise says "plain NumPy": the sandbox refuses these imports, with
# this reason, in the student's process (the grader itself may use them).
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_array(value, shape, what):
    """Fail with a clear message unless value is a float ndarray of this shape."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind == "f", f"{what} has dtype {value.dtype}, expected floats"


@case(points=1, failure_message="dL/dx is grad_out where x > 0 and 0 elsewhere")
def relu_backward_small(ex):
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    g = np.array([1.0, 2.0, 3.0, 4.0])
    # x > 0 only at the last two entries: grad = [0, 0, 3, 4]
    grad = ex.relu_backward(x, g)
    expect_array(grad, (4,), "relu_backward(x, grad_out)")
    np.testing.assert_allclose(grad, [0.0, 0.0, 3.0, 4.0])


@case(points=2, failure_message="grad_A = grad_out @ B.T, grad_B = A.T @ grad_out")
def matmul_backward_small(ex):
    A = np.array([[1.0, 2.0]])             # (1, 2)
    B = np.array([[3.0], [4.0]])           # (2, 1); C = A @ B = [[11]]
    g = np.array([[2.0]])                  # dL/dC
    # grad_A = g @ B.T = [[6, 8]]; grad_B = A.T @ g = [[2], [4]]
    out = ex.matmul_backward(A, B, g)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (grad_A, grad_B)"
    expect_array(out[0], (1, 2), "grad_A")
    expect_array(out[1], (2, 1), "grad_B")
    np.testing.assert_allclose(out[0], [[6.0, 8.0]])
    np.testing.assert_allclose(out[1], [[2.0], [4.0]])


@case(points=2, failure_message="dL/dZ = (softmax(Z) - onehot(y)) / N")
def softmax_ce_backward_uniform(ex):
    Z = np.zeros((2, 4))                   # softmax = 1/4 everywhere
    y = np.array([0, 3])
    # (softmax - onehot) / N with N = 2: 0.125 off the label, -0.375 on it
    grad = ex.softmax_cross_entropy_backward(Z, y)
    expect_array(grad, (2, 4), "softmax_cross_entropy_backward(Z, y)")
    np.testing.assert_allclose(grad, [[-0.375, 0.125, 0.125, 0.125],
                                      [0.125, 0.125, 0.125, -0.375]])


### BEGIN HIDDEN TESTS
RTOL, ATOL = 1e-5, 1e-7


def numerical_grad(L, x, h=1e-6):
    """Central finite differences of the scalar function L at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + h
        up = L(x)
        x[j] = old - h
        down = L(x)
        x[j] = old
        g[j] = (up - down) / (2 * h)
    return g


def softmax_ce(Z, y):
    """Mean cross-entropy of logits Z (N, C) and labels y (N,), stable."""
    Z = Z - Z.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


@case(points=1, hidden=True, failure_message="relu_backward on random inputs "
      "(including x == 0) does not match finite differences")
def relu_backward_random(ex):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    x[0, 0] = x[2, 1] = 0.0                # subgradient 0 at the kink
    g = rng.standard_normal((5, 3))
    grad = ex.relu_backward(x, g)
    expect_array(grad, (5, 3), "relu_backward(x, grad_out)")
    safe = x != 0                          # finite differences are exact off the kink
    fd = numerical_grad(lambda v: np.sum(g * np.maximum(v, 0)), x)
    np.testing.assert_allclose(grad[safe], fd[safe], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(grad[~safe], 0.0)


@case(points=2, hidden=True, failure_message="matmul_backward on random "
      "non-square matrices does not match finite differences")
def matmul_backward_random(ex):
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    g = rng.standard_normal((3, 5))
    out = ex.matmul_backward(A, B, g)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (grad_A, grad_B)"
    expect_array(out[0], (3, 4), "grad_A")
    expect_array(out[1], (4, 5), "grad_B")
    np.testing.assert_allclose(out[0], numerical_grad(lambda v: np.sum(g * (v @ B)), A),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out[1], numerical_grad(lambda v: np.sum(g * (A @ v)), B),
                               rtol=RTOL, atol=ATOL)


@case(points=1, hidden=True, failure_message="softmax_cross_entropy_backward "
      "on random logits does not match finite differences")
def softmax_ce_backward_random(ex):
    rng = np.random.default_rng(3)
    Z = 3 * rng.standard_normal((6, 5))
    y = rng.integers(0, 5, size=6)
    grad = ex.softmax_cross_entropy_backward(Z, y)
    expect_array(grad, (6, 5), "softmax_cross_entropy_backward(Z, y)")
    np.testing.assert_allclose(grad, numerical_grad(lambda v: softmax_ce(v, y), Z),
                               rtol=RTOL, atol=ATOL)


@case(points=1, hidden=True, failure_message="wrong gradient for large logits "
      "(subtract the row maximum before exp)")
def softmax_ce_backward_large_logits(ex):
    Z = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    y = np.array([0, 0])
    # softmax = [1, 0] and [0, 1], onehot = [1, 0] for both rows:
    # grad = ([1 - 1, 0 - 0], [0 - 1, 1 - 0]) / 2 = ([0, 0], [-0.5, 0.5])
    grad = ex.softmax_cross_entropy_backward(Z, y)
    expect_array(grad, (2, 2), "softmax_cross_entropy_backward(Z, y)")
    assert np.all(np.isfinite(grad)), "the gradient contains nan or inf"
    np.testing.assert_allclose(grad, [[0.0, 0.0], [-0.5, 0.5]], atol=1e-12)
    # Rows of logits 1 apart, far from 0: softmax depends only on the difference,
    # so both rows are [s, 1 - s] with s = 1 / (1 + e^-1). Clipping the logits
    # (to +-700, say) makes the rows equal and gives [0.5, 0.5] instead.
    Z = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])
    y = np.array([1, 0])
    s = 1.0 / (1.0 + np.exp(-1.0))
    # (softmax - onehot) / N, N = 2: [s, 1 - s - 1] and [s - 1, 1 - s]
    grad = ex.softmax_cross_entropy_backward(Z, y)
    expect_array(grad, (2, 2), "softmax_cross_entropy_backward(Z, y)")
    assert np.all(np.isfinite(grad)), "the gradient contains nan or inf"
    np.testing.assert_allclose(grad, [[s / 2, -s / 2], [(s - 1) / 2, (1 - s) / 2]],
                               rtol=1e-12, atol=1e-15)
### END HIDDEN TESTS
