"""The minicomp command: train and bench verbs, errors, and the console script."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from minicomp.cli import main


def test_train_json_report(capsys, tmp_path):
    assert main(["train", "--epochs", "2", "--json", "--save", str(tmp_path / "m")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "digits" and report["model"] == "MLP 64-64-64-10"
    assert report["epochs"] == 2 and 0 <= report["test_accuracy"] <= 1
    assert report["parameters"] == 64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert report["bytes_fp32"] == 4 * report["parameters"]
    assert (tmp_path / "m.npz").exists()


def test_train_text_report(capsys):
    assert main(["train", "--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "MLP 64-64-64-10 on digits" in out


def test_bad_arguments_exit_with_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "0"])
    assert e.value.code == 2
    assert "--epochs=0; expected an int >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "cifar10"])


def test_train_refuses_a_bad_save_path_before_training(capsys, tmp_path, monkeypatch):
    import minicomp.train
    monkeypatch.setattr(minicomp.train, "train_baseline", None)   # training would crash
    with pytest.raises(SystemExit) as e:
        main(["train", "--save", str(tmp_path / "no_such_folder" / "m.npz")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--save" in err and "no_such_folder" in err and "Traceback" not in err


def test_train_refuses_a_fifo_save_path_before_training(capsys, tmp_path, monkeypatch):
    import minicomp.train
    monkeypatch.setattr(minicomp.train, "train_baseline", None)   # training would crash
    os.mkfifo(tmp_path / "m.npz")
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "1", "--save", str(tmp_path / "m.npz")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"--save: '{tmp_path / 'm.npz'}' is a FIFO" in err and "Traceback" not in err
    assert stat.S_ISFIFO(os.lstat(tmp_path / "m.npz").st_mode)


def test_os_errors_on_a_named_file_are_one_line_others_keep_their_traceback(capsys,
                                                                            monkeypatch):
    import minicomp.train

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/data/cache")
    monkeypatch.setattr(minicomp.train, "train_baseline", denied)
    assert main(["train", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minicomp train: error: ") and "/srv/data/cache" in err
    assert err.count("\n") == 1

    def unnamed(*args, **kwargs):
        raise OSError("no file named: a bug, not the user's input")
    monkeypatch.setattr(minicomp.train, "train_baseline", unnamed)
    with pytest.raises(OSError, match="a bug"):
        main(["train", "--epochs", "1"])


def test_interrupted_train_exits_130_with_one_line(capsys, monkeypatch):
    import minicomp.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(minicomp.train, "train_baseline", interrupted)
    assert main(["train", "--epochs", "1"]) == 130
    assert capsys.readouterr().err == "minicomp train: interrupted\n"


def test_bench_train_quick_json(capsys, monkeypatch):
    import minicomp.bench.train as bench
    monkeypatch.setattr(bench, "SIZES", ((8, 16, 4),))   # keep the smoke test tiny
    assert main(["bench", "train", "--quick", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["mlp"] == "8-16-4"
    assert rows[0]["engine_s"] > 0 and rows[0]["numpy_s"] > 0
    assert rows[0]["engine/numpy"] == pytest.approx(rows[0]["engine_s"] / rows[0]["numpy_s"])


def test_bench_numpy_step_matches_engine_step():
    """The hand-written NumPy step must do the same arithmetic as the engine."""
    import numpy as np
    from minicomp import MLP, functional as F
    from minicomp.bench.train import numpy_step
    from minicomp.optim import SGD
    from minicomp.tensor import Tensor
    sizes = (6, 5, 4, 3)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 6)).astype(np.float32)
    y = rng.integers(0, 3, 7)
    step = numpy_step(sizes, X, y, lr=0.1)
    Ws = step.__closure__  # not used: compare through a fresh engine with the same init
    rng = np.random.default_rng(0)
    net = MLP(sizes, seed=0)
    for layer, (i, o) in zip(net.layers[::2], zip(sizes[:-1], sizes[1:])):
        layer.W.data[...] = (rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32)
    opt = SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        step()
        loss = F.cross_entropy(net(Tensor(X)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cells = {id(c.cell_contents): c.cell_contents for c in Ws}
    hand_Ws = next(v for v in cells.values() if isinstance(v, list) and len(v) == 3
                   and getattr(v[0], "shape", None) == (5, 6))
    for layer, W in zip(net.layers[::2], hand_Ws):
        np.testing.assert_allclose(layer.W.data, W, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(shutil.which("minicomp") is None, reason="console script not installed")
def test_console_script_is_installed():
    out = subprocess.run(["minicomp", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("minicomp ")


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "minicomp", "--help"], capture_output=True,
                         text=True, check=True)
    assert "train" in out.stdout and "bench" in out.stdout


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    # `minicomp info FILE | head -0`: stdout's reader has closed before the first line
    from minicomp import MLP
    from minicomp.store import save
    save(MLP([4, 3], seed=0), tmp_path / "m.mcm")
    r, w = os.pipe()
    os.close(r)                                         # nobody will read
    p = subprocess.run([sys.executable, "-m", "minicomp", "info", str(tmp_path / "m.mcm")],
                       stdout=w, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(w)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "BrokenPipe" not in p.stderr
