"""The ``minicomp`` command: a thin shell over library functions.

    minicomp tour [--dataset digits|mnist1d|mnist:PATH] [--quick] [--only NAMES] [--seed S]
                  [--json FILE] [--plots DIR] [--quiet]  (every technique on one table)
    minicomp info FILE                         (what a compressed model file holds)
    minicomp predict FILE DATA [--out FILE.npy]   (run it on the kernels)
    minicomp export FILE OUT.onnx              (the compressed model as ONNX)
    minicomp train [--dataset digits|mnist1d] [--epochs N] [--seed S] [--save PATH] [--json]
    minicomp bench train|grade|prune|kernels|int8|quant|distill|ensembles|formats|ptq|
                   ptq_choices|structure|pipeline|onnx
                   [--quick] [--json [FILE]] [--compare OLD.json] [--explain]
    minicomp warmup [--only sparse,int8,fused,nm,ternary] [--jobs N]   (compile ahead)
    minicomp release exercises/ OUT/
    minicomp check FILE_OR_DIR                 (one exercise, or a folder of them)
    minicomp grade SUBMISSIONS/ --out grades.csv [--exercises DIR] [--gradescope DIR]
                   [--feedback DIR] [--jobs N] [--timeout S] [--submission-timeout S]
                   [--memory MB]
    minicomp validate exercises/ [--invert]    (or one exercise folder)
    minicomp gradescope EXERCISE/ OUT.zip

Every verb calls one library function and prints its result; nothing here
computes anything the library cannot. Every number is checked by
:mod:`minicomp.validate` while the arguments are parsed, before any work:
a bad one is an argparse error (exit 2) naming the option and the value.
A mistake the library reports (a ``raise`` in minicomp's own code: a
missing folder, a refused path) is one line, ``minicomp VERB: error: ...``,
exit 2; an error raised by Python or NumPy inside minicomp is a bug and
keeps its traceback.
"""
from __future__ import annotations

import argparse
import dis
import json
import os
import sys

from . import __version__
from .validate import int_option

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
MAX_EPOCHS = 10_000                    # train --epochs
MAX_SEED = 2**32 - 1                   # train --seed


def _save_path(text: str) -> str:
    """``train --save``, checked as :func:`minicomp.checkpoint.save` will, before training:
    a folder, a missing or read-only folder, a device, a FIFO or a read-only file is
    an argparse error (exit 2) naming it (:func:`minicomp.atomic.check_target`)."""
    from .atomic import check_target
    try:
        check_target(text, where="--save")
        if not os.path.splitext(text)[1]:
            check_target(text + ".npz", where="--save")
    except (OSError, TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _cmd_train(args) -> int:
    from .checkpoint import save
    from .metrics import count_parameters, storage_bytes
    from .train import BaselineConfig, train_baseline

    config = BaselineConfig(dataset=args.dataset, seed=args.seed)
    if args.epochs is not None:
        config.epochs = args.epochs
    net, history, result, data = train_baseline(config, quiet=args.quiet or args.json)
    report = {
        "dataset": data.name,
        "model": "MLP " + "-".join(str(s) for s in net.sizes),
        "train_samples": int(len(data.X_train)),
        "validation_samples": int(len(data.X_val)),
        "test_samples": int(len(data.X_test)),
        "epochs": len(history.loss),
        # the last (or the restored best) epoch's accuracy on the validation split
        "validation_accuracy": (history.val_accuracy[-1 if history.best_epoch is None
                                                     else history.best_epoch]
                                if history.val_accuracy else None),
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "parameters": count_parameters(net),
        "bytes_fp32": storage_bytes(net),
        "train_seconds": result["seconds"],
        "seed": config.seed,
    }
    if args.save:
        report["saved"] = save(net, args.save)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"baseline {report['model']} on {report['dataset']} ({report['train_samples']} "
              f"train / {report['validation_samples']} validation / {report['test_samples']} "
              f"test, seed {config.seed})")
        if report["validation_accuracy"] is not None:
            print(f"  validation acc {report['validation_accuracy']:.4f}  (for choices; the test "
                  "set is used once, below)")
        print(f"  test accuracy  {report['test_accuracy']:.4f}")
        print(f"  test loss      {report['test_loss']:.4f}")
        print(f"  parameters     {report['parameters']:,} ({report['bytes_fp32']:,} bytes fp32)")
        print(f"  training time  {report['train_seconds']:.2f} s for {report['epochs']} epochs")
        if args.save:
            print(f"  saved to       {report['saved']}")
    return 0


# `minicomp bench WHAT` runs minicomp/bench/WHAT.py: its run(quick) and format_table(rows)
BENCHMARKS = {
    "train": "one training step vs NumPy/PyTorch",
    "grade": "grading synthetic submissions with --jobs 2",
    "prune": "the pruning targets over 3 seeds (~10 min; --quick: < 1 min)",
    "int8": "int8 layer vs float32 BLAS and torch quantized; designs chosen, per-call "
            "overhead, targets, compile times",
    "kernels": "sparse/int8 kernels vs BLAS, scipy, torch (--quick: < 30 s)",
    "quant": "the quantization targets over 3 seeds (~2 min; --quick: < 30 s)",
    "distill": "the distillation targets over 3 seeds (~8 min; --quick: < 1 min)",
    "ensembles": "the ensembles targets on MNIST-1D over 3 seeds (~4 min; --quick: < 10 s)",
    "formats": "format bit-exactness; 2:4, ternary, CSR, int8 kernels vs BLAS (--quick: < 1 min)",
    "ptq": "post-training reconstruction targets over 3 seeds, bit widths over 10 (~35 min; "
           "--quick: < 1 min)",
    "ptq_choices": "how the ptq defaults were chosen: validation drops (~12 min)",
    "structure": "the structure targets: searches, NAS on MNIST-1D, low rank, folding (~5 min; "
                 "--quick: < 30 s)",
    "pipeline": "Deep Compression (prune, k-means, Huffman) on digits and MNIST-1D over 3 "
                "seeds (~3 min; --quick: < 10 s)",
    "onnx": "the tour's models on the kernels vs onnxruntime, 1 and 2 threads, batch 1 and 256 "
            "(~20 s; --quick: < 10 s)",
}


def _cmd_bench(args) -> int:
    import importlib
    bench = importlib.import_module(f"{__package__}.bench.{args.what}")
    record = importlib.import_module(f"{__package__}.bench.record")
    old = record.load(args.compare) if args.compare else None     # a bad file: before the run
    if args.json not in (None, "-"):
        from .atomic import check_target
        check_target(args.json, where="--json")
    # Designs are decided afresh, in this run's conditions: a decision cached on disk may
    # have been measured on a busy machine. MINICOMP_DISPATCH_CACHE=PATH keeps the file.
    fresh = "MINICOMP_DISPATCH_CACHE" not in os.environ
    if fresh:
        os.environ["MINICOMP_DISPATCH_CACHE"] = "off"
    try:
        rows = bench.run(quick=args.quick)
    finally:
        if fresh:
            del os.environ["MINICOMP_DISPATCH_CACHE"]
    print(json.dumps(rows, indent=2) if args.json == "-" else bench.format_table(rows))
    if args.json not in (None, "-"):
        print(f"record written to {record.write(args.json, args.what, rows)}")
    if old is not None:
        print(record.format_compare(old, rows))
    if args.explain:
        print(record.decisions())
    return 0


def _cmd_warmup(args) -> int:
    import time

    from .kernels import FAMILIES, warmup
    families = FAMILIES if args.only is None else [f.strip() for f in args.only.split(",")]
    t0 = time.perf_counter()
    for name, seconds in warmup(families, args.jobs).items():
        print(f"  {name:<8} {seconds:6.2f} s")
    print(f"compiled (or loaded from Numba's cache) in {time.perf_counter() - t0:.2f} s "
          f"({args.jobs} process{'es' if args.jobs > 1 else ''})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minicomp", description="Model compression from scratch, in NumPy.")
    parser.add_argument("--version", action="version", version=f"minicomp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train the baseline MLP (hidden 64-64) and report it")
    p.add_argument("--dataset", choices=["digits", "mnist1d"], default="digits",
                   help="embedded dataset (default: digits)")
    p.add_argument("--epochs", type=int_option("--epochs", 1, MAX_EPOCHS), default=None,
                   metavar="N", help=f"number of epochs, 1..{MAX_EPOCHS} (default: the "
                                     "baseline recipe's)")
    p.add_argument("--seed", type=int_option("--seed", 0, MAX_SEED), default=0,
                   metavar="S", help="initialisation/shuffling seed, 0..2**32-1 (default 0)")
    p.add_argument("--save", metavar="PATH", type=_save_path,
                   help="save the trained model (.npz; its folder must exist)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("bench", help="benchmarks, as ratios from one run")
    p.add_argument("what", choices=sorted(BENCHMARKS),
                   help="; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items()))
    p.add_argument("--quick", action="store_true", help="fewer samples")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="print rows as JSON; with FILE, write them there with the CPU, "
                        "library versions, thread settings and load average (the record)")
    p.add_argument("--compare", metavar="OLD.json",
                   help="print each cell's ratio to an earlier run's --json FILE")
    p.add_argument("--explain", action="store_true",
                   help="print the kernel dispatch decisions (per-design times, winner)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("warmup", help="compile every kernel ahead of time (e.g. before a "
                                      "class; first calls then load from Numba's cache)")
    p.add_argument("--only", metavar="FAMILIES",
                   help="comma-separated kernel families (default: "
                        "sparse,int8,fused,nm,ternary)")
    p.add_argument("--jobs", type=int_option("--jobs", 1, 64), default=os.cpu_count() or 1,
                   metavar="N", help="processes compiling at once (default: the CPU count)")
    p.set_defaults(func=_cmd_warmup)

    from .grading.cli import add_commands
    add_commands(sub)
    from .store.cli import add_commands as store_commands
    store_commands(sub)
    from .tour.cli import add_commands as tour_commands
    tour_commands(sub)
    return parser


def user_error(e: BaseException) -> bool:
    """Whether ``e`` is a message for the user rather than a bug.

    It is when a ``raise`` statement in minicomp's own code raised it (a
    refused argument, a missing folder, a read-only target, a malformed
    ``tests.py``), or when the operating system reports a problem with a
    named file (an OSError with ``e.filename`` set: missing, no permission).
    The same types raised by Python or NumPy inside minicomp (``None + 1``,
    a shape mismatch) are bugs.
    """
    if isinstance(e, OSError) and e.filename is not None:
        return True
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    ours = os.path.abspath(code.co_filename).startswith(PACKAGE_DIR + os.sep)
    return ours and dis.opname[code.co_code[tb.tb_lasti]] == "RAISE_VARARGS"


def main(argv=None) -> int:
    """Run ``minicomp`` with ``argv``; return the exit status.

    Exit 0 when the reader of the output goes away (``| head``); exit 2 for
    a bad argument (argparse raises ``SystemExit(2)``) or a refused input or
    path (one line on stderr, see :func:`user_error`); 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:                 # `minicomp tour | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no flush error
        return 0
    except (ValueError, TypeError, OSError) as e:
        if not user_error(e):
            raise
        text = str(e).replace("\n", " ").removeprefix(f"{args.command}: ")
        print(f"minicomp {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minicomp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
