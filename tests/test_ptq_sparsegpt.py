"""SparseGPT: exact N:M patterns, exact sparsity, better than magnitude, errors."""
import numpy as np
import pytest

from minicomp import MLP
from minicomp.blocks import dense_blocks
from minicomp.deploy import to_inference
from minicomp.prune import mask_from_scores, nm_mask
from minicomp.prune.nm import is_nm
from minicomp.ptq import sparsegpt_net
from minicomp.ptq.sparsegpt import sparsegpt
from minicomp.quant import quantize_tensor


def _layer(seed=0, out=6, n_in=16, n=200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) @ rng.normal(size=(n_in, n_in))
    return rng.normal(size=(out, n_in)), X


def _err(W, W_hat, X):
    return float(((X @ (W_hat - W).T) ** 2).sum())


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4), (1, 2)])
def test_nm_masks_meet_the_pattern_exactly(n, m):
    W, X = _layer()
    W_new, mask = sparsegpt(W, X.T @ X, nm=(n, m), block_size=6)
    assert (mask.reshape(W.shape[0], -1, m).sum(axis=2) == n).all()   # exactly n of each m
    assert is_nm(W_new, n, m)
    assert (W_new[mask == 0] == 0).all()


def test_unstructured_sparsity_is_exact_and_better_than_magnitude():
    W, X = _layer(1)
    W_new, mask = sparsegpt(W, X.T @ X, 0.5)
    assert mask.sum() == W.size // 2 and (W_new[mask == 0] == 0).all()
    magnitude = W * mask_from_scores(np.abs(W), 0.5)
    assert _err(W, W_new, X) < 0.8 * _err(W, magnitude, X)
    W24, _ = sparsegpt(W, X.T @ X, nm=(2, 4))
    assert _err(W, W24, X) < 0.8 * _err(W, W * nm_mask(np.abs(W), 2, 4), X)


def test_identity_hessian_is_magnitude_pruning():
    W, _ = _layer(2)                         # no correlation: nothing to compensate
    W_new, mask = sparsegpt(W, np.eye(16), 0.5)
    np.testing.assert_array_equal(mask, mask_from_scores(W ** 2, 0.5))
    np.testing.assert_allclose(W_new, W * mask, rtol=1e-6)
    _, mask = sparsegpt(W, np.eye(16), nm=(2, 4))
    np.testing.assert_array_equal(mask, nm_mask(np.abs(W), 2, 4))


def test_joint_sparse_and_quantized_weights_lie_on_the_grid():
    W, X = _layer(3)
    W_new, mask = sparsegpt(W, X.T @ X, nm=(2, 4), bits=4)
    S = quantize_tensor(W, 4).S                                        # (out, 1)
    codes = W_new / S
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-4)
    assert np.abs(np.rint(codes)).max() <= 7 and (W_new[mask == 0] == 0).all()


def test_sparsegpt_net_attaches_masks_and_deploys():
    rng = np.random.default_rng(0)
    net = MLP([12, 24, 16, 4], seed=0)
    X = rng.standard_normal((128, 12)).astype(np.float32)
    pruned = sparsegpt_net(net, X, nm=(2, 4))
    for b in dense_blocks(pruned):
        assert is_nm(b.dense.W.mask, 2, 4) and (b.dense.W.data[b.dense.W.mask == 0] == 0).all()
    assert net[0].W.mask is None                                       # the float net untouched
    model = to_inference(pruned)
    np.testing.assert_allclose(model(X), pruned(X).data, rtol=1e-4, atol=1e-4)


def test_asymmetric_sparsegpt_net_aims_at_the_float_outputs():
    # the first layer sees the float inputs (the same either way); a later layer's W* repairs
    # the earlier layers' error, so the pruned net's logits are closer to the float net's
    rng = np.random.default_rng(1)
    net = MLP([16, 32, 32, 4], seed=1)
    X = rng.standard_normal((256, 16)).astype(np.float32)
    asym, sym = sparsegpt_net(net, X, 0.6), sparsegpt_net(net, X, 0.6, asymmetric=False)
    np.testing.assert_array_equal(asym[0].W.data, sym[0].W.data)
    assert not np.array_equal(asym[2].W.data, sym[2].W.data)
    for pruned in (asym, sym):
        assert all((b.dense.W.data[b.dense.W.mask == 0] == 0).all() for b in dense_blocks(pruned))
    error = {k: np.linalg.norm(m(X).data - net(X).data) for k, m in (("a", asym), ("s", sym))}
    assert error["a"] < error["s"]
    with pytest.raises(TypeError, match="asymmetric"):
        sparsegpt_net(net, X, 0.5, asymmetric="yes")


def test_bad_inputs_are_named():
    W, X = _layer(4)
    H = X.T @ X
    with pytest.raises(ValueError, match="n=5 > m=4"):
        sparsegpt(W, H, nm=(5, 4))
    with pytest.raises(ValueError, match="not a multiple of m=3"):
        sparsegpt(W, H, nm=(2, 3))
    with pytest.raises(ValueError, match="nm="):
        sparsegpt(W, H, nm=2)
    with pytest.raises(ValueError, match="amount=1.5"):
        sparsegpt(W, H, 1.5)
    with pytest.raises(ValueError, match="bits=20"):
        sparsegpt(W, H, 0.5, bits=20)
    X_low = np.hstack([X[:, :8], X[:, :8]])
    with pytest.raises(ValueError, match="singular"):
        sparsegpt(W, X_low.T @ X_low, 0.5, damp=0)
    with pytest.raises(ValueError, match="X_calib"):
        sparsegpt_net(MLP([12, 8, 4]), X[:, :12].T, 0.5)              # (16, 200): wrong width


def test_amount_with_nm_is_refused():
    W, H = np.ones((2, 8)), np.eye(8)
    with pytest.raises(ValueError, match="sparsegpt: amount='lots' and nm=\\(2, 4\\); expected "
                                         "one of them"):
        sparsegpt(W, H, amount="lots", nm=(2, 4))
    with pytest.raises(ValueError, match="amount=0.5 and nm"):
        sparsegpt(W, H, 0.5, nm=(2, 4))
    assert sparsegpt(W, H)[1].mean() == 0.5                   # default amount 0.5
