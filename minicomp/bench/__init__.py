"""Benchmarks run by ``minicomp bench ...``: timings as ratios from one run.

Speed is measured here, never asserted in tests. Each benchmark times every
contender in the same process, after a warm-up, as the median of several
samples (:func:`minicomp.bench.timing.median_time`).
"""
