"""Exercise 07 (GPTQ): plausible wrong implementations lose their cases.

The degenerate submissions (constants, NaN, ...) are graded for every exercise
by tests/test_grading_oracles.py; here, the wrong versions of GPTQ -- plain
round-to-nearest, the Cholesky factor of H instead of H^-1, the error not
divided by U_jj, OBS's first-step inverse reused without the downdate, no
damping, no clipping -- each graded as the reference with one function
replaced, next to the reference itself.
"""
import pytest

from exercise_variants import failed, grade_variants

LOOP = """

def gptq_quantize(W, H, S, bits, damp):
    W = np.array(W, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    q_max = 2 ** (bits - 1) - 1
    U = {U}
    W_hat = np.zeros_like(W)
    for j in range(W.shape[1]):
        q = {q}
        W_hat[:, j] = S * q
        e = (W[:, j] - W_hat[:, j]) {divide}
        W[:, j + 1:] -= {push}
    return W_hat
"""


def loop(U="inverse_hessian_cholesky(H, damp)", q="np.clip(np.rint(W[:, j] / S), -q_max, q_max)",
         divide="/ U[j, j]", push="np.outer(e, U[j, j + 1:])"):
    return LOOP.format(U=U, q=q, divide=divide, push=push)


# the inverse of the damped H, not downdated: OBS's first step applied to every column
NO_DOWNDATE = ("np.linalg.inv(np.asarray(H, float) + damp * np.mean(np.diag(H)) "
               "* np.eye(len(H)))")
HIDDEN_GPTQ = {"gptq_random_4bit", "gptq_random_2bit_clips", "gptq_damping", "gptq_wide_8bit"}

WRONG = {
    "round_to_nearest": (loop(push="0"), HIDDEN_GPTQ | {"gptq_hand_worked"}),
    "cholesky_of_H": (
        "\n\ndef inverse_hessian_cholesky(H, damp):\n"
        "    H = np.asarray(H, dtype=np.float64)\n"
        "    lam = damp * np.mean(np.diag(H))\n"
        "    return np.linalg.cholesky(H + lam * np.eye(len(H))).T\n",
        {"cholesky_hand_worked", "cholesky_random"} | HIDDEN_GPTQ | {"gptq_hand_worked"}),
    "error_not_divided": (loop(divide=""), HIDDEN_GPTQ | {"gptq_hand_worked"}),
    # (strong damping, gptq_damping, leaves too little correlation to tell)
    "no_downdate": (loop(U=NO_DOWNDATE), HIDDEN_GPTQ - {"gptq_damping"}),
    "no_damping": (
        "\n\ndef inverse_hessian_cholesky(H, damp):\n"
        "    return np.linalg.cholesky(np.linalg.inv(np.asarray(H, dtype=np.float64))).T\n",
        {"cholesky_hand_worked", "cholesky_random"} | HIDDEN_GPTQ),
    "no_clipping": (loop(q="np.rint(W[:, j] / S)"),
                    {"identity_hessian_is_round_to_nearest", "gptq_random_2bit_clips"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_variants(tmp_path_factory.mktemp("ex07"), "07_gptq", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 8


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_exactly_its_cases(graded, student):
    must_fail = WRONG[student][1]
    status = graded[student]
    assert failed(status) == must_fail, status
