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
    speed = [{"batch": b, "dense_s": 2e-4, "dense_1thread_s": None, "float_s": 2e-4,
              "layers_s": 1e-4, "fused_s": 5e-5, "design": "serial", "float/fused": 4.0,
              "float/layers": 2.0, "load": 1.5} for b in (1, 256)]
    row = {"dataset": "digits", "seeds": [0], "sizes": {"float32": 100, "int8": 30},
           "speed": speed, "kernel": "vnni",
           "targets": {"ptq8_channel <= 0.3 pt": True, "kmeans2_ft <= 2 pt": False}}
    for k in bench.KEYS:
        row[k], row[k + "_mean"] = [0.9], 0.9
    text = bench.format_table([row])
    assert "ptq8_channel <= 0.3 pt: met" in text and "kmeans2_ft <= 2 pt: MISSED" in text
    assert "batch 256: float 200.0 us (n/a on 1 BLAS thread)" in text
    assert "fused 50.0 us (4.00x, serial), load 1.5" in text


def test_speed_of_an_integer_model_in_quick_mode():
    # what one_seed measures, on an untrained net (the speed does not depend on training)
    from minicomp.bench.inference import inference_time
    from minicomp.deploy import to_inference
    from minicomp.quant import quantize_mlp
    net = MLP([16, 8, 4], seed=0)
    X = np.random.default_rng(0).standard_normal((32, 16)).astype(np.float32)
    inet = to_inference(quantize_mlp(net, X))
    for batch in (1, 32):
        t = inference_time(net, X[:batch], samples=1, model=inet)
        assert t["fused_s"] > 0 and t["layers_s"] > 0 and t["design"] == "serial"
        assert t["float/fused"] == t["float_s"] / t["fused_s"]
        assert t["float_s"] == min(v for v in (t["dense_s"], t["dense_1thread_s"]) if v)


def test_cli_knows_bench_quant():
    assert "quant" in BENCHMARKS
    args = build_parser().parse_args(["bench", "quant", "--quick", "--json"])
    assert args.what == "quant" and args.quick and args.json
