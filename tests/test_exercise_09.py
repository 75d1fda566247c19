"""Exercise 09 (relative indices with fillers): plausible wrong implementations lose their cases.

The degenerate submissions are graded for every exercise by
tests/test_grading_oracles.py; here, the wrong versions -- no fillers (the gap
clipped to 2^p - 1), a filler that moves 2^p - 1 positions instead of 2^p, the
position difference stored instead of the zeros skipped, the fillers left out of
the values, a decoder that steps over the zero-valued entries -- each graded as
the reference with one function replaced, next to the reference itself; then
the released stub scores zero and ``minicomp validate`` accepts the exercise.
"""
import pytest
from exercise_variants import EXERCISES, failed, grade_variants

from minicomp.grading.grade import validate

GAPS = """

def relative_gaps(w, index_bits):
    w = np.asarray(w).ravel()
    span = 2 ** int(index_bits)
    pos = np.flatnonzero(w)
    z = np.diff(pos, prepend=-1) - {minus}
    fill = z // {step}
    gaps = [g for zk, f in zip(z, fill) for g in [span - 1] * int(f) + [int({last})]]
    return np.array(gaps, dtype=np.int64)
"""


def gaps(minus="1", step="span", last="zk - f * span"):
    return GAPS.format(minus=minus, step=step, last=last)


HIDDEN_ENCODE = {"encode_random", "encode_boundaries"}

WRONG = {
    # a skip longer than G is stored as G: no fillers, positions drift
    "no_fillers": (gaps(step="10**9", last="min(zk, span - 1)"),
                   {"encode_hand_worked", "encode_empty_and_tail"} | HIDDEN_ENCODE),
    # a filler counted as moving G = 2^p - 1 positions
    "filler_moves_G": (gaps(step="(span - 1)", last="zk - f * (span - 1)"),
                       {"encode_hand_worked", "encode_no_fillers", "encode_empty_and_tail"}
                       | HIDDEN_ENCODE),
    # the position difference (gap + 1) stored instead of the zeros skipped
    "position_difference": (gaps(minus="0"), {"encode_hand_worked", "encode_no_fillers",
                                              "encode_empty_and_tail"} | HIDDEN_ENCODE),
    "values_without_fillers": (
        "\n\ndef relative_values(w, index_bits):\n"
        "    w = np.asarray(w, dtype=np.float64).ravel()\n"
        "    return w[w != 0]\n",
        {"encode_hand_worked", "encode_empty_and_tail"} | HIDDEN_ENCODE),
    "decode_skips_fillers": (
        "\n\ndef relative_decode(gaps, values, n):\n"
        "    gaps, values = np.asarray(gaps), np.asarray(values, dtype=np.float64)\n"
        "    keep = values != 0\n"
        "    layer = np.zeros(int(n))\n"
        "    layer[np.cumsum(gaps[keep] + 1) - 1] = values[keep]\n"
        "    return layer\n",
        {"decode_hand_worked", "decode_random"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_variants(tmp_path_factory.mktemp("ex09"), "09_deep_compression", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 8


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_exactly_its_cases(graded, student):
    must_fail = WRONG[student][1]
    status = graded[student]
    assert failed(status) == must_fail, status


def test_validate_accepts_the_solution_and_the_stub_scores_zero():
    for invert in (False, True):
        ok, lines = validate(EXERCISES / "09_deep_compression", invert=invert)
        assert ok, lines
