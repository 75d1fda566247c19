r"""Dispatch by measurement: time the candidate designs once, remember the winner.

A kernel *family* (``"sparse"``, ``"int8"``, ...) has several *designs* that
compute the same result (serial or parallel, row-dot or AXPY, ...). Which is
fastest depends on the CPU, shape, batch and sparsity; constants tuned on one
machine are wrong on the next. So the first call on a new ``(family, key)``
runs each design on the real arguments and keeps the first, in the caller's
preference order, whose time is within :data:`MARGIN` of the best:

.. math:: \mathrm{winner} = \min\{d : m_d \le (1 + \mathrm{MARGIN})
          \min_e m_e\},\qquad m_d = \mathrm{median}_{1 \le r < R}\ t_{d,r}

in ``R`` = 5 to 31 interleaved rounds (``d1 d2 d3 d1 d2 d3 ...``, so a burst
of load hits every design alike) taking about :data:`BUDGET` seconds, at least
one call each (large shapes: a few calls). Round 0 is a warm-up, not scored
(a parallel design's threads may have gone to sleep while the others
compiled). Designs whose best of rounds 0 and 1 is over :data:`DROP` x the
best are dropped; compilation is never timed (one untimed run
first). A design with a run over :data:`STALL` x its median (and over
:data:`STALL_MIN`) is scored by its mean: on a busy machine a parallel
design waits for a descheduled thread (a scheduler tick, ~8 ms) and the
caller pays that too. A measurement with a stall is repeated once (a
virtual machine hiccups now and then) and the second one decides. After
the decision, :func:`observe` watches the winner's calls: if after
:data:`WATCH` calls (and :data:`WATCH_S` seconds of them) their mean
exceeds the measured time of a design preferred to it (stalls the
measurement missed), it is banned for that key and the next call decides
again. The margin buys safety (serial keeps a near-tie against parallel, which
holds a second core and can stall); between two parallel designs it would only
discard the measurement: a caller naming its ``threaded`` designs gets the
fastest, unless an unthreaded one is within the margin (then the fastest such).

Before timing, :func:`settle` waits (at most :data:`SETTLE` [2] s) until no
other thread of this process keeps a core busy: after each product
OpenBLAS's worker threads keep spinning for a while (chapter 07 plots it),
and a parallel design timed then shares its cores with them, looks several
times slower than it is, and a serial design wins for good (chapter 07's
exercise 8 times one in that window).

The winner is kept in memory and, when the process was quiet and no design
stalled while it was measured (a busy machine's verdict is for this
process only: source ``"busy"``), in a small
JSON file next to Numba's cache (:func:`cache_path`), keyed by the CPU
(model, vector features) and the minicomp and Numba versions; a corrupt
or foreign file is ignored and rewritten. Writes go to a temporary file
then ``os.replace``, under an advisory lock, so concurrent processes never
leave a half-written file. Keys are *bucketed* (layer shape,
:func:`batch_bucket`, :func:`density_bucket`).

Environment: ``MINICOMP_KERNEL`` forces designs, ``family:name`` items
separated by commas (``sparse:rowdot_serial,int8:blocked``; a bare ``name``
applies to every family); forcing a design the call does not have on this
CPU raises :class:`ValueError` naming it and the available ones.
``MINICOMP_DISPATCH_CACHE`` is the cache file's path (``off``: memory only).

Deviation: the measurement is one noisy sample of a shared machine; a near-tie
may go either way. Every design computes the same function (each is tested
against its naive twin; float sums may differ in rounding), only speed differs.

Layer: the standard library and :mod:`minicomp.kernels.dispatch_cache`; no Numba.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time

from .dispatch_cache import cache_path, cpu_info, read, write

__all__ = ["BUDGET", "batch_bucket", "cache_path", "choose", "clear", "cpu_info",
           "density_bucket", "explain", "forced", "forcing", "observe", "remembered", "settle"]

BUDGET = 2e-2       # seconds of timing per decision (compilation excluded); once per
                    # shape, batch and sparsity bucket on a CPU (then cached on disk)
DROP = 4.0          # a design slower than DROP x the best after round 1 is not timed again
ROUNDS = (5, 31)    # min and max timed rounds (round 0 is a warm-up, not scored)
MARGIN = 0.1        # a later design must beat an earlier one by 10 % (noise; the caller
                    # puts first what is safer, e.g. serial on small work)
STALL = 10.0        # a run > STALL x the median is a stall: score the mean, not the median
STALL_MIN = 1e-3    # ... if it also lasts over 1 ms (a descheduled thread; not an interrupt)
SETTLE = (2e-3, 10, 0.3)    # probe: sleep 2 ms, read this process's CPU time; 10 quiet
                            # probes in a row (20 ms: spinning threads yield for ~10 ms at a
                            # time); wait at most 0.3 s (OpenBLAS spins ~0.1 s after a product)
QUIET = 0.25        # a quiet probe: the other threads used under 0.25 cores
WATCH = 50          # observe(): after 50 calls, a winner whose mean time exceeds that of a
                    # design preferred to it is banned (its stalls cost more than that one)
WATCH_S = 0.05      # ... and after 50 ms of its calls: one scheduler stall (up to ~8 ms)
                    # must not outweigh the calls of a fast design (35 us ones: 1,400 calls)

_lock = threading.Lock()
# os.environ's bytes dict on POSIX: a lookup in 20 ns, not 800 (remembered() is per call)
_ENV = getattr(os.environ, "_data", None) if os.name == "posix" else None
_memory: dict = {}          # (family, key tuple) -> winner name
_log: list = []             # decisions, in the order made (for explain())
_watch: dict = {}           # (family, key) -> [preferred design's s, calls, s] of the winner
_banned: dict = {}          # (family, key) -> designs that stalled there
_file: dict = {"path": None, "entries": None}      # the cache file as last read


def batch_bucket(batch: int) -> int:
    """The batch rounded up to a power of two, at most 4096 (the cache key's batch).

    >>> [batch_bucket(b) for b in (1, 2, 3, 5, 32, 33, 10_000)]
    [1, 2, 4, 8, 32, 64, 4096]
    """
    return min(1 << max(int(batch) - 1, 0).bit_length(), 4096)


def density_bucket(stored: int, size: int) -> float:
    """``-log2`` of the stored fraction, rounded to a half (the cache key's sparsity).

    50 % sparse -> 1.0, 90 % -> 3.5, 95 % -> 4.5, 99 % -> 6.5; empty -> 99.

    >>> density_bucket(50, 100), density_bucket(10, 100), density_bucket(1, 100)
    (1.0, 3.5, 6.5)
    """
    if stored <= 0 or size <= 0:
        return 99.0
    return round(-2 * math.log2(min(stored / size, 1.0))) / 2 + 0.0


def forced(family: str) -> str | None:
    """The design ``MINICOMP_KERNEL`` forces for ``family``, or None.

    >>> os.environ["MINICOMP_KERNEL"] = "sparse:rowdot_serial, int8:blocked"
    >>> forced("sparse"), forced("int8"), forced("nm")
    ('rowdot_serial', 'blocked', None)
    >>> del os.environ["MINICOMP_KERNEL"]
    """
    for item in os.environ.get("MINICOMP_KERNEL", "").split(","):
        fam, sep, name = item.strip().rpartition(":")
        if name and (not sep or fam.strip() == family):
            return name.strip()
    return None


def _time(designs: dict) -> tuple[dict, bool]:
    """Median seconds per call of each design, interleaved rounds (see the module doc), and
    whether any design stalled (the machine was busy: the decision is not written to disk)."""
    for fn in designs.values():                          # compile / load, untimed
        fn()
    samples, live, rounds, r = {name: [] for name in designs}, list(designs), ROUNDS[1], 0
    while r < rounds:                                     # interleaved rounds
        for name in live:
            t0 = time.perf_counter()
            designs[name]()
            samples[name].append(time.perf_counter() - t0)
        if r == 1:              # two samples each: one slow first call is not a verdict
            best = min(min(samples[n]) for n in live)
            live = [n for n in live if min(samples[n]) <= DROP * best]
            per_round = sum(min(samples[n]) for n in live)
            rounds = max(ROUNDS[0], min(ROUNDS[1], int(BUDGET / max(per_round, 1e-9))))
        r += 1
    out, stalled = {}, False
    for n, s in samples.items():                          # a stall costs the caller too
        # round 0 warms up (a parallel design's threads may have gone to sleep while the
        # others compiled): scored only when a design has no later sample
        s = sorted(s[1:] or s)
        stall = s[-1] > max(STALL * s[len(s) // 2], STALL_MIN)
        out[n], stalled = (sum(s) / len(s) if stall else s[len(s) // 2]), stalled or stall
    return out, stalled


def settle() -> bool:
    """Wait until the other threads of this process leave the cores alone; whether they did.

    A probe sleeps :data:`SETTLE` [0] s and reads the process's CPU time (all
    its threads): while the caller sleeps it should barely move (under
    :data:`QUIET` cores). Probes repeat until :data:`SETTLE` [1] in a row are
    quiet (a spinning thread that yields looks idle for a few milliseconds)
    or :data:`SETTLE` [2] s have passed. Other processes are not seen here
    (their load shows as stalls, see :func:`_time`). The benchmarks wait with it too.
    """
    deadline, quiet = time.perf_counter() + SETTLE[2], 0
    while quiet < SETTLE[1]:
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(SETTLE[0])
        busy = (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9)
        quiet = quiet + 1 if busy < QUIET else 0
        if quiet < SETTLE[1] and time.perf_counter() > deadline:
            return False
    return True


def _record(family, key, times, winner, source) -> str:
    _log.append(dict(family=family, key=key, times=times, winner=winner, source=source))
    return winner


def choose(family: str, key: tuple, designs: dict, threaded=None) -> str:
    """The name of the fastest design for ``(family, key)``, measured once.

    Parameters
    ----------
    family : str
        The kernel family (``"sparse"``, ``"int8"``, ...).
    key : tuple
        Bucketed description of the call (shape, :func:`batch_bucket`,
        :func:`density_bucket`, ...); str() of each item forms the cache key.
    designs : dict
        Design name -> zero-argument callable running that design once on the
        real arguments (its result is ignored). Dict order is the preference
        order: on a tie, and when only one design is given, the first wins.
    threaded : collection of str, optional
        The designs that start threads; the margin and :func:`observe`'s fallback
        favour only the others (None: each design is preferred to later ones).

    Returns
    -------
    str
        A key of ``designs``: the forced one (``MINICOMP_KERNEL``), else the
        one remembered for this key, else the one measured fastest now.

    Raises
    ------
    ValueError
        ``designs`` is empty, or ``MINICOMP_KERNEL`` forces a design not in
        it (the message lists the available ones).

    Examples
    --------
    >>> os.environ["MINICOMP_DISPATCH_CACHE"] = "off"
    >>> choose("demo", (3,), {"only": lambda: None})
    'only'
    >>> explain()[-1]["winner"], explain()[-1]["source"]
    ('only', 'single')
    >>> del os.environ["MINICOMP_DISPATCH_CACHE"]
    """
    if not designs:
        raise ValueError(f"choose: no designs given for family {family!r}")
    name = forced(family)
    if name is not None:
        if name not in designs:
            raise ValueError(f"MINICOMP_KERNEL forces {family} design {name!r}, which does not "
                             f"exist for this call on this CPU; available: {', '.join(designs)}")
        if (family, "forced", name) not in _memory:
            _memory[family, "forced", name] = name
            _record(family, "|".join(map(str, key)), {}, name, "forced")
        return name
    key = tuple(key)
    winner = _memory.get((family, key))
    if winner in designs:
        return winner
    banned = _banned.get((family, key), ())
    with _lock:
        return _decide(family, key, {n: f for n, f in designs.items() if n not in banned}
                       or designs, threaded)


def forcing() -> bool:
    """Whether ``MINICOMP_KERNEL`` is set at all (a cheap test for hot paths, which then
    ask :func:`forced`); read at each call, so a force set late still counts."""
    return (b"MINICOMP_KERNEL" in _ENV) if _ENV is not None else "MINICOMP_KERNEL" in os.environ


def remembered(family: str, key: tuple) -> str | None:
    """The winner already chosen for ``(family, key)`` in this process, running nothing;
    None if not yet, or if ``MINICOMP_KERNEL`` is set (then :func:`choose` checks it). A
    hot path calls this first and builds the designs for :func:`choose` only on a miss."""
    return None if forcing() else _memory.get((family, key))


def _pick(times: dict, threaded) -> str:
    """The winner among measured ``times`` (module doc; ties go to the first listed)."""
    near = {n: t for n, t in times.items() if t <= min(times.values()) * (1 + MARGIN)}
    if threaded is None:
        return next(iter(near))
    pool = {n: t for n, t in near.items() if n not in threaded}
    return min(pool or times, key=(pool or times).get)


def _decide(family: str, key: tuple, designs: dict, threaded) -> str:
    winner = _memory.get((family, key))
    if winner in designs:
        return winner
    text = "|".join(map(str, key))
    if len(designs) == 1:
        winner = _memory[family, key] = next(iter(designs))
        return _record(family, text, {}, winner, "single")
    path, name = cache_path(), f"{family}|{text}"
    if path is not None:
        if _file["path"] != path or _file["entries"] is None:
            _file.update(path=path, entries=read(path))
        entry = _file["entries"].get(name)
        if entry and entry["winner"] in designs and set(entry.get("times", ())) == set(designs):
            _memory[family, key] = entry["winner"]
            _watch[family, key] = _watch_entry(entry["times"], entry["winner"], designs,
                                               threaded)
            return _record(family, text, entry["times"], entry["winner"], "cache")
    quiet = settle()
    times, stalled = _time(designs)
    if stalled:                     # one hiccup is not a verdict: measure again, once
        quiet = settle()
        times, stalled = _time(designs)
    winner = _pick(times, threaded)
    _memory[family, key] = winner
    _watch[family, key] = _watch_entry(times, winner, designs, threaded)
    if stalled or not quiet:                      # a busy machine's verdict stays in memory
        return _record(family, text, times, winner, "busy")
    if path is not None:
        with contextlib.suppress(OSError):
            _file.update(path=path, entries=write(path, name, {"winner": winner, "times": times}))
    return _record(family, text, times, winner, "measured")


def _watch_entry(times: dict, winner: str, order, threaded=None) -> list:
    """``[seconds, calls, seconds]`` for :func:`observe`: the best measured time of the
    designs the caller prefers to the winner (listed before it: serial before parallel; with
    ``threaded``, those not in it); inf if none (nothing safer to fall back to)."""
    safer = list(order)[:list(order).index(winner)] if threaded is None else \
        [n for n in order if n not in threaded] if winner in threaded else []
    return [min((times[n] for n in safer if n in times), default=math.inf), 0, 0.0]


def observe(family: str, key: tuple, seconds: float, design: str | None = None) -> bool:
    """Report how long one call of the design chosen for ``(family, key)`` took.

    Once :data:`WATCH` calls and :data:`WATCH_S` seconds of them have been seen
    (one stall among the first calls of a fast design is not a verdict), if
    their mean time exceeds the
    measured time of a design the caller prefers (listed before the winner,
    e.g. a serial one: the winner stalls more than the decision saw, a
    parallel design on a busy machine), the winner is banned for this key
    (logged with source ``"stalled"``) and the next :func:`choose` decides
    again among the others. Costs a dict lookup. Returns whether
    the design is banned now (a caller that kept the decision forgets it):
    by this call, or earlier if ``design`` names it (another caller's calls).
    """
    w = _watch.get((family, key))
    if w is None:
        return design is not None and design in _banned.get((family, key), ())
    w[1] += 1
    w[2] += seconds
    if w[1] >= WATCH and w[2] >= WATCH_S and w[2] > w[0] * w[1]:
        with _lock:
            name = _memory.pop((family, key), None)
            _watch.pop((family, key), None)
            _banned.setdefault((family, key), set()).add(name)
            _record(family, "|".join(map(str, key)), {}, name, "stalled")
        return True
    return False


def explain() -> list[dict]:
    """The decisions made in this process, oldest first: dicts of ``family``, ``key`` (the
    cache key string), ``times`` (design -> seconds per call; empty when forced or single),
    ``winner``, ``source`` (``"measured"``, ``"cache"``, ``"forced"``, ``"single"``,
    ``"busy"``: measured, but the process was not quiet or a design stalled, so kept in
    memory only; or ``"stalled"``: that winner was banned, see :func:`observe`)."""
    return [dict(d, times=dict(d["times"])) for d in _log]


def clear() -> None:
    """Forget every decision in memory (the file stays); the next choose re-reads it."""
    with _lock:
        _memory.clear()
        _log.clear()
        _watch.clear()
        _banned.clear()
        _file.update(path=None, entries=None)
