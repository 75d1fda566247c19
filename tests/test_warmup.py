"""``minicomp warmup``: every kernel compiled ahead of time (no timing asserted)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minicomp import kernels
from minicomp.cli import main
from minicomp.kernels import dispatch as D
from minicomp.kernels import sparse as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_warmup_compiles_every_sparse_design(tmp_path, monkeypatch):
    cache = tmp_path / "dispatch.json"
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", str(cache))
    D.clear()
    times = kernels.warmup(["sparse"])
    assert list(times) == ["sparse"] and times["sparse"] > 0
    assert all(kernel.signatures for kernel in S.KERNELS.values()), [
        name for name, kernel in S.KERNELS.items() if not kernel.signatures]
    assert os.environ["MINICOMP_DISPATCH_CACHE"] == str(cache)       # restored
    assert not cache.exists()                          # toy-shape decisions stay in memory
    D.clear()


def test_warmup_refuses_an_unknown_family():
    with pytest.raises(ValueError, match=r"'gpu'.*sparse, int8, fused, nm, ternary"):
        kernels.warmup(["gpu"])
    with pytest.raises(ValueError, match=r"jobs=0; expected an integer >= 1"):
        kernels.warmup(["nm"], jobs=0)


def test_warmup_in_parallel_processes(tmp_path, monkeypatch):
    # two spawned interpreters compile the parts into a shared Numba cache
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setenv("PYTHONPATH", ROOT)
    times = kernels.warmup(["nm", "ternary"], jobs=2)
    assert list(times) == ["nm", "ternary"] and all(t > 0 for t in times.values())
    assert list((tmp_path / "numba").rglob("*.nbi"))           # the cache was written
    assert "MINICOMP_DISPATCH_CACHE" not in os.environ or os.environ[
        "MINICOMP_DISPATCH_CACHE"] != "off"


def test_cli_warmup(capsys):
    assert main(["warmup", "--only", "sparse, ternary", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "sparse" in out and "ternary" in out and "compiled" in out
    assert main(["warmup", "--only", "sparse,gpu"]) == 2
    assert "unknown kernel family 'gpu'" in capsys.readouterr().err


def test_import_minicomp_kernels_loads_no_numba():
    code = "import sys, minicomp.kernels\nprint('numba' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_first_sparse_call_imports_no_scipy_linalg(tmp_path):
    pytest.importorskip("scipy")                       # np.dot in Numba needs SciPy's BLAS
    # Numba would import scipy.linalg (0.3 s) on its first cached load; the sparse
    # kernels defer that, and np.dot in a kernel still works (SciPy imported then)
    code = ("import sys, numpy as np, numba\n"
            "import minicomp.kernels.sparse as S\n"
            "S.sparse_linear(np.ones((1, 3), np.float32), S.to_csr(np.eye(3)))\n"
            "print('scipy.linalg' in sys.modules)\n"
            "f = numba.njit(lambda a: np.dot(a, a))\n"
            "print(f(np.ones((2, 2))).sum())\n")
    env = dict(os.environ, PYTHONPATH=ROOT, MINICOMP_DISPATCH_CACHE=str(tmp_path / "d.json"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    assert out.stdout.split() == ["False", "8.0"]
