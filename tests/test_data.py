"""Tests of minicomp.data: datasets, IDX files, toy problems and minibatches."""
import gzip
import os
import random
import re
import stat
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicomp.data import (Dataset, batches, load_digits, load_mnist, load_mnist1d, make_blobs,
                           make_spirals, num_batches, read_idx, split_validation,
                           train_test_split, write_idx)

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


# ---------------------------------------------------------------- Dataset

def test_dataset_unpacks_and_has_short_repr():
    ds = Dataset(np.zeros((4, 3), np.float32), np.zeros(4, np.int64),
                 np.zeros((2, 3), np.float32), np.zeros(2, np.int64), name="toy", num_classes=2)
    X_train, y_train, X_test, y_test = ds
    assert X_train is ds.X_train and y_test is ds.y_test
    assert ds.num_features == 3
    assert repr(ds) == "Dataset('toy', train=(4, 3), test=(2, 3), num_classes=2)"


def test_dataset_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="train X has shape"):
        Dataset(np.zeros((4, 3)), np.zeros(5), np.zeros((2, 3)), np.zeros(2), "toy", 2)
    with pytest.raises(ValueError, match="X_train has 3 features but X_test has 5"):
        Dataset(np.zeros((4, 3)), np.zeros(4), np.zeros((2, 5)), np.zeros(2), "toy", 2)


# ---------------------------------------------------------------- digits

def test_digits_shapes_dtypes_and_standardization():
    ds = load_digits()
    assert ds.name == "digits" and ds.num_classes == 10
    assert len(ds.X_train) + len(ds.X_test) == 1797
    assert ds.X_train.shape[1] == ds.X_test.shape[1] == 64
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.X_test.dtype == np.float32 and ds.y_test.dtype == np.int64
    assert abs(len(ds.X_test) - 0.25 * 1797) <= 10
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.X_test).all()
    std = ds.X_train.std(axis=0)
    varying = std > 0
    assert 0 < varying.sum() < 64                    # some pixels are always 0
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(std[varying], 1, atol=1e-4)


def test_digits_split_is_seeded_and_stratified():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.y_train, c.y_train)
    train_counts = np.bincount(a.y_train, minlength=10)
    test_counts = np.bincount(a.y_test, minlength=10)
    fractions = test_counts / (train_counts + test_counts)
    assert np.all(np.abs(fractions - 0.25) < 0.01)   # every class held out at ~25 %


def test_digits_unstandardized_keeps_pixel_values():
    ds = load_digits(standardize=False, test_size=0.5)
    assert ds.X_train.min() == 0 and ds.X_train.max() == 16
    assert abs(len(ds.X_test) - len(ds.X_train)) <= 10


@pytest.mark.parametrize("kwargs, error, words", [
    ({"test_size": 1.0}, ValueError, "test_size"),
    ({"test_size": 0}, ValueError, "test_size"),
    ({"test_size": "0.2"}, TypeError, "test_size"),
    ({"seed": -1}, TypeError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
])
def test_digits_validation(kwargs, error, words):
    with pytest.raises(error, match=words):
        load_digits(**kwargs)


def test_train_test_split_accepts_a_generator_and_checks_lengths():
    X, y = np.arange(20).reshape(10, 2), np.array([0, 1] * 5)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.4, seed=np.random.default_rng(3))
    assert sorted(np.concatenate([X_tr[:, 0], X_te[:, 0]])) == list(range(0, 20, 2))
    assert np.bincount(y_te).tolist() == [2, 2]
    np.testing.assert_array_equal(X_tr[:, 0] // 2 % 2, y_tr)        # rows stay with their label
    with pytest.raises(ValueError, match="X has 10 samples but y has 9"):
        train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="0 test samples"):
        train_test_split(X, y, test_size=0.01)


# ---------------------------------------------------------------- validation split

def test_dataset_without_validation_has_empty_parts_of_the_right_shape():
    ds = load_digits()
    assert ds.X_val.shape == (0, 64) and ds.y_val.shape == (0,)
    assert ds.X_val.dtype == np.float32 and ds.y_val.dtype == np.int64
    assert ds.validation is None
    assert len(list(ds)) == 4                         # unpacks as before


def test_digits_validation_is_carved_from_train_stratified_and_seeded():
    base, ds = load_digits(), load_digits(validation=0.1)
    assert len(ds.X_train) + len(ds.X_val) == len(base.X_train)
    np.testing.assert_array_equal(ds.y_test, base.y_test)          # the same test set
    assert abs(len(ds.X_val) - 0.1 * len(base.X_train)) <= 10
    counts = np.bincount(ds.y_val, minlength=10) / np.bincount(base.y_train, minlength=10)
    assert np.all(np.abs(counts - 0.1) < 0.02)                      # every class ~10 %
    X_val, y_val = ds.validation
    assert X_val is ds.X_val and y_val is ds.y_val
    assert "val=(136, 64)" in repr(ds)
    again, other = load_digits(validation=0.1), load_digits(validation=0.1, seed=1)
    np.testing.assert_array_equal(again.X_val, ds.X_val)
    assert not np.array_equal(other.y_val, ds.y_val)


def test_digits_validation_rows_are_not_in_train_and_standardized_by_train_only():
    raw = load_digits(validation=0.2, standardize=False)
    train_rows = {r.tobytes() for r in raw.X_train}
    overlap = sum(r.tobytes() in train_rows for r in raw.X_val)
    assert overlap <= 5                                 # digits holds a few duplicate images
    ds = load_digits(validation=0.2)
    mean = raw.X_train.mean(axis=0)
    std = np.where(raw.X_train.std(axis=0) > 0, raw.X_train.std(axis=0), 1.0)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.X_val, (raw.X_val - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds.X_test, (raw.X_test - mean) / std, rtol=1e-4, atol=1e-4)


def test_mnist1d_validation_keeps_the_test_set():
    base, ds = load_mnist1d(), load_mnist1d(validation=0.25)
    assert len(ds.X_train) + len(ds.X_val) == 4000 and abs(len(ds.X_val) - 1000) <= 5
    np.testing.assert_array_equal(ds.X_test, base.X_test)
    assert np.bincount(ds.y_val, minlength=10).min() > 0
    together = np.sort(np.concatenate([ds.X_train, ds.X_val]), axis=0)
    np.testing.assert_array_equal(together, np.sort(base.X_train, axis=0))


def test_load_mnist_validation(tmp_path):
    directory = tmp_path / "mnist"
    directory.mkdir()
    make_fake_mnist(directory, n_train=40)
    ds = load_mnist(directory, validation=0.25, seed=3)
    assert ds.X_train.shape == (30, 16) and ds.X_val.shape == (10, 16)
    assert sorted(ds.y_val.tolist()) == list(range(10))            # one of each class
    assert load_mnist(directory).X_val.shape == (0, 16)
    with pytest.raises(ValueError, match="load_mnist: validation=1.5"):
        load_mnist(directory, validation=1.5)


BAD_VALIDATION = [
    (float("nan"), ValueError, "validation=nan; expected a finite number >= 0 and < 1"),
    (float("inf"), ValueError, "validation=inf"),
    (1.0, ValueError, "validation=1.0; expected"),
    (-0.1, ValueError, "validation=-0.1; expected"),
    (True, TypeError, r"validation=True \(bool\)"),
    (np.bool_(False), TypeError, r"validation=(np\.)?False_? \(bool\)"),
    ("0.1", TypeError, "validation='0.1'"),
    (None, TypeError, "validation=None"),
    (1e-5, ValueError, "validation=1e-05 leaves an empty part"),
]


@pytest.mark.parametrize("value, error, words", BAD_VALIDATION)
@pytest.mark.parametrize("loader", [load_digits, load_mnist1d])
def test_loaders_refuse_bad_validation(loader, value, error, words):
    with pytest.raises(error, match=f"{loader.__name__}: {words}"):
        loader(validation=value)


def test_split_validation_directly():
    X, y = np.arange(40.0).reshape(20, 2), np.array([0, 1] * 10)
    X_tr, y_tr, X_val, y_val = split_validation(X, y, 0.3, seed=np.random.default_rng(0))
    assert X_tr.shape == (14, 2) and np.bincount(y_val).tolist() == [3, 3]
    np.testing.assert_array_equal(X_val[:, 0] // 2 % 2, y_val)      # rows keep their labels
    assert split_validation(X, y, np.float32(0.0), seed=0)[2].shape == (0, 2)
    with pytest.raises(ValueError, match="split_validation: validation=0.99 leaves"):
        split_validation(X, y, 0.99, seed=0)


def test_dataset_checks_the_validation_part():
    X, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int64)
    ds = Dataset(X, y, X, y, "toy", 2, X_val=X[:1], y_val=y[:1])
    assert repr(ds) == "Dataset('toy', train=(4, 3), val=(1, 3), test=(4, 3), num_classes=2)"
    with pytest.raises(ValueError, match="X_train has 3 features but X_val has 5"):
        Dataset(X, y, X, y, "toy", 2, X_val=np.zeros((1, 5)), y_val=y[:1])
    with pytest.raises(ValueError, match="y_val contains the label 7"):
        Dataset(X, y, X, y, "toy", 2, X_val=X[:1], y_val=[7])
    with pytest.raises(ValueError, match="X_val contains nan"):
        Dataset(X, y, X, y, "toy", 2, X_val=np.full((1, 3), np.nan), y_val=y[:1])
    with pytest.raises(ValueError, match="val X has shape"):
        Dataset(X, y, X, y, "toy", 2, X_val=X[:2], y_val=y[:1])


# ---------------------------------------------------------------- MNIST-1D

def test_mnist1d_default_is_the_standard_dataset():
    ds = load_mnist1d()
    assert ds.name == "mnist1d" and ds.num_classes == 10
    assert ds.X_train.shape == (4000, 40) and ds.X_test.shape == (1000, 40)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert ds.y_test.min() >= 0 and ds.y_test.max() <= 9


def test_mnist1d_is_deterministic_and_cache_cannot_be_mutated():
    a = load_mnist1d()
    a.X_train[:] = 0                                  # the caller owns a copy
    b, c = load_mnist1d(), load_mnist1d()
    assert b.X_train is not c.X_train and np.abs(b.X_train).sum() > 0
    for x, y in zip(b, c):
        np.testing.assert_array_equal(x, y)


def test_mnist1d_options_and_global_random_state_untouched():
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(3), random.random()
    np.random.seed(123)
    random.seed(123)
    ds = load_mnist1d(num_samples=1000, seed=7)       # not cached by any other test
    assert ds.X_train.shape == (800, 40) and ds.X_test.shape == (200, 40)
    np.testing.assert_array_equal(np.random.random(3), expected_np)
    assert random.random() == expected_py
    other = load_mnist1d(num_samples=1000, seed=8)
    assert not np.array_equal(ds.X_train, other.X_train)


def test_mnist1d_accepts_a_generator_seed():
    a = load_mnist1d(num_samples=100, seed=np.random.default_rng(0))
    b = load_mnist1d(num_samples=105, seed=np.random.default_rng(0))   # rounded down to 100
    assert a.X_train.shape == (80, 40) and a.X_test.shape == (20, 40)
    np.testing.assert_array_equal(a.X_test, b.X_test)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_samples": 5}, ValueError, "num_samples=5; expected an int >= 10"),
    ({"num_samples": 100.0}, TypeError, "num_samples"),
    ({"train_split": 1.0}, ValueError, "train_split"),
    ({"train_split": 0.0}, ValueError, "train_split"),
    ({"num_samples": 10, "train_split": 0.05}, ValueError, "0 train"),
    ({"seed": "42"}, TypeError, "seed"),
])
def test_mnist1d_validation(kwargs, error, words):
    with pytest.raises(error, match=words):
        load_mnist1d(**kwargs)


# ---------------------------------------------------------------- IDX files

def test_read_idx_of_hand_written_bytes(tmp_path):
    # 3 labels [7, 0, 9]: magic 00 00 08 01 (ubyte, 1-D), size 00 00 00 03, data 07 00 09
    (tmp_path / "labels").write_bytes(struct.pack(">BBBBI3B", 0, 0, 0x08, 1, 3, 7, 0, 9))
    assert (tmp_path / "labels").read_bytes().hex() == "00000801" "00000003" "070009"
    labels = read_idx(tmp_path / "labels")
    assert labels.dtype == np.uint8 and labels.tolist() == [7, 0, 9]

    # int16 2x2 [[1, -2], [256, 3]]: magic 00 00 0B 02, sizes 2, 2,
    # data big-endian 0001 FFFE 0100 0003
    raw = bytes.fromhex("00000B02" "00000002" "00000002" "0001FFFE01000003")
    (tmp_path / "int16.gz").write_bytes(gzip.compress(raw))
    out = read_idx(str(tmp_path / "int16.gz"))
    assert out.dtype == np.int16 and out.dtype.isnative
    assert out.tolist() == [[1, -2], [256, 3]]

    # float32 [1.0, -0.5]: 3F800000 BF000000
    (tmp_path / "f32").write_bytes(bytes.fromhex("00000D01" "00000002" "3F800000BF000000"))
    assert read_idx(tmp_path / "f32").tolist() == [1.0, -0.5]


def test_write_idx_matches_hand_written_bytes(tmp_path):
    write_idx(tmp_path / "a", np.array([[1, -2], [256, 3]], dtype=np.int16))
    assert (tmp_path / "a").read_bytes().hex().upper() == "00000B0200000002000000020001FFFE01000003"
    write_idx(tmp_path / "a.gz", np.array([7, 0, 9], dtype=np.uint8))
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()).hex() == "0000080100000003070009"
    assert [p.name for p in tmp_path.iterdir()].count("a.gz") == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]   # no temp file left


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("name", ["x-idx", "x-idx.gz"])
def test_idx_roundtrip_all_dtypes(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert path == str(tmp_path / name)
    out = read_idx(path)
    assert out.dtype == dtype and out.shape == (2, 3, 4) and out.flags.writeable
    np.testing.assert_array_equal(out, array)


def test_write_idx_accepts_big_endian_input_and_gzip_is_detected_by_content(tmp_path):
    array = np.array([1.5, -2.25], dtype=">f8")
    write_idx(tmp_path / "data.gz", array)
    os.replace(tmp_path / "data.gz", tmp_path / "data.bin")            # name no longer says gzip
    out = read_idx(tmp_path / "data.bin")
    assert out.dtype == np.float64 and out.tolist() == [1.5, -2.25]


@pytest.mark.parametrize("array, error, words", [
    (np.arange(3, dtype=np.int64), TypeError, "int64"),
    (np.array([True]), TypeError, "bool"),
    (np.array(5, dtype=np.uint8), ValueError, "0 dimensions"),
    (np.zeros((1,) * 5, dtype=np.uint8), ValueError, "5 dimensions"),
])
def test_write_idx_validation(tmp_path, array, error, words):
    with pytest.raises(error, match=words):
        write_idx(tmp_path / "x", array)
    with pytest.raises(TypeError, match="path"):
        write_idx(3, np.zeros(2, np.uint8))


@pytest.mark.parametrize("kind", ["fifo", "chardev"])
def test_write_idx_refuses_a_fifo_or_device_and_leaves_it(tmp_path, kind):
    target = tmp_path / "labels-idx1-ubyte"
    if kind == "fifo":
        os.mkfifo(target)
    else:                                       # a copy of /dev/null: root (CAP_MKNOD) only
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except OSError as e:
            pytest.skip(f"cannot create a character device here: {e}")
    word = "a FIFO" if kind == "fifo" else "a character device"
    with pytest.raises(ValueError, match=f"write_idx: '.*labels-idx1-ubyte' is {word}"):
        write_idx(target, np.zeros(3, np.uint8))
    is_kind = stat.S_ISFIFO if kind == "fifo" else stat.S_ISCHR
    assert is_kind(os.lstat(target).st_mode) and os.listdir(tmp_path) == [target.name]


LABELS_HEADER = bytes.fromhex("00000801" "00000003")


@pytest.mark.parametrize("content, words", [
    (bytes.fromhex("08030000") + b"\0" * 8, "bad magic number 0x08030000"),
    (bytes.fromhex("01000801") + b"\0" * 7, "bad magic number 0x01000801"),
    (bytes.fromhex("00000A01" "00000001") + b"\0", "unknown IDX type code 0x0A"),
    (bytes.fromhex("00000800"), "0 dimensions"),
    (bytes.fromhex("00000805") + b"\0" * 20, "5 dimensions"),
    (LABELS_HEADER + b"\x07\x00", re.escape("truncated: expected 3 bytes of data for shape (3,), found 2")),
    (LABELS_HEADER + b"\x07\x00\x09\x01\x02", "2 unexpected bytes after the data"),
    (b"\0\0\x08", "3 bytes, too short for an IDX header"),
    (b"", "0 bytes, too short"),
    (bytes.fromhex("00000803" "00000005" "00000004"), "header truncated: 3 dimensions need 16"),
    (gzip.compress(LABELS_HEADER + b"\x07\x00\x09")[:-6], "corrupt or truncated gzip"),
    (b"\x1f\x8b" + b"not really gzip at all", "corrupt or truncated gzip"),
])
def test_read_idx_rejects_malformed_files(tmp_path, content, words):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file_and_bad_path_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-idx"):
        read_idx(tmp_path / "nope-idx")
    with pytest.raises(TypeError, match="path is a list; expected a str or os.PathLike"):
        read_idx(["a"])


@settings(max_examples=40, deadline=None)
@given(array=hnp.arrays(dtype=st.sampled_from(IDX_DTYPES),
                        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       gz=st.booleans())
def test_idx_roundtrip_property(array, gz):
    with tempfile.TemporaryDirectory() as tmp:
        out = read_idx(write_idx(os.path.join(tmp, "x.gz" if gz else "x"), array))
    assert out.dtype == array.dtype and out.shape == array.shape
    assert out.tobytes() == array.tobytes()            # bit-exact, NaNs and -0.0 included


# ---------------------------------------------------------------- load_mnist

def make_fake_mnist(directory, n_train=5, n_test=3, size=4, gz=False):
    """Write a tiny MNIST-like directory; return the train images and labels."""
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    images = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images[prefix] = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images[prefix])
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", np.arange(n, dtype=np.uint8) % 10)
    return images


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_on_a_tiny_directory(tmp_path, gz):
    directory = tmp_path / "fashion"
    directory.mkdir()
    images = make_fake_mnist(directory, gz=gz)
    ds = load_mnist(directory)
    assert ds.name == "fashion" and ds.num_classes == 10
    assert ds.X_train.shape == (5, 16) and ds.X_test.shape == (3, 16)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0 <= ds.X_train.min() and ds.X_train.max() <= 1
    np.testing.assert_allclose(ds.X_train, images["train"].reshape(5, 16) / 255, rtol=1e-6)
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4] and ds.y_test.tolist() == [0, 1, 2]
    raw = load_mnist(str(directory), normalize=False)
    np.testing.assert_array_equal(raw.X_test, images["t10k"].reshape(3, 16))


def test_load_mnist_prefers_the_raw_file_and_reports_missing_files(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(5, 99, np.uint8))   # ignored
    assert load_mnist(tmp_path).y_train.tolist() == [0, 1, 2, 3, 4]
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz" in message
    assert "t10k-images-idx3-ubyte" in message                           # lists the contents
    with pytest.raises(FileNotFoundError, match="must be a directory"):
        load_mnist(tmp_path / "missing")
    with pytest.raises(TypeError, match="path"):
        load_mnist(None)


def test_load_mnist_count_mismatch(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="has 5 images but .*train-labels-idx1-ubyte has 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_label_out_of_range(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 12, 3], np.uint8))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: label 12 at index 1"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_kind_of_file(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(5, np.uint8))          # 1-D
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: magic number 0x00000801 .*"
                                         r"expected 0x00000803"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 4, 4), np.float32))
    with pytest.raises(ValueError, match="0x00000D03"):
        load_mnist(tmp_path)


def test_load_mnist_train_and_test_sizes_must_agree(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 5, 5), np.uint8))
    with pytest.raises(ValueError, match=r"train images are \(4, 4\) but test images are \(5, 5\)"):
        load_mnist(tmp_path)


# ---------------------------------------------------------------- toy problems

@pytest.mark.parametrize("make", [make_blobs, make_spirals])
def test_toy_problems_shapes_balance_determinism(make):
    X, y = make(n_samples=301, num_classes=3, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 100, 100]
    X2, y2 = make(n_samples=301, num_classes=3, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, make(n_samples=301, num_classes=3, seed=1)[0])
    assert not np.array_equal(y[:20], np.sort(y[:20]))                  # samples are mixed
    X3, _ = make(n_samples=301, num_classes=3, seed=np.random.default_rng(0))
    assert X3.shape == (301, 2)


def test_blobs_features_and_spread():
    X, y = make_blobs(n_samples=2000, num_classes=4, num_features=5, std=0.5, seed=3)
    assert X.shape == (2000, 5)
    for c in range(4):
        np.testing.assert_allclose(X[y == c].std(axis=0), 0.5, atol=0.06)
        assert np.all(np.abs(X[y == c].mean(axis=0)) < 5.2)            # centers in [-5, 5]


def test_spirals_geometry():
    X, y = make_spirals(n_samples=300, num_classes=3, noise=0.0, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.min() < 1e-6 and abs(radius.max() - 1) < 1e-6        # radius grows 0 -> 1
    assert np.bincount(y).tolist() == [100, 100, 100]


@pytest.mark.parametrize("make, kwargs, error, words", [
    (make_blobs, {"n_samples": 0}, ValueError, "n_samples=0; expected an int >= 3"),
    (make_blobs, {"n_samples": 2.5}, TypeError, "n_samples"),
    (make_blobs, {"num_classes": 0}, ValueError, "num_classes"),
    (make_blobs, {"num_features": 0}, ValueError, "num_features"),
    (make_blobs, {"std": 0.0}, ValueError, "std"),
    (make_blobs, {"std": float("nan")}, ValueError, "std"),
    (make_blobs, {"seed": "x"}, TypeError, "seed"),
    (make_spirals, {"noise": -0.1}, ValueError, "noise=-0.1; expected a finite number >= 0"),
    (make_spirals, {"num_classes": True}, TypeError, "num_classes"),
    (make_spirals, {"seed": None}, TypeError, "seed"),
])
def test_toy_problem_validation(make, kwargs, error, words):
    with pytest.raises(error, match=words):
        make(**kwargs)


# ---------------------------------------------------------------- batches

def test_batches_cover_every_sample_once_with_a_partial_last_batch():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    out = list(batches(X, y, batch_size=4, seed=0))
    assert [len(y_b) for _, y_b in out] == [4, 4, 2] == [len(X_b) for X_b, _ in out]
    seen = np.concatenate([y_b for _, y_b in out])
    assert sorted(seen) == list(range(10)) and seen.tolist() != list(range(10))
    for X_b, y_b in out:
        np.testing.assert_array_equal(X_b[:, 0], 2 * y_b)              # pairs stay together
    assert num_batches(10, 4) == 3


def test_batches_drop_last_and_no_shuffle():
    X = np.arange(10)
    assert [b.tolist() for b in batches(X, batch_size=4, shuffle=False)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b) for b in batches(X, batch_size=4, drop_last=True, seed=1)] == [4, 4]
    assert num_batches(10, 4, drop_last=True) == 2
    assert list(batches(np.zeros((0, 3)), batch_size=4)) == []


def test_batches_seeding():
    X = np.arange(50)
    first = np.concatenate(list(batches(X, batch_size=8, seed=5)))
    again = np.concatenate(list(batches(X, batch_size=8, seed=5)))
    other = np.concatenate(list(batches(X, batch_size=8, seed=6)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    rng = np.random.default_rng(5)                    # one Generator: a new order every epoch
    epoch1 = np.concatenate(list(batches(X, batch_size=8, seed=rng)))
    epoch2 = np.concatenate(list(batches(X, batch_size=8, seed=rng)))
    np.testing.assert_array_equal(epoch1, first)
    assert not np.array_equal(epoch1, epoch2)


def test_batches_validation_happens_at_the_call():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="X has 10 samples but y has 9"):
        batches(X, np.zeros(9))
    with pytest.raises(ValueError, match="batch_size=0; expected an int >= 1"):
        batches(X, batch_size=0)
    with pytest.raises(TypeError, match=r"batch_size=2.0 \(float\); expected an int"):
        batches(X, batch_size=2.0)
    with pytest.raises(TypeError, match="seed"):
        batches(X, seed="0")
    with pytest.raises(ValueError, match="n=-1; expected an int >= 0"):
        num_batches(-1, 4)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), batch_size=st.integers(1, 70), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 2**32))
def test_batches_property_permutation(n, batch_size, drop_last, shuffle, seed):
    X, y = np.arange(n) * 10, np.arange(n)
    out = list(batches(X, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last))
    assert len(out) == num_batches(n, batch_size, drop_last)
    assert all(len(y_b) == batch_size for _, y_b in out[:-1])
    seen = np.concatenate([y_b for _, y_b in out]) if out else np.array([], dtype=int)
    assert len(np.unique(seen)) == len(seen)                             # no sample twice
    assert len(seen) == (n - n % batch_size if drop_last else n)         # all but the dropped
    for X_b, y_b in out:
        np.testing.assert_array_equal(X_b, 10 * y_b)
