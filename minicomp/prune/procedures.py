r"""Pruning procedures: one-shot, iterative, gradual, sensitivity scan, lottery ticket.

- **One-shot** (:func:`one_shot`): prune to the target once, then
  fine-tune with the mask in place.
- **Iterative** (:func:`iterative`, Han et al. 2015): prune a little,
  fine-tune, prune more, ... Han et al. report that iterating reaches
  higher sparsity than one shot at the same accuracy.
- **Gradual** (:func:`gradual`, Zhu & Gupta 2017): prune *during*
  training, every :math:`\Delta t` steps, to the cubic schedule
  :func:`~minicomp.prune.schedule.cubic_sparsity`.
- **Sensitivity scan** (:func:`sensitivity_scan`, Han et al. 2015 Fig. 6;
  Distiller): prune one layer at a time to several sparsities, measure the
  accuracy, and pick per layer the largest sparsity whose drop is within a
  budget (:func:`pick_sparsities`).
- **Lottery ticket** (:func:`lottery_ticket`, Frankle & Carbin 2019): train,
  prune p % by magnitude, *rewind* the surviving weights to their initial
  values, retrain; repeat. The survivors of the rewound sparse net train to
  the dense net's accuracy.

Fine-tuning always goes through :func:`minicomp.fit`; masks live on the
parameters, so the optimizer keeps pruned weights at exactly zero.

References
----------
Han, S. et al. (2015). Learning both Weights and Connections for Efficient
Neural Networks. NeurIPS. arXiv:1506.02626.
Zhu, M., Gupta, S. (2017). To prune, or not to prune. arXiv:1710.01878.
Frankle, J., Carbin, M. (2019). The Lottery Ticket Hypothesis. ICLR.
arXiv:1803.03635.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .. import validate
from ..blocks import dense_blocks, net_inputs
from ..optim import SGD, CosineLR
from ..train import evaluate, fit
from .mask import default_min_keep, num_to_prune
from .registry import check_call, lookup, prune
from .schedule import cubic_sparsity


def _data(net, X, y, where, names=("X", "y")):
    """Training data checked against ``net``: finite (N, in) inputs, one label per row."""
    X = net_inputs(net, X, names[0], where)
    classes = dense_blocks(net)[-1].dense.out_features
    return X, validate.labels(y, names[1], n=len(X), num_classes=classes, where=where)


def _trainer(fine_tune, where, name="fine_tune"):
    fine_tune = FineTune() if fine_tune is None else fine_tune
    if not callable(fine_tune):
        raise TypeError(f"{where}: {name} is a {type(fine_tune).__name__}; expected a FineTune "
                        "(or a callable fine_tune(net, X, y))")
    return fine_tune


def _sparsities(sparsities, where) -> list:
    if isinstance(sparsities, (str, bytes)) or not hasattr(sparsities, "__len__") \
            or not len(sparsities):
        raise ValueError(f"{where}: sparsities={sparsities!r}; expected a non-empty sequence "
                         "of amounts (floats in [0, 1] or counts)")
    for k, s in enumerate(sparsities):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Real, np.number)):
            raise TypeError(f"{where}: sparsities[{k}]={s!r} ({type(s).__name__}); expected "
                            "a float in [0, 1] or an int count")
        if not (math.isfinite(s) and 0 <= s and (isinstance(s, numbers.Integral) or s <= 1)):
            raise ValueError(f"{where}: sparsities[{k}]={s!r}; expected a float in [0, 1] or "
                             "a non-negative int count")
    return list(sparsities)


@dataclass
class FineTune:
    """How to (re)train a pruned net: SGD with momentum and a cosine schedule."""

    epochs: int = 10                 # passes over the training data
    lr: float = 0.02                 # initial learning rate of the cosine schedule
    momentum: float = 0.9            # heavy-ball momentum (masked by the optimizer)
    weight_decay: float = 0.0        # L2 penalty (cannot revive pruned weights)
    batch_size: int = 32             # minibatch size
    seed: int = 0                    # shuffling seed
    augment: object = None           # augment(X_b, rng) for every batch (None: the data as is)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            validate.integer(getattr(self, name), name, low=1, where="FineTune")
        validate.number(self.lr, "lr", low=0, low_open=True, where="FineTune")
        validate.number(self.momentum, "momentum", low=0, high=1, high_open=True,
                        where="FineTune")
        validate.number(self.weight_decay, "weight_decay", low=0, where="FineTune")
        validate.rng(self.seed, "seed", where="FineTune")

    def __call__(self, net, X, y, callbacks=()):
        """Train ``net`` in place on ``(X, y)``; returns the :class:`~minicomp.train.History`."""
        opt = SGD(net.parameters(), lr=self.lr, momentum=self.momentum,
                  weight_decay=self.weight_decay)
        return fit(net, X, y, optimizer=opt, epochs=self.epochs, batch_size=self.batch_size,
                   seed=self.seed, scheduler=CosineLR(opt, T=self.epochs),
                   callbacks=callbacks, quiet=True, augment=self.augment)


def one_shot(net, X, y, criterion: str = "magnitude", amount=0.9, fine_tune=None, **kwargs):
    """Prune ``net`` once to ``amount`` by ``criterion``, then fine-tune it.

    Parameters
    ----------
    net : Sequential (changed in place)
    X, y : ndarray
        Training data (calibration data of the criterion, and fine-tuning).
    criterion, amount, **kwargs
        As in :func:`minicomp.prune.prune` (``scope``, ``layers``, ``seed``).
    fine_tune : FineTune or None
        None: no fine-tuning.

    Returns
    -------
    net
    """
    X, y = _data(net, X, y, "one_shot")
    fine_tune = fine_tune if fine_tune is None else _trainer(fine_tune, "one_shot")
    prune(net, criterion, amount, X, y, **kwargs)
    if fine_tune is not None:
        fine_tune(net, X, y)
    return net


def iterative(net, X, y, criterion: str = "magnitude", sparsities=(0.5, 0.75, 0.9),
              fine_tune=None, **kwargs):
    """Han et al.'s loop: for each sparsity in turn, prune to it and fine-tune.

    Returns
    -------
    net
    """
    X, y = _data(net, X, y, "iterative")
    fine_tune = _trainer(fine_tune, "iterative")
    if _sparsities(sparsities, "iterative") != sorted(sparsities):
        raise ValueError(f"iterative: sparsities={sparsities!r}; expected a non-decreasing "
                         "sequence")
    for s in sparsities:
        prune(net, criterion, s, X, y, **kwargs)
        fine_tune(net, X, y)
    return net


def gradual(net, X, y, s_f: float, criterion: str = "magnitude", fine_tune=None,
            n: int = 10, start_epoch: int = 0, end_epoch=None, **kwargs):
    """Prune during training to Zhu & Gupta's cubic schedule, reaching ``s_f``.

    Parameters
    ----------
    s_f : float
        Final sparsity (per layer, or global with ``scope="global"``).
    fine_tune : FineTune
        The training run during which pruning happens.
    n : int
        Number of pruning steps.
    start_epoch, end_epoch : int
        Pruning starts at ``start_epoch`` and reaches ``s_f`` at
        ``end_epoch`` (default: two thirds of the epochs), leaving the rest
        of the run to recover.

    Returns
    -------
    net
    """
    where = "gradual"
    X, y = _data(net, X, y, where)
    fine_tune = FineTune() if fine_tune is None else fine_tune
    if not isinstance(fine_tune, FineTune):
        raise TypeError(f"{where}: fine_tune is a {type(fine_tune).__name__}; expected a "
                        "FineTune (its epochs and batch size set the schedule)")
    s_f = validate.number(s_f, "s_f", low=0, high=1, high_open=True, where=where)
    n = validate.integer(n, "n", low=1, where=where)
    steps_per_epoch = -(-len(X) // fine_tune.batch_size)
    end_epoch = end_epoch if end_epoch is not None else max(1, 2 * fine_tune.epochs // 3)
    start_epoch = validate.integer(start_epoch, "start_epoch", low=0, where=where)
    end_epoch = validate.integer(end_epoch, "end_epoch", low=1, where=where)
    if not 0 <= start_epoch < end_epoch <= fine_tune.epochs:
        raise ValueError(f"{where}: start_epoch={start_epoch}, end_epoch={end_epoch}; expected "
                         f"0 <= start < end <= epochs={fine_tune.epochs}")
    entry = lookup(criterion, where)                     # name and options: before training
    check_call(entry, net, X, y, kwargs.get("seed", 0), {k: v for k, v in kwargs.items() if k
                not in ("scope", "layers", "seed", "min_keep")}, where)
    t0 = start_epoch * steps_per_epoch
    dt = max(1, (end_epoch - start_epoch) * steps_per_epoch // n)
    done = {"s": None}

    def prune_step(step):
        t = step.global_step + 1
        if t < t0 or (t - t0) % dt:
            return
        s = cubic_sparsity(t, s_f, 0.0, t0, n, dt)
        if s > 0 and s != done["s"]:
            prune(net, criterion, s, X, y, **kwargs)
            done["s"] = s

    fine_tune(net, X, y, callbacks=[prune_step])
    return net


def sensitivity_scan(net, X_val, y_val, sparsities=(0.5, 0.7, 0.8, 0.9, 0.95),
                     criterion: str = "magnitude", X=None, y=None, seed=0) -> dict:
    """Accuracy on ``(X_val, y_val)`` with one Dense layer at a time pruned.

    Returns
    -------
    dict
        ``{layer_index: [accuracy at each sparsity]}``; ``net`` is restored
        (also when a pruning step raises).
    """
    where = "sensitivity_scan"
    X_val, y_val = _data(net, X_val, y_val, where, ("X_val", "y_val"))
    if X is None or y is not None:                            # the criterion's data
        X, y = _data(net, X_val if X is None else X, y_val if y is None else y, where)
    else:
        X = net_inputs(net, X, "X", where)                     # y: only Taylor needs it
    sparsities = _sparsities(sparsities, where)
    state, params = net.state_dict(), net.parameters()
    masks = [p.mask for p in params]
    scan = {}
    try:
        for i in range(len(dense_blocks(net))):
            scan[i] = []
            for s in sparsities:
                prune(net, criterion, s, X, y, layers=[i], seed=seed)
                scan[i].append(evaluate(net, X_val, y_val)["accuracy"])
                for p, mask in zip(params, masks):       # masks first: loading applies them
                    p.mask = mask
                net.load_state_dict(state)
    finally:
        for p, mask in zip(params, masks):
            p.mask = mask
        net.load_state_dict(state)
    return scan


def pick_sparsities(scan: dict, sparsities, baseline: float, max_drop: float = 0.01) -> list:
    """Per layer, the largest scanned sparsity whose accuracy drop is at most ``max_drop``.

    Examples
    --------
    >>> pick_sparsities({0: [0.98, 0.97, 0.90], 1: [0.95, 0.9, 0.8]}, [0.5, 0.8, 0.9], 0.98)
    [0.8, 0.0]
    """
    where = "pick_sparsities"
    if not isinstance(scan, dict) or not scan:
        raise TypeError(f"{where}: scan is a {type(scan).__name__}; expected the non-empty dict "
                        "of sensitivity_scan")
    sparsities = _sparsities(sparsities, where)
    baseline = validate.number(baseline, "baseline", low=0, high=1, where=where)
    max_drop = validate.number(max_drop, "max_drop", low=0, where=where)
    for i, accs in scan.items():
        if not hasattr(accs, "__len__") or len(accs) != len(sparsities):
            raise ValueError(f"{where}: scan[{i!r}]={accs!r}; expected one accuracy per "
                             f"sparsity ({len(sparsities)})")
    picked = []
    for i in sorted(scan):
        ok = [s for s, acc in zip(sparsities, scan[i]) if baseline - acc <= max_drop + 1e-12]
        picked.append(max(ok) if ok else 0.0)
    return picked


def lottery_ticket(net, X, y, train=None, amount_per_round: float = 0.5, rounds: int = 3):
    """Iterative magnitude pruning with rewinding to the initial weights.

    Each round trains ``net``, prunes ``amount_per_round`` of the remaining
    weights of every layer by magnitude (Frankle & Carbin prune layer by
    layer), and resets the surviving weights to their values before the
    first round. After ``rounds`` rounds the sparsity is
    ``1 - (1 - amount_per_round) ** rounds``, and the ticket is trained
    once more.

    Parameters
    ----------
    net : Sequential, untrained (its current weights are the rewind point)
    train : FineTune
        The training recipe of every round.

    Returns
    -------
    net
        The trained winning ticket (masks in place).
    """
    where = "lottery_ticket"
    X, y = _data(net, X, y, where)
    train = _trainer(train, where, "train")
    amount_per_round = validate.number(amount_per_round, "amount_per_round", low=0, high=1,
                                       low_open=True, high_open=True, where=where)
    rounds = validate.integer(rounds, "rounds", low=1, where=where)
    final = 1.0 - (1.0 - amount_per_round) ** rounds      # refuse before training, not in round r
    for k, b in enumerate(dense_blocks(net)):
        n = b.dense.W.size
        if num_to_prune(final, n) > n - default_min_keep(n):
            raise ValueError(f"{where}: rounds={rounds} with amount_per_round={amount_per_round!r}"
                             f" reach sparsity {final:.4g}, removing {num_to_prune(final, n)} of "
                             f"layer {k}'s {n} weights; expected at most {n - default_min_keep(n)}"
                             f" (each layer keeps min_keep={default_min_keep(n)}): fewer rounds")
    theta0 = net.state_dict()
    for r in range(1, rounds + 1):
        train(net, X, y)
        prune(net, "magnitude", 1.0 - (1.0 - amount_per_round) ** r)
        dense = [b.dense for b in dense_blocks(net)]
        masks = [m.W.mask for m in dense]
        net.load_state_dict(theta0)                      # rewind ...
        for m, mask in zip(dense, masks):
            m.W.data *= np.asarray(mask, dtype=m.W.dtype)  # ... the survivors only
    train(net, X, y)
    return net
