"""Tests of ``minicomp bench distill`` (the protocol's pieces and the table; the run is a bench)."""
import numpy as np

from minicomp.bench import distill as bench
from minicomp.cli import BENCHMARKS, build_parser


def test_splits_keep_validation_and_test_apart():
    X_tr, y_tr, X_val, y_val, X_te, y_te = bench.splits("digits", seed=0)
    assert abs(len(X_tr) + len(X_val) - bench.DIGITS_TRAIN) <= 10     # rounded per class
    rows = {tuple(r) for r in X_tr}
    assert not rows & {tuple(r) for r in X_val}
    assert not rows & {tuple(r) for r in X_te}
    assert set(np.unique(y_tr)) == set(range(10))            # stratified: every class


def test_teacher_is_much_larger_than_the_student():
    teacher = bench.teacher_net(40, 10, 512, seed=0)
    assert teacher.num_parameters() > 30 * (40 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10)


def test_format_table_marks_targets():
    v = {"val": 0.6, "test": 0.61, "test_std": 0.01, "test_all": [0.61]}
    row = {"dataset": "mnist1d", "seeds": [0], "best_T": "T=4,a=0.9", "gap_closed": 0.55,
           "variants": {"teacher": v, "alone": v, "T=4,a=0.9": v},
           "targets": {"soft KD closes >= 50% of the gap": True,
                       "prune+distill > prune+finetune": False}}
    text = bench.format_table([row])
    assert "closes 55 %" in text
    assert "gap: met" in text and "prune+finetune: MISSED" in text


def test_cli_knows_bench_distill():
    assert "distill" in BENCHMARKS
    args = build_parser().parse_args(["bench", "distill", "--quick"])
    assert args.what == "distill" and args.quick
