"""Deep Compression end to end (minicomp.pipeline) and its benchmark's quick mode."""
import copy
import math

import numpy as np
import pytest

from minicomp import MLP
from minicomp.data import load_digits
from minicomp.pipeline import PipelineConfig, deep_compression, relative_index_bytes
from minicomp.prune import prune
from minicomp.quant import finetune_centroids, kmeans_quantize
from minicomp.quant.kmeans import SharedDense
from minicomp.quant.sparse_huffman import decode
from minicomp.train import fit


@pytest.fixture(scope="module")
def digits():
    return load_digits(validation=0.1)


@pytest.fixture(scope="module")
def trained(digits):
    net = MLP([64, 32, 10], seed=0)
    fit(net, digits.X_train, digits.y_train, lr=0.05, epochs=8, seed=0, quiet=True)
    return net


@pytest.fixture(scope="module")
def result(trained, digits):
    config = PipelineConfig(sparsities=(0.5, 0.8), bits=(2, 3), prune_epochs=3,
                            finetune_epochs=2, max_drop=0.05)
    before = copy.deepcopy(trained.state_dict())
    r = deep_compression(trained, digits.X_train, digits.y_train, digits.X_val, digits.y_val,
                         config)
    after = trained.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)      # net not changed
    return r


def _weights(shared):
    return [m.weight() for m in shared if isinstance(m, SharedDense)]


def test_pruned_weights_stay_exactly_zero_through_kmeans_and_finetuning(trained, digits):
    net = copy.deepcopy(trained)
    prune(net, "magnitude", 0.8)
    masks = [net.layers[i].W.mask for i in (0, 2)]
    shared = kmeans_quantize(net, 3)
    for W, mask in zip(_weights(shared), masks):
        assert np.all(W[mask == 0] == 0.0) and np.all(np.signbit(W[mask == 0]) == 0)
    finetune_centroids(shared, digits.X_train, digits.y_train, epochs=2, lr=0.05, seed=0)
    for m, W, mask in zip([m for m in shared if isinstance(m, SharedDense)], _weights(shared),
                          masks):
        assert np.all(W[mask == 0] == 0.0) and m.codebook.data[0] == 0.0
        assert np.all(m.index[mask == 0] == 0)


def test_result_keeps_pruned_zeros_and_decodes_bit_exactly(result):
    for m, mask, enc in zip([m for m in result.net if isinstance(m, SharedDense)],
                            result.masks, result.encoded):
        W = m.weight()
        assert np.all(W[mask == 0] == 0.0)
        W_dec, b_dec = decode(enc.arrays, enc.meta)
        assert np.array_equal(W_dec, W) and np.array_equal(b_dec, m.b.data)
        assert enc.arrays["bias"].dtype == np.int8                        # biases int8-exact
    pruned = sum(float((m == 0).sum()) for m in result.masks)        # global: over all layers
    assert pruned / sum(m.size for m in result.masks) == pytest.approx(result.sparsity, abs=0.01)
    assert result.nbytes == sum(e.nbytes for e in result.encoded) == result.table[-1]["bytes"]


def test_stage_table_bytes_fall_stage_by_stage(result):
    stages = {r["stage"]: r for r in result.table}
    chain = [stages[s]["bytes"] for s in ("float32", "pruned (CSR)",
                                          "k-means (relative indices)", "Huffman")]
    assert chain == sorted(chain, reverse=True) and len(set(chain)) == 4
    assert stages["float32"]["bytes"] == 4 * (64 * 32 + 32 + 32 * 10 + 10)
    for r in result.table:
        assert r["ratio"] == pytest.approx(stages["float32"]["bytes"] / r["bytes"])
        assert 0 <= r["val_accuracy"] <= 1


def test_choice_follows_the_rule_on_validation(result, trained, digits):
    # passing and >= 40x: lowest validation loss; else passing: fewest bytes
    from minicomp.metrics import storage_bytes
    from minicomp.train import evaluate
    floor = evaluate(trained, digits.X_val, digits.y_val)["accuracy"] - 0.05
    passing = [c for c in result.candidates if c["val_accuracy"] >= floor - 1e-12]
    assert passing, "the fixture's budget should let a candidate pass"
    above = [c for c in passing if storage_bytes(trained) >= 40 * c["bytes"]]
    best = min(above, key=lambda c: c["val_loss"]) if above else \
        min(passing, key=lambda c: c["bytes"])
    assert (result.sparsity, result.bits) == (best["sparsity"], best["bits"])
    assert len(result.nets) == len(result.candidates)


def test_relative_index_bytes_by_hand():
    # one nonzero after 300 zeros, k = 16 (4-bit indices): w = 8 (G = 255) needs one filler:
    # 2 entries -> 16 gap bits + 8 index bits = 3 bytes; w = 5 (G = 31): 9 fillers + 1 = 10
    # entries -> 50 + 40 bits = 7 + 5 bytes; so 3 is the minimum (w = 7: 3 entries, 21 + 12).
    index = np.zeros((1, 301), np.int64)
    index[0, 300] = 5
    assert relative_index_bytes(index, 16) == 3
    assert relative_index_bytes(np.ones((2, 2), np.int64), 2) == 2   # 4 + 4 bits: 1 + 1 B


@pytest.mark.parametrize("kwargs, message", [
    ({"sparsities": (0.9, 0.5)}, "increasing"),
    ({"sparsities": (1.0,)}, "sparsities"),
    ({"bits": (0,)}, "bits"),
    ({"finetune_lr": 0.0}, "finetune_lr"),
    ({"max_drop": float("nan")}, "max_drop"),
    ({"stop_early": "yes"}, "stop_early"),
])
def test_config_refuses_bad_values(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        PipelineConfig(**kwargs)


def test_deep_compression_refuses_bad_input(trained, digits):
    with pytest.raises(TypeError, match="PipelineConfig"):
        deep_compression(trained, digits.X_train, digits.y_train, digits.X_val, digits.y_val,
                         config={"bits": 4})
    with pytest.raises(ValueError, match="y_val"):
        deep_compression(trained, digits.X_train, digits.y_train, digits.X_val,
                         digits.y_val[:-1])


def test_bench_quick_mode_runs():
    from minicomp.bench import pipeline as bench
    rows = bench.run(quick=True)
    assert [r["dataset"] for r in rows] == ["digits", "mnist1d"]
    for r in rows:
        assert r["store_bytes_equal"]
        assert all(math.isfinite(s["bytes"][0]) and s["bytes"][0] > 0 for s in r["table"])
        e = r["entropy"]
        assert e["entropy_bytes"][0] <= e["stream_bytes"][0]
    text = bench.format_table(rows)
    assert "Huffman" in text and "coded streams" in text and "targets:" in text
