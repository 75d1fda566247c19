"""AdaRound: a valid rounding, RTN at the start, gradients by finite differences, errors."""
import numpy as np
import pytest

from minicomp import MLP, gradcheck
from minicomp.deploy import to_inference
from minicomp.ptq import adaround_mlp, as_int8
from minicomp.ptq.adaround import (
    adaround,
    beta_schedule,
    inverse_rectified_sigmoid,
    rectified_sigmoid,
    round_regularizer,
)
from minicomp.quant import quantize_mlp, quantize_tensor
from minicomp.quant.integer import simulate_codes
from minicomp.tensor import Tensor


def _layer(seed=0, out=6, n_in=16, n=200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) @ rng.normal(size=(n_in, n_in))
    return rng.normal(size=(out, n_in)), X


@pytest.mark.parametrize("granularity", ["channel", "tensor"])
@pytest.mark.parametrize("bits", [2, 4])
def test_each_weight_is_floor_or_ceil(bits, granularity):
    W, X = _layer(bits)
    Q = adaround(W, X, bits=bits, granularity=granularity, iters=60, relu=True)
    S = np.asarray(Q.S)
    ok = (Q.q == np.floor(W / S)) | (Q.q == np.ceil(W / S))
    assert ok.all()


def test_zero_iterations_is_round_to_nearest():
    W, X = _layer(1)
    np.testing.assert_array_equal(adaround(W, X, bits=3, iters=0).q, quantize_tensor(W, 3).q)


def test_learned_rounding_reconstructs_better():
    W, X = _layer(2)
    Q = adaround(W, X, bits=3, iters=300)
    err = ((X @ (Q.dequantize() - W).T) ** 2).sum()
    rtn = ((X @ (quantize_tensor(W, 3).dequantize() - W).T) ** 2).sum()
    assert err < 0.9 * rtn


def test_relaxation_and_regulariser_by_finite_differences():
    V = np.array([[-2.0, -0.3, 0.1, 1.5]])                 # inside (0, 1): away from the clip
    assert gradcheck(lambda v: (rectified_sigmoid(v) * np.array([1.0, 2, 3, 4])).sum(), V)
    assert gradcheck(lambda v: round_regularizer(rectified_sigmoid(v), 7.0), V)
    h = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(rectified_sigmoid(Tensor(inverse_rectified_sigmoid(h))).data, h)
    assert round_regularizer(Tensor(np.array([0.0, 1.0])), 2.0).item() == 0.0
    assert beta_schedule(10, 100) is None and beta_schedule(60, 100) == pytest.approx(11.0)


def test_adaround_mlp_deploys_unchanged():
    rng = np.random.default_rng(0)
    net = MLP([12, 16, 4], seed=0)
    X = rng.standard_normal((96, 12)).astype(np.float32)
    q = adaround_mlp(net, X, bits=4, iters=20)
    assert type(q) is type(quantize_mlp(net, X, 4))
    wide = as_int8(q)
    np.testing.assert_array_equal(to_inference(wide).forward_int(X), simulate_codes(wide, X))
    q8 = adaround_mlp(net, X, bits=8, iters=10)
    np.testing.assert_array_equal(to_inference(q8).forward_int(X), simulate_codes(q8, X))


def test_bad_inputs_are_named():
    W, X = _layer(3)
    with pytest.raises(ValueError, match="bits=17"):
        adaround(W, X, bits=17)
    with pytest.raises(ValueError, match="X"):
        adaround(W, X[:, :5])
    with pytest.raises(ValueError, match="X_seen"):
        adaround(W, X, X_seen=X[:10])
    with pytest.raises(ValueError, match="group"):
        adaround(W, X, granularity="group", group_size=4)
    with pytest.raises(ValueError, match="iters=-1"):
        adaround(W, X, iters=-1)
    with pytest.raises(ValueError, match="X_calib"):
        adaround_mlp(MLP([16, 4]), X[:, :15])


def test_wrong_bias_and_group_granularity_are_named():
    W, X = _layer(3)
    with pytest.raises(ValueError, match=rf"adaround: b has shape \(3,\); expected "
                                         rf"\({W.shape[0]},\)"):
        adaround(W, X, b=np.zeros(3))
    with pytest.raises(ValueError, match="adaround: granularity='group' is not supported"):
        adaround(W, X, granularity="group")                 # no group_size: still this message
