"""Tests of exercise 04 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: hand-worked values
for the public cases, a loop version of the definitions (in the hidden
block with the cases that use it) for the hidden ones. Nothing is derived
from the student's own outputs.
"""
import math

import numpy as np

from minicomp.grading import case

FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")

# The 2x3 example of chapter 04: T = 2, z_s/T = [ln 2, 0, 0] -> q = [1/2, 1/4, 1/4];
# z_t = 0 -> p = [1/3, 1/3, 1/3]; row 1 has z_s = z_t.
Z_S = np.array([[2 * math.log(2), 0.0, 0.0], [0.0, 0.0, 0.0]])
Z_T = np.zeros((2, 3))
Y = np.array([1, 0])


def expect_float(value, what):
    assert isinstance(value, float), f"{what} must be a float, got {type(value).__name__}"
    assert math.isfinite(value), f"{what} is {value}, expected a finite number"


def expect_array(value, shape, what):
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind == "f", f"{what} has dtype {value.dtype}, expected floats"
    assert np.isfinite(value).all(), f"{what} has NaN or inf entries"


@case(points=2, failure_message="T**2 * KL(p || q), KL summed over classes, averaged over rows")
def kd_loss_hand_worked(ex):
    # row 0: KL = 1/3 [ln((1/3)/(1/2)) + 2 ln((1/3)/(1/4))] = 1/3 ln(32/27); row 1: 0
    # batchmean: (1/2)(1/3) ln(32/27); times T**2 = 4
    L = ex.kd_loss(Z_S, Z_T, Y, 2.0, 1.0)
    expect_float(L, "kd_loss(z_s, z_t, y, T=2, alpha=1)")
    assert abs(L - 4 * math.log(32 / 27) / 6) < 1e-9, f"got {L}"


@case(points=1, failure_message="(1 - alpha) * cross-entropy at T = 1, averaged over rows")
def kd_loss_with_labels(ex):
    # softmax(z_s) row 0 = [4, 1, 1]/6 -> CE = ln 6 (label 1); row 1: ln 3 (label 0)
    L = ex.kd_loss(Z_S, Z_T, Y, 2.0, 0.5)
    expect_float(L, "kd_loss(z_s, z_t, y, T=2, alpha=0.5)")
    want = 0.5 * 4 * math.log(32 / 27) / 6 + 0.5 * (math.log(6) + math.log(3)) / 2
    assert abs(L - want) < 1e-9, f"got {L}, expected {want}"


@case(points=2, failure_message="d/dz_s of T**2 KL(p || q) / N is T (q - p) / N")
def kd_grad_hand_worked(ex):
    # T (q - p) / N with T = 2, N = 2: row 0 = [1/6, -1/12, -1/12], row 1 = 0
    G = ex.kd_grad(Z_S, Z_T, Y, 2.0, 1.0)
    expect_array(G, (2, 3), "kd_grad(z_s, z_t, y, T=2, alpha=1)")
    np.testing.assert_allclose(G, [[1 / 6, -1 / 12, -1 / 12], [0.0, 0.0, 0.0]], atol=1e-12)


### BEGIN HIDDEN TESTS
def reference_loss(z_s, z_t, y, T, alpha):
    """The definition, one row and one class at a time, in float64."""
    N, K = z_s.shape
    total_kl, total_ce = 0.0, 0.0
    for n in range(N):
        log_p, log_q = log_softmax_row(z_t[n] / T), log_softmax_row(z_s[n] / T)
        total_kl += sum(math.exp(log_p[k]) * (log_p[k] - log_q[k]) for k in range(K))
        total_ce -= log_softmax_row(z_s[n])[y[n]]
    return alpha * T * T * total_kl / N + (1 - alpha) * total_ce / N


def reference_grad(z_s, z_t, y, T, alpha):
    N, K = z_s.shape
    G = np.zeros((N, K))
    for n in range(N):
        p, q, s = softmax_row(z_t[n] / T), softmax_row(z_s[n] / T), softmax_row(z_s[n])
        for k in range(K):
            G[n, k] = alpha * T * (q[k] - p[k]) / N + (1 - alpha) * (s[k] - (k == y[n])) / N
    return G


def log_softmax_row(z):
    m = max(z)
    log_sum = math.log(sum(math.exp(v - m) for v in z))
    return [v - m - log_sum for v in z]


def softmax_row(z):
    return [math.exp(v) for v in log_softmax_row(z)]


def problem(seed, N=7, K=5, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, K)) * scale, rng.standard_normal((N, K)) * scale,
            rng.integers(0, K, N))


SETTINGS = ((1.0, 0.5), (2.5, 0.9), (10.0, 0.7), (4.0, 0.0))


@case(points=2, hidden=True, failure_message="check T**2, batchmean and the labels' term")
def kd_loss_random(ex):
    for i, (T, alpha) in enumerate(SETTINGS):
        z_s, z_t, y = problem(10 + i)
        L = ex.kd_loss(z_s, z_t, y, T, alpha)
        expect_float(L, f"kd_loss at T={T}, alpha={alpha}")
        want = reference_loss(z_s, z_t, y, T, alpha)
        assert abs(L - want) <= 1e-8 * max(1.0, abs(want)), f"T={T}, alpha={alpha}: got {L}"


@case(points=1, hidden=True, failure_message="the KL term is multiplied by T**2")
def kd_loss_t_squared(ex):
    z_s, z_t, y = problem(20)
    L = ex.kd_loss(z_s, z_t, y, 8.0, 1.0)
    expect_float(L, "kd_loss at T=8")
    assert abs(L - reference_loss(z_s, z_t, y, 8.0, 1.0)) < 1e-8, f"got {L}"


@case(points=1, hidden=True, failure_message="batchmean: sum over classes, divide by N only")
def kd_loss_batchmean(ex):
    z_s, z_t, y = problem(21, N=6, K=10)
    L = ex.kd_loss(z_s, z_t, y, 1.0, 1.0)
    expect_float(L, "kd_loss with K=10")
    assert abs(L - reference_loss(z_s, z_t, y, 1.0, 1.0)) < 1e-8, f"got {L}"


@case(points=1, hidden=True, failure_message="KL(p || q): the teacher's p weighs the logs")
def kd_loss_direction(ex):
    z_s, z_t, y = problem(22, scale=5.0)
    L = ex.kd_loss(z_s, z_t, y, 1.0, 1.0)
    expect_float(L, "kd_loss")
    assert abs(L - reference_loss(z_s, z_t, y, 1.0, 1.0)) < 1e-8, f"got {L}"


@case(points=2, hidden=True, failure_message="dL/dz_s = alpha T (q - p)/N + (1-alpha)(s - y)/N")
def kd_grad_random(ex):
    for i, (T, alpha) in enumerate(SETTINGS):
        z_s, z_t, y = problem(30 + i)
        G = ex.kd_grad(z_s, z_t, y, T, alpha)
        expect_array(G, z_s.shape, f"kd_grad at T={T}, alpha={alpha}")
        np.testing.assert_allclose(G, reference_grad(z_s, z_t, y, T, alpha), rtol=1e-7,
                                   atol=1e-10, err_msg=f"T={T}, alpha={alpha}")


@case(points=1, hidden=True, failure_message="subtract each row's max before exp")
def large_logits(ex):
    z_s, z_t, y = problem(40, scale=1.0)
    z_s, z_t = z_s * 1000 + 2000, z_t * 1000
    L = ex.kd_loss(z_s, z_t, y, 2.0, 0.6)
    expect_float(L, "kd_loss on logits near 2000")
    want = reference_loss(z_s, z_t, y, 2.0, 0.6)
    assert abs(L - want) <= 1e-8 * abs(want), f"got {L}, expected {want}"
    G = ex.kd_grad(z_s, z_t, y, 2.0, 0.6)
    expect_array(G, z_s.shape, "kd_grad on logits near 2000")
    np.testing.assert_allclose(G, reference_grad(z_s, z_t, y, 2.0, 0.6), rtol=1e-7, atol=1e-10)
### END HIDDEN TESTS
