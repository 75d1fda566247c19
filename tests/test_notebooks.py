"""Tests of the course notebooks in ``chapters/``.

Each chapter's source is ``chapters/NN_name.py``, a jupytext percent-format
script (markdown in ``# %% [markdown]`` comment cells, code as code); the
notebook ``chapters/NN_name.ipynb`` next to it is what students open. Every
notebook is picked up automatically and must

1. have a ``.py`` source, and every ``.py`` in ``chapters/`` a notebook;
2. hold exactly the cells (type and source) jupytext reads from its
   source, so the two never drift;
3. be stored without outputs and execution counts;
4. keep every cell line within ``MAX_COLUMNS`` columns (STYLE.md);
5. execute top to bottom in a fresh kernel, in a temporary working
   directory, within ``TIME_LIMIT`` seconds.

One chapter also runs as a plain script (``python chapters/NN_name.py``).
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
CHAPTER_DIR = ROOT / "chapters"
CHAPTERS = sorted(CHAPTER_DIR.glob("*.ipynb"))
SOURCES = sorted(CHAPTER_DIR.glob("*.py"))
TIME_LIMIT = 90.0          # seconds, wall time of a whole notebook run
MAX_COLUMNS = 78
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SYNC = "jupytext --update --to ipynb chapters/{name}.py"

chapters = pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])


def _read(path):
    return nbformat.read(str(path), as_version=4)


def _env():
    """This process's environment, with this checkout first on PYTHONPATH
    (so `import minicomp` works even when the package is not installed)."""
    pythonpath = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + ([pythonpath] if pythonpath else []))}


def test_every_notebook_has_a_source_and_vice_versa():
    notebooks = {p.stem for p in CHAPTERS}
    sources = {p.stem for p in SOURCES}
    assert notebooks, "no chapters/*.ipynb found"
    assert not notebooks - sources, (
        f"notebook(s) without a chapters/<name>.py source: "
        f"{sorted(notebooks - sources)}")
    assert not sources - notebooks, (
        f"source(s) without a notebook: {sorted(sources - notebooks)}; "
        f"write it with `jupytext --to ipynb chapters/<name>.py`")


@chapters
def test_notebook_in_sync_with_source(path):
    jupytext = pytest.importorskip("jupytext")
    source = path.with_suffix(".py")
    if not source.exists():
        pytest.fail(f"{path.name} has no source {source.name}", pytrace=False)
    stored, fresh = _read(path).cells, jupytext.read(str(source)).cells
    sync = SYNC.format(name=path.stem)
    for i, (a, b) in enumerate(zip(stored, fresh)):
        assert (a.cell_type, a.source) == (b.cell_type, b.source), (
            f"{path.name}: cell {i} differs from {source.name}; after "
            f"editing the source run `{sync}`.\n"
            f"--- notebook ({a.cell_type}):\n{a.source}\n"
            f"--- source ({b.cell_type}):\n{b.source}")
    assert len(stored) == len(fresh), (
        f"{path.name} has {len(stored)} cells but {source.name} has "
        f"{len(fresh)}; run `{sync}`")


@chapters
def test_stored_without_outputs(path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("outputs") == [], (
            f"{path.name}: cell {i} is stored with outputs; clear them "
            f"(JupyterLab: Edit > Clear Outputs of All Cells, then save)")
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
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel inherits this process's environment.
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
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


def test_chapter_runs_as_plain_script(tmp_path):
    # Only one chapter, the fastest (~6 s): test_notebook_executes already
    # runs the code of every chapter, and the cells equal the sources'
    # (test_notebook_in_sync_with_source). This checks what the kernel
    # would hide: IPython-only syntax (magics, `display` without import)
    # that plain `python chapters/NN_name.py` cannot run.
    source = CHAPTER_DIR / "03_quantization.py"
    run = subprocess.run(
        [sys.executable, str(source)], cwd=tmp_path, capture_output=True,
        text=True, timeout=TIME_LIMIT, env={**_env(), "MPLBACKEND": "Agg"})
    assert run.returncode == 0, (
        f"`python chapters/{source.name}` failed:\n{run.stdout[-2000:]}\n"
        f"{run.stderr[-4000:]}")
