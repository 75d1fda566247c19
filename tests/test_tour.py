"""minicomp tour: the whole --quick run, its JSON and plots, --only, seeds, the CLI's refusals.

One test runs every technique (``--quick``, with ``--json`` and ``--plots``);
the others run one or two cheap rows, or nothing (refusals at parse time).
"""
import json
import math
import os

import numpy as np
import pytest

from minicomp import cli
from minicomp.tour import TECHNIQUES, TourConfig, run
from minicomp.tour.cli import write_json
from minicomp.tour.registry import Context, check_names

NUMBERS = ("accuracy", "delta_points", "nonzeros", "bytes", "ratio", "latency_b1_s",
           "latency_b256_s", "build_seconds")


def main(argv):
    """``minicomp ARGV`` through :func:`minicomp.cli.main` (a bad option: ``SystemExit(2)``)."""
    return cli.main(argv)


def test_the_quick_tour_has_every_technique_with_finite_numbers(tmp_path, capsys):
    path, plots = tmp_path / "tour.json", tmp_path / "plots"
    assert main(["tour", "--quick", "--quiet", "--json", str(path), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    record = json.loads(path.read_text())
    rows = record["rows"]
    assert [r["technique"] for r in rows] == ["baseline", *TECHNIQUES]
    assert len(TECHNIQUES) == 24
    base = rows[0]
    assert base["ratio"] == 1.0 and base["delta_points"] == 0.0
    assert base["bytes"] == 4 * (64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10)   # float32 MLP
    for r in rows:
        assert all(math.isfinite(r[k]) for k in NUMBERS), r
        assert 0.5 < r["accuracy"] <= 1 and r["bytes"] > 0 and r["latency_b256_s"] > 0
        assert r["ratio"] == pytest.approx(base["bytes"] / r["bytes"])
        assert r["delta_points"] == pytest.approx(100 * (r["accuracy"] - base["accuracy"]))
        assert r["label"] in out                              # one table row each
    by = {r["technique"]: r for r in rows}
    assert by["magnitude"]["nonzeros"] < base["nonzeros"]        # pruned weights not stored
    assert by["pipeline"]["bytes"] < by["magnitude"]["bytes"]     # quantize + encode shrink it
    assert by["ptq8_channel"]["bytes"] < base["bytes"] / 3        # 8 of 32 bits, + scales
    assert record["config"]["quick"] and record["environment"]["cpu"]
    assert record["bench"] == "tour" and record["seconds"] > 0
    assert out.count("smallest within 0.5 points") == 1          # the one-line conclusion
    for name in ("accuracy_vs_bytes.png", "accuracy_vs_latency.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(plots)) == ["accuracy_vs_bytes.png", "accuracy_vs_latency.png"]


def test_same_seed_same_models():
    config = dict(quick=True, quiet=True, only=("sparsegpt", "fp8"))
    a, b = run(TourConfig(**config)), run(TourConfig(**config))
    keep = ("technique", "accuracy", "nonzeros", "bytes", "choice")
    assert [{k: r[k] for k in keep} for r in a] == [{k: r[k] for k in keep} for r in b]
    assert [r["technique"] for r in a] == ["baseline", "sparsegpt", "fp8"]


def test_only_refuses_an_unknown_name_listing_the_known_ones(capsys):
    with pytest.raises(SystemExit) as e:
        main(["tour", "--only", "magnitude,pruning"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown technique 'pruning'" in err and "magnitude, activation, taylor" in err
    with pytest.raises(ValueError, match="unknown techniques 'a', 'b'"):
        check_names(["a", "magnitude", "b"])
    assert check_names("pipeline, magnitude") == ["magnitude", "pipeline"]   # table order
    with pytest.raises(ValueError, match="' , ' names no technique"):
        check_names(" , ")
    with pytest.raises(ValueError, match="'magnitude' named more than once"):
        check_names("magnitude, fp8,magnitude")
    with pytest.raises(ValueError, match="tolerance"):
        run(TourConfig(tolerance=-1.0))


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar10"], "expected digits, mnist1d or mnist:PATH"),
    (["--dataset", "mnist:/no/such/folder"], "is not a folder"),
    (["--seed", "-1"], "--seed=-1"),
    (["--json", "/no/such/folder/t.json"], "does not exist"),
    (["--only", ""], "names no technique"),
    (["--only", "fp8,fp8"], "named more than once"),
    (["--plots", ""], "--plots: path=''; expected a non-empty path"),
])
def test_bad_options_are_refused_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["tour", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("option", ["--json", "--plots"])
def test_a_folder_where_no_file_can_be_created_is_refused_at_parse_time(option, capsys):
    # /proc passes os.access(W_OK) for root; only creating a file there fails
    with pytest.raises(SystemExit) as e:
        main(["tour", option, "/proc/tour_out" + ".json" * (option == "--json")])
    assert e.value.code == 2 and f"argument {option}" in capsys.readouterr().err


def test_plots_refuses_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit):
        main(["tour", "--plots", str(tmp_path / "f")])
    assert "is a file" in capsys.readouterr().err


def test_json_is_written_atomically(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("old")
    row = {"technique": "baseline", "accuracy": 0.9}
    write_json(str(path), [row], TourConfig(), 1.0)
    assert json.loads(path.read_text())["rows"] == [row]
    with pytest.raises(ValueError):                  # NaN: refused, the file untouched
        write_json(str(path), [{**row, "accuracy": float("nan")}], TourConfig(), 1.0)
    assert json.loads(path.read_text())["rows"] == [row]
    assert os.listdir(tmp_path) == ["t.json"]        # no temporary file left behind


def test_choices_never_see_the_test_set(monkeypatch):
    """The test labels shuffled: the test accuracy changes, the choices made on validation
    (the notes) and the stored models (nonzeros, bytes) do not."""
    import minicomp.data
    load = minicomp.data.load_digits

    def shuffled(**kw):
        from dataclasses import replace
        data = load(**kw)
        return replace(data, y_test=np.random.default_rng(1).permutation(data.y_test))
    config = TourConfig(quick=True, quiet=True, only=("sparsegpt", "cascade"))
    a = run(config)
    monkeypatch.setattr(minicomp.data, "load_digits", shuffled)
    b = run(config)
    keep = ("technique", "nonzeros", "bytes", "choice")
    assert [{k: r[k] for k in keep} for r in a] == [{k: r[k] for k in keep} for r in b]
    assert a[0]["accuracy"] > 0.9 > b[0]["accuracy"]           # the test set did change


def test_child_seeds_are_shared_by_no_other_seed():
    """Ensemble members of ``--seed 0`` and ``--seed 1`` (``seed + 10 + m`` would share two)."""
    def seeds(seed):
        ctx = Context(None, None, None, None, None, TourConfig(seed=seed))
        return [ctx.child_seed(10 + m) for m in range(3)]
    assert seeds(0) == seeds(0) and not set(seeds(0)) & set(seeds(1))
    assert len(set(seeds(0) + seeds(1) + seeds(2))) == 9


def test_the_smallest_epochs_the_config_accepts_run():
    """fine_tune_epochs=1 passes check_config: LSQ's half of it must not become 0 epochs."""
    rows = run(TourConfig(epochs=2, fine_tune_epochs=1, rounds=1, quiet=True, only=("lsq3",)))
    assert rows[1]["choice"] == "W3A3, 1 epochs"


class Scores:
    """A stored model whose validation accuracy is set by hand: predicts ``correct`` of 4."""

    def __init__(self, correct):
        self.correct = correct

    def predict(self, X):
        y_hat = np.arange(4) % 2                            # the true labels are 0 1 0 1
        y_hat[:4 - self.correct] = 1 - y_hat[:4 - self.correct]
        return np.eye(2, dtype=np.float32)[y_hat]


@pytest.mark.parametrize("tolerance, accs, chosen, tried", [
    (30.0, (1, 3, 4), "b", "ab"),    # baseline 100 %, need 70 %: a has 25 %, b 75 %: stop at b
    (0.0, (1, 3, 4), "c", "abc"),    # need 100 %: only c
    (0.0, (1, 3, 2), "b", "abc"),    # nobody reaches it: the most accurate
    (0.0, (3, 2, 3), "a", "abc"),    # nobody: a tie goes to the first (the most compressed)
])
def test_pick_keeps_the_first_option_within_the_tolerance(tolerance, accs, chosen, tried,
                                                          monkeypatch):
    import minicomp.store
    monkeypatch.setattr(minicomp.store, "pack", lambda obj, fmt="auto", **kw: Scores(obj))
    ctx = Context(None, None, None, np.zeros((4, 1)), np.array([0, 1, 0, 1]),
                  TourConfig(tolerance=tolerance), val_base=1.0)
    built, options = [], dict(zip("abc", accs))
    candidate = ctx.pick("abc", lambda o: built.append(o) or options[o])
    assert candidate.choice == f"{chosen} (val {100 * options[chosen] / 4:.1f}%)"
    assert "".join(built) == tried
    assert candidate.obj == options[chosen] and candidate.model.correct == options[chosen]


def test_mnist_from_idx_files(tmp_path):
    from sklearn.datasets import load_digits

    from minicomp.data import write_idx
    digits = load_digits()
    images = (digits.images * 15).astype(np.uint8)                 # (1797, 8, 8), 0..240
    labels = digits.target.astype(np.uint8)
    for part, rows in (("train", slice(0, 1400)), ("t10k", slice(1400, None))):
        write_idx(tmp_path / f"{part}-images-idx3-ubyte", images[rows])
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", labels[rows])
    rows = run(TourConfig(dataset=f"mnist:{tmp_path}", quick=True, quiet=True,
                          only=("ptq8_channel",)))
    assert [r["technique"] for r in rows] == ["baseline", "ptq8_channel"]
    assert rows[0]["accuracy"] > 0.85 and rows[0]["bytes"] == 4 * (65 * 64 + 65 * 64 + 65 * 10)
