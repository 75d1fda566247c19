"""Read an ``.npz`` archive's directory and ``.npy`` headers without trusting them.

:func:`members_of` lists the arrays of an archive and refuses, before a
byte of data is read, what ``numpy.savez`` never writes: members that are
not ``.npy``, duplicates, encryption, exotic compression, and declared
sizes the file cannot hold (a zip bomb declares gigabytes in kilobytes).
:func:`npy_meta` reads one member's ``.npy`` header -- shape and dtype --
and checks that its declared size is exactly what they need. Used by
:func:`minicomp.checkpoint.load` to compare a file with the architecture
it claims before allocating anything.
"""
from __future__ import annotations

import math
import zipfile

import numpy as np

MAX_INFLATE = 64              # arrays may inflate to 64 x the file size (+ 64 MiB), no more


def npy_meta(zf, info, where: str):
    """``(shape, dtype)`` from a member's ``.npy`` header; its declared size must match."""
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{where}: member {info.filename!r} has .npy version {version}")
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(f)
        start = f.tell()
    need = start + math.prod(shape) * dtype.itemsize
    if dtype.hasobject or info.file_size != need:
        raise ValueError(f"{where}: member {info.filename!r} declares {info.file_size} bytes but "
                         f"shape {shape} of {dtype} needs {need}")
    return shape, dtype


def members_of(zf, file_size: int, where: str) -> dict:
    """``{key: ZipInfo}``, refusing what a numpy archive never holds, before reading any."""
    members, total = {}, 0
    for info in zf.infolist():
        name, size = info.filename, info.file_size
        total += size
        if not name.endswith(".npy") or name[:-4] in members:
            raise ValueError(f"{where}: member {name!r} is not one array of an .npz archive")
        if info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED):
            raise ValueError(f"{where}: member {name!r} is encrypted or uses an unsupported "
                             "compression")
        if (info.header_offset + info.compress_size > file_size
                or (info.compress_type == zipfile.ZIP_STORED and size != info.compress_size)
                or total > MAX_INFLATE * file_size + 2**26):
            raise ValueError(f"{where}: member {name!r} declares {size} bytes from "
                             f"{info.compress_size} stored bytes ({total} so far), more than "
                             f"the {file_size}-byte file can hold")
        members[name[:-4]] = info
    return members
