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


# ---- every type load reads round-trips; every other type is refused by save ----------------

def _masked_mlp():
    net = MLP([6, 5, 3], seed=2)
    net[0].W.mask = (np.arange(30).reshape(5, 6) % 3 != 0).astype(np.float32)
    net[0].b.mask = np.array([1, 0, 1, 1, 0], np.float32)
    return net


LOADABLE_MODELS = {
    "Dense": lambda: Dense(6, 3, seed=0),
    "Dense-no-bias-xavier": lambda: Dense(6, 3, bias=False, init="xavier", seed=0),
    "ReLU": ReLU, "Sigmoid": lambda: minicomp.nn.Sigmoid(), "Tanh": Tanh,
    "Identity": lambda: minicomp.nn.Identity(),
    "Dropout": lambda: Dropout(0.25, seed=7),
    "Sequential-empty": Sequential,
    "Sequential-nested": lambda: Sequential(Sequential(Dense(6, 4, seed=0), ReLU()),
                                            MLP([4, 3], seed=1)),
    "MLP-relu": lambda: MLP([6, 8, 8, 3], seed=0),
    "MLP-sigmoid": lambda: MLP([6, 8, 3], activation="sigmoid", seed=0),
    "MLP-identity": lambda: MLP([6, 8, 3], activation="identity", seed=0),
    "MLP-masked": _masked_mlp,
}


@pytest.mark.parametrize("make", LOADABLE_MODELS.values(), ids=LOADABLE_MODELS.keys())
def test_every_loadable_type_round_trips(tmp_path, make):
    net = make().eval()
    again = load(save(net, tmp_path / "m")).eval()
    assert type(again) is type(net) and repr(again) == repr(net)
    assert again.config() == net.config()
    for (k1, p1), (k2, p2) in zip(net.named_parameters(), again.named_parameters(), strict=True):
        assert k1 == k2
        np.testing.assert_array_equal(p1.data, p2.data)
        assert (p1.mask is None) == (p2.mask is None)
        if p1.mask is not None:
            np.testing.assert_array_equal(p1.mask, p2.mask)
    np.testing.assert_array_equal(net(x()).data, again(x()).data)


def _unloadable():
    from minicomp.quant import QATMLP, kmeans_quantize, quantize_mlp

    class MyDense(Dense):               # a user's subclass: load would rebuild a plain Dense
        pass

    class Scale(minicomp.nn.Module):    # a user's layer with state load knows nothing about
        def __init__(self):
            self.s = minicomp.nn.Parameter(np.ones(6))

        def forward(self, x):
            return x * self.s
    base = MLP([6, 8, 3], seed=0)
    grown = MLP([6, 8, 3], seed=0)
    grown.layers.append(Tanh())         # an MLP edited after construction
    hidden = Dense(6, 3, seed=0)
    hidden.cache = np.zeros(3)          # an array that is not a Parameter: would be lost
    return {
        "SharedDense": (lambda: kmeans_quantize(base, bits=2), r"net\[0\] is a SharedDense"),
        "QuantizedMLP": (lambda: quantize_mlp(base, x(), bits=8), r"net is a QuantizedMLP"),
        "QATMLP": (lambda: QATMLP(base, X_init=x()), r"net is a QATMLP.*qat\.net"),
        "subclass": (lambda: Sequential(ReLU(), MyDense(6, 3)), r"net\[1\] is a MyDense"),
        "custom": (lambda: Sequential(Sequential(Scale())), r"net\[0\]\[0\] is a Scale"),
        "edited-MLP": (lambda: grown, r"net \(MLP\) has sub-modules that no longer match"),
        "buffer": (lambda: hidden, r"net \(Dense\) holds the array 'cache'"),
    }


@pytest.mark.parametrize("kind", list(_unloadable()))
def test_save_refuses_by_name_what_load_cannot_read(tmp_path, kind):
    make, message = _unloadable()[kind]
    with pytest.raises(TypeError, match=message):
        save(make(), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []                 # refused before writing anything


def test_save_refuses_arrays_load_would_refuse(tmp_path):
    net = MLP([6, 3], seed=0)
    net[0].W.data[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"'0\.weight' contains nan at \[1, 2\]"):
        save(net, tmp_path / "m.npz")
    net = MLP([6, 3], seed=0)
    net[0].W.mask = np.full((3, 6), 7.0)
    with pytest.raises(ValueError, match=r"mask '0\.weight\.mask' holds 7\.0"):
        save(net, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_refuses_layers_edited_into_a_width_mismatch(tmp_path):
    net = Sequential(Dense(6, 4, seed=0), ReLU(), Dense(4, 3, seed=1))
    net.layers[2] = Dense(5, 3, seed=1)                # load's Sequential() would refuse it
    with pytest.raises(ValueError, match="layer 2 .* takes 5 features but layer 0 gives 4"):
        save(net, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_suffix_rules_and_returned_path(tmp_path):
    net = MLP([6, 3], seed=0)
    assert save(net, tmp_path / "plain") == str(tmp_path / "plain.npz")       # appended
    assert save(net, tmp_path / "model.v2") == str(tmp_path / "model.v2")     # kept as given
    assert save(net, str(tmp_path / "m.npz")) == str(tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "model.v2", "plain.npz"]
    assert type(load(tmp_path / "model.v2")) is MLP


def test_load_reads_a_compressed_archive(tmp_path):
    path = save(MLP([6, 8, 3], seed=0), tmp_path / "m.npz")
    with np.load(path) as f:
        np.savez_compressed(tmp_path / "c.npz", **{k: f[k] for k in f.files})
    np.testing.assert_array_equal(load(tmp_path / "c.npz")(x()).data, load(path)(x()).data)


def test_save_refuses_one_layer_at_two_positions_and_fit_trains_it(tmp_path):
    d = Dense(4, 4, seed=0)
    net = Sequential(d, ReLU(), d, ReLU(), Dense(4, 3, seed=1))
    with pytest.raises(ValueError, match=r"save: net uses one layer object at two positions, "
                                         r"net\[0\] and net\[2\]"):
        save(net, tmp_path / "shared")
    assert not list(tmp_path.iterdir())
    X = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    before = d.W.data.copy()
    minicomp.fit(net, X, np.arange(12) % 3, epochs=1, quiet=True)    # each parameter once
    assert not np.array_equal(d.W.data, before)
