"""``minicomp bench ptq_choices``: the validation experiment behind the ptq defaults."""
import json

import numpy as np

from minicomp.bench import ptq_choices as bench


def test_quick_run_has_every_cell_and_never_reads_the_test_set(monkeypatch):
    seen, evaluate = [], bench.evaluate
    monkeypatch.setattr(bench, "evaluate", lambda m, X, y: seen.append(len(X)) or evaluate(m, X, y))
    rows = bench.run(quick=True)
    data = bench.load_mnist1d(num_samples=500, validation=0.2)
    assert set(seen) == {len(data.X_val)} and len(data.X_val) != len(data.X_test)
    (row,) = rows
    assert row["net"] == "64-64" and row["seeds"] == [0]
    for method in bench.METHODS:
        if method == "ada2000":                                  # left out of --quick
            continue
        for head in ("W3 512", "W3 all", "W4 512", "W4 all"):
            mean, std = row[f"{method} {head}"]
            assert np.isfinite(mean) and std == 0.0              # one seed
    for lam, lr in bench.ADA_GRID:                                # the AdaRound grid
        assert np.isfinite(row[f"ada l{lam} r{lr} W4 all"][0])
        assert f"ada l{lam} r{lr} W4 512" not in row             # all rows only
    for head in bench.SPARSITY:                                   # SparseGPT, both targets
        assert np.isfinite(row[f"sparsegpt {head} all"][0])
        assert np.isfinite(row[f"sparsegpt_sym {head} all"][0])
    text = bench.format_table(rows)
    assert "validation split" in text and "gptq_sym" in text
    assert "AdaRound grid: l0.01 r0.02" in text
    assert "S2:4 all" in text and "sparsegpt_sym" in text
    json.dumps(rows)
