"""The autograd engine: every primitive against finite differences, hand-worked
gradients, accumulation, no_grad/detach, dtypes, errors and a deep graph.

Gradchecks run in float64 (``minicomp.gradcheck``); inputs of ops with a kink
or a pole (relu, clip, max, log, 1/x, fractional powers) are kept away from it.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicomp import Tensor, gradcheck, is_grad_enabled, no_grad


def rand(*shape, seed=0, low=None):
    """Standard-normal float64 array; with ``low``, uniform in [low, low + 2)."""
    rng = np.random.default_rng(seed)
    if low is None:
        return rng.standard_normal(shape)
    return rng.uniform(low, low + 2.0, shape)


def spaced(*shape, seed=0):
    """Distinct values 0.1 apart (no ties, no kink within a finite-difference step)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) - n / 2 + 0.5).reshape(shape) * 0.1


# ---- add / mul / neg / sub / div with broadcasting -------------------------
@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b], ids=["add", "mul"])
@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((), (2, 3)),
])
def test_add_and_mul_gradcheck_with_broadcasting(op, shape_a, shape_b):
    assert gradcheck(op, rand(*shape_a, seed=1), rand(*shape_b, seed=2))


def test_broadcast_gradient_has_the_operand_shape():
    a = Tensor(np.ones((3, 1)), requires_grad=True)
    b = Tensor(np.ones((2, 3, 4)), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1)
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 8.0))   # 2 * 4 copies of each a_i


def test_neg_sub_div_gradcheck():
    a, b = rand(3, 4, seed=1), rand(3, 4, seed=2, low=0.5)
    assert gradcheck(lambda a: -a, a)
    assert gradcheck(lambda a, b: a - b, a, b)
    assert gradcheck(lambda a, b: a / b, a, b)
    assert gradcheck(lambda a, b: a - b, rand(2, 3, seed=3), rand(3, seed=4))
    assert gradcheck(lambda a, b: a / b, rand(2, 3, seed=3), rand(3, seed=4, low=0.5))


@pytest.mark.parametrize("name, fn", [
    ("x + 2", lambda x: x + 2),
    ("2 + x", lambda x: 2 + x),
    ("x - 2", lambda x: x - 2),
    ("2 - x", lambda x: 2 - x),
    ("x * 3", lambda x: x * 3),
    ("3 * x", lambda x: 3 * x),
    ("x / 3", lambda x: x / 3),
    ("1 / x", lambda x: 1 / x),
    ("array - x", lambda x: np.arange(4.0) - x),
    ("array * x", lambda x: np.arange(4.0) * x),
])
def test_scalar_and_array_constants_on_both_sides_gradcheck(name, fn):
    x = rand(3, 4, seed=5, low=0.5)                        # away from 0 for 1 / x
    assert gradcheck(fn, x), name


def test_constant_on_either_side_gives_the_right_value():
    x = Tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose((2 - x).data, [1, 0, -2])
    np.testing.assert_allclose((x / 4).data, [0.25, 0.5, 1])
    np.testing.assert_allclose((1 / x).data, [1, 0.5, 0.25])
    np.testing.assert_allclose((x - 1).data, [0, 1, 3])


# ---- pow -------------------------------------------------------------------
@pytest.mark.parametrize("p", [2, 3, -1, -2, 0.5, -1.5, 2.5])
def test_pow_gradcheck_int_negative_and_fractional_exponents(p):
    assert gradcheck(lambda x: x ** p, rand(3, 4, seed=6, low=0.5))


def test_pow_int_exponent_on_negative_inputs_gradcheck():
    assert gradcheck(lambda x: x ** 3, rand(5, seed=7))


def test_pow_hand_worked():
    # d/dx x^3 = 3 x^2: at [1, -2, 0.5] -> [3, 12, 0.75]
    x = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    (x ** 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 12.0, 0.75])


def test_pow_with_tensor_exponent_is_type_error():
    x = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="exponent"):
        x ** Tensor(2.0)


# ---- matmul and linear -----------------------------------------------------
@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 4), (4, 5)),              # 2-D
    ((2, 3, 4), (2, 4, 5)),        # batched
    ((2, 3, 4), (4, 5)),           # batched @ shared 2-D weight
    ((3, 4), (2, 4, 5)),           # shared 2-D @ batched
    ((2, 1, 3, 4), (5, 4, 2)),     # batch dims broadcast against each other
])
def test_matmul_gradcheck(shape_a, shape_b):
    assert gradcheck(lambda a, b: a @ b, rand(*shape_a, seed=1), rand(*shape_b, seed=2))


def test_matmul_with_constant_array_on_either_side_gradcheck():
    M = rand(4, 5, seed=3)
    assert gradcheck(lambda a: a @ M, rand(3, 4, seed=1))
    assert gradcheck(lambda a: M.T @ a, rand(4, 2, seed=1))          # ndarray @ Tensor


def test_matmul_with_transposed_weight_gradcheck():
    # x @ W.T where W.T is a transpose *view* (Fortran-ordered): the fast path for W's grad
    assert gradcheck(lambda x, W: x @ W.T, rand(3, 4, seed=1), rand(5, 4, seed=2))


def test_matmul_batched_input_with_transposed_weight_gradcheck():
    # (2, 3, 4) @ W.T with W (5, 4): a batch of sequences through a dense layer
    assert gradcheck(lambda x, W: x @ W.T, rand(2, 3, 4, seed=1), rand(5, 4, seed=2))


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError) as err:
        a @ b
    assert "(2, 3)" in str(err.value) and "(4, 5)" in str(err.value)


def test_matmul_of_1d_operand_is_value_error():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        Tensor(np.ones(3)) @ Tensor(np.ones((3, 2)))


def test_linear_gradcheck_with_and_without_bias():
    x, W, b = rand(6, 4, seed=1), rand(3, 4, seed=2), rand(3, seed=3)
    assert gradcheck(lambda x, W, b: x.linear(W, b), x, W, b)
    assert gradcheck(lambda x, W: x.linear(W), x, W)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_composite_values_and_grads(bias):
    rng = np.random.default_rng(8)
    xd, Wd, bd = rng.standard_normal((6, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    G = rng.standard_normal((6, 3))                      # upstream gradient

    def run(fused):
        x, W = Tensor(xd, requires_grad=True), Tensor(Wd, requires_grad=True)
        b = Tensor(bd, requires_grad=True) if bias else None
        if fused:
            y = x.linear(W, b)
        else:
            y = x @ W.T + b if bias else x @ W.T
        y.backward(G)
        return [y.data, x.grad, W.grad] + ([b.grad] if bias else [])

    for fused, composite in zip(run(True), run(False)):
        np.testing.assert_allclose(fused, composite, rtol=1e-12, atol=1e-12)


def test_linear_weight_grad_is_contiguous():
    x = Tensor(rand(6, 4, seed=1), requires_grad=True)
    W = Tensor(rand(3, 4, seed=2), requires_grad=True)
    x.linear(W).sum().backward()
    assert W.grad.flags.c_contiguous and W.grad.shape == (3, 4)


def test_linear_input_mismatch_is_value_error_naming_shapes():
    with pytest.raises(ValueError) as err:
        Tensor(np.ones((2, 5))).linear(Tensor(np.ones((3, 4))))
    assert "(2, 5)" in str(err.value) and "(3, 4)" in str(err.value)


def test_linear_of_3d_input_is_value_error():
    with pytest.raises(ValueError):
        Tensor(np.ones((2, 5, 4))).linear(Tensor(np.ones((3, 4))))


def test_linear_bias_of_wrong_shape_is_value_error():
    # b of shape (1,) would broadcast in the forward pass, but its gradient
    # g.sum(axis=0) has shape (3,): a silently wrong-shaped .grad
    x, W = Tensor(np.ones((2, 4))), Tensor(np.ones((3, 4)))
    b = Tensor(np.zeros(1), requires_grad=True)
    with pytest.raises(ValueError, match="bias"):
        x.linear(W, b)


# ---- elementwise -----------------------------------------------------------
def test_exp_gradcheck():
    assert gradcheck(lambda x: x.exp(), rand(3, 4, seed=1))


def test_log_gradcheck_positive_inputs():
    assert gradcheck(lambda x: x.log(), rand(3, 4, seed=1, low=0.2))


def test_tanh_gradcheck():
    assert gradcheck(lambda x: x.tanh(), rand(3, 4, seed=1))


def test_relu_gradcheck_away_from_kink():
    assert gradcheck(lambda x: x.relu(), spaced(3, 4, seed=1))


def test_relu_hand_worked():
    # relu'(x) = 1 if x > 0 else 0: at [-1, 2, -3, 4] -> [0, 1, 0, 1]
    x = Tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    y = x.relu()
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0, 2, 0, 4])
    np.testing.assert_array_equal(x.grad, [0, 1, 0, 1])


# ---- reductions ------------------------------------------------------------
AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_sum_gradcheck(axis, keepdims):
    assert gradcheck(lambda x: x.sum(axis=axis, keepdims=keepdims), rand(2, 3, 4, seed=1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_mean_gradcheck(axis, keepdims):
    assert gradcheck(lambda x: x.mean(axis=axis, keepdims=keepdims), rand(2, 3, 4, seed=1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_max_gradcheck(axis, keepdims):
    assert gradcheck(lambda x: x.max(axis=axis, keepdims=keepdims), spaced(2, 3, 4, seed=1))


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", AXES)
def test_reduction_shapes_match_numpy(op, axis):
    x = spaced(2, 3, 4, seed=2)
    for keepdims in (False, True):
        out = getattr(Tensor(x), op)(axis=axis, keepdims=keepdims)
        assert out.shape == getattr(x, op)(axis=axis, keepdims=keepdims).shape


def test_mean_hand_worked():
    # mean over axis 1 of a (2, 4) array: each entry gets 1/4
    x = Tensor(np.arange(8.0).reshape(2, 4), requires_grad=True)
    x.mean(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 4), 0.25))


def test_max_ties_share_gradient_equally():
    # row 0: [1, 3, 3] max 3 taken twice -> [0, 1/2, 1/2]
    # row 1: [2, 2, 2] max taken three times -> [1/3, 1/3, 1/3]
    # row 2: [5, 0, 1] unique max -> [1, 0, 0]
    x = Tensor(np.array([[1.0, 3, 3], [2, 2, 2], [5, 0, 1]]), requires_grad=True)
    m = x.max(axis=1)
    np.testing.assert_array_equal(m.data, [3, 2, 5])
    m.sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [1, 0, 0]])


def test_max_over_all_with_ties_shares_gradient():
    # global max 4 appears twice -> each gets 1/2, the rest 0
    x = Tensor(np.array([[4.0, 1.0], [0.0, 4.0]]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0.5, 0], [0, 0.5]])


# ---- shape ops -------------------------------------------------------------
def test_reshape_gradcheck():
    assert gradcheck(lambda x: x.reshape(4, 6), rand(2, 3, 4, seed=1))
    assert gradcheck(lambda x: x.reshape((-1,)), rand(2, 3, 4, seed=1))
    assert gradcheck(lambda x: x.reshape(3, 1, 8), rand(2, 3, 4, seed=1))


def test_transpose_2d_default_gradcheck():
    assert gradcheck(lambda x: x.transpose(), rand(3, 4, seed=1))
    assert gradcheck(lambda x: x.T, rand(3, 4, seed=1))


@pytest.mark.parametrize("axes", [(0, 2, 1), (2, 0, 1), (1, 2, 0)])
def test_transpose_3d_with_axes_gradcheck(axes):
    # (2, 0, 1) and (1, 2, 0) are not their own inverse: the backward must invert them
    assert gradcheck(lambda x: x.transpose(axes), rand(2, 3, 4, seed=1))
    assert gradcheck(lambda x: x.transpose(*axes), rand(2, 3, 4, seed=1))


def test_transpose_with_negative_axes_gradient_has_input_shape():
    # (0, -1, 1) is (0, 2, 1) for a 3-D tensor: the gradient must come back as (2, 3, 4)
    x = Tensor(rand(2, 3, 4, seed=1), requires_grad=True)
    y = x.transpose(0, -1, 1)
    assert y.shape == (2, 4, 3)
    G = rand(2, 4, 3, seed=2)
    y.backward(G)
    assert x.grad.shape == (2, 3, 4)
    np.testing.assert_array_equal(x.grad, G.transpose(0, 2, 1))


# ---- indexing --------------------------------------------------------------
@pytest.mark.parametrize("name, index", [
    ("slice", (slice(1, None), slice(None, None, 2))),
    ("int", 1),
    ("int pair", (1, 2)),
    ("int array with repeats", np.array([0, 2, 0, 0])),
    ("2-D fancy with repeats", (np.array([0, 0, 2]), np.array([1, 1, 3]))),
    ("boolean mask", np.array([True, False, True])),
    ("2-D boolean mask", spaced(3, 4, seed=3) > 0),
    ("ellipsis and None", (Ellipsis, None, 1)),
])
def test_indexing_gradcheck(name, index):
    assert gradcheck(lambda x: x[index], rand(3, 4, seed=1)), name


def test_indexing_with_repeated_indices_accumulates():
    # y = x[[0, 0, 2, 0]]: x_0 is read three times, x_1 never, x_2 once -> grad [3, 0, 1]
    x = Tensor(np.array([10.0, 20.0, 30.0]), requires_grad=True)
    y = x[[0, 0, 2, 0]]
    np.testing.assert_array_equal(y.data, [10, 10, 30, 10])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_indexing_with_a_tensor_is_a_type_error():
    # a Tensor stores floats (a bool mask would become 0/1 *positions*): refuse it
    x = Tensor(np.array([10.0, 20.0, 30.0]), requires_grad=True)
    with pytest.raises(TypeError, match="index with ints, slices or NumPy arrays"):
        x[Tensor([1.0, 0.0, 1.0])]


def test_boolean_mask_gradient_is_the_mask():
    x = Tensor(np.array([1.0, -2.0, 3.0, -4.0]), requires_grad=True)
    x[x.data > 0].sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 0, 1, 0])


# ---- where and clip --------------------------------------------------------
def test_where_gradcheck_with_broadcasting():
    cond = spaced(3, 4, seed=3) > 0                       # (3, 4)
    assert gradcheck(lambda a, b: a.where(cond, b), rand(3, 1, seed=1), rand(4, seed=2))
    assert gradcheck(lambda a, b: a.where(cond, b), rand(3, 4, seed=1), rand(3, 4, seed=2))
    assert gradcheck(lambda a: a.where(cond, 0.0), rand(3, 4, seed=1))


def test_where_hand_worked():
    # cond = [T, F, T]: d/da = [1, 0, 1], d/db = [0, 1, 0]; b (scalar) collects 1
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array(-1.0), requires_grad=True)
    y = a.where([True, False, True], b)
    np.testing.assert_array_equal(y.data, [1, -1, 3])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [1, 0, 1])
    assert b.grad.shape == () and b.grad == 1.0


def test_where_accepts_a_tensor_condition():
    a = Tensor(np.array([1.0, 2.0, 3.0]))
    cond = Tensor(np.array([True, False, True]))
    np.testing.assert_array_equal(a.where(cond, 0.0).data, [1, 0, 3])


@pytest.mark.parametrize("low, high", [(-0.5, None), (None, 0.5), (-0.5, 0.5)])
def test_clip_gradcheck_away_from_bounds(low, high):
    x = spaced(3, 4, seed=1) + 0.03                       # -0.57, ..., -0.07, 0.13, ..., 0.63
    assert gradcheck(lambda x: x.clip(low, high), x)


@pytest.mark.parametrize("low, high, grad", [
    (-1.0, None, [0, 1, 1, 1, 1]),
    (None, 1.0, [1, 1, 1, 1, 0]),
    (-1.0, 1.0, [0, 1, 1, 1, 0]),
])
def test_clip_gradient_one_inside_bounds_included_zero_outside(low, high, grad):
    # x = [-2, -1, 0, 1, 2]; -1 and 1 sit on the bounds and count as inside
    x = Tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    y = x.clip(low, high)
    np.testing.assert_array_equal(y.data, np.clip(x.data, low, high))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, grad)


# ---- hand-worked graphs ----------------------------------------------------
def test_sum_of_squares_gradient_is_2x():
    # d/dx sum(x * x) = 2x: at [1, -2, 3] -> [2, -4, 6]
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])


def test_micrograd_example():
    # e = a*b = -6, d = e + c = 4, L = d*f = -8
    # dL/dd = f = -2, dL/de = -2, dL/da = -2*b = 6, dL/db = -2*a = -4, dL/dc = -2, dL/df = d = 4
    a, b = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True)
    c, f = Tensor(10.0, requires_grad=True), Tensor(-2.0, requires_grad=True)
    e = a * b
    d = e + c
    L = d * f
    L.backward()
    assert L.item() == -8.0
    assert (a.grad, b.grad, c.grad, f.grad) == (6.0, -4.0, -2.0, 4.0)


# ---- accumulation ----------------------------------------------------------
def test_tensor_used_twice_in_one_op_accumulates():
    # x*x: both operands are x -> 2x; x+x -> 2
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, -4.0])
    y = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (y + y).sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])


def test_diamond_graph():
    # x -> a = 2x, b = x^2 -> L = sum(a * b) = sum(2 x^3); dL/dx = 6 x^2 = [6, 24] at [1, 2]
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a, b = x * 2, x ** 2
    (a * b).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 24.0])


def test_diamond_graph_gradcheck():
    def f(x):
        h = x.tanh()
        return (h * h.exp() + h.sum(axis=1, keepdims=True) * x).max(axis=0)
    assert gradcheck(f, rand(3, 4, seed=1))


def test_backward_twice_accumulates_on_a_leaf():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()                                 # new graph, same leaf
    np.testing.assert_array_equal(x.grad, [4.0, -8.0])       # 2 * 2x


def test_backward_twice_through_the_same_graph_doubles_leaf_grad():
    # L = sum(2x): dL/dx = 2; running backward on L twice gives 2 + 2 = 4, as in PyTorch
    # (retain_graph=True). Intermediate nodes must not carry their old grad into the
    # second pass, or x receives 2 + (1 + 2) * 2 = 8.
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    L = (x * 2).sum()
    L.backward()
    L.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


def test_two_losses_sharing_an_intermediate_node():
    # h = 3x is shared; L1 = sum(h), L2 = sum(h * h) -> dL1/dx = 3, dL2/dx = 18x
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 18.0, 3.0 + 36.0])


def test_accumulation_never_modifies_a_shared_grad_array_in_place():
    # t = (a + b) + a. The outer add hands the *same* upstream array G to s = a + b
    # and to a; then s hands it on to a (again) and to b. In-place accumulation
    # (a.grad += ...) would change G, s.grad and b.grad with it.
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    s = a + b
    t = s + a
    G = np.array([1.0, 1.0])
    t.backward(G)
    np.testing.assert_array_equal(G, [1.0, 1.0])
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(s.grad, [1.0, 1.0])


def test_first_grad_array_is_unchanged_by_later_accumulation():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (a + b).sum().backward()
    first_a, first_b = a.grad, b.grad                        # may be one shared array
    (a * 5).sum().backward()
    np.testing.assert_array_equal(first_a, [1.0, 1.0])
    np.testing.assert_array_equal(first_b, [1.0, 1.0])
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_gradient_only_for_tensors_that_require_it():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert c.grad is None


# ---- no_grad, detach, backward errors --------------------------------------
def test_no_grad_records_no_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).exp().sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y._prev == ()
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()
    assert (Tensor(1.0, requires_grad=True) * 2).requires_grad


def test_no_grad_nested_restores_outer_state():
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_detach_shares_data_and_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d._prev == ()
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()                                 # d is a constant here
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])


def test_backward_on_tensor_not_requiring_grad_is_runtime_error():
    with pytest.raises(RuntimeError, match="requires_grad"):
        Tensor(np.array(1.0)).backward()


def test_backward_on_non_scalar_without_grad_names_the_shape():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()


def test_backward_with_wrong_grad_shape_is_value_error():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        y.backward(np.ones((3, 2)))


def test_backward_with_explicit_grad():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x).backward(np.array([1.0, 0.0, -1.0]))             # 2x * g = [2, 0, -6]
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -6.0])


# ---- dtypes ----------------------------------------------------------------
OPS = {
    "add": lambda x, y: x + y,
    "add scalar": lambda x, y: x + 1.5,
    "radd": lambda x, y: 2 + x,
    "sub": lambda x, y: x - y,
    "rsub": lambda x, y: 2.0 - x,
    "mul": lambda x, y: x * y,
    "mul scalar": lambda x, y: x * 0.1,
    "div": lambda x, y: x / y,
    "div scalar": lambda x, y: x / 3,
    "rdiv": lambda x, y: 1 / x,
    "neg": lambda x, y: -x,
    "pow int": lambda x, y: x ** 2,
    "pow float": lambda x, y: x ** 0.5,
    "matmul": lambda x, y: x @ y.T,
    "linear": lambda x, y: x.linear(y, y[:, 0]),
    "exp": lambda x, y: x.exp(),
    "log": lambda x, y: x.log(),
    "tanh": lambda x, y: x.tanh(),
    "relu": lambda x, y: x.relu(),
    "sum": lambda x, y: x.sum(axis=0),
    "mean": lambda x, y: x.mean(axis=1),
    "max": lambda x, y: x.max(axis=0),
    "reshape": lambda x, y: x.reshape(-1),
    "transpose": lambda x, y: x.T,
    "index": lambda x, y: x[[0, 0, 1]],
    "where": lambda x, y: x.where(x.data > 1, 0.5),
    "clip": lambda x, y: x.clip(0.75, 1.5),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPS))
def test_op_keeps_dtype_in_value_and_grad(name, dtype):
    rng = np.random.default_rng(0)
    x = Tensor(rng.uniform(0.5, 2.0, (3, 4)).astype(dtype), requires_grad=True)
    y = Tensor(rng.uniform(0.5, 2.0, (3, 4)).astype(dtype), requires_grad=True)
    out = OPS[name](x, y)
    assert out.dtype == dtype, name
    out.sum().backward()
    assert x.grad.dtype == dtype, name


def test_python_scalar_does_not_upcast_float32():
    x = Tensor(np.ones(3, dtype=np.float32))
    for out in (x * 2.5, 2.5 * x, x + 1e-300, x / 7.0, 3.0 - x, x ** 2.0):
        assert out.dtype == np.float32


def test_pow_accepts_numpy_scalar_exponent_and_keeps_float32():
    # exponents often come out of NumPy (e.g. np.float64(0.5), np.int64(2))
    x = Tensor(np.full(3, 4.0, dtype=np.float32), requires_grad=True)
    for p in (np.int64(2), np.float64(0.5), np.float32(2.0)):
        y = x ** p
        assert y.dtype == np.float32, type(p)


@pytest.mark.parametrize("data", [3, 2.5, [1, 2, 3], [1.0, 2.0], np.arange(4), True])
def test_ints_lists_and_python_numbers_become_float32(data):
    assert Tensor(data).dtype == np.float32


def test_float_arrays_keep_their_dtype():
    assert Tensor(np.ones(2, dtype=np.float64)).dtype == np.float64
    assert Tensor(np.float64(1.0)).dtype == np.float64
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


# ---- deep graphs -----------------------------------------------------------
def test_chain_of_5000_additions_backpropagates_without_recursion_error():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    np.testing.assert_array_equal(y.data, [5001.0, 5002.0])


def test_chain_of_5000_multiplications_accumulates_the_product():
    # y = x * 1.001^5000 -> dy/dx = 1.001^5000
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.001 ** 5000, rtol=1e-9)


# ---- property: add/mul gradients for any broadcast-compatible pair ----------
@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                 max_side=3),
       seed=st.integers(0, 2**16),
       op=st.sampled_from(["add", "mul"]))
def test_property_add_mul_gradients_match_finite_differences(shapes, seed, op):
    shape_a, shape_b = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    fn = (lambda a, b: a + b) if op == "add" else (lambda a, b: a * b)
    assert gradcheck(fn, a, b)


def test_no_grad_is_per_thread():
    """One thread inside no_grad() (e.g. evaluating) must not stop another from training."""
    import threading
    from minicomp.tensor import is_grad_enabled, no_grad
    inside, other = threading.Event(), {}

    def evaluate():
        with no_grad():
            inside.set()
            done.wait(5)

    done = threading.Event()
    t = threading.Thread(target=evaluate)
    t.start()
    inside.wait(5)
    x = Tensor(np.ones(3), requires_grad=True)
    other["enabled"], other["graph"] = is_grad_enabled(), (x * 2).requires_grad
    done.set()
    t.join()
    assert other == {"enabled": True, "graph": True}
    with no_grad():
        assert not is_grad_enabled() and not (x * 2).requires_grad
    assert is_grad_enabled()
