"""The argument checks of :func:`minicomp.train.fit` (and ``evaluate``/``predict``).

Kept apart from the loop so that the loop reads in one screen: what ``fit``
accepts -- data against the net and the loss, the optimizer, scheduler and
callbacks, and a teacher for distillation -- is decided here, before any
training starts, with messages that name the argument.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import validate as check
from .nn import Module, io_features
from .optim import SGD, Optimizer, Scheduler

LOSSES = {"cross_entropy": F.cross_entropy, "mse": F.mse}


def loss_function(loss, where):
    """``loss`` as a callable: a callable itself, or a name in :data:`LOSSES`."""
    if not callable(loss) and (not isinstance(loss, str) or loss not in LOSSES):
        raise ValueError(f"{where}: loss={loss!r}; expected a callable loss(y_hat, y) or one of "
                         f"{', '.join(map(repr, LOSSES))}")
    return loss if callable(loss) else LOSSES[loss]


def fit_data(net, X, y, loss_fn, where, names=("X", "y")):
    """``(X, y, classify)`` checked against ``net`` and ``loss_fn``; X in the weights' dtype."""
    n_in, n_out = io_features(check.module(net, where=where))
    X = check.array(X, names[0], ndim=2, width=n_in, dtype=param_dtype(net), where=where)
    y = check.array(y, names[1], ndim=(1, 2), where=where)
    if len(X) != len(y):
        raise ValueError(f"{where}: {names[0]} has {len(X)} rows but {names[1]} has {len(y)}; "
                         "expected one target per row")
    labels = y.ndim == 1 and (y.dtype.kind in "iub" or loss_fn is F.cross_entropy)
    if labels and loss_fn is not F.mse:
        return X, check.labels(y, names[1], num_classes=n_out, where=where), True
    if loss_fn in (F.mse, F.cross_entropy) and n_out is not None and y.shape[1:] != (n_out,):
        hint = (f" (one output: {names[1]}[:, None])" if y.ndim == 1 and n_out == 1 else
                f" (labels: {names[1]}.ravel())" if y.shape[1:] == (1,) else "")
        raise ValueError(f"{where}: {names[1]} has shape {y.shape}; expected ({len(y)}, {n_out}), "
                         f"one target per output of the net{hint}")
    if loss_fn is F.cross_entropy:           # 2-D: soft targets, rows of probabilities
        check.distributions(y, names[1], floats=True, where=where)
    return X, y.astype(param_dtype(net) or np.float32, copy=False), False


def param_dtype(net):
    params = net.parameters()
    return params[0].dtype if params else None        # None: the net casts its input itself


def fit_hooks(optimizer, scheduler, callbacks, net, lr):
    """The optimizer (default SGD), checked scheduler and callbacks of :func:`fit`."""
    if optimizer is None:
        optimizer = SGD(list({id(p): p for p in net.parameters()}.values()), lr=lr)  # once each
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer is a {type(optimizer).__name__}; expected a minicomp "
                        "Optimizer, e.g. SGD(net.parameters(), lr=0.1)")
    elif not {id(p) for p in optimizer.params} & {id(p) for p in net.parameters()}:
        raise ValueError("fit: optimizer holds none of net's parameters; expected one built "
                         "on net.parameters() (was it built for another net?)")
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not optimizer:
        other = isinstance(scheduler, Scheduler)
        raise (ValueError if other else TypeError)(
            f"fit: scheduler is a {type(scheduler).__name__}{' of another optimizer' * other}; "
            "expected one of the optimizer fit uses: optimizer=opt, scheduler=CosineLR(opt, T)")
    if not (isinstance(callbacks, (list, tuple, type(None)))
            and all(map(callable, callbacks or ()))):
        raise TypeError(f"fit: callbacks={callbacks!r}; expected a list of callables cb(step), "
                        "e.g. callbacks=[cb]")
    return optimizer, scheduler, callbacks or ()


def not_shared(teacher, net, where="fit"):
    """``teacher``, unless it shares a parameter with ``net`` (then it would learn too)."""
    shared = {id(p) for p in teacher.parameters()} & {id(p) for p in net.parameters()}
    if shared:
        raise ValueError(f"{where}: teacher shares {len(shared)} parameter(s) with the "
                         "student; expected a separate, frozen teacher (copy it first)")
    return teacher


def fit_teacher(teacher, net, X, where="fit"):
    """``teacher`` checked: None, a Module, or ``(N, K)`` logits in ``X``'s dtype.

    A Module must map the student's inputs to its K outputs and share none
    of its parameters (:func:`~minicomp.train.fit` runs it on each batch in
    eval mode without a graph); an array holds the logits computed once for
    all N rows of ``X``.
    """
    if teacher is None:
        return None
    n_in, n_out = io_features(net)
    if isinstance(teacher, Module):
        t_in, t_out = io_features(teacher)
        if (t_in, t_out) != (n_in, n_out) and None not in (t_in, t_out):
            raise ValueError(f"{where}: teacher maps {t_in} -> {t_out} features but the student "
                             f"maps {n_in} -> {n_out}; expected the same inputs and classes")
        return not_shared(teacher, net, where)
    T = check.array(teacher, "teacher", ndim=2, where=where)             # (N, K) logits
    if T.shape != (len(X), n_out):
        raise ValueError(f"{where}: teacher has shape {T.shape}; expected a Module or cached "
                         f"logits of shape ({len(X)}, {n_out}), one row per row of X")
    return T.astype(X.dtype, copy=False)


def fit_augment(augment, teacher, where="fit"):
    """``augment`` checked: None or a callable; refused with cached teacher logits."""
    if augment is None:
        return None
    if not callable(augment):
        raise TypeError(f"{where}: augment is a {type(augment).__name__}; expected a callable "
                        "augment(X_b, rng) -> X_b, e.g. minicomp.data.random_shift(3)")
    if isinstance(teacher, np.ndarray):
        raise ValueError(f"{where}: augment with cached teacher logits: they belong to the "
                         "original rows, not to the augmented ones; expected the teacher "
                         "Module (run on every augmented batch)")
    return augment


def augmented(augment, X_b, rng, where="fit"):
    """``augment(X_b, rng)`` checked: finite numbers of ``X_b``'s shape, in its dtype."""
    out = augment(X_b, rng)
    if np.shape(out) != X_b.shape:
        raise ValueError(f"{where}: augment(X_b, rng) returned shape {np.shape(out)}; "
                         f"expected {X_b.shape}, the batch's")
    return check.array(out, "augment(X_b, rng)", dtype=X_b.dtype, where=where)
