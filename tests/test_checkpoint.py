"""save / load: architecture + weights in one .npz, atomic, and clear refusals."""
import json
import os
import zipfile

import numpy as np
import pytest

import minicomp
from minicomp import MLP, Dense, Sequential, load, save
from minicomp.nn import Dropout, ReLU, Tanh


def x():
    return np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)


def test_roundtrip_mlp_same_predictions(tmp_path):
    net = MLP([6, 8, 3], activation="tanh", seed=1)
    path = save(net, tmp_path / "model")
    assert path.endswith("model.npz") and os.path.exists(path)
    again = load(path)
    assert type(again) is MLP and again.sizes == [6, 8, 3] and again.activation == "tanh"
    np.testing.assert_array_equal(net(x()).data, again(x()).data)


def test_roundtrip_sequential_of_mixed_layers(tmp_path):
    net = Sequential(Dense(6, 4, seed=0), ReLU(), Dropout(0.1, seed=3), Dense(4, 2, bias=False,
                                                                             init="xavier"), Tanh())
    again = load(save(net, tmp_path / "seq.npz"))
    assert [type(m).__name__ for m in again] == ["Dense", "ReLU", "Dropout", "Dense", "Tanh"]
    assert again[3].b is None
    net.eval(), again.eval()
    np.testing.assert_array_equal(net(x()).data, again(x()).data)


def test_masks_are_saved(tmp_path):
    net = MLP([6, 3], seed=0)
    net[0].W.mask = (np.arange(18).reshape(3, 6) % 2).astype(np.float32)
    again = load(save(net, tmp_path / "m.npz"))
    np.testing.assert_array_equal(again[0].W.mask, net[0].W.mask)
    assert again[0].b.mask is None


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = save(MLP([6, 3], seed=0), tmp_path / "m.npz")
    before = open(path, "rb").read()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save(MLP([6, 3], seed=1), path)
    assert open(path, "rb").read() == before          # old model intact
    assert os.listdir(tmp_path) == ["m.npz"]          # no temporary left behind


def test_load_refuses_npz_that_is_not_a_model(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a minicomp model"):
        load(path)


def test_load_refuses_truncated_file(tmp_path):
    path = save(MLP([6, 8, 3], seed=0), tmp_path / "m.npz")
    data = open(path, "rb").read()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        load(cut)


def test_load_refuses_random_bytes_and_text(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="junk.npz"):
        load(junk)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        load(text)


def test_load_refuses_newer_format_version(tmp_path):
    path = save(MLP([6, 3], seed=0), tmp_path / "m.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays["__minicomp__"].tobytes())
    header["version"] = minicomp.checkpoint.VERSION + 1
    arrays["__minicomp__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    newer = tmp_path / "newer.npz"
    np.savez(newer, **arrays)
    with pytest.raises(ValueError, match="version 2.*up to 1"):
        load(newer)


def test_load_missing_file_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(tmp_path / "nope.npz")
    assert os.listdir(tmp_path) == []


def test_save_rejects_non_module(tmp_path):
    with pytest.raises(TypeError, match="Module"):
        save({"w": np.zeros(2)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_file_holds_no_pickle(tmp_path):
    path = save(MLP([6, 3], seed=0), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as f:   # would raise if any array were pickled
        assert set(f.files) == {"__minicomp__", "0.weight", "0.bias"}
    assert zipfile.is_zipfile(path)
