"""Argparse wiring of ``minicomp tour``: :func:`add_commands` adds the verb.

    minicomp tour [--dataset digits|mnist1d|mnist:PATH] [--json FILE] [--plots DIR]
                  [--seed S] [--quick] [--only NAMES] [--quiet]

Every option is checked while parsing, before any training (exit 2 and one
line naming the option): an unknown or repeated technique name in
``--only`` (the message lists the names), a dataset spelled otherwise or a
``mnist:PATH`` that is not a folder, a ``--json`` target or ``--plots``
folder that cannot be written (a file is created there and removed, so a
read-only or virtual file system is caught too).

The handler calls :func:`minicomp.tour.run`, writes ``--json`` (atomically,
:func:`minicomp.atomic.atomic_open`, every number finite) and ``--plots``
(the two figures of :mod:`minicomp.tour.plots`) first, so a run is not lost
to a failing print, then prints :func:`minicomp.tour.format_table` (ASCII
stand-ins for Δ, µ and the box characters on a stdout that cannot encode them).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from ..validate import int_option

MAX_SEED = 2**32 - 1


def _dataset(text: str) -> str:
    if text in ("digits", "mnist1d"):
        return text
    if text.startswith("mnist:") and os.path.isdir(text[len("mnist:"):]):
        return text
    if text.startswith("mnist:"):
        raise argparse.ArgumentTypeError(f"--dataset={text!r}: {text[len('mnist:'):]!r} is not "
                                         "a folder; expected mnist:PATH, PATH a folder holding "
                                         "the four MNIST IDX files")
    raise argparse.ArgumentTypeError(f"--dataset={text!r}; expected digits, mnist1d or "
                                     "mnist:PATH")


def _only(text: str) -> tuple:
    from .runner import check_names                # importing .runner registers every row
    try:
        return tuple(check_names(text))
    except ValueError as e:                     # "only: unknown technique 'x'; expected ..."
        raise argparse.ArgumentTypeError(f"--only={text!r}: {str(e).partition(': ')[2]}") \
            from None


def _probe(folder: str, option: str, text: str) -> None:
    """A file can be created in ``folder``: ``os.access`` says yes to root everywhere,
    and a read-only or virtual file system (``/proc``) refuses only the creation."""
    import tempfile
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{option}={text!r}: cannot create a file in "
                                         f"{folder!r} ({e.strerror}); expected a writable "
                                         "folder") from None


def _json_path(text: str) -> str:
    from ..atomic import check_target
    try:
        check_target(text, where="--json")
    except (OSError, TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    _probe(os.path.dirname(os.path.abspath(text)), "--json", text)
    return text


def _plots_dir(text: str) -> str:
    from ..atomic import check_folder
    from ..validate import path
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"--plots={text!r} is a file; expected a folder "
                                         "(created if missing)")
    try:
        folder = check_folder(os.path.join(path(text, where="--plots"), "accuracy_vs_bytes.png"),
                              where="--plots")
    except (OSError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    _probe(folder, "--plots", text)
    return text


def write_json(path: str, rows, config, seconds: float) -> str:
    """The run's record as JSON, atomically, NaN/inf refused: the benchmarks' record
    (:func:`minicomp.bench.record.document`: CPU, versions, threads, load) with the
    tour's settings and seconds."""
    from ..atomic import atomic_open
    from ..bench.record import document
    from .runner import describe
    record = {**document("tour", rows), **describe(config), "seconds": seconds}
    text = json.dumps(record, indent=1, allow_nan=False)        # every number finite
    with atomic_open(path, "w", where="--json") as f:
        f.write(text + "\n")
    return path


def _cmd_tour(args) -> int:
    from .plots import write_plots
    from .runner import TourConfig, run
    from .table import encodable, format_table
    config = TourConfig(dataset=args.dataset, seed=args.seed, quick=args.quick, only=args.only,
                        quiet=args.quiet)
    t0 = time.perf_counter()
    rows = run(config)
    seconds = time.perf_counter() - t0
    written = [write_json(args.json, rows, config, seconds)] if args.json else []
    written += write_plots(rows, args.plots, args.dataset) if args.plots else []
    text = format_table(rows) + (f"\n{len(rows) - 1} techniques on {args.dataset} (seed "
                                 f"{args.seed}{', --quick' if args.quick else ''}) in "
                                 f"{seconds:.1f} s")
    print(encodable(text + "".join(f"\nwritten: {p}" for p in written)))
    return 0


def add_commands(sub) -> None:
    """Add ``tour`` to ``minicomp``'s sub-parsers (see :func:`minicomp.cli.build_parser`)."""
    p = sub.add_parser("tour", help="compress the baseline every way minicomp knows and "
                                    "compare them on one table (start here)")
    p.add_argument("--dataset", type=_dataset, default="digits", metavar="NAME",
                   help="digits (embedded, default), mnist1d (generated locally) or "
                        "mnist:PATH (a folder of the four MNIST IDX files)")
    p.add_argument("--json", type=_json_path, metavar="FILE",
                   help="also write the rows, settings and machine as JSON (atomically)")
    p.add_argument("--plots", type=_plots_dir, metavar="DIR",
                   help="write accuracy_vs_bytes.png and accuracy_vs_latency.png to DIR")
    p.add_argument("--seed", type=int_option("--seed", 0, MAX_SEED), default=0, metavar="S",
                   help="seed of the baseline, fine-tuning and search, 0..2**32-1 (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="fewer options, epochs and timing rounds (a smoke run)")
    p.add_argument("--only", type=_only, metavar="NAMES",
                   help="comma-separated technique names (e.g. magnitude,ptq8_channel,"
                        "pipeline); a wrong one is refused with the list of names")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_tour)
