"""compact(): smaller dense nets with identical outputs; the size/time report."""
import numpy as np
import pytest

from minicomp import MLP, Dense, Sequential, predict
from minicomp.blocks import numpy_forward
from minicomp.deploy import to_inference
from minicomp.kernels.reference import to_csr
from minicomp.nn import Sigmoid, Tanh
from minicomp.prune import compact, prune, size_report
from minicomp.prune.mask import prune_neurons

X = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)


def test_compact_relu_identical_outputs_and_smaller():
    net = MLP([8, 10, 7, 3], seed=0)
    prune(net, "activation", 0.5, X)                 # 5 of 10 and 4 of 7 (round 3.5 = 4)
    small = compact(net)
    assert [m.W.shape for m in small if isinstance(m, Dense)] == [(5, 8), (3, 5), (3, 3)]
    np.testing.assert_allclose(predict(small, X), predict(net, X), rtol=1e-5, atol=1e-6)
    assert net[0].W.shape == (10, 8)                 # the original is untouched


@pytest.mark.parametrize("act", [Sigmoid, Tanh])
def test_compact_folds_the_constant_output_into_the_next_bias(act):
    # sigmoid(0) = 1/2: a removed neuron still sends W_next[:, i] / 2
    net = Sequential(Dense(8, 6, seed=0), act(), Dense(6, 2, seed=1))
    net[2].b.data[:] = [0.1, -0.2]
    prune_neurons(net[0], [1, 0, 1, 1, 0, 1])
    small = compact(net)
    assert small[0].W.shape == (4, 8) and small[2].W.shape == (2, 4)
    np.testing.assert_allclose(predict(small, X), predict(net, X), rtol=1e-5, atol=1e-6)


def test_compact_removes_unread_neurons_and_keeps_masks():
    net = MLP([8, 6, 3], seed=0)
    net[2].W.data[:, [1, 4]] = 0                     # nobody reads neurons 1 and 4
    prune(net, "magnitude", 0.3, layers=[0])
    small = compact(net)
    assert small[0].W.shape == (4, 8)
    assert small[0].W.mask is not None and small[0].W.mask.shape == (4, 8)
    np.testing.assert_allclose(predict(small, X), predict(net, X), rtol=1e-5, atol=1e-6)


def test_compact_rejects_what_it_cannot_handle():
    with pytest.raises(TypeError, match="expected a Sequential"):
        compact(Dense(3, 2))
    with pytest.raises(TypeError, match="layer 1 is a MLP"):
        compact(Sequential(Dense(3, 2), MLP([2, 2])))


def test_size_report_counts_real_csr_bytes():
    net = MLP([8, 4], seed=0)
    net[0].W.data[:, 4:] = 0                         # 16 of 32 weights left
    r = size_report(net)
    # dense: 32 * 4 + 4 bias * 4 = 144; CSR: 16 * 4 values + 16 * 1 (uint8 col)
    #        + 5 * 1 (uint8 indptr) + 16 bias bytes = 101
    assert (r["nonzero"], r["dense_bytes"], r["csr_bytes"]) == (16, 144, 101)
    assert r["compression"] == 2.0
    assert r["csr_bytes"] == to_csr(net[0].W.data).nbytes + 16


def test_sparse_and_dense_forward_agree():
    from minicomp.bench.inference import inference_time
    net = MLP([8, 10, 3], seed=0)
    prune(net, "magnitude", 0.8)
    expected = predict(net, X)
    np.testing.assert_allclose(numpy_forward(net, X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_inference(net).predict(X), expected,   # the CSR path
                               rtol=1e-5, atol=1e-6)
    t = inference_time(net, X, samples=3)
    assert t["dense_s"] > 0 and (t["sparse_s"] is None or t["sparse_s"] > 0)
