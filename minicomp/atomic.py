"""Atomic file writes: a file is either the old one or the complete new one.

Writing goes to a temporary file in the target's directory (same file
system), which is flushed to disk and then renamed over the target with
``os.replace`` -- an atomic operation. If anything fails midway, the
temporary file is removed and the target is untouched.

Three details make the difference between "atomic" and "safe to use":

- **Modes.** An existing target keeps its permission bits; a new file gets
  ``0o666 & ~umask``, exactly what ``open(path, "w")`` would give (the
  temporary file is created with that mode, so the kernel applies the umask
  and any default ACL). ``tempfile.mkstemp`` would leave every file 0600.
- **Killed writers.** A process killed by SIGKILL cannot remove its
  temporary file. Temporary files are therefore named
  ``.minicomp-<host>-<pid>-<random>.tmp``, and every atomic write into a
  folder first removes the ones whose writer is dead: same host tag, the
  pid no longer exists, regular file (never a symlink), owned by us, and
  older than :data:`STALE_AFTER` seconds. A live writer's file -- in this
  process or another -- is never touched.
- **Targets.** A directory, a path ending in a separator, or a path whose
  folder does not exist is refused up front with a message naming it
  (see :func:`check_target`), before anything is created.

An existing symlink at the target is replaced by the new file (the link
target is left alone), as ``os.replace`` does.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import stat
import time

from . import validate

STALE_AFTER = 2.0      # seconds: a dead writer's temp file younger than this is left alone
_TEMP_NAME = re.compile(r"\.minicomp-([0-9a-f]{8})-([1-9][0-9]{0,9})-[0-9a-f]+\.tmp\Z")


def _host_tag() -> str:
    """8 hex digits naming this host, so pids of other hosts (NFS, containers) are not judged."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True                      # another thread of this process may be writing
    try:
        os.kill(pid, 0)                  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True                      # exists (another user's), or not ours to judge
    return True


def remove_stale_temps(folder) -> list:
    """Remove temporary files left in ``folder`` by dead writers; return their paths.

    Only files named like this module's temporary files, written on this
    host, owned by the current user, regular (symlinks are never followed
    or removed), older than :data:`STALE_AFTER` seconds and whose writer
    pid no longer exists are removed. Errors (a file vanishing, no
    permission) are ignored: cleaning is best effort and never fails a write.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> stale = os.path.join(folder, f".minicomp-{_host_tag()}-999999999-0a1b.tmp")
    >>> open(stale, "wb").close(); os.utime(stale, (0, 0))     # pid 999999999: dead
    >>> [os.path.basename(p) for p in remove_stale_temps(folder)] == [os.path.basename(stale)]
    True
    >>> os.listdir(folder)
    []
    """
    if os.name != "posix":               # os.kill(pid, 0) would kill on Windows
        return []
    removed, host, now = [], _host_tag(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match.group(1) != host:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid()
                or now - st.st_mtime < STALE_AFTER or _pid_alive(int(match.group(2)))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(entry.path)
    return removed


def check_target(path, where=None) -> str:
    """``path`` as a str if a file can be written there, else an error naming it.

    Raises
    ------
    TypeError
        ``path`` is not a str or os.PathLike.
    IsADirectoryError
        ``path`` is an existing directory or ends with a separator.
    FileNotFoundError
        The folder that would hold the file does not exist.
    NotADirectoryError
        The "folder" that would hold the file is a file.
    """
    path = validate.path(path, where=where)
    pre = f"{where}: " if where else ""
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if path.endswith(seps) or os.path.isdir(path):
        raise IsADirectoryError(f"{pre}{path!r} is a directory (or ends with a separator); "
                                "expected a file path such as 'folder/model.npz'")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        raise FileNotFoundError(f"{pre}cannot write {path!r}: the folder {parent!r} does not "
                                "exist (create it first, e.g. os.makedirs)")
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"{pre}cannot write {path!r}: {parent!r} is not a folder")
    return path


def _create_temp(folder: str, mode: int):
    """A new, exclusively created temp file in ``folder``: ``(fd, path)``."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    prefix = f".minicomp-{_host_tag()}-{os.getpid()}-"
    for _ in range(100):
        tmp = os.path.join(folder, prefix + secrets.token_hex(6) + ".tmp")
        try:
            return os.open(tmp, flags, mode), tmp        # the kernel applies the umask
        except FileExistsError:
            continue
    raise FileExistsError(f"atomic_open: no free temporary file name in {folder!r}")


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file for writing; on success, rename it to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target file; its folder must exist.
    mode : {"wb", "w"}
        Binary or text.

    Raises
    ------
    IsADirectoryError, FileNotFoundError, NotADirectoryError
        See :func:`check_target`; raised before anything is created.

    Notes
    -----
    An existing target keeps its permission bits; a new one gets
    ``0o666 & ~umask``. Stale temporary files of dead writers in the same
    folder are removed first (:func:`remove_stale_temps`).

    Examples
    --------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_open(target) as f:
    ...     _ = f.write(b"all or nothing")
    >>> open(target, "rb").read()
    b'all or nothing'
    """
    path = check_target(path, where="atomic_open")
    mode = validate.choice(mode, "mode", ("wb", "w"), where="atomic_open")
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(folder)
    try:
        keep = stat.S_IMODE(os.stat(path).st_mode)      # existing target: keep its mode
    except (FileNotFoundError, NotADirectoryError):
        keep = None
    fd, tmp = _create_temp(folder, 0o600 if keep is not None else 0o666)
    try:
        with os.fdopen(fd, mode) as f:
            if keep is not None:
                os.fchmod(f.fileno(), keep)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
