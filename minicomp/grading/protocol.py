"""Plain data over a pipe: what may cross between the grader and a submission.

A message is a JSON document in which every NumPy array is replaced by a
reference ``{"$nd": i}`` to the i-th binary blob, an ``.npy`` file read
back with ``numpy.load(..., allow_pickle=False)``. Nothing is pickled, so
nothing the student process sends can run code in the grader, and the
decoded value is rebuilt from scratch out of the grader's own types:

    plain = None | bool | int | float | complex | str
          | ndarray (numeric dtype: bool, int, uint, float, complex)
          | NumPy numeric scalar
          | list[plain] | tuple[plain] | dict[str | int, plain]

Types are checked with ``type(x) is T`` (never ``isinstance``), so an
``int`` subclass, an ndarray subclass or any object with a custom
``__eq__`` is refused with a reason instead of being sent.

Framing: ``[8-byte big-endian length][payload]`` where the payload is
``[4-byte JSON length][JSON][8-byte length + .npy bytes]...``.
"""
from __future__ import annotations

import io
import json
import math
import os
import struct

import numpy as np

MAX_DEPTH = 32                    # nesting of lists/tuples/dicts
NUMERIC_KINDS = "biufc"           # bool, signed, unsigned, float, complex
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str)


class NotPlainData(TypeError):
    """A value that may not cross the pipe, with the reason why."""


def describe(value) -> str:
    """A short, safe description of a value's type (never calls its methods)."""
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_array(a, where: str):
    if type(a) is not np.ndarray:
        raise NotPlainData(f"{where}: {describe(a)} is an ndarray subclass; "
                           "return a plain numpy.ndarray")
    if a.dtype.kind not in NUMERIC_KINDS or a.dtype.fields is not None:
        raise NotPlainData(f"{where}: array of dtype {a.dtype.str!r} is not numeric "
                           "(expected bool, int, uint, float or complex)")


def _encode(value, blobs: list, depth: int, where: str):
    if depth > MAX_DEPTH:
        raise NotPlainData(f"{where}: nested deeper than {MAX_DEPTH} levels")
    cls = type(value)
    if cls in (type(None), bool, int, str):
        return value
    if cls is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if cls is complex:
        return {"$complex": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.ndarray):
        _check_array(value, where)    # refuses subclasses, with the reason
        blobs.append(value)
        return {"$nd": len(blobs) - 1}
    if isinstance(value, np.generic) and cls.__module__ == "numpy":
        if value.dtype.kind not in NUMERIC_KINDS:
            raise NotPlainData(f"{where}: numpy scalar {describe(value)} is not numeric")
        blobs.append(np.asarray(value))
        return {"$np": len(blobs) - 1}
    if cls is list:
        return [_encode(v, blobs, depth + 1, f"{where}[{i}]") for i, v in enumerate(value)]
    if cls is tuple:
        return {"$tuple": [_encode(v, blobs, depth + 1, f"{where}[{i}]")
                           for i, v in enumerate(value)]}
    if cls is dict:
        items = []
        for k, v in value.items():
            if type(k) not in (str, int):
                raise NotPlainData(f"{where}: dict key of type {describe(k)}; "
                                   "expected str or int keys")
            items.append([k, _encode(v, blobs, depth + 1, f"{where}[{k!r}]")])
        return {"$dict": items}
    raise NotPlainData(f"{where}: {describe(value)} is not plain data (expected an "
                       "ndarray of a numeric dtype, int, float, bool, str, None, "
                       "or a tuple/list/dict of these)")


def encode(value) -> bytes:
    """Serialize plain data to bytes, refusing anything else.

    Raises
    ------
    NotPlainData
        If ``value`` (or anything inside it) is not plain data; the message
        says where and why.

    Examples
    --------
    >>> decode(encode({"W": np.eye(2), "n": (1, 2.5, None)}))["n"]
    (1, 2.5, None)
    >>> class Liar(int):
    ...     def __eq__(self, other): return True
    >>> encode(Liar(3))
    Traceback (most recent call last):
    ...
    minicomp.grading.protocol.NotPlainData: value: ...Liar is not plain data ...
    """
    blobs: list = []
    doc = _encode(value, blobs, 0, "value")
    head = json.dumps(doc, allow_nan=False).encode()
    parts = [struct.pack(">I", len(head)), head]
    for a in blobs:
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        data = buf.getvalue()
        parts += [struct.pack(">Q", len(data)), data]
    return b"".join(parts)


def _decode(doc, arrays: list, depth: int):
    if depth > MAX_DEPTH:
        raise NotPlainData(f"nested deeper than {MAX_DEPTH} levels")
    cls = type(doc)
    if cls in (type(None), bool, int, float, str):
        return doc
    if cls is list:
        return [_decode(v, arrays, depth + 1) for v in doc]
    if cls is not dict or len(doc) != 1:
        raise NotPlainData(f"unexpected JSON object {str(doc)[:80]!r}")
    (tag, body), = doc.items()
    if tag == "$float" and type(body) is str and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$complex" and type(body) is list and len(body) == 2:
        return complex(float(body[0]), float(body[1]))
    if tag in ("$nd", "$np") and type(body) is int and 0 <= body < len(arrays):
        return arrays[body] if tag == "$nd" else arrays[body][()]
    if tag == "$tuple" and type(body) is list:
        return tuple(_decode(v, arrays, depth + 1) for v in body)
    if tag == "$dict" and type(body) is list:
        out = {}
        for item in body:
            if type(item) is not list or len(item) != 2 or type(item[0]) not in (str, int):
                raise NotPlainData("malformed dict entry")
            out[item[0]] = _decode(item[1], arrays, depth + 1)
        return out
    raise NotPlainData(f"unknown tag {tag!r}")


def decode(payload: bytes):
    """Rebuild plain data from bytes made by :func:`encode`.

    Only JSON values and ``.npy`` blobs are parsed (``allow_pickle=False``);
    every array is checked to be a plain ndarray of a numeric dtype.

    Raises
    ------
    NotPlainData
        On any malformed, truncated or non-numeric content.
    """
    try:
        (n,) = struct.unpack_from(">I", payload, 0)
        doc = json.loads(payload[4:4 + n].decode())
        pos, arrays = 4 + n, []
        while pos < len(payload):
            (m,) = struct.unpack_from(">Q", payload, pos)
            if pos + 8 + m > len(payload):
                raise NotPlainData("truncated array")
            a = np.load(io.BytesIO(payload[pos + 8:pos + 8 + m]), allow_pickle=False)
            _check_array(a, "array")
            arrays.append(a)
            pos += 8 + m
        return _decode(doc, arrays, 0)
    except NotPlainData:
        raise
    except (ValueError, struct.error, RecursionError, UnicodeDecodeError, OSError) as e:
        raise NotPlainData(f"malformed message: {type(e).__name__}: {e}") from None


def write_frame(fd: int, payload: bytes) -> None:
    """Write one length-prefixed frame to a blocking file descriptor."""
    view = memoryview(struct.pack(">Q", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int, limit: int) -> bytes | None:
    """Read one frame from a blocking descriptor; None at end of file."""
    head = _read_exact(fd, 8)
    if head is None:
        return None
    (n,) = struct.unpack(">Q", head)
    if n > limit:
        raise NotPlainData(f"message of {n} bytes exceeds the limit of {limit}")
    return _read_exact(fd, n)


def _read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
