"""minicomp.store: every model kind packs to its source's predictions and byte count,
and round-trips through the file bit for bit (same predictions, same bytes)."""
from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp import functional as F
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.deploy import to_inference
from minicomp.formats import NMDense, TernaryDense, format_bytes, quantize_net
from minicomp.metrics import storage_bytes
from minicomp.nn import MLP
from minicomp.prune.mask import apply_mask
from minicomp.ptq.adaround import adaround_mlp
from minicomp.ptq.gptq import gptq_mlp
from minicomp.quant.kmeans import kmeans_quantize
from minicomp.quant.lsq import LearnedQuantMLP
from minicomp.quant.ptq import quantize_mlp, quantize_weights
from minicomp.quant.sparse_huffman import encode
from minicomp.store import Cascade, CompressedModel, Ensemble, Record, load, pack, save
from minicomp.store.layers import weights
from minicomp.store.records import pack_codes, unpack_codes
from minicomp.structure.lowrank import factorize

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 20)).astype(np.float32)          # (B, in)
NET = MLP([20, 24, 10], seed=0)                               # in 20: not a block multiple


def masked(seed=1, sparsity=0.7):
    net = MLP([20, 24, 10], seed=seed)
    rng = np.random.default_rng(seed)
    for b in dense_blocks(net):
        apply_mask(b.dense.W, (rng.random(b.dense.W.shape) >= sparsity).astype(np.float32))
    return net


def chain(layer_of, net, X):
    """A chain of per-layer inference objects, as the library builds them."""
    h = X
    for b in dense_blocks(net):
        h = layer_of(b.dense.W.data, None if b.dense.b is None else b.dense.b.data,
                     relu=type(b.act).__name__ == "ReLU")(h)
    return h


def shapes(net):
    return [b.dense.W.shape for b in dense_blocks(net)]


def formats_case(fmt):
    return (NET, fmt, {}, numpy_forward(quantize_net(NET, fmt), X),
            sum(math.ceil(format_bytes(s, fmt)) for s in shapes(NET)))


def cases():
    """name -> (object, fmt, options, its own forward on X, the library's byte count)."""
    net, pruned = NET, masked()
    q8, q4 = quantize_mlp(net, X), quantize_mlp(net, X, bits=4, granularity="group",
                                                 group_size=4)
    qw = quantize_mlp(net, None, bits=6, bits_a=None, granularity="tensor")
    w4, w12 = copy.deepcopy(net), copy.deepcopy(net)
    quantize_weights(w4, bits=4, granularity="channel", scheme="affine")
    g12 = {"bits": 12, "scheme": "affine", "granularity": "group", "group_size": 4}
    quantize_weights(w12, **g12)                                  # uint16 zero points
    shared = kmeans_quantize(pruned, bits=3)
    low, _ = factorize(net, rank=4)
    gp, ar = gptq_mlp(net, X, bits=4), adaround_mlp(net, X, bits=4, iters=20)
    lsq = {kw: LearnedQuantMLP(copy.deepcopy(net), bits=3, X_init=X, **dict(kw))
           for kw in ((), (("weights", "lsq+"),), (("acts", "pact"),),
                      (("weights", "ternary"),))}
    int_bytes = storage_bytes(net, "int", bits=3)
    out = {
        "dense": (net, "dense", {}, numpy_forward(net, X), storage_bytes(net)),
        "csr": (pruned, "auto", {}, to_inference(pruned).predict(X),
                storage_bytes(pruned, "csr")),
        "csr_inference": (to_inference(pruned), "auto", {}, to_inference(pruned).predict(X),
                          to_inference(pruned).nbytes),
        "nm": (net, "nm", {}, chain(NMDense, net, X),
               sum(NMDense(b.dense.W.data, b.dense.b.data).nbytes for b in dense_blocks(net))),
        "int_affine": (net, "int", {"bits": 4, "scheme": "affine"}, numpy_forward(w4, X),
                       storage_bytes(net, "int", bits=4, scheme="affine")),
        "int12_affine_group": (net, "int", g12, numpy_forward(w12, X),
                               storage_bytes(net, "int", **g12)),
        "ptq_int8": (q8, "auto", {}, q8(X).data, storage_bytes(q8, "int")),
        "ptq_weight_only": (qw, "auto", {}, qw(X).data, storage_bytes(qw, "int")),
        "int32_kept_float": (net, "int", {"bits": 32}, numpy_forward(net, X),
                             storage_bytes(net, "int", bits=32)),
        "ptq_int4_group": (q4, "auto", {}, q4(X).data, storage_bytes(q4, "int")),
        "gptq": (gp, "auto", {}, gp(X).data, storage_bytes(gp, "int")),
        "adaround": (ar, "auto", {}, ar(X).data, storage_bytes(ar, "int")),
        "integer": (to_inference(q8), "auto", {}, to_inference(q8).predict(X),
                    storage_bytes(net, "integer")),
        "integer_of_qnet": (q8, "integer", {}, to_inference(q8).predict(X),
                            storage_bytes(net, "integer")),
        "lsq": (lsq[()], "auto", {}, lsq[()](X).data, int_bytes),
        "lsq+": (lsq[(("weights", "lsq+"),)], "auto", {}, lsq[(("weights", "lsq+"),)](X).data,
                 int_bytes + 4 * 34),                             # + one offset per output
        "lsq_pact": (lsq[(("acts", "pact"),)], "auto", {}, lsq[(("acts", "pact"),)](X).data,
                     int_bytes),
        "lsq_ternary": (lsq[(("weights", "ternary"),)], "auto", {},
                        lsq[(("weights", "ternary"),)](X).data,
                        storage_bytes(net, "int", bits=2, granularity="tensor")),
        "codebook": (shared, "auto", {}, shared(X).data, storage_bytes(shared, "codebook")),
        "huffman": (shared, "huffman", {}, shared(X).data, sum(
            encode(m.index, m.codebook.data, m.b.data).nbytes for m in shared.layers
            if hasattr(m, "codebook"))),
        "ternary": (net, "ternary", {}, chain(TernaryDense, net, X),
                    sum(math.ceil(format_bytes(s, "ternary")) for s in shapes(net))),
        "lowrank": (low, "auto", {}, numpy_forward(low, X), storage_bytes(low)),
    }
    for fmt in ("fp8_e4m3", "fp8_e5m2", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2",
                "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4", "nf4"):
        out[fmt] = formats_case(fmt)
    return out


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_pack_matches_source_bytes_and_round_trips(name, tmp_path):
    obj, fmt, options, Y_ref, nbytes = CASES[name]
    model = pack(obj, fmt, **options)
    Y = model.predict(X)
    assert Y.dtype == np.float32 and Y.shape == (len(X), 10)
    np.testing.assert_allclose(Y, Y_ref, rtol=1e-5, atol=1e-5)
    assert np.array_equal(Y.argmax(1), np.asarray(Y_ref).argmax(1))
    assert model.nbytes == nbytes, (model.nbytes, nbytes)
    path = tmp_path / f"{name}.mcz"
    header = save(model, path)
    assert os.path.getsize(path) == model.nbytes + header and header < 600
    again = load(path)
    assert np.array_equal(again.predict(X), Y)                  # bit for bit
    assert again.nbytes == model.nbytes and again.nonzeros == model.nonzeros
    assert [r.kind for r in again.records()] == [r.kind for r in model.records()]
    assert again.describe() == model.describe()
    save(again, tmp_path / "again.mcz")                         # the same bytes, re-saved
    assert (tmp_path / "again.mcz").read_bytes() == path.read_bytes()


def test_the_kinds_are_what_the_schema_says():
    kinds = {name: {r.kind for r in pack(o, f, **opt).records()}
             for name, (o, f, opt, _, _) in CASES.items()}
    assert kinds["csr"] == {"csr"} and kinds["integer"] == {"integer"}
    assert kinds["ptq_int8"] == kinds["lsq"] == {"int"} and kinds["codebook"] == {"codebook"}
    assert kinds["huffman"] == {"huffman"} and kinds["lowrank"] == {"dense"}
    assert all(kinds[f] == {f} for f in ("nm", "ternary", "fp8_e4m3", "mxfp4", "nf4"))


def test_ensemble_and_cascade(tmp_path):
    small, large = MLP([20, 6, 10], seed=3), masked(2)
    P_s, P_l = (F.softmax(numpy_forward(n, X).astype(np.float64)).data for n in (small, large))
    ens = pack(Ensemble([small, large], weights=[0.25, 0.75]))
    np.testing.assert_allclose(ens.predict(X), 0.25 * P_s + 0.75 * P_l, rtol=1e-5, atol=1e-6)
    tau = float(np.median(P_s.max(1)))                          # about half deferred
    cas = pack(Cascade(small, large, tau), "int", bits=8)
    deferred = P_s.max(1) < tau
    assert 0 < deferred.sum() < len(X)
    Y = cas.predict(X)
    assert ens.nbytes == storage_bytes(small) + storage_bytes(large, "csr")
    assert cas.nbytes == storage_bytes(small, "int", bits=8) + storage_bytes(large, "int",
                                                                             bits=8)
    P_small = F.softmax(pack(small, "int", bits=8).predict(X).astype(np.float64)).data
    assert np.array_equal(Y.argmax(1)[~deferred], P_small.argmax(1)[~deferred])
    large_int8 = pack(large, "int", bits=8).predict(X)
    assert np.array_equal(Y.argmax(1)[deferred], large_int8.argmax(1)[deferred])
    nested = pack(Ensemble([Cascade(small, large, tau), small]))
    for model in (ens, cas, nested):
        header = save(model, tmp_path / "m.mcz")
        again = load(tmp_path / "m.mcz")
        assert os.path.getsize(tmp_path / "m.mcz") == model.nbytes + header
        assert np.array_equal(again.predict(X), model.predict(X))
        assert again.structure == model.structure
        save(again, tmp_path / "again.mcz")
        assert (tmp_path / "again.mcz").read_bytes() == (tmp_path / "m.mcz").read_bytes()


def test_record_by_hand_and_describe():
    # y = relu(x W^T + b) with W = [[1, 0], [0, -1]], b = [0, 1]: x = [2, 3] -> [2, 0]
    W = np.array([[1.0, 0.0], [0.0, -1.0]], np.float32)
    rec = Record("dense", {"W": W, "b": np.array([0.0, 1.0], np.float32)},
                 {"out": 2, "in": 2}, relu=True)
    model = CompressedModel([rec])
    assert model.predict([[2.0, 3.0]]).tolist() == [[2.0, 0.0]]
    assert model.nbytes == 24 and model.nonzeros == 2            # 4 + 2 floats; zeros skipped
    assert model.describe() == [{"layer": "0", "kind": "dense", "shape": (2, 2), "relu": True,
                                 "bytes": 24, "nonzeros": 2}]


@pytest.mark.parametrize("fmt, options", [
    ("int", {"bits": 8}), ("int", {"bits": 4, "scheme": "affine"}),
    ("int", {"bits": 3, "scheme": "affine", "granularity": "group", "group_size": 4}),
    ("codebook", {"bits": 3}), ("huffman", {"bits": 4}), ("ternary", {}), ("fp8_e4m3", {}),
    ("fp8_e5m2", {}), ("mxfp4", {}), ("mxfp6_e2m3", {}), ("mxint8", {}), ("nvfp4", {}),
    ("nf4", {}), ("csr", {}), ("nm", {})])
def test_quantizing_a_pruned_model_keeps_its_zeros(fmt, options):
    net = masked(4, sparsity=0.6)
    before = [(b.dense.W.data.copy(), b.dense.W.mask.copy()) for b in dense_blocks(net)]
    model = pack(net, fmt, **options)
    assert all(np.array_equal(W, b.dense.W.data) and np.array_equal(M, b.dense.W.mask)
               for (W, M), b in zip(before, dense_blocks(net)))          # obj unchanged
    for rec, b in zip(model.records(), dense_blocks(net)):
        W, _ = weights(rec)
        pruned = b.dense.W.mask == 0
        assert (W[pruned] == 0).all()                            # exactly zero, every one
        if fmt in ("csr", "huffman"):                            # and the pattern survives
            assert np.array_equal(W != 0, (b.dense.W.data * b.dense.W.mask) != 0)
        if fmt == "int" and options.get("scheme") == "affine":   # Z an integer: 0 -> 0
            Z = rec.arrays["zero_points"]
            assert Z.dtype.kind == "u" and (Z > 0).any()         # not just a symmetric range


def test_a_pruned_net_without_masks_keeps_its_zeros_in_a_codebook():
    net = masked(5)
    baked = copy.deepcopy(net)
    for b in dense_blocks(baked):                                 # remove(): zeros in W only
        b.dense.W.data *= b.dense.W.mask
        b.dense.W.mask = None
    for rec, b in zip(pack(baked, "codebook", bits=2).records(), dense_blocks(net)):
        assert (weights(rec)[0][b.dense.W.mask == 0] == 0).all()
    assert dense_blocks(baked)[0].dense.W.mask is None           # obj unchanged


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.integers(0, 70), st.integers(0, 2**32 - 1))
def test_packed_codes_round_trip_at_their_width(bits, n, seed):
    codes = np.random.default_rng(seed).integers(0, 2**bits, n)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == math.ceil(n * bits / 8)
    assert np.array_equal(unpack_codes(packed, bits, n), codes)


def test_packed_codes_by_hand():
    # 3-bit codes 5, 1, 7 at bits 0, 3, 6: 5 + (1 << 3) + (7 << 6) = 461 = 205 + 1 * 256
    assert pack_codes([5, 1, 7], 3).tolist() == [205, 1]
    assert unpack_codes(np.array([205, 1], np.uint8), 3, 3).tolist() == [5, 1, 7]
