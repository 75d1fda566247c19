"""FP8 / FP6 / FP4 / E8M0 encode and decode: bit-exact against ml_dtypes, round-trip properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.formats import minifloat as F

ml_dtypes = pytest.importorskip("ml_dtypes")
NAMES = tuple(F.MINIFLOATS)


def oracle_type(name):
    return getattr(ml_dtypes, F.MINIFLOATS[name].ml_dtype)


def oracle_codes(x, name):
    """ml_dtypes' codes for float32 ``x`` (FP6 / FP4 sit in the low bits of a byte)."""
    return np.asarray(x, np.float32).astype(oracle_type(name)).view(np.uint8)


def random_floats(n=10**6, seed=0):
    """Every kind of float32: random bit patterns (NaN, inf, subnormals) and scaled normals."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, n // 2, dtype=np.uint32).view(np.float32)
    wide = rng.standard_normal(n - n // 2) * np.exp(rng.uniform(-25, 15, n - n // 2))
    return np.concatenate([bits, wide.astype(np.float32),
                           np.float32([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0])])


@pytest.mark.parametrize("name", NAMES)
def test_every_code_point_decodes_as_ml_dtypes(name):
    f = F.MINIFLOATS[name]
    codes = np.arange(2 ** f.bits, dtype=np.uint8)
    expected = codes.view(oracle_type(name)).astype(np.float64)
    np.testing.assert_array_equal(F.decode_table(name), expected)      # NaN == NaN here
    # and every finite value encodes back to its own code (-0.0 included)
    finite = np.isfinite(expected)
    assert np.array_equal(F.encode(expected[finite], name), codes[finite])


@pytest.mark.parametrize("name", NAMES)
def test_a_million_random_floats_encode_as_ml_dtypes(name):
    x = random_floats()
    if F.MINIFLOATS[name].specials == "none":                # no NaN code: refused, see below
        x = x[~np.isnan(x)]
    ours = F.encode(x, name)
    bad = np.flatnonzero(ours != oracle_codes(x, name))
    assert bad.size == 0, f"{name}: {bad.size} differ, e.g. x={x[bad[:3]]}"


def test_hand_worked_e4m3():
    # 1.0 = 0.0111.000 = 56; 448 = 0.1111.110 = 126 (max); 464 = (448 + 480)/2 is a tie:
    # 126 is even, so 448; 500 > 464 overflows to NaN (127); -0.0 keeps its sign (128)
    assert F.encode([1.0, 448.0, 464.0, 500.0, -0.0], "e4m3").tolist() == [56, 126, 126, 127,
                                                                          128]
    assert F.encode([500.0, np.inf], "e4m3", saturate=True).tolist() == [126, 127]
    # E5M2 is IEEE-like: overflow is inf (0.11111.00 = 124), NaN is 0.11111.10 = 126
    assert F.encode([1e6, np.nan], "e5m2").tolist() == [124, 126]
    assert F.encode([1e6], "e5m2", saturate=True).tolist() == [123]         # 57344
    assert F.max_value("e4m3") == 448 and F.max_value("e5m2") == 57344
    assert F.max_value("e2m1") == 6 and F.max_value("e3m2") == 28 and F.max_value("e2m3") == 7.5


@pytest.mark.parametrize("name", NAMES)
def test_saturate_matches_clipping_then_ml_dtypes(name):
    x = random_floats(20_000, seed=1)
    x = x[np.isfinite(x)]
    top = F.max_value(name)
    expected = oracle_codes(np.clip(x, -top, top), name)
    assert np.array_equal(F.encode(x, name, saturate=True), expected)


@settings(max_examples=300, deadline=None)
@given(x=st.floats(-1e5, 1e5, allow_nan=False, width=32), name=st.sampled_from(NAMES))
def test_round_trip_is_the_nearest_value_ties_to_even(x, name):
    table = F.decode_table(name)
    finite = np.isfinite(table)
    values, codes = table[finite], np.flatnonzero(finite)
    if abs(x) > F.max_value(name):
        x = float(np.sign(x) * F.max_value(name))        # overflow rules: tested above
    code = int(F.encode([x], name, saturate=True)[0])
    dist = np.abs(values - x)
    nearest = codes[dist == dist.min()]
    assert code in nearest or (x == 0 and table[code] == 0)
    if len(set(table[nearest])) > 1:                       # a true tie: the even code wins
        assert code % 2 == 0


def test_e8m0_matches_ml_dtypes():
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(F.decode_e8m0(codes), codes.view(
        ml_dtypes.float8_e8m0fnu).astype(np.float32))
    with np.errstate(all="ignore"):                       # signalling NaNs made quiet
        x = np.concatenate([random_floats(200_000, seed=2), np.exp(
            np.random.default_rng(3).uniform(-80, 80, 100_000))]).astype(np.float32)
        expected = x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)
    assert np.array_equal(F.encode_e8m0(x), expected)
    assert F.encode_e8m0([1.0, 3.0, 0.75, 0.0, -2.0]).tolist() == [127, 129, 127, 255, 255]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="fmt='fp9'.*e4m3"):
        F.encode([1.0], "fp9")
    with pytest.raises(ValueError, match="e2m1 has no NaN"):
        F.encode([1.0, np.nan], "e2m1")
    with pytest.raises(ValueError, match="4-bit codes"):
        F.decode([16], "e2m1")
    with pytest.raises(TypeError, match="integer codes"):
        F.decode([1.5], "e4m3")
    with pytest.raises(TypeError, match="saturate"):
        F.encode([1.0], "e4m3", saturate="yes")
    with pytest.raises(TypeError):
        F.encode("abc", "e4m3")


def test_out_of_range_codes_are_shown_low_to_high():
    with pytest.raises(ValueError, match=r"decode: codes holds 3..300; expected 8-bit codes"):
        F.decode([3, 300], "e4m3")
