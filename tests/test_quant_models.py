"""Tests of minicomp.quant on models: PTQ, integer-only inference, QAT (STE), k-means,
Huffman, sizes and mixed precision."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import MLP, Dense, Sequential, Tensor, evaluate, gradcheck
from minicomp.data import make_blobs
from minicomp.deploy import to_inference
from minicomp.kernels import reference
from minicomp.metrics import storage_bytes
from minicomp.nn import Sigmoid
from minicomp.quant import (
    QATMLP,
    calibrate,
    fake_quantize_ste,
    finetune_centroids,
    huffman_bytes,
    huffman_decode,
    huffman_encode,
    int8_settings,
    kmeans_quantize,
    mixed_precision,
    qat_finetune,
    quantize_mlp,
    simulate_codes,
    size_table,
)
from minicomp.quant.huffman import entropy_bits, huffman_code
from minicomp.quant.integer import fixed_point_round
from minicomp.quant.kmeans import SharedDense, kmeans_1d
from minicomp.quant.mixed import choose_bits


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(600, num_classes=4, num_features=8, std=2.0, seed=0)
    X = X.astype(np.float32)
    net = MLP([8, 32, 32, 4], seed=0)
    from minicomp import fit
    fit(net, X[:400], y[:400], lr=0.05, epochs=15, quiet=True)
    return net, X, y


# ---- PTQ -------------------------------------------------------------------
def test_ptq_int8_close_to_float(blobs):
    net, X, y = blobs
    float_acc = evaluate(net, X[400:], y[400:])["accuracy"]
    for granularity in ("tensor", "channel"):
        qnet = quantize_mlp(net, X[:200], 8, 8, granularity)
        assert abs(evaluate(qnet, X[400:], y[400:])["accuracy"] - float_acc) <= 0.02
    w4 = quantize_mlp(net, None, bits=4, bits_a=None)           # weight-only
    assert w4.bits_a is None and np.all(np.abs(w4.qlayers[0].W.q) <= 7)


def test_ptq_bad_input(blobs):
    net, X, _ = blobs
    with pytest.raises(ValueError, match="non-empty"):
        quantize_mlp(net, X[:0])
    with pytest.raises(ValueError, match="non-finite"):
        quantize_mlp(net, np.full((4, 8), np.nan))
    bad = copy.deepcopy(net)
    bad[0].W.data[0, 0] = np.inf
    with pytest.raises(ValueError, match="layer 0 weights contains non-finite"):
        quantize_mlp(bad, X[:10])
    with pytest.raises(TypeError, match="Sigmoid"):
        quantize_mlp(Sequential(Dense(2, 2), Sigmoid()), X[:2, :2])
    with pytest.raises(ValueError, match="bits=17"):
        quantize_mlp(net, X[:10], bits=17)


def test_calibration_observes_post_relu_ranges(blobs):
    net, X, _ = blobs
    obs = calibrate(net, X[:100])
    assert len(obs) == 4 and obs[1].range()[0] == 0.0 and obs[0].range()[0] < 0
    assert quantize_mlp(net, X[:100]).qlayers[0].Z_y == 0       # ReLU output: Z = 0


# ---- integer-only inference -------------------------------------------------
def test_fixed_point_round_is_exact_against_int64():
    rng = np.random.default_rng(0)
    acc = rng.integers(-2**31 + 1, 2**31 - 1, 20000).astype(np.int32)
    M = np.exp(rng.uniform(np.log(2.0**-30), np.log(0.9), 20000))
    m0, shift = reference.quantize_multiplier(M)
    shift = np.maximum(shift, 16)
    exact = (acc.astype(np.int64) * m0 + (np.int64(1) << (shift - 1))) >> shift
    assert np.array_equal(fixed_point_round(acc.astype(np.float64), m0, shift), exact)
    # ties: acc * M = k + 1/2 rounds up, also for negative values
    m0, shift = reference.quantize_multiplier(0.25)
    assert fixed_point_round(np.array([2.0, 6.0, -2.0, -6.0]), m0, shift).tolist() == \
        [1.0, 2.0, 0.0, -1.0]


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_integer_pipeline_equals_simulated_exactly(blobs, granularity):
    net, X, _ = blobs
    qnet = quantize_mlp(net, X[:200], 8, 8, granularity)
    inet = to_inference(qnet)                                   # int8 kernels
    X_test = np.concatenate([X, 3 * X[:50]])                    # also saturating inputs
    codes = inet.forward_int(X_test)
    assert codes.dtype == np.uint8
    assert np.array_equal(codes, simulate_codes(qnet, X_test))
    # the simulated model with the ideal multiplier M differs by at most one code
    last = qnet.qlayers[-1]
    ideal = np.rint(qnet(X_test).data / last.S_y) + last.Z_y
    assert np.abs(ideal - codes).max() <= 1
    assert (inet(X_test).argmax(1) == qnet(X_test).data.argmax(1)).mean() > 0.97
    # and layer by layer, the settings run on the NumPy reference kernel give the same codes
    q = inet.quantize_input(X_test)
    for p in int8_settings(qnet):
        m0, shift = reference.quantize_multiplier(p["S_x"] * p["S_w"] / p["S_y"])
        q = reference.int8_linear(q, p["Z_x"], p["w_q"], p["bias_q"], m0, shift, p["Z_y"],
                                  relu=p["relu"])
    assert np.array_equal(q, codes)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=2, max_size=4), st.integers(0, 10**6),
       st.floats(0.1, 20.0), st.sampled_from(["tensor", "channel"]))
def test_integer_equals_simulated_on_random_nets(sizes, seed, spread, granularity):
    rng = np.random.default_rng(seed)
    net = MLP(sizes, seed=seed)
    for layer in net.layers[::2]:
        layer.b.data[...] = rng.standard_normal(layer.b.data.shape)
    X = (rng.standard_normal((16, sizes[0])) * spread).astype(np.float32)
    qnet = quantize_mlp(net, X[:8], 8, 8, granularity)     # rows 8..15 may saturate
    inet = to_inference(qnet)
    assert np.array_equal(inet.forward_int(X), simulate_codes(qnet, X))


def test_integer_needs_8_bits(blobs):
    net, X, _ = blobs
    with pytest.raises(ValueError, match="8-bit"):
        to_inference(quantize_mlp(net, X[:50], bits=4))
    with pytest.raises(TypeError, match="QuantizedMLP"):
        int8_settings(net)
    with pytest.raises(ValueError, match="QuantizedMLP, which holds"):
        to_inference(quantize_mlp(net, X[:50]), masks={})


def test_integer_sizes(blobs):
    net, X, _ = blobs
    inet = to_inference(quantize_mlp(net, X[:50]))
    # int8 weights + int32 bias, m0, shift per channel + two zero points per layer
    expected = sum(o * i + 3 * 4 * o + 2 for i, o in ((8, 32), (32, 32), (32, 4)))
    assert inet.nbytes == expected == storage_bytes(net, "integer")


# ---- QAT: the straight-through estimator -------------------------------------
def test_ste_gradient_identity_inside_zero_outside():
    x = Tensor(np.linspace(-3, 3, 61), requires_grad=True, dtype=np.float64)
    S, Z = 0.1, 10                                             # codes 0..15 -> [-1.0, 0.5]
    y = fake_quantize_ste(x, S, Z, 4, "affine")
    (y * Tensor(np.arange(61.0))).sum().backward()
    inside = (x.data >= -1.0) & (x.data <= 0.5)
    assert np.array_equal(x.grad, np.where(inside, np.arange(61.0), 0.0))


def test_ste_finite_differences_outside_the_range():
    # outside the range fq is constant, so finite differences give 0 like the STE;
    # inside it fq is a staircase (differences are 0 or a spike), so there the
    # STE's identity is checked directly instead
    def f(t):
        return fake_quantize_ste(t, 0.25, 0, 4, "symmetric").sum()   # range [-1.75, 1.75]
    assert gradcheck(f, np.array([2.3, -5.1, 3.0]), eps=1e-4)
    x = Tensor(np.array([0.3, 1.0]), requires_grad=True, dtype=np.float64)
    f(x).backward()
    assert x.grad.tolist() == [1.0, 1.0]                       # identity inside


def test_qat_finetune_recovers_4_bit_accuracy(blobs):
    net, X, y = blobs
    float_acc = evaluate(net, X[400:], y[400:])["accuracy"]
    net4 = copy.deepcopy(net)
    qat, history = qat_finetune(net4, X[:400], y[:400], bits=4, epochs=3, lr=0.01)
    assert isinstance(qat, QATMLP) and len(history.loss) == 3
    qnet = qat.to_quantized()
    acc = evaluate(qnet, X[400:], y[400:])["accuracy"]
    assert acc >= float_acc - 0.03
    assert np.all(np.abs(qnet.qlayers[0].W.q) <= 7)            # 4-bit symmetric codes
    # eval-mode QAT forward = the converted model, up to the bias's int32 grid
    assert (qat(X[400:]).data.argmax(1) == qnet(X[400:]).data.argmax(1)).mean() >= 0.95


# ---- k-means weight sharing and Huffman -------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_codebook_size_is_2_to_the_bits(bits):
    w = np.random.default_rng(bits).standard_normal((16, 16))
    codebook, index = kmeans_1d(w, bits)
    assert codebook.shape == (2**bits,) and index.max() < 2**bits
    w3 = np.array([0.0, 0.0, 1.0])                              # fewer distinct values
    assert kmeans_1d(w3, bits)[0].shape == (2**bits,)


def test_kmeans_hand_worked_and_bad_input():
    codebook, index = kmeans_1d([-1.0, -0.9, 0.0, 0.1, 2.0, 2.2, 4.0, 4.2], 2)
    assert np.allclose(codebook, [-0.95, 0.05, 2.1, 4.1])      # the four pair means
    assert index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="bits=9"):
        kmeans_1d([1.0], 9)
    with pytest.raises(ValueError, match="non-finite"):
        kmeans_1d([np.nan, 1.0], 2)


def test_centroid_gradient_is_the_sum_over_the_cluster():
    layer = SharedDense(np.array([0.5, -1.0]), np.array([[0, 1, 0], [1, 1, 0]]),
                        np.zeros(2))
    x = Tensor(np.array([[1.0, 2.0, 3.0]]))
    layer(x).sum().backward()
    # dL/dW_ij = x_j; centroid 0 holds W00, W02, W12: 1 + 3 + 3; centroid 1: 2 + 1 + 2
    assert layer.codebook.grad.tolist() == [7.0, 5.0]


def test_kmeans_finetune_keeps_sharing_and_improves(blobs):
    net, X, y = blobs
    shared = kmeans_quantize(net, 2)
    before = evaluate(shared, X[:400], y[:400])["loss"]
    finetune_centroids(shared, X[:400], y[:400], epochs=3)
    assert evaluate(shared, X[:400], y[:400])["loss"] < before
    for layer in shared.layers:
        if isinstance(layer, SharedDense):
            assert np.unique(layer.weight()).size <= 4


@pytest.mark.parametrize("bits", [1, 2])
def test_kmeans_keeps_pruned_weights_at_zero_through_finetuning(blobs, bits):
    from minicomp.prune import prune
    net, X, y = blobs
    pruned = copy.deepcopy(net)
    prune(pruned, "magnitude", 0.3)
    masks = [m.W.mask for m in pruned.layers if isinstance(m, Dense)]
    shared = kmeans_quantize(pruned, bits)
    layers = [m for m in shared.layers if isinstance(m, SharedDense)]
    for layer, mask in zip(layers, masks):                  # pruned: exactly 0; kept: nonzero
        assert np.array_equal(layer.weight() == 0, mask == 0)
        assert layer.codebook.size == 2**bits
    finetune_centroids(shared, X[:400], y[:400], epochs=2)
    for layer, mask in zip(layers, masks):
        assert np.all(layer.weight()[mask == 0] == 0) and layer.codebook.data[0] == 0
    assert storage_bytes(shared, "codebook") == storage_bytes(kmeans_quantize(net, bits),
                                                              "codebook")


def test_huffman_round_trip_and_optimality():
    # counts 5, 2, 1, 1 -> lengths 1, 2, 3, 3: 5 + 4 + 3 + 3 = 15 bits
    code = huffman_code({0: 5, 1: 2, 2: 1, 3: 1})
    assert sorted(len(c) for c in code.values()) == [1, 2, 3, 3]
    index = np.random.default_rng(0).choice(4, 500, p=[0.7, 0.2, 0.05, 0.05])
    bits, code = huffman_encode(index)
    assert np.array_equal(huffman_decode(bits, code, index.size), index)
    H = entropy_bits(index)
    assert H * index.size <= len(bits) < (H + 1) * index.size
    assert huffman_bytes(index, 4) == -(-len(bits) // 8) + 4
    assert huffman_code([0, 3]) == {1: "0"}
    with pytest.raises(ValueError, match="positive count"):
        huffman_code([0, 0])


# ---- sizes and mixed precision ----------------------------------------------
def test_sizes_hand_worked():
    net = MLP([10, 20, 5], seed=0)                 # 200 + 20 + 100 + 5 parameters
    assert storage_bytes(net) == 4 * 325
    # int8 per channel: 300 bytes + (20 + 5) scales * 4 + 25 biases * 4
    assert storage_bytes(net, "int", bits=8, granularity="channel") == 300 + 100 + 100
    assert storage_bytes(net, "int", bits=[8, 32]) == 200 + 80 + 80 + 4 * 105
    shared = kmeans_quantize(net, 2)
    # 2-bit indices: 50 + 25 bytes; codebooks 2 * 4 * 4; biases 25 * 4
    assert storage_bytes(shared, "codebook") == 75 + 32 + 100
    rows = {r["scheme"]: r["bytes"] for r in size_table(net, shared)}
    assert rows["float32"] == 1300 and rows["k-means 2-bit"] == 207


def test_mixed_precision_meets_the_budget(blobs):
    net, X, y = blobs
    budget = storage_bytes(net, "int", bits=[4, 4, 8])
    net_q, bits, nbytes = mixed_precision(net, X[400:], y[400:], budget, (2, 4, 8, 32))
    assert nbytes <= budget and len(bits) == 3
    for layer, b in zip(net_q.layers[::2], bits):            # each row on its b-bit grid
        if b < 32:
            assert max(np.unique(row).size for row in layer.W.data) <= 2**b - 1
    assert net[0].W.data is not net_q[0].W.data             # the float net is untouched
    with pytest.raises(ValueError, match="budget"):
        choose_bits(np.zeros((3, 2)), [(32, 8), (32, 32), (4, 32)], (2, 4), budget=10)
