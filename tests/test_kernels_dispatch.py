"""Dispatch by measurement (minicomp.kernels.dispatch): choice, cache file, forcing.

No timing assertions: the "slow" designs here sleep, so which one wins is
certain, but the tests only check names, files and messages.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types

import pytest

from minicomp.kernels import dispatch as D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "dispatch.json"
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", str(path))
    monkeypatch.delenv("MINICOMP_KERNEL", raising=False)
    D.clear()
    yield path
    D.clear()


def designs(calls=None):
    """'slow' sleeps 2 ms, 'fast' returns at once; calls counts the runs."""
    calls = {} if calls is None else calls

    def run(name, seconds):
        def fn():
            calls[name] = calls.get(name, 0) + 1
            time.sleep(seconds)
        return fn
    return {"slow": run("slow", 2e-3), "fast": run("fast", 0.0)}


def test_measures_once_then_remembers(cache):
    calls = {}
    assert D.choose("demo", (10, 1), designs(calls)) == "fast"
    assert calls["fast"] >= 4 and calls["slow"] >= 2        # 1 untimed + rounds
    calls.clear()
    assert D.choose("demo", (10, 1), designs(calls)) == "fast"
    assert calls == {}                                      # from memory: nothing run
    (last,) = D.explain()
    assert last["source"] == "measured" and last["key"] == "10|1"
    assert set(last["times"]) == {"slow", "fast"} and last["times"]["slow"] > 0
    doc = json.loads(cache.read_text())
    assert doc["entries"]["demo|10|1"]["winner"] == "fast"
    assert doc["machine"]["cpu"] == D.cpu_info()[0]


def test_second_process_reads_the_file(cache):
    D.choose("demo", (1,), designs())
    D.clear()                                                # as a new process would start
    calls = {}
    assert D.choose("demo", (1,), designs(calls)) == "fast"
    assert calls == {} and D.explain()[-1]["source"] == "cache"


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2]", '{"machine": 3}',
                                     "\x00\xff garbage"])
def test_corrupt_file_is_ignored_and_rewritten(cache, content):
    cache.write_bytes(content.encode("latin-1"))
    assert D.choose("demo", (2,), designs()) == "fast"
    assert D.explain()[-1]["source"] == "measured"
    assert json.loads(cache.read_text())["entries"]["demo|2"]["winner"] == "fast"


@pytest.mark.parametrize("field, value", [("cpu", "Some Other CPU"),   # another machine
                                          ("format", 1)])   # winners of the old margin rule
def test_foreign_file_is_ignored_and_rewritten(cache, field, value):
    D.choose("demo", (3,), designs())
    doc = json.loads(cache.read_text())
    doc["machine"][field] = value
    doc["entries"]["demo|3"]["winner"] = "slow"
    doc["entries"]["demo|9"] = {"winner": "slow", "times": {}}
    cache.write_text(json.dumps(doc))
    D.clear()
    assert D.choose("demo", (3,), designs()) == "fast"       # measured again, not "slow"
    assert D.explain()[-1]["source"] == "measured"
    doc = json.loads(cache.read_text())
    assert doc["machine"]["cpu"] == D.cpu_info()[0] and set(doc["entries"]) == {"demo|3"}


def test_a_cached_winner_missing_now_is_measured_again(cache):
    D.choose("demo", (4,), designs())
    D.clear()
    assert D.choose("demo", (4,), {"slow": designs()["slow"], "other": lambda: None}) == "other"


def test_forced_design(cache, monkeypatch):
    calls = {}
    monkeypatch.setenv("MINICOMP_KERNEL", "demo:slow,other:x")
    assert D.choose("demo", (5,), designs(calls)) == "slow"
    assert calls == {} and D.explain()[-1]["source"] == "forced"
    assert not cache.exists()                                 # nothing measured or written
    monkeypatch.setenv("MINICOMP_KERNEL", "slow")             # bare name: every family
    assert D.choose("any", (5,), designs()) == "slow"


def test_forced_missing_design_raises_a_clear_error(cache, monkeypatch):
    monkeypatch.setenv("MINICOMP_KERNEL", "demo:vnni")
    with pytest.raises(ValueError, match=r"'vnni'.*available: slow, fast"):
        D.choose("demo", (6,), designs())
    assert D.choose("other", (6,), designs()) == "fast"       # other families unaffected


def test_single_design_and_no_design(cache):
    assert D.choose("demo", (7,), {"only": lambda: None}) == "only"
    assert not cache.exists()
    with pytest.raises(ValueError, match="no designs"):
        D.choose("demo", (7,), {})


def test_memory_only(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    D.clear()
    assert D.cache_path() is None
    assert D.choose("demo", (8,), designs()) == "fast"
    assert list(tmp_path.iterdir()) == []
    D.clear()


def test_default_cache_path_follows_numba(monkeypatch, tmp_path):
    monkeypatch.delenv("MINICOMP_DISPATCH_CACHE", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert D.cache_path() == str(tmp_path / "minicomp-dispatch.json")


def test_buckets_keep_the_cache_small():
    assert {D.batch_bucket(b) for b in range(33, 65)} == {64}
    assert D.batch_bucket(0) == 1
    assert D.density_bucket(900, 10_000) == D.density_bucket(1000, 10_000) == 3.5
    assert D.density_bucket(0, 10) == 99.0


_WRITER = """
import sys, time
from minicomp.kernels import dispatch as D
for i in range(25):
    D.choose("w" + sys.argv[1], (i,), {"a": lambda: None, "b": lambda: time.sleep(1e-4)})
"""


def test_concurrent_writers_do_not_corrupt(cache):
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(p)], env=env)
             for p in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = json.loads(cache.read_text())["entries"]        # valid JSON, both writers' keys
    assert {k for k in entries} == {f"w{p}|{i}" for p in (1, 2) for i in range(25)}
    assert not [f for f in os.listdir(cache.parent) if f.endswith(".tmp")]


def test_a_winner_that_keeps_stalling_is_dropped(cache):
    # decided on a quiet moment, "fast" then stalls: once its mean over WATCH calls exceeds
    # the time of the design listed before it ("slow"), it is banned and decided again
    assert D.choose("demo", (11,), designs()) == "fast"
    slow = D.explain()[-1]["times"]["slow"]
    for _ in range(D.WATCH - 2):
        assert not D.observe("demo", (11,), 0.0)           # normal calls: nothing happens
    assert not D.observe("demo", (11,), slow * D.WATCH * 0.5)   # one stall: mean still < slow
    assert D.remembered("demo", (11,)) == "fast"
    assert D.observe("demo", (11,), slow * D.WATCH)       # a second: the mean is now > slow
    assert D.remembered("demo", (11,)) is None
    assert D.explain()[-1]["source"] == "stalled" and D.explain()[-1]["winner"] == "fast"
    three = dict(designs(), mid=lambda: time.sleep(5e-4))
    assert D.choose("demo", (11,), three) == "mid"         # re-measured without it
    assert json.loads(cache.read_text())["entries"]["demo|11"]["winner"] == "mid"
    assert D.choose("demo", (11,), designs()) == "slow"    # the ban holds in this process
    assert not D.observe("demo", (12,), 1.0)               # an unknown key: ignored


def test_rare_stalls_are_tolerated(cache):
    D.choose("demo", (13,), designs())
    slow = D.explain()[-1]["times"]["slow"]
    for i in range(200):                                   # 4 stalls of 10x "slow"
        D.observe("demo", (13,), slow * 10 if i % 50 == 0 else 0.0)
    assert D.remembered("demo", (13,)) == "fast"
    D.observe("demo", (13,), 1e-9)                         # before WATCH calls: no verdict
    assert D.choose("demo", (14,), {"only": lambda: None}) == "only"
    assert not any(D.observe("demo", (14,), 1.0) for _ in range(D.WATCH))   # no fallback
    D.choose("demo", (15,), {"fast": lambda: None, "slow": lambda: time.sleep(2e-3)})
    assert not any(D.observe("demo", (15,), 1.0) for _ in range(D.WATCH))   # the first won


def test_a_decision_made_while_a_design_stalled_stays_in_memory(cache, monkeypatch):
    # a busy machine's verdict (a design stalled in both measurements) is not written to
    # disk; a single hiccup is measured again, and that calm verdict is written. A fake
    # clock: each call of a design advances it by 0.1 ms, a stall by 30 ms
    clock = {"t": 0.0}
    monkeypatch.setattr(D, "time", types.SimpleNamespace(
        perf_counter=lambda: clock["t"], process_time=lambda: 0.0,
        sleep=lambda s: clock.update(t=clock["t"] + s)))       # this thread alone: quiet

    def stalling(at):
        state = {"n": 0}

        def run():
            state["n"] += 1
            clock["t"] += 0.03 if state["n"] in at else 1e-4
        return run, state

    def calm():
        clock["t"] += 1e-4
    run, state = stalling({4, 40})                                 # one in each measurement
    winner = D.choose("demo", (21,), {"a": run, "b": calm})
    assert state["n"] > 40 and winner in ("a", "b") and D.remembered("demo", (21,)) == winner
    assert not cache.exists() or "demo|21" not in json.loads(cache.read_text())["entries"]
    assert D.explain()[-1]["source"] == "busy"
    run, state = stalling({4})                                     # a single hiccup
    D.choose("demo", (22,), {"a": run, "b": calm})
    assert state["n"] > 33 and "demo|22" in json.loads(cache.read_text())["entries"]


def fake_process(monkeypatch, busy_until):
    """A fake clock where this process's other threads keep one core busy until
    ``busy_until`` seconds (OpenBLAS's workers spin ~0.1 s after a product)."""
    clock = {"t": 0.0, "cpu": 0.0}

    def sleep(s):
        clock["cpu"] += max(0.0, min(s, busy_until - clock["t"]))   # the spinning thread
        clock["t"] += s
    monkeypatch.setattr(D, "time", types.SimpleNamespace(
        perf_counter=lambda: clock["t"], process_time=lambda: clock["cpu"], sleep=sleep))

    def run():                       # a design: 0.1 ms of this thread's work
        clock["t"] += 1e-4
        clock["cpu"] += 1e-4
    return clock, run


def test_the_measurement_waits_for_spinning_threads(cache, monkeypatch):
    clock, run = fake_process(monkeypatch, busy_until=0.1)
    assert D.choose("demo", (31,), {"a": run, "b": run}) == "a"
    assert clock["t"] >= 0.1 + D.SETTLE[0] * D.SETTLE[1]                  # waited, then timed
    assert D.explain()[-1]["source"] == "measured"
    assert "demo|31" in json.loads(cache.read_text())["entries"]


def test_a_decision_among_busy_threads_stays_in_memory(cache, monkeypatch):
    clock, run = fake_process(monkeypatch, busy_until=1e9)        # a thread that never stops
    assert D.choose("demo", (32,), {"a": run, "b": run}) == "a"
    assert D.SETTLE[2] <= clock["t"] < D.SETTLE[2] + 0.1          # gave up after the wait
    assert D.explain()[-1]["source"] == "busy" and D.remembered("demo", (32,)) == "a"
    assert not cache.exists() or "demo|32" not in json.loads(cache.read_text())["entries"]


def test_the_margin_favours_only_unthreaded_designs_when_named(cache, monkeypatch):
    clock, _ = fake_process(monkeypatch, busy_until=0.0)

    def cost(seconds):                  # a design that takes exactly `seconds` on the fake clock
        def run():
            clock["t"] += seconds
            clock["cpu"] += seconds
        return run
    peers = {"p1": cost(1.05e-4), "p2": cost(1e-4)}
    assert D.choose("demo", (41,), peers) == "p1"                   # order: the margin keeps p1
    assert D.choose("demo", (42,), peers, threaded=peers) == "p2"   # peers: the faster wins
    near = {"s": cost(1.08e-4), "p": cost(1e-4)}
    assert D.choose("demo", (43,), near, threaded={"p"}) == "s"     # serial within the margin
    far = {"s1": cost(2e-4), "s2": cost(1.5e-4), "p": cost(1e-4)}
    assert D.choose("demo", (44,), far, threaded={"p"}) == "p"      # parallel beyond it
    two = {"s1": cost(1.09e-4), "s2": cost(1.05e-4), "p": cost(1e-4)}
    assert D.choose("demo", (45,), two, threaded={"p"}) == "s2"     # the faster serial one
    # a threaded winner falls back only to unthreaded designs: "p" (44) is banned once its
    # calls exceed s2's time; "p2" (42) has no unthreaded design to fall back to
    assert any(D.observe("demo", (44,), 1e-3) for _ in range(D.WATCH))
    assert not any(D.observe("demo", (42,), 1e-3) for _ in range(2 * D.WATCH))
