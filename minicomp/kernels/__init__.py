"""Inference kernels: sparse (CSR) and int8 matrix products, each beside a naive twin.

Names: a kernel is a ``…_linear`` function (``sparse_linear``,
``int8_linear``) or a ``…Kernel`` object (:class:`~minicomp.kernels.int8.Int8Kernel`:
packed weights + the chosen CPU path); it takes arrays and integers, no
scales. Layers are ``…Dense`` (:class:`minicomp.nn.Dense`,
:class:`minicomp.deploy.SparseDense`, :class:`minicomp.deploy.Int8Dense`,
:class:`minicomp.quant.kmeans.SharedDense`). The int8 arguments use the
formula's names, as in :mod:`minicomp.quant` and :mod:`minicomp.deploy`:
``x_q, Z_x, w_q, bias_q, m0, shift, Z_y`` (``M = S_x S_w / S_y ≈ m0 ·
2^-shift``).

Files, in import layers, each importing only files below it (``tests/test_imports.py``
fails on any cycle)::

    int8       Int8Kernel, int8_linear: checks, folded bias, path choice
      |          imports requant, blocked, madd, vnni
      +-- vnni     go further: the AVX-512 VNNI / AVX-VNNI vpdpbusd kernel,
      |              CPU detection                        imports requant
      +-- madd     go further: the AVX2 vpmaddwd kernel   imports requant
      +-- blocked  the portable register-blocked kernel   imports requant
    requant    fixed-point requantization: constants, tile epilogue
                                                          imports reference
    sparse     CSR build and the Numba sparse matmul      imports reference
    nm         the N:M (2:4) kernel: values + 2-bit positions
                                              imports reference, reference_formats
    ternary    the ternary kernel: AND + popcount, no multiplies
                                              imports reference, reference_formats
    reference_formats  naive twins of the nm and ternary kernels
                                                          imports reference
    reference  naive NumPy twins of every kernel, no Numba (bottom)

- :mod:`minicomp.kernels.reference` -- plain NumPy loops that define what
  every kernel computes; the oracle in tests and the version the chapters
  explain.
- :mod:`minicomp.kernels.requant` -- the requantization every int8 path
  shares (:func:`~minicomp.kernels.requant.requantize_tile`).
- :mod:`minicomp.kernels.blocked` -- the portable int8 kernel, plain Numba.
- :mod:`minicomp.kernels.madd`, :mod:`minicomp.kernels.vnni` -- go
  further: x86 instructions placed by hand (``vpmaddwd``, ``vpdpbusd``).
- :mod:`minicomp.kernels.int8` -- the int8 kernel object and the path dispatcher.
- :mod:`minicomp.kernels.sparse` -- CSR build and the Numba sparse matmul.
- :mod:`minicomp.kernels.nm`, :mod:`minicomp.kernels.ternary` -- the N:M
  sparse and the ternary kernels of chapter 08, with their twins in
  :mod:`minicomp.kernels.reference_formats` (``reference`` is full).

Importing this package compiles nothing: Numba compiles a kernel on its
first call (and caches it on disk).
"""
