"""Inference kernels: sparse (CSR) and int8 dense layers, each beside a naive twin.

Layers, each file importing only files below it (``tests/test_imports.py``
fails on any cycle)::

    int8       Int8Linear, int8_linear: checks, folded bias, path choice
      |          imports requant, blocked, madd, vnni, reference
      +-- vnni     go further: the AVX-512 VNNI / AVX-VNNI vpdpbusd kernel,
      |              CPU detection                        imports requant
      +-- madd     go further: the AVX2 vpmaddwd kernel   imports requant
      +-- blocked  the portable register-blocked kernel   imports requant
    requant    fixed-point requantization: constants, tile epilogue
                                                          imports reference
    sparse     CSR build and the Numba sparse matmul      imports reference
    reference  naive NumPy twins of every kernel, no Numba (bottom)

- :mod:`minicomp.kernels.reference` -- plain NumPy loops that define what
  every kernel computes; the oracle in tests and the version the chapters
  explain.
- :mod:`minicomp.kernels.requant` -- the requantization every int8 path
  shares (:func:`~minicomp.kernels.requant.requantize_tile`).
- :mod:`minicomp.kernels.blocked` -- the portable int8 kernel, plain Numba.
- :mod:`minicomp.kernels.madd`, :mod:`minicomp.kernels.vnni` -- go
  further: x86 instructions placed by hand (``vpmaddwd``, ``vpdpbusd``).
- :mod:`minicomp.kernels.int8` -- the int8 layer and the path dispatcher.
- :mod:`minicomp.kernels.sparse` -- CSR build and the Numba sparse matmul.

Importing this package compiles nothing: Numba compiles a kernel on its
first call (and caches it on disk).
"""
