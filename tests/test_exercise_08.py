"""Exercise 08 (FP8 E4M3 and an MX block): plausible wrong implementations lose their cases.

The degenerate submissions are graded for every exercise by
tests/test_grading_oracles.py; here, the wrong versions -- ties rounded up
instead of to even, overflow to NaN instead of saturating, subnormals decoded
as normals, no NaN code, the shared exponent rounded instead of floored --
each graded as the reference with one function replaced, next to the
reference itself.
"""
import pytest

from exercise_variants import failed, grade_variants

ENCODE = """

def e4m3_encode(x):
    x = np.asarray(x, dtype=np.float64)
    values = e4m3_decode(np.arange(127))
    mid = (values[:-1] + values[1:]) / 2
    a = np.minimum(np.abs(x), 448.0)
    lo = np.searchsorted(mid, a, side="left")
    tie = (lo < len(mid)) & (a == mid[np.minimum(lo, len(mid) - 1)]) & {even}
    code = {code}
    code = np.where(np.isnan(x), 127, code + 128 * np.signbit(x))
    return code.astype(np.int64)
"""

DECODE = """

def e4m3_decode(codes):
    c = np.asarray(codes).astype(np.int64)
    s, E, M = c >> 7, (c >> 3) & 15, c & 7
    v = np.where(E == 0, {sub}, (1 + M / 8) * 2.0 ** (E - 7))
    v = {nan}
    return np.where(s == 1, -v, v)
"""


def encode(code="lo + tie", even="(lo % 2 == 1)"):
    return ENCODE.format(code=code, even=even)


def decode(sub="M / 8 * 2.0 ** -6", nan="np.where((E == 15) & (M == 7), np.nan, v)"):
    return DECODE.format(sub=sub, nan=nan)


WRONG = {
    "ties_up": (encode(even="True"), {"encode_hand_worked", "encode_ties"}),
    "overflow_to_nan": (encode(code="np.where(np.abs(x) > 464, 127, lo + tie)"),
                        {"encode_hand_worked", "encode_saturation", "encode_random",
                         "mx_encode_random"}),
    "subnormals_as_normals": (decode(sub="(1 + M / 8) * 2.0 ** -7"), {
        "decode_hand_worked", "decode_all_codes", "encode_hand_worked", "encode_ties",
        "encode_random", "encode_subnormals", "mx_decode_random"}),
    "no_nan": (decode(nan="v"), {"decode_hand_worked", "decode_all_codes"}),
    "exponent_rounded": (
        "\n\ndef mx_encode_block(x):\n"
        "    x = np.asarray(x, dtype=np.float64)\n"
        "    e = int(np.rint(np.log2(np.abs(x).max()))) - 8 if np.abs(x).max() else -127\n"
        "    return e + 127, e4m3_encode(x / 2.0 ** e)\n",
        {"mx_hand_worked", "mx_encode_random"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    pytest.importorskip("ml_dtypes")                           # the grader's oracle
    return grade_variants(tmp_path_factory.mktemp("ex08"), "08_formats", WRONG)


def test_reference_scores_full_marks(graded):
    assert set(graded["reference"].values()) == {"passed"}, graded["reference"]
    assert len(graded["reference"]) == 10


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_version_loses_exactly_its_cases(graded, student):
    must_fail = WRONG[student][1]
    status = graded[student]
    assert failed(status) == must_fail, status
