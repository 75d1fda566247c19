"""Lint: pyflakes over the package, the tests, the exercises and the chapter
sources, and the 78-column rule (STYLE.md) on the chapter sources.

pyflakes finds what a reader trips over and the tests may not: unused
imports and variables, undefined names, redefinitions. The chapter sources
``chapters/NN_name.py`` are plain Python (jupytext percent format), so they
are linted like the package.
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("pyflakes")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "chapters").glob("*.py"))
MAX_COLUMNS = 78
MAGIC = re.compile(r"# %%?[A-Za-z]")   # a magic, as jupytext comments it


@pytest.mark.parametrize("target", ["minicomp", "tests", "exercises", "chapters"])
def test_pyflakes_reports_nothing(target):
    paths = ([str(p.relative_to(ROOT)) for p in SOURCES]
             if target == "chapters" else [target])
    assert paths, "no chapters/*.py found"
    run = subprocess.run([sys.executable, "-m", "pyflakes", *paths],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = (run.stdout + run.stderr).strip()
    assert run.returncode == 0 and not report, (
        f"pyflakes on {target}/:\n{report}")


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_chapter_source_fits_in_78_columns(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if MAGIC.match(line):
            continue                    # `# %timeit ...`, `# %%time` etc.
        assert len(line) <= MAX_COLUMNS, (
            f"chapters/{path.name}:{n} has {len(line)} columns "
            f"(max {MAX_COLUMNS}):\n{line}")
