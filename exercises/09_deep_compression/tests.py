"""Tests of exercise 09 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: hand-worked entries for the
public cases, the grader's own encoder (in the hidden block) for the others. The
decoder is fed the grader's entries, never the student's.
"""
import numpy as np

from minicomp.grading import case

# "plain NumPy": the sandbox refuses these in the student's process
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_array(value, shape, kind, what):
    """Fail with a clear message unless value is an ndarray of this shape and kind."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind in kind, f"{what} has dtype {value.dtype}"


def expect_entries(ex, w, p, gaps, values, what):
    g = ex.relative_gaps(np.asarray(w, dtype=np.float64), p)
    expect_array(g, np.shape(gaps), "iu", f"relative_gaps({what})")
    np.testing.assert_array_equal(g, gaps, err_msg=f"relative_gaps({what})")
    v = ex.relative_values(np.asarray(w, dtype=np.float64), p)
    expect_array(v, np.shape(values), "f", f"relative_values({what})")
    np.testing.assert_array_equal(v, values, err_msg=f"relative_values({what})")


# p = 2 (G = 3): 5 at position 1 -> (1, 5); 9 zeros -> 9 // 4 = 2 fillers (3, 0) at
# positions 5 and 9, then (9 - 8 = 1, 7) at position 11
HAND_W = np.array([0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], dtype=np.float64)
HAND_GAPS, HAND_VALUES = np.array([1, 3, 3, 1]), np.array([5.0, 0.0, 0.0, 7.0])


@case(points=2, failure_message="gap = zeros skipped since the previous entry; a skip z "
      "> 2^p - 1 needs z // 2^p fillers (gap 2^p - 1, value 0)")
def encode_hand_worked(ex):
    expect_entries(ex, HAND_W, 2, HAND_GAPS, HAND_VALUES, "hand-worked, p=2")


@case(points=1, failure_message="a nonzero at position 0 has gap 0; skips below 2^p "
      "need no filler")
def encode_no_fillers(ex):
    # p = 3 (G = 7): positions 0, 1, 9: gaps 0, 0, 7 (exactly G: no filler)
    w = np.array([-1.5, 2.0, 0, 0, 0, 0, 0, 0, 0, 0.25, 0, 0])
    expect_entries(ex, w, 3, np.array([0, 0, 7]), np.array([-1.5, 2.0, 0.25]), "p=3")


@case(points=2, failure_message="positions = cumulative sum of (gap + 1), minus 1; "
      "values land there, the rest (and the tail up to n) are zeros")
def decode_hand_worked(ex):
    out = ex.relative_decode(HAND_GAPS, HAND_VALUES, 12)
    expect_array(out, (12,), "f", "relative_decode(hand-worked)")
    np.testing.assert_array_equal(out, HAND_W)


### BEGIN HIDDEN TESTS
def oracle(w, p):
    """The grader's encoder: (gaps, values), fillers included."""
    w = np.asarray(w, dtype=np.float64)
    gaps, values, prev, G = [], [], -1, 2**p - 1
    for pos in np.flatnonzero(w):
        z = pos - prev - 1
        while z > G:                                        # a filler: G + 1 positions
            gaps.append(G)
            values.append(0.0)
            z -= G + 1
        gaps.append(z)
        values.append(w[pos])
        prev = pos
    return np.array(gaps, dtype=np.int64), np.array(values, dtype=np.float64)


def sparse_vector(rng, n, density):
    w = rng.standard_normal(n) * (rng.random(n) < density)
    return w


@case(points=3, hidden=True, failure_message="random sparse layers at every gap width 1..8")
def encode_random(ex):
    rng = np.random.default_rng(9)
    for p in range(1, 9):
        for density in (0.02, 0.1, 0.5):
            w = sparse_vector(rng, 600, density)
            expect_entries(ex, w, p, *oracle(w, p), f"random, p={p}, density={density}")


@case(points=2, hidden=True, failure_message="skips of exactly 2^p - 1, 2^p, 2^p + 1 and "
      "2^(p+1): count the fillers at the boundary")
def encode_boundaries(ex):
    for p in (1, 2, 4):
        G = 2**p - 1
        for z in (G, G + 1, G + 2, 2 * (G + 1) - 1, 2 * (G + 1), 2 * (G + 1) + 1):
            w = np.zeros(z + 3)
            w[z] = 1.0                                      # z zeros before the first
            w[-1] = -2.0
            expect_entries(ex, w, p, *oracle(w, p), f"skip {z}, p={p}")


@case(points=1, hidden=True, failure_message="no nonzeros: no entries (shape (0,)); trailing "
      "zeros are not stored")
def encode_empty_and_tail(ex):
    expect_entries(ex, np.zeros(20), 3, np.zeros(0, np.int64), np.zeros(0), "all zeros")
    w = np.zeros(50)
    w[9] = 0.5                                              # 9 zeros first: 2 fillers
    expect_entries(ex, w, 2, *oracle(w, 2), "one nonzero, long tail")


@case(points=3, hidden=True, failure_message="decode the grader's entries (fillers, a long "
      "zero tail, every width)")
def decode_random(ex):
    rng = np.random.default_rng(10)
    for p in (1, 3, 5, 8):
        w = sparse_vector(rng, 700, 0.05)
        w[650:] = 0.0                                       # a tail of zeros
        gaps, values = oracle(w, p)
        out = ex.relative_decode(gaps, values, 700)
        expect_array(out, (700,), "f", f"relative_decode(random, p={p})")
        np.testing.assert_array_equal(out, w)


@case(points=1, hidden=True, failure_message="decode with no entries is all zeros of length n")
def decode_empty(ex):
    out = ex.relative_decode(np.zeros(0, np.int64), np.zeros(0), 9)
    expect_array(out, (9,), "f", "relative_decode(no entries)")
    np.testing.assert_array_equal(out, np.zeros(9))
### END HIDDEN TESTS
