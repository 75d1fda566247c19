"""What the student process may read: the read-only roots given to Landlock.

The sandbox must read Python, its standard library, NumPy, the system's
shared libraries and its own folder. Everything else stays unreadable,
and so does every package an exercise forbids (``FORBIDDEN_IMPORTS``):
its folder is left out of the roots, so that the code cannot be imported
by any route -- not by removing the import guard, nor by loading its
files by path. Landlock grants a path with everything beneath it, so a
root that holds a hidden package (a virtual environment, site-packages)
is replaced by its entries, recursively, minus the hidden ones.

Examples
--------
>>> import numpy
>>> any(numpy.__file__.startswith(r + "/") for r in read_only_roots())
True
"""
from __future__ import annotations

import os
import site
import sys

import numpy as np

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # minicomp/
SYSTEM_ROOTS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/dev/urandom", "/dev/random")
MAX_ROOTS = 4096                       # Landlock rules: far more than a site-packages needs


def _site_dirs() -> list:
    dirs = set(site.getsitepackages()) | {os.path.dirname(os.path.dirname(np.__file__))}
    return sorted(os.path.realpath(d) for d in dirs if os.path.isdir(d))


def hidden_paths(forbid) -> set:
    """Real paths of the forbidden packages: ``pkg/``, ``pkg.py``, ``pkg.libs/``."""
    hidden = {os.path.realpath(PACKAGE_DIR)} if "minicomp" in forbid else set()
    for d in _site_dirs():
        for name in forbid:
            for entry in (name, name + ".py", name + ".libs"):
                if os.path.lexists(os.path.join(d, entry)):
                    hidden.add(os.path.realpath(os.path.join(d, entry)))
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
    roots = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
             PACKAGE_DIR, *SYSTEM_ROOTS, *_site_dirs()}
    roots = sorted({os.path.realpath(p) for p in roots if os.path.exists(p)})
    hidden = hidden_paths(forbid)
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
