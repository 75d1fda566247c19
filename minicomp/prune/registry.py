r"""The criterion registry, and :func:`prune`: a criterion is looked up by name.

A pruning criterion is one function that scores every Dense layer of a net,

.. math:: \operatorname{scores}(\text{net}, X, y) = [S_1, \dots, S_L],
          \qquad S_l \in \mathbb R^{\text{out}_l \times \text{in}_l}
          \text{ (connections) or } \mathbb R^{\text{out}_l} \text{ (neurons)},

registered once, in its own file, with the level it ranks and the data it
needs (nothing, ``X``, or ``X`` and ``y``)::

    @criterion("magnitude", level="connection")
    def magnitude(net, X=None, y=None):
        return [np.abs(b.dense.W.data) for b in dense_blocks(net)]   # (out, in) each

Adding a criterion is writing that one function: anywhere (a test, a notebook, the example
below), or as a built-in in its own file named on the import line of :mod:`minicomp.prune`
(which lists the built-ins). A name is taken once: another function under it is refused
unless registered with ``replace=True``. :func:`prune` only looks the name up: it checks that
the data the criterion needs was given, ranks already-pruned entries first (score
:math:`-\infty`), checks the scores (real numbers, one array per layer, of its shape), turns
them into masks with the one rule of :mod:`.mask` and applies them. A criterion that also
moves the kept weights (OBS) registers an ``update(net, X, masks, **options)``, called with
the new masks before they are applied.

Examples
--------
A criterion defined on the spot: a connection matters as much as its
input column is large, :math:`s_{ij} = \max_n |x_{nj}|` (ignoring W).

>>> import numpy as np
>>> from minicomp import MLP
>>> from minicomp.blocks import dense_blocks, numpy_forward
>>> @criterion("loud_inputs", level="connection", needs=("X",))
... def loud_inputs(net, X, y=None):
...     _, inputs = numpy_forward(net, X, inputs=True)        # [(N, in_l), ...]
...     return [np.broadcast_to(np.abs(x).max(axis=0), b.dense.W.shape)   # (out, in)
...             for b, x in zip(dense_blocks(net), inputs)]
>>> net = MLP([3, 2], seed=0)
>>> X = np.array([[1., -4., 2.], [0., 1., -3.]])       # max |x_j| = [1, 4, 3]
>>> prune(net, "loud_inputs", 2, X)[0]                 # input 0 goes in both rows
array([[0., 1., 1.],
       [0., 1., 1.]], dtype=float32)
>>> criteria()["loud_inputs"].needs
('X',)
>>> del CRITERIA["loud_inputs"]
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import validate
from ..blocks import dense_blocks, net_inputs
from .mask import global_masks, num_to_prune, prune_connections, prune_neurons

LEVELS = ("connection", "neuron")
SCOPES = ("layer", "global")
NEEDS = {"X": "calibration inputs X", "y": "the targets y (class labels)"}


@dataclass(frozen=True)
class Criterion:
    """A registered criterion: its scores function and what :func:`prune` must know."""

    name: str
    scores: Callable                # scores(net, X=None, y=None, **options) -> [S_1, ...]
    level: str                      # "connection": S_l is (out, in); "neuron": (out,)
    needs: tuple = ()               # of "X", "y": data prune() must be given
    update: Callable | None = None  # update(net, X, masks, **options), before masks apply
    scopes: tuple = SCOPES          # rankings that mean something for these scores
    options: tuple = ()             # keyword options of ``scores`` (from its signature)


CRITERIA: dict = {}                 # name -> Criterion, in registration order


def _qualname(fn) -> str:
    line = getattr(getattr(fn, "__code__", None), "co_firstlineno", None)    # lambdas: one name
    return (f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
            + (f" (line {line})" if line else ""))


def _same(old, new) -> bool:
    """``new`` is ``old``, or ``old`` defined again (module reloaded, notebook cell run again)."""
    # the same code, globals and defaults, no closure: lambdas of one scope share only a name
    keys = [(f.__code__, id(f.__globals__), f.__closure__ is None, repr((
        f.__defaults__, f.__kwdefaults__))) if hasattr(f, "__code__") else id(f)
        for f in (old, new)]
    return keys[0] == keys[1] and (old is new or keys[0][2])


def criterion(name: str, level: str, needs=(), update=None, scopes=SCOPES,
              replace: bool = False):
    """Decorator: register ``scores(net, X=None, y=None, **options)`` as criterion ``name``.

    Parameters
    ----------
    name : str
        The name :func:`prune` looks up.
    level : {"connection", "neuron"}
        What the scores rank: one array (out, in) or (out,) per Dense layer.
    needs : tuple of {"X", "y"}
        Data :func:`prune` must be given.
    update : callable, optional
        ``update(net, X, masks, **options)``, ``masks`` ``{Dense index:
        mask}``: moves the remaining weights before the masks are applied.
    scopes : tuple of {"layer", "global"}
        Scopes whose ranking means something for these scores.
    replace : bool
        Let another function replace the one registered as ``name`` (the same one is fine).

    Returns
    -------
    callable
        The decorator; it returns ``scores`` unchanged.

    Raises
    ------
    TypeError, ValueError
        A bad name, level, needs or scopes; ``scores`` not taking
        ``(net, X, y, ...)``; a name registered by another function, unless ``replace``.
    """
    where = "criterion"
    replace = validate.flag(replace, "replace", where=where)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: name={name!r}; expected a non-empty str")
    level = validate.choice(level, "level", LEVELS, where=where)
    for arg, value, allowed in (("needs", needs, tuple(NEEDS)), ("scopes", scopes, SCOPES)):
        if not isinstance(value, (tuple, list)) or not set(value) <= set(allowed) or (
                arg == "scopes" and not value):
            raise ValueError(f"{where}: {arg}={value!r}; expected a tuple of "
                             f"{', '.join(map(repr, allowed))}")
    if update is not None and not callable(update):
        raise TypeError(f"{where}: update is a {type(update).__name__}; expected a callable "
                        "update(net, X, masks, **options) or None")

    def register(scores):
        if not callable(scores):
            raise TypeError(f"{where}: {name!r} scores is a {type(scores).__name__}; "
                            "expected a function scores(net, X=None, y=None, **options)")
        params = list(inspect.signature(scores).parameters.values())
        if [p.name for p in params[:3]] != ["net", "X", "y"]:
            raise TypeError(f"{where}: {name!r} scores takes ({', '.join(p.name for p in params)})"
                            "; expected (net, X=None, y=None, **options)")
        old = CRITERIA.get(name)
        if old is not None and not replace and not _same(old.scores, scores):
            raise ValueError(f"{where}: name={name!r} is already registered by "
                             f"{_qualname(old.scores)}, a function other than "
                             f"{_qualname(scores)}; expected a new name, or replace=True")
        opts = tuple(p.name for p in params[3:] if p.default is not p.empty)   # the options
        CRITERIA[name] = Criterion(name, scores, level, tuple(needs), update, tuple(scopes), opts)
        return scores
    return register


def criteria(level=None) -> dict:
    """The registered criteria, ``{name: Criterion}`` in registration order.

    Examples
    --------
    >>> {name: c.needs for name, c in criteria("neuron").items()}
    {'random_neuron': (), 'activation': ('X',), 'taylor_neuron': ('X', 'y'), 'l1': (), 'l2': ()}
    """
    if level is not None:
        validate.choice(level, "level", LEVELS, where="criteria")
    return {n: c for n, c in CRITERIA.items() if level in (None, c.level)}


def lookup(name, where=None) -> Criterion:
    """The :class:`Criterion` registered as ``name``; else ValueError listing them all."""
    if not isinstance(name, str) or name not in CRITERIA:
        listed = ", ".join(f"{n} ({c.level}{'; needs ' + ', '.join(c.needs) if c.needs else ''})"
                           for n, c in CRITERIA.items())
        raise ValueError(f"{where + ': ' if where else ''}criterion={name!r}; expected one of "
                         f"the registered criteria: {listed}")
    return CRITERIA[name]


def _current_mask(m, neuron: bool) -> np.ndarray:
    """1 where the connection (or neuron) is still alive."""
    W_alive = m.W.data != 0 if m.W.mask is None else m.W.mask != 0             # (out, in)
    return W_alive.any(axis=1) if neuron else W_alive


def _check_layers(layers, n: int, where: str) -> list:
    ok = isinstance(layers, (list, tuple, range)) and len(layers) > 0 and all(
        isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) and 0 <= i < n
        for i in layers) and len({int(i) for i in layers}) == len(layers)
    if not ok:
        raise ValueError(f"{where}: layers={layers!r}; expected a non-empty sequence of "
                         f"distinct indices of Dense layers in [0, {n})")
    return [int(i) for i in layers]


def _refuse_less(alive, amount, where: str, what: str) -> None:
    """Pruning only removes: refuse an amount below the sparsity ``alive`` already has."""
    n = sum(a.size for a in alive)
    pruned = n - sum(int(a.sum()) for a in alive)
    if pruned > num_to_prune(amount, n, where):
        raise ValueError(f"{where}: {what} already {pruned / n:.0%} sparse ({pruned} of {n} "
                         f"entries pruned) but amount={amount!r} asks for "
                         f"{num_to_prune(amount, n)}; pruning can only remove more: to prune "
                         f"to {amount!r} start from the unpruned weights")


def check_call(entry: Criterion, net, X, y, seed, options: dict, where: str):
    """``X`` checked, the data the criterion needs present, its options known (+ ``seed``)."""
    if X is not None:
        X = net_inputs(net, X, where=where)                          # finite, (N, in)
    for need in entry.needs:
        if {"X": X, "y": y}[need] is None:
            raise ValueError(f"{where}: criterion={entry.name!r} needs {NEEDS[need]}; pass "
                             f"{need}=...")
    seed = validate.rng(seed, "seed", where=where)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise TypeError(f"{where}: criterion={entry.name!r} has no option {unknown[0]!r}; "
                        f"expected one of its options: {', '.join(entry.options) or 'none'}")
    return X, {**options, "seed": seed} if "seed" in entry.options else dict(options)


def _scores(entry: Criterion, net, X, y, options: dict, where: str) -> list:
    """The criterion's scores, checked: one array per Dense layer, of the level's shape."""
    dense = [b.dense for b in dense_blocks(net, where)]
    scores = entry.scores(net, X, y, **options)
    if not isinstance(scores, (list, tuple)) or len(scores) != len(dense):
        got = f"{len(scores)} arrays" if isinstance(scores, (list, tuple)) else \
            f"a {type(scores).__name__}"
        raise ValueError(f"{where}: criterion {entry.name!r} returned {got}; expected a list "
                         f"of one score array per Dense layer ({len(dense)})")
    scores = [validate.array(S, f"criterion {entry.name!r} scores[{k}]", finite=False,
                             nonempty=False, where=where, dtype=np.float64)   # no str, complex
              for k, S in enumerate(scores)]
    for k, (S, m) in enumerate(zip(scores, dense)):
        shape = (m.out_features,) if entry.level == "neuron" else m.W.shape
        if S.shape != shape:
            raise ValueError(f"{where}: criterion {entry.name!r} scored Dense layer {k} with "
                             f"shape {S.shape}; expected {shape} ({entry.level} level)")
    return scores


def layer_scores(net, criterion: str, X=None, y=None, seed=0, **options) -> list:
    """The scores of every Dense layer of ``net`` by the registered ``criterion``.

    What :func:`prune` ranks, before any mask: one float64 array per Dense layer, (out, in) or
    (out,) by the criterion's level. Arguments as in :func:`prune`.

    Examples
    --------
    >>> from minicomp import MLP
    >>> [S.shape for S in layer_scores(MLP([4, 3, 2]), "l1")]
    [(3,), (2,)]
    """
    where = "layer_scores"
    entry = lookup(criterion, where)
    X, options = check_call(entry, net, X, y, seed, options, where)
    return _scores(entry, net, X, y, options, where)


def prune(net, criterion: str, amount, X=None, y=None, scope: str = "layer", layers=None,
          seed=0, min_keep=None, **options) -> list:
    """Prune ``net`` in place by the registered ``criterion`` to sparsity ``amount``.

    Parameters
    ----------
    net : Sequential (an MLP) or one Dense layer
    criterion : str
        A registered name (:func:`criteria`; the built-in ones are in
        :mod:`minicomp.prune`).
    amount : int or float
        Entries (connections or neurons) to remove, in total, per layer
        (``scope="layer"``) or over all chosen layers (``"global"``).
        Already-pruned entries count (they rank first); an amount below
        the current sparsity is refused (pruning never revives a weight).
    X, y : ndarray, optional
        Calibration data for data-dependent criteria (finite, (N, in); y:
        one class label per row for the Taylor criteria).
    scope : {"layer", "global"}
        One ranking per layer, or one over all chosen layers of each layer's
        scores divided by their L2 norm (as Molchanov et al. do), so that
        layers of different scale compare.
    layers : sequence of int (list, tuple, range or int array), optional
        Indices into the Dense layers to prune. Default: all of them for
        connection criteria, all but the last for neuron criteria (the
        output neurons are the classes).
    seed : int or Generator
        For the criteria with a ``seed`` option (the random ones).
    min_keep : int, or list or int array of one int per chosen layer, optional
        Entries each chosen layer keeps at least, in both scopes (see
        :func:`~minicomp.prune.mask.global_masks`); default 1 % of the
        layer and at least 1, so no layer is ever emptied.
    **options
        The criterion's own options (e.g. ``mode`` of ``taylor``, ``damp``
        of ``obs``): ``criteria()[name].options``.

    Returns
    -------
    list of ndarray
        The mask now on each pruned layer ((out, in) or (out,)).

    Raises
    ------
    TypeError, ValueError
        Bad names, amounts, layers, data or options; missing data the
        criterion needs; an amount that cuts into ``min_keep`` or is below
        the current sparsity.
    """
    where = "prune"
    dense = [b.dense for b in dense_blocks(net, where)]
    entry = lookup(criterion, where)
    scope = validate.choice(scope, "scope", SCOPES, where=where)
    if scope not in entry.scopes:
        raise ValueError(f"{where}: scope={scope!r} with criterion={entry.name!r}; its scores "
                         f"rank within {' or '.join(entry.scopes)} scope only: use scope="
                         f"{entry.scopes[0]!r}")
    neuron = entry.level == "neuron"
    layers, min_keep = (v.tolist() if isinstance(v, np.ndarray) else v for v in (layers, min_keep))
    if layers is None:
        layers = list(range(len(dense) - 1 if neuron else len(dense)))
    layers = _check_layers(layers, len(dense), where)
    alive = [_current_mask(dense[i], neuron) for i in layers]
    for i, a in zip(layers, alive) if scope == "layer" else ():
        num_to_prune(amount, a.size, f"{where}: layer {i}")          # type and range first
    X, kwargs = check_call(entry, net, X, y, seed, options, where)
    if isinstance(min_keep, (list, tuple)) and len(min_keep) != len(layers):
        raise ValueError(f"{where}: min_keep={min_keep!r}; expected an int or one int per "
                         f"chosen layer ({len(layers)})")
    keep = min_keep if isinstance(min_keep, (list, tuple)) else [min_keep] * len(layers)
    if scope == "layer":
        for i, a in zip(layers, alive):
            _refuse_less([a], amount, where, f"layer {i} is")
    else:
        _refuse_less(alive, amount, where, "the chosen layers are")
    all_scores = _scores(entry, net, X, y, kwargs, where)
    scores = [np.where(a, all_scores[i], -np.inf)        # pruned entries first, then by score
              for i, a in zip(layers, alive)]
    if scope == "layer":
        masks = [global_masks([s], amount, m and [m], f"{where}: layer {i}")[0]
                 for i, s, m in zip(layers, scores, keep)]
    else:
        normed = [s / max(np.linalg.norm(s[np.isfinite(s)]), 1e-300) for s in scores]
        masks = global_masks(normed, amount, min_keep, where)
    if entry.update is not None:                          # e.g. OBS moves the kept weights
        entry.update(net, X, dict(zip(layers, masks)), **options)
    for i, mask in zip(layers, masks):
        (prune_neurons if neuron else prune_connections)(dense[i], mask)
    return [_current_mask(dense[i], neuron).astype(np.float32) for i in layers]
