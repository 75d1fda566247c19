r"""One versioned file for every compressed model: ``save`` atomically, ``load`` trusting nothing.

Layout (little-endian)::

    preamble  32 bytes  magic (8) | version u16 | flags u16 (0) | header length u32 |
                        payload length u64 | CRC-32 of the header u32 | CRC-32 of the payload u32
    header              zlib-compressed JSON: the model tree (structure, records' kind, relu,
                        meta) and every array's [name, dtype, shape, offset]
    payload             the arrays' raw bytes, back to back, in header order (no padding)

so the file size is ``model.nbytes + header bytes`` exactly (:func:`save`
returns the header bytes: preamble + compressed header). :func:`load` checks,
before building anything, that the file is not a symlink (none is followed) and
is a regular file; from the 32-byte preamble, before the rest is read, the magic,
the version (a newer file is refused) and the lengths against the file size
(truncated or trailing bytes); both CRCs; the header's size (:data:`MAX_HEADER`,
compressed and decompressed) and JSON (no NaN); every array's dtype (a
whitelist), shape and offset (back to back, ending at the payload's end) against
the kind's schema (:func:`minicomp.store.records.spec`); finite floats; at most
``max(MIN_DECODED, MAX_EXPANSION * payload bytes)`` weights in all
(:func:`check_decoded`: a few header bytes cannot ask for gigabytes). It then
decodes every record and builds its kernels (:meth:`CompressedModel.build`):
any failure is a ``ValueError`` naming the path and what was expected, and
nothing half-loaded is returned.

:mod:`minicomp.checkpoint` stays: it saves *trainable* nets (a .npz of a
Module's config and float parameters, to resume training); this file stores
*compressed inference* models in their packed formats, with exact byte counts.
"""
from __future__ import annotations

import json
import math
import os
import stat
import struct
import zlib

import numpy as np

from .. import validate
from ..atomic import atomic_open
from .model import CompressedModel
from .records import KINDS, Record, check_arrays, check_record

MAGIC = b"\x89MCMP\r\n\x1a"            # not text, not a zip / npz: a foreign file fails here
VERSION = 1
PREAMBLE = struct.Struct("<8sHHIQII")   # 32 bytes
MAX_HEADER = 1 << 24                    # bytes, compressed and decompressed
MAX_DEPTH = 8                           # nested ensembles / cascades
MAX_WEIGHTS = 2**31                     # per layer, as Dense: a header cannot ask for more
MIN_DECODED = 2**24                     # weights any file may decode to (64 MB as float32)
MAX_EXPANSION = 256                     # else weights per payload byte (a 1-bit code: 8)
DTYPES = ("<f4", "|u1", "|i1", "<u2", "<u4", "<u8", "<i4")


def _jsonable(v):
    """Meta values as plain JSON (NumPy scalars unwrapped; NaN refused by ``allow_nan``)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _tree(model: CompressedModel, arrays: list) -> dict:
    """The header node of ``model``; ``(array, offset)`` appended to ``arrays`` in payload
    order."""
    if model.structure != "chain":
        node = {"structure": model.structure, "members": [_tree(m, arrays)
                                                           for m in model.members]}
        return {**node, "weights": model.weights} if model.structure == "ensemble" else \
            {**node, "tau": model.tau}
    layers = []
    for k, r in enumerate(model.layers):
        check_record(r, f"save: layer {k}")           # its arrays may have changed since
        entries = []
        for name, a in r.arrays.items():
            a = np.ascontiguousarray(a, np.asarray(a).dtype.newbyteorder("<"))
            validate.array(a, f"array {name!r}", nonempty=False, where=f"save: layer {k}")
            offset = arrays[-1][1] + arrays[-1][0].nbytes if arrays else 0
            entries.append([name, a.dtype.str, list(a.shape), offset])
            arrays.append((a, offset))
        layers.append({"kind": r.kind, "relu": bool(r.relu), "arrays": entries,
                       "meta": {k: _jsonable(v) for k, v in r.meta.items()}})
    return {"structure": "chain", "layers": layers}


def save(model_or_obj, path) -> int:
    """Write a model (packed with :func:`~minicomp.store.pack` if needed) to ``path``.

    Returns
    -------
    int
        The header bytes: ``os.path.getsize(path) == model.nbytes + returned``.

    Raises
    ------
    TypeError, ValueError
        What :func:`~minicomp.store.pack` refuses; what :func:`load` would refuse (arrays
        off the schema, NaN/inf, weights that do not decode, more weights than
        :func:`check_decoded` allows); a bad ``path`` (a directory, a symlink, a missing
        folder: :func:`minicomp.atomic.check_target`). Nothing is written then.
    """
    from .pack import pack
    model = pack(model_or_obj)
    arrays: list = []
    tree = _tree(model, arrays)                    # checks every record against the schema
    check_decoded(model, model.nbytes, "save")
    try:
        model.build()                              # decodes: what load would refuse, refused
    except (ValueError, TypeError) as e:
        raise ValueError(f"save: the model does not decode ({e}); load would refuse it") \
            from None
    try:
        text = json.dumps({"model": tree}, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"save: the model's meta is not plain JSON ({e}); expected JSON "
                         "scalars, no NaN") from None
    header = zlib.compress(text.encode(), 9)
    payload_len = sum(a.nbytes for a, _ in arrays)
    crc = 0
    for a, _ in arrays:
        crc = zlib.crc32(a, crc)
    preamble = PREAMBLE.pack(MAGIC, VERSION, 0, len(header), payload_len,
                             zlib.crc32(header), crc)
    with atomic_open(path, "wb", where="save") as f:
        f.write(preamble + header)
        for a, _ in arrays:
            write_array(f, a)
    return len(preamble) + len(header)


def write_array(f, a: np.ndarray) -> None:
    """One array's raw bytes (little-endian, C order) into the open file ``f``."""
    f.write(a.tobytes())


def _read(path: str, where: str) -> tuple:
    """``(header dict, payload bytes)`` of the file: refused if a symlink, not a regular file,
    or its preamble disagrees with its size (checked before the rest is read)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise ValueError(f"{where} is a symbolic link (to {os.readlink(path)!r}); expected "
                             "the model file itself (links are not followed)")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{where}: no such file") from None
    except OSError as e:
        raise ValueError(f"{where} cannot be opened ({e.strerror}); expected a readable "
                         "regular file, not a symlink") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):                      # a directory, a FIFO, a device
        os.close(fd)
        raise ValueError(f"{where} is not a regular file; expected a minicomp model file")
    with os.fdopen(fd, "rb") as f:
        n_header, n_payload, crcs = _preamble(f.read(PREAMBLE.size), st.st_size, where)
        data = f.read(n_header + n_payload)               # the size is checked: no more
    if len(data) != n_header + n_payload:
        raise ValueError(f"{where} shrank while it was read (truncated)")
    return _header(data, n_header, crcs, where)


def _preamble(head: bytes, size: int, where: str) -> tuple:
    """``(header length, payload length, (CRC header, CRC payload))`` after their checks."""
    if len(head) < PREAMBLE.size or head[:8] != MAGIC:
        raise ValueError(f"{where} is not a minicomp compressed model (magic "
                         f"{head[:8]!r}); expected a file that starts with {MAGIC!r}")
    _, version, flags, n_header, n_payload, crc_h, crc_p = PREAMBLE.unpack_from(head)
    if version > VERSION or version < 1 or flags:
        raise ValueError(f"{where} has format version {version} (flags {flags}); expected "
                         f"version 1..{VERSION}: written by a newer minicomp? Upgrade to read it")
    if n_header > MAX_HEADER:
        raise ValueError(f"{where} declares a {n_header}-byte header; expected at most "
                         f"{MAX_HEADER}")
    want = PREAMBLE.size + n_header + n_payload
    if size != want:
        raise ValueError(f"{where} has {size} bytes; expected {want} (preamble + "
                         f"{n_header} header + {n_payload} payload): "
                         f"{'truncated' if size < want else 'trailing bytes'}")
    return n_header, n_payload, (crc_h, crc_p)


def _header(data: bytes, n_header: int, crcs: tuple, where: str) -> tuple:
    """``(header dict, payload bytes)`` of the bytes after the preamble, CRCs checked."""
    header, payload = data[:n_header], memoryview(data)[n_header:]      # no copy
    for name, block, crc in (("header", header, crcs[0]), ("payload", payload, crcs[1])):
        if zlib.crc32(block) != crc:
            raise ValueError(f"{where}: the {name} fails its CRC-32 check (corrupted); "
                             f"expected {crc:#010x}, got {zlib.crc32(block):#010x}")
    try:
        unzip = zlib.decompressobj()
        text = unzip.decompress(header, MAX_HEADER)
        if unzip.unconsumed_tail or not unzip.eof:
            raise ValueError(f"more than {MAX_HEADER} bytes, or incomplete")
        tree = json.loads(text, parse_constant=_no_constant)
    except (zlib.error, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{where}: the header is not valid compressed JSON ({e})") from None
    if not isinstance(tree, dict) or set(tree) != {"model"}:
        raise ValueError(f"{where}: the header holds {type(tree).__name__}; expected "
                         "{'model': ...}")
    return tree["model"], payload


def _no_constant(name):
    raise ValueError(f"{name} is not a number here")


def _node(node, payload: bytes, state: dict, where: str, depth: int = 0) -> CompressedModel:
    """A CompressedModel from a header node, every array checked against the schema."""
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        raise ValueError(f"{where}: a model node is {type(node).__name__} at depth {depth}; "
                         f"expected a dict, at most {MAX_DEPTH} levels deep")
    structure = node.get("structure")
    keys = {"chain": {"structure", "layers"}, "ensemble": {"structure", "members", "weights"},
            "cascade": {"structure", "members", "tau"}}.get(structure)
    if keys is None or set(node) != keys:
        raise ValueError(f"{where}: a model node has structure {structure!r} and keys "
                         f"{sorted(node)}; expected one of chain / ensemble / cascade with "
                         "their keys")
    if structure != "chain":
        members = node["members"]
        if not isinstance(members, list):
            raise ValueError(f"{where}: members is a {type(members).__name__}; expected a list")
        built = [_node(m, payload, state, where, depth + 1) for m in members]
        return CompressedModel(members=built, structure=structure,
                               weights=node.get("weights"), tau=node.get("tau"))
    layers = node["layers"]
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"{where}: layers is {layers!r:.60}; expected a non-empty list")
    return CompressedModel([_record(r, payload, state, f"{where}: layer {k}")
                            for k, r in enumerate(layers)])


def _record(r, payload: bytes, state: dict, where: str) -> Record:
    """One record: kind, meta and arrays checked (dtype, shape, offset, schema, finite)."""
    if not isinstance(r, dict) or set(r) != {"kind", "relu", "arrays", "meta"}:
        raise ValueError(f"{where}: a record is {str(r)[:60]}; expected a dict of kind, relu, "
                         "arrays, meta")
    kind, relu, entries, meta = r["kind"], r["relu"], r["arrays"], r["meta"]
    if kind not in KINDS or not isinstance(relu, bool) or not isinstance(meta, dict) \
            or not isinstance(entries, list):
        raise ValueError(f"{where}: kind={kind!r}, relu={relu!r}; expected a kind of {KINDS}, "
                         "a bool relu, a meta dict and an array list")
    for k in ("out", "in"):
        if isinstance(meta.get(k), bool) or not isinstance(meta.get(k), int) or meta[k] < 1:
            raise ValueError(f"{where}: meta[{k!r}]={meta.get(k)!r}; expected an int >= 1")
    if meta["out"] * meta["in"] > MAX_WEIGHTS:
        raise ValueError(f"{where}: a {meta['out']} x {meta['in']} layer; expected at most "
                         f"{MAX_WEIGHTS} weights (Dense's limit)")
    arrays = {}
    for e in entries:
        if not (isinstance(e, list) and len(e) == 4 and isinstance(e[0], str)
                and e[1] in DTYPES and isinstance(e[2], list)
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40
                        for d in e[2]) and e[3] == state["offset"] and e[0] not in arrays):
            raise ValueError(f"{where}: array entry {str(e)[:80]}; expected [name, dtype in "
                             f"{DTYPES}, shape, offset {state['offset']}] with a new name")
        name, dtype, shape, offset = e[0], np.dtype(e[1]), tuple(e[2]), e[3]
        n = math.prod(shape) * dtype.itemsize                          # exact: no overflow
        if offset + n > len(payload):
            raise ValueError(f"{where}: array {name!r} ends at byte {offset + n}; expected "
                             f"at most the payload's {len(payload)}")
        arrays[name] = np.frombuffer(payload, dtype, n // dtype.itemsize, offset).reshape(
            shape).astype(dtype.newbyteorder("="))                        # a native copy
        validate.array(arrays[name], f"array {name!r}", nonempty=False, where=where)  # finite
        state["offset"] += n
    check_arrays(kind, meta, arrays, where)
    return Record(kind, arrays, meta, relu)


def check_decoded(model: CompressedModel, payload: int, where: str) -> None:
    """ValueError if the model's layers hold more weights than :data:`MIN_DECODED` or
    :data:`MAX_EXPANSION` per payload byte: load decodes every layer to float32 (out, in),
    and a CSR or Huffman header could otherwise ask for gigabytes from a few bytes."""
    n = sum(out * n_in for out, n_in in (r.shape for r in model.records()))
    if n > max(MIN_DECODED, MAX_EXPANSION * payload):
        raise ValueError(f"{where}: the layers hold {n} weights in {payload} payload bytes; "
                         f"expected at most max({MIN_DECODED}, {MAX_EXPANSION} per byte)")


def load(path) -> CompressedModel:
    """Read a model written by :func:`save`, checking everything (module docstring).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A symlink, not a regular file, a foreign, newer, truncated or corrupted file, an
        inconsistent header or arrays, NaN weights, more weights than
        :func:`check_decoded` allows: the message names the path.
    """
    path = validate.path(path, where="load")
    where = f"load: {path!r}"
    tree, payload = _read(path, where)
    state = {"offset": 0}
    try:
        model = _node(tree, payload, state, where)
        if state["offset"] != len(payload):
            raise ValueError(f"{where}: the arrays cover {state['offset']} bytes; expected "
                             f"the payload's {len(payload)}")
        check_decoded(model, len(payload), where)
        return model.build()
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, ImportError,
            MemoryError) as e:
        text = str(e)
        raise ValueError(text if text.startswith(where) else
                         f"{where}: inconsistent model ({type(e).__name__}: {text[:300]})"
                         ) from None
