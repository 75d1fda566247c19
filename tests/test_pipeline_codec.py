"""The sparse Huffman codec of Deep Compression (minicomp.quant.sparse_huffman)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.quant.huffman import canonical_code, code_lengths
from minicomp.quant.sparse_huffman import decode, decode_index, encode, quantize_bias


def _same(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _roundtrip(index, codebook, bias=None):
    enc = encode(index, codebook, bias)
    assert enc.nbytes == sum(a.nbytes for a in enc.arrays.values())
    W, b = decode(enc.arrays, enc.meta)
    assert W.dtype == np.float32 and _same(W, np.asarray(codebook, np.float32)[index])
    if bias is None:
        assert b is None
    else:
        assert _same(b, np.asarray(bias, np.float32))
    assert np.array_equal(decode_index(enc.arrays, enc.meta)[0], index)
    return enc


def test_hand_worked_fixture():
    # flat: 0 3 0 0 0 | 0 0 0 0 1 -> nonzeros at 1, 9: gaps 1, 7.
    # w = 1 (G = 1): (1,3), then 7 = 3 fillers (1,0) of 2 positions each + (1,1).
    # gaps 1,1,1,1,1: one symbol, lengths [0, 1] -> nibbles 0x01; code '0' x5 -> 0x00.
    # indices 3,0,0,0,1: counts 3,1,0,1 -> lengths [1,2,0,2] -> nibbles 0x12 0x02;
    # canonical codes 0:'0' 1:'10' 3:'11' -> 11 0 0 0 10 + pad 0 = 0b11000100 = 196.
    # bytes: 1 + 1 + 1 + 2 (streams, tables) + 16 codebook = 21; w = 2 needs 6 + 16,
    # w = 3 needs 8 + 16, so w = 1 is chosen. Bias [1.0, -0.3]: e = -6, q = 64, -19.
    index = np.array([[0, 3, 0, 0, 0], [0, 0, 0, 0, 1]])
    codebook = np.array([0.0, 0.5, -0.5, 1.0], np.float32)
    enc = _roundtrip(index, codebook)
    a = enc.arrays
    assert enc.meta["gap_bits"] == 1 and enc.meta["entries"] == 5
    assert a["gap_lengths"].tolist() == [0x01] and a["gaps"].tolist() == [0]
    assert a["index_lengths"].tolist() == [0x12, 0x02] and a["indices"].tolist() == [196]
    assert enc.nbytes == 21 and enc.report["fillers"] == 3 and enc.report["nonzeros"] == 2
    bias = quantize_bias([1.0, -0.3])
    enc = _roundtrip(index, codebook, bias)
    assert enc.arrays["bias"].tolist() == [64, -19] and enc.meta["bias_exponent"] == -6
    assert enc.nbytes == 23 and bias.tolist() == [1.0, -19 / 64]


def test_canonical_code_from_lengths():
    assert code_lengths([3, 1, 0, 1]).tolist() == [1, 2, 0, 2]
    assert canonical_code([1, 2, 0, 2]).tolist() == [0, 2, 0, 3]
    skewed = code_lengths([2**k for k in range(20)], max_length=15)   # Huffman depth 19
    assert skewed.max() == 15 and (2.0 ** -skewed.astype(float)).sum() == 1.0


@st.composite
def sparse_layers(draw):
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 60))
    k = 2 ** draw(st.integers(0, 8))
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    index = np.where(rng.random((rows, cols)) < density, rng.integers(0, k, (rows, cols)), 0)
    if draw(st.booleans()):
        index[rng.integers(rows)] = 0                                  # an all-zero row
    codebook = rng.standard_normal(k).astype(np.float32)
    kind, bias = draw(st.sampled_from([None, "float", "int8"])), None
    if kind is not None:
        bias = rng.standard_normal(rows).astype(np.float32)
        bias = quantize_bias(bias) if kind == "int8" else bias
    return index, codebook, bias


@settings(max_examples=150, deadline=None)
@given(sparse_layers())
def test_roundtrip_is_bit_exact(layer):
    _roundtrip(*layer)


@pytest.mark.parametrize("index", [
    np.zeros((4, 7), np.int64),                                  # nothing stored
    np.eye(1, 5000, 4999, dtype=np.int64) * 3,                   # one nonzero, long gap
    np.eye(1, 5000, 0, dtype=np.int64),                          # one nonzero, first
    np.arange(64).reshape(8, 8) % 16,                            # (nearly) full density
    np.ones((3, 3), np.int64),                                   # full density, one symbol
    np.kron(np.eye(3, dtype=np.int64), np.ones((1, 700), np.int64))[:, ::7] * 2,
])
def test_roundtrip_edge_cases(index):
    codebook = np.linspace(0, 1, 16, dtype=np.float32)
    enc = _roundtrip(index, codebook, quantize_bias(np.arange(index.shape[0]) - 1.5))
    assert enc.arrays["bias"].dtype == np.int8


def test_bias_kinds_and_costs():
    index = np.array([[0, 1], [1, 0]])
    b = np.array([0.1, -0.0], np.float32)                        # -0.0: int8 cannot keep it
    assert _roundtrip(index, [0.0, 1.0], b).arrays["bias"].dtype == np.float32
    q = quantize_bias([0.1, 0.2])
    assert np.array_equal(quantize_bias(q), q)                   # idempotent
    assert _roundtrip(index, [0.0, 1.0], q).arrays["bias"].nbytes == 2


def test_entropy_report_bounds_the_streams():
    rng = np.random.default_rng(0)
    index = np.where(rng.random((100, 300)) < 0.08, rng.integers(1, 16, (100, 300)), 0)
    r = encode(index, np.arange(16, dtype=np.float32)).report
    assert r["entropy_bytes"] <= r["stream_bytes"] <= 1.02 * r["entropy_bytes"] + 2


def _encoded():
    index = np.array([[0, 3, 0, 0, 0, 2], [0, 0, 0, 0, 1, 0]])
    return encode(index, [0.0, 0.5, -0.5, 1.0], quantize_bias([1.0, -0.3]))


def _corrupt(change):
    enc = _encoded()
    arrays, meta = {k: v.copy() for k, v in enc.arrays.items()}, dict(enc.meta)
    change(arrays, meta)
    return arrays, meta


@pytest.mark.parametrize("change, message", [
    (lambda a, m: a.update(gaps=a["gaps"][:0]), "bytes; expected"),               # too short
    (lambda a, m: m.update(entries=m["entries"] + 1), "too short"),
    (lambda a, m: m.update(entries=m["entries"] - 1), "lengths inconsistent"),
    (lambda a, m: m.update(index_stream_bits=m["index_stream_bits"] - 1), "padding|bytes|short"),
    (lambda a, m: a.update(indices=a["indices"] | np.uint8(1)), "padding"),
    (lambda a, m: a.update(index_lengths=a["index_lengths"] + np.uint8(1)), "Kraft"),
    (lambda a, m: m.update(index_symbols=5), "index_symbols"),                    # > k
    (lambda a, m: m.update(gap_symbols=2 ** m["gap_bits"] + 1), "gap_symbols"),
    (lambda a, m: m.update(rows=1), "position|bias"),
    (lambda a, m: m.update(cols=2), "position"),
    (lambda a, m: a.pop("bias"), "keys"),
    (lambda a, m: a.update(codebook=a["codebook"].astype(np.float64)), "float32"),
    (lambda a, m: a.update(codebook=np.full(4, np.nan, np.float32)), "finite"),
    (lambda a, m: m.update(bias="int4"), "bias"),
    (lambda a, m: m.update(entries=True), "int"),
    (lambda a, m: m.update(gap_bits=9), "gap_bits"),
])
def test_corrupt_input_refused(change, message):
    arrays, meta = _corrupt(change)
    with pytest.raises(ValueError, match=message):
        decode(arrays, meta)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["gaps", "indices", "gap_lengths", "index_lengths"]),
       st.integers(0, 10**6), st.integers(1, 255))
def test_flipped_bytes_decode_or_raise_value_error(name, at, xor):
    arrays, meta = _corrupt(lambda a, m: None)
    a = arrays[name]
    a[at % a.size] ^= np.uint8(xor)
    try:
        W, _ = decode(arrays, meta)
    except ValueError:
        return
    assert W.shape == (2, 6) and np.isin(W, [0.0, 0.5, -0.5, 1.0]).all()


def test_encode_refuses_bad_input():
    with pytest.raises(ValueError, match="index"):
        encode([[0, 4]], [0.0, 1.0])
    with pytest.raises(ValueError, match="1..256"):
        encode([[0, 1]], np.zeros(257))
    with pytest.raises(ValueError, match="bias"):
        encode([[0, 1]], [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError):
        encode([[0, 1]], [0.0, np.inf])
