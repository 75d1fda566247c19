"""The one training loop: :func:`fit`, and :func:`evaluate` / :func:`predict`.

Every chapter and every compression method trains through :func:`fit`:

- seeded shuffling (same seed, same minibatches, same weights);
- a tqdm progress bar over epochs (``quiet=True`` hides it);
- ``callbacks`` called after every optimizer step, with a :class:`Step`
  (this is where a pruning mask or a fake-quantizer hooks in);
- early stopping on the validation loss (or the training loss), restoring
  the best weights;
- a NaN/inf loss stops training with :class:`TrainingDiverged`, naming the
  epoch and step.

Bad input (NaN/inf, wrong widths, labels out of range, ...) is refused before
training starts (:mod:`minicomp.validate`), so a NaN loss means divergence.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from . import functional as F
from . import validate as check
from .data import batches
from .fit_checks import (augmented, fit_augment, fit_data, fit_hooks, fit_teacher,
                         loss_function, param_dtype)
from .metrics import accuracy
from .nn import io_features
from .optim import SGD, Optimizer
from .tensor import Tensor, no_grad



@dataclass
class History:
    """Per-epoch records of a :func:`fit` run (``val_*`` empty without validation)."""

    loss: list = field(default_factory=list)            # mean training loss of each epoch
    accuracy: list = field(default_factory=list)        # training accuracy (classification)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)              # learning rate used in each epoch
    step_loss: list = field(default_factory=list)       # loss of every minibatch step
    best_epoch: int | None = None                       # epoch whose weights were kept
    seconds: float = 0.0


@dataclass
class Step:
    """What a per-step callback receives."""

    net: object
    optimizer: Optimizer
    epoch: int          # 0-based
    step: int           # 0-based within the epoch
    global_step: int    # 0-based over the whole run
    loss: float


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``.history`` holds what was recorded."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


def fit(net, X, y, *, loss="cross_entropy", optimizer=None, lr=0.1, epochs=10,
        batch_size=32, seed=0, validation=None, callbacks=(), scheduler=None,
        early_stopping=None, quiet=False, desc="train", teacher=None,
        augment=None) -> History:
    """Train ``net`` on ``(X, y)`` with minibatches.

    Parameters
    ----------
    net : Module
    X : ndarray or Tensor, shape (N, D) (cast to the dtype of the parameters)
    y : ndarray, (N,) integer labels, (N, K) soft targets (float rows summing
        to 1; cross-entropy) or (N, K) regression targets (mse)
    loss : "cross_entropy", "mse" or callable ``loss(y_hat, y) -> Tensor``
        (with a ``teacher``: ``loss(y_hat, y, teacher_logits) -> Tensor``)
    optimizer : Optimizer, optional
        Default: plain ``SGD(net.parameters(), lr)``.
    lr : float
        Learning rate of the default optimizer (ignored if ``optimizer``).
    epochs, batch_size : int
    seed : int or Generator
        Shuffling seed.
    validation : (X_val, y_val), optional
        Evaluated after every epoch.
    callbacks : sequence of callables ``cb(step: Step)``
        Called after every optimizer step.
    scheduler : Scheduler, optional
        Stepped once per epoch.
    early_stopping : int, optional
        Patience in epochs: stop when the monitored loss (validation if
        given, else training) has not improved for this many epochs, then
        restore the best weights.
    quiet : bool
        No progress bar.
    teacher : Module or ndarray (N, K), optional
        Distillation (:mod:`minicomp.distill`): the teacher's logits for each
        batch, from the Module (run in eval mode without a graph, so it stays
        frozen) or from rows of logits cached once, go to ``loss`` as its
        third argument. Validation then reports the cross-entropy with the
        labels: the student is judged by the task, not by the teacher.
    augment : callable ``augment(X_b, rng) -> X_b``, optional
        Data augmentation: a new random version of every training batch (same
        shape; e.g. :func:`minicomp.data.random_shift`), drawn with its own
        generator spawned from ``seed`` (the batches' order stays the same).
        A teacher Module sees the augmented batch; cached teacher logits
        belong to the original rows and are refused.

    Returns
    -------
    History

    Raises
    ------
    TypeError, ValueError
        Before training: NaN/inf, empty or non-numeric data, X not (N, in), labels
        outside the net's outputs, an optimizer or scheduler for another net, ...
    TrainingDiverged
        The loss became NaN or infinite (message names epoch and step).
    """
    if not check.module(net, where="fit").parameters():
        raise ValueError(f"fit: net ({type(net).__name__}) has no parameters to train")
    loss_fn = loss_function(loss, "fit")
    X, y, classify = fit_data(net, X, y, loss_fn, "fit")        # X in the weights' dtype
    teacher = fit_teacher(teacher, net, X)          # None, a Module or (N, K) cached logits
    if teacher is not None and not callable(loss):
        raise ValueError(f"fit: teacher= with loss={loss!r}; expected a loss that takes the "
                         "teacher's logits, loss(y_hat, y, teacher_logits), e.g. "
                         "minicomp.distill.kd_loss (or call minicomp.distill.distill)")
    augment = fit_augment(augment, teacher)
    val_loss = F.cross_entropy if teacher is not None else loss_fn
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            n = f" of length {len(validation)}" if isinstance(validation, (tuple, list)) else ""
            raise TypeError(f"fit: validation is a {type(validation).__name__}{n}; expected a "
                            "pair (X_val, y_val)")
        validation = fit_data(net, *validation, val_loss, "fit", ("X_val", "y_val"))
    epochs = check.integer(epochs, "epochs", low=1, where="fit")
    batch_size = check.integer(batch_size, "batch_size", low=1, where="fit")
    lr = check.number(lr, "lr", low=0.0, low_open=True, where="fit")
    rng = check.rng(seed, where="fit")
    aug_rng = rng.spawn(1)[0] if augment is not None else None      # rng's draws unchanged
    if early_stopping is not None:
        early_stopping = check.integer(early_stopping, "early_stopping", low=1, where="fit")
    quiet = check.flag(quiet, "quiet", where="fit")
    optimizer, scheduler, callbacks = fit_hooks(optimizer, scheduler, callbacks, net, lr)
    history, best, best_state, waited = History(), math.inf, None, 0
    start, global_step = time.perf_counter(), 0
    net.train()
    bar = tqdm(range(epochs), desc=desc, disable=quiet, leave=False, unit="epoch")
    for epoch in bar:
        total, correct, seen = 0.0, 0, 0
        for step, idx in enumerate(batches(np.arange(len(X)), None, batch_size, seed=rng)):
            X_b, y_b = X[idx], y[idx]                            # (B, D), (B,) or (B, K)
            if augment is not None:
                X_b = augmented(augment, X_b, aug_rng)          # (B, D), a new draw
            y_hat = net(Tensor(X_b))
            if teacher is None:
                L = loss_fn(y_hat, y_b)
            else:                                                # (B, K) teacher logits
                t_b = teacher[idx] if isinstance(teacher, np.ndarray) else \
                    _predict(teacher, X_b, len(X_b)).astype(X.dtype, copy=False)
                L = loss_fn(y_hat, y_b, t_b)
            value = float(L.data)
            if not math.isfinite(value):
                history.seconds = time.perf_counter() - start
                bar.close()
                raise TrainingDiverged(
                    f"fit: the loss became {value} at epoch {epoch + 1}/{epochs}, step "
                    f"{step + 1} (global step {global_step + 1}); the last epoch mean was "
                    f"{history.loss[-1] if history.loss else 'not recorded yet'}. "
                    f"Try a smaller learning rate (lr={optimizer.lr}).", history)
            optimizer.zero_grad()
            L.backward()
            optimizer.step()
            history.step_loss.append(value)
            total += value * len(X_b)
            seen += len(X_b)
            if classify:
                correct += int((y_hat.data.argmax(axis=1) == y_b).sum())
            for cb in callbacks:
                cb(Step(net, optimizer, epoch, step, global_step, value))
            global_step += 1
        history.loss.append(total / seen)
        history.lr.append(optimizer.lr)
        if classify:
            history.accuracy.append(correct / seen)
        monitored = history.loss[-1]
        if validation is not None:
            result = _score(net, *validation, val_loss, 1024)
            history.val_loss.append(result["loss"])
            if "accuracy" in result:
                history.val_accuracy.append(result["accuracy"])
            monitored = result["loss"]
            net.train()
        if not quiet:
            shown = {"loss": f"{history.loss[-1]:.4f}"}
            if history.val_accuracy:
                shown["val_acc"] = f"{history.val_accuracy[-1]:.4f}"
            bar.set_postfix(shown)
        if scheduler is not None:
            scheduler.step()
        if early_stopping is not None:
            if monitored < best:
                best, waited, history.best_epoch = monitored, 0, epoch
                best_state = net.state_dict()
            else:
                waited += 1
                if waited >= early_stopping:
                    break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    history.seconds = time.perf_counter() - start
    return history


def predict(net, X, batch_size: int = 1024) -> np.ndarray:
    """Outputs of ``net`` on ``X`` (eval mode, no graph), as an array.

    Raises
    ------
    TypeError, ValueError
        ``X`` empty, non-numeric, with NaN/inf or not (N, in); ``batch_size`` < 1.
    """
    check.module(net, where="predict")
    X = check.array(X, "X", ndim=2, width=io_features(net)[0], dtype=param_dtype(net), where="predict")
    return _predict(net, X, check.integer(batch_size, "batch_size", low=1, where="predict"))


def _predict(net, X, batch_size):
    was_training = net.training
    net.eval()
    try:
        with no_grad():
            outs = [net(Tensor(X_b)).data for X_b in batches(X, None, batch_size, shuffle=False)]
    finally:
        net.train(was_training)
    return np.concatenate(outs, axis=0)


def evaluate(net, X, y, loss="cross_entropy", batch_size: int = 1024) -> dict:
    """Loss (and accuracy, for integer labels) of ``net`` on ``(X, y)``.

    Returns
    -------
    dict
        ``{"loss": float, "accuracy": float}``, accuracy only for classification.

    Raises
    ------
    TypeError, ValueError
        The checks of :func:`fit` on ``X``, ``y`` and ``loss``; ``batch_size`` < 1.
    """
    loss_fn = loss_function(loss, "evaluate")
    X, y, classify = fit_data(net, X, y, loss_fn, "evaluate")
    return _score(net, X, y, classify, loss_fn,
                  check.integer(batch_size, "batch_size", low=1, where="evaluate"))


def _score(net, X, y, classify, loss_fn, batch_size) -> dict:
    y_hat = _predict(net, X, batch_size)                              # (N, C)
    result = {"loss": float(loss_fn(Tensor(y_hat), y).data)}
    if classify:                              # a net that outputs NaN has no accuracy
        result["accuracy"] = float("nan") if np.isnan(y_hat).any() else accuracy(y_hat, y)
    return result


@dataclass
class BaselineConfig:
    """The seeds' baseline: an MLP with two hidden layers of 64 (seed 000)."""

    dataset: str = "digits"          # "digits" or "mnist1d"
    hidden: tuple = (64, 64)         # hidden layer sizes (seed 000: Dense(64), Dense(64))
    lr: float = 0.05                 # SGD learning rate at the start of the cosine schedule
    momentum: float = 0.9            # heavy-ball momentum
    weight_decay: float = 5e-4       # L2 penalty added to the gradient
    epochs: int = 40                 # passes over the training set
    batch_size: int = 32             # minibatch size (seed 000 uses 32)
    seed: int = 0                    # initialisation and shuffling seed
    validation: float = 0.1          # fraction of the train set carved for validation (val_acc)
    early_stopping: int | None = None    # patience (epochs) on the validation loss; None: all


def train_baseline(config: BaselineConfig | None = None, quiet: bool = False):
    """Train the baseline MLP of ``config`` on its dataset.

    The dataset's validation part (``config.validation`` of the training
    set, carved once by the loader with its default seed, so the same rows
    for every ``config.seed``) is what ``history.val_accuracy`` and early
    stopping see; the test set is used once, for ``result``.

    Returns
    -------
    net : MLP
    history : History
        ``val_loss`` / ``val_accuracy`` on ``data.X_val`` (empty if
        ``config.validation == 0``).
    result : dict
        ``evaluate`` on the test set, plus ``"seconds"`` of training.
    data : Dataset
        With ``X_val, y_val``; ``X_train`` holds the rows trained on.

    Raises
    ------
    TypeError, ValueError
        Unknown ``dataset``; ``validation`` not in [0, 1) (NaN and bools
        refused); ``early_stopping`` given without a validation part, or < 1.
    """
    from .data import load_digits, load_mnist1d
    from .nn import MLP
    from .optim import CosineLR

    config = config or BaselineConfig()
    loaders = {"digits": load_digits, "mnist1d": load_mnist1d}
    if config.dataset not in loaders:
        raise ValueError(f"dataset={config.dataset!r}; expected one of {sorted(loaders)}")
    data = loaders[config.dataset](validation=config.validation)
    if config.early_stopping is not None and data.validation is None:
        raise ValueError(f"train_baseline: early_stopping={config.early_stopping!r} with "
                         "validation=0; expected a validation fraction > 0 to stop on")
    sizes = [data.X_train.shape[1], *config.hidden, data.num_classes]
    net = MLP(sizes, seed=config.seed)
    optimizer = SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                    weight_decay=config.weight_decay)
    history = fit(net, data.X_train, data.y_train, optimizer=optimizer, epochs=config.epochs,
                  batch_size=config.batch_size, seed=config.seed,
                  scheduler=CosineLR(optimizer, T=config.epochs), validation=data.validation,
                  early_stopping=config.early_stopping, quiet=quiet, desc=config.dataset)
    result = evaluate(net, data.X_test, data.y_test)            # the test set: once, at the end
    result["seconds"] = history.seconds
    return net, history, result, data
