"""Tests of exercise 02 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: exact hand-worked
values for the public cases, loop versions of the definitions (kept in
the hidden block with the cases that use them) for the hidden ones. Nothing is derived from the
student's own outputs.
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


# The 3x4 fixture of chapter 02.
W = np.array([[1.0, -2.0, 0.0, 3.0],
              [0.5, 0.0, -1.0, 0.0],
              [-2.0, 1.0, 1.0, -0.5]])
X = np.array([[1.0, -1.0, 2.0, 0.0],
              [3.0, 1.0, 0.0, -2.0]])


@case(points=2, failure_message="R_i = sum_j |w_ij| * mean_n |X[n, j]|")
def importance_hand_worked(ex):
    # mean |X| = [2, 1, 1, 1]; R = [1*2 + 2 + 0 + 3, 0.5*2 + 0 + 1 + 0, 2*2 + 1 + 1 + 0.5]
    R = ex.importance(W, X)
    expect_array(R, (3,), "importance(W, X)")
    np.testing.assert_allclose(R, [7.0, 2.0, 6.5])


@case(points=1, failure_message="a fraction 0.5 of 4 scores removes the 2 lowest")
def mask_fraction_small(ex):
    mask = ex.mask_from_scores(np.array([[3.0, 1.0], [0.5, 2.0]]), 0.5)
    expect_array(mask, (2, 2), "mask_from_scores(scores, 0.5)")
    np.testing.assert_array_equal(mask, [[1.0, 0.0], [0.0, 1.0]])


@case(points=1, failure_message="an int amount is a count of entries to remove")
def mask_count_small(ex):
    mask = ex.mask_from_scores(np.array([5.0, 1.0, 4.0]), 2)    # 1 and 4 go
    expect_array(mask, (3,), "mask_from_scores(scores, 2)")
    np.testing.assert_array_equal(mask, [1.0, 0.0, 0.0])


@case(points=1, failure_message="prune the neuron with the smallest R (here neuron 1)")
def prune_neurons_small(ex):
    b = np.array([0.1, 0.2, 0.3])
    out = ex.prune_neurons(W, b, X, 1)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (W_pruned, b_pruned)"
    W_p, b_p = out
    expect_array(W_p, (3, 4), "W_pruned")
    expect_array(b_p, (3,), "b_pruned")
    np.testing.assert_array_equal(W_p, W * np.array([[1.0], [0.0], [1.0]]))
    np.testing.assert_array_equal(b_p, [0.1, 0.0, 0.3])


### BEGIN HIDDEN TESTS
def reference_R(W, X):
    """R_i straight from the definition, one sample and one input at a time."""
    out, inp = W.shape
    total = np.zeros(out)
    for x in X:
        for i in range(out):
            total[i] += sum(abs(W[i, j] * x[j]) for j in range(inp))
    return total / len(X)


def reference_mask(scores, amount):
    """Remove the k lowest scores; Python's sort is stable, so ties go by position."""
    flat = list(scores.ravel())
    k = amount if isinstance(amount, int) else round(amount * len(flat))
    lowest = sorted(range(len(flat)), key=lambda q: flat[q])[:k]
    keep = np.array([0.0 if q in lowest else 1.0 for q in range(len(flat))])
    return keep.reshape(scores.shape)


@case(points=2, hidden=True, failure_message="use |w_ij * y_nj|: the absolute value of "
                                             "each product, averaged over the batch")
def importance_random(ex):
    rng = np.random.default_rng(2)
    for out, inp, n in ((5, 7, 11), (1, 3, 1), (8, 2, 30)):
        W_r, X_r = rng.normal(size=(out, inp)), rng.normal(size=(n, inp))
        R = ex.importance(W_r, X_r)
        expect_array(R, (out,), "importance(W, X)")
        np.testing.assert_allclose(R, reference_R(W_r, X_r), rtol=1e-9)


@case(points=1, hidden=True, failure_message="the batch reduction is the mean over rows of X")
def importance_is_a_mean_over_the_batch(ex):
    # mean |X| = [2, 1], so R = 1*2 + 3*1 = 5; the usual slips give other numbers:
    # |X @ W.T| averaged: 4; |W|.sum() * |X|.mean(): 6; |W| @ |mean X|: 3; a sum: 20
    W_r = np.array([[1.0, -3.0]])
    X_r = np.array([[2.0, 0.0], [-2.0, 0.0], [2.0, 0.0], [-2.0, -4.0]])
    R = ex.importance(W_r, X_r)
    expect_array(R, (1,), "importance(W, X)")
    np.testing.assert_allclose(R, [5.0])


@case(points=2, hidden=True, failure_message="remove exactly round(amount * size) entries")
def mask_exact_sparsity(ex):
    rng = np.random.default_rng(3)
    # 0.3 * 12 = 3.6 and 0.33 * 20 = 6.6 round up (truncating gives 3 and 6);
    # 0.25 * 10 = 2.5 is a tie, which Python's round sends to the even 2
    for shape, amount in (((4, 5), 0.3), ((10,), 0.25), ((3, 3), 0.0), ((2, 6), 1.0),
                          ((7, 3), 20), ((6,), 0), ((12,), 0.3), ((4, 5), 0.33)):
        scores = rng.random(shape)
        mask = ex.mask_from_scores(scores, amount)
        expect_array(mask, shape, f"mask_from_scores(scores of shape {shape}, {amount})")
        np.testing.assert_array_equal(mask, reference_mask(scores, amount))


@case(points=1, hidden=True, failure_message="ties: the first in row-major order goes first")
def mask_ties_by_position(ex):
    scores = np.array([[2.0, 1.0, 1.0], [1.0, 3.0, 1.0]])
    mask = ex.mask_from_scores(scores, 2)
    expect_array(mask, (2, 3), "mask_from_scores(scores, 2)")
    np.testing.assert_array_equal(mask, [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


@case(points=1, hidden=True, failure_message="many equal scores in a large array: ties "
      "still go by position (a sort that keeps equal scores in order)")
def mask_many_ties_by_position(ex):
    # 1000 scores from 4 values: an unstable sort (np.argsort's default, argpartition)
    # reorders equal scores once the array is large, and the boundary group is split
    rng = np.random.default_rng(5)
    scores = rng.choice([-1.0, 0.0, 0.5, 2.0], size=(25, 40))
    for amount in (0.5, 333, 0.1):
        mask = ex.mask_from_scores(scores, amount)
        expect_array(mask, (25, 40), f"mask_from_scores(scores of shape (25, 40), {amount})")
        np.testing.assert_array_equal(mask, reference_mask(scores, amount))


@case(points=1, hidden=True, failure_message="scores can be negative: remove the lowest "
      "scores, not the smallest magnitudes")
def mask_negative_scores(ex):
    # lowest first: -3, -2, -0.1 go (by magnitude -0.1, 0.5, 1.0 would go)
    scores = np.array([[0.5, -3.0, 2.0], [-0.1, 1.0, -2.0]])
    mask = ex.mask_from_scores(scores, 3)
    expect_array(mask, (2, 3), "mask_from_scores(scores, 3)")
    np.testing.assert_array_equal(mask, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((7, 9))
    mask = ex.mask_from_scores(scores, 0.4)
    expect_array(mask, (7, 9), "mask_from_scores(scores of shape (7, 9), 0.4)")
    np.testing.assert_array_equal(mask, reference_mask(scores, 0.4))


@case(points=1, hidden=True, failure_message="prune_neurons must not change the inputs' "
                                             "other rows and must use importance R")
def prune_neurons_random(ex):
    rng = np.random.default_rng(4)
    W_r, X_r, b_r = rng.normal(size=(6, 4)), rng.normal(size=(9, 4)), rng.normal(size=6)
    out = ex.prune_neurons(W_r, b_r, X_r, 0.5)
    assert isinstance(out, tuple) and len(out) == 2, "return a tuple (W_pruned, b_pruned)"
    W_p, b_p = out
    expect_array(W_p, (6, 4), "W_pruned")
    expect_array(b_p, (6,), "b_pruned")
    keep = reference_mask(reference_R(W_r, X_r), 0.5)
    np.testing.assert_array_equal(W_p, W_r * keep[:, None])
    np.testing.assert_array_equal(b_p, b_r * keep)
### END HIDDEN TESTS
