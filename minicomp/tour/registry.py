"""The tour's techniques, registered by name, and what each one is handed.

A technique is one function ``build(ctx) -> Candidate`` registered with
:func:`technique`: it takes the trained baseline from ``ctx.net`` (never
changing it: it copies), compresses it with the library, and returns what
:func:`minicomp.store.pack` turns into a stored model (the object, the
format, its options) and the choice it made. Every choice (sparsity,
bits, rank, temperature, tau, ...) is made on the validation split with
:meth:`Context.pick`; a technique never sees the test set (the context
has none): the test set gives the table's numbers only, in
:func:`minicomp.tour.run`.

:meth:`Context.pick` tries the options :math:`o_1, o_2, \\dots` from the
most compressed to the least and keeps the first within ``config.tolerance``
points of the baseline on validation (else the most accurate one tried):

.. math:: o^* = o_k,\\quad k = \\min\\{i : \\mathrm{acc}_{val}(o_i) \\ge
          \\mathrm{acc}_{val}(\\text{baseline}) - \\text{tol}/100\\}

With 136 validation rows on digits one row is 0.74 points, so the default
tolerance of 0.5 points admits no lost validation row: the choices are
noisy at that scale (the test set, 450 rows, has its own noise).

The order of :data:`TECHNIQUES` is the order of the table.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..metrics import accuracy


@dataclass
class Candidate:
    """What a technique returns: ``pack(obj, fmt, **options)`` is its stored model."""

    obj: object                       # what pack accepts (a net, a QuantizedMLP, ...)
    fmt: str = "auto"                 # the stored format (see minicomp.store)
    options: dict = field(default_factory=dict)    # pack's keyword options
    choice: str = ""                  # what was chosen on validation, for the table's notes
    model: object = None              # the packed model, when pick() already packed it


@dataclass(frozen=True)
class Technique:
    """A registered technique: its name (``--only``), its label (the table) and builder."""

    name: str
    label: str
    build: Callable                   # build(ctx) -> Candidate
    rank: int = 0                     # its module's place in GROUPS (the table's order)


TECHNIQUES: dict = {}                 # name -> Technique, in the table's order
GROUPS = ("prune", "quant", "models", "deep")    # modules of rows, in the table's order


def technique(name: str, label: str):
    """Register ``build(ctx) -> Candidate`` as the tour's technique ``name``: rows come
    in the order of :data:`GROUPS` (their module), then of definition, whatever the
    order the modules are imported in."""
    def register(build):
        if name in TECHNIQUES:
            raise ValueError(f"technique: name={name!r} is already registered")
        group = build.__module__.rpartition(".")[2]
        rank = GROUPS.index(group) if group in GROUPS else len(GROUPS)
        rows = [*TECHNIQUES.values(), Technique(name, label, build, rank)]
        TECHNIQUES.clear()
        TECHNIQUES.update((t.name, t) for t in sorted(rows, key=lambda t: t.rank))  # stable
        return build
    return register


def check_names(names) -> list:
    """``names`` (a list, or a comma-separated string) as known technique names, in
    the table's order; an unknown name is a ValueError listing the known ones, a name
    given twice a ValueError."""
    given = names
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"only: {given!r} names no technique; expected one or more names, "
                         f"comma-separated, of: {', '.join(TECHNIQUES)}")
    unknown = [n for n in names if n not in TECHNIQUES]
    if unknown:
        raise ValueError(f"only: unknown technique{'s' * (len(unknown) > 1)} "
                         f"{', '.join(map(repr, unknown))}; expected names of: "
                         f"{', '.join(TECHNIQUES)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"only: {', '.join(map(repr, twice))} named more than once in "
                         f"{given!r}; expected each technique once")
    return [n for n in TECHNIQUES if n in names]


@dataclass
class Context:
    """What a technique sees: the baseline, the training and validation splits, the config.

    There is no test set here: choices are made on ``X_val``.
    """

    net: object                       # the trained baseline (copy before changing it)
    X: np.ndarray                     # (N, in) training inputs (fit, calibration)
    y: np.ndarray                     # (N,) training labels
    X_val: np.ndarray                 # (M, in) validation inputs: every choice
    y_val: np.ndarray                 # (M,)
    config: object                    # the TourConfig
    val_base: float = 0.0             # the baseline's validation accuracy

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def sizes(self) -> tuple:
        """``(inputs, classes)`` of the baseline."""
        from ..nn import io_features
        return io_features(self.net)

    def child_seed(self, k: int) -> int:
        """The ``k``-th seed derived from ``config.seed`` (``SeedSequence(seed).spawn``,
        :func:`minicomp.structure.trial_seeds`): the nets a row trains from scratch
        share no seed with another ``--seed``'s (``seed + k`` would)."""
        from ..structure import trial_seeds
        return trial_seeds(self.seed, k + 1)[k]

    def quick(self, full, quick):
        """``quick`` in a ``--quick`` run, else ``full``."""
        return quick if self.config.quick else full

    def copy(self):
        """A deep copy of the baseline, to compress in place."""
        return copy.deepcopy(self.net)

    def val_accuracy(self, model) -> float:
        """Validation accuracy of a packed model (its ``predict``)."""
        return accuracy(model.predict(self.X_val), self.y_val)

    def pick(self, options, build, fmt="auto", describe=str, best=False,
             **pack_options) -> Candidate:
        """The first of ``options`` (most compressed first) whose packed model is within
        ``config.tolerance`` points of the baseline on validation, else the most accurate.

        ``build(option)`` returns the object to pack; ``describe(option)`` the
        choice's text for the table. ``best``: try every option and keep the
        most accurate on validation (ties: the first), e.g. a temperature.
        """
        from ..store import pack
        need = self.val_base - self.config.tolerance / 100
        tried = []
        for option in options:
            obj = build(option)
            model = pack(obj, fmt, **pack_options)
            acc = self.val_accuracy(model)
            tried.append((acc, -len(tried), option, obj, model))
            if not best and acc >= need - 1e-12:
                break
        acc, _, option, obj, model = max(tried, key=lambda t: t[:2])
        text = f"{describe(option)} (val {100 * acc:.1f}%)"
        return Candidate(obj, fmt, pack_options, text, model)
