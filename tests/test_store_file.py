"""minicomp.store's file: refuses what it did not write intact, writes atomically, and the
info / predict commands; bad arguments of pack / save / load are named."""
from __future__ import annotations

import argparse
import json
import os
import struct
import types
import zlib

import numpy as np
import pytest

from minicomp.checkpoint import save as save_checkpoint
from minicomp.nn import MLP, Dense, Sequential, Sigmoid
from minicomp.store import Cascade, Ensemble, load, pack, save
from minicomp.store import file as store_file
from minicomp.store.cli import add_commands, info_lines

X = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
NET = MLP([8, 12, 4], seed=0)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.mcz"
    header = save(pack(NET, "int", bits=4), path)
    return path, header, path.read_bytes()


def refused(path, *words):
    with pytest.raises(ValueError) as e:
        load(path)
    text = str(e.value)
    assert repr(str(path)) in text and all(w in text for w in words), text
    return text


def rewrite_header(data: bytes, edit) -> bytes:
    """The file with its JSON header edited by ``edit`` and both lengths and CRCs redone."""
    magic, version, flags, n_h, n_p, _, crc_p = store_file.PREAMBLE.unpack_from(data)
    tree = json.loads(zlib.decompress(data[32:32 + n_h]))
    edit(tree["model"])
    header = zlib.compress(json.dumps(tree).encode())
    return store_file.PREAMBLE.pack(magic, version, flags, len(header), n_p,
                                    zlib.crc32(header), crc_p) + header + data[32 + n_h:]


def test_layout_is_preamble_header_payload(saved):
    path, header, data = saved
    magic, version, flags, n_h, n_p, crc_h, crc_p = struct.unpack_from("<8sHHIQII", data)
    assert magic == b"\x89MCMP\r\n\x1a" and version == 1 and flags == 0
    assert header == 32 + n_h and len(data) == header + n_p and n_p == load(path).nbytes
    assert crc_h == zlib.crc32(data[32:header]) and crc_p == zlib.crc32(data[header:])


def test_corrupted_payload_and_header_are_refused(saved):
    path, header, data = saved
    for at, what in ((len(data) - 3, "payload"), (header - 2, "header")):
        bad = bytearray(data)
        bad[at] ^= 0x10                                  # one bit of one byte
        path.write_bytes(bytes(bad))
        refused(path, what, "CRC")


def test_truncated_foreign_newer_and_oversized_files_are_refused(saved, tmp_path):
    path, header, data = saved
    path.write_bytes(data[:-1])
    refused(path, "truncated", f"expected {len(data)}")
    path.write_bytes(data + b"\0")
    refused(path, "trailing")
    path.write_bytes(b"")
    refused(path, "not a minicomp compressed model")
    save_checkpoint(NET, tmp_path / "net.npz")                 # a training checkpoint (zip)
    refused(tmp_path / "net.npz", "not a minicomp compressed model", "expected a file")
    newer = bytearray(data)
    newer[8:10] = struct.pack("<H", 2)
    path.write_bytes(bytes(newer))
    refused(path, "version 2", "newer")
    huge = bytearray(data)
    huge[12:16] = struct.pack("<I", store_file.MAX_HEADER + 1)
    path.write_bytes(bytes(huge))
    refused(path, f"expected at most {store_file.MAX_HEADER}")


def test_inconsistent_headers_are_refused_even_with_good_crcs(saved):
    path, _, data = saved

    def shape(tree):
        tree["layers"][0]["arrays"][1][2] = [3, 4]              # scales: (12,) -> (3, 4)
    edits = [(shape, "scales float32[3, 4]; expected b float32[12], codes uint8[48]"),
             (lambda t: t["layers"][0].update(kind="zip"), "kind='zip'"),
             (lambda t: t["layers"][0]["arrays"][0].__setitem__(1, "<f8"), "dtype"),
             (lambda t: t["layers"][0]["arrays"][1].__setitem__(3, 0), "offset"),
             (lambda t: t["layers"][1]["meta"].update(out=0), "meta['out']=0"),
             (lambda t: t["layers"].pop(), "payload's"),
             (lambda t: t.update(structure="tree"), "structure 'tree'"),
             (lambda t: t["layers"][0]["meta"].update(scheme="foo"), "('scheme', 'foo')"),
             (lambda t: t["layers"][0]["meta"].update(bits=17), "('bits', 17)"),
             (lambda t: t["layers"][0]["meta"].update(bits=4.5), "('bits', 4.5)"),
             (lambda t: t["layers"][0]["meta"].update({"out": 2**16, "in": 2**16}),
              "expected at most 2147483648 weights")]
    for edit, words in edits:
        path.write_bytes(rewrite_header(data, edit))
        refused(path, words)


def test_nan_weights_in_a_file_are_refused(tmp_path):
    path = tmp_path / "d.mcz"
    header = save(pack(NET, "dense"), path)
    data = bytearray(path.read_bytes())
    data[header:header + 4] = np.float32(np.nan).tobytes()    # W[0, 0]
    magic, v, f, n_h, n_p, crc_h, _ = store_file.PREAMBLE.unpack_from(data)
    data[:32] = store_file.PREAMBLE.pack(magic, v, f, n_h, n_p, crc_h,
                                         zlib.crc32(bytes(data[header:])))
    path.write_bytes(bytes(data))
    refused(path, "array 'W' contains nan at [0, 0]")


def craft(tmp_path, model, edit=None, name="c.mcz"):
    """``model`` saved, its header edited by ``edit`` (CRCs redone): the path."""
    path = tmp_path / name
    save(model, path)
    if edit is not None:
        path.write_bytes(rewrite_header(path.read_bytes(), edit))
    return path


def test_a_few_header_bytes_cannot_ask_for_gigabytes(tmp_path):
    # a 4 x 6 Huffman layer (19 payload bytes) whose header claims 4 x 2^23 weights: decoding
    # would allocate 2^25 int64 + float32 (384 MB) from a 300-byte file; refused before
    from minicomp.quant.sparse_huffman import encode
    from minicomp.store import CompressedModel, Record
    index = np.zeros((4, 6), np.int64)
    index[0, 1], index[3, 5] = 1, 2
    enc = encode(index, np.array([0.0, 0.5, -0.25], np.float32))
    rec = Record("huffman", enc.arrays, {"out": 4, "in": 6, **{f"codec.{k}": v for k, v
                                                               in enc.meta.items()}})

    def wide(t):
        t["layers"][0]["meta"].update({"in": 2**23, "codec.cols": 2**23})
    path = craft(tmp_path, CompressedModel([rec]), wide)
    refused(path, f"the layers hold {2**25} weights in 19 payload bytes",
            f"max({store_file.MIN_DECODED}, {store_file.MAX_EXPANSION} per byte)")
    empty = Record("csr", {"data": np.zeros(0, np.float32), "indices": np.zeros(0, np.uint16),
                           "indptr": np.zeros(4097, np.uint8)}, {"out": 4096, "in": 4097,
                                                                 "nnz": 0})
    with pytest.raises(ValueError, match="save: the layers hold 16781312 weights in 4097"):
        save(CompressedModel([empty]), tmp_path / "e.mcz")          # nor written
    assert not (tmp_path / "e.mcz").exists()


def test_meta_that_predict_would_choke_on_is_refused_at_load(tmp_path):
    # the activation quantizers' scalars and the N:M positions are checked by load, not
    # left to fail (or to disagree with the decoded W) at predict
    from minicomp.quant.ptq import quantize_mlp
    q = pack(quantize_mlp(NET, X))
    for key, value, words in (("in_S", 0.0, "in_S=0.0; expected a finite number > 0"),
                              ("in_bits", 3.5, "in_bits=3.5 (float); expected an int"),
                              ("in_Z", 300, "in_Z=300; expected an int >= 0 and <= 255"),
                              ("out_S", -1.0, "out_S=-1.0")):
        path = craft(tmp_path, q, lambda t: t["layers"][0]["meta"].update({key: value}))
        refused(path, words)

    def repeat(payload):                            # 2:4 positions (1, 3) -> (1, 1)
        payload[192] = (payload[192] & 0xF0) | 0b0101
    path = craft(tmp_path, pack(NET, "nm"))
    data = bytearray(path.read_bytes())
    n_h = store_file.PREAMBLE.unpack_from(data)[3]
    payload = data[32 + n_h:]
    repeat(payload)
    magic, v, f, n_h, n_p, crc_h, _ = store_file.PREAMBLE.unpack_from(data)
    path.write_bytes(store_file.PREAMBLE.pack(magic, v, f, n_h, n_p, crc_h, zlib.crc32(
        payload)) + bytes(data[32:32 + n_h]) + bytes(payload))
    refused(path, "positions [1, 1,", "expected ascending positions < m=4")


def test_load_reads_a_foreign_file_no_further_than_its_preamble(tmp_path):
    import tracemalloc
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 << 20)                                         # 64 MB of zeros
    tracemalloc.start()
    refused(big, "not a minicomp compressed model")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, peak                                      # not read into memory
    refused(tmp_path, "is not a regular file")                      # a directory


def test_records_off_the_schema_are_refused_and_not_saved(tmp_path):
    from minicomp.store import CompressedModel, Record
    W = np.ones((2, 3))                                          # float64: not the schema's
    with pytest.raises(ValueError, match=r"layer 0: dense arrays W float64\[2, 3\]; "
                                         r"expected W float32\[2, 3\]"):
        CompressedModel([Record("dense", {"W": W}, {"out": 2, "in": 3})])
    with pytest.raises(ValueError, match="lacks meta 'scheme'"):
        CompressedModel([Record("int", {"W": W}, {"out": 2, "in": 3})])
    with pytest.raises(ValueError, match="kind 'zip', meta out=0"):
        CompressedModel([Record("zip", {"W": W}, {"out": 0, "in": 3})])
    with pytest.raises(TypeError, match="expected a Record of ndarrays"):
        CompressedModel([Record("dense", {"W": W.tolist()}, {"out": 2, "in": 3})])
    model = pack(NET, "dense")
    model.layers[0].arrays["W"] = model.layers[0].arrays["W"].astype(np.float64)  # changed
    with pytest.raises(ValueError, match=r"save: layer 0: dense arrays .*W float64\[12, 8\]"):
        save(model, tmp_path / "x.mcz")
    W = np.ones((2, 3), np.float32)
    nan_bias = {"W": W, "b": np.array([0.0, np.nan], np.float32)}
    model = CompressedModel([Record("dense", nan_bias, {"out": 2, "in": 3})])
    with pytest.raises(ValueError, match=r"save: layer 0: array 'b' contains nan at \[1\]"):
        save(model, tmp_path / "x.mcz")                         # a file load would refuse
    bad_act = Record("int", pack(NET, "int").layers[0].arrays,
                     {**pack(NET, "int").layers[0].meta, "in_q": "affine", "in_S": 0.1,
                      "in_Z": 0, "in_bits": 0})
    with pytest.raises(ValueError, match="save: the model does not decode .*in_bits=0"):
        save(CompressedModel([bad_act]), tmp_path / "x.mcz")
    assert os.listdir(tmp_path) == []


def test_symlinks_are_not_followed(saved, tmp_path):
    path, _, _ = saved
    link = tmp_path / "link.mcz"
    os.symlink(path, link)
    refused(link, "symbolic link")
    with pytest.raises(ValueError, match="symbolic link"):
        save(NET, link)                                          # nor written through
    assert load(path).nbytes > 0


def test_a_failed_save_leaves_nothing_and_keeps_the_old_file(saved, monkeypatch):
    path, _, data = saved
    folder = sorted(os.listdir(path.parent))
    calls = []

    def fail(f, a):
        calls.append(1)
        raise OSError("disk full")
    monkeypatch.setattr(store_file, "write_array", fail)
    with pytest.raises(OSError, match="disk full"):
        save(MLP([8, 3], seed=1), path)
    assert calls and sorted(os.listdir(path.parent)) == folder and path.read_bytes() == data
    with pytest.raises(ValueError, match="fmt"):
        save(pack(NET, "nope"), path.parent / "other.mcz")
    assert sorted(os.listdir(path.parent)) == folder


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="fmt='zip'"):
        pack(NET, "zip")
    with pytest.raises(TypeError, match="obj is a str"):
        pack("net.npz")
    with pytest.raises(TypeError, match=r"options \['bits'\] with fmt='dense'"):
        pack(NET, "dense", bits=4)
    with pytest.raises(ValueError, match="bits"):
        pack(NET, "int", bits=1)
    bad = MLP([8, 4], seed=0)
    bad.layers[0].W.data[1, 2] = np.nan
    for fmt in ("dense", "int", "nf4", "csr"):
        with pytest.raises(ValueError, match="layer 0 weights"):
            pack(bad, fmt)
    with pytest.raises(TypeError, match="Sigmoid"):
        pack(Sequential(Dense(8, 4), Sigmoid()))
    with pytest.raises(ValueError, match="fmt='csr' for a QuantizedMLP"):
        from minicomp.quant.ptq import quantize_mlp
        pack(quantize_mlp(NET, X), "csr")
    with pytest.raises(TypeError, match="X_calib"):
        pack(NET, "integer")
    with pytest.raises(TypeError, match=r"options \['bits'\] for a QuantizedMLP, quantized"):
        pack(quantize_mlp(NET, X), "int", bits=4)               # not silently 8 bits
    with pytest.raises(ValueError, match=r"fmt='int' for a CompressedModel \(packed already"):
        pack(pack(NET), "int")
    with pytest.raises(TypeError, match="members"):
        Ensemble([])
    with pytest.raises(ValueError, match="tau"):
        Cascade(NET, NET, 1.5)
    with pytest.raises(ValueError, match="weights"):
        Ensemble([NET, NET], weights=[0.9, 0.9])
    with pytest.raises(ValueError, match="X has 7 features"):
        pack(NET).predict(np.zeros((2, 7)))
    with pytest.raises(TypeError, match="path"):
        load(3)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "missing.mcz")
    with pytest.raises(IsADirectoryError):
        save(NET, tmp_path)


def parser():
    p = argparse.ArgumentParser(prog="minicomp")
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def test_info_and_predict_commands(saved, tmp_path, capsys):
    path, header, _ = saved
    model = load(path)
    lines = info_lines(model, str(path))
    # float32: (8*12 + 12 + 12*4 + 4) * 4 = 640 bytes; int4 per channel, codes + scales +
    # biases: (96/2 + 48 + 48) + (48/2 + 16 + 16) = 200 bytes
    assert model.nbytes == 200 and lines[-1].startswith("float32: 640 bytes")
    assert lines[-2] == f"payload 200 bytes + header {header} bytes = {200 + header} bytes on disk"
    args = parser().parse_args(["info", str(path)])
    assert args.func(args) == 0 and "int" in capsys.readouterr().out
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "labels.npy"
    args = parser().parse_args(["predict", str(path), str(tmp_path / "X.npy"), "--out", str(out)])
    assert args.func(args) == 0
    labels = model.predict(X).argmax(1)
    assert capsys.readouterr().out.split() == [str(v) for v in labels]
    assert np.array_equal(np.load(out), labels)
    for bad, words in ((X[:, :5], "expected 8"), (np.where(X > 1, np.nan, X), "contains nan"),
                       (X.astype(object), "not a readable .npy array .*Python objects"),
                       (X.astype(complex), "dtype complex128; expected numbers"),
                       (None, "not a readable .npy array")):
        if bad is None:                             # a header that claims (2^33, 8) floats
            with open(tmp_path / "bad.npy", "wb") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "shape": (2**33, 8),
                                                         "fortran_order": False})
                f.write(bytes(64))                  # np.load would allocate 256 GiB
        else:
            np.save(tmp_path / "bad.npy", bad, allow_pickle=True)
        args = parser().parse_args(["predict", str(path), str(tmp_path / "bad.npy")])
        with pytest.raises((ValueError, TypeError), match=f"DATA.*bad.npy.*{words}"):
            args.func(args)
    args = parser().parse_args(["predict", str(path), "digits"])        # 64 inputs, not 8
    with pytest.raises(ValueError, match="predict: DATA 'digits' has 64 features.*expected 8"):
        args.func(args)
    np.savez(tmp_path / "X.npz", X=X)
    args = parser().parse_args(["predict", str(path), str(tmp_path / "X.npz")])
    with pytest.raises(ValueError, match="is a .npz archive; expected one .npy array"):
        args.func(args)


def test_predict_on_a_dataset_prints_accuracy(tmp_path, capsys):
    from minicomp.data import load_digits
    d = load_digits()
    net = MLP([64, 10], seed=0)
    save(pack(net, "csr"), tmp_path / "digits.mcz")
    args = parser().parse_args(["predict", str(tmp_path / "digits.mcz"), "digits"])
    assert args.func(args) == 0
    acc = float((pack(net).predict(d.X_test).argmax(1) == d.y_test).mean())
    assert capsys.readouterr().out.startswith(f"accuracy {acc:.4f} on {len(d.y_test)}")


def test_export_command_writes_onnx(saved, tmp_path, capsys):
    pytest.importorskip("onnx")
    path, _, _ = saved
    args = parser().parse_args(["export", str(path), str(tmp_path / "m.onnx")])
    assert args.func(args) == 0 and (tmp_path / "m.onnx").stat().st_size > 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'm.onnx'}"


def loaded(path):
    """``load(path)``, or a model of nothing when it refuses the file with a ValueError."""
    try:
        return load(path)
    except ValueError:
        return types.SimpleNamespace(predict=lambda X: None)


def test_fuzzed_files_are_refused_with_value_errors_only(tmp_path):
    # every kind in one ensemble; random header values (CRCs redone) and payload bytes:
    # load either raises ValueError -- never another error, never a hang -- or returns a
    # model that predicts (nothing left to fail later)
    from minicomp.deploy import to_inference
    from minicomp.quant.ptq import quantize_mlp
    from minicomp.store import CompressedModel
    q = quantize_mlp(NET, X)
    members = [pack(NET, f) for f in ("dense", "csr", "nm", "int", "ternary", "fp8_e4m3",
                                      "mxfp6_e2m3", "nvfp4", "nf4", "codebook", "huffman")]
    model = CompressedModel(members=members + [pack(q), pack(to_inference(q))],
                            structure="ensemble")
    path = tmp_path / "f.mcz"
    save(model, path)
    data = path.read_bytes()
    magic, v, fl, n_h, n_p, crc_h, crc_p = store_file.PREAMBLE.unpack_from(data)
    tree = json.loads(zlib.decompress(data[32:32 + n_h]))

    def leaves(t, at=()):
        items = t.items() if isinstance(t, dict) else enumerate(t) if isinstance(t, list) else ()
        for k, x in items:
            yield from leaves(x, at + (k,))
        yield at
    paths = [p for p in leaves(tree) if p]
    values = [0, -1, 2**40, 3.5, "x", None, True, [], {}, "int8", "group", 1e308, 255]
    rng = np.random.default_rng(0)
    for _ in range(250):
        at, value = paths[rng.integers(len(paths))], values[rng.integers(len(values))]

        def edit(t, at=at, value=value):
            for k in at[1:-1]:
                t = t[k]
            t[at[-1]] = value
        blob = rewrite_header(data, lambda t, edit=edit: edit(t) if len(at) > 1 else None)
        path.write_bytes(blob)
        loaded(path).predict(X)
    for _ in range(150):
        payload = bytearray(data[32 + n_h:])
        payload[rng.integers(len(payload))] = rng.integers(256)
        path.write_bytes(store_file.PREAMBLE.pack(magic, v, fl, n_h, n_p, crc_h, zlib.crc32(
            payload)) + data[32:32 + n_h] + bytes(payload))
        loaded(path).predict(X)
