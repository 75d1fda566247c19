"""A careless user's battery against the core API: every bad input gets a clear error.

Each case is a call, the exception it must raise at the public boundary and a
regex the message must match: the function, the argument's name and the bad
value (or what was wrong with it). Then the other half: good-but-unusual
inputs (NumPy scalars, lists, float64 on float32 nets, small int labels) are
accepted and give the same results as the plain ones.
"""
import gzip

import numpy as np
import pytest

from minicomp import functional as F
from minicomp.data import (Dataset, batches, load_digits, load_mnist, load_mnist1d, make_blobs,
                           make_spirals, num_batches, read_idx, train_test_split, write_idx)
from minicomp.metrics import accuracy, count_parameters, storage_bytes
from minicomp.nn import MLP, Dense, Dropout, Parameter, ReLU, Sequential, io_features, manual_seed
from minicomp.gradcheck import gradcheck
from minicomp.optim import SGD, Adam, CosineLR, Scheduler, StepLR, cosine_schedule, step_schedule
from minicomp.tensor import Tensor
from minicomp.train import TrainingDiverged, evaluate, fit, predict
from minicomp.validate import choice, labels

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 4)).astype(np.float32)        # (N, D) = (20, 4)
y = np.arange(20) % 3                                    # labels 0..2
X_nan = X.copy()
X_nan[3, 2] = np.nan
X_inf = X.copy()
X_inf[0, 1] = -np.inf


def net():
    """A fresh 4 -> 8 -> 3 MLP (3 classes)."""
    return MLP([4, 8, 3], seed=0)


def opt(**kwargs):
    return SGD(net().parameters(), lr=0.1, **kwargs)


def fit_(*args, **kwargs):
    """fit on a fresh net, quietly; positional args replace (X, y)."""
    kwargs.setdefault("quiet", True)
    return fit(net(), *(args or (X, y)), **kwargs)


CASES = [
    # ---- fit / evaluate / predict: NaN and inf refused at the boundary
    (lambda: fit_(X_nan, y), ValueError, r"fit: X contains nan at \[3, 2\]; expected finite"),
    (lambda: fit_(X_inf, y), ValueError, r"fit: X contains -inf at \[0, 1\]"),
    (lambda: evaluate(net(), X_nan, y), ValueError, r"evaluate: X contains nan at \[3, 2\]"),
    (lambda: evaluate(net(), X_inf, y), ValueError, r"evaluate: X contains -inf"),
    (lambda: predict(net(), X_nan), ValueError, r"predict: X contains nan at \[3, 2\]"),
    (lambda: fit_(validation=(X_nan, y)), ValueError, r"fit: X_val contains nan at \[3, 2\]"),
    (lambda: fit_(validation=(X, y + 0.5)), ValueError, r"fit: y_val holds non-integer .*0\.5"),
    (lambda: fit(MLP([4, 3]), X, np.full((20, 3), np.inf), loss="mse", quiet=True), ValueError,
     r"fit: y contains inf at \[0, 0\]"),
    (lambda: evaluate(MLP([4, 1]), X, np.full((20, 1), np.nan), loss="mse"), ValueError,
     r"evaluate: y contains nan"),
    # ---- fit: data shapes, dtypes, lengths, labels
    (lambda: fit_(X[:0], y[:0]), ValueError, r"fit: X is empty \(shape \(0, 4\)\)"),
    (lambda: fit_(X.astype(str), y), TypeError, r"fit: X has dtype <U\d+; expected numbers"),
    (lambda: fit_(None, y), TypeError, r"fit: X is a NoneType; expected an array"),
    (lambda: fit_("X.csv", y), TypeError, r"fit: X is a str; expected an array"),
    (lambda: fit_([[1, 2, 3, 4], [1]], [0, 1]), ValueError, r"fit: X cannot be made into an array"),
    (lambda: fit_(X[:, :3], y), ValueError,
     r"fit: X has 3 features \(shape \(20, 3\)\); expected 4"),
    (lambda: fit_(X.T, y), ValueError, r"fit: X has 20 features \(shape \(4, 20\)\); expected 4"),
    (lambda: fit_(X[:, :, None], y), ValueError,
     r"fit: X has shape \(20, 4, 1\) \(3-D\); expected a 2-D"),
    (lambda: fit_(X[0], y[:4]), ValueError, r"fit: X has shape \(4,\) \(1-D\); expected a 2-D"),
    (lambda: fit_(X, y[:5]), ValueError, r"fit: X has 20 rows but y has 5"),
    (lambda: fit_(X, y + 1), ValueError, r"fit: y contains the label 3; expected labels in 0\.\.2"),
    (lambda: fit_(X, y - 1), ValueError,
     r"fit: y contains the label -1; expected labels in 0\.\.2"),
    (lambda: fit_(X, y + 0.5), ValueError, r"fit: y holds non-integer values \(e\.g\. 0\.5\)"),
    (lambda: fit_(X, y.astype(str)), TypeError, r"fit: y has dtype <U\d+; expected numbers"),
    (lambda: fit_(X, y > 0), TypeError, r"fit: y has dtype bool; expected integer class labels"),
    (lambda: fit_(X, np.zeros((20, 5))), ValueError,
     r"fit: y has shape \(20, 5\); expected \(20, 3\)"),
    (lambda: fit_(X, y[:, None]), ValueError, r"fit: y has shape \(20, 1\).*y\.ravel\(\)"),
    (lambda: fit(MLP([4, 1]), X, y.astype(np.float32), loss="mse", quiet=True), ValueError,
     r"fit: y has shape \(20,\); expected \(20, 1\).*y\[:, None\]"),
    (lambda: fit_(X, y[:, None, None]), ValueError, r"fit: y has shape \(20, 1, 1\) \(3-D\)"),
    (lambda: fit_(validation=(X[:, :2], y)), ValueError, r"fit: X_val has 2 features"),
    (lambda: fit_(validation=(X, y[:3])), ValueError, r"fit: X_val has 20 rows but y_val has 3"),
    (lambda: fit_(validation=(X, y, 1)), TypeError, r"fit: validation is a tuple of length 3; "
                                                    r"expected a pair \(X_val, y_val\)"),
    (lambda: fit_(validation=X), TypeError, r"fit: validation is a ndarray; expected a pair"),
    # ---- fit: hyperparameters and hooks
    (lambda: fit_(epochs=0), ValueError, r"fit: epochs=0; expected an int >= 1"),
    (lambda: fit_(epochs=2.0), TypeError, r"fit: epochs=2\.0 \(float\); expected an int"),
    (lambda: fit_(epochs=True), TypeError, r"fit: epochs=True \(bool\)"),
    (lambda: fit_(epochs=None), TypeError, r"fit: epochs=None \(NoneType\)"),
    (lambda: fit_(batch_size=0), ValueError, r"fit: batch_size=0; expected an int >= 1"),
    (lambda: fit_(batch_size="32"), TypeError, r"fit: batch_size='32' \(str\)"),
    (lambda: fit_(lr="0.1"), TypeError, r"fit: lr='0\.1' \(str\); expected a finite number > 0"),
    (lambda: fit_(lr=-0.1), ValueError, r"fit: lr=-0\.1; expected a finite number > 0"),
    (lambda: fit_(lr=float("nan")), ValueError, r"fit: lr=nan"),
    (lambda: fit_(seed="0"), TypeError, r"fit: seed='0'; expected a non-negative int"),
    (lambda: fit_(seed=-3), TypeError, r"fit: seed=-3; expected a non-negative int"),
    (lambda: fit_(quiet="yes"), TypeError, r"fit: quiet='yes' \(str\); expected True or False"),
    (lambda: fit_(early_stopping=0), ValueError, r"fit: early_stopping=0; expected an int >= 1"),
    (lambda: fit_(early_stopping=1.5), TypeError, r"fit: early_stopping=1\.5 \(float\)"),
    (lambda: fit_(loss="hinge"), ValueError, r"fit: loss='hinge'; expected a callable .*'mse'"),
    (lambda: fit_(loss=None), ValueError, r"fit: loss=None; expected a callable"),
    (lambda: fit("net", X, y, quiet=True), TypeError,
     r"fit: net is a str; expected a minicomp Module"),
    (lambda: fit(ReLU(), X, y, quiet=True), ValueError, r"fit: net \(ReLU\) has no parameters"),
    (lambda: fit_(optimizer="sgd"), TypeError,
     r"fit: optimizer is a str; expected a minicomp Optimizer"),
    (lambda: fit_(optimizer=opt()), ValueError, r"fit: optimizer holds none of net's parameters"),
    (lambda: fit_(scheduler=CosineLR(opt(), T=2)), ValueError,
     r"fit: scheduler is a Scheduler of another optimizer"),
    (lambda: fit_(scheduler="cosine"), TypeError, r"fit: scheduler is a str"),
    (lambda: fit_(callbacks=print), TypeError, r"fit: callbacks=<built-in function print>; "
                                               r"expected a list of callables"),
    (lambda: fit_(callbacks=[1]), TypeError, r"fit: callbacks=\[1\]; expected a list of callables"),
    # ---- evaluate / predict
    (lambda: evaluate(net(), X, y + 1), ValueError, r"evaluate: y contains the label 3; expected "
                                                    r"labels in 0\.\.2"),
    (lambda: evaluate(MLP([4, 2]), X, y), ValueError, r"evaluate: y contains the label 2; "
                                                      r"expected labels in 0\.\.1"),
    (lambda: evaluate(net(), X, y[:7]), ValueError, r"evaluate: X has 20 rows but y has 7"),
    (lambda: evaluate(net(), X[:, :2], y), ValueError, r"evaluate: X has 2 features"),
    (lambda: evaluate(net(), X, y, batch_size=-1), ValueError, r"evaluate: batch_size=-1"),
    (lambda: evaluate(net(), X, y, loss="l2"), ValueError, r"evaluate: loss='l2'"),
    (lambda: evaluate(net(), X, np.zeros((20, 2))), ValueError, r"evaluate: y has shape \(20, 2\); "
                                                                r"expected \(20, 3\)"),
    (lambda: evaluate(net(), X[:0], y[:0]), ValueError, r"evaluate: X is empty"),
    (lambda: predict(net(), X, batch_size=0), ValueError,
     r"predict: batch_size=0; expected an int"),
    (lambda: predict(net(), X, batch_size=2.5), TypeError, r"predict: batch_size=2\.5 \(float\)"),
    (lambda: predict(net(), X[:, :3]), ValueError,
     r"predict: X has 3 features \(shape \(20, 3\)\)"),
    (lambda: predict(net(), X[0]), ValueError, r"predict: X has shape \(4,\) \(1-D\)"),
    (lambda: predict(net(), X[:0]), ValueError, r"predict: X is empty"),
    (lambda: predict([net()], X), TypeError, r"predict: net is a list; expected a minicomp Module"),
    (lambda: predict(net(), X.astype(complex)), TypeError, r"predict: X has dtype complex128"),
    # ---- layers and models
    (lambda: MLP([4, 2.7, 3]), TypeError, r"MLP: sizes\[1\]=2\.7 \(float\); expected an int >= 1"),
    (lambda: MLP([4, 0, 3]), ValueError, r"MLP: sizes\[1\]=0; expected an int >= 1"),
    (lambda: MLP([4, "8", 3]), TypeError, r"MLP: sizes\[1\]='8' \(str\)"),
    (lambda: MLP(4), TypeError, r"MLP: sizes=4; expected a sequence of ints"),
    (lambda: MLP("443"), TypeError, r"MLP: sizes='443'; expected a sequence of ints"),
    (lambda: MLP([4]), ValueError, r"MLP: sizes=\[4\]; expected at least \(in, out\)"),
    (lambda: MLP([4, 3], activation="gelu"), ValueError,
     r"MLP: activation='gelu'; expected one of"),
    (lambda: MLP([4, 3], activation=None), ValueError, r"MLP: activation=None"),
    (lambda: MLP([4, 3], init="lecun"), ValueError, r"MLP: init='lecun'; expected one of 'he'"),
    (lambda: MLP([4, 3], seed=True), TypeError, r"MLP: seed=True; expected a non-negative int"),
    (lambda: MLP([4, 3], seed=1.0), TypeError, r"MLP: seed=1\.0"),
    (lambda: Dense(0, 3), ValueError, r"Dense: in_features=0; expected an int >= 1"),
    (lambda: Dense(4, -2), ValueError, r"Dense: out_features=-2; expected an int >= 1"),
    (lambda: Dense(4.0, 3), TypeError, r"Dense: in_features=4\.0 \(float\)"),
    (lambda: Dense(4, 3, init="kaiming"), ValueError, r"Dense: init='kaiming'"),
    (lambda: Dense(4, 3, bias="no"), TypeError,
     r"Dense: bias='no' \(str\); expected True or False"),
    (lambda: Dense(4, 3, seed=True), TypeError, r"Dense: seed=True"),
    (lambda: Dense(4, 3, seed=-1), TypeError, r"Dense: seed=-1; expected a non-negative int"),
    (lambda: Dense(4, 3)(np.zeros((2, 5))), ValueError,
     r"Dense\(4 -> 3, bias=True\): input of shape \(2, 5\); expected \(N, 4\)"),
    (lambda: net()(np.zeros((2, 5))), ValueError,
     r"Dense\(4 -> 8, bias=True\): input of shape \(2, 5\)"),
    (lambda: Dense(4, 3)(np.zeros(4)), ValueError, r"input of shape \(4,\).*reshape\(1, -1\)"),
    (lambda: Dense(4, 3)([["a", "b", "c", "d"]]), TypeError, r"Dense\(4 -> 3.*x has dtype <U1"),
    (lambda: Sequential(Dense(4, 8), ReLU(), Dense(7, 3)), ValueError,
     r"Sequential: layer 2 \(Dense\(7 -> 3.*takes 7 features but layer 0 gives 8"),
    (lambda: Sequential(Dense(4, 8), "relu"), TypeError, r"Sequential: layer 1 is str"),
    (lambda: Sequential(Dense(4, 8), ReLU), TypeError,
     r"Sequential: layer 1 is the class ReLU, expected a Module \(an instance, e\.g\. ReLU\(\)\)"),
    (lambda: Dropout(1.0), ValueError, r"Dropout: p=1\.0; expected a finite number >= 0 and < 1"),
    (lambda: Dropout(True), TypeError, r"Dropout: p=True \(bool\)"),
    (lambda: Dropout("0.5"), TypeError, r"Dropout: p='0\.5' \(str\)"),
    (lambda: Dropout(0.5, seed=1.5), TypeError, r"Dropout: seed=1\.5"),
    (lambda: Parameter([1, 2], dtype=np.int32), TypeError,
     r"Parameter: dtype=.*int32.*float dtype"),
    (lambda: Parameter([1, 2], dtype=None), TypeError, r"Parameter: dtype=None; expected a float"),
    (lambda: Parameter("abc"), TypeError, r"Parameter: data is a str"),
    (lambda: Parameter([1.0, np.nan]), ValueError, r"Parameter: data contains nan at \[1\]"),
    (lambda: net().load_state_dict([1, 2]), TypeError, r"load_state_dict: state is a list; "
                                                       r"expected a dict"),
    (lambda: net().load_state_dict({**net().state_dict(), "0.bias": np.full(8, np.nan)}),
     ValueError, r"load_state_dict: state\['0\.bias'\] contains nan at \[0\]"),
    (lambda: net().load_state_dict(net().state_dict(), strict="no"), TypeError,
     r"load_state_dict: strict='no'"),
    (lambda: net().train("no"), TypeError,
     r"MLP\.train: mode='no' \(str\); expected True or False"),
    (lambda: manual_seed("x"), TypeError, r"manual_seed: seed='x'; expected a non-negative int"),
    # ---- optimizers and schedules
    (lambda: SGD(net(), lr=0.1), TypeError,
     r"SGD: params is a MLP \(a Module\).*net\.parameters\(\)"),
    (lambda: Adam(net()), TypeError, r"Adam: params is a MLP \(a Module\)"),
    (lambda: SGD([], lr=0.1), ValueError, r"SGD: params is empty"),
    (lambda: SGD([np.zeros(3)], lr=0.1), TypeError, r"SGD: params\[0\] is a ndarray; expected a "
                                                    r"Parameter"),
    (lambda: SGD(net().parameters() * 2, lr=0.1), ValueError, r"SGD: params holds the same "
                                                              r"Parameter more than once"),
    (lambda: opt(momentum=1.0), ValueError, r"SGD: momentum=1\.0; expected a finite number >= 0 "
                                            r"and < 1"),
    (lambda: opt(momentum="0.9"), TypeError, r"SGD: momentum='0\.9' \(str\)"),
    (lambda: opt(momentum=-0.1), ValueError, r"SGD: momentum=-0\.1"),
    (lambda: opt(weight_decay=float("nan")), ValueError, r"SGD: weight_decay=nan"),
    (lambda: opt(weight_decay=-1e-4), ValueError, r"SGD: weight_decay=-0\.0001; expected a "
                                                  r"finite number >= 0"),
    (lambda: opt(momentum=0.9, nesterov="yes"), TypeError, r"SGD: nesterov='yes' \(str\)"),
    (lambda: opt(nesterov=True), ValueError, r"SGD: nesterov=True needs momentum > 0"),
    (lambda: SGD(net().parameters(), lr=True), TypeError, r"SGD: lr=True \(bool\)"),
    (lambda: SGD(net().parameters(), lr=float("inf")), ValueError,
     r"SGD: lr=inf; expected a finite"),
    (lambda: SGD(net().parameters(), lr=None), TypeError, r"SGD: lr=None \(NoneType\)"),
    (lambda: Adam(net().parameters(), betas=(0.9, 0.99, 0.1)), ValueError,
     r"Adam: betas=\(0\.9, 0\.99, 0\.1\); expected a pair"),
    (lambda: Adam(net().parameters(), betas=0.9), TypeError, r"Adam: betas=0\.9; expected a pair"),
    (lambda: Adam(net().parameters(), betas=(0.9, float("nan"))), ValueError,
     r"Adam: betas\[1\]=nan"),
    (lambda: Adam(net().parameters(), betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\]=1\.0"),
    (lambda: Adam(net().parameters(), betas=("0.9", 0.999)), TypeError, r"Adam: betas\[0\]='0\.9'"),
    (lambda: Adam(net().parameters(), eps=0), ValueError,
     r"Adam: eps=0\.0; expected a finite number > 0"),
    (lambda: Adam(net().parameters(), weight_decay=-1), ValueError, r"Adam: weight_decay=-1\.0"),
    (lambda: Adam(net().parameters(), decoupled=1), TypeError, r"Adam: decoupled=1 \(int\)"),
    (lambda: StepLR(opt(), step_size=0), ValueError, r"StepLR: step_size=0; expected an int >= 1"),
    (lambda: StepLR(opt(), step_size=1.5), TypeError, r"StepLR: step_size=1\.5 \(float\)"),
    (lambda: StepLR(opt(), step_size=2, gamma=-1), ValueError, r"StepLR: gamma=-1\.0; expected a "
                                                               r"finite number > 0"),
    (lambda: StepLR(opt(), step_size=2, gamma=None), TypeError, r"StepLR: gamma=None"),
    (lambda: CosineLR(opt(), T=0), ValueError, r"CosineLR: T=0; expected an int >= 1"),
    (lambda: CosineLR(opt(), T=10.0), TypeError, r"CosineLR: T=10\.0 \(float\)"),
    (lambda: CosineLR(opt(), T=10, lr_min=1.0), ValueError, r"CosineLR: lr_min=1\.0; expected a "
                                                            r"finite number >= 0 and <= 0\.1"),
    (lambda: CosineLR(net(), T=10), TypeError, r"CosineLR: optimizer is a MLP; expected a minicomp "
                                               r"Optimizer"),
    (lambda: step_schedule(1, 0.1, 0), ValueError, r"step_schedule: step_size=0"),
    (lambda: cosine_schedule(1, 0.1, 0), ValueError, r"cosine_schedule: T=0"),
    (lambda: cosine_schedule(-1, 0.1, 5), ValueError, r"cosine_schedule: t=-1"),
    # ---- the learning rates a scheduler sets, and the schedules' lr0 / lr_min (QA #4)
    (lambda: Scheduler(opt(), lambda t: float("nan")), ValueError,
     r"Scheduler: fn\(0\)=nan; expected a finite number >= 0"),
    (lambda: Scheduler(opt(), lambda t: 0.1 if t == 0 else -1.0).step(), ValueError,
     r"Scheduler: fn\(1\)=-1\.0; expected a finite number >= 0"),
    (lambda: Scheduler(opt(), lambda t: "0.1"), TypeError, r"Scheduler: fn\(0\)='0\.1' \(str\)"),
    (lambda: Scheduler(opt(), lambda t: float("inf")), ValueError, r"Scheduler: fn\(0\)=inf"),
    (lambda: cosine_schedule(0, -0.1, 10), ValueError,
     r"cosine_schedule: lr0=-0\.1; expected a finite number > 0"),
    (lambda: cosine_schedule(0, 0.1, 10, lr_min=-0.01), ValueError,
     r"cosine_schedule: lr_min=-0\.01; expected a finite number >= 0"),
    (lambda: step_schedule(0, 0.0, 2), ValueError,
     r"step_schedule: lr0=0\.0; expected a finite number > 0"),
    # ---- soft targets are probability distributions, with cross-entropy (QA #3)
    (lambda: fit_(X, np.full((20, 3), 5.0)), ValueError,
     r"fit: y row 0 is \[5\., 5\., 5\.\] \(sum 15\); expected a probability distribution"),
    (lambda: evaluate(net(), X, -np.eye(3)[y]), ValueError,
     r"evaluate: y row 0 is \[-1\., -0\., -0\.\] \(sum -1\); expected a probability"),
    (lambda: fit_(X, np.stack([y, y, y], 1)), TypeError,
     r"fit: y has dtype int64 and shape \(20, 3\); expected class labels as a 1-D array"),
    (lambda: fit_(X, np.eye(3)[y] * [[1.2, 1.0, 1.0]]), ValueError, r"fit: y row 0 .*sum 1\.2"),
    (lambda: fit_(validation=(X, np.full((20, 3), 0.5))), ValueError,
     r"fit: y_val row 0 is \[0\.5, 0\.5, 0\.5\] \(sum 1\.5\)"),
    (lambda: F.cross_entropy(np.zeros((64, 3), np.float32), np.full((64, 3), 2 / 3)), ValueError,
     r"cross_entropy: target row 0 is \[0\.6667, 0\.6667, 0\.6667\] \(sum 2\); expected a "
     r"probability distribution per row"),
    (lambda: F.cross_entropy(np.zeros((2, 2), np.float32), [[0.5, 0.5], [1.5, -0.5]]),
     ValueError, r"cross_entropy: target row 1 is \[ ?1\.5, -0\.5\]"),
    (lambda: F.cross_entropy(np.zeros((2, 2), np.float32), [[0.5, 0.5], [np.nan, 1.0]]),
     ValueError, r"cross_entropy: target row 1 is \[nan, +1\.\] \(sum nan\)"),
    # ---- gradcheck checks its arguments up front (QA #6)
    (lambda: gradcheck(lambda a: (a * a).sum(), np.array([np.nan, 1.0])), ValueError,
     r"gradcheck: inputs\[0\] contains nan at \[0\]; expected finite"),
    (lambda: gradcheck(lambda a, b: (a * b).sum(), np.ones(2), [1.0, np.inf]), ValueError,
     r"gradcheck: inputs\[1\] contains inf at \[1\]"),
    (lambda: gradcheck(3, np.ones(2)), TypeError,
     r"gradcheck: fn=3 \(int\); expected a callable.*f must be callable"),
    (lambda: gradcheck(lambda a: a.sum(), [Tensor(np.ones(2))]), TypeError,
     r"gradcheck: inputs\[0\] is a list of Tensors; expected one array or Tensor per argument"),
    (lambda: gradcheck(lambda a: a.sum(), np.ones(2), eps=0), ValueError,
     r"gradcheck: eps=0\.0; expected a finite number > 0"),
    (lambda: gradcheck(lambda a: a.sum(), np.ones(2), atol=-1), ValueError,
     r"gradcheck: atol=-1\.0; expected a finite number >= 0"),
    (lambda: gradcheck(lambda a: a.sum(), np.ones(2), rtol=float("nan")), ValueError,
     r"gradcheck: rtol=nan"),
    (lambda: gradcheck(lambda a: a.sum(), np.array(["a"])), TypeError,
     r"gradcheck: inputs\[0\] has dtype <U1"),
    # ---- Tensor data, the fused linear's message, layer sizes (QA #8, #11, #12)
    (lambda: Tensor(np.array(["a", "b"])), TypeError,
     r"Tensor: data has dtype <U1; expected numbers"),
    (lambda: Tensor(None), TypeError, r"Tensor: data has dtype object; expected numbers"),
    (lambda: Tensor(np.zeros((2, 5))).linear(Tensor(np.zeros((3, 4)))), ValueError,
     r"^linear: input of shape \(2, 5\) does not match weight of shape \(3, 4\); "
     r"expected \(N, 4\)$"),                                     # no reshape hint for 2-D
    (lambda: Tensor(np.zeros(4)).linear(Tensor(np.zeros((3, 4)))), ValueError,
     r"linear: input of shape \(4,\) .*one example: reshape\(1, -1\)"),
    (lambda: MLP([4, 2**40, 3]), ValueError,
     r"Dense: in_features=4 x out_features=1099511627776 = 4398046511104 weights; expected at "
     r"most 2\*\*31"),
    (lambda: Dense(2**16, 2**16), ValueError, r"Dense: in_features=65536 x out_features=65536"),
    # ---- validate.choice: NumPy ints and strs equal to an option are fine, bools are not (#14)
    (lambda: choice(np.int64(3), "p", (1, 2), where="norm_scores"), ValueError,
     r"norm_scores: p=(np\.int64\()?3\)?; expected one of 1, 2"),
    (lambda: choice(np.bool_(True), "p", (1, 2)), ValueError, r"p=(np\.)?True_?; expected"),
    (lambda: choice(1.0, "p", (1, 2)), ValueError, r"p=1\.0; expected one of 1, 2"),
    # ---- data: batches, splits, datasets, generators
    (lambda: batches(X, y, 0), ValueError, r"batches: batch_size=0; expected an int >= 1"),
    (lambda: batches(X, y, batch_size=None), TypeError, r"batches: batch_size=None"),
    (lambda: batches("abc"), TypeError, r"batches: X is a str; expected an array"),
    (lambda: batches(5), ValueError, r"batches: X is a scalar \(5\)"),
    (lambda: batches(X, y.astype(str)), TypeError, r"batches: y has dtype <U\d+"),
    (lambda: batches(X, y[:3]), ValueError, r"batches: X has 20 samples but y has 3"),
    (lambda: batches(X, shuffle="no"), TypeError, r"batches: shuffle='no' \(str\)"),
    (lambda: batches(X, seed=2.5), TypeError, r"batches: seed=2\.5"),
    (lambda: num_batches(10, 3, drop_last="yes"), TypeError, r"num_batches: drop_last='yes'"),
    (lambda: num_batches(10.0, 3), TypeError, r"num_batches: n=10\.0 \(float\)"),
    (lambda: train_test_split(X, y[:4]), ValueError,
     r"train_test_split: X has 20 samples but y has 4"),
    (lambda: train_test_split(X[:0], y[:0]), ValueError, r"train_test_split: X is empty"),
    (lambda: train_test_split(X_nan, y), ValueError,
     r"train_test_split: X contains nan at \[3, 2\]"),
    (lambda: train_test_split(X, y + 0.5), ValueError,
     r"train_test_split: y \(stratify=True\) holds non-integer values"),
    (lambda: train_test_split(X, y, test_size=25), ValueError,
     r"train_test_split: test_size=25\.0"),
    (lambda: train_test_split(X, y, test_size="0.2"), TypeError,
     r"train_test_split: test_size='0\.2'"),
    (lambda: train_test_split(X, y, stratify="yes"), TypeError,
     r"train_test_split: stratify='yes'"),
    (lambda: Dataset(X, y, X, y + 5, "toy", 3), ValueError, r"Dataset 'toy': y_test contains the "
                                                            r"label 7; expected labels in 0\.\.2"),
    (lambda: Dataset(X, y, X, y, "toy", 0), ValueError, r"Dataset 'toy': num_classes=0"),
    (lambda: Dataset(X_nan, y, X, y, "toy", 3), ValueError, r"Dataset 'toy': X_train contains nan"),
    (lambda: make_blobs(std=True), TypeError, r"make_blobs: std=True \(bool\)"),
    (lambda: make_blobs(n_samples=2, num_classes=3), ValueError, r"make_blobs: n_samples=2; "
                                                                 r"expected an int >= 3"),
    (lambda: make_spirals(noise=float("inf")), ValueError, r"make_spirals: noise=inf"),
    (lambda: make_spirals(seed=None), TypeError, r"make_spirals: seed=None"),
    (lambda: load_digits(standardize="yes"), TypeError, r"load_digits: standardize='yes'"),
    (lambda: load_digits(test_size=0.0), ValueError, r"load_digits: test_size=0\.0"),
    (lambda: load_mnist1d(seed=2**32), ValueError, r"load_mnist1d: seed=4294967296; expected an "
                                                   r"int >= 0 and <= 4294967295"),
    (lambda: load_mnist1d(train_split=1), ValueError, r"load_mnist1d: train_split=1\.0"),
    (lambda: read_idx(["a"]), TypeError,
     r"read_idx: path is a list; expected a str or os\.PathLike"),
    (lambda: read_idx(""), ValueError, r"read_idx: path=''; expected a non-empty path"),
    (lambda: load_mnist(None), TypeError, r"load_mnist: path is a NoneType"),
    (lambda: write_idx("x.idx", [[1, 2], [3]]), ValueError,
     r"write_idx: array cannot be made into an array"),
    (lambda: write_idx("x.idx", ["a"]), TypeError, r"write_idx: array has dtype <U1"),
    # ---- metrics
    (lambda: accuracy(np.zeros((3, 2)), [0, 1]), ValueError,
     r"accuracy: y_hat has 3 predictions \(shape \(3, 2\)\) but y has 2 labels"),
    (lambda: accuracy(np.zeros((0, 2)), []), ValueError, r"accuracy: y_hat is empty"),
    (lambda: accuracy(np.zeros((2, 2)), [0, 2]), ValueError, r"accuracy: y contains the label 2; "
                                                             r"expected labels in 0\.\.1"),
    (lambda: accuracy(np.zeros((2, 2, 2)), [0, 1]), ValueError, r"accuracy: y_hat has shape "
                                                                r"\(2, 2, 2\) \(3-D\)"),
    (lambda: accuracy(np.array([0.2, 0.7]), [0, 1]), ValueError,
     r"accuracy: y_hat holds non-integer values \(e\.g\. 0\.2\)"),
    (lambda: accuracy(np.zeros((2, 2)), np.eye(2)), ValueError, r"accuracy: y has shape \(2, 2\) "
                                                                r"\(2-D\); expected a 1-D"),
    (lambda: accuracy("ab", [0, 1]), TypeError, r"accuracy: y_hat is a str"),
    (lambda: accuracy(np.array([[0.1, np.nan]]), [0]), ValueError,
     r"accuracy: y_hat contains nan at \[0, 1\]; expected scores"),
    (lambda: count_parameters("net"), TypeError, r"count_parameters: net is a str; expected a "
                                                 r"minicomp Module"),
    (lambda: storage_bytes(net().parameters()), ValueError,
     r"storage_bytes: x cannot be made into an array .*expected a rectangular array"),
    (lambda: storage_bytes(None), TypeError, r"storage_bytes: x is a NoneType"),
    (lambda: storage_bytes((4, 2.5)), TypeError, r"storage_bytes: x=\(4, 2\.5\) is not a shape "
                                                 r"\(int, float\); expected two positive ints"),
    (lambda: storage_bytes(net(), "dense", granularity="tensor"), ValueError,
     r"storage_bytes: granularity='tensor' with fmt='dense'; expected None"),
    # ---- labels: the range checked on the values given, before any int64 cast (QA #5)
    (lambda: labels([1e20], num_classes=3), ValueError,
     r"^y contains the label 1e\+20; expected labels in 0\.\.2$"),
    (lambda: labels(np.array([-1e20, 0.0])), ValueError,
     r"y contains the label -1e\+20; expected labels >= 0"),
    (lambda: labels(np.array([2**64 - 1], np.uint64)), ValueError,
     r"y contains the label 18446744073709551615; expected labels >= 0"),
    (lambda: fit_(X, np.full(20, 1e20)), ValueError,
     r"fit: y contains the label 1e\+20; expected labels in 0\.\.2"),
    (lambda: accuracy(np.zeros((1, 3)), [9.3e18]), ValueError,
     r"accuracy: y contains the label 9\.3e\+18; expected labels in 0\.\.2"),
    # ---- functional: labels out of range in the loss itself
    (lambda: F.cross_entropy(np.zeros((2, 10), np.float32), [0, 10]), ValueError,
     r"cross_entropy: label 10 \(at index 1\) is out of range; expected 0 <= label < 10"),
]


@pytest.mark.parametrize("call, error, message", CASES,
                         ids=[f"{i:03d}-{m[:40]}" for i, (_, _, m) in enumerate(CASES)])
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_battery_is_large_enough():
    assert len(CASES) >= 60


# ---------------------------------------------------------------- NaN is input, not divergence

def test_nan_input_is_not_reported_as_divergence():
    with pytest.raises(ValueError, match="X contains nan") as info:
        fit_(X_nan, y, lr=0.1)
    assert not isinstance(info.value, TrainingDiverged)
    assert "learning rate" not in str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_real_divergence_still_blames_the_learning_rate():
    X_big = np.repeat(X, 5, axis=0) * 1e20                           # finite, overflows the logits
    with pytest.raises(TrainingDiverged, match=r"smaller learning rate \(lr=10\.0\)"):
        fit(net(), X_big, np.repeat(y, 5), lr=10.0, epochs=2, quiet=True)


def test_evaluate_never_reports_an_accuracy_next_to_a_nan_loss():
    with pytest.raises(ValueError, match="nan"):
        evaluate(net(), X_nan, y)
    broken = net()
    broken[0].W.data[0, 0] = np.nan                    # finite input, NaN outputs: no accuracy
    with np.errstate(invalid="ignore"):
        result = evaluate(broken, X, y)
    assert np.isnan(result["loss"]) and np.isnan(result["accuracy"])


# ---------------------------------------------------------------- load_mnist on bad files

def _mnist_dir(directory, n_train=5, n_test=3):
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", np.zeros((n, 4, 4), np.uint8))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)
    return directory


def test_load_mnist_with_zero_images_says_so(tmp_path):
    _mnist_dir(tmp_path, n_train=0)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte holds 0 images of 4x4 pixels"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_file(tmp_path):
    _mnist_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated: expected 48 bytes"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_gzip(tmp_path):
    _mnist_dir(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(path.read_bytes())[:-6])
    path.unlink()
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: corrupt or truncated gzip"):
        load_mnist(tmp_path)


def test_load_mnist_wrong_magic(tmp_path):
    _mnist_dir(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: bad magic number 0x12340801"):
        load_mnist(tmp_path)


def test_load_mnist_mismatched_counts(tmp_path):
    _mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"has 3 images but .*t10k-labels-idx1-ubyte has 2 labels"):
        load_mnist(tmp_path)


def test_load_mnist_and_read_idx_on_the_wrong_kind_of_path(tmp_path):
    _mnist_dir(tmp_path)
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError, match=r"load_mnist: path=.*no-such-dir' does not exist"):
        load_mnist(missing)
    with pytest.raises(NotADirectoryError, match=r"train-images-idx3-ubyte' is not a directory"):
        load_mnist(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(IsADirectoryError, match=rf"read_idx: {tmp_path} is a directory"):
        read_idx(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"read_idx: no such file: .*no-such-dir"):
        read_idx(missing)
    with pytest.raises(TypeError, match=r"load_mnist: normalize='yes'"):
        load_mnist(tmp_path, normalize="yes")


# ---------------------------------------------------------------- good but unusual: accepted

def _weights(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def test_numpy_scalars_are_numbers_everywhere():
    plain, numpy_ = net(), net()
    fit(plain, X, y, lr=0.1, epochs=2, batch_size=8, seed=1, early_stopping=3, quiet=True)
    fit(numpy_, X, y, lr=np.float32(0.1), epochs=np.int64(2), batch_size=np.int32(8),
        seed=np.int64(1), early_stopping=np.int64(3), quiet=np.bool_(True))
    np.testing.assert_allclose(_weights(numpy_), _weights(plain), rtol=1e-6)
    params = net().parameters()
    SGD(params, lr=np.float64(0.1), momentum=np.float32(0.9), weight_decay=np.float16(1e-4),
        nesterov=np.bool_(True))
    adam = Adam(params, lr=np.float32(1e-3), betas=np.array([0.9, 0.999]), eps=np.float64(1e-8))
    assert adam.betas == pytest.approx((0.9, 0.999))
    StepLR(SGD(params, lr=0.1), step_size=np.int64(2), gamma=np.float32(0.5))
    CosineLR(SGD(params, lr=0.1), T=np.uint8(3), lr_min=np.float64(0.0))
    assert MLP(np.array([4, 8, 3])).sizes == [4, 8, 3]
    assert Dense(np.int64(4), np.int32(3), seed=np.uint16(2)).W.shape == (3, 4)
    assert Dropout(np.float32(0.25), seed=np.int64(0)).p == 0.25
    assert len(list(batches(X, y, batch_size=np.uint8(8)))) == 3
    assert num_batches(np.int16(20), np.int64(8)) == 3
    np.testing.assert_array_equal(train_test_split(X, y, test_size=np.float32(0.25))[1],
                                  train_test_split(X, y, test_size=0.25)[1])


def test_tensors_numpy_choices_and_a_cosine_end_at_zero_are_accepted():
    model = net()                                    # QA #13: a Tensor is data, like an array
    history = fit(model, Tensor(X), y, epochs=2, quiet=True, validation=(Tensor(X), y))
    assert len(history.val_loss) == 2
    np.testing.assert_array_equal(predict(model, Tensor(X)), predict(model, X))
    assert evaluate(model, Tensor(X), y) == evaluate(model, X, y)
    assert choice(np.int64(2), "p", (1, 2)) == 2 and type(choice(np.int64(2), "p", (1, 2))) is int
    assert choice(np.str_("xavier"), "init", ("he", "xavier")) == "xavier"         # QA #14
    assert Dense(4, 3, init=np.str_("xavier")).init == "xavier"
    assert MLP([4, 3], activation=np.str_("tanh")).activation == "tanh"
    optimizer = SGD(net().parameters(), lr=0.1)      # QA #4: lr 0 ends a cosine to lr_min=0
    scheduler = CosineLR(optimizer, T=2)
    scheduler.step()
    scheduler.step()
    assert optimizer.lr == 0.0
    with pytest.raises(ValueError, match=r"CosineLR: optimizer\.lr=0\.0; expected a finite "
                                         r"number > 0"):
        CosineLR(optimizer, T=2)                     # a new decay from 0: refused, clearly
    model = net()
    optimizer = SGD(model.parameters(), lr=0.1)
    fit(model, X, y, optimizer=optimizer, scheduler=CosineLR(optimizer, T=1), epochs=1,
        quiet=True)                                  # fit steps it to 0 after the last epoch
    assert optimizer.lr == 0.0
    soft = np.eye(3)[y] * (1 + 5e-5)                 # rows sum to 1 within 1e-4: accepted
    fit_(X, soft.astype(np.float32), epochs=1)
    fit(MLP([4, 3]), X, np.stack([y, y, y], 1), loss="mse", epochs=1, quiet=True)   # mse: free
    assert gradcheck(lambda a: (a * a).sum(), Tensor(np.array([1.0, -2.0])))


def test_ints_where_floats_are_fine():
    SGD(net().parameters(), lr=1, momentum=0, weight_decay=0)
    fit_(lr=1, epochs=1)
    assert Dropout(0).p == 0.0


def test_python_lists_and_float64_inputs_on_a_float32_net():
    model = net()
    history = fit(model, X.astype(np.float64).tolist(), y.tolist(), epochs=2, quiet=True,
                  validation=(X.tolist(), list(y)))
    assert len(history.val_loss) == 2
    assert all(p.dtype == np.float32 for p in model.parameters())
    out = predict(model, X.astype(np.float64))
    assert out.dtype == np.float32 and out.shape == (20, 3)
    np.testing.assert_array_equal(predict(model, X.tolist()), out)
    assert evaluate(model, X.tolist(), y.tolist()) == evaluate(model, X, y)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16, np.int64, np.float32])
def test_labels_of_any_integer_dtype_or_whole_floats(dtype):
    model = net()
    fit(model, X, y.astype(dtype), epochs=1, quiet=True)
    expected = evaluate(model, X, y)
    assert evaluate(model, X, y.astype(dtype)) == expected
    assert accuracy(predict(model, X), y.astype(dtype)) == expected["accuracy"]


def test_integer_pixels_and_unusual_but_valid_containers():
    pixels = RNG.integers(0, 256, size=(20, 4), dtype=np.uint8)
    fit_(pixels, y, epochs=1)                                          # cast to float32
    fit_(X, tuple(y), epochs=1, callbacks=None)                        # tuple labels, no callbacks
    fit_(X, y, epochs=1, callbacks=(lambda step: None,), validation=[X, y])
    assert predict(net(), pixels).dtype == np.float32


def test_soft_targets_mse_and_custom_losses_still_work():
    soft = F.softmax(RNG.normal(size=(20, 3))).data.astype(np.float64)  # (N, C) rows sum to 1
    fit_(X, soft, epochs=1)
    fit(MLP([4, 2]), X, RNG.normal(size=(20, 2)), loss="mse", epochs=1, quiet=True)
    fit_(X, y, epochs=1, loss=lambda y_hat, t: F.cross_entropy(y_hat, t))


def test_accuracy_accepts_masked_scores_and_label_predictions():
    scores = np.array([[-np.inf, 1.0], [2.0, -np.inf]])               # a masked class is -inf
    assert accuracy(scores, [1, 0]) == 1.0
    assert accuracy(np.array([1, 0, 2]), np.array([1, 1, 2], np.uint8)) == pytest.approx(2 / 3)


def test_io_features_and_layer_inputs():
    assert io_features(net()) == (4, 3)
    assert io_features(Sequential(Dropout(0.1), Dense(5, 2), ReLU())) == (5, 2)
    assert Dense(4, 3)([[1, 2, 3, 4]]).shape == (1, 3)               # a list row is fine
    assert Dense(4, 3)(np.zeros((0, 4))).shape == (0, 3)             # so is an empty batch


def test_empty_batches_are_still_an_empty_iterator():
    assert list(batches(np.zeros((0, 3)), batch_size=4)) == []


def test_labels_in_range_keep_their_values_and_dtype():
    assert labels([2.0, 0.0], num_classes=3).tolist() == [2, 0]
    assert labels([2.0, 0.0], num_classes=3).dtype == np.int64
    assert labels(np.array([2**62], np.uint64)).tolist() == [2**62]          # no wrap
    assert labels(np.array([7], np.uint8), num_classes=8).tolist() == [7]
    assert storage_bytes((np.int64(3), 4)) == storage_bytes((3, 4)) == 4 * (12 + 3)
