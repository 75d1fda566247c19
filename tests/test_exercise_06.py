"""Exercise 06 (ensembles): plausible wrong implementations lose exactly their cases.

The degenerate submissions (constants, NaN, ...) are graded for every exercise
by tests/test_grading_oracles.py; here, the wrong versions the issue names --
averaging logits instead of probabilities, a softmax without the max
subtraction (overflow), a strict ">" in the cascade rule, and average costs
that forget the small model or count the answered fraction -- each graded as
the reference with one function replaced, next to the reference itself.
"""
import pytest

from exercise_variants import failed, grade_variants

WRONG = {
    "average_of_logits": (
        "\n\ndef average_probabilities(Z):\n"
        "    return softmax(np.asarray(Z, dtype=np.float64).mean(axis=0))\n",
        {"average_hand_worked", "average_random"}),
    "softmax_without_max": (
        "\n\ndef softmax(Z):\n"
        "    E = np.exp(np.asarray(Z, dtype=np.float64))\n"
        "    return E / E.sum(axis=-1, keepdims=True)\n",
        {"softmax_large_logits", "average_random"}),
    "strict_inequality": (
        "\n\ndef cascade_decision(P_small, tau):\n"
        "    return np.asarray(P_small, dtype=np.float64).max(axis=1) > tau\n",
        {"decision_edges"}),
    "large_where_small_answers": (
        "\n\ndef cascade_predict(P_small, P_large, tau):\n"
        "    small = cascade_decision(P_small, tau)\n"
        "    y_s, y_l = np.argmax(P_small, 1), np.argmax(P_large, 1)\n"
        "    return np.where(small, y_l, y_s).astype(np.int64)\n",
        {"predict_hand_worked", "predict_random"}),
    "cost_without_the_small_model_on_deferred": (
        "\n\ndef cascade_average_cost(P_small, tau, macs_small, macs_large):\n"
        "    d = (~cascade_decision(P_small, tau)).mean()\n"
        "    return float((1 - d) * macs_small + d * macs_large)\n",
        {"cost_hand_worked", "cost_random"}),
    "cost_of_the_answered_fraction": (
        "\n\ndef cascade_average_cost(P_small, tau, macs_small, macs_large):\n"
        "    return float(macs_small + cascade_decision(P_small, tau).mean() * macs_large)\n",
        {"cost_hand_worked", "cost_random"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_variants(tmp_path_factory.mktemp("ex06"), "06_ensembles", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 10


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_its_cases_and_no_others(graded, student):
    must_fail = WRONG[student][1]
    cases = graded[student]
    assert failed(cases) == must_fail, cases
