"""``minicomp release``: the student version of the exercises.

nbgrader's markers, in plain ``.py`` files:

* ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError`` (same indentation);
* ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is dropped, and
  so is every ``@case(..., hidden=True)`` function outside such a block.

Everything is built in memory and checked before a single file is
written: an unbalanced marker, a surviving marker, a surviving line of a
solution or the name of a hidden case anywhere in the output is an error
and nothing is written.
"""
from __future__ import annotations

import ast
import os

from ..atomic import atomic_open

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MARKERS = SOLUTION + HIDDEN
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def _blocks(lines, markers, path):
    """(begin, end) line indices of each marked block; ValueError if unbalanced."""
    begin_marker, end_marker = markers
    blocks, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == begin_marker:
            if start is not None:
                raise ValueError(f"{path}:{i + 1}: {begin_marker!r} inside the block "
                                 f"opened at line {start + 1}")
            start = i
        elif text == end_marker:
            if start is None:
                raise ValueError(f"{path}:{i + 1}: {end_marker!r} without {begin_marker!r}")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"{path}:{start + 1}: {begin_marker!r} is never closed")
    return blocks


def strip_solutions(text: str, path: str = "<text>") -> str:
    """Replace every solution block by ``# YOUR CODE HERE`` + ``raise NotImplementedError``.

    Raises
    ------
    ValueError
        If a marker is unbalanced; the message names ``path`` and the line.

    Examples
    --------
    >>> print(strip_solutions('''def f(x):
    ...     ### BEGIN SOLUTION
    ...     return 2 * x
    ...     ### END SOLUTION
    ... '''), end="")
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError
    """
    lines = text.splitlines(keepends=True)
    out, last = [], 0
    for begin, end in _blocks(lines, SOLUTION, path):
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin] + [f"{indent}# YOUR CODE HERE\n",
                                    f"{indent}raise NotImplementedError\n"]
        last = end + 1
    return "".join(out + lines[last:])


def hidden_case_names(text: str, path: str = "<text>") -> list:
    """Names of the functions decorated with ``@case(..., hidden=True)``."""
    names = []
    for node in ast.walk(ast.parse(text, path)):
        if isinstance(node, ast.FunctionDef) and any(_is_hidden(d) for d in node.decorator_list):
            names.append(node.name)
    return names


def _is_hidden(decorator) -> bool:
    return isinstance(decorator, ast.Call) and any(
        k.arg == "hidden" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
        for k in decorator.keywords)


def strip_hidden(text: str, path: str = "<text>") -> str:
    """Drop hidden-test blocks and every ``@case(hidden=True)`` function."""
    lines = text.splitlines(keepends=True)
    drop = set()
    for begin, end in _blocks(lines, HIDDEN, path):
        drop.update(range(begin, end + 1))
    for node in ast.walk(ast.parse(text, path)):
        if isinstance(node, ast.FunctionDef) and any(_is_hidden(d) for d in node.decorator_list):
            first = min(d.lineno for d in node.decorator_list) - 1
            drop.update(range(first, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def _secrets(text: str, path: str) -> list:
    """Text that must not reach the students: solution lines and hidden names."""
    lines = text.splitlines()
    inside = set()
    for begin, end in _blocks(lines, SOLUTION, path) + _blocks(lines, HIDDEN, path):
        inside.update(range(begin + 1, end))
    outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    secret = [lines[i].strip() for i in sorted(inside)
              if len(lines[i].strip()) >= 8 and not lines[i].strip().startswith("#")
              and lines[i].strip() not in outside]
    return secret + [f"def {name}(" for name in hidden_case_names(text, path)]


def build_release(src) -> dict:
    """The student version of ``src`` as ``{relative path: bytes}``, checked.

    Raises
    ------
    ValueError
        If a marker is unbalanced or anything secret survives.
    FileNotFoundError
        If ``src`` is not a directory.
    """
    src = os.fspath(src)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"src: {src!r} is not a directory of exercises")
    released, secrets = {}, []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, src)
            with open(path, "rb") as f:
                data = f.read()
            if name.endswith((".py", ".md", ".txt")):
                text = data.decode("utf-8")
                if name.endswith(".py"):
                    secrets += [(rel, s) for s in _secrets(text, path)]
                    text = strip_hidden(strip_solutions(text, path), path)
                data = text.encode("utf-8")
            released[rel] = data
    _check(released, secrets)
    return released


def _check(released: dict, secrets: list) -> None:
    for rel, data in released.items():
        text = data.decode("utf-8", errors="replace")
        for marker in MARKERS if rel.endswith(".py") else ():   # docs may show them
            if marker in text:
                raise ValueError(f"release: marker {marker!r} survives in {rel}")
        for origin, secret in secrets:
            if secret in text:
                raise ValueError(f"release: {secret!r} from {origin} (solution or hidden "
                                 f"test) would survive in {rel}; nothing was written")
        if rel.endswith(".py"):
            compile(text, rel, "exec")


def release(src, out) -> list:
    """Write the student version of the exercises in ``src`` to ``out``.

    Returns
    -------
    list of str
        The paths written.
    """
    released = build_release(src)
    written = []
    for rel, data in released.items():
        path = os.path.join(os.fspath(out), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_open(path) as f:
            f.write(data)
        written.append(path)
    return written
