"""Read a student's submission without following a link, at any depth.

The grader reads what a student handed in through directory descriptors
opened with ``O_NOFOLLOW``: a folder or file that is a symbolic link is
never followed, and a submission that holds one anywhere -- or a hard
link, which an unpacked archive can point at the instructor's files, or a
tree too big to search -- is refused as a whole (:class:`SymlinkRefused`,
status ``symlink``), naming the path. Only the regular files directly in
an exercise folder are read (never ``tests.py``, at most 1 MB each).
"""
from __future__ import annotations

import dataclasses
import errno
import os
import stat

MAX_FILE_BYTES = 1 << 20
MAX_SCANNED = 10000                    # entries of an exercise folder searched for links
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC   # a FIFO never blocks


@dataclasses.dataclass(frozen=True)
class SymlinkRefused:
    """A submission that holds a link (or cannot be shown to hold none): it scores 0.

    Hard links count: one to the instructor's files (an archive unpacked
    with its links) would hand in the solution or show the hidden tests.
    """

    path: str                          # relative to the student folder (or its own name)
    why: str = "a symbolic link"       # or "a hard link", or too big to check

    @property
    def message(self) -> str:
        return (f"{self.path!r} is {self.why}: submissions are read without following "
                "links, so this exercise was not run; hand in real files and folders")


def read_student_files(folder):
    """The regular files directly in ``folder`` (never tests.py), without following links.

    Returns
    -------
    dict of str to bytes, or None, or SymlinkRefused
        None when ``folder`` is missing or no directory; a
        :class:`SymlinkRefused` naming the first link found in ``folder``
        (itself included) at any depth. Files over 1 MB, special files
        and subfolders are not read.
    """
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_exercise(parent_fd, name, name)
    finally:
        os.close(parent_fd)


def read_submission(student_dir, exercise_names) -> dict:
    """Read one student's folder: ``{exercise name: files | None | SymlinkRefused}``.

    The folder itself is opened without following a link: if it is one,
    every exercise is refused, naming it. Each exercise folder is then read
    as by :func:`read_student_files` (paths named relative to the student
    folder). A link anywhere in the student folder, even beside the
    exercise folders, refuses the whole submission (EXERCISES.md, rule 7):
    other entries are never read, but a submission holding a link is not
    graded.
    """
    student_dir = os.path.abspath(os.fspath(student_dir))
    me = os.path.basename(student_dir)
    try:
        fd = os.open(student_dir, DIR_FLAGS)
    except OSError as e:
        link = e.errno == errno.ELOOP or os.path.islink(student_dir)
        return {n: SymlinkRefused(me) if link else None for n in exercise_names}
    try:
        link = _find_link(fd, ".", [MAX_SCANNED], 0)      # "./a/b": relative to the folder
        if link is not None:
            link = dataclasses.replace(link, path=link.path[2:])
            return {n: link for n in exercise_names}
        return {n: _read_exercise(fd, n, n) for n in exercise_names}
    finally:
        os.close(fd)


def _open_dir(name: str, dir_fd: int):
    """An O_NOFOLLOW descriptor of directory ``name``; "link", or None if it is no directory."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as e:              # a link gives ELOOP or ENOTDIR
        return "link" if e.errno == errno.ELOOP or _is_link(name, dir_fd) else None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_exercise(dir_fd: int, name: str, rel: str):
    fd = _open_dir(name, dir_fd)
    if fd == "link":
        return SymlinkRefused(rel)
    if fd is None:
        return None
    try:
        link = _find_link(fd, rel, [MAX_SCANNED], 0)
        if link is not None:
            return link
        files = {}
        for entry in sorted(os.listdir(fd)):
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and entry != "tests.py" and st.st_size <= MAX_FILE_BYTES:
                data = _read_file(entry, fd)
                if data is not None:
                    files[entry] = data
        return files
    finally:
        os.close(fd)


def _read_file(name: str, dir_fd: int):
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None                   # replaced by a link or removed since listed
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_FILE_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _find_link(fd: int, rel: str, budget: list, depth: int):
    """The first link beneath directory ``fd`` (a :class:`SymlinkRefused`), or None.

    A tree past :data:`MAX_SCANNED` entries or 32 levels cannot be shown
    free of links, and is refused as if it held one.
    """
    for entry in sorted(os.listdir(fd)):
        budget[0] -= 1
        path = f"{rel}/{entry}"
        if budget[0] < 0 or depth > 32:
            return SymlinkRefused(path, f"past {MAX_SCANNED} entries or 32 levels, too big "
                                        "to check for links")
        st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return SymlinkRefused(path)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            return SymlinkRefused(path, "a hard link")
        if stat.S_ISDIR(st.st_mode):
            sub = _open_dir(entry, fd)
            if sub == "link":
                return SymlinkRefused(path)
            if sub is not None:
                try:
                    found = _find_link(sub, path, budget, depth + 1)
                finally:
                    os.close(sub)
                if found is not None:
                    return found
    return None
