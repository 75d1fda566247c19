"""Masks hold through fine-tuning; procedures and the schedule."""
import numpy as np
import pytest

from minicomp import MLP, fit, optim
from minicomp.data import make_blobs
from minicomp.prune import (
    FineTune,
    cubic_sparsity,
    gradual,
    iterative,
    lottery_ticket,
    one_shot,
    pick_sparsities,
    prune,
    sensitivity_scan,
)
from minicomp.prune.mask import sparsity


def _data():
    X, y = make_blobs(n_samples=64, num_classes=3, num_features=6, seed=0)
    return X.astype(np.float32), y


OPTIMIZERS = {
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd_momentum_nesterov_wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                    weight_decay=0.01),
    "adam": lambda p: optim.Adam(p, lr=0.01),
    "adam_l2": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.01),
    "adamw": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1, decoupled=True),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_pruned_weights_stay_exactly_zero_for_100_steps(name):
    X, y = _data()
    net = MLP([6, 8, 3], seed=0)
    prune(net, "magnitude", 0.6)
    prune(net, "activation", 2, X)                   # two dead neurons (rows and biases)
    pruned = [(p, p.mask == 0, p.data.copy()) for p in net.parameters() if p.mask is not None]
    opt = OPTIMIZERS[name](net.parameters())
    history = fit(net, X, y, optimizer=opt, epochs=13, batch_size=8, quiet=True)  # 8 x 13
    assert len(history.step_loss) >= 100
    for p, zero, before in pruned:
        assert (p.data[zero] == 0).all()             # exactly, not approximately
        assert not np.allclose(p.data[~zero], before[~zero])   # the rest did train
        for buf in opt.state[p].values():           # momentum / Adam moments masked too
            if isinstance(buf, np.ndarray):
                assert (buf[zero] == 0).all()


def test_cubic_schedule_hand_worked():
    # s_t = 0.8 + (0 - 0.8) (1 - k/4)^3: k=0 -> 0, k=2 -> 0.8 - 0.8/8 = 0.7, k=4 -> 0.8
    assert cubic_sparsity(0, 0.8, n=4, dt=5) == 0.0
    assert cubic_sparsity(10, 0.8, n=4, dt=5) == pytest.approx(0.7)
    assert cubic_sparsity(11, 0.8, n=4, dt=5) == pytest.approx(0.7)   # held between steps
    assert cubic_sparsity(20, 0.8, n=4, dt=5) == pytest.approx(0.8)
    assert cubic_sparsity(500, 0.8, n=4, dt=5) == pytest.approx(0.8)
    assert cubic_sparsity(3, 0.8, s_i=0.1, t0=5) == 0.1
    values = [cubic_sparsity(t, 0.9, n=10, dt=3) for t in range(40)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="s_f=1.0"):
        cubic_sparsity(0, 1.0)
    with pytest.raises(ValueError, match="dt=0"):
        cubic_sparsity(0, 0.5, dt=0)


def test_gradual_reaches_the_final_sparsity():
    X, y = _data()
    net = MLP([6, 16, 3], seed=0)
    gradual(net, X, y, 0.75, fine_tune=FineTune(epochs=6, batch_size=8), n=5)
    assert sparsity(net) == pytest.approx(0.75, abs=1 / 48)
    assert (net[0].W.mask == 0).sum() == 72          # 0.75 * 96 exactly, per layer


def test_one_shot_and_iterative():
    X, y = _data()
    ft = FineTune(epochs=3, batch_size=16)
    net = one_shot(MLP([6, 16, 3], seed=0), X, y, "magnitude", 0.5, fine_tune=ft)
    assert (net[0].W.data == 0).sum() == 48
    net = iterative(MLP([6, 16, 3], seed=0), X, y, "taylor", (0.3, 0.6), fine_tune=ft)
    assert (net[2].W.data == 0).sum() == round(0.6 * 48)
    with pytest.raises(ValueError, match="non-decreasing"):
        iterative(net, X, y, sparsities=(0.6, 0.3), fine_tune=ft)


def test_sensitivity_scan_restores_the_net_and_picks():
    X, y = _data()
    net = MLP([6, 16, 3], seed=0)
    FineTune(epochs=5, batch_size=16)(net, X, y)
    state = net.state_dict()
    scan = sensitivity_scan(net, X, y, sparsities=(0.5, 0.9))
    assert sorted(scan) == [0, 1] and all(len(v) == 2 for v in scan.values())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    assert all(p.mask is None for p in net.parameters())
    assert pick_sparsities({0: [0.9, 0.5]}, [0.5, 0.9], 0.9, 0.01) == [0.5]


def test_lottery_ticket_rewinds_survivors_to_their_initial_values():
    X, y = _data()
    net = MLP([6, 16, 3], seed=0)
    W0 = net[0].W.data.copy()
    seen = []

    class Recorder(FineTune):
        def __call__(self, net, X, y, callbacks=()):
            seen.append(net[0].W.data.copy())
            return super().__call__(net, X, y, callbacks)

    lottery_ticket(net, X, y, Recorder(epochs=2, batch_size=16), 0.5, rounds=2)
    assert sparsity(net) == pytest.approx(0.75, abs=0.02)
    start = seen[-1]                                 # weights at the start of the last run
    alive = net[0].W.mask == 1
    np.testing.assert_array_equal(start[alive], W0[alive])      # rewound
    assert (start[~alive] == 0).all()
