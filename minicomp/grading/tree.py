"""Remove a folder that hostile code wrote into: no recursion, no link followed.

A student process may leave a tree thousands of folders deep in its
sandbox folder: ``shutil.rmtree`` recurses once per level (and fails with
``RecursionError``), and the tree's full paths exceed ``PATH_MAX``. This
removes it level by level from the top instead: every folder directly
beneath the top is emptied by unlinking its files and *moving* its
subfolders up to the top (a rename between two open folders, never a
path walk), then removed; repeat until the top is empty. Two descriptors
are open at any time, whatever the depth; a link is removed, never
followed.

Examples
--------
>>> import tempfile
>>> top = tempfile.mkdtemp()
>>> deep = os.path.join(top, *["d"] * 50)
>>> os.makedirs(deep); open(os.path.join(deep, "f"), "w").close()
>>> remove_tree(top); os.path.exists(top)
False
"""
from __future__ import annotations

import itertools
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _is_dir(name: str, dir_fd: int) -> bool:
    return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _open_dir(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:           # a folder made unreadable: ours to open again
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def remove_tree(path) -> None:
    """Remove ``path`` and everything beneath it (a missing path is fine)."""
    try:
        top = os.open(path, DIR_FLAGS)
    except FileNotFoundError:
        return
    fresh = (f".minicomp-flat-{k}" for k in itertools.count())
    try:
        while names := os.listdir(top):
            for name in names:
                if not _is_dir(name, top):
                    os.unlink(name, dir_fd=top)
                    continue
                sub = _open_dir(name, top)
                try:
                    for child in os.listdir(sub):
                        if not _is_dir(child, sub):
                            os.unlink(child, dir_fd=sub)
                            continue
                        target = next(n for n in fresh if not _exists(n, top))
                        os.rename(child, target, src_dir_fd=sub, dst_dir_fd=top)
                finally:
                    os.close(sub)
                os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)
