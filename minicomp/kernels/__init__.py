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

    fused_mlp  pack a whole MLP once; run it in one call
                                                imports int8, fused, reference
      +-- fused  whole-model Numba kernels (int8 VNNI / loops, CSR row-dot /
                   AXPY), activations kept between layers     imports nothing
    reference_fused  naive twins of the whole-model kernels  imports reference
    int8       Int8Kernel, int8_linear: checks, folded bias, path choice
      |          imports requant, blocked, madd, vnni, dispatch
      +-- vnni     go further: the AVX-512 VNNI / AVX-VNNI vpdpbusd kernel,
      |              CPU detection            imports requant, dispatch_cache
      +-- madd     go further: the AVX2 vpmaddwd kernel   imports requant
      +-- blocked  the portable register-blocked kernel   imports requant
    requant    fixed-point requantization: constants, tile epilogue
                                                          imports reference
    sparse     CSR build, sparse_linear(_fm): checks, design choice
      |                             imports reference, dispatch, sparse_designs
      +-- sparse_designs  the Numba CSR designs (row-dot, AXPY, feature-major)
      |                             imports dispatch_cache (the L2 size)
    dispatch   dispatch by measurement: time the designs once, cache the winner
      |                                                   imports dispatch_cache
      +-- dispatch_cache  the decisions' JSON file, CPU and cache facts
                                                   (standard library only)
    reference_sparse  naive twin of the feature-major sparse product
                                                          imports reference
    reference_int8  naive twins of the K-blocked int8 designs (packed panels,
                      block-by-block wrapping int32 sums)    imports nothing
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
- :mod:`minicomp.kernels.sparse` -- CSR build and the sparse product, row-
  or feature-major; its Numba designs are in
  :mod:`minicomp.kernels.sparse_designs`.
- :mod:`minicomp.kernels.dispatch` -- which design runs: the first call on a
  new (shape, batch bucket, sparsity bucket) times the candidates and keeps
  the winner in memory and in a cache file (``MINICOMP_KERNEL=family:name``
  forces one; ``minicomp bench kernels --explain`` shows the decisions).
- :mod:`minicomp.kernels.fused` / :mod:`minicomp.kernels.fused_mlp` -- a
  whole model in one call (int8 codes kept between layers), run by
  :class:`minicomp.fused_model.FusedModel`; twins in
  :mod:`minicomp.kernels.reference_fused`.
- :mod:`minicomp.kernels.nm`, :mod:`minicomp.kernels.ternary` -- the N:M
  sparse and the ternary kernels of chapter 08, with their twins in
  :mod:`minicomp.kernels.reference_formats` (``reference`` is full).

Importing this package compiles nothing: Numba compiles a kernel on its
first call (and caches it on disk). :func:`warmup` (``minicomp warmup``)
compiles every kernel ahead of time, e.g. before a class.
"""
from __future__ import annotations

import os
import time

FAMILIES = ("sparse", "int8", "fused", "nm", "ternary")
# the independent parts of each family's warm-up (``jobs`` > 1 compiles them in parallel)
PARTS = {"sparse": ("rowdot", "axpy"), "int8": ("vnni", "madd", "blocked"),
         "fused": ("int8_loops", "int8_vnni", "sparse"), "nm": ("all",), "ternary": ("all",)}


def _warm_sparse(rng, part):
    import numpy as np

    from . import sparse
    W = rng.standard_normal((64, 300)).astype(np.float32) * (rng.random((64, 300)) < 0.3)
    A = sparse.kernel_arrays(sparse.to_csr(W))   # uint16 indices: layers of <= 65,536 inputs
    for name, kernel in sparse.KERNELS.items():             # each design, as dispatch calls it
        if name.startswith("rowdot") != (part == "rowdot"):
            continue
        X = rng.standard_normal((300, 5) if name.startswith("fm") else (5, 300)).astype(
            np.float32)
        Y = np.empty((64, X.shape[1]) if name.startswith("fm") else (X.shape[0], 64),
                     np.float32)
        kernel(X, A.data, A.indices, A.indptr, Y, *sparse.design_args(name, 2, 300))


def _warm_int8(rng, path):
    import numpy as np

    from . import int8, vnni
    if (path == "madd" and "avx2" not in vnni.cpu_features()) or (
            path == "vnni" and not vnni.cpu_vnni()):
        return
    w_q = rng.integers(-127, 128, (96, 1024), dtype=np.int8)
    x = rng.integers(0, 256, (64, 1024), dtype=np.uint8)
    for parallel in (False, True):                          # every design of the path
        kernel = int8.Int8Kernel(w_q, None, 128, 1 << 30, 40, 0, path=path, parallel=parallel)
        for design in kernel.designs(64):
            kernel(x, design=design)


def _warm_fused(rng, part):
    import numpy as np

    from . import fused_mlp, reference, vnni
    if part.startswith("int8"):
        if part == "int8_vnni" and vnni.cpu_vnni() != "avx512":
            return
        layers = [{"w_q": rng.integers(-127, 128, (N, K)).astype(np.int8), "bias_q": None,
                   "Z_x": 0, "m0": np.full(N, 1 << 30), "shift": np.full(N, 40), "Z_y": 0,
                   "relu": True, "x_dtype": np.uint8, "out_dtype": np.uint8}
                  for K, N in ((32, 16), (16, 8))]
        for X in (rng.standard_normal((8, 32)), rng.standard_normal((8, 32)).astype(np.float32)):
            for design in ("serial", "parallel"):            # float64 and float32 inputs
                P = fused_mlp.pack_int8(layers, 0.1, 0.1, part == "int8_vnni")
                fused_mlp.run_int8(np.ascontiguousarray(X), P, design, 2)
        return
    csrs = [reference.to_csr(rng.standard_normal((N, K)) * (rng.random((N, K)) < 0.3))
            for K, N in ((32, 16), (16, 8))]
    for design in ("rowdot_serial", "rowdot_parallel", "axpy_serial", "axpy_parallel"):
        fused_mlp.sparse_mlp(rng.standard_normal((8, 32)), csrs, [None, None], [True, False],
                             design)


def _warm_nm(rng, part):
    import numpy as np

    from . import nm
    W = rng.standard_normal((512, 512)).astype(np.float32)
    W[:, 1::2] = 0                                          # 2:4 (even 1:2)
    A = nm.to_nm(W, 2, 4)
    for path in ("scalar", nm.choose_path(A)):
        for batch in (1, 8):                                # rows / parallel
            nm.nm_linear(rng.standard_normal((batch, 512)).astype(np.float32), A, path=path)


def _warm_ternary(rng, part):
    import numpy as np

    from . import ternary
    A = ternary.pack_ternary(rng.integers(-1, 2, (512, 512)))
    for batch in (1, 8):                                    # serial / parallel
        ternary.ternary_linear(rng.integers(-128, 128, (batch, 512), dtype=np.int8), A)


def _warm_part(family: str, part: str) -> float:
    """Compile one part of a family (in this process); seconds taken."""
    import numpy as np
    t0 = time.perf_counter()
    {"sparse": _warm_sparse, "int8": _warm_int8, "fused": _warm_fused, "nm": _warm_nm,
     "ternary": _warm_ternary}[family](np.random.default_rng(0), part)
    return time.perf_counter() - t0


def warmup(families=None, jobs: int = 1) -> dict:
    """Compile (or load from Numba's cache) every kernel, before it is needed.

    Every compiled design of each family runs once on small random inputs,
    with the argument types the library passes, so it is built and cached on
    disk (sparse: uint16 indices, i.e. layers of up to 65,536 inputs; wider
    ones compile on first use). Dispatch decisions made on these toy shapes
    stay in memory only (``MINICOMP_DISPATCH_CACHE`` is ``off`` meanwhile).
    A later process starts with everything cached.

    Parameters
    ----------
    families : iterable of str, optional
        Some of :data:`FAMILIES` (default: all).
    jobs : int >= 1
        Processes compiling the independent :data:`PARTS` at once (fresh
        interpreters; Numba's cache files are per function, written
        atomically). 1: in this process.

    Returns
    -------
    dict
        Family -> seconds its parts took (summed over processes).

    Raises
    ------
    ValueError
        An unknown family (the message lists them) or ``jobs`` < 1.
    """
    families = FAMILIES if families is None else tuple(families)
    for name in families:
        if name not in FAMILIES:
            raise ValueError(f"warmup: unknown kernel family {name!r}; expected some of "
                             f"{', '.join(FAMILIES)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"warmup: jobs={jobs!r}; expected an integer >= 1")
    items = sorted(((f, p) for f in families for p in PARTS[f]),   # the longest first
                   key=lambda item: item[0] != "fused")
    saved, times = os.environ.get("MINICOMP_DISPATCH_CACHE"), dict.fromkeys(families, 0.0)
    os.environ["MINICOMP_DISPATCH_CACHE"] = "off"
    try:
        if jobs == 1 or len(items) == 1:
            for f, p in items:
                times[f] += _warm_part(f, p)
        else:
            import concurrent.futures
            import multiprocessing
            with concurrent.futures.ProcessPoolExecutor(
                    min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")) as pool:
                for (f, _), seconds in zip(items, pool.map(_warm_part, *zip(*items))):
                    times[f] += seconds
    finally:
        if saved is None:
            del os.environ["MINICOMP_DISPATCH_CACHE"]
        else:
            os.environ["MINICOMP_DISPATCH_CACHE"] = saved
    return times
