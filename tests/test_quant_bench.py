"""Tests of ``minicomp bench quant`` (the helpers and the table; the full run is a benchmark)."""
import numpy as np

from minicomp import MLP, predict
from minicomp.bench import quant as bench
from minicomp.cli import BENCHMARKS, build_parser


def test_outlier_net_computes_the_same_function_with_an_outlier_channel():
    net = MLP([6, 8, 8, 3], seed=0)
    out = bench.outlier_net(net, scale=50.0)
    X = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    np.testing.assert_allclose(predict(out, X), predict(net, X), rtol=1e-4, atol=1e-4)
    assert np.abs(out[0].W.data[0]).max() > 10 * np.abs(out[0].W.data[1:]).max()


def test_format_table_marks_targets():
    row = {"dataset": "digits", "seeds": [0], "sizes": {"float32": 100, "int8": 30},
           "float_s": 2e-4, "float_1thread_s": None, "integer_s": 1e-4, "integer_codes_s": 5e-5, "kernel": "numba",
           "float/integer": 2.0,
           "targets": {"ptq8_channel <= 0.3 pt": True, "kmeans2_ft <= 2 pt": False}}
    for k in bench.KEYS:
        row[k], row[k + "_mean"] = [0.9], 0.9
    text = bench.format_table([row])
    assert "ptq8_channel <= 0.3 pt: met" in text and "kmeans2_ft <= 2 pt: MISSED" in text
    assert "float/integer = 2.00" in text


def test_cli_knows_bench_quant():
    assert "quant" in BENCHMARKS
    args = build_parser().parse_args(["bench", "quant", "--quick", "--json"])
    assert args.what == "quant" and args.quick and args.json
