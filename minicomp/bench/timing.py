"""Median wall-clock time of a call, robust enough for a noisy 2-core VM.

The one place timing lives: every benchmark (and nothing outside
:mod:`minicomp.bench`) uses :func:`median_time`; :data:`SETTLE` is the pause
before timing the next library. The kernel benchmarks compare libraries cell
by cell with :func:`interleaved_times` (rounds, each after
:func:`minicomp.kernels.dispatch.settle`). The CPU description comes from
:func:`minicomp.kernels.dispatch_cache.cpu_info` (the same one keys the dispatch
cache); :mod:`minicomp.bench.record` keeps the record of a run.
"""
from __future__ import annotations

import functools
import os
import time

import numpy as np

from ..kernels.dispatch import settle
from ..kernels.dispatch_cache import cpu_info

SETTLE = 0.3          # seconds of sleep before timing: OpenBLAS and Numba (omp) threads
                      # spin after work and would steal the 2 cores from the next library


def cpu() -> str:
    """The CPU model, the cores this process sees, and its vector features (what a
    benchmark prints first: results on an AVX2-only and an AVX-512 VNNI CPU differ)."""
    name, feats = cpu_info()
    text = f"{name}, {os.cpu_count()} cores; {' '.join(feats) or 'features unknown'}"
    # a run that emulates an older CPU says so: Numba compiling for another target
    # (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES), OpenBLAS forced to another core's kernels
    forced = {k: os.environ[k] for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
                                         "OPENBLAS_CORETYPE") if os.environ.get(k)}
    return text + "".join(f"; {k}={v}" for k, v in forced.items())


def median_time(fn, *, min_sample: float = 2e-3, samples: int = 21, warmup: int = 3,
                pause: float = 0.0, clock=time.perf_counter) -> float:
    """Median seconds per call of ``fn()``.

    Calls are grouped so that each timed sample lasts at least
    ``min_sample`` seconds (timer resolution and jitter then matter little);
    the median over ``samples`` samples is returned, per call. ``pause``
    seconds of sleep first let the spinning worker threads of a library
    timed just before (OpenBLAS, OpenMP) go idle. ``clock=time.process_time``
    counts this process's CPU seconds instead of wall-clock ones (on a loaded
    machine, wall-clock medians also measure the other processes).
    """
    if pause > 0:
        time.sleep(pause)
    for _ in range(warmup):
        fn()
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-7)
    number = max(1, int(min_sample / once))
    times = []
    for _ in range(samples):
        t0 = clock()
        for _ in range(number):
            fn()
        times.append((clock() - t0) / number)
    times.sort()
    return times[len(times) // 2]


def interleaved_times(calls: dict, rounds: int = 3, before: dict | None = None,
                      **kw) -> dict:
    """Median seconds per call of each of ``calls``, timed in interleaved rounds.

    ``calls``: name -> zero-argument callable (None: not timed, None out).
    Each round times every call once with :func:`median_time` (``kw``), after
    :func:`~minicomp.kernels.dispatch.settle` has waited for this process's
    other threads to go quiet (the library timed before may leave its threads
    spinning) and after ``before[name]()``, untimed (e.g. selecting torch's
    quantized engine). The result is the median of the rounds' medians (the
    lower middle one for an even count). Why: on a shared VM a burst of load
    that slows one library's median hits one round and is outvoted, and the
    libraries of a cell are timed over the same window, so slow drift hits
    them alike.
    """
    per = {name: [] for name, fn in calls.items() if fn is not None}
    for _ in range(rounds):
        for name in per:
            settle()
            if before and name in before:
                before[name]()
            per[name].append(median_time(calls[name], **kw))
    return {name: sorted(per[name])[(rounds - 1) // 2] if name in per else None
            for name in calls}


def one_blas_thread(fn):
    """``fn()`` with BLAS limited to one thread (threadpoolctl), or None without
    threadpoolctl: on a loaded 2-core machine threaded BLAS can be far slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(limits=1, user_api="blas"):
        return fn()


@functools.cache
def _summer():
    """The compiled streaming sum of :func:`read_bandwidth`, built once per process (Numba
    imported and compiled only when a benchmark asks for it)."""
    from numba import njit, prange

    @njit(parallel=True, fastmath=True, cache=False)
    def total(a, chunks):
        s = 0.0
        for c in prange(chunks):
            part = 0.0
            for i in range(c * a.size // chunks, (c + 1) * a.size // chunks):
                part += a[i]
            s += part
        return s
    return total


def read_bandwidth(nbytes: int = 16 << 20, threads: int = 2) -> float:
    """Bytes per second of a plain streaming read of ``nbytes`` (a vectorized sum, split
    over ``threads`` Numba threads, median of 11 passes after a warm one): the ceiling a
    memory-bound kernel of that footprint can reach here. Measured, never typed in (the
    machines differ); a kernel's bytes per call over its time, divided by this, says how
    close to the memory system it runs."""
    total = _summer()
    a = np.ones(max(nbytes // 8, 1))                              # float64
    total(a, threads)
    return a.nbytes / median_time(lambda: total(a, threads), samples=11, warmup=1)
