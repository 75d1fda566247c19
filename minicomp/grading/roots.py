"""What the student process may read: the read-only roots given to Landlock.

The sandbox must read Python, its standard library, NumPy, the system's
shared libraries and its own folder. Everything else stays unreadable,
and so does every package an exercise forbids (``FORBIDDEN_IMPORTS``):
its folder is left out of the roots, so that the code cannot be imported
by any route -- not by removing the import guard, nor by putting another
package folder on ``sys.path``, nor by loading its files by path. So the
forbidden packages are looked for in *every* package folder a root may
hold (:func:`package_dirs`): the environment's own, the base
installation's (``sys.base_prefix``: a red team imported scipy from
there), the system's ``dist-packages``, any ``site-packages`` or
``dist-packages`` found within :data:`MAX_DEPTH` levels of a root, every
``sys.path`` entry and every folder a ``.pth`` file adds. Landlock
grants a path with everything beneath it, so a root that holds a hidden
package is replaced by its entries, recursively, minus the hidden ones.
Deviation: a package folder deeper than :data:`MAX_DEPTH` beneath a root,
or one with another name, is not searched.

Examples
--------
>>> import numpy
>>> any(numpy.__file__.startswith(r + "/") for r in read_only_roots())
True
"""
from __future__ import annotations

import ast
import functools
import glob
import os
import re
import site
import sys

import numpy as np

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # minicomp/
SYSTEM_ROOTS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/dev/urandom", "/dev/random")
MAX_ROOTS = 4096                       # Landlock rules: far more than a site-packages needs
PACKAGE_FOLDERS = ("site-packages", "dist-packages")
MAX_DEPTH = 6                          # /usr/local/lib/python3.11/dist-packages is at 4
EDITABLE = re.compile(r"^MAPPING\s*(?::[^=\n]*)?=\s*(\{.*?\})\s*$", re.M | re.S)


def _pth_dirs(folder: str) -> set:
    """Folders a ``.pth`` file of ``folder`` adds, and those an editable finder maps."""
    found = set()
    for pth in glob.glob(os.path.join(glob.escape(folder), "*.pth")):
        try:
            with open(pth, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        found |= {os.path.join(folder, line.rstrip()) for line in lines if line.strip()
                  and not line.startswith(("#", "import ", "import\t"))}
    for finder in glob.glob(os.path.join(glob.escape(folder), "__editable__*finder.py")):
        try:
            with open(finder, encoding="utf-8", errors="replace") as f:
                match = EDITABLE.search(f.read())
            mapping = ast.literal_eval(match.group(1)) if match else {}
        except (OSError, ValueError, SyntaxError):
            continue
        found |= {os.path.dirname(p) for p in mapping.values() if isinstance(p, str)}
    return found


@functools.lru_cache(maxsize=16)
def _walk(roots: tuple) -> tuple:
    """Folders named ``site-packages`` / ``dist-packages`` within MAX_DEPTH levels."""
    found, stack = [], [(r, 0) for r in roots]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue                  # a file, or a folder the grader cannot list
        for e in entries:
            if e.name in PACKAGE_FOLDERS and e.is_dir():
                found.append(e.path)
            elif depth < MAX_DEPTH and e.is_dir(follow_symlinks=False):
                stack.append((e.path, depth + 1))
    return tuple(found)


def package_dirs(roots=()) -> list:
    """Every folder Python may import top-level packages from, as real paths.

    Parameters
    ----------
    roots : iterable of str
        Searched, to :data:`MAX_DEPTH` levels without following links,
        for folders named ``site-packages`` or ``dist-packages``:
        ``lib/python3*/site-packages`` of a prefix, Debian's
        ``lib/python3/dist-packages`` and ``local/lib/python3*/dist-packages``,
        a bundled Python's. The result is cached per tuple of roots.

    Notes
    -----
    Also ``site.getsitepackages()``, NumPy's folder, every ``sys.path``
    folder, and, from each folder found, the ones its ``.pth`` files add
    and its editable installs map to.
    """
    roots = sorted(os.path.realpath(r) for r in roots)
    tops = tuple(r for r in roots if not any(r.startswith(o.rstrip("/") + "/") for o in roots))
    found = {*site.getsitepackages(), os.path.dirname(os.path.dirname(np.__file__)),
             *(p for p in sys.path if p), *_walk(tops)}
    found = {os.path.realpath(d) for d in found if os.path.isdir(d)}
    for d in list(found):
        found |= {os.path.realpath(p) for p in _pth_dirs(d) if os.path.isdir(p)}
    return sorted(found)


def _base_roots() -> list:
    roots = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
             PACKAGE_DIR, *SYSTEM_ROOTS, *site.getsitepackages(),
             os.path.dirname(os.path.dirname(np.__file__))}
    return sorted({os.path.realpath(p) for p in roots if os.path.exists(p)})


def hidden_paths(forbid, roots=None) -> set:
    """Real paths of the forbidden packages in every package folder of ``roots``.

    An entry ``name`` or ``name.<anything>`` (``name.py``, ``name.libs``,
    ``name.cpython-311-x86_64-linux-gnu.so``) is hidden; ``minicomp``'s
    own folder too when it is forbidden.
    """
    forbid = set(forbid)
    hidden = {os.path.realpath(PACKAGE_DIR)} if "minicomp" in forbid else set()
    if not forbid:
        return hidden
    for d in package_dirs(_base_roots() if roots is None else roots):
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        hidden |= {os.path.realpath(os.path.join(d, e)) for e in entries
                   if e.partition(".")[0] in forbid}
    return hidden


def _without(root: str, hidden: set, out: list) -> None:
    """Append ``root``, or its entries minus ``hidden`` when a hidden path lies beneath."""
    if root in hidden:
        return
    if not any(h.startswith(root.rstrip("/") + "/") for h in hidden) or not os.path.isdir(root):
        out.append(root)
        return
    for entry in sorted(os.listdir(root)):
        _without(os.path.realpath(os.path.join(root, entry)), hidden, out)


def read_only_roots(forbid=()) -> list:
    """Paths the student process may read (and execute), with everything beneath them.

    Parameters
    ----------
    forbid : iterable of str
        Top-level package names whose files must stay unreadable.
    """
    roots = _base_roots()
    hidden = hidden_paths(forbid, roots)
    out = []
    for root in roots:
        _without(root, hidden, out)
    out = sorted(set(out))
    if len(out) > MAX_ROOTS:
        raise OSError(f"the sandbox would need {len(out)} read-only roots to hide {sorted(forbid)}"
                      f"; at most {MAX_ROOTS}")
    return out


def readable_root(path) -> str | None:
    """The read-only root that makes ``path`` visible to students, or None."""
    real = os.path.realpath(path)
    for root in read_only_roots():
        if real == root or real.startswith(root.rstrip("/") + "/"):
            return root
    return None
