"""int8 kernels: bit-exact vs the reference on every path, int32 limits, errors, lazy compile."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.kernels import reference as R
from minicomp.kernels.blocked import pack as pack4
from minicomp.kernels.int8 import Int8Kernel, choose_path, int8_linear
from minicomp.kernels.madd import pack as pack16
from minicomp.kernels.madd import widen
from minicomp.kernels.requant import requant_params
from minicomp.kernels.vnni import cpu_features, cpu_vnni, pack
from minicomp.kernels.vnni import pad as pad4

NATIVE = pytest.param("vnni", marks=pytest.mark.skipif(
    cpu_vnni() is None, reason="this CPU has neither avx512_vnni nor avx_vnni"))
MADD = pytest.param("madd", marks=pytest.mark.skipif(
    "avx2" not in cpu_features(), reason="this CPU has no avx2"))
PATHS = ["blocked", "vnni_emulated", MADD, NATIVE]


def test_hand_worked_rounding_and_relu():
    # Z_x = 128: x - Z_x = (2, 0, -1); acc0 = 2*1 + 0*2 - 1*3 + 10 = 9, acc1 = -8 + 0 - 5 = -13
    # M = 0.5: 9 * 0.5 = 4.5 rounds half up to 5, -13 * 0.5 = -6.5 to -6;
    # + Z_y = 128: 133 and 122; with ReLU the lower clamp is Z_y: 133 and 128
    x_q = np.array([[130, 128, 127]], np.uint8)
    w_q = np.array([[1, 2, 3], [-4, 0, 5]], np.int8)
    m0, shift = R.quantize_multiplier(0.5)
    for path in ("blocked", "vnni_emulated", "madd")[:3 if "avx2" in cpu_features() else 2]:
        kernel = Int8Kernel(w_q, np.array([10, 0], np.int32), 128, m0, shift, 128, path=path)
        np.testing.assert_array_equal(kernel(x_q), [[133, 122]])
        kernel = Int8Kernel(w_q, np.array([10, 0], np.int32), 128, m0, shift, 128, relu=True,
                           path=path)
        np.testing.assert_array_equal(kernel(x_q), [[133, 128]])
    np.testing.assert_array_equal(
        int8_linear(x_q, 128, w_q, np.array([10, 0], np.int32), m0, shift, 128), [[133, 122]])


def test_pack_layout():
    # W[o, k] = o + 100 k for 70 outputs x 6 inputs: out padded to 128, in to 8
    W = (np.arange(70)[:, None] + 100 * np.arange(6)[None, :]).astype(np.int8)
    wp, k4 = pack(W)
    assert k4 == 2 and wp.shape == (2 * 2 * 4 * 16 * 4,)
    P = wp.reshape(2, 2, 4, 16, 4)            # [panel][k group][vector j][lane][q]
    assert P[0, 1, 2, 3, 1] == W[16 * 2 + 3, 4 + 1]
    assert P[1, 0, 0, 5, 3] == W[64 + 5, 3]
    assert (P[1, :, 0, 6:] == 0).all() and (P[0, 1, :, :, 2:] == 0).all()  # zero padding


def test_pack16_layout():
    # same W: [strip][k group][h][j][lane][q] = W[16 s + 8 j + lane, 4 k + 2 h + q], int16
    W = (np.arange(70)[:, None] + 100 * np.arange(6)[None, :]).astype(np.int8)
    wp, k4 = pack16(W)                        # out padded to 80 (5 strips), in to 8
    assert k4 == 2 and wp.dtype == np.int16 and wp.shape == (5 * 2 * 2 * 2 * 8 * 2,)
    P = wp.reshape(5, 2, 2, 2, 8, 2)
    assert P[2, 1, 0, 1, 3, 1] == W[16 * 2 + 8 + 3, 4 + 0 + 1]
    assert P[4, 0, 1, 0, 5, 0] == W[64 + 5, 2]
    assert (P[4, :, :, 0, 6:] == 0).all() and (P[4, :, :, 1] == 0).all()  # outputs 70..79
    assert (P[:, 1, 1] == 0).all()                                         # inputs 6, 7


def test_blocked_pack_and_input_padding():
    # blocked: 5 outputs padded to 8 with zero rows; madd widens x to int16 and vnni pads
    # it with zero columns to 4 k4 inputs (zeros add nothing to the dot products)
    W = np.arange(10, dtype=np.int8).reshape(5, 2)
    assert pack4(W).tolist() == W.tolist() + [[0, 0]] * 3
    x = np.array([[255, 1, 2, 3, 4]], np.uint8)
    assert widen(x, 2).tolist() == [[255, 1, 2, 3, 4, 0, 0, 0]] and widen(x, 2).dtype == np.int16
    assert pad4(x, 2).tolist() == [[255, 1, 2, 3, 4, 0, 0, 0]]
    x4 = x[:, :4].copy()
    assert pad4(x4, 1) is x4                                  # no copy when in = 4 k4


def test_requant_params_hand_worked():
    # shift 31 -> rnd = 2^30; ReLU raises the lower clamp to Z_y = 10 (int8: -128 -> 10)
    q = requant_params(np.array([1 << 30, 3], np.int32), 31, 10, 2, relu=True,
                       out_dtype=np.int8)
    assert q.m0.tolist() == [1 << 30, 3] and q.shift.tolist() == [31, 31]
    assert q.rnd.tolist() == [1 << 30, 1 << 30] and (q.Z_y, q.lo, q.hi) == (10, 10, 127)
    assert requant_params(1, 1, -5, 1, out_dtype=np.int8)[3:] == (-5, -128, 127)


def test_choose_path():
    auto = choose_path()
    assert auto == ("vnni" if cpu_vnni() else "madd" if "avx2" in cpu_features() else "blocked")
    assert Int8Kernel(**good()).path == auto
    assert choose_path("vnni_emulated") == "vnni_emulated"
    with pytest.raises(ValueError, match="path must be one of"):
        choose_path("gpu")


@st.composite
def layers(draw):
    B, K, N = (draw(st.integers(1, 9)), draw(st.integers(1, 80)), draw(st.integers(1, 80)))
    x_dtype, out_dtype = (draw(st.sampled_from([np.uint8, np.int8])) for _ in range(2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xi, yi = np.iinfo(x_dtype), np.iinfo(out_dtype)
    x_q = rng.integers(xi.min, xi.max + 1, (B, K)).astype(x_dtype)
    w_q = rng.integers(-128, 128, (N, K)).astype(np.int8)
    bias_q = rng.integers(-2**20, 2**20, N).astype(np.int32)
    M = 10.0 ** rng.uniform(-6, 0, N) if draw(st.booleans()) else 10.0 ** rng.uniform(-6, 0)
    m0, shift = R.quantize_multiplier(M)
    return (x_q, int(rng.integers(xi.min, xi.max + 1)), w_q, bias_q, m0, shift,
            int(rng.integers(yi.min, yi.max + 1)), draw(st.booleans()), out_dtype)


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=60, deadline=None)
@given(args=layers(), parallel=st.booleans())
def test_bit_exact_vs_reference(path, args, parallel):
    x_q, Z_x, w_q, bias_q, m0, shift, Z_y, relu, out_dtype = args
    expected = R.int8_linear(x_q, Z_x, w_q, bias_q, m0, shift, Z_y, relu, out_dtype)
    kernel = Int8Kernel(w_q, bias_q, Z_x, m0, shift, Z_y, relu, out_dtype, x_q.dtype,
                       path=path, parallel=parallel)
    y_q = kernel(x_q)
    assert y_q.dtype == out_dtype
    np.testing.assert_array_equal(y_q, expected)
    np.testing.assert_array_equal(kernel(np.asfortranarray(x_q)), expected)  # non-contiguous


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("x_dtype", [np.uint8, np.int8])
def test_worst_case_in_features_65536(path, x_dtype):
    K = 65536
    lo, hi = int(np.iinfo(x_dtype).min), int(np.iinfo(x_dtype).max)
    # x - Z_x = lo - hi = -255 everywhere, w = -128: acc = 255 * 128 * 2^16 = 2^31 - 2^23,
    # + bias 2^23 - 1 = 2^31 - 1 = INT32_MAX exactly; the second row is its negative
    x_q = np.full((1, K), lo, x_dtype)
    w_q = np.stack([np.full(K, -128), np.full(K, 127)]).astype(np.int8)   # (2, K)
    bias_q = np.array([2**23 - 1, -(2**23 - 1)], np.int32)
    m0, shift = R.quantize_multiplier(2.0**-24)                          # acc / 2^24 ~ +-128
    expected = R.int8_linear(x_q, hi, w_q, bias_q, m0, shift, 0, out_dtype=np.int8)
    y = Int8Kernel(w_q, bias_q, hi, m0, shift, 0, out_dtype=np.int8, x_dtype=x_dtype, path=path)
    np.testing.assert_array_equal(y(x_q), expected)
    assert expected.tolist() == [[127, -127]]            # 2^31-1 >> 24 = 128 -> clamped; -127
    with pytest.raises(OverflowError, match="output 0 has worst case 2147483648"):
        Int8Kernel(w_q, bias_q + np.int32(1), hi, m0, shift, 0, x_dtype=x_dtype, path=path)


@pytest.mark.parametrize("path", PATHS)
def test_partial_sums_wrap_but_result_is_exact(path):
    # K = 2^17 > 65,536 is accepted: Z_x = 128 so |x - Z_x| <= 128 and the worst case
    # 128 * 127 * 2^17 < 2^31. The raw sum the kernels form, 255 * 127 * 2^17 ~ 4.2e9,
    # wraps in int32; the folded bias -128 * 127 * 2^17 brings it back to the true
    # 127 * 127 * 2^17 = 2,114,060,288.
    K = 2**17
    x_q, w_q = np.full((2, K), 255, np.uint8), np.full((1, K), 127, np.int8)
    m0, shift = R.quantize_multiplier(2.0**-24)
    expected = R.int8_linear(x_q, 128, w_q, None, m0, shift, 0)
    assert expected.tolist() == [[126], [126]]            # 2114060288 / 2^24 = 126.0
    np.testing.assert_array_equal(Int8Kernel(w_q, None, 128, m0, shift, 0, path=path)(x_q),
                                  expected)


def good():
    w_q = np.ones((2, 3), np.int8)
    m0, shift = R.quantize_multiplier([0.5, 0.25])
    return {"w_q": w_q, "bias_q": np.zeros(2, np.int32), "Z_x": 0, "m0": m0,
            "shift": shift, "Z_y": 0}


@pytest.mark.parametrize("change, error, match", [
    ({"w_q": np.ones((2, 3), np.int16)}, TypeError, "w_q must be a 2-D int8"),
    ({"w_q": np.ones(3, np.int8)}, TypeError, "w_q must be a 2-D int8"),
    ({"bias_q": np.zeros(2, np.int64)}, TypeError, "bias_q must be int32 of shape"),
    ({"bias_q": np.zeros(3, np.int32)}, TypeError, r"bias_q must be int32 of shape \(2,\)"),
    ({"Z_x": 256}, ValueError, r"Z_x must lie in \[0, 255\], got 256"),
    ({"Z_x": -1}, ValueError, "Z_x must lie in"),
    ({"Z_x": 1.5}, TypeError, "Z_x must be an integer"),
    ({"Z_x": 128, "x_dtype": np.int8}, ValueError, r"\[-128, 127\], got 128"),
    ({"Z_y": -129, "out_dtype": np.int8}, ValueError, "Z_y must lie in"),
    ({"out_dtype": np.int16}, TypeError, "out_dtype must be uint8 or int8"),
    ({"x_dtype": np.float32}, TypeError, "x_dtype must be uint8 or int8"),
    ({"m0": np.array([0.5, 0.25])}, TypeError, "m0 must be integers"),
    ({"m0": np.array([0, 1])}, ValueError, r"m0 must lie in \[1, 2147483647\]"),
    ({"m0": np.array([-5, 1])}, ValueError, "m0 must lie in"),
    ({"m0": np.array([1, 2, 3])}, ValueError, r"m0 must be a scalar or have shape \(2,\)"),
    ({"shift": 0}, ValueError, r"shift must lie in \[1, 62\]"),
    ({"shift": 63}, ValueError, "shift must lie in"),
    ({"path": "gpu"}, ValueError, "path must be one of"),
])
def test_bad_kernel_arguments(change, error, match):
    with pytest.raises(error, match=match):
        Int8Kernel(**{**good(), **change})


def test_bad_inputs_at_call():
    kernel = Int8Kernel(**good(), path="blocked")
    with pytest.raises(ValueError, match="x_q has 4 features, the layer expects 3"):
        kernel(np.zeros((1, 4), np.uint8))
    with pytest.raises(TypeError, match="x_q must be uint8"):
        kernel(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="x_q must be a 2-D ndarray"):
        kernel(np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="x_q must be uint8 or int8, got float64"):
        int8_linear(np.zeros((1, 3)), 0, good()["w_q"], None, 1 << 30, 31, 0)
    assert kernel(np.zeros((0, 3), np.uint8)).shape == (0, 2)             # empty batch


@pytest.mark.skipif(cpu_vnni() is not None, reason="this CPU has VNNI")
def test_native_vnni_refused_without_the_instruction():
    with pytest.raises(RuntimeError, match="avx512_vnni or avx_vnni"):
        Int8Kernel(**good(), path="vnni")


def _run(code, **env):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_import_compiles_nothing():
    code = ("import minicomp.kernels.int8, minicomp.kernels.vnni as V\n"
            "import minicomp.kernels.blocked as P, minicomp.kernels.madd as A\n"
            "ks = [P.blocked_serial, P.blocked_parallel, A.madd_serial, A.madd_parallel,\n"
            "      *V.KERNELS.values()]\n"
            "print(sum(len(k.signatures) for k in ks))")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_native_kernels_emit_vpdpbusd(tmp_path):
    # compile (never run) each native kernel for a CPU that has the instruction
    code = """
import numpy as np
from numba import types as t
import minicomp.kernels.vnni as V
sig = (t.uint8[:, ::1], t.int8[::1], t.intp, t.intp, t.int64[:, ::1], t.intp, t.intp, t.intp,
       t.uint8[:, ::1])
kernel = V.KERNELS[KIND, False]
kernel.compile(sig)
asm = kernel.inspect_asm(sig)
print(sum("vpdpbusd" in line and REG in line for line in asm.splitlines()))
"""
    base = "+avx,+avx2,+fma,+bmi,+bmi2,+popcnt,+sse4.2,+f16c,+lzcnt,+movbe"
    for kind, cpu, feats, reg in [("avx512", "znver4", (",+avx512f,+avx512bw,+avx512vl,"
                                   "+avx512dq,+avx512cd,+avx512vnni"), "zmm"),
                                  ("avx", "alderlake", ",+avxvnni", "ymm")]:
        src = code.replace("KIND", repr(kind)).replace("REG", repr(reg))
        result = _run(src, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=base + feats,
                      NUMBA_CACHE_DIR=str(tmp_path))
        assert result.returncode == 0, result.stderr[-2000:]
        assert int(result.stdout.strip().splitlines()[-1]) >= 16, kind   # MR x NR per k group
