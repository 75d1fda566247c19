"""Inference kernels: sparse (CSR) and int8 dense layers, each beside a naive twin.

- :mod:`minicomp.kernels.reference` — plain NumPy loops that define what every
  kernel computes; the oracle in tests and the version the chapters explain.
- :mod:`minicomp.kernels.sparse` — CSR build and the Numba sparse matmul.
- :mod:`minicomp.kernels.int8` — the Numba int8 linear layer (int32
  accumulation, fixed-point requantization) and its register-blocked
  portable kernel; :mod:`minicomp.kernels.vnni` (the ``vpdpbusd`` fast path
  and CPU detection) and :mod:`minicomp.kernels.madd` (the exact AVX2
  ``vpmaddwd`` path for CPUs without VNNI) are the paths it picks from.

Importing this package compiles nothing: Numba compiles a kernel on its
first call (and caches it on disk).
"""
