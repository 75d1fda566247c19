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
- **Targets.** Renaming over a path replaces whatever is there, so what
  ``open(path, "w")`` would write into or refuse is refused up front, with
  a message naming it, before anything is created (:func:`check_target`):
  a directory, a path ending in a separator, a missing or read-only
  folder, an existing target that is not a regular file (a character
  device such as ``/dev/null``, a FIFO, a socket: renaming would replace
  the node by a plain file) or that this process may not write (mode
  0444: ``open`` fails, a rename would not), or that is a symbolic link
  (``os.replace`` would replace the link itself by a plain file -- ``--out
  /dev/stdout`` would turn the system's ``/dev/stdout`` link into a file --
  while ``open`` would write through it: neither is what was meant).
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


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def check_existing(path, where=None, name=None) -> None:
    """Refuse an existing ``path`` that a new file must not replace.

    A missing path and a regular file this process may write pass.
    ``name`` spells the argument in the message (``name='path'``), else the
    path alone.

    Raises
    ------
    IsADirectoryError
        ``path`` is a directory.
    ValueError
        ``path`` is a symbolic link (the message says where it points), a
        character or block device, a FIFO, a socket: renaming a new file
        over it would replace the link or the node by a regular file.
    PermissionError
        ``path`` is a regular file this process may not write
        (``os.access(path, os.W_OK)`` is false), as ``open(path, "w")`` would.

    Examples
    --------
    >>> check_existing("/dev/null", where="save")
    Traceback (most recent call last):
        ...
    ValueError: save: '/dev/null' is a character device; expected a regular file or ...
    """
    path = os.fspath(path)
    pre, who = (f"{where}: " if where else ""), (f"{name}=" if name else "") + repr(path)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISLNK(mode):
        try:
            points = os.readlink(path)
        except OSError:
            points = "?"
        raise ValueError(f"{pre}{who} is a symbolic link (to {points!r}); expected a "
                         "regular file or a new file name (writing would replace the link "
                         "by a plain file): name the file itself")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{pre}{who} is a directory; expected a file path such as "
                                f"{os.path.join(path, 'model.npz')!r}")
    if not stat.S_ISREG(mode):
        kind = next((text for test, text in _KINDS if test(mode)),
                    f"not a regular file (mode {stat.filemode(mode)})")
        raise ValueError(f"{pre}{who} is {kind}; expected a regular file or a new file "
                         "name (writing would replace it by a plain file)")
    if not os.access(path, os.W_OK):
        raise PermissionError(f"{pre}cannot write {who}: the file is read-only for this "
                              f"user (mode {stat.filemode(mode)}); expected a writable file")


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
    PermissionError
        The folder is not writable (``os.access(folder, W_OK | X_OK)`` is
        false), or ``path`` is a regular file this process may not write.
    ValueError
        ``path`` exists and is not a regular file: a symbolic link, a device,
        a FIFO, a socket (see :func:`check_existing`).
    """
    path = validate.path(path, where=where)
    pre = f"{where}: " if where else ""
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if path.endswith(seps) or (os.path.isdir(path) and not os.path.islink(path)):
        raise IsADirectoryError(f"{pre}{path!r} is a directory (or ends with a separator); "
                                "expected a file path such as 'folder/model.npz'")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        raise FileNotFoundError(f"{pre}cannot write {path!r}: the folder {parent!r} does not "
                                "exist (create it first, e.g. os.makedirs)")
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"{pre}cannot write {path!r}: {parent!r} is not a folder")
    return check_new(path, where=where)


def check_new(path, where=None) -> str:
    """``path`` checked by :func:`check_existing` and :func:`check_folder`: a file
    that can be written once the folders missing on the way are created."""
    check_existing(path, where=where)
    check_folder(path, where=where)
    return os.fspath(path)


def check_folder(path, where=None) -> str:
    """The nearest existing folder of the file ``path`` (the folders missing
    between are created on writing), refused unless it is a writable directory.

    Raises
    ------
    NotADirectoryError
        That nearest existing "folder" is a file.
    PermissionError
        It is not writable (``os.access(folder, os.W_OK | os.X_OK)`` is false).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_folder(os.path.join(folder, "new", "m.npz")) == folder
    True
    """
    pre, path = (f"{where}: " if where else ""), os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{pre}cannot write {path!r}: {folder!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{pre}cannot write {path!r}: its folder {folder!r} is not "
                              "writable by this user; expected a writable folder")
    return folder


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
def atomic_open(path, mode: str = "wb", where: str = "atomic_open"):
    """Open a temporary file for writing; on success, rename it to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target file; its folder must exist.
    mode : {"wb", "w"}
        Binary or text.
    where : str
        The public function writing, prefixed to error messages (``"save"``).

    Raises
    ------
    IsADirectoryError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError
        See :func:`check_target`; raised before anything is created.
    OSError
        The temporary file cannot be created or renamed (a read-only or
        virtual file system such as ``/proc``, a full disk): the same type,
        with a message naming ``path`` and its folder, not the temporary name.

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
    path = check_target(path, where=where)
    mode = validate.choice(mode, "mode", ("wb", "w"), where=where)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(folder)
    try:
        keep = stat.S_IMODE(os.stat(path).st_mode)      # existing target: keep its mode
    except (FileNotFoundError, NotADirectoryError):
        keep = None
    try:
        fd, tmp = _create_temp(folder, 0o600 if keep is not None else 0o666)
    except OSError as e:
        raise _named(e, f"{where}: cannot write {path!r}: creating a file in its folder "
                        f"{folder!r} failed") from None
    try:
        with os.fdopen(fd, mode) as f:
            if keep is not None:
                os.fchmod(f.fileno(), keep)
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise _named(e, f"{where}: cannot write {path!r}: renaming the finished file "
                            "over it failed") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _named(error: OSError, text: str) -> OSError:
    """An OSError of ``error``'s type and errno whose message is ``text`` + the reason."""
    named = type(error)(f"{text} ({error.strerror or error}); nothing was written")
    named.errno = error.errno            # str() stays the message: no strerror, no filename
    return named
