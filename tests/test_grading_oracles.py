"""Degenerate submissions score zero on every case of every exercise.

Each degenerate is an ``exercise.py`` whose every function returns the same
kind of wrong answer -- a constant, zeros, its first argument, its last
argument, 1e300, NaN, noise, an array of the wrong shape, a list -- plus
two sharper ones: the reference solution returning lists and tuples-as-lists
(right values, wrong types), and, for exercise 03, the huge-scale attack
(S = 1e300 with all-zero codes and values), which passed a round-trip check
bounded by the student's own S. All are graded in one ``grade`` call
(jobs=2) next to the reference solution, which must score full marks so
that a zero means "caught", not "the harness is broken".
"""
import ast
import pathlib

import pytest
from exercise_variants import reference

from minicomp.grading.grade import grade
from minicomp.grading.sandbox import Limits

REPO = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
NAMES = sorted(p.name for p in EXERCISES.iterdir() if (p / "tests.py").is_file())
PAIRS = {"matmul_backward", "compact", "affine_qparams", "per_channel_qparams",
         "mx_encode_block", "factorize"}                 # functions returning 2 values

# name -> (what each returned value is, made from argument `a`; which arguments feed it)
DEGENERATES = {
    "constant": ("1.0", "first"),
    "zeros": ("np.zeros(np.shape(a))", "first"),
    "first_argument": ("a", "first"),
    "last_argument": ("a", "last"),              # e.g. grad_out passed through unchanged
    "huge": ("np.full(np.shape(a), 1e300)", "first"),
    "nan": ("np.full(np.shape(a), np.nan)", "first"),
    "noise": ("np.random.default_rng(0).standard_normal(np.shape(a))", "first"),
    "wrong_shape": ("np.zeros(np.size(a) + 1)", "first"),
    "list": ("np.asarray(a).tolist()", "first"),
}

# Cases a degenerate may legitimately pass, as {(degenerate, exercise): {case, ...}}.
# Otherwise every case checks the type, shape and values against the grader's own.
WHITELIST = {
    # kd_loss returns a float: "as lists" leaves a float unchanged, so it stays right
    ("reference_as_lists", "04_distillation"): {
        "kd_loss_hand_worked", "kd_loss_with_labels", "kd_loss_random", "kd_loss_t_squared",
        "kd_loss_batchmean", "kd_loss_direction"},
    # cascade_average_cost returns a float, choose_rank and lowrank_params ints
    ("reference_as_lists", "06_ensembles"): {"cost_hand_worked", "cost_random"},
    ("reference_as_lists", "05_lowrank"): {"choose_rank_hand_worked", "choose_rank_random",
                                           "params_hand_worked", "params_random"},
}

HUGE_SCALE = '''import numpy as np


def affine_qparams(x_min, x_max, bits):
    return 1e300, 0


def quantize(x, S, Z, bits):
    return np.zeros(np.shape(x), dtype=np.int64)


def dequantize(q, S, Z):
    return np.zeros(np.shape(q))


def per_channel_qparams(W, bits):
    return np.full(len(W), 1e300), np.zeros(len(W), dtype=np.int64)
'''

AS_LISTS = '''

import types as _types

_originals = dict(globals())         # internal calls keep using the real functions


def _listify(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return [_listify(v) for v in value] if isinstance(value, tuple) else value


def _as_lists(name):
    real = _types.FunctionType(_originals[name].__code__, _originals)
    return lambda *args, **kwargs: _listify(real(*args, **kwargs))


for _name in {names!r}:
    globals()[_name] = _as_lists(_name)
'''


# Templates of the red team's wrong versions below: {lo}, {hi} each row's range.
PER_CHANNEL = """

def per_channel_qparams(W, bits):
    W = np.asarray(W, dtype=np.float64)
    lo, hi = {lo}, {hi}
    S = (hi - lo) / (2**bits - 1)
    S = np.where(S > 0, S, 1.0)
    Z = np.clip(np.rint(-lo / S), 0, 2**bits - 1).astype(np.int64)
    return S, Z
"""

KD = """

def kd_loss(z_s, z_t, y, T, alpha):
    N = len(z_s)
    log_q, log_p = log_softmax(z_s / T), log_softmax(z_t / T)
    p = np.exp(log_p)
    ce = -log_softmax(z_s)[np.arange(N), y].mean()
    return float({scale} * {kl} + (1 - alpha) * ce)
"""

# Found by a red team: the reference with one function replaced by a plausible
# wrong version. student -> (exercise, the replacement, cases that must not pass)
TARGETED = {
    "constant_qparams": ("03_quantization", (
        "\n\ndef affine_qparams(x_min, x_max, bits):\n    return 1.0, 0\n"),
        {"zero_range", "random_round_trip"}),
    # 01: no max subtraction, overflow avoided by clipping the logits (or by the
    # max of the whole batch): right on logits of 1000 and 0, wrong on 1000 and 999
    "softmax_clipped_logits": ("01_autograd", (
        "\n\ndef softmax_cross_entropy_backward(Z, y):\n"
        "    P = np.exp(np.clip(Z, -700, 700))\n"
        "    P /= P.sum(axis=1, keepdims=True)\n"
        "    P[np.arange(len(y)), y] -= 1.0\n"
        "    return P / len(y)\n"),
        {"softmax_ce_backward_large_logits"}),
    "softmax_global_max": ("01_autograd", (
        "\n\ndef softmax_cross_entropy_backward(Z, y):\n"
        "    P = np.exp(Z - Z.max())\n"
        "    P /= P.sum(axis=1, keepdims=True)\n"
        "    P[np.arange(len(y)), y] -= 1.0\n"
        "    return P / len(y)\n"),
        {"softmax_ce_backward_large_logits"}),
    # 02's targeted wrong versions (compact, APoZ) are in tests/test_exercise_02.py
    # 03: round half up (or away from zero) instead of np.rint's half to even, and
    # per-channel ranges not widened to contain 0 (at all, or only upwards)
    "zero_point_half_up": ("03_quantization", (
        "\n\ndef affine_qparams(x_min, x_max, bits):\n"
        "    lo, hi = min(float(x_min), 0.0), max(float(x_max), 0.0)\n"
        "    S = (hi - lo) / (2**bits - 1)\n"
        "    if S == 0.0:\n"
        "        return 1.0, 0\n"
        "    return S, int(np.clip(np.floor(-lo / S + 0.5), 0, 2**bits - 1))\n"),
        {"zero_point_ties_to_even"}),
    "quantize_half_up": ("03_quantization", (
        "\n\ndef quantize(x, S, Z, bits):\n"
        "    q = np.floor(np.asarray(x, dtype=np.float64) / S + 0.5) + Z\n"
        "    return np.clip(q, 0, 2**bits - 1).astype(np.int64)\n"),
        {"quantize_ties_to_even"}),
    "quantize_half_away_from_zero": ("03_quantization", (
        "\n\ndef quantize(x, S, Z, bits):\n"
        "    v = np.asarray(x, dtype=np.float64) / S\n"
        "    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + Z\n"
        "    return np.clip(q, 0, 2**bits - 1).astype(np.int64)\n"),
        {"quantize_ties_to_even"}),
    "per_channel_not_widened": ("03_quantization", PER_CHANNEL.format(
        lo="W.min(axis=1)", hi="W.max(axis=1)"),
        {"per_channel_small", "per_channel_random"}),
    "per_channel_widened_up_only": ("03_quantization", PER_CHANNEL.format(
        lo="W.min(axis=1)", hi="np.maximum(W.max(axis=1), 0.0)"),
        {"per_channel_random"}),
    # 04: the three classic mistakes of the distillation loss (T² left out, 'mean'
    # over N*K, the KL's arguments swapped) and a gradient that forgets the chain
    # rule through z/T
    "kd_without_t_squared": ("04_distillation", KD.format(
        kl="(p * (log_p - log_q)).sum() / N", scale="alpha"),
        {"kd_loss_hand_worked", "kd_loss_t_squared", "kd_loss_random"}),
    "kd_elementwise_mean": ("04_distillation", KD.format(
        kl="(p * (log_p - log_q)).mean()", scale="alpha * T * T"),
        {"kd_loss_hand_worked", "kd_loss_batchmean", "kd_loss_random"}),
    "kd_swapped_kl": ("04_distillation", KD.format(
        kl="(np.exp(log_q) * (log_q - log_p)).sum() / N", scale="alpha * T * T"),
        {"kd_loss_hand_worked", "kd_loss_direction", "kd_loss_random"}),
    "kd_grad_without_chain_rule": ("04_distillation", (
        "\n\ndef kd_grad(z_s, z_t, y, T, alpha):\n"
        "    N = len(z_s)\n"
        "    q, p = np.exp(log_softmax(z_s / T)), np.exp(log_softmax(z_t / T))\n"
        "    P = np.exp(log_softmax(z_s))\n"
        "    P[np.arange(N), y] -= 1.0\n"
        "    return alpha * T * T * (q - p) / N + (1 - alpha) * P / N\n"),
        {"kd_grad_hand_worked", "kd_grad_random", "large_logits"}),
}


def functions(exercise: str) -> list:
    """The names of the functions the exercise asks for."""
    tree = ast.parse((EXERCISES / exercise / "exercise.py").read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]


def degenerate(exercise: str, expr: str, which: str) -> str:
    """An exercise.py whose every function returns ``expr`` built from its arguments."""
    src = f"import numpy as np\n\n\ndef _m(a):\n    return {expr}\n"
    for name in functions(exercise):
        i, j = (0, 1) if which == "first" else (-2, -1)
        ret = f"(_m(args[{i}]), _m(args[{j}]))" if name in PAIRS else \
            f"_m(args[{0 if which == 'first' else -1}])"
        src += f"\n\ndef {name}(*args, **kwargs):\n    return {ret}\n"
    return src


def submissions() -> dict:
    """{student: {exercise: source}} for every degenerate and the reference."""
    subs = {name: {ex: degenerate(ex, *spec) for ex in NAMES}
            for name, spec in DEGENERATES.items()}
    subs["reference_as_lists"] = {ex: reference(ex) + AS_LISTS.format(names=functions(ex))
                                  for ex in NAMES}
    subs["huge_scale"] = {"03_quantization": HUGE_SCALE}
    for student, (exercise, override, _) in TARGETED.items():
        subs[student] = {exercise: reference(exercise) + override}
    subs["reference"] = {ex: reference(ex) for ex in NAMES}
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{(student, exercise): [CaseResult]}, one grade() call for every submission."""
    tmp = tmp_path_factory.mktemp("oracles")
    subs = submissions()
    for student, files in subs.items():
        for exercise, source in files.items():
            folder = tmp / "subs" / student / exercise
            folder.mkdir(parents=True)
            (folder / "exercise.py").write_text(source)
    summary = grade(tmp / "subs", EXERCISES, tmp / "out" / "grades.csv", jobs=2,
                    limits=Limits(timeout=5, submission_timeout=60), progress=False)
    results = {}
    for s in summary["students"]:
        assert not s.error, s.error
        for ex in s.exercises:
            if ex.exercise in subs[s.student_id]:
                results[(s.student_id, ex.exercise)] = ex.cases
    return results


def test_reference_scores_full_marks_so_the_harness_is_sound(graded):
    for exercise in NAMES:
        cases = graded[("reference", exercise)]
        assert cases and all(c.status == "passed" for c in cases), \
            [(c.name, c.status, c.message) for c in cases]


@pytest.mark.parametrize("student, exercise", [
    (d, ex) for d in [*DEGENERATES, "reference_as_lists"] for ex in NAMES]
    + [("huge_scale", "03_quantization")])
def test_degenerate_passes_nothing(graded, student, exercise):
    allowed = WHITELIST.get((student, exercise), set())
    cases = graded[(student, exercise)]
    assert {c.status for c in cases} <= {"passed", "failed", "error"}, \
        [(c.name, c.status, c.message) for c in cases]     # it loaded and ran: caught, not broken
    passed = [c.name for c in cases if c.status == "passed" and c.name not in allowed]
    assert not passed, f"{student} passes {passed} of {exercise}"
    assert all(c.score == 0 for c in cases if c.name not in allowed)


@pytest.mark.parametrize("student", sorted(TARGETED))
def test_a_plausible_wrong_function_loses_its_cases(graded, student):
    exercise, _, must_fail = TARGETED[student]
    status = {c.name: c.status for c in graded[(student, exercise)]}
    assert must_fail <= set(status), sorted(status)
    assert all(status[name] != "passed" for name in must_fail), status
