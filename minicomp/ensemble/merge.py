r"""Model merging: several nets folded into one (seed 002, 模型合并).

**Weight averaging / model soups** (Wortsman et al. 2022). Nets fine-tuned
from one common initialization stay in one basin of the loss, so averaging
their *weights* gives one net (the cost of one member) that is often
better than each ingredient:

.. math:: \theta_{\text{soup}} = \sum_m w_m\, \theta_m, \qquad w_m \ge 0,\ \sum_m w_m = 1

- uniform soup: :math:`w_m = 1/M`;
- greedy soup: sort the ingredients by validation accuracy, start from the
  best, and keep each next one only if the soup's validation accuracy does
  not drop (Wortsman et al., Recipe 1).

Averaging *independently initialized* nets this way fails: hidden neurons
can be listed in any order (permutation symmetry), so neuron :math:`i` of
one net need not match neuron :math:`i` of the other. Align them first
(:mod:`minicomp.ensemble.align`).

**Ensemble -> one student**: :func:`distill_ensemble` trains a single
student on the averaged temperature-T probabilities of the members through
:func:`minicomp.distill.distill` (the knowledge-distillation loss lives there).

References
----------
Wortsman, M., et al. (2022). Model soups: averaging weights of multiple
fine-tuned models improves accuracy without increasing inference time. ICML.
Hinton, G., Vinyals, O., Dean, J. (2015). Distilling the Knowledge in a
Neural Network. arXiv:1503.02531.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate as check
from ..distill import DistillConfig, distill
from ..train import evaluate
from .parallel import check_members, check_weights


def _layers(net, path="net") -> list:
    """``(path, type, config)`` of ``net`` and every module inside it, depth first.

    The config leaves out ``seed`` and ``init`` (how the weights were drawn,
    not what the net computes); it keeps widths, bias, activations, Dropout p.
    """
    config = {k: v for k, v in net.config().items()
              if k not in ("seed", "init", "layers")}         # layers: compared one by one
    out = [(path, type(net).__name__, config)]
    for name, child in net.named_children():
        out += _layers(child, f"{path}[{name}]" if name.isdigit() else f"{path}.{name}")
    return out


def check_same_architecture(nets, where=None) -> list:
    """``nets`` (a non-empty list) if all have the architecture of ``nets[0]``.

    Same parameters (names, shapes) and the same layers: types and settings
    (:meth:`~minicomp.nn.Module.config` without seeds: activations, Dropout
    ``p``, ...), so that averaging their weights means something.
    """
    pre = f"{where}: " if where else ""
    nets, _, _ = check_members(nets, where, name="nets", widths=False)
    keys = {k: v.shape for k, v in nets[0].state_dict().items()}
    layers = _layers(nets[0])
    for i, net in enumerate(nets[1:], 1):
        other = {k: v.shape for k, v in net.state_dict().items()}
        if other != keys:
            diff = sorted(set(keys.items()) ^ set(other.items()))[:2]
            raise ValueError(f"{pre}nets[{i}] has other parameters than nets[0] (e.g. {diff}); "
                             "expected the same architecture")
        theirs = _layers(net)
        for a, b in zip(layers + [None] * len(theirs), theirs + [None] * len(layers)):
            if a != b:
                raise ValueError(f"{pre}nets[{i}] differs from nets[0]: {_show(b)} where "
                                 f"nets[0] has {_show(a)}; expected the same layers "
                                 "(types, activations, Dropout p)")
    return nets


def _show(layer) -> str:
    if layer is None:
        return "no layer"
    path, kind, config = layer
    return f"{path} = {kind}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


def average_weights(nets, weights=None):
    """A new net whose every parameter is the (weighted) mean of the nets' parameters.

    Examples
    --------
    >>> from minicomp import MLP
    >>> a, b = MLP([2, 1], seed=0), MLP([2, 1], seed=1)
    >>> soup = average_weights([a, b])
    >>> bool(np.allclose(soup[0].W.data, (a[0].W.data + b[0].W.data) / 2))
    True
    """
    nets = check_same_architecture(nets, "average_weights")
    w = np.full(len(nets), 1 / len(nets)) if weights is None else \
        check_weights(weights, len(nets), "average_weights")
    states = [net.state_dict() for net in nets]
    soup = copy.deepcopy(nets[0])
    soup.load_state_dict({k: sum(w_m * s[k].astype(np.float64) for w_m, s in zip(w, states))
                          for k in states[0]})
    return soup


def uniform_soup(nets):
    """The uniform soup: :func:`average_weights` with equal weights."""
    return average_weights(nets)


def greedy_soup(nets, X_val, y_val) -> tuple:
    """The greedy soup of ``nets`` chosen on a validation split.

    Returns
    -------
    soup : net
    chosen : list of int
        Indices (into ``nets``) of the ingredients kept, best first.
    """
    nets = check_same_architecture(nets, "greedy_soup")
    scores = [evaluate(net, X_val, y_val)["accuracy"] for net in nets]
    order = sorted(range(len(nets)), key=lambda i: -scores[i])
    chosen, best = [order[0]], scores[order[0]]
    for i in order[1:]:
        trial = average_weights([nets[j] for j in chosen + [i]])
        acc = evaluate(trial, X_val, y_val)["accuracy"]
        if acc >= best:                                       # Wortsman et al.: not worse
            chosen, best = chosen + [i], acc
    return average_weights([nets[j] for j in chosen]), chosen


def distill_ensemble(student, members, X, y, T: float = 4.0, alpha: float = 0.9, **fit_kwargs):
    """Train ``student`` on ``members``' averaged temperature-T probabilities (and the labels).

    A thin call of :func:`minicomp.distill.distill` with the list of members
    as teacher (its probabilities, not its logits, are averaged there).
    ``alpha`` weighs the soft term, ``1 - alpha`` the hard labels; other
    keyword arguments (``epochs``, ``optimizer``, ``seed``, ...) go to
    :func:`~minicomp.train.fit`.

    Returns
    -------
    History
    """
    where = "distill_ensemble"
    members, n_in, C = check_members(members, where)
    s_in, s_out = check_members([check.module(student, "student", where=where)], where,
                                name="[student]")[1:]
    if (s_in, s_out) != (n_in, C):
        raise ValueError(f"{where}: student takes {s_in} features and has {s_out} classes but "
                         f"the members take {n_in} and have {C}; expected the same widths")
    T = check.number(T, "T", low=0.0, low_open=True, where="distill_ensemble")
    alpha = check.number(alpha, "alpha", low=0.0, high=1.0, where="distill_ensemble")
    return distill(student, members, X, y, config=DistillConfig(T=T, alpha=alpha), **fit_kwargs)
