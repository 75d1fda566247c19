"""Median wall-clock time of a call, robust enough for a noisy 2-core VM.

The one place timing lives: every benchmark (and nothing outside
:mod:`minicomp.bench`) uses :func:`median_time`; :data:`SETTLE` is the pause
before timing the next library (``bench/int8.py`` still sleeps its own
0.25 s). This module imports nothing from minicomp.
"""
from __future__ import annotations

import os
import platform
import time

SETTLE = 0.3          # seconds of sleep before timing: OpenBLAS and Numba (omp) threads
                      # spin after work and would steal the 2 cores from the next library


def cpu() -> str:
    """The CPU model, the cores this process sees, and its vector features (what a
    benchmark prints first: results on an AVX2-only and an AVX-512 VNNI CPU differ)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    feats = sorted(f for f in flags if f.startswith(("avx", "fma", "popcnt", "f16c")))
    return f"{name}, {os.cpu_count()} cores; {' '.join(feats) or 'features unknown'}"


def median_time(fn, *, min_sample: float = 2e-3, samples: int = 21, warmup: int = 3,
                pause: float = 0.0) -> float:
    """Median seconds per call of ``fn()``.

    Calls are grouped so that each timed sample lasts at least
    ``min_sample`` seconds (timer resolution and jitter then matter little);
    the median over ``samples`` samples is returned, per call. ``pause``
    seconds of sleep first let the spinning worker threads of a library
    timed just before (OpenBLAS, OpenMP) go idle.
    """
    if pause > 0:
        time.sleep(pause)
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_sample / once))
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    times.sort()
    return times[len(times) // 2]
