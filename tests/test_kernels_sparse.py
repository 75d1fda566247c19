"""The Numba sparse kernels against the naive reference (minicomp.kernels.reference)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicomp.kernels import dispatch as D
from minicomp.kernels import reference as R
from minicomp.kernels import reference_sparse as RS
from minicomp.kernels import sparse as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def dispatch_cache(tmp_path, monkeypatch):
    """Decisions go to a temporary cache file; none is forced unless a test says so."""
    monkeypatch.setenv("MINICOMP_DISPATCH_CACHE", str(tmp_path / "dispatch.json"))
    monkeypatch.delenv("MINICOMP_KERNEL", raising=False)
    D.clear()
    yield
    D.clear()


def random_weights(rng, out_features, in_features, sparsity, empty_rows=0):
    W = rng.standard_normal((out_features, in_features)).astype(np.float32)   # (out, in)
    W[rng.random(W.shape) < sparsity] = 0
    W[rng.permutation(out_features)[:empty_rows]] = 0                          # empty rows
    return W


def assert_same_csr(A, B):
    assert A.shape == B.shape
    for name in ("data", "indices", "indptr"):
        a, b = getattr(A, name), getattr(B, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_hand_worked_csr_and_product():
    # W = [[0, 2, 0], [0, 0, 0], [1, 0, 3]]: row 1 is empty.
    # data = [2, 1, 3], indices = [1, 0, 2], indptr = [0, 1, 1, 3]
    # x = [1, 10, 100]: y = [2*10, 0, 1*1 + 3*100] + bias [1, 2, 3] = [21, 2, 304]
    W = np.array([[0, 2, 0], [0, 0, 0], [1, 0, 3]], np.float32)
    A = S.to_csr(W)
    assert A.data.tolist() == [2, 1, 3] and A.indices.tolist() == [1, 0, 2]
    assert A.indptr.tolist() == [0, 1, 1, 3] and A.indptr.dtype == np.uint8
    Y = S.sparse_linear(np.array([[1, 10, 100]], np.float32), A, bias=[1, 2, 3])
    np.testing.assert_array_equal(Y, [[21, 2, 304]])


@settings(max_examples=40, deadline=None)
@given(out_features=st.integers(1, 40), in_features=st.integers(1, 300),
       sparsity=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
       batch=st.sampled_from([1, 2, 3, 4, 7, 33, 130]),
       dtype=st.sampled_from([np.float32, np.float64]),
       use_mask=st.booleans(), seed=st.integers(0, 2**16))
def test_matches_reference(out_features, in_features, sparsity, batch, dtype, use_mask, seed):
    rng = np.random.default_rng(seed)
    W = random_weights(rng, out_features, in_features, sparsity,
                       empty_rows=int(rng.integers(0, out_features + 1)))
    mask = (rng.random(W.shape) < 0.7).astype(np.int8) if use_mask else None
    A = S.to_csr(W.astype(dtype), mask)
    assert_same_csr(A, R.to_csr(W.astype(dtype), mask))
    X = rng.standard_normal((batch, in_features)).astype(dtype)               # (B, in)
    bias = rng.standard_normal(out_features)
    Y = S.sparse_linear(X, A, bias)
    assert Y.dtype == np.float32 and Y.shape == (batch, out_features)
    np.testing.assert_allclose(Y, R.sparse_linear(X, A, bias), rtol=1e-5, atol=1e-4)


def run_design(name, X, A, threads=2):
    """Run one design directly, as sparse_linear would (row- or feature-major by name)."""
    A = S.kernel_arrays(A)
    X = np.ascontiguousarray(X, dtype=np.float32)
    fm = name.startswith("fm")
    X = np.ascontiguousarray(X.T) if fm else X
    Y = np.full((A.shape[0], X.shape[1]) if fm else (X.shape[0], A.shape[0]), np.nan,
                np.float32)
    args = (X, A.data, A.indices, A.indptr, Y) + S.design_args(name, threads, A.shape[1])
    S.KERNELS[name](*args)
    return Y.T if fm else Y


@settings(max_examples=25, deadline=None)
@given(out_features=st.integers(1, 40), in_features=st.integers(1, 300),
       sparsity=st.sampled_from([0.0, 0.5, 0.9, 1.0]), batch=st.sampled_from([1, 2, 5, 17, 40]),
       threads=st.sampled_from([1, 2, 3, 64]), seed=st.integers(0, 2**16))
def test_every_design_matches_the_twin(out_features, in_features, sparsity, batch, threads,
                                       seed):
    # threads > outputs or > batch: empty chunks must write nothing and crash nothing
    rng = np.random.default_rng(seed)
    W = random_weights(rng, out_features, in_features, sparsity,
                       empty_rows=int(rng.integers(0, out_features + 1)))
    A = S.to_csr(W)
    X = rng.standard_normal((batch, in_features)).astype(np.float32)
    expected = R.sparse_linear(X, A)
    for name in S.KERNELS:
        np.testing.assert_allclose(run_design(name, X, A, threads), expected, rtol=1e-5,
                                   atol=1e-4, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(out_features=st.integers(1, 40), in_features=st.integers(1, 200),
       batch=st.sampled_from([1, 5, 17, 40]), threads=st.sampled_from([1, 2, 3]),
       cols=st.sampled_from([0, 1, 3, 16, 64]), seed=st.integers(0, 2**16))
def test_split_batch_column_blocks_match_the_twin(out_features, in_features, batch, threads,
                                                  cols, seed):
    # batch_cols() gives blocks only for wide layers; here any block size, uneven ones too
    rng = np.random.default_rng(seed)
    A = S.kernel_arrays(S.to_csr(random_weights(rng, out_features, in_features, 0.7)))
    X = rng.standard_normal((batch, in_features)).astype(np.float32)
    Y = np.full((batch, out_features), np.nan, np.float32)
    S.KERNELS["axpy_split_batch"](X, A.data, A.indices, A.indptr, Y, threads, cols)
    np.testing.assert_allclose(Y, R.sparse_linear(X, A), rtol=1e-5, atol=1e-4)


def test_batch_cols_fits_half_of_l2():
    for n_in in (1, 64, 784, 4096, 65_536):
        cols = S.batch_cols(n_in, l2=2 << 20)
        assert cols % 16 == 0 and cols >= 16
        assert cols == 16 or n_in * cols * 4 <= 1 << 20 < n_in * (cols + 16) * 4
    assert S.batch_cols(4096) >= 16                            # this machine's L2 (or 1 MiB)


@settings(max_examples=25, deadline=None)
@given(out_features=st.integers(1, 30), in_features=st.integers(1, 100),
       sparsity=st.sampled_from([0.0, 0.7, 1.0]), batch=st.sampled_from([0, 1, 2, 9, 40]),
       seed=st.integers(0, 2**16))
def test_feature_major_matches_its_twin(out_features, in_features, sparsity, batch, seed):
    rng = np.random.default_rng(seed)
    A = S.to_csr(random_weights(rng, out_features, in_features, sparsity))
    XT = rng.standard_normal((in_features, batch))                 # (in, B), float64: cast
    bias = rng.standard_normal(out_features)
    YT = S.sparse_linear_fm(XT, A, bias)
    assert YT.dtype == np.float32 and YT.shape == (out_features, batch)
    np.testing.assert_allclose(YT, RS.sparse_linear_fm(XT, A, bias), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(YT.T, R.sparse_linear(XT.T, A, bias), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", [1, 3, 5, 200])
def test_every_candidate_through_sparse_linear(batch, monkeypatch):
    # each candidate forced by MINICOMP_KERNEL gives the dense product; so does the winner
    rng = np.random.default_rng(1)
    W = random_weights(rng, 300, 784, 0.8, empty_rows=5)
    A = S.to_csr(W)
    X = rng.standard_normal((batch, 784)).astype(np.float32)
    names = S.candidates(batch, A.nnz)                             # this machine's threads
    assert names[0] == S.choose_kernel(batch, A.nnz)
    for name in names:
        monkeypatch.setenv("MINICOMP_KERNEL", f"sparse:{name}")
        np.testing.assert_allclose(S.sparse_linear(X, A), X @ W.T, rtol=1e-4, atol=1e-4)
    monkeypatch.delenv("MINICOMP_KERNEL")
    np.testing.assert_allclose(S.sparse_linear(X, A), X @ W.T, rtol=1e-4, atol=1e-4)
    decision = [d for d in D.explain() if d["source"] != "forced"][-1]
    assert decision["family"] == "sparse" and decision["winner"] in names


def test_forcing_a_design_that_is_not_a_candidate_raises(monkeypatch):
    A = S.to_csr(np.eye(3))
    monkeypatch.setenv("MINICOMP_KERNEL", "sparse:axpy_serial")   # batch 1: row-dot only
    with pytest.raises(ValueError, match=r"'axpy_serial'.*available: rowdot_serial"):
        S.sparse_linear(np.ones((1, 3)), A)
    monkeypatch.setenv("MINICOMP_KERNEL", "sparse:vnni")
    with pytest.raises(ValueError, match="vnni"):
        S.sparse_linear(np.ones((8, 3)), A)


def test_candidates():
    # serial first (a parallel design must win by a margin); AXPY first from batch 4
    assert S.candidates(1, 10, threads=1) == ["rowdot_serial", "rowdot_vec_serial"]
    assert S.candidates(2, 10, threads=1) == ["rowdot_serial", "rowdot_vec_serial",
                                              "axpy_serial"]
    assert S.candidates(8, 10, threads=2) == ["axpy_serial", "rowdot_serial",
                                              "axpy_split_batch", "axpy_split_out",
                                              "rowdot_parallel"]
    assert S.candidates(64, 10**6, threads=2) == ["axpy_serial", "axpy_split_batch",
                                                  "axpy_split_out"]
    assert S.candidates(8, threads=2, layout="feature") == ["fm_serial", "fm_parallel"]
    assert S.choose_kernel(1, 10**6, threads=2) == "rowdot_serial"


@pytest.mark.parametrize("in_features, index_dtype", [(256, np.uint8), (257, np.uint16),
                                                      (70_000, np.uint32)])
def test_wide_inputs_use_wider_unsigned_indices(in_features, index_dtype):
    # a few nonzeros only, the last column included: cheap even for 70,000 inputs
    W = np.zeros((3, in_features), np.float32)
    W[0, in_features - 1], W[2, [0, in_features // 2]] = 2.0, [1.0, -1.0]
    A = S.to_csr(W)
    assert A.indices.dtype == index_dtype and A.indptr.dtype == np.uint8
    X = np.arange(2 * in_features, dtype=np.float32).reshape(2, in_features) / in_features
    for batch in (1, 2):                                   # both designs
        np.testing.assert_allclose(S.sparse_linear(X[:batch], A), R.sparse_linear(X[:batch], A))
    X4 = np.repeat(X, 2, axis=0)                           # batch 4: the AXPY design
    np.testing.assert_allclose(S.sparse_linear(X4, A), X4 @ W.T, rtol=1e-6)


def test_all_zero_matrix_gives_the_bias():
    A = S.to_csr(np.zeros((5, 7)))
    assert A.nnz == 0 and A.indptr.tolist() == [0] * 6
    Y = S.sparse_linear(np.ones((3, 7)), A, bias=np.arange(5))
    np.testing.assert_array_equal(Y, np.tile(np.arange(5, dtype=np.float32), (3, 1)))


def test_non_contiguous_input_and_empty_batch():
    rng = np.random.default_rng(2)
    W = random_weights(rng, 20, 50, 0.7)
    A = S.to_csr(W)
    X = rng.standard_normal((100, 8)).astype(np.float32).T        # (8, 100): column-major
    X = X[:, ::2]                                                  # (8, 50): strided
    assert not X.flags.c_contiguous
    np.testing.assert_allclose(S.sparse_linear(X, A), X @ W.T, rtol=1e-5, atol=1e-5)
    assert S.sparse_linear(np.zeros((0, 50), np.float32), A).shape == (0, 20)


def test_bad_inputs_raise_clear_errors():
    A = S.to_csr(np.eye(3))
    with pytest.raises(ValueError, match="X has 4 features"):
        S.sparse_linear(np.ones((2, 4), np.float32), A)
    with pytest.raises(TypeError, match="float array"):
        S.sparse_linear(np.ones((2, 3), np.int64), A)
    with pytest.raises(ValueError, match="2-D"):
        S.sparse_linear(np.ones(3, np.float32), A)
    with pytest.raises(ValueError, match="bias must have shape"):
        S.sparse_linear(np.ones((2, 3), np.float32), A, bias=np.ones(4))
    with pytest.raises(TypeError, match="csr.data must be float32"):
        S.sparse_linear(np.ones((1, 3)), A._replace(data=A.data.astype(np.float64)))
    with pytest.raises(TypeError, match="unsigned"):
        S.sparse_linear(np.ones((1, 3)), A._replace(indices=A.indices.astype(np.int64)))
    with pytest.raises(ValueError, match="column 5"):
        S.sparse_linear(np.ones((1, 3)), A._replace(indices=np.array([0, 5, 2], np.uint8)))
    with pytest.raises(TypeError, match="CSR"):
        S.sparse_linear(np.ones((1, 3)), np.eye(3))
    with pytest.raises(ValueError, match="mask must have"):
        S.to_csr(np.eye(3), mask=np.ones((3, 2)))
    with pytest.raises(TypeError, match="real numeric"):
        S.to_csr(np.eye(3, dtype=complex))


def test_import_compiles_nothing():
    code = ("import minicomp.kernels.sparse as S, minicomp.deploy\n"
            "print(sum(len(f.signatures) for f in S.KERNELS.values()))\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("batch, design", [(b, d) for b in (1, 4) for d in S.candidates(b, 5)]
                         + [(b, d) for b in (2, 4) for d in S.candidates(b, 5, layout="feature")])
def test_nan_and_inf_propagate_like_numpy(batch, design, monkeypatch):
    monkeypatch.setenv("MINICOMP_KERNEL", f"sparse:{design},sparse_fm:{design}")
    if design.startswith("fm"):                           # the same numbers, transposed
        def linear(X, A):
            return S.sparse_linear_fm(X.T, A).T
    else:
        linear = S.sparse_linear
    # column 0 feeds outputs 0 and 2 only: NaN reaches exactly those
    W = np.array([[1, 0, 2], [0, 3, 0], [4, 0, 0]], np.float32)
    X = np.ones((batch, 3), np.float32)
    X[:, 0] = np.nan
    Y = linear(X, S.to_csr(W))
    np.testing.assert_array_equal(np.isnan(Y), np.tile([True, False, True], (batch, 1)))
    X[:, 0] = np.inf                                    # inf * 1 + 2 = inf
    np.testing.assert_array_equal(linear(X, S.to_csr(W))[:, 0], np.inf)


@pytest.mark.parametrize("layout", ["row", "feature"])
def test_sparse_kernel_object_equals_the_twin_and_remembers_per_batch(layout):
    # the layer's hot path: decided once per batch size, then called directly
    rng = np.random.default_rng(7)
    W = random_weights(rng, 60, 90, 0.9, empty_rows=3)
    A = S.to_csr(W)
    kernel = S.SparseKernel(A, layout)
    for batch in (1, 3, 1, 40, 3):
        X = rng.standard_normal((batch, 90)).astype(np.float32)
        Y = kernel(X if layout == "row" else X.T)                  # (B, out) or (out, B)
        Y = Y if layout == "row" else Y.T
        np.testing.assert_allclose(Y, R.sparse_linear(X, A), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(Y, S.sparse_linear(X, A), rtol=1e-5, atol=1e-5)
    assert sorted(kernel._plans) == [1, 3, 40]
    family = "sparse" if layout == "row" else "sparse_fm"
    assert len([d for d in D.explain() if d["family"] == family]) == 3   # one per bucket
    X64 = rng.standard_normal((2, 90)).astype(np.float64)          # cast, like sparse_linear
    np.testing.assert_allclose(S.SparseKernel(A)(X64), X64 @ W.T, rtol=1e-4, atol=1e-4)
    assert S.SparseKernel(S.to_csr(np.zeros((4, 5))))(np.ones((2, 5))).tolist() == [[0.0] * 4] * 2


def test_sparse_kernel_honours_a_late_force_and_a_ban(monkeypatch):
    rng = np.random.default_rng(8)
    W = random_weights(rng, 30, 40, 0.5)
    kernel = S.SparseKernel(S.to_csr(W))
    X = rng.standard_normal((1, 40)).astype(np.float32)
    kernel(X)
    monkeypatch.setenv("MINICOMP_KERNEL", "sparse:axpy_serial")   # not a batch-1 design
    with pytest.raises(ValueError, match="'axpy_serial'.*available: rowdot_serial"):
        kernel(X)
    monkeypatch.setenv("MINICOMP_KERNEL", "sparse:rowdot_serial")
    np.testing.assert_allclose(kernel(X), X @ W.T, rtol=1e-5, atol=1e-5)
    monkeypatch.delenv("MINICOMP_KERNEL")
    kernel(X)
    key = kernel._plans[1][5]                                      # (design, ..., key, ...)
    D._watch[("sparse", key)] = [0.0, 0, D.WATCH_S]   # runner-up "takes 0 s"; WATCH_S seen
    name = D.remembered("sparse", key)
    other = S.SparseKernel(S.to_csr(W))                            # a second layer, same key
    other(X)
    for k in (kernel, other):                                      # watched, as parallel ones
        k._plans[1] = k._plans[1][:6] + (name,) + k._plans[1][7:]
    for _ in range(D.WATCH):
        kernel(X)
    assert kernel._plans == {} and D.explain()[-1]["source"] == "stalled"
    other(X)                                                       # learns of the ban
    assert other._plans == {}
    np.testing.assert_allclose(kernel(X), X @ W.T, rtol=1e-5, atol=1e-5)   # decided again


def test_sparse_kernel_bad_input():
    kernel = S.SparseKernel(S.to_csr(np.eye(3)))
    with pytest.raises(ValueError, match="X has 4 features"):
        kernel(np.ones((1, 4), np.float32))
    with pytest.raises(TypeError, match="float array"):
        kernel(np.ones((1, 3), np.int64))
    with pytest.raises(ValueError, match="layout"):
        S.SparseKernel(S.to_csr(np.eye(3)), "column")
    with pytest.raises(TypeError, match="csr must be a CSR"):
        S.SparseKernel(np.eye(3))
