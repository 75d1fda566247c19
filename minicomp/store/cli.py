"""``minicomp info FILE``, ``minicomp predict FILE DATA``, ``minicomp export FILE OUT.onnx``.

A thin shell over :func:`minicomp.store.load`: ``info`` prints what a
compressed model file holds (kind, shape and bytes per layer, header bytes,
total, compression ratio against float32); ``predict`` runs it on the
kernels on a ``.npy`` array of inputs (B, in) or on the test split of an
embedded dataset (``digits``, ``mnist1d``: then the accuracy is printed);
``export`` writes it as ONNX (:mod:`minicomp.store.onnx`, imported when the
command runs). The lead registers them in :func:`minicomp.cli.build_parser`
with ``from .store.cli import add_commands as store_commands;
store_commands(sub)``.
"""
from __future__ import annotations

import os

import numpy as np

DATASETS = ("digits", "mnist1d")


def float32_bytes(model) -> int:
    """Bytes of the same layers as dense float32 weights and biases (the baseline)."""
    return int(sum(4 * (out * n_in + out) for out, n_in in (r.shape for r in model.records())))


def info_lines(model, path: str) -> list:
    """The lines ``minicomp info`` prints for ``model`` read from ``path``."""
    size = os.path.getsize(path)
    header, base = size - model.nbytes, float32_bytes(model)
    rows = model.describe()
    w = max(5, *(len(r["layer"]) for r in rows)) + 2                 # the layer column
    lines = [f"{path}: {model.structure}"
             + (f", weights {model.weights}" if model.structure == "ensemble" else "")
             + (f", tau {model.tau}" if model.structure == "cascade" else "")
             + f", {model.in_features} inputs -> {model.out_features} {model.outputs}",
             f"{'layer':<{w}}{'kind':<12}{'in -> out':>14}{'relu':>6}{'nonzeros':>10}"
             f"{'bytes':>10}"]
    for row in rows:
        out, n_in = row["shape"]
        lines.append(f"{row['layer']:<{w}}{row['kind']:<12}{f'{n_in} -> {out}':>14}"
                     f"{'yes' if row['relu'] else 'no':>6}{row['nonzeros']:>10}"
                     f"{row['bytes']:>10}")
    lines += [f"payload {model.nbytes} bytes + header {header} bytes = {size} bytes on disk",
              f"float32: {base} bytes; compression {base / size:.2f}x "
              f"({base / max(model.nbytes, 1):.2f}x without the header)"]
    return lines


def _cmd_info(args) -> int:
    from .file import load
    print("\n".join(info_lines(load(args.file), args.file)))
    return 0


def read_data(data: str, width: int):
    """``(X float32 (B, in), y or None, what)`` of a DATA argument: a dataset or a .npy file."""
    from .. import validate
    if data in DATASETS:
        from ..data import load_digits, load_mnist1d
        d = load_digits() if data == "digits" else load_mnist1d()
        return validate.array(d.X_test, f"DATA {data!r}", ndim=2, width=width, where="predict",
                              dtype=np.float32), d.y_test, f"the {data} test split"
    if not os.path.isfile(data):
        raise FileNotFoundError(f"predict: DATA={data!r} is neither {' nor '.join(DATASETS)} "
                                "nor an existing .npy file of inputs (B, in)")
    try:
        # no pickles (object arrays refused); mapped, so a header cannot claim more than the
        # file holds (np.load would allocate the shape it claims)
        X = np.load(data, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"predict: DATA={data!r} is not a readable .npy array ({e}); "
                         f"expected float inputs (B, {width})") from None
    if not isinstance(X, np.ndarray):                # a .npz archive: np.load's NpzFile
        X.close()
        raise ValueError(f"predict: DATA={data!r} is a .npz archive; expected one .npy "
                         f"array of float inputs (B, {width})")
    X = validate.array(X, f"DATA {data!r}", ndim=2, width=width, where="predict",
                       dtype=np.float32)
    return np.array(X), None, data                   # a copy, not a view of the map


def _cmd_predict(args) -> int:
    from .file import load
    model = load(args.model)
    X, y, what = read_data(args.data, model.in_features)
    labels = model.predict(X).argmax(axis=1)                       # (B,)
    if args.out:
        from ..atomic import atomic_open
        with atomic_open(args.out, "wb", where="predict --out") as f:
            np.save(f, labels)
    if y is not None:
        print(f"accuracy {float((labels == y).mean()):.4f} on {len(y)} examples ({what})")
    else:
        print(" ".join(str(int(v)) for v in labels))
    return 0


def _cmd_export(args) -> int:
    from .onnx import export                       # onnx is optional: imported on use
    export(args.model, args.out)
    print(f"wrote {args.out}")
    return 0


def add_commands(sub) -> None:
    """Add ``info``, ``predict`` and ``export`` to the ``minicomp`` sub-parsers ``sub``."""
    p = sub.add_parser("info", help="what a compressed model file holds: layers, bytes, ratio")
    p.add_argument("file", help="a file written by minicomp.store.save")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("predict", help="run a compressed model file on the kernels")
    p.add_argument("model", metavar="FILE", help="a file written by minicomp.store.save")
    p.add_argument("data", metavar="DATA",
                   help="a .npy array of inputs (B, in), or digits / mnist1d (test split: "
                        "prints the accuracy)")
    p.add_argument("--out", metavar="FILE.npy", help="also save the predicted labels")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="write a compressed model file as ONNX")
    p.add_argument("model", metavar="FILE", help="a file written by minicomp.store.save")
    p.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    p.set_defaults(func=_cmd_export)
