"""Tests of exercise 07 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here: by hand for the public cases, by
``minicomp.ptq.gptq.gptq`` (the library's GPTQ, with lazy batches: the
same numbers) and NumPy for the hidden ones. The scales S given to the
student are the grader's, so a returned W_hat is checked for being on
that grid *and* equal to the grader's.
"""
import numpy as np

from minicomp.grading import case

FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_array(value, shape, what):
    """Fail unless value is a float ndarray of this shape with finite entries."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind == "f", f"{what} has dtype {value.dtype}, expected floats"
    assert np.isfinite(value).all(), f"{what} contains NaN or inf"
    return value


@case(points=2, failure_message="U is the upper Cholesky factor of the inverse: "
      "U^T U = (H + lam I)^-1 with lam = damp * mean(diag H)")
def cholesky_hand_worked(ex):
    # H = diag(3, 0), damp = 1: lam = 1 * mean(3, 0) = 1.5, H + lam I = diag(4.5, 1.5),
    # its inverse diag(2/9, 2/3), so U = diag(sqrt(2)/3, sqrt(2/3))
    U = expect_array(ex.inverse_hessian_cholesky(np.diag([3.0, 0.0]), 1.0), (2, 2),
                     "inverse_hessian_cholesky(diag(3, 0), 1)")
    np.testing.assert_allclose(U, np.diag([np.sqrt(2) / 3, np.sqrt(2 / 3)]), atol=1e-12)
    # H = [[2, 1], [1, 2]], no damping: H^-1 = [[2, -1], [-1, 2]] / 3 = U^T U with
    # U = [[sqrt(2/3), -1/sqrt(6)], [0, 1/sqrt(2)]]
    U = expect_array(ex.inverse_hessian_cholesky(np.array([[2.0, 1.0], [1.0, 2.0]]), 0.0),
                     (2, 2), "inverse_hessian_cholesky([[2, 1], [1, 2]], 0)")
    np.testing.assert_allclose(U, [[np.sqrt(2 / 3), -1 / np.sqrt(6)], [0, 1 / np.sqrt(2)]],
                               atol=1e-12)


@case(points=3, failure_message="quantize column 0, then push its error (w - w_hat) / U[0, 0] "
      "times U[0, 1:] onto the later columns before rounding them")
def gptq_hand_worked(ex):
    # H = [[2, 1], [1, 2]], S = 1, 4 bits, W = [[0.4, 0.32]], no damping.
    # Column 0: 0.4 -> 0; OBS moves w_1 by -(0.4 / [H^-1]_00) [H^-1]_01
    # = -(0.4 / (2/3)) (-1/3) = +0.2: w_1 = 0.52 -> 1. Round-to-nearest gives [0, 0]
    # (and forgetting to divide by U_00 moves w_1 by 0.4 * 0.408 only: 0.483 -> 0).
    W = np.array([[0.4, 0.32]])
    W_hat = expect_array(ex.gptq_quantize(W, np.array([[2.0, 1.0], [1.0, 2.0]]),
                                          np.array([1.0]), 4, 0.0), (1, 2), "gptq_quantize")
    np.testing.assert_allclose(W_hat, [[0.0, 1.0]], atol=1e-12)


@case(points=2, failure_message="with H = I nothing is pushed: GPTQ is round-to-nearest "
      "(codes clipped to +-(2^(b-1) - 1))")
def identity_hessian_is_round_to_nearest(ex):
    # S = 0.5, 3 bits (codes -3..3): [0.3, -0.8, 2.0, 0.1] / 0.5 = [0.6, -1.6, 4, 0.2]
    # -> rint [1, -2, 4, 0] -> clip [1, -2, 3, 0] -> times S
    W = np.array([[0.3, -0.8, 2.0, 0.1], [1.0, 0.26, -0.3, 0.7]])
    S = np.array([0.5, 0.25])                # row 1: [4, 1.04, -1.2, 2.8] -> [3, 1, -1, 3]
    W_hat = expect_array(ex.gptq_quantize(W, np.eye(4), S, 3, 0.01), (2, 4), "gptq_quantize")
    np.testing.assert_allclose(W_hat, [[0.5, -1.0, 1.5, 0.0], [0.75, 0.25, -0.25, 0.75]],
                               atol=1e-12)


### BEGIN HIDDEN TESTS
from minicomp.ptq.gptq import gptq, inverse_cholesky      # noqa: E402


def random_layer(seed, out=5, n_in=12, n=100):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) @ rng.normal(size=(n_in, n_in))      # correlated inputs
    return rng.normal(size=(out, n_in)), 2 * X.T @ X


@case(points=2, hidden=True, failure_message="U must be upper triangular with U^T U = "
      "(H + lam I)^-1 (the Cholesky factor of the inverse, not of H)")
def cholesky_random(ex):
    for seed, damp in ((1, 0.01), (2, 0.1)):
        _, H = random_layer(seed)
        U_ref = inverse_cholesky(H, damp, "grader")
        U = expect_array(ex.inverse_hessian_cholesky(H, damp), H.shape,
                         "inverse_hessian_cholesky")
        np.testing.assert_allclose(U, U_ref, rtol=1e-6, atol=1e-9 * np.abs(U_ref).max())


def expect_gptq(ex, seed, bits, damp, out=5, n_in=12):
    W, H = random_layer(seed, out, n_in)
    Q = gptq(W, H, bits, damp=damp)                             # the grader's GPTQ
    S = np.asarray(Q.S, dtype=np.float64)[:, 0]                 # (out,)
    W_hat = expect_array(ex.gptq_quantize(W.copy(), H, S, bits, damp), W.shape,
                         f"gptq_quantize (bits={bits})")
    codes = W_hat / S[:, None]
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-6,
                               err_msg="W_hat is not on the grid S * q")
    np.testing.assert_array_equal(np.rint(codes), Q.q.astype(np.int64),
                                  err_msg="codes differ from GPTQ's")


@case(points=3, hidden=True, failure_message="codes of a random layer with correlated inputs "
      "differ from GPTQ's: each column's error must move every later column")
def gptq_random_4bit(ex):
    expect_gptq(ex, 3, 4, 0.01)
    expect_gptq(ex, 4, 4, 0.01, out=3, n_in=20)


@case(points=2, hidden=True, failure_message="at 2 bits the moved weights leave the range: "
      "clip the codes to +-(2^(b-1) - 1)")
def gptq_random_2bit_clips(ex):
    expect_gptq(ex, 5, 2, 0.01)


@case(points=2, hidden=True, failure_message="damping: lam = damp * mean(diag H) is added to "
      "H before inverting")
def gptq_damping(ex):
    expect_gptq(ex, 6, 3, 0.5)


@case(points=1, hidden=True, failure_message="a wide layer at 8 bits: every column, in order")
def gptq_wide_8bit(ex):
    expect_gptq(ex, 7, 8, 0.01, out=2, n_in=40)
### END HIDDEN TESTS
