"""Exercise 05 (low rank): plausible wrong implementations lose exactly their cases.

The degenerate submissions (constants, NaN, ...) are graded for every exercise
by tests/test_grading_oracles.py; here, the wrong versions the issue names --
the energy of S instead of S**2, a strict ">" (one rank too many on a tie),
factors without the singular values, the parameter count without the bias
or of the dense layer -- each graded as the reference with one function
replaced, next to the reference itself.
"""
import pytest

from exercise_variants import grade_variants

RANK = """

def choose_rank(S, energy):
    S = np.asarray(S, dtype=np.float64)
    E = np.cumsum({power}) / np.sum({power})
    return int(np.argmax(E {op} energy) + 1) if np.any(E {op} energy) else len(S)
"""

WRONG = {
    "energy_of_S_not_S_squared": (RANK.format(power="S", op=">="),
                                  {"choose_rank_hand_worked", "choose_rank_random"}),
    "strict_inequality": (RANK.format(power="S**2", op=">"), {"choose_rank_hand_worked"}),
    "factors_without_singular_values": (
        "\n\ndef factorize(W, energy):\n"
        "    U, S, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)\n"
        "    r = choose_rank(S, energy)\n"
        "    return U[:, :r], Vt[:r]\n",
        {"factorize_hand_worked", "factorize_full_energy", "factorize_random"}),
    "params_without_bias": (
        "\n\ndef lowrank_params(out_features, in_features, rank):\n"
        "    return int(rank * (in_features + out_features))\n",
        {"params_hand_worked", "params_random"}),
    "params_of_the_dense_layer": (
        "\n\ndef lowrank_params(out_features, in_features, rank):\n"
        "    return int(in_features * out_features + out_features)\n",
        {"params_hand_worked", "params_random"}),
    "sum_of_all_arguments": (                                    # a "pair" degenerate too
        "\n\ndef factorize(W, energy):\n"
        "    return np.asarray(W, dtype=float), np.asarray(W, dtype=float)\n",
        {"factorize_hand_worked", "factorize_full_energy", "factorize_random"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_variants(tmp_path_factory.mktemp("ex05"), "05_lowrank", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 7


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_its_cases_and_no_other_functions(graded, student):
    must_fail = WRONG[student][1]
    status = graded[student]
    assert all(status[name] != "passed" for name in must_fail), status
    touched = {name.split("_")[0] for name in must_fail}        # choose / factorize / params
    touched |= {"factorize"} if "choose" in touched else set()  # factorize calls choose_rank
    assert all(status[name] == "passed" for name in status
               if name.split("_")[0] not in touched), status
