"""Read a student's submission without following a link, at any depth.

The grader reads what a student handed in through directory descriptors
opened with ``O_NOFOLLOW``: a folder or file that is a symbolic link is
never followed, and a submission that holds one anywhere -- or a hard
link to one of the instructor's files, or a tree too big to search -- is
refused as a whole (:class:`SymlinkRefused`, status ``symlink``), naming
the path. Only the regular files directly in an exercise folder are read
(never ``tests.py``, at most 1 MB each).

Hard links: a file that is also one of the instructor's files (same
``(st_dev, st_ino)`` as a file under the exercises, :func:`instructor_files`:
an archive unpacked with its links, a ``cp -al`` of the course) would hand
in the solution or show the hidden tests, and is refused. Any other hard
link -- an instructor's ``cp -al`` backup of the submissions, a student's
``exercise_backup.py`` linked to ``exercise.py`` -- is an ordinary file.
"""
from __future__ import annotations

import collections
import dataclasses
import errno
import os
import stat

MAX_FILE_BYTES = 1 << 20
MAX_SCANNED = 10000                    # entries of a submission searched for links
MAX_DEPTH = 32                         # levels of folders searched
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC   # a FIFO never blocks
# kind -> (what the student reads as the status, what to do)
KINDS = {"link": ("a link in your submission was refused",
                  "submissions are read without following links, so this exercise was not "
                  "run; hand in real files and folders"),
         "hard link": ("a hard link to the instructor's files in your submission was refused",
                       "this exercise was not run; hand in your own files (copies, not links)"),
         "too large": ("your submission was too large to check for links",
                       "this exercise was not run; hand in only the exercise folders, "
                       "with the files you wrote (no virtual environment, data or caches)")}
HARD_LINK = "is a hard link to one of the instructor's files"


@dataclasses.dataclass(frozen=True)
class SymlinkRefused:
    """A submission that holds a link (or cannot be shown to hold none): it scores 0.

    ``kind`` is ``"link"`` (a symbolic link), ``"hard link"`` (to one of the
    instructor's files) or ``"too large"`` (too many entries or levels to
    search); ``why`` completes the sentence that starts with ``path``.
    """

    path: str                          # relative to the student folder (or its own name)
    why: str = "is a symbolic link"
    kind: str = "link"

    @property
    def words(self) -> str:
        """The status as the student reads it: what was refused, accurately."""
        return KINDS[self.kind][0]

    @property
    def message(self) -> str:
        return f"{self.path!r} {self.why}: {KINDS[self.kind][1]}"


@dataclasses.dataclass
class _Scan:
    """What one search for links has seen: entries left, entries per top-level entry."""

    root: str                          # the searched folder, as named in messages
    instructor: frozenset
    exercises: frozenset = frozenset()  # folders whose entries are named on their own
    left: int = MAX_SCANNED
    per_top: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def too_many(self) -> SymlinkRefused:
        """Name the top-level entry holding most of the excess (else the folder itself)."""
        top, n = self.per_top.most_common(1)[0]
        if 2 * n <= MAX_SCANNED:
            return SymlinkRefused(self.root, "holds too many files and folders to check for "
                                  f"links (more than {MAX_SCANNED})", "too large")
        return SymlinkRefused(top, "holds too many files and folders to check for links "
                              f"(at least {n}; a submission may hold {MAX_SCANNED} in all)",
                              "too large")


def instructor_files(folder) -> frozenset:
    """``(st_dev, st_ino)`` of every regular file under ``folder`` (no link followed).

    A submitted file with one of these identities is a hard link to the
    instructor's files (:func:`read_submission` refuses it).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp(); open(os.path.join(d, "tests.py"), "w").close()
    >>> st = os.stat(os.path.join(d, "tests.py"))
    >>> instructor_files(d) == {(st.st_dev, st.st_ino)}
    True
    """
    found = set()
    for here, _, files in os.walk(os.fspath(folder)):
        for name in files:
            try:
                st = os.lstat(os.path.join(here, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def read_student_files(folder, instructor=frozenset()):
    """The regular files directly in ``folder`` (never tests.py), without following links.

    Parameters
    ----------
    folder : path
        One exercise folder.
    instructor : frozenset of (st_dev, st_ino), optional
        The instructor's files (:func:`instructor_files`): a hard link to
        one of them is refused.

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
        return _read_exercise(parent_fd, name, name, frozenset(instructor))
    finally:
        os.close(parent_fd)


def read_submission(student_dir, exercise_names, instructor=frozenset()) -> dict:
    """Read one student's folder: ``{exercise name: files | None | SymlinkRefused}``.

    The folder itself is opened without following a link: if it is one,
    every exercise is refused, naming it. Each exercise folder is then read
    as by :func:`read_student_files` (paths named relative to the student
    folder). A link anywhere in the student folder, even beside the
    exercise folders, refuses the whole submission (EXERCISES.md, rule 7):
    other entries are never read, but a submission holding a link is not
    graded. ``instructor``: as in :func:`read_student_files`.
    """
    student_dir = os.path.abspath(os.fspath(student_dir))
    me, instructor = os.path.basename(student_dir), frozenset(instructor)
    try:
        fd = os.open(student_dir, DIR_FLAGS)
    except OSError as e:
        link = e.errno == errno.ELOOP or os.path.islink(student_dir)
        return {n: SymlinkRefused(me) if link else None for n in exercise_names}
    try:
        link = _find_link(fd, "", _Scan(me, instructor, frozenset(exercise_names)), 0)
        if link is not None:
            return {n: link for n in exercise_names}
        return {n: _read_exercise(fd, n, n, instructor) for n in exercise_names}
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


def _read_exercise(dir_fd: int, name: str, rel: str, instructor: frozenset):
    fd = _open_dir(name, dir_fd)
    if fd == "link":
        return SymlinkRefused(rel)
    if fd is None:
        return None
    try:
        link = _find_link(fd, rel, _Scan(rel, instructor), 0)
        if link is not None:
            return link
        files = {}
        for entry in sorted(os.listdir(fd)):
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and entry != "tests.py" and st.st_size <= MAX_FILE_BYTES:
                data = _read_file(entry, fd, instructor)
                if data is False:      # replaced by a hard link since the search
                    return SymlinkRefused(f"{rel}/{entry}", HARD_LINK, "hard link")
                if data is not None:
                    files[entry] = data
        return files
    finally:
        os.close(fd)


def _read_file(name: str, dir_fd: int, instructor: frozenset):
    """The file's bytes; None if it is gone or no regular file; False: an instructor's file."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None                   # replaced by a link or removed since listed
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in instructor:
            return False
        return f.read(MAX_FILE_BYTES) if stat.S_ISREG(st.st_mode) else None


def _find_link(fd: int, rel: str, scan: _Scan, depth: int, top: str = ""):
    """The first link beneath directory ``fd`` (a :class:`SymlinkRefused`), or None.

    ``rel`` names ``fd`` in messages ("" for the student folder itself),
    ``top`` the entry of the searched folder the search is in (an entry of
    an exercise folder, for the exercise folders of a student folder). A
    tree past :data:`MAX_SCANNED` entries or :data:`MAX_DEPTH` levels cannot
    be shown free of links, and is refused as if it held one, naming that entry.
    """
    for entry in sorted(os.listdir(fd)):
        path = f"{rel}/{entry}" if rel else entry
        here = path if not top or (depth == 1 and top in scan.exercises) else top
        scan.left -= 1
        scan.per_top[here] += 1
        if scan.left < 0:
            return scan.too_many()
        if depth > MAX_DEPTH:
            return SymlinkRefused(here, f"holds folders nested more than {MAX_DEPTH} levels "
                                  "deep, too deep to check for links", "too large")
        st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return SymlinkRefused(path)
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) in scan.instructor:
            return SymlinkRefused(path, HARD_LINK, "hard link")
        if stat.S_ISDIR(st.st_mode):
            sub = _open_dir(entry, fd)
            if sub == "link":
                return SymlinkRefused(path)
            if sub is not None:
                try:
                    found = _find_link(sub, path, scan, depth + 1, here)
                finally:
                    os.close(sub)
                if found is not None:
                    return found
    return None
