"""The K-blocked int8 designs and their choice by measurement: bit-exact vs the twins.

Every design of :class:`minicomp.kernels.int8.Int8Kernel` (serial / parallel,
K-blocked or not, each CPU path; the AVX2 fallback forced on this CPU) against
:func:`minicomp.kernels.reference.int8_linear`, and the raw K-blocked kernels
against their naive twin :mod:`minicomp.kernels.reference_int8`: K not a
multiple of the block, odd shapes, batch 1, extreme codes. No timing assertions.
"""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.kernels import dispatch as D
from minicomp.kernels import reference as R
from minicomp.kernels import reference_int8 as T
from minicomp.kernels import vnni
from minicomp.kernels.int8 import PARALLEL_MIN, Int8Kernel
from minicomp.kernels.requant import requant_params

KINDS = ["emulated", pytest.param("avx512", marks=pytest.mark.skipif(
    vnni.cpu_vnni() != "avx512", reason="this CPU has no avx512_vnni"))]
PATHS = ["vnni_emulated", "blocked",
         pytest.param("madd", marks=pytest.mark.skipif(
             "avx2" not in vnni.cpu_features(), reason="this CPU has no avx2")),
         pytest.param("vnni", marks=pytest.mark.skipif(
             vnni.cpu_vnni() is None, reason="this CPU has no VNNI"))]


@pytest.fixture(autouse=True)
def no_dispatch_file(monkeypatch):
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    monkeypatch.delenv("MINICOMP_KERNEL", raising=False)
    D.clear()
    yield
    D.clear()


def codes(rng, shape, dtype, extreme):
    """Random codes of ``dtype``; ``extreme``: only its minimum and maximum."""
    info = np.iinfo(dtype)
    if extreme:
        return rng.choice(np.array([info.min, info.max], dtype), shape)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


@st.composite
def layers(draw, max_k=300):
    """(B, K, N) odd and small, x / w codes (sometimes all extreme), a kc."""
    B, K, N = draw(st.integers(1, 11)), draw(st.integers(1, max_k)), draw(st.integers(1, 140))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = codes(rng, (B, K), np.uint8, draw(st.booleans()))
    w = codes(rng, (N, K), np.int8, draw(st.booleans()))
    M = 10.0 ** rng.uniform(-7, -1, N)
    m0, shift = R.quantize_multiplier(M)
    bias = rng.integers(-2**20, 2**20, N).astype(np.int64)
    kc = draw(st.sampled_from([1, 2, 3, 5, 16, 10**6]))
    return x, w, bias, m0, shift, kc, draw(st.integers(0, 255)), draw(st.booleans())


def test_twin_pack_matches_vnni_pack():
    rng = np.random.default_rng(0)
    for N, K in [(1, 1), (70, 6), (64, 8), (130, 13)]:
        W = rng.integers(-128, 128, (N, K)).astype(np.int8)
        wp, k4 = vnni.pack(W)
        twin, k4_twin = T.pack_panels(W)
        assert k4 == k4_twin
        np.testing.assert_array_equal(wp, twin)


@settings(max_examples=40, deadline=None)
@given(args=layers())
def test_twin_equals_reference_for_every_block(args):
    # modular addition is associative: every kc gives the plain int8_linear codes
    x, w, bias, m0, shift, kc, Z_y, relu = args
    wp, k4 = T.pack_panels(w)
    q = requant_params(m0, shift, Z_y, w.shape[0], relu)
    chan = np.stack([bias, q.m0, q.rnd, q.shift])
    got = T.kblocked_linear(x, wp, k4, kc, chan, q.Z_y, q.lo, q.hi)
    expected = R.int8_linear(x, 0, w, bias.astype(np.int32), m0, shift, Z_y, relu)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(args=layers(), parallel=st.booleans(), threads=st.sampled_from([1, 2, 3]))
def test_blocked_kernels_equal_twin(kind, args, parallel, threads):
    x, w, bias, m0, shift, kc, Z_y, relu = args
    N = w.shape[0]
    wp, k4 = vnni.pack(w)
    q = requant_params(m0, shift, Z_y, N, relu)
    chan = np.stack([bias, q.m0, q.rnd, q.shift])                       # (4, out) int64
    out = np.zeros((x.shape[0], N), np.uint8)
    extra = (threads,) if parallel else ()
    vnni.KERNELS[kind, parallel](vnni.pad(x, k4), wp, k4, kc, chan, q.Z_y, q.lo, q.hi, out,
                                 *extra)
    np.testing.assert_array_equal(out, T.kblocked_linear(x, wp, k4, kc, chan, q.Z_y, q.lo,
                                                         q.hi))


@pytest.mark.parametrize("kind", KINDS)
def test_blocked_kernels_wrap_like_the_twin(kind):
    # x = 255, w = 127 over 2^17 inputs: 255·127·2^17 ≈ 4.2e9 wraps in int32 whichever the
    # block; the folded bias -128·127·2^17 (Z_x = 128) brings it back to 127·127·2^17
    K = 2**17
    x, w = np.full((2, K), 255, np.uint8), np.full((1, K), 127, np.int8)
    m0, shift = R.quantize_multiplier(2.0**-24)
    wp, k4 = vnni.pack(w)
    q = requant_params(m0, shift, 0, 1)
    chan = np.stack([np.array([-128 * 127 * K]), q.m0, q.rnd, q.shift])
    for kc in (7, 96, k4):
        out = np.zeros((2, 1), np.uint8)
        vnni.KERNELS[kind, False](x, wp, k4, kc, chan, q.Z_y, q.lo, q.hi, out)
        assert out.tolist() == [[126], [126]]                # 2114060288 / 2^24 = 126.0
    assert T.kblocked_accumulate(x[:, :8], wp[:2 * 256], 2, 1, 1).tolist() == [[8 * 255 * 127]] * 2


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=12, deadline=None)
@given(args=layers(max_k=520), x_dtype=st.sampled_from([np.uint8, np.int8]))
def test_every_design_bit_exact(path, args, x_dtype):
    # every design the kernel offers (the K-blocked ones with K > its block), forced by name
    x, w, bias, m0, shift, _, Z_y, relu = args
    if x_dtype == np.int8:
        x = (x.astype(np.int16) - 128).astype(np.int8)
    Z_x = int(np.iinfo(x_dtype).min) + 7
    bias = bias.astype(np.int32)
    kernel = Int8Kernel(w, bias, Z_x, m0, shift, Z_y, relu, x_dtype=x_dtype, path=path)
    expected = R.int8_linear(x, Z_x, w, bias, m0, shift, Z_y, relu)
    for name in kernel._runs:
        np.testing.assert_array_equal(kernel(x, design=name), expected, err_msg=name)
    np.testing.assert_array_equal(kernel(x), expected)                 # chosen by measurement


def test_k_blocked_designs_offered_when_k_exceeds_the_block():
    m0, shift = R.quantize_multiplier(1e-3)
    kc = vnni.k_block()
    small = Int8Kernel(np.ones((3, 4 * kc), np.int8), None, 0, m0, shift, 0, path="vnni_emulated")
    big = Int8Kernel(np.ones((3, 4 * kc + 1), np.int8), None, 0, m0, shift, 0,
                     path="vnni_emulated")
    assert list(small._runs) == ["vnni_emulated_serial", "vnni_emulated_parallel"]
    assert list(big._runs) == ["vnni_emulated_kb_serial", "vnni_emulated_kb_parallel",
                               "vnni_emulated_serial", "vnni_emulated_parallel"]   # kb first
    assert 16 <= kc and kc * 256 <= max(vnni.l1d_bytes() // 2, 16 * 256)


def test_designs_filter_and_decision_recorded():
    m0, shift = R.quantize_multiplier(1e-3)
    w = np.ones((64, 64), np.int8)
    kernel = Int8Kernel(w, None, 0, m0, shift, 0, path="vnni_emulated")
    assert kernel.designs(1) == ["vnni_emulated_serial"]       # 4096 MACs: threads not tried
    big = PARALLEL_MIN
    assert set(kernel.designs(big // 4096)) == {"vnni_emulated_serial",
                                                "vnni_emulated_parallel"}
    assert Int8Kernel(w, None, 0, m0, shift, 0, path="blocked", parallel=True).designs(1) == [
        "blocked_parallel"]
    kernel(np.ones((3, 64), np.uint8))
    assert kernel.decisions == {4: "vnni_emulated_serial"}            # bucket of batch 3
    (last,) = [d for d in D.explain() if d["family"] == "int8"]
    assert last["winner"] == "vnni_emulated_serial" and last["key"].startswith("vnni_emulated|")


def test_forced_design_and_unknown_names(monkeypatch):
    m0, shift = R.quantize_multiplier(1e-3)
    w = np.arange(-60, 60, dtype=np.int8).reshape(10, 12)
    x = np.arange(36, dtype=np.uint8).reshape(3, 12)
    expected = R.int8_linear(x, 0, w, None, m0, shift, 0)
    monkeypatch.setenv("MINICOMP_KERNEL", "int8:blocked_parallel")
    kernel = Int8Kernel(w, None, 0, m0, shift, 0, path="blocked")
    np.testing.assert_array_equal(kernel(x), expected)
    assert kernel.decisions == {}                      # a force is not a measurement
    with pytest.raises(ValueError, match="MINICOMP_KERNEL forces int8 .*blocked_parallel"):
        Int8Kernel(w, None, 0, m0, shift, 0, path="vnni_emulated")(x)
    with pytest.raises(ValueError, match="design must be one of"):
        kernel(x, design="vnni_serial")


def test_a_late_force_wins_over_the_remembered_design(monkeypatch):
    m0, shift = R.quantize_multiplier(1e-3)
    w = np.arange(-60, 60, dtype=np.int8).reshape(10, 12)
    x = np.arange(36, dtype=np.uint8).reshape(3, 12)
    expected = R.int8_linear(x, 0, w, None, m0, shift, 0)
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    kernel = Int8Kernel(w, None, 0, m0, shift, 0, path="blocked")
    np.testing.assert_array_equal(kernel(x), expected)            # measured, remembered
    monkeypatch.setenv("MINICOMP_KERNEL", "int8:nope")
    with pytest.raises(ValueError, match="'nope'"):               # no longer silently ignored
        kernel(x)
    monkeypatch.setenv("MINICOMP_KERNEL", "int8:blocked_parallel")
    np.testing.assert_array_equal(kernel(x), expected)
    monkeypatch.setenv("MINICOMP_KERNEL", "sparse:rowdot_serial")  # another family's force
    np.testing.assert_array_equal(kernel(x), expected)


@pytest.mark.skipif("avx2" not in vnni.cpu_features(), reason="this CPU has no avx2")
def test_avx2_fallback_forced_on_this_cpu():
    # the no-VNNI path (vpmaddwd) runs and is exact here too: what an AVX2-only CPU takes
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (37, 301)).astype(np.int8)
    x = codes(rng, (5, 301), np.uint8, True)
    m0, shift = R.quantize_multiplier(10.0 ** rng.uniform(-6, -3, 37))
    kernel = Int8Kernel(w, None, 255, m0, shift, 3, relu=True, path="madd")
    assert kernel.path == "madd" and kernel.W.dtype == np.int16
    np.testing.assert_array_equal(kernel(x), R.int8_linear(x, 255, w, None, m0, shift, 3, True))


def test_bench_rows_and_table_tiny(monkeypatch):
    # the benchmark's pieces on a tiny layer (no timing assertions: ratios only exist)
    from minicomp.bench import int8 as bench
    monkeypatch.setattr(bench, "_torch_layers", lambda *args: {})     # torch: slow to import
    kw = {"samples": 1, "min_sample": 1e-5, "warmup": 1}
    rows = [bench.run_shape(64, 32, B, kw) for B in (1, 4)]
    assert all(r["ours_blocked_s"] > 0 and r["f32/blocked"] > 0 for r in rows)
    assert rows[0]["kernel"].endswith(("_serial", "_parallel"))
    targets = bench.targets_row(rows)
    assert targets["targets"] and all(set(t) == {"target", "worst", "met"}
                                      for t in targets["targets"])
    head = {"measure": "machine", "cpu": "test CPU", "load average": (0.0, 0.0, 0.0),
            "OPENBLAS_NUM_THREADS": "1"}
    band = bench.bandwidth_row(rows)                  # the B=1 cell, against a plain read
    (cell,) = band["cells"]
    assert cell["shape"] == "64->32" and cell["bytes"] == 64 * 32 and cell["read_GBps"] > 0
    assert cell["ours_GBps"] > 0 and cell["fbgemm_GBps"] is None        # torch left out
    table = bench.format_table([head] + rows + [bench.overhead_row(kw), band, targets])
    assert "test CPU" in table and "| 64->32 | 4 |" in table and "per-call overhead" in table
    assert "bandwidth at B=1: 64->32" in table


@pytest.mark.skipif("avx2" not in vnni.cpu_features(), reason="this CPU has no avx2")
def test_auto_takes_madd_on_an_avx2_only_cpu(tmp_path):
    # compile for a Zen 3 (AVX2, no VNNI, no AVX-512): "auto" must take the madd path and
    # stay exact (the code runs here: AVX2 is a subset of what this CPU has)
    import os
    import subprocess
    import sys
    code = """
import numpy as np
from minicomp.kernels import reference as R
from minicomp.kernels.int8 import Int8Kernel
rng = np.random.default_rng(5)
w = rng.integers(-128, 128, (21, 77)).astype(np.int8)
x = rng.integers(0, 256, (6, 77)).astype(np.uint8)
m0, shift = R.quantize_multiplier(10.0 ** rng.uniform(-5, -3, 21))
kernel = Int8Kernel(w, None, 3, m0, shift, 7, relu=True, parallel=False)
ok = (kernel(x) == R.int8_linear(x, 3, w, None, m0, shift, 7, True)).all()
print(kernel.path, kernel.decisions[8], bool(ok))
"""
    feats = "+avx,+avx2,+fma,+bmi,+bmi2,+popcnt,+sse4.2,+f16c,+lzcnt,+movbe"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NUMBA_CPU_NAME": "znver3",
           "NUMBA_CPU_FEATURES": feats, "NUMBA_CACHE_DIR": str(tmp_path),
           "MINICOMP_DISPATCH_CACHE": "off"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["madd", "madd_serial", "True"]


def test_a_stalling_parallel_int8_design_is_dropped(monkeypatch):
    # a parallel winner is watched (dispatch.observe), as a sparse layer's and a fused
    # model's: once its calls cost more than the serial design's measured time, banned
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", "off")
    monkeypatch.delenv("MINICOMP_KERNEL", raising=False)
    D.clear()
    rng = np.random.default_rng(5)
    w_q = rng.integers(-127, 128, (64, 96)).astype(np.int8)
    kernel = Int8Kernel(w_q, None, 0, 1 << 30, 40, 0, path="blocked")
    x = rng.integers(0, 256, (200, 96)).astype(np.uint8)
    expected = kernel(x, design="blocked_serial")
    kernel(x)
    key = ("blocked", 64, 96, D.batch_bucket(200), numba.get_num_threads())
    D._memory["int8", key] = "blocked_parallel"          # as if measured so, then stalling
    D._watch["int8", key] = [0.0, 0, D.WATCH_S]           # serial "takes 0 s"
    kernel.decisions[D.batch_bucket(200)] = "blocked_parallel"
    kernel._chosen.clear()
    for _ in range(D.WATCH):
        np.testing.assert_array_equal(kernel(x), expected)
    assert kernel._chosen == {} and D.explain()[-1]["source"] == "stalled"
    np.testing.assert_array_equal(kernel(x), expected)    # decided again, without it
    assert kernel.decisions[D.batch_bucket(200)] != "blocked_parallel"
    D.clear()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("N", [64, 130])               # one panel (rows split over threads), three
def test_every_batch_size_tiles_exactly(kind, N):
    # rows go in 6-row tiles, then 4-row ones, then single rows (8 = 4 + 4, 9 = 4 + 4 + 1):
    # every batch size up to 30, serial and split over 2 threads, against the twin
    rng = np.random.default_rng(N)
    w = rng.integers(-128, 128, (N, 40), dtype=np.int8)
    wp, k4 = vnni.pack(w)
    q = requant_params(1 << 30, 38, 3, N, False)
    chan = np.stack([rng.integers(-2**20, 2**20, N), q.m0, q.rnd, q.shift])  # (4, out)
    for B in range(1, 31):
        x = rng.integers(0, 256, (B, 4 * k4), dtype=np.uint8)
        expected = T.kblocked_linear(x, wp, k4, 4, chan, q.Z_y, q.lo, q.hi)
        for extra in ((), (2,)):
            out = np.zeros((B, N), np.uint8)
            vnni.KERNELS[kind, bool(extra)](x, wp, k4, 4, chan, q.Z_y, q.lo, q.hi, out, *extra)
            np.testing.assert_array_equal(out, expected, err_msg=f"B={B}, threads {extra}")
