"""Exercise 02 (APoZ and compact): plausible wrong implementations lose exactly their cases.

The degenerate submissions (constants, NaN, ...) are graded for every exercise
by tests/test_grading_oracles.py; here, the wrong versions the issue names --
compact that forgets the bias fold, removes rows but not the next layer's
columns (or only zeroes rows), folds b_i without the activation (or f(0)
instead of f(b_i)), or works one layer off -- and three wrong APoZ (a strict
"< 0", the bias left out, a count instead of a fraction), each graded as the reference with one function
replaced, next to the reference itself.
"""
import pytest

from exercise_variants import grade_variants

COMPACT = """

def compact(weights, biases, layer, keep, activation="relu"):
    f = {{"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
         "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}}[activation]
    keep = np.asarray(keep).astype(bool)
    W = [np.array(w, dtype=np.float64) for w in weights]
    b = [np.array(v, dtype=np.float64) for v in biases]
    L = layer{shift}
    b[L + 1] = b[L + 1] + {fold}
    W[L], b[L] = W[L]{rows}, b[L]{bias_rows}
    W[L + 1] = W[L + 1]{columns}
    return W, b
"""
RIGHT = {"shift": "", "fold": "W[L + 1][:, ~keep] @ f(b[L][~keep])",
         "rows": "[keep]", "bias_rows": "[keep]", "columns": "[:, keep]"}

APOZ = "\n\ndef apoz(W, b, X):\n    return ({z}).mean(axis=0)\n"

ALL_COMPACT = {"compact_hand_worked", "compact_same_function", "compact_random",
               "compact_constant_neurons", "compact_last_hidden_layer",
               "compact_edge_masks", "compact_other_activations"}
FOLDS = ALL_COMPACT - {"compact_last_hidden_layer", "compact_edge_masks"}

WRONG = {
    "forgets_the_bias_fold": (COMPACT.format(**{**RIGHT, "fold": "0.0"}),
                              ALL_COMPACT),
    "rows_but_not_columns": (COMPACT.format(**{**RIGHT, "columns": ""}), ALL_COMPACT),
    "zeroes_rows_keeps_shapes": (COMPACT.format(**{
        **RIGHT, "rows": " * keep[:, None]", "bias_rows": " * keep", "columns": " * keep"}),
        ALL_COMPACT),
    "folds_without_the_activation": (COMPACT.format(**{
        **RIGHT, "fold": "W[L + 1][:, ~keep] @ b[L][~keep]"}), FOLDS),
    "folds_f_of_zero": (COMPACT.format(**{
        **RIGHT, "fold": "W[L + 1][:, ~keep] @ f(np.zeros((~keep).sum()))"}), FOLDS),
    "one_layer_off": (COMPACT.format(**{**RIGHT, "shift": " + 1"}), ALL_COMPACT),
    "apoz_strictly_negative": (APOZ.format(z="X @ W.T + b < 0"),
                               {"apoz_hand_worked", "apoz_exact_zeros"}),
    "apoz_without_bias": (APOZ.format(z="X @ W.T <= 0"),
                          {"apoz_hand_worked", "apoz_random", "apoz_exact_zeros"}),
    "apoz_a_count_not_a_fraction": (
        "\n\ndef apoz(W, b, X):\n    return (X @ W.T + b <= 0).sum(axis=0).astype(float)\n",
        {"apoz_hand_worked", "apoz_random", "apoz_exact_zeros"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_variants(tmp_path_factory.mktemp("ex02"), "02_importance", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 10


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_its_cases_and_no_other_functions(graded, student):
    must_fail = WRONG[student][1]
    status = graded[student]
    assert all(status[name] != "passed" for name in must_fail), status
    touched = {name.split("_")[0] for name in must_fail}        # apoz / compact
    assert all(status[name] == "passed" for name in status
               if name.split("_")[0] not in touched), status
