"""Atomic file writes: a file is either the old one or the complete new one.

Writing goes to a temporary file in the target's directory (same file
system), which is flushed to disk and then renamed over the target with
``os.replace`` -- an atomic operation. If anything fails midway, the
temporary file is removed and the target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file for writing; on success, rename it to ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_open(target) as f:
    ...     _ = f.write(b"all or nothing")
    >>> open(target, "rb").read()
    b'all or nothing'
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".minicomp-", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
