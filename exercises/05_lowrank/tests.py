"""Tests of exercise 05 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here: exact hand-worked values for the
public cases (spectra whose energies are exact binary fractions, so ">="
and ">" differ on purpose), ``minicomp.structure`` (the same formulas) for
the hidden ones. Factors are not unique (signs, or sqrt(S) on both sides),
so only their shapes and their product A @ B are compared with the
grader's best rank-r approximation.
"""
import numpy as np

from minicomp.grading import case

FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")


def expect_int(value, what):
    """Fail unless value is an integer (not a bool, not a float); return it as int."""
    assert isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)), \
        f"{what} must be an int, got {type(value).__name__}"
    return int(value)


def expect_factors(value, out, r, n_in, what):
    """Fail unless value is a tuple (A, B) of float arrays (out, r) and (r, in); return A @ B."""
    assert isinstance(value, tuple) and len(value) == 2, \
        f"{what} must return a tuple (A, B), got {type(value).__name__}"
    for name, M, shape in (("A", value[0], (out, r)), ("B", value[1], (r, n_in))):
        assert isinstance(M, np.ndarray), f"{what}: {name} must be an ndarray"
        assert M.dtype.kind == "f", f"{what}: {name} has dtype {M.dtype}, expected floats"
        assert M.shape == shape, f"{what}: {name} has shape {M.shape}, expected {shape}"
        assert np.isfinite(M).all(), f"{what}: {name} holds NaN or inf"
    return value[0] @ value[1]


@case(points=2, failure_message="r is the smallest rank whose energy sum(S[:r]**2) / "
      "sum(S**2) is >= energy (squares of the singular values; >=, not >)")
def choose_rank_hand_worked(ex):
    # S**2 = [4, 1, 1, 1, 1], total 8: E = [0.5, 0.625, 0.75, 0.875, 1.0]
    S = np.array([2.0, 1.0, 1.0, 1.0, 1.0])
    for energy, r in ((0.5, 1), (0.6, 2), (0.75, 3), (0.8, 4), (1.0, 5)):
        got = expect_int(ex.choose_rank(S, energy), f"choose_rank(S, {energy})")
        assert got == r, f"choose_rank([2, 1, 1, 1, 1], {energy}) = {got}, expected {r}"


@case(points=2, failure_message="A = U_r diag(S_r), B = V_r^T: the product must be the "
      "rank-r approximation, singular values included")
def factorize_hand_worked(ex):
    # singular values 3 and 1: E(1) = 9/10 >= 0.9, so r = 1 keeps the 3 only
    W = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    P = expect_factors(ex.factorize(W, 0.9), 3, 1, 2, "factorize(W, 0.9)")
    np.testing.assert_allclose(P, [[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]], atol=1e-12)


@case(points=1, failure_message="r (in + out) weights and out biases")
def params_hand_worked(ex):
    got = expect_int(ex.lowrank_params(64, 32, 4), "lowrank_params(64, 32, 4)")
    assert got == 4 * (32 + 64) + 64, f"lowrank_params(64, 32, 4) = {got}, expected 448"


### BEGIN HIDDEN TESTS
from minicomp.structure import lowrank_params as lib_params      # noqa: E402
from minicomp.structure import rank_for_energy, truncated_svd     # noqa: E402


def spectrum(seed, n):
    """Decreasing singular values with a random decay."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.exponential(1.0, n) * rng.uniform(0.5, 0.95) ** np.arange(n))[::-1]


@case(points=2, hidden=True, failure_message="choose_rank on random spectra, energies up to 1")
def choose_rank_random(ex):
    for seed in range(4):
        S = spectrum(seed, 12)
        for energy in (0.3, 0.7, 0.9, 0.99, 1.0):
            got = expect_int(ex.choose_rank(S, energy), f"choose_rank(S, {energy})")
            want = rank_for_energy(S, energy)
            assert got == want, f"spectrum {seed}, energy {energy}: got {got}, expected {want}"


@case(points=2, hidden=True, failure_message="energy 1 keeps every singular value: A @ B = W")
def factorize_full_energy(ex):
    W = np.random.default_rng(5).standard_normal((6, 9))
    P = expect_factors(ex.factorize(W, 1.0), 6, 6, 9, "factorize(W, 1.0)")
    np.testing.assert_allclose(P, W, atol=1e-10)


@case(points=3, hidden=True, failure_message="factorize on random layers: the rank for the "
      "energy, and A @ B the best approximation of that rank")
def factorize_random(ex):
    rng = np.random.default_rng(11)
    for out, n_in in ((20, 12), (10, 30)):
        W = rng.standard_normal((out, n_in)) @ np.diag(0.8 ** np.arange(n_in))
        for energy in (0.5, 0.8, 0.95):
            A_ref, B_ref = truncated_svd(W, energy=energy)
            r = A_ref.shape[1]
            P = expect_factors(ex.factorize(W, energy), out, r, n_in, f"factorize(W, {energy})")
            np.testing.assert_allclose(P, A_ref @ B_ref, atol=1e-9)


@case(points=2, hidden=True, failure_message="parameters of the two layers: r (in + out) + out")
def params_random(ex):
    for out, n_in, r in ((10, 64, 3), (128, 256, 100), (7, 7, 7), (1, 5, 1)):
        got = expect_int(ex.lowrank_params(out, n_in, r), f"lowrank_params({out}, {n_in}, {r})")
        want = lib_params((out, n_in), r)
        assert got == want, f"lowrank_params({out}, {n_in}, {r}) = {got}, expected {want}"
### END HIDDEN TESTS
