"""The ``minicomp`` command: a thin shell over library functions.

    minicomp train [--dataset digits|mnist1d] [--epochs N] [--seed S] [--save PATH] [--json]
    minicomp bench train [--quick] [--json]
    minicomp bench grade [--quick] [--json]
    minicomp bench prune [--quick] [--json]
    minicomp bench kernels [--quick] [--json]
    minicomp bench int8 [--quick] [--json]
    minicomp bench quant [--quick] [--json]
    minicomp release exercises/ OUT/
    minicomp check FILE_OR_DIR
    minicomp grade SUBMISSIONS/ --out grades.csv [--gradescope DIR] [--jobs N] [--timeout S]
    minicomp validate exercises/ [--invert]

Every verb calls one library function and prints its result; nothing here
computes anything the library cannot.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _cmd_train(args) -> int:
    from .checkpoint import save
    from .metrics import count_parameters, dense_bytes
    from .train import BaselineConfig, train_baseline

    config = BaselineConfig(dataset=args.dataset, seed=args.seed)
    if args.epochs is not None:
        config.epochs = args.epochs
    net, history, result, data = train_baseline(config, quiet=args.quiet or args.json)
    report = {
        "dataset": data.name,
        "model": "MLP " + "-".join(str(s) for s in net.sizes),
        "train_samples": int(len(data.X_train)),
        "test_samples": int(len(data.X_test)),
        "epochs": len(history.loss),
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "parameters": count_parameters(net),
        "bytes_fp32": dense_bytes(net),
        "train_seconds": result["seconds"],
        "seed": config.seed,
    }
    if args.save:
        report["saved"] = save(net, args.save)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"baseline {report['model']} on {report['dataset']} "
              f"({report['train_samples']} train / {report['test_samples']} test, seed {config.seed})")
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
    "int8": "int8 layer vs float32 BLAS and torch quantized; compile times",
    "kernels": "sparse/int8 kernels vs BLAS, scipy, torch (--quick: < 30 s)",
    "quant": "the quantization targets over 3 seeds (~2 min; --quick: < 30 s)",
}


def _cmd_bench(args) -> int:
    import importlib
    bench = importlib.import_module(f"{__package__}.bench.{args.what}")
    rows = bench.run(quick=args.quick)
    print(json.dumps(rows, indent=2) if args.json else bench.format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minicomp", description="Model compression from scratch, in NumPy.")
    parser.add_argument("--version", action="version", version=f"minicomp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train the baseline MLP (hidden 64-64) and report it")
    p.add_argument("--dataset", choices=["digits", "mnist1d"], default="digits",
                   help="embedded dataset (default: digits)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="number of epochs (default: the baseline recipe's)")
    p.add_argument("--seed", type=int, default=0, help="initialisation/shuffling seed")
    p.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("bench", help="benchmarks, as ratios from one run")
    p.add_argument("what", choices=sorted(BENCHMARKS),
                   help="; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items()))
    p.add_argument("--quick", action="store_true", help="fewer samples")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    p.set_defaults(func=_cmd_bench)

    from .grading.cli import add_commands
    add_commands(sub, _positive_int)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"minicomp: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
