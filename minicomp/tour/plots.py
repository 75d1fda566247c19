"""The tour's two figures: test accuracy vs bytes (log x) and vs latency at batch 256.

Each point is a row of :func:`minicomp.tour.run`; the Pareto front (the
models no other model beats on both axes: fewer bytes, or less time, *and*
higher accuracy; :func:`minicomp.structure.pareto_front`) is drawn as a
step line and its points are labelled. Written with matplotlib's Agg
backend (no display needed), each PNG atomically
(:func:`minicomp.atomic.atomic_open`).
"""
from __future__ import annotations

import os

from ..atomic import atomic_open, check_folder
from ..structure import pareto_front

FIGURES = (("bytes", "accuracy_vs_bytes.png", "stored bytes (log scale)"),
           ("latency_b256_s", "accuracy_vs_latency.png",
            "latency at batch 256, µs (log scale)"))


def _figure(rows, key, xlabel, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = 1e6 if key.startswith("latency") else 1.0              # seconds -> µs
    x = [scale * r[key] for r in rows]
    y = [100 * r["accuracy"] for r in rows]
    front = pareto_front(x, y)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.scatter(x, y, c="C0", s=22, label="technique")
    ax.scatter(x[0], y[0], c="k", marker="s", s=40, label="float32 baseline")
    ax.step([x[i] for i in front], [y[i] for i in front], where="post", c="C3", lw=1.2)
    ax.scatter([x[i] for i in front], [y[i] for i in front], facecolors="none",
               edgecolors="C3", s=90, label="Pareto front")
    for i in front:
        ax.annotate(rows[i]["label"], (x[i], y[i]), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")
    ax.set(xscale="log", xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig, plt


def write_plots(rows, folder, dataset: str = "digits") -> list:
    """Write the two PNGs into ``folder`` (created if missing); return their paths.

    Raises
    ------
    ValueError
        Fewer than one row.
    NotADirectoryError, PermissionError
        ``folder`` (or its nearest existing parent) is a file, or not writable.
    """
    if not rows:
        raise ValueError("write_plots: rows is empty; expected the rows of minicomp.tour.run")
    check_folder(os.path.join(os.fspath(folder), "x.png"), where="--plots")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for key, name, xlabel in FIGURES:
        what = "bytes" if key == "bytes" else "latency (batch 256)"
        fig, plt = _figure(rows, key, xlabel, f"minicomp tour on {dataset}: accuracy vs {what}")
        path = os.path.join(folder, name)
        with atomic_open(path, "wb", where="--plots") as f:
            fig.savefig(f, format="png", dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
