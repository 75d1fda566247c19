"""Keep the record of a benchmark run, and compare a run with an earlier one.

``minicomp bench NAME --json FILE`` writes :func:`document`: the rows of
the run with what they depend on -- the CPU model and vector features, the
library versions, the BLAS/OpenMP thread settings and the load average
(the machine may be shared) -- so a later run can be compared with it
(``--compare OLD.json``, :func:`compare`). Cells are matched by their
identifying fields (shape, batch, sparsity, ...); each time ``…_s`` is
reported as new / old (< 1: faster now), and each speed-up ``a/b`` likewise
(> 1: better now). Ratios within one run are what to trust on a noisy
machine: a speed-up that fell while the BLAS time did not shows a
regression of ours, a time that rose with it shows a busier machine.

``--explain`` prints :func:`decisions`, the kernel choices
:mod:`minicomp.kernels.dispatch` made during the run.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
import time

from ..atomic import atomic_open
from ..kernels import dispatch, dispatch_cache

LIBRARIES = ("minicomp", "numpy", "numba", "llvmlite", "scipy", "torch")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "MINICOMP_KERNEL")


def environment() -> dict:
    """CPU, library versions (None if not installed), thread settings, load average."""
    model, features = dispatch_cache.cpu_info()
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": model, "cores": os.cpu_count(), "features": features,
            "python": platform.python_version(), "versions": versions,
            "threads": {v: os.environ.get(v) for v in THREAD_VARS},
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv}


def document(bench: str, rows: list) -> dict:
    """The record of one run: ``{"bench", "environment", "rows", "decisions"}``."""
    return {"bench": bench, "environment": environment(), "rows": rows,
            "decisions": dispatch.explain()}


def write(path: str, bench: str, rows: list) -> str:
    """Write :func:`document` as JSON to ``path`` (atomically); return the path."""
    with atomic_open(path, "w", where="--json") as f:
        json.dump(document(bench, rows), f, indent=1, default=str)
        f.write("\n")
    return str(path)


def load(path: str) -> dict:
    """A record written by :func:`write` (a bare list of rows is accepted too).

    Raises
    ------
    ValueError
        The file is not JSON or holds no list of rows.
    """
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except ValueError as e:
        raise ValueError(f"--compare: {path} is not a JSON benchmark record ({e})") from None
    doc = {"rows": doc} if isinstance(doc, list) else doc
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ValueError(f"--compare: {path} holds no rows (write one with --json FILE)")
    return doc


def _identity(row: dict) -> tuple:
    """The fields naming a cell: scalars that are neither times, ratios nor choices."""
    return tuple(sorted((k, v) for k, v in row.items() if isinstance(v, (str, int, float))
                        and not isinstance(v, bool) and not k.endswith("_s") and "/" not in k
                        and k not in ("kernel", "nnz", "seed") and not k.startswith("geomean")))


def compare(old: dict, rows: list) -> list[dict]:
    """Per cell present in both runs: ``{"cell", "time": {k: new/old}, "ratio": {k: new/old}}``.

    >>> old = {"rows": [{"batch": 1, "ours_s": 2.0, "numpy/ours": 3.0}]}
    >>> compare(old, [{"batch": 1, "ours_s": 1.0, "numpy/ours": 6.0}])
    [{'cell': 'batch=1', 'time': {'ours_s': 0.5}, 'ratio': {'numpy/ours': 2.0}}]
    """
    before = {_identity(r): r for r in old["rows"] if isinstance(r, dict)}
    out = []
    for row in rows:
        prev = before.get(_identity(row))
        if prev is None:
            continue
        both = [k for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(
            v, bool) and isinstance(prev.get(k), (int, float)) and prev[k] and v
                and (k.endswith("_s") or "/" in k)]
        if both:
                out.append({"cell": " ".join(f"{k}={v}" for k, v in _identity(row) if k != "bench"),
                        "time": {k: row[k] / prev[k] for k in both if k.endswith("_s")},
                        "ratio": {k: row[k] / prev[k] for k in both if "/" in k}})
    return out


def format_compare(old: dict, rows: list) -> str:
    """:func:`compare` as text, after a line on what differs between the two machines."""
    lines = []
    now, then = environment(), old.get("environment", {})
    for key in ("cpu", "features", "versions", "threads"):
        if then.get(key) != now[key]:
            lines.append(f"note: {key} differs from the earlier run: {then.get(key)!r}")
    if then.get("load_average") is not None:
        lines.append(f"load average then {then['load_average']}, now {now['load_average']}")
    found = compare(old, rows)
    lines.append("times new/old (< 1: faster now); speed-ups new/old (> 1: better now)")
    for c in found:
        parts = [f"{k[:-2]} {v:.2f}" for k, v in c["time"].items()] + [
            f"{k} {v:.2f}" for k, v in c["ratio"].items()]
        lines.append(f"  {c['cell']}: " + ", ".join(parts))
    if not found:
        lines.append("  no cell of this run is in the earlier one")
    return "\n".join(lines)


def decisions() -> str:
    """The dispatch decisions of this process (:func:`minicomp.kernels.dispatch.explain`)."""
    lines = ["kernel dispatch decisions (median µs per design; * = chosen):"]
    for d in dispatch.explain():
        times = " ".join(f"{n}{'*' if n == d['winner'] else ''}={t * 1e6:.1f}"
                         for n, t in d["times"].items())
        lines.append(f"  {d['family']} [{d['key']}] -> {d['winner']} ({d['source']}) {times}")
    return "\n".join(lines if len(lines) > 1 else lines + ["  none"])
