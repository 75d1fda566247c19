"""Bad files and bad paths for save / load / atomic_open, killed writers, file modes,
and targets that must never be replaced (devices, FIFOs, read-only files and folders).

Every case asserts the exception type and that the message names the path
or the key at fault. The crafted files are built with zipfile / np.savez
directly, as an attacker or a broken tool would.
"""
import contextlib
import io
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from minicomp import MLP, load, save
from minicomp import atomic
from minicomp.atomic import atomic_open
from minicomp.cli import main
from minicomp.data import write_idx
from minicomp.grading import cli as _grading_cli, grade as _grade, release as _release

HEADER = {"format": "minicomp-model", "version": 1,
          "model": {"type": "MLP", "config": {"sizes": [4, 8, 3], "activation": "relu",
                                              "init": "he"}}}


def arrays_of(net=None) -> dict:
    net = net or MLP([4, 8, 3], seed=0)
    return {k: p.data for k, p in net.named_parameters()}


def write_npz(path, header=HEADER, arrays=None, compressed=False):
    """An archive like save's, from a (possibly broken) header and arrays."""
    arrays = arrays_of() if arrays is None else arrays
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    (np.savez_compressed if compressed else np.savez)(
        path, __minicomp__=np.frombuffer(raw, np.uint8), **arrays)
    return path


def with_header(**changes):
    header = json.loads(json.dumps(HEADER))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = header
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return header


def with_arrays(**changes):
    arrays = arrays_of()
    for key, value in changes.items():
        key = key.replace("_", ".")
        if value is KeyError:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


def npy_bytes(shape, dtype="<f4", payload=b"\0" * 16) -> bytes:
    """A .npy header claiming ``shape`` followed by ``payload`` (not what it claims)."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": dtype, "fortran_order": False,
                                            "shape": shape})
    return f.getvalue() + payload


def patch_member(path, member, **fields):
    """Overwrite fields of ``member`` in both zip headers (local and central)."""
    data = bytearray(open(path, "rb").read())
    local = {"flags": (6, "<H"), "compress_size": (18, "<I"), "file_size": (22, "<I")}
    central = {"flags": (8, "<H"), "compress_size": (20, "<I"), "file_size": (24, "<I")}
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo(member).header_offset
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + n] == member.encode():
            for name, value in fields.items():
                struct.pack_into(central[name][1], data, pos + central[name][0], value)
                struct.pack_into(local[name][1], data, offset + local[name][0], value)
        pos = data.find(b"PK\x01\x02", pos + 4)
    open(path, "wb").write(bytes(data))
    return path


def zip_of(path, members: dict, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                     # duplicate names on purpose
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def npy_of(array) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asarray(array))
    return f.getvalue()


def header_member(header=HEADER) -> bytes:
    return npy_of(np.frombuffer(json.dumps(header).encode(), np.uint8))


def deflate_bomb(path):
    """A *valid* compressed model: 128 MiB of zero weights in a ~130 KB file."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__minicomp__.npy", header_member(huge_dense(4096, 8192)))
        zf.writestr("bias.npy", npy_of(np.zeros(8192, np.float32)))
        with zf.open("weight.npy", "w", force_zip64=True) as f:
            f.write(npy_bytes((8192, 4096), payload=b""))
            for _ in range(128):
                f.write(bytes(2**20))
    return path


def huge_dense(in_features=2**24, out_features=2**24 // 2):
    return {"format": "minicomp-model", "version": 1,
            "model": {"type": "Dense", "config": {"in_features": in_features,
                                                  "out_features": out_features,
                                                  "bias": True, "init": "he"}}}


def dense(n_in, n_out):
    return {"type": "Dense", "config": {"in_features": n_in, "out_features": n_out,
                                        "bias": False, "init": "he"}}


def deep(levels):
    model = {"type": "ReLU", "config": {}}
    for _ in range(levels):
        model = {"type": "Sequential", "config": {"layers": [model]}}
    return {"format": "minicomp-model", "version": 1, "model": model}


def put(path, data: bytes):
    path.write_bytes(data)
    return path


def case(p, bad):
    """The file ``bad`` to load (built in folder ``p``)."""
    return {
        "missing": lambda: p / "nope.npz",
        "missing-dir-in-path": lambda: p / "nope" / "m.npz",
        "directory": lambda: p,
        "empty": lambda: put(p / "empty.npz", b""),
        "fifo": lambda: os.mkfifo(p / "pipe.npz") or p / "pipe.npz",
        "text": lambda: put(p / "notes.npz", b"hello"),
        "npy-not-npz": lambda: np.save(p / "w.npy", np.zeros(3)) or p / "w.npy",
        "truncated": lambda: put(p / "cut.npz",
                                 open(write_npz(p / "full.npz"), "rb").read()[:300]),
        "no-header": lambda: np.savez(p / "data.npz", a=np.zeros(3)) or p / "data.npz",
        "member-not-npy": lambda: zip_of(p / "z.npz", [("__minicomp__.npy", header_member()),
                                                      ("readme.txt", b"hi")]),
        "duplicate-member": lambda: zip_of(p / "z.npz", [("__minicomp__.npy", header_member()),
                                                        ("__minicomp__.npy", header_member())]),
        "header-not-json": lambda: write_npz(p / "h.npz", b"{not json"),
        "header-not-utf8": lambda: write_npz(p / "h.npz", b"\xff\xfe\x00"),
        "header-a-list": lambda: write_npz(p / "h.npz", [1, 2]),
        "header-float-array": lambda: np.savez(p / "h.npz", __minicomp__=np.zeros(3))
        or p / "h.npz",
        "header-missing-model": lambda: write_npz(p / "h.npz", with_header(model=KeyError)),
        "header-extra-key": lambda: write_npz(p / "h.npz", with_header(pickle="yes")),
        "wrong-format": lambda: write_npz(p / "h.npz", with_header(format="torch")),
        "newer-version": lambda: write_npz(p / "h.npz", with_header(version=2)),
        "version-bool": lambda: write_npz(p / "h.npz", with_header(version=True)),
        "unknown-type": lambda: write_npz(p / "h.npz", with_header(model__type="Conv2d")),
        "model-not-a-dict": lambda: write_npz(p / "h.npz", with_header(model=[1])),
        "config-extra-key": lambda: write_npz(p / "h.npz", with_header(model__config__bias=1)),
        "config-missing-key": lambda: write_npz(
            p / "h.npz", with_header(model__config__init=KeyError)),
        "sizes-zero": lambda: write_npz(p / "h.npz", with_header(model__config__sizes=[4, 0])),
        "sizes-string": lambda: write_npz(p / "h.npz",
                                          with_header(model__config__sizes=[4, "8", 3])),
        "sizes-float": lambda: write_npz(p / "h.npz",
                                         with_header(model__config__sizes=[4, 8.0, 3])),
        "sizes-one": lambda: write_npz(p / "h.npz", with_header(model__config__sizes=[4])),
        "sizes-beyond-cap": lambda: write_npz(p / "h.npz",
                                              with_header(model__config__sizes=[4, 2**40])),
        "activation-unknown": lambda: write_npz(
            p / "h.npz", with_header(model__config__activation="gelu")),
        "init-unknown": lambda: write_npz(p / "h.npz", with_header(model__config__init="zero")),
        "dropout-p": lambda: write_npz(p / "h.npz", {**HEADER, "model": {
            "type": "Dropout", "config": {"p": 1.5, "seed": None}}}, {}),
        "layers-not-list": lambda: write_npz(p / "h.npz", {**HEADER, "model": {
            "type": "Sequential", "config": {"layers": "Dense"}}}, {}),
        "nested-too-deep": lambda: write_npz(p / "h.npz", deep(40), {}),
        "widths-mismatch": lambda: write_npz(p / "w.npz", {**HEADER, "model": {
            "type": "Sequential", "config": {"layers": [dense(4, 8), dense(5, 3)]}}},
            {"0.weight": np.zeros((8, 4), np.float32), "1.weight": np.zeros((3, 5), np.float32)}),
        "unknown-array": lambda: write_npz(p / "a.npz",
                                           arrays=with_arrays(**{"9_weight": np.zeros(2)})),
        "missing-array": lambda: write_npz(p / "a.npz", arrays=with_arrays(**{"2_bias": KeyError})),
        "transposed-weight": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight": np.zeros((4, 8), np.float32)})),
        "int-weight": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight": np.zeros((8, 4), np.int32)})),
        "object-weight": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight": np.array([None] * 8, object)})),
        "nan-weight": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight": np.full((8, 4), np.nan, np.float32)})),
        "inf-bias": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"2_bias": np.array([0, np.inf, 0], np.float32)})),
        "mask-wrong-shape": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight_mask": np.ones((2, 2), np.float32)})),
        "mask-of-7": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"0_weight_mask": np.full((8, 4), 7.0)})),
        "mask-without-param": lambda: write_npz(
            p / "a.npz", arrays=with_arrays(**{"1_weight_mask": np.ones((8, 4))})),
        "huge-net-small-arrays": lambda: write_npz(
            p / "huge.npz", huge_dense(), {"weight": np.zeros((8, 4), np.float32),
                                           "bias": np.zeros(8, np.float32)}),
        "huge-net-forged-npy": lambda: zip_of(p / "huge.npz", [
            ("__minicomp__.npy", npy_bytes((len(json.dumps(huge_dense())),), "|u1",
                                           json.dumps(huge_dense()).encode())),
            ("weight.npy", npy_bytes((2**23, 2**24))), ("bias.npy", npy_bytes((2**23,)))]),
        "bomb-member": lambda: patch_member(write_npz(p / "bomb.npz", compressed=True),
                                            "0.weight.npy", file_size=0xFFFFFF00),
        "bomb-header": lambda: patch_member(write_npz(p / "bomb.npz", compressed=True),
                                            "__minicomp__.npy", file_size=0xFFFFFF00),
        "deflate-bomb": lambda: deflate_bomb(p / "zeros.npz"),
        "stored-beyond-file": lambda: patch_member(write_npz(p / "big.npz"), "0.weight.npy",
                                                   file_size=10**9, compress_size=10**9),
        "encrypted-member": lambda: patch_member(write_npz(p / "enc.npz"), "0.bias.npy",
                                                 flags=1),
    }[bad]()


CASES = [  # (case, exception, pattern the message must contain: the path or the key)
    ("missing", FileNotFoundError, "nope.npz': no such file"),
    ("missing-dir-in-path", FileNotFoundError, "m.npz': no such file"),
    ("directory", IsADirectoryError, "is a directory"),
    ("empty", ValueError, "empty.npz' is empty"),
    ("fifo", ValueError, "pipe.npz' is not a regular file"),
    ("text", ValueError, "notes.npz' is not a readable minicomp model"),
    ("npy-not-npz", ValueError, "w.npy' is not a readable minicomp model"),
    ("truncated", ValueError, "cut.npz' is not a readable"),
    ("no-header", ValueError, "data.npz' is an .npz archive but not a minicomp model"),
    ("member-not-npy", ValueError, "member 'readme.txt'"),
    ("duplicate-member", ValueError, "member '__minicomp__.npy'"),
    ("header-not-json", ValueError, "h.npz' is not a readable.*JSONDecodeError"),
    ("header-not-utf8", ValueError, "h.npz' is not a readable.*UnicodeDecodeError"),
    ("header-a-list", ValueError, "h.npz': header holds list"),
    ("header-float-array", ValueError, "h.npz': header is a float64 array"),
    ("header-missing-model", ValueError, r"header holds \['format', 'version'\]"),
    ("header-extra-key", ValueError, r"header holds .*'pickle'"),
    ("wrong-format", ValueError, "has format 'torch'"),
    ("newer-version", ValueError, "version 2; .* up to 1"),
    ("version-bool", ValueError, "version True"),
    ("unknown-type", ValueError, "model is .*'Conv2d'"),
    ("model-not-a-dict", ValueError, r"model is '\[1\]'"),
    ("config-extra-key", ValueError, r"model \(MLP\): config has unexpected keys \['bias'\]"),
    ("config-missing-key", ValueError, r"model \(MLP\): config has missing keys \['init'\]"),
    ("sizes-zero", ValueError, r"model \(MLP\): sizes\[1\]=0"),
    ("sizes-string", ValueError, r"sizes\[1\]='8'"),
    ("sizes-float", ValueError, r"sizes\[1\]=8.0"),
    ("sizes-one", ValueError, r"sizes=\[4\]"),
    ("sizes-beyond-cap", ValueError, r"sizes\[1\]=1099511627776; .*<= 16777216"),
    ("activation-unknown", ValueError, "activation='gelu'"),
    ("init-unknown", ValueError, "init='zero'"),
    ("dropout-p", ValueError, r"model \(Dropout\): p=1.5"),
    ("layers-not-list", ValueError, r"model \(Sequential\): layers is a str"),
    ("nested-too-deep", ValueError, r"nested at most 32 deep"),
    ("widths-mismatch", ValueError, "w.npz' is not a readable .*takes 5 features but layer 0 "
                                    "gives 8"),
    ("unknown-array", ValueError, r"unexpected arrays \['9.weight'\]"),
    ("missing-array", ValueError, r"missing arrays \['2.bias'\]"),
    ("transposed-weight", ValueError, r"array '0.weight' has shape \(4, 8\)"),
    ("int-weight", ValueError, "array '0.weight' has shape .* dtype int32"),
    ("object-weight", ValueError, "member '0.weight.npy'"),
    ("nan-weight", ValueError, r"array '0.weight' contains nan at \[0, 0\]"),
    ("inf-bias", ValueError, r"array '2.bias' contains inf at \[1\]"),
    ("mask-wrong-shape", ValueError, r"array '0.weight.mask' has shape \(2, 2\)"),
    ("mask-of-7", ValueError, "mask '0.weight.mask' holds 7.0"),
    ("mask-without-param", ValueError, r"unexpected arrays \['1.weight.mask'\]"),
    ("huge-net-small-arrays", ValueError, r"array 'weight' has shape \(8, 4\)"),
    ("huge-net-forged-npy", ValueError, "member 'weight.npy' declares"),
    ("bomb-member", ValueError, "member '0.weight.npy' declares 4294967040 bytes"),
    ("bomb-header", ValueError, "member '__minicomp__.npy' declares 4294967040 bytes"),
    ("deflate-bomb", ValueError, "member 'weight.npy' declares 134217856 bytes from"),
    ("stored-beyond-file", ValueError, "member '0.weight.npy' declares 1000000000 bytes"),
    ("encrypted-member", ValueError, "member '0.bias.npy' is encrypted"),
]


@pytest.mark.parametrize("bad, error, pattern", CASES, ids=[c[0] for c in CASES])
def test_load_refuses_bad_file(tmp_path, bad, error, pattern):
    path = case(tmp_path, bad)
    before = sorted(os.listdir(tmp_path))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(error, match=pattern) as info:
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0                      # refused quickly ...
    assert peak < 20 * 2**20                                   # ... and without allocating
    assert str(path) in str(info.value)                        # the message names the file
    assert sorted(os.listdir(tmp_path)) == before              # load creates nothing


def test_crafted_header_refused_before_the_net_is_built(tmp_path, monkeypatch):
    """A 1 KB file demanding a 2**47-parameter Dense never reaches the constructor."""
    import minicomp.nn
    monkeypatch.setattr(minicomp.nn.Dense, "__init__", lambda *a, **k: pytest.fail("built"))
    path = case(tmp_path, "huge-net-small-arrays")
    assert os.path.getsize(path) < 2000
    with pytest.raises(ValueError, match="the architecture's shape"):
        load(path)


# ---- bad paths for save (and load) -----------------------------------------------------------

def save_case(p, bad):
    (p / "folder").mkdir()
    (p / "folder.npz").mkdir()
    (p / "taken.npz").mkdir()
    (p / "afile").write_text("x")
    return {
        "existing-dir": (p / "folder", IsADirectoryError, "folder' is a directory"),
        "trailing-separator": (str(p / "new") + os.sep, IsADirectoryError, "new/' is a dir"),
        "appended-name-is-dir": (p / "folder.npz", IsADirectoryError, "folder.npz' is a dir"),
        "dir-after-append": (p / "taken", IsADirectoryError, "taken.npz' is a directory"),
        "missing-parent": (p / "no" / "m.npz", FileNotFoundError, "the folder '.*/no' does not"),
        "parent-is-file": (p / "afile" / "m.npz", NotADirectoryError, "'.*afile' is not a folder"),
        "path-none": (None, TypeError, "save: path is a NoneType"),
        "path-int": (3, TypeError, "save: path is a int"),
        "path-empty": ("", ValueError, "save: path=''"),
        "path-nul": ("m\0.npz", ValueError, r"save: path='m\\x00.npz'"),
    }[bad]


SAVE_CASES = ["existing-dir", "trailing-separator", "appended-name-is-dir", "dir-after-append",
              "missing-parent", "parent-is-file", "path-none", "path-int", "path-empty",
              "path-nul"]


@pytest.mark.parametrize("bad", SAVE_CASES)
def test_save_refuses_bad_path(tmp_path, bad):
    path, error, pattern = save_case(tmp_path, bad)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(error, match=pattern):
        save(MLP([4, 3], seed=0), path)
    assert sorted(os.listdir(tmp_path)) == before              # nothing created, no 'folder.npz'
    assert os.listdir(tmp_path / "folder") == []


def test_load_refuses_non_path_and_hints_at_the_suffix(tmp_path):
    with pytest.raises(TypeError, match="load: path is a NoneType"):
        load(None)
    save(MLP([4, 3], seed=0), tmp_path / "model")
    with pytest.raises(FileNotFoundError, match=r"did you mean '.*model\.npz'"):
        load(tmp_path / "model")


# ---- killed writers -----------------------------------------------------------------------

KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from minicomp import MLP, save
    write_array = np.lib.format.write_array
    def write_then_die(*args, **kwargs):          # SIGKILL after the first array is written
        write_array(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    np.lib.format.write_array = write_then_die
    save(MLP([512, 2048, 2048, 10], seed=1), sys.argv[1])   # ~22 MB
""")


def temps(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".minicomp-"))


def test_killed_save_keeps_old_file_and_next_save_cleans_up(tmp_path):
    target = save(MLP([4, 3], seed=0), tmp_path / "m.npz")
    before = open(target, "rb").read()
    child = subprocess.Popen([sys.executable, "-c", KILLER, target], stderr=subprocess.PIPE)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err.decode()
    assert open(target, "rb").read() == before                 # the old model is intact
    (leftover,) = temps(tmp_path)                              # the dead writer's temp file,
    assert f"-{child.pid}-" in leftover                        # named after its pid,
    assert os.path.getsize(tmp_path / leftover) > 2**20        # killed mid-write
    with pytest.raises(ValueError, match=leftover):            # and it is no model
        load(tmp_path / leftover)
    old = time.time() - 10 * atomic.STALE_AFTER                # the crash was a while ago
    os.utime(tmp_path / leftover, (old, old))
    save(MLP([4, 3], seed=2), target)                          # the next save (a rerun)
    assert temps(tmp_path) == []
    assert os.listdir(tmp_path) == ["m.npz"]
    np.testing.assert_array_equal(load(target)[0].W.data, MLP([4, 3], seed=2)[0].W.data)


def fake_temp(folder, pid, age=60.0, host=None):
    path = folder / f".minicomp-{host or atomic._host_tag()}-{pid}-abcdef.tmp"
    path.write_bytes(b"partial")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def test_cleanup_never_touches_live_writers_symlinks_or_strangers(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = dead_pid()
        keep = [fake_temp(tmp_path, sleeper.pid),              # a live writer (other process)
                fake_temp(tmp_path, os.getpid()),              # this process (another thread)
                fake_temp(tmp_path, gone, host="00000000"),  # another host's pid space
                tmp_path / ".minicomp-oldstyle.tmp", tmp_path / "notes.tmp"]
        for k in keep[-2:]:                                    # not our naming: not ours
            k.write_bytes(b"x")
            os.utime(k, (0, 0))
        outside = tmp_path / "precious"
        outside.write_bytes(b"keep me")
        link = tmp_path / f".minicomp-{atomic._host_tag()}-{gone}-0badc0de.tmp"
        link.symlink_to(outside)
        os.utime(link, (0, 0), follow_symlinks=False)
        stale = fake_temp(tmp_path, gone)
        save(MLP([4, 3], seed=0), tmp_path / "m.npz")
        assert not stale.exists()                              # only the dead writer's file
        assert all(k.exists() for k in keep) and link.is_symlink()
        assert outside.read_bytes() == b"keep me"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_fresh_temp_file_of_a_dead_writer_waits_for_stale_after(tmp_path):
    fresh = fake_temp(tmp_path, dead_pid(), age=0.0)
    assert atomic.remove_stale_temps(tmp_path) == []
    os.utime(fresh, (0, 0))
    assert atomic.remove_stale_temps(tmp_path) == [str(fresh)]


# ---- modes -----------------------------------------------------------------------------------

@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask022", "umask077", "umask002"])
def test_new_file_gets_default_mode(tmp_path, umask, mask, expected):
    umask(mask)
    path = save(MLP([4, 3], seed=0), tmp_path / "m.npz")
    assert stat.S_IMODE(os.stat(path).st_mode) == expected     # 0o666 & ~umask, like open()
    with atomic_open(tmp_path / "t.txt", "w") as f:
        f.write("text")
    assert stat.S_IMODE(os.stat(tmp_path / "t.txt").st_mode) == expected


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600], ids=oct)
def test_existing_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o077)                                               # would give 0600 if ignored
    path = save(MLP([4, 3], seed=0), tmp_path / "m.npz")
    os.chmod(path, mode)
    save(MLP([4, 3], seed=1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    np.testing.assert_array_equal(load(path)[0].W.data, MLP([4, 3], seed=1)[0].W.data)


def test_atomic_open_refuses_bad_mode_and_target_before_creating(tmp_path):
    with pytest.raises(ValueError, match="atomic_open: mode='ab'"):
        with atomic_open(tmp_path / "x", "ab"):
            pass
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        with atomic_open(tmp_path):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mode", [0o444, 0o400])
def test_a_read_only_file_is_replaced_only_where_open_could_write_it(tmp_path, mode):
    path = save(MLP([4, 3], seed=0), tmp_path / "m.npz")
    os.chmod(path, mode)
    before = open(path, "rb").read()
    if os.access(path, os.W_OK):               # root (CAP_DAC_OVERRIDE): open() writes it too
        save(MLP([4, 3], seed=1), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode and open(path, "rb").read() != before
        return
    with pytest.raises(PermissionError, match=f"save: cannot write '{path}': the file is "
                                              "read-only"):
        save(MLP([4, 3], seed=1), path)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["m.npz"]


# ---- targets that are not regular files: refused, never replaced -------------------------

def make_special(path, kind):
    """A FIFO, a Unix socket or a copy of /dev/null at ``path`` (devices: root only)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(str(path))
        except OSError as e:                        # e.g. a path longer than 107 bytes
            pytest.skip(f"cannot bind a Unix socket at {path}: {e}")
        finally:
            sock.close()
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except OSError as e:
            pytest.skip(f"cannot create a character device (root with CAP_MKNOD only): {e}")
    return path


SPECIAL = {"fifo": ("a FIFO", stat.S_ISFIFO), "socket": ("a socket", stat.S_ISSOCK),
           "chardev": ("a character device", stat.S_ISCHR)}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_save_and_atomic_open_refuse_a_target_that_is_not_a_regular_file(tmp_path, kind):
    target = make_special(tmp_path / "m.npz", kind)
    word, is_kind = SPECIAL[kind]
    with pytest.raises(ValueError, match=f"save: '{target}' is {word}.*; expected a regular file"):
        save(MLP([4, 3], seed=0), target)
    with pytest.raises(ValueError, match=f"save: '{target}' is {word}"):
        save(MLP([4, 3], seed=0), tmp_path / "m")      # 'm' -> 'm.npz': checked as well
    with pytest.raises(ValueError, match=f"atomic_open: '{target}' is {word}"):
        with atomic_open(target):
            pass
    assert is_kind(os.lstat(target).st_mode)                 # still the node it was
    assert os.listdir(tmp_path) == ["m.npz"]                   # no temp file, no 'm.npz'


def test_save_refuses_dev_null_itself():
    if not os.path.exists("/dev/null") or not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("no /dev/null character device")
    with pytest.raises(ValueError, match="save: '/dev/null' is a character device"):
        save(MLP([4, 3], seed=0), "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("points_to", ["fifo", "file", "folder", "nothing"])
def test_every_writer_refuses_a_symlink_target_and_says_where_it_points(tmp_path, points_to):
    """os.replace would replace the link itself (``--out /dev/stdout`` once turned the
    system's link into a file): refused, link and target untouched, nothing written."""
    target = tmp_path / "target"
    if points_to == "fifo":
        make_special(target, "fifo")
    elif points_to == "file":
        target.write_bytes(b"keep me")
    elif points_to == "folder":
        target.mkdir()
    link = tmp_path / "m.npz"
    link.symlink_to(target)
    net = MLP([4, 3], seed=0)
    writers = [("save", lambda: save(net, link)), ("save", lambda: save(net, tmp_path / "m")),
               ("write_idx", lambda: write_idx(link, np.zeros(3, np.uint8))),
               ("atomic_open", lambda: atomic_open(link).__enter__())]
    for where, write in writers:
        with pytest.raises(ValueError, match=re.escape(
                f"{where}: '{link}' is a symbolic link (to '{target}')")):
            write()
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz"] + ["target"] * (points_to != "nothing"))
    if points_to == "file":
        assert target.read_bytes() == b"keep me"
    if points_to == "folder":
        assert os.listdir(target) == []


# ---- the temporary file is never the name in an error ------------------------------------

def test_a_failing_temp_file_is_reported_by_the_target_name(tmp_path, monkeypatch):
    def refuse(folder, mode):
        raise PermissionError(13, "Permission denied", os.path.join(folder, ".minicomp-x.tmp"))
    monkeypatch.setattr(atomic, "_create_temp", refuse)
    with pytest.raises(PermissionError) as info:
        save(MLP([4, 3], seed=0), tmp_path / "m.npz")
    message = str(info.value)
    assert message.startswith(f"save: cannot write '{tmp_path / 'm.npz'}'") and str(tmp_path) \
        in message and "Permission denied" in message and ".minicomp-" not in message
    assert info.value.errno == 13 and os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc file system")
def test_save_into_proc_names_the_target_not_a_temp_file():
    with pytest.raises(OSError, match="save: cannot write '/proc/m.npz'") as info:
        save(MLP([4, 3], seed=0), "/proc/m.npz")    # root: ENOENT; others: folder not writable
    assert ".minicomp-" not in str(info.value) and "'/proc'" in str(info.value)


# ---- read-only folders and files, as an unprivileged user ---------------------------------
# Root passes every os.access check, so when run as root each check runs in a forked child
# that drops to uid/gid 65534 (nobody); the modules it needs are imported above, before the
# fork. The shared folder is made under /tmp with mode 0777 so that nobody can reach it.

NOBODY = 65534
PRELOADED = (_grading_cli, _grade, _release, main)    # what the child runs, read before it


def as_unprivileged(fn):
    """``fn()`` in a forked child (as nobody when root): ``["ok", value]`` or ``[type, text]``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                            # the child: never returns
        try:
            os.close(read)
            try:
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setresgid(NOBODY, NOBODY, NOBODY)
                    os.setresuid(NOBODY, NOBODY, NOBODY)
            except OSError as e:
                result = ["skip", f"cannot drop to uid {NOBODY}: {e}"]
            else:
                try:
                    result = ["ok", fn()]
                except BaseException as e:  # noqa: BLE001 -- reported to the parent
                    result = [type(e).__name__, str(e)]
            os.write(write, json.dumps(result, default=repr).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    if result[0] == "skip":
        pytest.skip(result[1])
    return result


@pytest.fixture
def shared():
    """``/tmp/<new>`` (0777) holding ``ro/`` (0555) and ``m.npz`` (a model, 0444)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="minicomp-perm-", dir="/tmp"))
    try:
        os.chmod(root, 0o777)
        (root / "ro").mkdir(mode=0o555)
        os.chmod(root / "ro", 0o555)
        save(MLP([4, 3], seed=0), root / "m.npz")
        os.chmod(root / "m.npz", 0o444)
        yield root
    finally:
        for folder, dirs, _ in os.walk(root):
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(folder, d), 0o755)
        shutil.rmtree(root)


def cli(argv):
    """``main(argv)`` with stderr captured: ``(exit status, stderr)``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


def test_read_only_target_file_is_refused_like_open_would(shared):
    target = shared / "m.npz"
    before = target.read_bytes()
    net = MLP([4, 3], seed=1)
    for where, write in [("save", lambda: save(net, target)),
                         ("write_idx", lambda: write_idx(target, np.zeros(3, np.uint8))),
                         ("atomic_open", lambda: atomic_open(target).__enter__())]:
        kind, message = as_unprivileged(write)
        assert kind == "PermissionError", (where, kind, message)
        assert message.startswith(f"{where}: cannot write '{target}': the file is read-only")
    assert target.read_bytes() == before and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(os.listdir(shared)) == ["m.npz", "ro"]


def test_unwritable_folder_is_refused_naming_the_target_and_folder(shared):
    target = shared / "ro" / "m.npz"
    kind, message = as_unprivileged(lambda: save(MLP([4, 3], seed=0), target))
    assert kind == "PermissionError"
    assert message == (f"save: cannot write '{target}': its folder '{shared / 'ro'}' is not "
                       "writable by this user; expected a writable folder")
    assert os.listdir(shared / "ro") == []


def test_cli_train_and_release_refuse_an_unwritable_folder_before_any_work(shared,
                                                                           monkeypatch):
    import minicomp.train
    monkeypatch.setattr(minicomp.train, "train_baseline", None)    # training would crash
    target = shared / "ro" / "m.npz"
    kind, got = as_unprivileged(lambda: cli(["train", "--epochs", "1", "--save", str(target)]))
    assert kind == "ok", got
    code, err = got
    assert code == 2 and "Traceback" not in err
    assert f"--save: cannot write '{target}'" in err and "not writable" in err
    exercises = pathlib.Path(__file__).resolve().parents[1] / "exercises"
    out = shared / "ro" / "rel"
    kind, got = as_unprivileged(lambda: cli(["release", str(exercises), str(out)]))
    assert kind == "ok", got
    code, err = got
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert f"minicomp release: error: out='{out}'" in err and "not writable" in err
    kind, message = as_unprivileged(lambda: _release.release(exercises, out))   # the library
    assert kind == "PermissionError" and f"out: cannot write '{out}" in message
    assert os.listdir(shared / "ro") == []


def test_release_over_a_read_only_file_writes_nothing(shared):
    exercises = pathlib.Path(__file__).resolve().parents[1] / "exercises"
    (shared / "rel" / "01_autograd").mkdir(parents=True)
    for folder in (shared / "rel", shared / "rel" / "01_autograd"):
        os.chmod(folder, 0o777)                             # writable by nobody
    locked = shared / "rel" / "01_autograd" / "tests.py"
    locked.write_text("an older release\n")
    os.chmod(locked, 0o444)
    kind, message = as_unprivileged(lambda: _release.release(exercises, shared / "rel"))
    assert kind == "PermissionError", message
    assert message.startswith(f"out: cannot write '{locked}': the file is read-only")
    assert [p.name for p in (shared / "rel").rglob("*")] == ["01_autograd", "tests.py"]
    assert locked.read_text() == "an older release\n"


def test_cli_grade_refuses_a_read_only_out_before_grading(shared):
    exercises = pathlib.Path(__file__).resolve().parents[1] / "exercises" / "01_autograd"
    kind, got = as_unprivileged(lambda: cli(["grade", str(shared / "ro"), "--exercises",
                                             str(exercises), "--out", str(shared / "m.npz")]))
    assert kind == "ok", got
    code, err = got
    assert code == 2 and "Traceback" not in err
    assert f"--out='{shared / 'm.npz'}'" in err and "read-only" in err
    assert sorted(os.listdir(shared)) == ["m.npz", "ro"]
