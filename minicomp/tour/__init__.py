"""``minicomp tour``: one baseline compressed every way the library knows, on one table.

The tour trains the baseline MLP (:class:`~minicomp.train.BaselineConfig`)
on the embedded digits (or MNIST-1D, or MNIST from IDX files), applies
every technique of the library with sensible defaults -- pruning,
quantization, number formats, codebooks, distillation, low rank, search,
ensembles and the full Deep Compression pipeline -- stores each result
with :func:`minicomp.store.pack`, and measures each stored model the same
way: test accuracy, nonzero weights, bytes, compression ratio and latency
on the kernels at batch 1 and 256. Every choice (sparsity, bits, rank,
temperature, tau, architecture) is made on the validation split; the test
set gives the table's numbers only.

- :mod:`.registry`: a technique is one registered function; the context it sees;
  choices on validation (:meth:`~.registry.Context.pick`);
- :mod:`.prune`, :mod:`.quant`, :mod:`.models`, :mod:`.deep`: the rows, in the
  table's order;
- :mod:`.runner`: :class:`TourConfig` and :func:`run` (baseline, build, store, measure);
- :mod:`.table`: the table (box drawing and colour in a terminal, plain text when
  piped) and its one-line conclusion; :mod:`.plots`: accuracy vs bytes and vs latency,
  Pareto fronts marked; :mod:`.cli`: the ``minicomp tour`` verb.

Examples
--------
From Python (the capstone chapter does this)::

    from minicomp.tour import TourConfig, run, format_table
    rows = run(TourConfig(quick=True, only=("magnitude", "ptq8_channel")))
    print(format_table(rows))
"""
__all__ = ["TECHNIQUES", "TourConfig", "check_names", "conclusion", "format_table", "run"]


def __getattr__(name):
    """The entry points on first use (PEP 562): ``minicomp``'s parser imports
    :mod:`.cli` on every command, and the rows import most of the library."""
    if name in ("TECHNIQUES", "TourConfig", "check_names", "run"):
        from . import runner as module             # importing it registers every row
    elif name in ("conclusion", "format_table"):
        from . import table as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
