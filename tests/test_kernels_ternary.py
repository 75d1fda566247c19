"""The ternary add/subtract kernel against its naive twin and an integer matmul (exact)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.formats.ternary import TernaryDense, ternary_weights
from minicomp.kernels import reference_formats as R
from minicomp.kernels import ternary as K


def test_hand_worked_lookup():
    # T = [1, 0, -1, 1, 0, 0, 0, -1]: plus = bits 0, 3 = 9; minus = bits 2, 7 = 132
    # x = [5, 7, 2, 1, 0, 0, 0, 3]: 5 + 1 - 2 - 3 = 1
    A = K.pack_ternary([[1, 0, -1, 1, 0, 0, 0, -1]])
    assert A.plus[0, 0] == 9 and A.minus[0, 0] == 132 and A.nbytes == 16   # one 64-bit word
    x = np.array([[5, 7, 2, 1, 0, 0, 0, 3]], np.int8)
    assert K.ternary_linear(x, A).tolist() == [[1]]


@settings(max_examples=60, deadline=None)
@given(out=st.integers(1, 30), width=st.integers(1, 200), batch=st.sampled_from([1, 2, 7]),
       zeros=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 2**16),
       extreme=st.booleans())
def test_matches_the_naive_twin_exactly(out, width, batch, zeros, seed, extreme):
    rng = np.random.default_rng(seed)
    T = rng.choice([-1, 1], (out, width)) * (rng.random((out, width)) >= zeros)
    A, B = K.pack_ternary(T), R.pack_ternary(T)
    np.testing.assert_array_equal(A.plus, B.plus)
    np.testing.assert_array_equal(A.minus, B.minus)
    np.testing.assert_array_equal(A.toarray(), T)
    X = (np.full((batch, width), -128) if extreme else
         rng.integers(-128, 128, (batch, width))).astype(np.int8)
    a = K.ternary_linear(X, A)
    assert a.dtype == np.int32
    np.testing.assert_array_equal(a, R.ternary_linear(X, A))
    np.testing.assert_array_equal(a, X.astype(np.int64) @ T.T)


def test_parallel_path_and_the_layer():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((200, 512)).astype(np.float32)
    X = rng.standard_normal((9, 512)).astype(np.float32)
    layer = TernaryDense(W, np.ones(200), relu=True)
    T = layer.A.toarray()
    x_q = rng.integers(-128, 128, (9, 512)).astype(np.int8)
    np.testing.assert_array_equal(K.ternary_linear(x_q, layer.A), x_q.astype(np.int64) @ T.T)
    Y = layer(X)
    ref = np.maximum(X @ ternary_weights(W).T + 1, 0)
    assert np.abs(Y - ref).max() < 0.05 * np.abs(ref).max()        # int8 activations
    assert layer.nbytes == 200 * 512 // 4 + 4 + 800


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="expected only -1, 0 and \\+1"):
        K.pack_ternary([[2, 0, 0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="2-D"):
        K.pack_ternary([1, 0, 0])
    A = K.pack_ternary(np.ones((2, 8), int))
    with pytest.raises(TypeError, match="int8"):
        K.ternary_linear(np.ones((1, 8), np.float32), A)
    with pytest.raises(ValueError, match="features"):
        K.ternary_linear(np.ones((1, 16), np.int8), A)
    with pytest.raises(ValueError, match="A.plus"):
        K.ternary_linear(np.ones((1, 8), np.int8), A._replace(plus=A.plus[:, :1]))
    with pytest.raises(TypeError, match="TernaryMatrix"):
        K.ternary_linear(np.ones((1, 8), np.int8), np.ones((2, 8)))


def test_the_layer_checks_its_bias_and_input_itself():
    W = np.ones((3, 8))
    with pytest.raises(ValueError, match=r"TernaryDense: b has shape \(2,\); expected \(3,\)"):
        TernaryDense(W, np.ones(2))                                    # no silent broadcast
    with pytest.raises(ValueError, match=r"TernaryDense: b has shape \(1,\)"):
        TernaryDense(W, [1.0])
    with pytest.raises(ValueError, match="TernaryDense: x has 7 features"):
        TernaryDense(W)(np.ones((1, 7)))
    with pytest.raises(ValueError, match="TernaryDense: b holds 1e\\+300, beyond float32"):
        TernaryDense(W, np.full(3, 1e300))
