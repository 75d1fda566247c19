"""``minicomp bench grade``: how long grading a class takes, with ``--jobs 2``.

Synthetic submissions are copies of the reference solutions and of broken
variants (the released stub, a syntax error, a missing file), in the
ratio 4 : 2 : 1 : 1, for every exercise in ``exercises/``. Each row is one
``grade()`` run: wall time, time per submission, and the cost of starting
one sandboxed process on an empty file (the fixed overhead per exercise).
Target of the grading issue: 100 submissions of ``01_autograd`` in under
3 minutes on 2 cores.
"""
from __future__ import annotations

import os
import pathlib
import statistics
import tempfile
import time

from ..grading.grade import grade, probe
from ..grading.release import build_release
from ..grading.sandbox import Limits

EXERCISES = pathlib.Path(__file__).resolve().parents[2] / "exercises"
VARIANTS = ("reference",) * 4 + ("stub",) * 2 + ("syntax_error", "missing")


def make_submissions(root, exercises, names, n: int) -> None:
    """Write ``n`` students' folders under ``root``, cycling through VARIANTS."""
    released = build_release(exercises)
    for k in range(n):
        variant = VARIANTS[k % len(VARIANTS)]
        for name in names:
            folder = os.path.join(root, f"s{k:04d}", name)
            os.makedirs(folder)
            if variant == "missing":
                continue
            source = pathlib.Path(exercises, name, "exercise.py").read_bytes()
            if variant == "stub":
                source = released[os.path.join(name, "exercise.py")]
            elif variant == "syntax_error":
                source += b"\ndef broken(:\n"
            with open(os.path.join(folder, "exercise.py"), "wb") as f:
                f.write(source)


def time_grading(names, n: int, jobs: int = 2, exercises=EXERCISES) -> dict:
    """Grade ``n`` synthetic submissions of the exercises ``names``; one row."""
    with tempfile.TemporaryDirectory(prefix="minicomp-bench-grade-") as tmp:
        src = os.path.join(tmp, "exercises")
        for name in names:
            os.makedirs(os.path.join(src, name))
            for f in ("exercise.py", "tests.py"):
                data = pathlib.Path(exercises, name, f).read_bytes()
                pathlib.Path(src, name, f).write_bytes(data)
        make_submissions(os.path.join(tmp, "subs"), src, names, n)
        t0 = time.perf_counter()
        summary = grade(os.path.join(tmp, "subs"), src, os.path.join(tmp, "grades.csv"),
                        gradescope=os.path.join(tmp, "gs"), jobs=jobs, progress=False)
        wall = time.perf_counter() - t0
    return {"exercises": "+".join(names), "submissions": n, "jobs": jobs,
            "wall_s": round(wall, 2), "per_submission_s": round(wall / n, 3),
            "cases": sum(len(ex.cases) for s in summary["students"] for ex in s.exercises)}


def run(quick: bool = False, exercises=EXERCISES) -> list:
    """Rows: all exercises, then 01_autograd alone, then the worker start cost."""
    names = sorted(d for d in os.listdir(exercises)
                   if os.path.isfile(os.path.join(exercises, d, "tests.py")))
    n = 10 if quick else 100
    rows = [time_grading(names, n, exercises=exercises)]
    if "01_autograd" in names:
        rows.append(time_grading(["01_autograd"], n, exercises=exercises))
    starts = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        probe(Limits())
        starts.append(time.perf_counter() - t0)
    rows.append({"exercises": "(empty file: start one sandbox)", "submissions": 1, "jobs": 1,
                 "wall_s": round(statistics.median(starts), 3),
                 "per_submission_s": round(statistics.median(starts), 3), "cases": 0})
    return rows


def format_table(rows) -> str:
    """The rows as an aligned text table."""
    lines = [(f"{'exercises':<40} {'subs':>5} {'jobs':>4} {'cases':>6} {'wall s':>8} "
              f"{'s/sub':>7}")]
    for r in rows:
        lines.append(f"{r['exercises']:<40} {r['submissions']:>5} {r['jobs']:>4} "
                     f"{r['cases']:>6} {r['wall_s']:>8.2f} {r['per_submission_s']:>7.3f}")
    return "\n".join(lines)
