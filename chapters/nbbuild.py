"""Shared builder of the chapter notebooks (used by every ``make_*.py``).

A chapter's source is a Python script that calls :meth:`Chapter.md` and
:meth:`Chapter.code` once per cell, then :meth:`Chapter.main`; the script
writes the ``.ipynb`` without outputs, with deterministic cell ids, and
refuses lines longer than 78 columns (STYLE.md). ``tests/test_notebooks.py``
checks that each stored notebook equals what its script writes.
"""
from __future__ import annotations

import argparse
import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

MAX_COLUMNS = 78


class Chapter:
    """Cells of one notebook, and the command line that writes it.

    Parameters
    ----------
    out : path
        Default output path (``chapters/NN_name.ipynb``).
    """

    def __init__(self, out):
        self.out = pathlib.Path(out)
        self.cells: list = []

    def md(self, text: str) -> None:
        """Append a markdown cell (leading/trailing blank lines dropped)."""
        self.cells.append(new_markdown_cell(text.strip("\n")))

    def code(self, text: str) -> None:
        """Append a code cell (leading/trailing blank lines dropped)."""
        self.cells.append(new_code_cell(text.strip("\n")))

    def build(self) -> nbformat.NotebookNode:
        """The notebook: the cells so far, no outputs, deterministic cell ids."""
        nb = new_notebook(cells=self.cells, metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        })
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{i:03d}"
            too_long = [n for n, line in enumerate(cell.source.splitlines(), 1)
                        if len(line) > MAX_COLUMNS]
            if too_long:
                raise SystemExit(f"cell {i}: line(s) {too_long} longer than "
                                 f"{MAX_COLUMNS} columns:\n{cell.source}")
        nbformat.validate(nb)
        return nb

    def main(self, argv=None, description: str = "") -> None:
        """Command line: ``python chapters/make_NN_name.py [--out PATH]``."""
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--out", type=pathlib.Path, default=self.out,
                            help=f"where to write the notebook (default: "
                                 f"{self.out})")
        args = parser.parse_args(argv)
        nbformat.write(self.build(), str(args.out))
        print(f"wrote {args.out} ({len(self.cells)} cells)")
