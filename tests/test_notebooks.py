"""Tests of the course notebooks in ``chapters/``.

Every ``chapters/*.ipynb`` is picked up automatically and must

1. be stored without outputs and execution counts;
2. execute top to bottom in a fresh kernel, in a temporary working
   directory, within ``TIME_LIMIT`` seconds;
3. equal what its generator ``chapters/make_<name>.py`` writes, if it has
   one (so the reviewable Python source and the notebook never drift);
4. keep every cell line within ``MAX_COLUMNS`` columns (STYLE.md).
"""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
TIME_LIMIT = 90.0          # seconds, wall time of a whole notebook run
MAX_COLUMNS = 78
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

chapters = pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])


def _read(path):
    return nbformat.read(str(path), as_version=4)


@chapters
def test_stored_without_outputs(path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("outputs") == [], (
            f"{path.name}: cell {i} is stored with outputs; clear them "
            f"(or rebuild the notebook from its make_*.py script)")
        assert cell.get("execution_count") is None, (
            f"{path.name}: cell {i} is stored with execution_count="
            f"{cell.get('execution_count')}; expected None")


@chapters
def test_lines_fit_in_78_columns(path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        for n, line in enumerate(cell.source.splitlines(), 1):
            assert len(line) <= MAX_COLUMNS, (
                f"{path.name}: cell {i}, line {n} has {len(line)} columns "
                f"(max {MAX_COLUMNS}):\n{line}")


@chapters
def test_generator_reproduces_notebook(path, tmp_path):
    maker = path.with_name(f"make_{path.stem}.py")
    if not maker.exists():
        pytest.skip(f"{path.name} has no generator {maker.name}")
    out = tmp_path / path.name
    run = subprocess.run([sys.executable, str(maker), "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{maker.name} failed:\n{run.stdout}\n{run.stderr}"
    stored, fresh = _read(path).cells, _read(out).cells
    for i, (a, b) in enumerate(zip(stored, fresh)):
        assert (a.cell_type, a.source) == (b.cell_type, b.source), (
            f"{path.name}: cell {i} differs from what {maker.name} writes; "
            f"run `python chapters/{maker.name}` to rebuild the notebook.\n"
            f"--- stored ({a.cell_type}):\n{a.source}\n"
            f"--- generated ({b.cell_type}):\n{b.source}")
    assert len(stored) == len(fresh), (
        f"{path.name} has {len(stored)} cells but {maker.name} writes "
        f"{len(fresh)}; run `python chapters/{maker.name}` to rebuild it")


@chapters
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel inherits this process's environment: make `import minicomp`
    # find this checkout even when the package is not installed.
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + ([pythonpath] if pythonpath else [])))
    nb = _read(path)
    client = nbclient.NotebookClient(
        nb, timeout=TIME_LIMIT, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}})   # cwd of the kernel
    start, failure = time.perf_counter(), None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        index = next((i for i, c in enumerate(nb.cells)
                      if any(o.get("output_type") == "error"
                             for o in c.get("outputs", []))), None)
        failure = f"{path.name}: cell {index} raised an error.\n{ANSI.sub('', str(err))}"
    except nbclient.exceptions.CellTimeoutError as err:
        failure = f"{path.name}: a cell ran longer than {TIME_LIMIT} s: {err}"
    if failure:                     # outside `except`: no chained traceback
        pytest.fail(failure, pytrace=False)
    seconds = time.perf_counter() - start
    print(f"{path.name}: executed in {seconds:.1f} s")
    assert seconds <= TIME_LIMIT, (
        f"{path.name} took {seconds:.1f} s to execute; the limit is "
        f"{TIME_LIMIT} s (chapters should run in under 60 s)")
