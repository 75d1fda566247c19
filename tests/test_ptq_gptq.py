"""GPTQ: H = I is round-to-nearest, one column is OBS's update, the deployment path, errors."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.deploy import to_inference
from minicomp.prune.obs import layer_hessian, obs_compensate
from minicomp.ptq import as_int8, gptq_mlp
from minicomp.ptq.gptq import asymmetric_target, column_loop, gptq, inverse_cholesky
from minicomp.quant import quantize_mlp, quantize_tensor
from minicomp.quant.integer import simulate_codes


def _layer(seed=0, out=6, n_in=16, n=200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) @ rng.normal(size=(n_in, n_in))   # correlated inputs
    return rng.normal(size=(out, n_in)), X


def _err(W, W_hat, X):
    return float(((X @ (W_hat - W).T) ** 2).sum())


@pytest.mark.parametrize("scheme", ["symmetric", "affine"])
@pytest.mark.parametrize("granularity,group_size", [("tensor", None), ("channel", None),
                                                    ("group", 4)])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_identity_hessian_is_round_to_nearest_exactly(scheme, granularity, group_size, bits):
    W, _ = _layer()
    Q = gptq(W, np.eye(W.shape[1]), bits, scheme, granularity, group_size, block_size=5)
    R = quantize_tensor(W, bits, scheme, granularity, group_size)
    assert Q.q.dtype == R.q.dtype
    np.testing.assert_array_equal(Q.q, R.q)
    np.testing.assert_array_equal(Q.dequantize(), R.dequantize())


def test_first_column_is_the_obs_update():
    W, X = _layer(1)
    damp = 0.01
    U = inverse_cholesky(X.T @ X, damp, "test")
    S = quantize_tensor(W, 3).S                                        # (out, 1)

    def fix(j, W, U):
        return (S * np.rint(W[:, j:j + 1] / S))[:, 0]

    W1 = column_loop(W.copy(), U, fix, columns=1)
    w_hat = fix(0, W, U)
    # OBS (prune/obs.py): force weight 0 to w_hat, i.e. remove a weight of value w - w_hat
    residual = W.copy()
    residual[:, 0] = W[:, 0] - w_hat
    mask = np.ones_like(W)
    mask[:, 0] = 0
    expected = obs_compensate(residual, X, mask, damp=damp)            # w_K + H_KK^-1 H_Kq r
    np.testing.assert_allclose(W1[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-5)
    # and the textbook form: dw = -(w_q - w_hat) / [H^-1]_qq  H^-1 e_q
    H_inv = np.linalg.inv(layer_hessian(X, damp))
    dw = -np.outer(W[:, 0] - w_hat, H_inv[:, 0]) / H_inv[0, 0]
    np.testing.assert_allclose(W1[:, 1:], (W + dw)[:, 1:], rtol=1e-8, atol=1e-10)
    assert (W1[:, 0] == w_hat).all()


@pytest.mark.parametrize("kw", [{}, {"act_order": True}, {"granularity": "group",
                                                           "group_size": 4}])
def test_gptq_reconstructs_better_than_round_to_nearest(kw):
    W, X = _layer(2)
    Q = gptq(W, 2 * X.T @ X, 3, **kw)
    R = quantize_tensor(W, 3, "symmetric", kw.get("granularity", "channel"),
                        kw.get("group_size"))
    assert _err(W, Q.dequantize(), X) < 0.8 * _err(W, R.dequantize(), X)


def test_lazy_batches_do_not_change_the_result():
    W, X = _layer(3)
    a = gptq(W, X.T @ X, 4, block_size=1)
    b = gptq(W, X.T @ X, 4, block_size=128)
    np.testing.assert_array_equal(a.q, b.q)


def test_factor_of_hessian_does_not_matter():
    W, X = _layer(4)
    np.testing.assert_array_equal(gptq(W, X.T @ X, 4).q, gptq(W, 2 * X.T @ X, 4).q)


def _net_and_data():
    rng = np.random.default_rng(0)
    net = MLP([12, 24, 16, 5], seed=0)
    return net, rng.standard_normal((128, 12)).astype(np.float32)


def test_gptq_mlp_is_a_quantized_mlp_that_deploys_unchanged():
    net, X = _net_and_data()
    q8 = gptq_mlp(net, X, bits=8)
    model = to_inference(q8)                                   # 8 bits: directly
    np.testing.assert_array_equal(model.forward_int(X), simulate_codes(q8, X))
    q4 = gptq_mlp(net, X, bits=4)
    assert type(q4) is type(quantize_mlp(net, X, 4))
    assert all(np.abs(L.W.q).max() <= 7 for L in q4.qlayers)
    wide = as_int8(q4)                                         # same values, int8 label
    np.testing.assert_array_equal(wide(X).data, q4(X).data)
    np.testing.assert_array_equal(to_inference(wide).forward_int(X), simulate_codes(wide, X))


def test_gptq_mlp_beats_round_to_nearest_on_outputs():
    net, X = _net_and_data()
    Y = net(X).data
    e_g = np.abs(gptq_mlp(net, X, 3, None)(X).data - Y).mean()
    e_r = np.abs(quantize_mlp(net, X, 3, None)(X).data - Y).mean()
    assert e_g < e_r


def test_asymmetric_target_is_the_least_squares_fit_to_the_float_outputs():
    W, X = _layer(3)
    X_seen = X + np.random.default_rng(1).normal(scale=0.3, size=X.shape)   # earlier error
    assert asymmetric_target(W, X, X, 0.01) is W                  # no earlier error: W itself
    W_star = asymmetric_target(W, X, X_seen, 0.0)
    W_ls = np.linalg.lstsq(X_seen, X @ W.T, rcond=None)[0].T       # scipy-free oracle
    np.testing.assert_allclose(W_star, W_ls, rtol=1e-7, atol=1e-9)
    damped = asymmetric_target(W, X, X_seen, 0.01)                 # between W and the fit
    err = lambda V: ((X_seen @ V.T - X @ W.T) ** 2).sum()
    assert err(W_star) <= err(damped) < err(W)


def test_gptq_mlp_asymmetric_repairs_earlier_layers():
    net, X = _net_and_data()
    Y = net(X).data
    errors = {a: np.abs(gptq_mlp(net, X, 3, None, asymmetric=a)(X).data - Y).mean()
              for a in (True, False)}
    assert errors[True] < errors[False]
    one = MLP([12, 5], seed=0)                                     # one layer: no earlier error
    np.testing.assert_array_equal(gptq_mlp(one, X, 3, asymmetric=True).qlayers[0].W.q,
                                  gptq_mlp(one, X, 3, asymmetric=False).qlayers[0].W.q)
    with pytest.raises(TypeError, match="asymmetric"):
        gptq_mlp(net, X, 3, asymmetric="yes")


def test_bad_inputs_are_named():
    W, X = _layer(5)
    X_low = np.hstack([X[:, :8], X[:, :8]])                   # rank 8 of 16: singular
    with pytest.raises(ValueError, match="singular.*damp=0"):
        gptq(W, X_low.T @ X_low, 4, damp=0.0)
    gptq(W, X_low.T @ X_low, 4, damp=0.01)                    # damping makes it work
    with pytest.raises(ValueError, match="bits=17"):
        gptq(W, np.eye(16), 17)
    with pytest.raises(ValueError, match="bits=1"):
        gptq(W, np.eye(16), 1)
    with pytest.raises(ValueError, match=r"H has shape \(15, 15\)"):
        gptq(W, np.eye(15), 4)
    with pytest.raises(ValueError, match="not symmetric"):
        gptq(W, np.triu(np.ones((16, 16))), 4)
    with pytest.raises(ValueError, match="W contains"):
        gptq(np.where(W > 1, np.nan, W), np.eye(16), 4)
    with pytest.raises(ValueError, match="damp=-1"):
        gptq(W, np.eye(16), 4, damp=-1)
    with pytest.raises(ValueError, match="group_size=5"):
        gptq(W, np.eye(16), 4, granularity="group", group_size=5)
    with pytest.raises(ValueError, match="act_order"):
        gptq(W, np.eye(16), 4, granularity="group", group_size=4, act_order=True)
    net, Xc = _net_and_data()
    with pytest.raises(ValueError, match="X_calib"):
        gptq_mlp(net, Xc[:, :11], 4)                          # calibration of the wrong width
    with pytest.raises(ValueError, match="bits=0"):
        gptq_mlp(net, Xc, 0)


def test_ignored_or_impossible_arguments_are_refused():
    W, _ = _layer(5)
    with pytest.raises(ValueError, match="gptq: group_size=-5 with granularity='channel'; "
                                         "expected group_size only with granularity='group'"):
        gptq(W, np.eye(16), granularity="channel", group_size=-5)
    with pytest.raises(ValueError, match="gptq: H is not positive semi-definite"):
        gptq(W, -np.eye(16), 4)
    H = np.eye(16)
    H[0, 0] = -1.0                                            # one negative direction
    with pytest.raises(ValueError, match="smallest eigenvalue is -1"):
        gptq(W, H, 4, damp=0.0)
