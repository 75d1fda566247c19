"""ONNX export (:mod:`minicomp.store.onnx`): every kind of compressed model, checked by
``onnx.checker`` and run in onnxruntime, gives the predictions of minicomp's kernels.

Tolerances: float outputs ``atol = rtol = 1e-5`` (the order of float32 sums differs);
int8 integer-only models bit for bit (codes and outputs); labels equal everywhere.
Skipped when onnx or onnxruntime is not installed (the ``test`` extra installs both).
"""
import argparse
import importlib.util
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from minicomp import MLP, fit                                    # noqa: E402
from minicomp.data import load_digits                            # noqa: E402
from minicomp.kernels.reference import quantize_multiplier, requantize   # noqa: E402
from minicomp.quant import quantize_mlp                          # noqa: E402
from minicomp.quant.kmeans import kmeans_quantize                # noqa: E402
from minicomp.quant.lsq import LearnedQuantMLP                   # noqa: E402
from minicomp.store import (Cascade, CompressedModel, Ensemble, KINDS, Record, load,  # noqa
                            pack, save)
from minicomp.structure.lowrank import factorize                 # noqa: E402
from minicomp.store.cli import add_commands                      # noqa: E402
from minicomp.store.layers import weights                        # noqa: E402
from minicomp.store.onnx import OPSET, export, to_onnx           # noqa: E402

TOL = {"atol": 1e-5, "rtol": 1e-5}
# float-like models: name -> pack(...) of (net, small net, calibration set)
FLOAT_CASES = {
    **{fmt: lambda n, s, X, fmt=fmt: pack(n, fmt) for fmt in (
        "dense", "csr", "nm", "ternary", "fp8_e4m3", "fp8_e5m2", "mxfp8_e4m3", "mxfp8_e5m2",
        "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4", "nf4")},
    "int8 channel": lambda n, s, X: pack(n, "int"),
    "int4 tensor": lambda n, s, X: pack(n, "int", bits=4, granularity="tensor"),
    "int4 affine": lambda n, s, X: pack(n, "int", bits=4, scheme="affine"),
    "int12": lambda n, s, X: pack(n, "int", bits=12),
    "int4 group": lambda n, s, X: pack(n, "int", bits=4, granularity="group", group_size=16),
    "gptq-like weight-only": lambda n, s, X: pack(quantize_mlp(n, X, bits=4, bits_a=None)),
    "codebook": lambda n, s, X: pack(kmeans_quantize(n, bits=4)),
    "huffman": lambda n, s, X: pack(kmeans_quantize(n, bits=4), "huffman"),
    "low rank": lambda n, s, X: pack(factorize(s, rank=4)[0]),
    "ensemble": lambda n, s, X: pack(Ensemble([n, s])),
    "weighted ensemble": lambda n, s, X: pack(Ensemble([n, s], [0.7, 0.3])),
    "nested ensemble": lambda n, s, X: pack(Ensemble([Ensemble([n, s]), pack(n, "int")])),
}
# a fake-quantizer after a float32 sum (codes may differ at ties: counted)
FAKE_QUANT_CASES = {
    "ptq w8a8": lambda n, s, X: pack(quantize_mlp(n, X)),
    "ptq w4a4": lambda n, s, X: pack(quantize_mlp(n, X, bits=4, bits_a=4)),
    "lsq+ w4a4": lambda n, s, X: pack(LearnedQuantMLP(n, 4, 4, weights="lsq+", X_init=X)),
    "lsq ternary": lambda n, s, X: pack(LearnedQuantMLP(n, 4, 4, weights="ternary", X_init=X)),
}


@pytest.fixture(scope="module")
def data():
    ds = load_digits()
    net, small = MLP([64, 32, 16, 10], seed=0), MLP([64, 16, 10], seed=1)
    fit(net, ds.X_train, ds.y_train, epochs=4, lr=0.05, quiet=True)
    fit(small, ds.X_train, ds.y_train, epochs=2, lr=0.05, quiet=True)
    net.layers[0].W.mask = (np.abs(net.layers[0].W.data) > 0.05).astype(np.float32)  # pruned
    return net, small, ds.X_train[:256], ds.X_test.astype(np.float32)


def run(model, X, threads: int = 1):
    """onnxruntime's outputs for ``X`` on the exported graph of ``model``."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})[0]


def test_every_record_kind_is_covered(data):
    net, small, X_cal, _ = data
    kinds = {r.kind for cases in (FLOAT_CASES, FAKE_QUANT_CASES) for make in cases.values()
             for r in make(net, small, X_cal).records()}
    assert kinds | {"integer"} == set(KINDS)          # integer: test_integer_model_bit_for_bit


@pytest.mark.parametrize("name", FLOAT_CASES)
def test_float_models_match_the_kernels(data, name):
    net, small, X_cal, X = data
    model = FLOAT_CASES[name](net, small, X_cal)
    Y, R = run(model, X), model.predict(X)
    assert Y.dtype == np.float32 and Y.shape == R.shape == (len(X), 10)
    np.testing.assert_allclose(Y, R, **TOL)
    assert np.array_equal(Y.argmax(1), R.argmax(1))


@pytest.mark.parametrize("options", [{"granularity": "tensor"}, {"scheme": "affine"},
                                     {"bits": 12}, {"granularity": "group", "group_size": 16}],
                         ids=str)
def test_int_codes_stay_in_the_graph_except_per_group(data, options):
    net, _, _, _ = data
    proto = to_onnx(pack(net, "int", **options))
    n_dq = sum(n.op_type == "DequantizeLinear" for n in proto.graph.node)
    assert n_dq == (0 if options.get("granularity") == "group" else 3)


def test_pruned_layer_is_a_dense_initializer_with_its_zeros(data):
    net, _, _, X = data
    model = pack(net, "csr")
    W0 = weights(model.layers[0])[0]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in to_onnx(model).graph.initializer}
    same = [a for a in inits.values() if a.shape == W0.shape and np.array_equal(a, W0)]
    assert same and (same[0] == 0).sum() == W0.size - model.layers[0].meta["nnz"] > 0


@pytest.mark.parametrize("fmt", ["codebook", "huffman"])
def test_kmeans_keeps_index_and_codebook(data, fmt):
    net, _, _, _ = data
    proto = to_onnx(pack(kmeans_quantize(net, bits=4), fmt))
    assert [n.op_type for n in proto.graph.node].count("Gather") == 3
    assert sum(t.data_type == onnx.TensorProto.UINT8 for t in proto.graph.initializer) == 3


def test_integer_model_bit_for_bit(data):
    net, _, X_cal, X = data
    model = pack(quantize_mlp(net, X_cal), "integer")
    Y, R = run(model, X), model.predict(X)
    np.testing.assert_array_equal(Y, R)                        # S_y (q - Z_y): codes equal
    last = model.layers[-1]
    q = np.rint(Y.astype(np.float64) / last.meta["S_y"]) + last.arrays["Z_y"][0]
    assert len(np.unique(q)) > 5                              # many codes, not a constant
    np.testing.assert_array_equal(run(model, X, threads=2), R)


def test_integer_signed_codes_random_layers():
    # int8 -> int8 (ReLU, Z_y = 5) -> uint8 layers, random weights, biases and multipliers
    rng = np.random.default_rng(0)
    layers, n_in = [], 7
    for out, (x_t, y_t, Z_x, Z_y) in zip((5, 3), (("int8", "int8", -3, 5),
                                                   ("int8", "uint8", 5, 200))):
        m0, shift = quantize_multiplier(rng.uniform(1e-3, 2e-2, out))
        arrays = {"w_q": rng.integers(-127, 128, (out, n_in)).astype(np.int8), "m0": m0,
                  "shift": shift, "bias_q": rng.integers(-3000, 3000, out).astype(np.int32),
                  "Z_x": np.array([Z_x], x_t), "Z_y": np.array([Z_y], y_t)}
        layers.append(Record("integer", arrays, {"out": out, "in": n_in, "S_x": 0.05,
                             "S_y": 0.05, "x_dtype": x_t, "out_dtype": y_t}, relu=out == 5))
        n_in = out
    model = CompressedModel(layers)
    X = rng.normal(0, 3, (1000, 7)).astype(np.float32)
    Y = run(model, X)
    np.testing.assert_array_equal(Y, model.predict(X))
    assert len(np.unique(Y)) > 50


def test_requantization_rounds_half_up_on_negative_ties():
    # one 1 -> 6 layer, x_q = 128 + 1 = 129 (Z_x = 128), weights w: acc = w; M = 1/4:
    # acc  -6   -5    -2    2    6    7  -> acc / 4 = -1.5, -1.25, -0.5, 0.5, 1.5, 1.75
    # floor(acc/4 + 1/2) = -1, -1, 0, 1, 2, 2; + Z_y = 10 (Div alone would truncate -1.5 to -2
    # and -0.5 to -1: round half away from zero)
    w = np.array([[-6], [-5], [-2], [2], [6], [7]], np.int8)
    m0, shift = quantize_multiplier(np.full(6, 0.25))
    rec = Record("integer", {"w_q": w, "m0": m0, "shift": shift,
                             "Z_x": np.array([128], np.uint8), "Z_y": np.array([10], np.uint8)},
                 {"out": 6, "in": 1, "S_x": 1.0, "S_y": 1.0, "x_dtype": "uint8",
                  "out_dtype": "uint8"})
    Y = run(CompressedModel([rec]), np.ones((1, 1), np.float32))
    want = [9, 9, 10, 11, 12, 12]
    assert Y[0].tolist() == [q - 10 for q in want]
    assert requantize(w.T.astype(np.int32), m0, shift, 10).ravel().tolist() == want


def test_input_quantization_in_float64_half_to_even():
    # an identity int8 layer (w = I, M = 1, Z = 0, S_y = 1) returns the input codes. S_x = 0.5:
    # 1.25 / 0.5 = 2.5 -> 2 and 1.75 / 0.5 = 3.5 -> 4 (half to even, as np.rint). S_x = 0.1:
    # float32(3.35) / 0.1 = 33.4999990 -> 33 and float32(15.05) / 0.1 = 150.5000002 -> 151 in
    # float64 (a float32 division would give 34 and 150); 300 saturates at 255
    m0, shift = quantize_multiplier(np.ones(3))
    for S_x, X, want in ((0.5, [1.25, 1.75, -1.0], [2, 4, 0]),
                         (0.1, [3.35, 15.05, 300], [33, 151, 255])):
        rec = Record("integer", {"w_q": np.eye(3, dtype=np.int8), "m0": m0, "shift": shift,
                                 "Z_x": np.array([0], np.uint8), "Z_y": np.array([0], np.uint8)},
                     {"out": 3, "in": 3, "S_x": S_x, "S_y": 1.0, "x_dtype": "uint8",
                      "out_dtype": "uint8"})
        model = CompressedModel([rec])
        X = np.array([X], np.float32)
        assert run(model, X)[0].tolist() == want == model.predict(X)[0].tolist()


def without_out_quantizer(rec):
    meta = {k: v for k, v in rec.meta.items() if not k.startswith("out_")}
    return CompressedModel([Record(rec.kind, rec.arrays, meta, rec.relu)])


def test_fake_quantized_activations_match_except_ties(data):
    # QuantizedMLP (PTQ) and LSQ: a fake-quantizer after a float32 sum; its code may differ
    # only where the sum lies within float32 rounding of a tie. Checked layer by layer on the
    # kernels' own layer inputs: every differing output is such a tie and one step apart.
    net, small, X_cal, X = data
    for make in FAKE_QUANT_CASES.values():
        model = make(net, small, X_cal)
        Y, R = run(model, X), model.predict(X)
        assert np.array_equal(Y.argmax(1), R.argmax(1)) and np.isclose(Y, R, **TOL).mean() > .99
        x, ties = X, 0
        for rec in model.layers:
            one = CompressedModel([rec])
            y_ort, y_ref = run(one, x), one.predict(x)
            diff = ~np.isclose(y_ort, y_ref, **TOL)
            if diff.any():
                step = float(rec.meta["out_S"])
                t = (without_out_quantizer(rec).predict(x) - rec.meta.get("out_beta", 0)) / step
                near = np.abs(np.abs(t - np.floor(t)) - 0.5) < 1e-5 * np.maximum(1, np.abs(t))
                assert not (diff & ~near).any()
                np.testing.assert_allclose(np.abs(y_ort - y_ref)[diff], step, rtol=1e-4)
                ties += int(diff.sum())
            x = y_ref
        assert ties <= X.shape[0] // 100


def test_cascade_matches_except_ties_at_tau(data):
    net, small, _, X = data
    P_s = pack(small).predict(X).astype(np.float64)
    P_s = np.exp(P_s - P_s.max(1, keepdims=True))
    top = (P_s / P_s.sum(1, keepdims=True)).max(1)
    tau = float(np.median(top))                                  # half the rows deferred
    model = pack(Cascade(small, pack(net, "int", bits=4), tau))
    Y, R = run(model, X), model.predict(X)
    ties = np.abs(top - tau) < 1e-9                             # float64 softmax vs tau
    ok = ~ties
    np.testing.assert_allclose(Y[ok], R[ok], **TOL)
    assert ties.sum() <= 1 and 0.3 < (top < tau).mean() < 0.7


def test_export_writes_one_checked_file(data, tmp_path):
    net, _, _, X = data
    model = pack(net, "int", bits=4)
    path = tmp_path / "model.onnx"
    assert export(model, path) == str(path)
    assert os.listdir(tmp_path) == ["model.onnx"]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == OPSET
    assert proto.graph.input[0].name == "X" and proto.graph.output[0].name == "Y"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"X": X})[0], model.predict(X), **TOL)


def test_export_of_a_saved_file_and_the_command(data, tmp_path, capsys):
    net, _, _, X = data
    saved = tmp_path / "model.mcz"
    save(pack(net, "codebook"), saved)
    export(str(saved), tmp_path / "m.onnx")
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["export", str(saved), str(tmp_path / "cli.onnx")])
    assert args.func(args) == 0 and "cli.onnx" in capsys.readouterr().out
    for name in ("m.onnx", "cli.onnx"):
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {"X": X})[0], load(saved).predict(X),
                                   **TOL)


def test_bad_arguments_are_refused_and_nothing_is_written(data, tmp_path, monkeypatch):
    net, _, _, _ = data
    with pytest.raises(TypeError, match="MLP.*expected a CompressedModel"):
        export(net, tmp_path / "x.onnx")
    with pytest.raises(IsADirectoryError):
        export(pack(net, "dense"), tmp_path)
    with pytest.raises(FileNotFoundError):
        export(pack(net, "dense"), tmp_path / "missing" / "x.onnx")
    bad = tmp_path / "bad.mcz"
    bad.write_bytes(b"not a minicomp model")
    with pytest.raises(ValueError, match="bad.mcz"):
        export(bad, tmp_path / "x.onnx")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)   # onnx absent
    with pytest.raises(ImportError, match="export: ONNX export needs the onnx package"):
        export(pack(net, "dense"), tmp_path / "x.onnx")
    assert os.listdir(tmp_path) == ["bad.mcz"]


def test_bench_rows_and_table(data, monkeypatch):
    # minicomp bench onnx on two small models (the benchmark trains the tour's baseline)
    from minicomp.bench import onnx as bench
    from minicomp.deploy import to_inference
    _, small, X_cal, X = data
    built = {"float": pack(small, "dense"), "int8": pack(to_inference(quantize_mlp(small, X_cal)))}
    monkeypatch.setattr(bench, "models", lambda quick: (built, X))
    rows = bench.run(quick=True)
    assert rows[0]["onnxruntime"] == ort.__version__
    assert [(r["model"], r["batch"]) for r in rows[1:]] == [
        ("float", 1), ("float", 256), ("int8", 1), ("int8", 256)]
    for r in rows[1:]:
        assert r["labels_equal"] and r["bytes"] == built[r["model"]].nbytes
        assert r["max_abs_diff"] == 0 if r["model"] == "int8" else r["max_abs_diff"] < 1e-5
        assert min(r["ours_s"], r["ort1_s"], r["ort2_s"]) > 0 and r["onnx_bytes"] > 0
    table = bench.format_table(rows)
    assert table.count("\n| float | ") == 2 and table.count("\n| int8 | ") == 2
