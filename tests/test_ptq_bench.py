"""Tests of ``minicomp bench ptq``: the helpers, the table, and the quick run end to end."""
import json

import numpy as np

from minicomp import MLP, predict
from minicomp.bench import ptq as bench


def test_planted_channels_keep_the_function_and_stand_out():
    net = MLP([6, 8, 8, 3], seed=0)
    hot = bench.planted(net, 1, [3], 30.0)
    X = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    np.testing.assert_allclose(predict(hot, X), predict(net, X), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(hot[0].W.data[3], 30 * net[0].W.data[3], rtol=1e-6)
    np.testing.assert_allclose(hot[2].W.data[:, 3], net[2].W.data[:, 3] / 30, rtol=1e-6)


def test_format_table_marks_targets():
    row = {"dataset": "mnist1d", "seeds": [0, 1], "keys": ["float", "rtn4", "gptq4"]}
    for k, v in (("float", 0.7), ("rtn4", 0.6), ("gptq4", 0.66)):
        row[k], row[k + "_mean"], row[k + "_std"] = [v, v], v, 0.0
    row["targets"] = {"gptq4 drop <= half of rtn4's": True, "gptq3 >= rtn3 + 5 pt": False}
    speed = {"dataset": "speed", "gptq_512_s": 0.5, "gptq_512_1thread_s": None,
             "targets": {"gptq 512x512 < 1 s": True}}
    text = bench.format_table([row, speed])
    assert "gptq4 drop <= half of rtn4's: met" in text and "rtn3 + 5 pt: MISSED" in text
    assert "0.6600 ± 0.0000" in text and "0.500 s" in text and "n/a" in text


def test_a_drop_within_the_seed_spread_cannot_be_halved():
    row = {"dataset": "digits bits"}
    for k, mean, std in (("float", 0.97, 0.003), ("rtn4", 0.968, 0.004), ("gptq4", 0.969, 0.0),
                         ("adaround4", 0.955, 0.0)):
        row[k + "_mean"], row[k + "_std"] = mean, std
    assert bench._targets(row) == {"gptq4 drop <= half of rtn4's": None,
                                   "adaround4 drop <= half of rtn4's": None}
    row["rtn4_mean"] = 0.95                                       # a 2-point drop: measurable
    assert bench._targets(row) == {"gptq4 drop <= half of rtn4's": True,
                                   "adaround4 drop <= half of rtn4's": False}
    row["targets"], row["seeds"], row["keys"] = {"x": None}, [0], []
    assert "x: n/a" in bench.format_table([row])


def test_quick_run_measures_every_target():
    rows = bench.run(quick=True)
    assert [r["dataset"] for r in rows] == ["digits", "digits bits", "mnist1d", "mnist1d bits",
                                            "mnist1d large", "speed"]
    for key in ("sparsegpt24 > magnitude24", "cle+bc recovers >= half of tensor8's drop"):
        assert key in rows[2]["targets"]
    for key in ("gptq3 >= rtn3 + 5 pt", "adaround4 drop <= half of rtn4's"):
        assert key in rows[3]["targets"] and key not in rows[2]["targets"]
    assert rows[3]["seeds"] == [0, 1] and rows[3]["gptq3"][0] == rows[2]["gptq3"][0]
    # the int8 model: the same accuracy up to a few requantization ties (0.5 % of 1,000 rows)
    assert abs(rows[2]["integer_gptq4"][0] - rows[2]["gptq4"][0]) <= 0.005
    assert all(0 <= v <= 1 for r in rows[:5] for k in r["keys"] for v in r[k])
    json.dumps(rows)                                              # what --json prints
    assert "GPTQ of one 512 x 512 layer" in bench.format_table(rows)


def test_sparsegpt_against_a_harmless_magnitude_pruning_is_not_decided():
    row = {"dataset": "digits", "float_mean": 0.97, "float_std": 0.004}
    for k, mean, std in (("magnitude50", 0.968, 0.005), ("sparsegpt50", 0.966, 0.0),
                         ("magnitude24", 0.90, 0.01), ("sparsegpt24", 0.95, 0.0),
                         ("outlier_tensor8", 0.5, 0.0), ("cle_bc_tensor8", 0.9, 0.0)):
        row[k], row[k + "_mean"], row[k + "_std"] = [mean], mean, std
    t = bench._targets(row)
    assert t["sparsegpt50 > magnitude50"] is None and t["sparsegpt24 > magnitude24"] is True
