"""Save and load a model -- weights *and* architecture -- as one ``.npz`` file.

Format (version 1): an ``.npz`` archive (no pickle) holding ``__minicomp__``,
the UTF-8 JSON ``{"format": "minicomp-model", "version": 1, "model":
{"type": ..., "config": ...}}`` as a uint8 array; each parameter under its
``state_dict`` key (``"0.weight"``); ``<key>.mask`` for a pruning mask.

:func:`save` writes atomically and refuses, before writing, any layer
:func:`load` cannot rebuild exactly (only :data:`LOADABLE` types).
:func:`load` trusts nothing: before allocating it checks the zip directory,
the header, every config value, and the ``.npy`` headers' shapes and dtypes
against the architecture; then it reads the arrays (``allow_pickle=False``)
and refuses NaN weights and masks that are not 0/1.
"""
from __future__ import annotations

import functools
import json
import os
import stat
import zipfile
import zlib

import numpy as np

from . import nn, validate
from .archive import members_of, npy_meta
from .atomic import atomic_open, check_target
from .nn import Module, Parameter
from .tensor import Tensor

FORMAT = "minicomp-model"
VERSION = 1
HEADER = "__minicomp__"
MAX_FEATURES = 2**24          # largest in/out width a file may declare
MAX_DEPTH = 32                # deepest nesting of Sequential in Sequential
MAX_HEADER_BYTES = 2**22      # the JSON header is at most 4 MiB


def _size(v, name, where):
    return validate.integer(v, name, low=1, high=MAX_FEATURES, where=where)


def _sizes(v, name, where):
    if not isinstance(v, list) or len(v) < 2:
        raise ValueError(f"{where}: {name}={str(v)[:60]}; expected a list of at least two sizes")
    return [_size(s, f"{name}[{i}]", where) for i, s in enumerate(v)]


_init = functools.partial(validate.choice, options=("he", "xavier"))


#: layer type -> {config key: check(value, name, where) -> clean value}
SCHEMA = {"Dense": {"in_features": _size, "out_features": _size, "bias": validate.flag,
                    "init": _init},
          "ReLU": {}, "Sigmoid": {}, "Tanh": {}, "Identity": {},
          "Dropout": {"p": lambda v, n, where: validate.number(v, n, low=0, high=1,
                                                           high_open=True, where=where),
                      "seed": lambda v, n, where: None if v is None else validate.integer(
                          v, n, low=0, where=where)},
          "Sequential": {"layers": None},
          "MLP": {"sizes": _sizes, "init": _init, "activation": lambda v, n, where:
                  validate.choice(v, n, tuple(nn.ACTIVATIONS), where=where)}}
#: the classes load can rebuild (exactly these, not subclasses)
LOADABLE = {name: getattr(nn, name) for name in SCHEMA}

_NO_FORMAT = "has no file format yet: save the float net it came from, or Dense layers holding "
_HINTS = {"SharedDense": "k-means weight sharing " + _NO_FORMAT + "W = layer.weight()",
          "QuantizedMLP": "a quantized net " + _NO_FORMAT + "the dequantized weights",
          "QATMLP": "save the float net it trains instead: save(qat.net, path)"}


def _diff(unknown, missing, noun: str) -> str:
    return " and ".join(f"{what} {noun} {sorted(map(str, keys))[:10]}" for what, keys in
                        (("unexpected", unknown), ("missing", missing)) if keys)


def _check_desc(desc, pos: str, where: str, depth: int = 0) -> dict:
    """``{"type", "config"}`` checked against :data:`SCHEMA`; ``pos`` names the layer."""
    kind = desc["type"] if isinstance(desc, dict) and set(desc) == {"type", "config"} else desc
    if not isinstance(kind, str) or kind not in SCHEMA:
        raise ValueError(f"{where}: {pos} is {str(kind)[:60]!r}; expected {{'type': one of "
                         f"{sorted(SCHEMA)}, 'config': {{...}}}}")
    config = desc["config"]
    at = f"{where}: {pos} ({kind})"
    if not isinstance(config, dict):
        raise ValueError(f"{at}: config is a {type(config).__name__}; expected a dict")
    unknown, missing = set(config) - set(SCHEMA[kind]), set(SCHEMA[kind]) - set(config)
    if unknown or missing:
        raise ValueError(f"{at}: config has {_diff(unknown, missing, 'keys')}; expected "
                         f"exactly {sorted(SCHEMA[kind])}")
    if kind != "Sequential":
        return {"type": kind, "config": {k: check(config[k], k, where=at)
                                         for k, check in SCHEMA[kind].items()}}
    if not isinstance(config["layers"], list) or depth >= MAX_DEPTH:
        raise ValueError(f"{at}: layers is a {type(config['layers']).__name__} at depth "
                         f"{depth}; expected a list, nested at most {MAX_DEPTH} deep")
    return {"type": kind, "config": {"layers": [
        _check_desc(d, f"{pos}[{i}]", where, depth + 1) for i, d in enumerate(config["layers"])]}}


def _children(desc: dict) -> list:
    """The child descriptions of a container, in order (an MLP's as its constructor builds them)."""
    c = desc["config"]
    if desc["type"] == "Sequential":
        return c["layers"]
    if desc["type"] != "MLP":
        return []
    layers, sizes = [], c["sizes"]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):          # mirrors MLP()
        layers.append({"type": "Dense", "config": {"in_features": n_in, "out_features": n_out,
                                                   "bias": True, "init": c["init"]}})
        if i < len(sizes) - 2 and c["activation"] != "identity":
            layers.append({"type": nn.ACTIVATIONS[c["activation"]].__name__, "config": {}})
    return layers


def _shapes(desc: dict, prefix: str = "") -> dict:
    """``{state_dict key: shape}`` of every parameter the architecture has (nothing built)."""
    shapes = {}
    if desc["type"] == "Dense":
        c = desc["config"]
        shapes[prefix + "weight"] = (c["out_features"], c["in_features"])   # (out, in)
        if c["bias"]:
            shapes[prefix + "bias"] = (c["out_features"],)                  # (out,)
    for i, child in enumerate(_children(desc)):
        shapes.update(_shapes(child, f"{prefix}{i}."))
    return shapes


def _build(desc: dict) -> Module:
    if desc["type"] == "Sequential":
        return nn.Sequential(*[_build(d) for d in desc["config"]["layers"]])
    return LOADABLE[desc["type"]](**desc["config"])


def _describe(m: Module, pos: str, depth: int = 0) -> dict:
    """The checked description of ``m``; TypeError if load could not rebuild it exactly."""
    name = type(m).__name__
    if LOADABLE.get(name) is not type(m):
        hint = _HINTS.get(name, "build the model from those (or add the type to SCHEMA)")
        raise TypeError(f"save: {pos} is a {name}, which load cannot rebuild (it reads "
                        f"{', '.join(sorted(LOADABLE))}); {hint}")
    for attr, value in vars(m).items():
        if isinstance(value, (np.ndarray, Tensor)) and not isinstance(value, Parameter):
            raise TypeError(f"save: {pos} ({name}) holds the array {attr!r}, which is not a "
                            "Parameter and would not be saved")
    if depth >= MAX_DEPTH:
        raise TypeError(f"save: {pos} is nested deeper than {MAX_DEPTH} levels (or in itself)")
    children = [_describe(c, f"{pos}[{i}]", depth + 1)
                for i, (_, c) in enumerate(m.named_children())]
    if name == "Sequential":
        nn.Sequential(*m.layers)            # the width checks load runs (allocates nothing)
        return {"type": name, "config": {"layers": children}}
    desc = _check_desc({"type": name, "config": m.config()}, pos, "save")
    if children != _children(desc):
        raise TypeError(f"save: {pos} ({name}) has sub-modules that no longer match its config "
                        f"{desc['config']} (changed after construction?); save "
                        f"Sequential(*{pos}.layers) instead")
    return desc


def _check_meta(key: str, shape, dtype, shapes: dict, where: str) -> None:
    """One array's shape and dtype against what the architecture needs."""
    is_mask = key.endswith(".mask")
    want = shapes[key[:-5] if is_mask else key]
    if tuple(shape) != want or dtype.kind not in ("biuf" if is_mask else "f"):
        raise ValueError(f"{where}: array {key!r} has shape {tuple(shape)} and dtype {dtype}; "
                         f"expected {want} of {'0/1 numbers' if is_mask else 'floats'} "
                         f"({'the parameter' if is_mask else 'the architecture'}'s shape)")


def _check_keys(shapes: dict, keys, where: str) -> None:
    unknown = set(keys) - set(shapes) - {k + ".mask" for k in shapes}
    missing = set(shapes) - set(keys)
    if unknown or missing:
        raise ValueError(f"{where}: {_diff(unknown, missing, 'arrays')}; the architecture "
                         f"has {sorted(shapes)[:10]} (each optionally with '.mask')")


def _check_values(key: str, value: np.ndarray, where: str) -> None:
    if not key.endswith(".mask"):
        validate.array(value, f"array {key!r}", where=where)          # finite
    elif not (ok := np.isin(value, (0, 1))).all():
        raise ValueError(f"{where}: mask {key!r} holds {value[~ok].flat[0]}; a mask holds "
                         "only 0 and 1")


def save(net: Module, path) -> str:
    """Write ``net`` (architecture, weights, masks) to ``path``; return the path written.

    ``.npz`` is appended when ``path`` has no suffix (``"model"`` ->
    ``"model.npz"``); any other name is used as given. The file is replaced
    atomically and keeps the mode of the file it replaces.

    Raises
    ------
    TypeError
        ``net`` is not a Module or holds a layer :func:`load` cannot rebuild
        (named with its position, e.g. ``net[2]``).
    ValueError
        A parameter or mask :func:`load` would refuse (NaN, shape, not 0/1), or one
        layer object at two positions (``load`` could not tie them again).
    IsADirectoryError, FileNotFoundError, NotADirectoryError
        ``path`` is a folder, or its folder does not exist.
    ValueError
        ``path`` exists and is not a regular file (a symbolic link, a device
        such as ``/dev/null``, a FIFO, a socket): it is refused, never replaced.
    PermissionError
        ``path`` is a file this process may not write (e.g. mode 0444), as
        ``open(path, "wb")`` would refuse it, or its folder is not writable.

    All are raised before anything is written (:func:`minicomp.atomic.check_target`).
    """
    validate.module(net, "net", where="save")
    path = check_target(path, where="save")
    if not os.path.splitext(path)[1]:
        path = check_target(path + ".npz", where="save")
    desc, seen = _describe(net, "net"), {}
    shapes, arrays = _shapes(desc), {}
    for name, p in net.named_parameters():
        at = "net[" + "][".join(name.split(".")[:-1]) + "]"         # the layer's position
        if seen.setdefault(id(p), at) != at:                          # load would untie them
            raise ValueError(f"save: net uses one layer object at two positions, {seen[id(p)]} "
                             f"and {at}; expected a distinct layer at each position (a shared "
                             "layer would load as two copies)")
        arrays[name] = p.data
        if getattr(p, "mask", None) is not None:
            arrays[name + ".mask"] = np.asarray(p.mask)
    _check_keys(shapes, arrays, "save")
    for key, value in arrays.items():
        _check_meta(key, value.shape, value.dtype, shapes, "save")
        _check_values(key, value, "save")
    header = {"format": FORMAT, "version": VERSION, "model": desc}
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_open(path, where="save") as f:         # temp file + rename
        np.savez(f, **arrays)
    return path


def _read_header(zf, info, where: str) -> dict:
    shape, dtype = npy_meta(zf, info, where)          # reads the .npy header only
    if dtype != np.uint8 or len(shape) != 1 or info.file_size > MAX_HEADER_BYTES:
        raise ValueError(f"{where}: header is a {dtype} array of shape {shape}; expected at "
                         f"most {MAX_HEADER_BYTES} bytes (uint8)")
    with zf.open(info) as f:
        text = np.lib.format.read_array(f, allow_pickle=False).tobytes().decode()
    header = json.loads(text)
    if not isinstance(header, dict) or set(header) != {"format", "version", "model"}:
        keys = sorted(map(str, header)) if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"{where}: header holds {keys}; expected the keys "
                         "['format', 'model', 'version']")
    form, version = header["format"], header["version"]
    if form != FORMAT or type(version) is not int or not 1 <= version <= VERSION:
        raise ValueError(f"{where}: has format {str(form)[:40]!r} version {str(version)[:20]}; "
                         f"this minicomp reads {FORMAT!r} files of versions up to {VERSION} "
                         "(upgrade minicomp for newer files)")
    return header


def _load_archive(zf, file_size: int, where: str) -> Module:
    members = members_of(zf, file_size, where)
    if HEADER not in members:
        raise ValueError(f"{where} is an .npz archive but not a minicomp model (no "
                         f"{HEADER!r} header; it holds {sorted(members)[:5]})")
    header = _read_header(zf, members.pop(HEADER), where)
    desc = _check_desc(header["model"], "model", where)
    shapes = _shapes(desc)
    _check_keys(shapes, members, where)
    for key, info in members.items():                  # .npy headers only: nothing allocated
        _check_meta(key, *npy_meta(zf, info, where), shapes, where)
    net = _build(desc)
    params = dict(net.named_parameters())
    for key, info in members.items():
        with zf.open(info) as f:
            value = np.lib.format.read_array(f, allow_pickle=False)
        _check_values(key, value, where)
        if key.endswith(".mask"):
            params[key[:-5]].mask = value.astype(params[key[:-5]].dtype)
        else:
            params[key].data[...] = value
    return net


def load(path) -> Module:
    """Rebuild a model saved by :func:`save`, checking everything in the file.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No such file; ``path`` is a directory.
    ValueError
        Anything else wrong with the file (empty, not a model, corrupt,
        newer version, bad config, array missing/unexpected/misshapen,
        NaN, mask not 0/1, sizes it cannot hold), naming file and key.
    """
    path = validate.path(path, where="load")
    where = f"load: {path!r}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))   # a FIFO must not block
    except (FileNotFoundError, NotADirectoryError):
        hint = f" (did you mean {path + '.npz'!r}?)" if os.path.isfile(path + ".npz") else ""
        raise FileNotFoundError(f"{where}: no such file{hint}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        os.close(fd)
        error, what = ((IsADirectoryError, "a directory") if stat.S_ISDIR(st.st_mode) else
                       (ValueError, "empty" if stat.S_ISREG(st.st_mode) else "not a regular file"))
        raise error(f"{where} is {what}; expected a file written by minicomp.save")
    with os.fdopen(fd, "rb") as f:
        try:
            with zipfile.ZipFile(f) as zf:
                return _load_archive(zf, st.st_size, where)
        except (ValueError, TypeError) as e:
            if str(e).startswith(where):
                raise ValueError(str(e)) from None       # checks of file content: ValueError
            if isinstance(e, TypeError):
                raise
            reason = f"{type(e).__name__}: {e}"
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RecursionError,
                NotImplementedError, RuntimeError) as e:
            reason = f"{type(e).__name__}: {e}"
    raise ValueError(f"{where} is not a readable minicomp model ({reason[:300]})")
