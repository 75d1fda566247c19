"""THE byte count (minicomp.metrics.storage_bytes): every format on hand-worked layers."""
import numpy as np
import pytest

from minicomp.kernels import sparse
from minicomp.kernels.reference import to_csr
from minicomp.metrics import storage_bytes
from minicomp.nn import MLP, Dense, Sequential, Sigmoid
from minicomp.prune.mask import apply_mask
from minicomp.quant import huffman_bytes, kmeans_quantize


def test_dense_counts_parameters_in_their_dtype():
    net = MLP([10, 20, 5], seed=0)                 # 200 + 20 + 100 + 5 float32 parameters
    assert storage_bytes(net) == 4 * 325
    assert storage_bytes(net, bias=False) == 4 * 300
    assert storage_bytes((3, 4)) == 4 * (12 + 3)
    assert storage_bytes(np.zeros((3, 4), np.float16), bias=False) == 2 * 12


def test_csr_uses_the_narrowest_index_types():
    # (2, 3), 3 nonzeros: 3 * 4 values + 3 uint8 columns + 3 uint8 row pointers
    W = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    assert storage_bytes(W, "csr", bias=False) == 12 + 3 + 3
    assert storage_bytes(to_csr(W), "csr", bias=False) == to_csr(W).nbytes == 18
    # 300 inputs need uint16 columns; 600 nonzeros need uint16 row pointers
    W = np.zeros((4, 300), np.float32)
    W[:, :150] = 1.0
    assert storage_bytes(W, "csr", bias=False) == 600 * 4 + 600 * 2 + 5 * 2


@pytest.mark.parametrize("shape, density", [((1, 1), 1.0), ((3, 256), 0.5), ((3, 257), 0.5),
                                            ((40, 300), 0.3), ((2, 70_000), 0.01),
                                            ((5, 8), 0.0)])
def test_csr_nbytes_is_storage_bytes(shape, density):
    # CSR.nbytes counts the arrays held; storage_bytes the formula: they agree for every
    # CSR that to_csr builds (index types: uint8 up to 256 inputs / nnz, then uint16, uint32)
    rng = np.random.default_rng(0)
    W = np.where(rng.random(shape) < density, rng.standard_normal(shape), 0.0)
    for A in (to_csr(W), sparse.to_csr(W)):
        assert A.nbytes == storage_bytes(A, "csr", bias=False) == storage_bytes(
            W, "csr", bias=False)


def test_csr_of_a_net_keeps_entries_nonzero_and_not_masked():
    net = MLP([4, 3], seed=0)
    mask = np.zeros((3, 4), np.float32)
    mask[0, :2] = 1                                # 2 of 12 weights kept
    apply_mask(net[0].W, mask)
    # 2 * 4 + 2 * 1 + 4 * 1 + bias 3 * 4
    assert storage_bytes(net, "csr") == 8 + 2 + 4 + 12
    assert storage_bytes(net[0], "csr", bias=False) == 14


@pytest.mark.parametrize("granularity, scheme, group_size, expected", [
    ("tensor", "symmetric", None, 2048 + 4),            # 64 * 64 * 4 bits + 1 scale
    ("channel", "symmetric", None, 2048 + 64 * 4),      # one scale per row
    ("channel", "affine", None, 2048 + 64 * 4 + 64),    # + a 1-byte zero point each
    ("group", "symmetric", 16, 2048 + 64 * 4 * 4),      # 4 groups per row
])
def test_int_codes_scales_and_zero_points(granularity, scheme, group_size, expected):
    assert storage_bytes((64, 64), "int", bits=4, granularity=granularity, scheme=scheme,
                         group_size=group_size, bias=False) == expected


def test_int_of_a_net_per_layer_and_mixed_precision():
    net = MLP([10, 20, 5], seed=0)
    # int8 per channel: 300 bytes + (20 + 5) scales * 4 + 25 biases * 4
    assert storage_bytes(net, "int", bits=8) == 300 + 100 + 100
    # layer 1 kept in float32: 4 * (100 + 5)
    assert storage_bytes(net, "int", bits=[8, 32]) == 200 + 80 + 80 + 4 * 105
    # 12 bits, affine, per tensor: ceil(200 * 12 / 8) + 4 + 2 (a 2-byte zero point) + 80
    assert storage_bytes(net[0], "int", bits=12, granularity="tensor",
                         scheme="affine") == 300 + 4 + 2 + 80


def test_integer_model_adds_multipliers_and_zero_points():
    # int8 weights + int32 bias, m0, shift per channel + Z_x and Z_y
    net = MLP([8, 32, 4], seed=0)
    assert storage_bytes(net, "integer") == (256 + 12 * 32 + 2) + (128 + 12 * 4 + 2)
    assert storage_bytes((4, 8), "integer", bias=False) == 32 + 8 * 4 + 2


def test_codebook_and_huffman_of_a_kmeans_net():
    net = MLP([10, 20, 5], seed=0)
    shared = kmeans_quantize(net, 2)
    # 2-bit indices: 50 + 25 bytes; codebooks 2 * 4 * 4; biases 25 * 4
    assert storage_bytes(shared, "codebook") == 75 + 32 + 100
    assert storage_bytes((20, 10), "codebook", bits=2) == 50 + 16 + 80
    coded = sum(huffman_bytes(m.index, 4) for m in shared if hasattr(m, "codebook"))
    assert storage_bytes(shared, "huffman") == coded + 32 + 100
    assert storage_bytes(shared) == 4 * (8 + 25)            # dense: its parameters


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: storage_bytes((2, 2), "fp8"), ValueError, r"fmt='fp8'"),
    (lambda: storage_bytes((2, 2), "int"), TypeError, r"bits is None with fmt='int'"),
    (lambda: storage_bytes((2, 2), "int", bits=33), ValueError, r"bits=33; expected an int "
     r"in \[2, 16\], or 32"),
    (lambda: storage_bytes((2, 2), "int", bits=1), ValueError, r"bits=1; expected an int in \[2"),
    (lambda: storage_bytes(MLP([2, 2, 2]), "int", bits=[8]), ValueError, r"bits has 1 widths"),
    (lambda: storage_bytes(MLP([2, 2, 2]), "int", bits=[8, 33]), ValueError, r"bits\[1\]=33"),
    (lambda: storage_bytes((2, 2), "csr"), ValueError, r"x is the shape \(2, 2\) and fmt='csr'"),
    (lambda: storage_bytes((2, 2), "dense", bits=8), ValueError, r"bits=8 with fmt='dense'"),
    (lambda: storage_bytes((2, 2), "integer", bits=4), ValueError,
     r"bits=4 with fmt='integer'; expected 8"),
    (lambda: storage_bytes((2, 6), "int", bits=4, granularity="group", group_size=4),
     ValueError, r"group_size=4; expected a positive int dividing in_features=6"),
    (lambda: storage_bytes(MLP([2, 2]), "huffman"), TypeError,
     r"x is a MLP without k-means layers and fmt='huffman'"),
    (lambda: storage_bytes(kmeans_quantize(MLP([4, 4]), 2), "int", bits=8), TypeError,
     r"x is a Sequential of k-means layers and fmt='int'; expected fmt='codebook'"),
    (lambda: storage_bytes(Sequential(Dense(2, 2), Sequential()), "int", bits=8), TypeError,
     r"layer 1 is a Sequential"),
    (lambda: storage_bytes(to_csr(np.eye(2)), "int", bits=8), TypeError, r"x is a CSR"),
    (lambda: storage_bytes([[1.0, np.nan]], "csr"), ValueError, r"x contains nan"),
    (lambda: storage_bytes((2, 2), bias=1), TypeError, r"bias=1"),
])
def test_bad_arguments_are_named(call, error, pattern):
    with pytest.raises(error, match="storage_bytes: " + pattern):
        call()


def test_any_activation_is_fine_for_sizes():
    net = Sequential(Dense(3, 2), Sigmoid(), Dense(2, 1))
    assert storage_bytes(net, "int", bits=8) == (6 + 2 * 4 + 2 * 4) + (2 + 4 + 4)
