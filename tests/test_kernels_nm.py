"""The N:M kernel against its naive twin (minicomp.kernels.reference_formats), bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.kernels import nm as K
from minicomp.kernels import reference_formats as R


def nm_weights(rng, out, groups, n, m, empty=0.0):
    """A random matrix with exactly n (fewer where ``empty``) nonzeros per m inputs."""
    W = rng.standard_normal((out, groups * m)).astype(np.float32)
    G = W.reshape(out, groups, m)
    keep = np.argsort(rng.random(G.shape), axis=2)[:, :, :n]
    mask = np.zeros(G.shape, bool)
    np.put_along_axis(mask, keep, True, axis=2)
    mask &= rng.random(G.shape) >= empty
    return (G * mask).reshape(out, -1)


def test_hand_worked_two_four():
    # row [0, 2, 0, 3 | 1, 0, 0, 0]: values 2, 3 at positions 1, 3; 1 and a padded 0 at 0, 1
    # x = [1, 10, 100, 1000, 5, 0, 0, 0]: y = 2*10 + 3*1000 + 1*5 = 3025 (+ bias 1)
    W = np.array([[0, 2, 0, 3, 1, 0, 0, 0]], np.float32)
    A = K.to_nm(W, 2, 4)
    x = np.array([[1, 10, 100, 1000, 5, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(K.nm_linear(x, A, [1.0]), [[3026]])


PATHS = ["scalar"] + (["avx512"] if K.cpu_avx512() else [])


@settings(max_examples=60, deadline=None)
@given(nm=st.sampled_from([(2, 4), (2, 4), (1, 4), (3, 4), (4, 8), (2, 8), (1, 2), (5, 16)]),
       out=st.integers(1, 20), groups=st.sampled_from([1, 3, 8, 16, 24]),
       batch=st.sampled_from([1, 2, 5]), empty=st.sampled_from([0.0, 0.3]),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]))
def test_matches_the_naive_twin_bit_for_bit(nm, out, groups, batch, empty, seed, dtype):
    n, m = nm
    rng = np.random.default_rng(seed)
    W = nm_weights(rng, out, groups, n, m, empty)
    A, B = K.to_nm(W, n, m), R.to_nm(W, n, m)
    for a, b in zip(A[:2], B[:2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(A.toarray(), W)
    X = rng.standard_normal((batch, W.shape[1])).astype(dtype)
    bias = rng.standard_normal(out)
    Y = K.nm_linear(X, A, bias)                                    # path "auto"
    np.testing.assert_array_equal(Y, R.nm_linear(X, A, bias))
    for path in PATHS if K.choose_path(A) == "avx512" else ():
        np.testing.assert_array_equal(K.nm_linear(X, A, bias, path=path), Y)
    np.testing.assert_allclose(Y, X.astype(np.float32) @ W.T + bias.astype(np.float32),
                               rtol=1e-4, atol=1e-4)


def test_parallel_path_and_nan_propagate():
    rng = np.random.default_rng(0)
    W = nm_weights(rng, 300, 200, 2, 4)                           # 300 x 800, 120k values
    A = K.to_nm(W, 2, 4)
    X = rng.standard_normal((3, 800)).astype(np.float32)
    X[1, :] = np.nan
    for path in PATHS:
        Y = K.nm_linear(X, A, path=path)
        np.testing.assert_array_equal(Y, R.nm_linear(X, A))
        assert np.isnan(Y[1]).all() and np.isfinite(Y[[0, 2]]).all()


def test_the_inference_layer():
    from minicomp.formats.nm_layer import NMDense
    rng = np.random.default_rng(2)
    W, X = rng.standard_normal((40, 64)), rng.standard_normal((5, 64)).astype(np.float32)
    layer = NMDense(W, np.ones(40), relu=True)
    dense = layer.A.toarray()
    assert ((dense.reshape(-1, 4) != 0).sum(axis=1) == 2).all()
    np.testing.assert_allclose(layer(X), np.maximum(X @ dense.T + 1, 0), rtol=1e-5, atol=1e-5)
    assert layer.nbytes == 40 * 32 * 4 + 40 * 32 // 4 + 160


def test_bad_input_is_named():
    W = nm_weights(np.random.default_rng(0), 2, 2, 2, 4)
    A = K.to_nm(W, 2, 4)
    with pytest.raises(ValueError, match="n=5, m=4"):
        K.to_nm(W, 5, 4)
    with pytest.raises(ValueError, match="m dividing the width"):
        K.to_nm(W, 2, 3)
    with pytest.raises(ValueError, match="features"):
        K.nm_linear(np.ones((1, 4), np.float32), A)
    with pytest.raises(TypeError, match="floats"):
        K.nm_linear(np.ones((1, 8), np.int32), A)
    with pytest.raises(TypeError, match="NMMatrix"):
        K.nm_linear(np.ones((1, 8), np.float32), W)
    with pytest.raises(ValueError, match="path='avx512' needs 2:4"):
        K.nm_linear(np.ones((1, 8), np.float32), A, path="avx512")     # in = 8 < 32
    with pytest.raises(ValueError, match="path='gpu'"):
        K.nm_linear(np.ones((1, 8), np.float32), A, path="gpu")
    with pytest.raises(ValueError, match="A.values"):
        K.nm_linear(np.ones((1, 8), np.float32), A._replace(values=A.values[:, :2]))


def test_bias_shape_is_checked_when_built_and_errors_name_nm_linear():
    from minicomp.formats.nm_layer import NMDense
    with pytest.raises(ValueError, match=r"NMDense: b has shape \(3,\); expected \(2,\)"):
        NMDense(np.ones((2, 8)), np.ones(3))                           # at construction
    A = K.to_nm(nm_weights(np.random.default_rng(0), 2, 2, 2, 4), 2, 4)
    with pytest.raises(ValueError, match=r"nm_linear: bias has shape \(3,\); expected \(2,\)"):
        K.nm_linear(np.ones((1, 8), np.float32), A, np.ones(3))
    with pytest.raises(ValueError, match="^nm_linear: A.values"):
        K.nm_linear(np.ones((1, 8), np.float32), A._replace(values=A.values[:, :2]))
    with pytest.raises(TypeError, match="^nm_linear: A is a"):
        K.nm_linear(np.ones((1, 8), np.float32), np.ones((2, 8)))
    with pytest.raises(ValueError, match="NMDense: W holds 1e\\+300, beyond float32's range"):
        NMDense(np.full((2, 8), 1e300))
