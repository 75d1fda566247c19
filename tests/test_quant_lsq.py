"""LSQ / LSQ+ / PACT: gradients against finite differences of the STE surrogate, training."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from minicomp import MLP, Tensor, evaluate
from minicomp.quant import lsq_finetune, qat_finetune
from minicomp.quant.lsq import LearnedQuantMLP, int_range, lsq_quantize, pact_quantize


def surrogate(v, s, s0, beta, beta0, G, bits, signed, g):
    """Σ G · v̂ with the rounding residual frozen at (s0, beta0) and the gradient scale as
    ``s_eff = g s + (1 - g) s0``: its derivative is LSQ's (the STE loss)."""
    Qn, Qp = int_range(bits, signed)
    u0 = (v - beta0) / s0
    residual = np.rint(np.clip(u0, -Qn, Qp)) - np.clip(u0, -Qn, Qp)     # frozen
    s_eff, b_eff = g * s + (1 - g) * s0, g * beta + (1 - g) * beta0
    u = np.clip((v - b_eff) / s_eff, -Qn, Qp)
    return float((G * ((u + residual) * s_eff + b_eff)).sum())


@pytest.mark.parametrize("bits,signed,offset", [(3, True, False), (2, True, True),
                                                (4, False, False), (3, False, True)])
def test_step_and_offset_gradients_match_finite_differences(bits, signed, offset):
    rng = np.random.default_rng(bits)
    v = rng.standard_normal(200)
    G = rng.standard_normal(200)                                   # upstream gradient
    s0, beta0 = 0.37, (0.11 if offset else 0.0)
    Qp = int_range(bits, signed)[1]
    g = 1 / np.sqrt(v.size * Qp)                                   # the paper's scale
    v_t = Tensor(v, requires_grad=True, dtype=np.float64)
    s_t = Tensor(s0, requires_grad=True, dtype=np.float64)
    b_t = Tensor(beta0, requires_grad=True, dtype=np.float64) if offset else None
    y = lsq_quantize(v_t, s_t, bits, signed, b_t)
    (y * Tensor(G, dtype=np.float64)).sum().backward()
    eps = 1e-6
    fd_s = (surrogate(v, s0 + eps, s0, beta0, beta0, G, bits, signed, g) -
            surrogate(v, s0 - eps, s0, beta0, beta0, G, bits, signed, g)) / (2 * eps)
    assert float(s_t.grad) == pytest.approx(fd_s, rel=1e-5, abs=1e-8)
    if offset:
        fd_b = (surrogate(v, s0, s0, beta0 + eps, beta0, G, bits, signed, g) -
                surrogate(v, s0, s0, beta0 - eps, beta0, G, bits, signed, g)) / (2 * eps)
        assert float(b_t.grad) == pytest.approx(fd_b, rel=1e-5, abs=1e-8)
    Qn, Qp = int_range(bits, signed)
    u = (v - beta0) / s0
    np.testing.assert_array_equal(v_t.grad, G * ((u > -Qn) & (u < Qp)))   # the STE


def test_forward_is_the_uniform_grid():
    v = Tensor(np.linspace(-2, 2, 41))
    y = lsq_quantize(v, Tensor(0.25), 3).data                      # [-4, 3] * 0.25
    assert set(np.round(y / 0.25).astype(int)) <= set(range(-4, 4))
    assert y.min() == -1.0 and y.max() == 0.75


def test_pact_gradient_is_one_above_alpha():
    x = Tensor([-1.0, 0.5, 3.0, 5.0], requires_grad=True)
    a = Tensor(2.0, requires_grad=True)
    y = pact_quantize(x, a, 2)
    np.testing.assert_allclose(y.data, [0, 2 / 3, 2, 2], rtol=1e-6)
    y.sum().backward()
    # 0.5: residual (round(0.75) - 0.75)/3; 3 and 5 are clipped: 1 each
    assert float(a.grad) == pytest.approx(0.25 / 3 + 2, rel=1e-5)
    np.testing.assert_array_equal(x.grad, [0, 1, 0, 0])


def test_lsq_beats_min_max_at_two_bits_and_trains_ternary():
    from minicomp.data import load_digits
    from minicomp.optim import SGD
    from minicomp.train import fit
    d = load_digits()
    net = MLP([64, 32, 10], seed=0)
    fit(net, d.X_train, d.y_train, optimizer=SGD(net.parameters(), 0.05, momentum=0.9),
        epochs=8, quiet=True)
    base = evaluate(net, d.X_test, d.y_test)["accuracy"]
    lsq, _ = lsq_finetune(copy.deepcopy(net), d.X_train, d.y_train, bits=2, bits_a=2,
                          epochs=3)
    minmax, _ = qat_finetune(copy.deepcopy(net), d.X_train, d.y_train, bits=2, bits_a=2,
                             epochs=3)
    acc_lsq = evaluate(lsq, d.X_test, d.y_test)["accuracy"]
    assert acc_lsq > evaluate(minmax, d.X_test, d.y_test)["accuracy"] + 0.1
    assert acc_lsq > base - 0.1
    tern, _ = lsq_finetune(copy.deepcopy(net), d.X_train, d.y_train, bits_a=None,
                           weights="ternary", epochs=3)
    W = tern.quantized_weight(0, tern.net[0].W).data
    assert len(np.unique(W)) <= 3
    assert evaluate(tern, d.X_test, d.y_test)["accuracy"] > 0.8


def test_lsq_plus_and_pact_parameters_are_trained():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 8)).astype(np.float32)
    model = LearnedQuantMLP(MLP([8, 6, 3], seed=0), 3, 3, "lsq+", "pact", X_init=X)
    names = [n for n, _ in model.named_parameters()]
    assert {"s_w.0", "beta_w.1", "s_a.1", "beta_in"} <= set(names)
    model.loss(model(X), rng.integers(0, 3, 64)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_input_is_named():
    v = Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="step sizes > 0"):
        lsq_quantize(v, Tensor(np.nan), 3)
    with pytest.raises(ValueError, match="step sizes > 0"):
        lsq_quantize(v, Tensor(-1.0), 3)
    with pytest.raises(TypeError, match="v is a ndarray"):
        lsq_quantize(np.ones(2), Tensor(1.0), 3)
    with pytest.raises(ValueError, match="alpha"):
        pact_quantize(v, Tensor(0.0), 3)
    with pytest.raises(ValueError, match="weights='int3'"):
        LearnedQuantMLP(MLP([4, 2]), weights="int3", bits_a=None)
    with pytest.raises(ValueError, match="X_init"):
        LearnedQuantMLP(MLP([4, 2]), X_init=np.full((3, 4), np.nan))


def test_arguments_are_checked_at_the_boundary():
    v = Tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"lsq_quantize: s holds -2.0 at \[1, 0\]"):
        lsq_quantize(v, Tensor(np.array([[1.0], [-2.0], [1.0]])), 3)   # the bad one, not s[0]
    with pytest.raises(ValueError, match=r"s has shape \(3, 4, 1\); expected one that "
                                         r"broadcasts to \(3, 4\)"):
        lsq_quantize(v, Tensor(np.ones((3, 4, 1))), 3)
    with pytest.raises(ValueError, match=r"lsq_quantize: v holds inf at \[0\]"):
        lsq_quantize(Tensor([np.inf, 1.0]), Tensor(1.0), 3)
    with pytest.raises(ValueError, match="beta holds nan"):
        lsq_quantize(v, Tensor(1.0), 3, beta=Tensor([np.nan]))
    with pytest.raises(TypeError, match="signed=1"):
        lsq_quantize(v, Tensor(1.0), 3, signed=1)
    with pytest.raises(ValueError, match="grad_scale=-1.0; expected a finite number > 0"):
        lsq_quantize(v, Tensor(1.0), 3, grad_scale=-1.0)
    with pytest.raises(TypeError, match="pact_quantize: x is a ndarray"):
        pact_quantize(np.ones(3), Tensor(1.0), 2)
    with pytest.raises(TypeError, match="pact_quantize: alpha is a float"):
        pact_quantize(v, 2.0, 2)
    with pytest.raises(ValueError, match="pact_quantize: alpha holds nan"):
        pact_quantize(v, Tensor(np.nan), 2)


def test_learned_quant_mlp_refuses_dropout_and_one_bit_activations():
    from minicomp.nn import Dense, Dropout, ReLU, Sequential
    with pytest.raises(ValueError, match="LearnedQuantMLP: bits_a=1; expected an int >= 2"):
        LearnedQuantMLP(MLP([4, 3, 2]), bits_a=1, X_init=np.ones((2, 4)))
    net = Sequential(Dense(4, 3), ReLU(), Dropout(0.5), Dense(3, 2))
    with pytest.raises(TypeError, match="LearnedQuantMLP: net holds Dropout"):
        LearnedQuantMLP(net, bits_a=None)
