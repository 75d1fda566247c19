"""PyTorch as an optional oracle: the same network, losses and optimizer steps
give the same numbers. Skipped when torch is not installed."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
TF = torch.nn.functional

import minicomp.optim as optim                                  # noqa: E402
from minicomp import MLP, Tensor                                # noqa: E402
from minicomp import functional as F                            # noqa: E402
from minicomp.nn import Parameter                               # noqa: E402

TOL32 = dict(rtol=1e-5, atol=1e-5)        # float32 against float32
TOL64 = dict(rtol=1e-6, atol=1e-6)        # float64 against float64 (agree to ~1e-15)


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def pair(x):
    """The same values as a minicomp Tensor and a torch tensor, both requiring grad."""
    return Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)


# ---- a whole MLP -----------------------------------------------------------
@pytest.fixture
def nets():
    torch.manual_seed(0)
    torch_net = torch.nn.Sequential(
        torch.nn.Linear(20, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 5))
    net = MLP([20, 32, 16, 5], seed=1)
    net.load_state_dict(torch_net.state_dict())               # no transposes
    return net, torch_net


def test_mlp_state_dict_keys_match_torch(nets):
    net, torch_net = nets
    assert [k for k, _ in net.named_parameters()] == list(torch_net.state_dict())


def test_mlp_forward_loss_and_gradients_match_torch(nets):
    net, torch_net = nets
    X = rand(16, 20, seed=2)
    y = np.random.default_rng(3).integers(0, 5, 16)

    logits = net(X)
    loss = F.cross_entropy(logits, y)
    loss.backward()

    t_logits = torch_net(torch.from_numpy(X))
    t_loss = TF.cross_entropy(t_logits, torch.from_numpy(y))
    t_loss.backward()

    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), **TOL32)
    np.testing.assert_allclose(loss.item(), t_loss.item(), **TOL32)
    t_params = dict(torch_net.named_parameters())
    for name, p in net.named_parameters():
        assert p.grad.shape == p.shape, name
        np.testing.assert_allclose(p.grad, t_params[name].grad.numpy(), **TOL32, err_msg=name)


# ---- losses ----------------------------------------------------------------
def test_distillation_kl_div_matches_torch():
    T = 4.0
    s0, teacher = rand(8, 5, seed=1) * 3, rand(8, 5, seed=2) * 3
    s, ts = pair(s0)
    loss = F.kl_div(F.log_softmax(s / T), F.softmax(Tensor(teacher) / T), reduction="batchmean")
    t_loss = TF.kl_div(TF.log_softmax(ts / T, dim=1),
                       TF.softmax(torch.from_numpy(teacher) / T, dim=1), reduction="batchmean")
    loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), **TOL32)
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), **TOL32)


@pytest.mark.filterwarnings("ignore:reduction:UserWarning")      # torch on 'mean'
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div_reductions_match_torch_in_float64(reduction):
    z0, p = rand(6, 4, seed=1, dtype=np.float64), rand(6, 4, seed=2, dtype=np.float64)
    p = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    z, tz = pair(z0)
    out = F.kl_div(F.log_softmax(z), p, reduction=reduction)
    t_out = TF.kl_div(TF.log_softmax(tz, dim=1), torch.from_numpy(p), reduction=reduction)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), **TOL64)
    G = rand(*out.shape, seed=3, dtype=np.float64)
    out.backward(G)
    t_out.backward(torch.from_numpy(G))
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), **TOL64)


def _soft_targets():
    t = rand(7, 4, seed=2)
    return np.exp(t) / np.exp(t).sum(axis=1, keepdims=True)     # (7, 4) probabilities


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("make_target", [
    _soft_targets, lambda: np.random.default_rng(2).integers(0, 4, 7)], ids=["soft", "labels"])
def test_cross_entropy_matches_torch(make_target, reduction):
    z0, target = rand(7, 4, seed=1), make_target()
    z, tz = pair(z0)
    out = F.cross_entropy(z, target, reduction=reduction)
    t_out = TF.cross_entropy(tz, torch.from_numpy(target), reduction=reduction)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), **TOL32)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), **TOL32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_torch(reduction):
    a0, b = rand(5, 3, seed=1), rand(5, 3, seed=2)
    a, ta = pair(a0)
    out = F.mse(a, b, reduction=reduction)
    t_out = TF.mse_loss(ta, torch.from_numpy(b), reduction=reduction)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), **TOL32)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), **TOL32)


ACTIVATIONS = [
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("relu", F.relu, torch.relu),
    ("softmax", lambda x: F.softmax(x, axis=1), lambda x: torch.softmax(x, dim=1)),
    ("softmax axis 0", lambda x: F.softmax(x, axis=0), lambda x: torch.softmax(x, dim=0)),
    ("log_softmax", lambda x: F.log_softmax(x, axis=1), lambda x: TF.log_softmax(x, dim=1)),
    ("logsumexp", lambda x: F.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, dim=1)),
]


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_and_grads_match_torch(name, ours, theirs):
    x0 = rand(6, 5, seed=1) * 3
    x, tx = pair(x0)
    out, t_out = ours(x), theirs(tx)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), **TOL32)
    G = rand(*out.shape, seed=2)                               # upstream gradient
    out.backward(G)
    t_out.backward(torch.from_numpy(G))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL32)


# ---- optimizer steps -------------------------------------------------------
SHAPES = [(3, 4), (4,)]


def run_both(make_ours, make_theirs, steps, dtype=np.float64):
    """Same start, same gradient sequence; return (ours, theirs) final weights."""
    rng = np.random.default_rng(0)
    W0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    ours = [Parameter(w.copy(), dtype=dtype) for w in W0]
    theirs = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in W0]
    opt, t_opt = make_ours(ours), make_theirs(theirs)
    for g_step in grads:
        for p, tp, g in zip(ours, theirs, g_step):
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        t_opt.step()
    return [p.data for p in ours], [tp.detach().numpy() for tp in theirs]


SGD_CONFIGS = {
    "plain": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "weight decay": dict(weight_decay=0.1),
    "momentum + weight decay": dict(momentum=0.8, weight_decay=0.05),
    "nesterov + weight decay": dict(momentum=0.9, nesterov=True, weight_decay=0.05),
}


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("name", list(SGD_CONFIGS))
def test_sgd_matches_torch(name, steps):
    kw = SGD_CONFIGS[name]
    ours, theirs = run_both(lambda ps: optim.SGD(ps, lr=0.1, **kw),
                            lambda ps: torch.optim.SGD(ps, lr=0.1, **kw), steps)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TOL64)


ADAM_CONFIGS = {
    "default": (dict(), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "betas, eps": (dict(betas=(0.8, 0.99), eps=1e-6),
                   lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    "L2 weight decay": (dict(weight_decay=0.1),
                        lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    "AdamW (decoupled)": (dict(weight_decay=0.1, decoupled=True),
                          lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(ADAM_CONFIGS))
def test_adam_steps_match_torch(name):
    kw, make_theirs = ADAM_CONFIGS[name]
    ours, theirs = run_both(lambda ps: optim.Adam(ps, lr=0.01, **kw), make_theirs, steps=5)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TOL64)


def test_adam_float32_steps_match_torch():
    ours, theirs = run_both(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, decoupled=True),
                            lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
                            steps=5, dtype=np.float32)
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, **TOL64)
