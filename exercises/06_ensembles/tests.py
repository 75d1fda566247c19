"""Tests of exercise 06 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: exact hand-worked
values for the public cases, ``minicomp.ensemble`` (the library's averaging
and cascade) for the hidden ones. No check is derived from the student's
own outputs: the cascade functions get the grader's probabilities.
"""
import numpy as np

from minicomp.grading import case

# The exercise says "plain NumPy": the sandbox refuses these imports, with
# this reason, in the student's process (the grader itself may use them).
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_array(value, shape, kind, what):
    """Fail with a clear message unless value is an ndarray of this shape and kind."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind in kind, f"{what} has dtype {value.dtype}"


def expect_number(value, what):
    """Fail unless value is a real number (not a bool); return it as a float."""
    assert isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)), f"{what} must be a number, got {type(value).__name__}"
    return float(value)


# probabilities of a small and a large model on 4 examples (3 classes)
P_SMALL = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.1, 0.4, 0.5]])
P_LARGE = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])


@case(points=1, failure_message="softmax: exp(z - max) / sum exp(z - max) along the last axis")
def softmax_hand_worked(ex):
    # [0, ln 3] -> [1, 3] / 4
    p = ex.softmax(np.array([[0.0, np.log(3.0)], [5.0, 5.0]]))
    expect_array(p, (2, 2), "f", "softmax(...)")
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-12)


@case(points=2, failure_message="average the members' probabilities, not their logits")
def average_hand_worked(ex):
    # member 0: [10, 0] -> [~1, 4.5e-5]; members 1, 2: [0, 3] -> [0.0474, 0.9526]
    # probabilities: [0.365, 0.635] (class 1); mean logits [3.33, 2] would say class 0
    Z = np.array([[[10.0, 0.0]], [[0.0, 3.0]], [[0.0, 3.0]]])
    p = ex.average_probabilities(Z)
    expect_array(p, (1, 2), "f", "average_probabilities(Z)")
    e = np.exp(-3.0) / (1 + np.exp(-3.0))                       # softmax([0, 3])[0]
    expected = [(1 / (1 + np.exp(-10.0)) + 2 * e) / 3, 0.0]
    expected[1] = 1 - expected[0]
    np.testing.assert_allclose(p, [expected], rtol=1e-9)


@case(points=2, failure_message="the small model answers where its top probability >= tau")
def decision_hand_worked(ex):
    # top probabilities 0.9, 0.5, 0.7, 0.5: tau = 0.6 keeps examples 0 and 2
    d = ex.cascade_decision(P_SMALL, 0.6)
    expect_array(d, (4,), "b", "cascade_decision(P_small, 0.6)")
    np.testing.assert_array_equal(d, [True, False, True, False])


@case(points=1, failure_message="small model's argmax where it answers, else the large one's")
def predict_hand_worked(ex):
    # answers: 0 (small), 2 (large), 1 (small), 0 (large)
    y = ex.cascade_predict(P_SMALL, P_LARGE, 0.6)
    expect_array(y, (4,), "iu", "cascade_predict(P_small, P_large, 0.6)")
    np.testing.assert_array_equal(y, [0, 2, 1, 0])


@case(points=2, failure_message="the small model always runs: macs_small + d * macs_large")
def cost_hand_worked(ex):
    # tau = 0.8: only example 0 (top 0.9) answers, 3 of 4 deferred: 100 + 0.75 * 1000 = 850
    c = expect_number(ex.cascade_average_cost(P_SMALL, 0.8, 100, 1000), "cascade_average_cost")
    assert abs(c - 850.0) < 1e-9, f"got {c}, expected 850"


### BEGIN HIDDEN TESTS
from minicomp.ensemble import average_probabilities as lib_average   # noqa: E402
from minicomp.ensemble import cascade_cost, cascade_predict            # noqa: E402
from minicomp.functional import softmax as lib_softmax                  # noqa: E402


def random_probabilities(rng, N, C, scale):
    return lib_softmax(rng.standard_normal((N, C)) * scale).data.astype(np.float64)


@case(points=2, hidden=True, failure_message="subtract each row's maximum before exp: "
      "logits of 1000 must not overflow to nan")
def softmax_large_logits(ex):
    Z = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -2000.0]])
    p = ex.softmax(Z)
    expect_array(p, (2, 3), "f", "softmax(Z)")
    e = np.exp(-1.0)
    np.testing.assert_allclose(p, [[1 / (1 + e), e / (1 + e), 0.0]] * 2, rtol=1e-12, atol=1e-300)


@case(points=3, hidden=True, failure_message="average the probabilities of the members "
      "(axis 0) for random logits, large ones included")
def average_random(ex):
    rng = np.random.default_rng(5)
    for M, N, C, scale in ((5, 20, 10, 3.0), (2, 7, 3, 400.0), (1, 4, 6, 1.0)):
        Z = rng.standard_normal((M, N, C)) * scale
        p = ex.average_probabilities(Z)
        expect_array(p, (N, C), "f", f"average_probabilities of ({M}, {N}, {C}) logits")
        ref = lib_average(lib_softmax(Z).data)                    # (N, C)
        np.testing.assert_allclose(p, ref, rtol=1e-9, atol=1e-12)


@case(points=2, hidden=True, failure_message="a top probability equal to tau answers "
      "(>=, not >); tau = 0 answers everything, tau above every top probability nothing")
def decision_edges(ex):
    P = np.array([[0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.625, 0.375]])
    for tau, expected in ((0.75, [True, False, True, False]), (0.0, [True] * 4),
                          (0.8, [False] * 4), (0.625, [True, False, True, True])):
        d = ex.cascade_decision(P, tau)
        expect_array(d, (4,), "b", f"cascade_decision(P, {tau})")
        np.testing.assert_array_equal(d, expected, err_msg=f"tau = {tau}")


@case(points=2, hidden=True, failure_message="cascade labels for random probabilities")
def predict_random(ex):
    rng = np.random.default_rng(8)
    P_s, P_l = random_probabilities(rng, 50, 5, 2.0), random_probabilities(rng, 50, 5, 2.0)
    for tau in (0.0, 0.3, 0.55, 0.9, 1.0):
        y = ex.cascade_predict(P_s, P_l, tau)
        expect_array(y, (50,), "iu", f"cascade_predict(..., {tau})")
        np.testing.assert_array_equal(y, cascade_predict(P_s, P_l, tau)[0], err_msg=f"tau={tau}")


@case(points=3, hidden=True, failure_message="average cost = macs_small + (fraction deferred) "
      "* macs_large for random probabilities and costs")
def cost_random(ex):
    rng = np.random.default_rng(9)
    P_s = random_probabilities(rng, 40, 4, 2.0)
    for tau, small, large in ((0.0, 500, 20000), (0.5, 37, 4096), (0.8, 1200, 90000),
                              (1.0, 64, 640)):
        c = expect_number(ex.cascade_average_cost(P_s, tau, small, large),
                          f"cascade_average_cost(..., {tau}, {small}, {large})")
        deferred = P_s.max(axis=1) < tau                          # (N,)
        ref = cascade_cost(deferred, small, large)
        assert abs(c - ref) <= 1e-9 * ref, f"tau={tau}: got {c}, expected {ref}"
### END HIDDEN TESTS
