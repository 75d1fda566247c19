"""The file of :mod:`minicomp.kernels.dispatch`'s decisions: where, whose, read, written.

One JSON document ``{"machine": ..., "entries": {"family|key": {"winner",
"times"}}}`` next to Numba's cache (:func:`cache_path`). ``machine`` names the
CPU (model, a hash of its vector features), the core count and the minicomp
and Numba versions (:func:`machine`); a file whose machine differs, or that
is not such a document, reads as empty and is rewritten whole on the next
decision. :func:`write` re-reads the file under an advisory ``flock`` (POSIX;
elsewhere none), merges one entry and replaces the file atomically (temporary
file in the same folder, then ``os.replace``), so concurrent processes never
leave a half-written file (at worst, without the lock, one entry is lost).

Deviation: a private temporary-file helper, not :mod:`minicomp.atomic`
(kernel files import only lower kernel layers and :mod:`minicomp.validate`).

Layer: the standard library only.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile

__all__ = ["cache_bytes", "cache_path", "cpu_info", "machine", "read", "write"]

FORMAT = 2          # version of the cache file's layout and of the rule behind its winners
                    # (2: the margin favours only unthreaded designs; 1's verdicts are stale)
_machine: dict = {}


def cpu_info() -> tuple[str, list[str]]:
    """``(model, sorted flags starting with avx/fma/popcnt/f16c)`` from ``/proc/cpuinfo``
    (elsewhere than Linux: ``platform.processor()`` and no flags)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return name, sorted(f for f in flags if f.startswith(("avx", "fma", "popcnt", "f16c")))


@functools.cache
def cache_bytes(level: int) -> int | None:
    """This core's data (or unified) cache of ``level`` in bytes, from Linux sysfs; None
    if unknown (kernels size their blocks from it instead of a constant); read once."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(base)):
            with open(f"{base}/{index}/level") as f_level, open(f"{base}/{index}/type") as f_type:
                if int(f_level.read()) != level or f_type.read().strip() == "Instruction":
                    continue
            with open(f"{base}/{index}/size") as f_size:
                text = f_size.read().strip().upper()
            return int(text[:-1]) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        pass
    return None


def machine() -> dict:
    """What a cache file must match to be trusted: CPU and library versions (computed once)."""
    if not _machine:
        name, feats = cpu_info()
        numba = None
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            numba = importlib.metadata.version("numba")
        _machine.update({
            "format": FORMAT, "cpu": name, "threads": os.cpu_count(), "numba": numba,
            "features": hashlib.sha1(" ".join(feats).encode()).hexdigest()[:16],
            "minicomp": getattr(sys.modules.get("minicomp"), "__version__", "unknown")})
    return _machine


def cache_path() -> str | None:
    """The cache file: ``$MINICOMP_DISPATCH_CACHE`` (``off``: None, memory only), else
    ``minicomp-dispatch.json`` in ``$NUMBA_CACHE_DIR``, else in ``minicomp/kernels/__pycache__``
    (where Numba caches these kernels) if writable, else in ``~/.cache/minicomp``."""
    path = os.environ.get("MINICOMP_DISPATCH_CACHE", "")
    if path.lower() == "off":
        return None
    if path:
        return path
    name = "minicomp-dispatch.json"
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.path.join(os.environ["NUMBA_CACHE_DIR"], name)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    with contextlib.suppress(OSError):
        os.makedirs(here, exist_ok=True)
    if os.access(here, os.W_OK):
        return os.path.join(here, name)
    return os.path.join(os.path.expanduser("~"), ".cache", "minicomp", name)


def read(path: str) -> dict:
    """The entries of the cache file at ``path``: {} if missing, corrupt or foreign."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and doc.get("machine") == machine() and isinstance(
                doc.get("entries"), dict):
            return {k: v for k, v in doc["entries"].items()
                    if isinstance(v, dict) and isinstance(v.get("winner"), str)}
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return {}


@contextlib.contextmanager
def _file_lock(path: str):
    """An advisory lock on ``path + '.lock'`` (POSIX ``flock``); nothing elsewhere."""
    try:
        import fcntl
        f = open(path + ".lock", "a")
    except (ImportError, OSError):
        yield
        return
    with f:
        with contextlib.suppress(OSError):
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def write(path: str, name: str, entry: dict) -> dict:
    """Merge ``entry`` into the file (re-read under the lock), replace it atomically and
    return all its entries. Raises OSError if the folder cannot be written."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with _file_lock(path):
        entries = read(path)
        entries[name] = entry
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".dispatch-",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"machine": machine(), "entries": entries}, f, indent=1,
                          sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
    return entries
