"""Save and load a model -- weights *and* architecture -- as one ``.npz`` file.

Format (version 1): a NumPy ``.npz`` archive (no pickle) holding

- ``__minicomp__``: UTF-8 JSON bytes (uint8 array)
  ``{"format": "minicomp-model", "version": 1, "model": {"type": ..., "config": ...}}``;
- one array per parameter, under its ``state_dict`` key (``"0.weight"``);
- ``<key>.mask`` for a parameter that carries a pruning mask.

Writing is atomic: the archive goes to a temporary file in the target's
directory, which is renamed over the target only once complete, so an
interrupted save never leaves a half-written model. Loading refuses files
that are not minicomp models, truncated archives and newer format versions,
with a message naming the file.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .atomic import atomic_open
from .nn import Module

FORMAT = "minicomp-model"
VERSION = 1


def _describe(net: Module) -> dict:
    return {"type": type(net).__name__, "config": net.config()}


def _build(desc: dict) -> Module:
    cls = Module.registry.get(desc.get("type"))
    if cls is None:
        raise ValueError(f"unknown layer type {desc.get('type')!r}; known: {sorted(Module.registry)}")
    config = dict(desc.get("config", {}))
    if "layers" in config:                     # a Sequential: build its children first
        return cls(*[_build(layer) for layer in config.pop("layers")])
    return cls(**config)


def save(net: Module, path) -> str:
    """Write ``net`` to ``path`` (``.npz`` is appended if missing); return the path.

    Raises
    ------
    TypeError
        ``net`` is not a Module.
    """
    if not isinstance(net, Module):
        raise TypeError(f"save: net must be a minicomp Module, got {type(net).__name__}")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    header = {"format": FORMAT, "version": VERSION, "model": _describe(net)}
    arrays = {"__minicomp__": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for name, p in net.named_parameters():
        arrays[name] = p.data
        if getattr(p, "mask", None) is not None:
            arrays[name + ".mask"] = np.asarray(p.mask)
    with atomic_open(path) as f:                       # temp file + rename
        np.savez(f, **arrays)
    return path


def load(path) -> Module:
    """Rebuild a model saved by :func:`save`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a minicomp model, truncated/corrupt, or a newer format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "__minicomp__" not in archive.files:
                raise ValueError(f"load: {path!r} is an .npz archive but not a minicomp model "
                                 f"(no '__minicomp__' header; it holds {archive.files[:5]})")
            header = json.loads(archive["__minicomp__"].tobytes().decode())
            arrays = {k: archive[k] for k in archive.files if k != "__minicomp__"}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError,
            UnicodeDecodeError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith("load:"):
            raise
        raise ValueError(f"load: {path!r} is not a readable minicomp model "
                         f"(truncated or not an .npz archive: {e})") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"load: {path!r} has format {header.get('format')!r}, expected {FORMAT!r}")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"load: {path!r} has format version {version!r}; this minicomp reads "
                         f"versions up to {VERSION} (upgrade minicomp)")
    net = _build(header["model"])
    masks = {k[: -len(".mask")]: v for k, v in arrays.items() if k.endswith(".mask")}
    net.load_state_dict({k: v for k, v in arrays.items() if not k.endswith(".mask")})
    for name, p in net.named_parameters():
        if name in masks:
            p.mask = masks[name]
    return net
