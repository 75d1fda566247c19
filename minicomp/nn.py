"""Layers and models: Module, Parameter, Dense, activations, Sequential, MLP.

The convention that everything else in minicomp relies on:

- :class:`Dense` stores ``W`` with shape ``(out_features, in_features)`` and
  computes ``y = x @ W.T + b``. So ``W[i, j]`` is the weight from input j to
  neuron i -- exactly :math:`w_{ij}` in the pruning formula
  :math:`R_i = \\sum_j |w_{ij} y_j|` -- and a PyTorch ``nn.Linear`` state dict
  (``weight`` of shape (out, in)) loads without any transpose.
- ``state_dict()`` uses PyTorch's key names (``"0.weight"``, ``"0.bias"``,
  ...), so ``MLP([64, 64, 10]).load_state_dict(torch_net.state_dict())``
  works for the matching ``nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)``.
- A :class:`Parameter` may carry a ``mask`` (same shape, 0/1). The
  optimizers in :mod:`minicomp.optim` honour it after every step: masked
  weights, their gradients and their optimizer state stay exactly zero.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import functional as F
from . import validate as check
from .tensor import Tensor

_default_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the generator used by layers created without a ``seed``."""
    global _default_rng
    _default_rng = check.rng(seed, where="manual_seed")


def _rng(seed, where) -> np.random.Generator:
    """None: the package generator; else an int seed or a Generator (checked)."""
    return _default_rng if seed is None else check.rng(seed, where=where)


class Parameter(Tensor):
    """A trainable Tensor: float32 by default, ``requires_grad=True``, optional ``mask``."""

    __slots__ = ("mask",)

    def __init__(self, data, dtype=np.float32):
        try:
            kind = np.dtype(dtype).kind if dtype is not None else None
        except TypeError:
            kind = None
        if kind != "f":
            raise TypeError(f"Parameter: dtype={dtype!r}; expected a float dtype, e.g. np.float32")
        data = check.array(data, "data", nonempty=False, where="Parameter")
        super().__init__(np.array(data, dtype=dtype), requires_grad=True)
        self.mask = None

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: finds Parameters and sub-Modules among its attributes.

    Subclasses implement ``forward`` and, to be saved with
    :func:`minicomp.save`, ``config()`` returning their constructor
    arguments.
    """

    training = True
    _state_names: dict = {}          # attribute name -> state_dict key, e.g. {"W": "weight"}
    registry: dict = {}              # class name -> class, for loading saved models

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Module.registry[cls.__name__] = cls

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    # ---- traversal ---------------------------------------------------------
    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def modules(self):
        """This module and every module inside it, depth first."""
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def named_parameters(self, prefix: str = ""):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + self._state_names.get(name, name), value
        for name, child in self.named_children():
            yield from child.named_parameters(f"{prefix}{name}.")

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True):
        mode = check.flag(mode, "mode", where=f"{type(self).__name__}.train")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    # ---- state -------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of every parameter, keyed like PyTorch (``"0.weight"``)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays (NumPy or PyTorch tensors) into the parameters, in place, times any mask.

        Raises
        ------
        KeyError
            ``strict`` and a key is missing or unexpected.
        TypeError
            ``state`` is not a dict, or a value is not an array of numbers.
        ValueError
            A shape differs (the message names the key and both shapes), or a
            value holds NaN or inf.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: state is a {type(state).__name__}; expected a "
                            "dict of arrays, e.g. net.state_dict()")
        strict = check.flag(strict, "strict", where="load_state_dict")
        params = dict(self.named_parameters())
        if strict:
            missing, unexpected = params.keys() - state.keys(), state.keys() - params.keys()
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing keys {sorted(missing)}, "
                               f"unexpected keys {sorted(unexpected)}")
        for name, p in params.items():
            if name not in state:
                continue
            value = state[name]
            if hasattr(value, "detach"):               # a torch.Tensor
                value = value.detach().cpu().numpy()
            value = check.array(value, f"state[{name!r}]", nonempty=False, where="load_state_dict")
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {value.shape}, "
                                 f"the model expects {p.shape}")
            p.data[...] = value if getattr(p, "mask", None) is None else value * p.mask

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def config(self) -> dict:
        return {}

    # ---- printing ----------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Dense(Module):
    r"""Fully connected layer :math:`y = x W^\top + b`.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {"he", "xavier"}
        He (Kaiming) normal, :math:`W \sim \mathcal N(0, 2/\text{in})`, for ReLU nets (He et
        al. 2015); Xavier (Glorot) uniform, :math:`W \sim U(\pm\sqrt{6/(\text{in}+\text{out})})`
        for tanh/sigmoid (Glorot & Bengio 2010). Biases start at 0.
    seed : int, Generator or None
        None draws from the package generator (see :func:`manual_seed`).

    Raises
    ------
    TypeError, ValueError
        A size that is not an int >= 1 (NumPy ints are fine, floats and bools not) or
        in*out over 2**31 weights, an unknown ``init``, a bad ``seed``; in ``forward``, an
        input not (N, in_features) (names the layer). NaN/inf are not: called directly, a layer
        (or a net of them) computes on whatever it is given; the checks are at the entry points
        (fit, evaluate, predict, the techniques, ``to_inference(...).predict``).
    """

    _state_names = {"W": "weight", "b": "bias"}

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str = "he", seed=None):
        in_features = check.integer(in_features, "in_features", low=1, where="Dense")
        out_features = check.integer(out_features, "out_features", low=1, where="Dense")
        if in_features * out_features > 2**31:                 # before NumPy tries to allocate
            raise ValueError(f"Dense: in_features={in_features} x out_features={out_features} "
                             f"= {in_features * out_features} weights; expected at most 2**31")
        bias = check.flag(bias, "bias", where="Dense")
        init = check.choice(init, "init", ("he", "xavier"), where="Dense")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        rng = _rng(seed, "Dense")
        if init == "he":
            W = rng.standard_normal((out_features, in_features)) * np.sqrt(2.0 / in_features)
        else:
            limit = np.sqrt(6.0 / (in_features + out_features))
            W = rng.uniform(-limit, limit, (out_features, in_features))
        self.W = Parameter(W)                                  # (out, in)
        self.b = Parameter(np.zeros(out_features)) if bias else None   # (out,)

    def forward(self, x):
        if not isinstance(x, Tensor):
            check.array(x, "x", nonempty=False, finite=False, where=repr(self))  # numbers only
            x = Tensor(x)                                      # Tensor picks the dtype
        if x.ndim != 2 or x.shape[1] != self.in_features:
            hint = "; one example: reshape(1, -1)" if x.ndim == 1 else ""
            raise ValueError(f"{self!r}: input of shape {x.shape}; expected (N, "
                             f"{self.in_features}), {self.in_features} features per row{hint}")
        return x.linear(self.W, self.b)                        # (N, in) -> (N, out)

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.b is not None, "init": self.init}

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}, bias={self.b is not None}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)

    @staticmethod
    def numpy(h):
        return np.maximum(h, 0)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)

    @staticmethod
    def numpy(h):
        return 0.5 * (1.0 + np.tanh(0.5 * h))     # = 1/(1 + e^-h), the form F.sigmoid uses


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)

    @staticmethod
    def numpy(h):
        return np.tanh(h)


class Identity(Module):
    def forward(self, x):
        return x

    @staticmethod
    def numpy(h):
        return h


class Dropout(Module):
    """Inverted dropout: in training, zero each input with probability ``p`` and
    scale the rest by ``1/(1-p)``; in eval mode, do nothing (Srivastava et al. 2014)."""

    def __init__(self, p: float = 0.5, seed=None):
        self.p = check.number(p, "p", low=0.0, high=1.0, high_open=True, where="Dropout")
        self.rng = np.random.default_rng() if seed is None else check.rng(seed, where="Dropout")
        self.seed = seed if seed is None or isinstance(seed, np.random.Generator) else int(seed)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not self.training or self.p == 0.0:
            return x
        keep = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1.0 - self.p)
        return x * keep

    def config(self):
        return {"p": self.p, "seed": self.seed if isinstance(self.seed, int) else None}

    @staticmethod
    def numpy(h):
        return h                                 # inference: dropout is the identity

    def extra_repr(self):
        return f"p={self.p}"


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity}
SAME_WIDTH = (ReLU, Sigmoid, Tanh, Identity, Dropout)     # layers that keep the width


class Sequential(Module):
    """Apply layers in order. Children are named ``"0"``, ``"1"``, ... like PyTorch."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        last = None                    # (index, output width) of the last layer with one
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                what = f"the class {layer.__name__}" if isinstance(layer, type) else \
                    type(layer).__name__
                raise TypeError(f"Sequential: layer {i} is {what}, expected a Module "
                                "(an instance, e.g. ReLU())")
            if isinstance(layer, SAME_WIDTH):
                continue
            n_in, n_out = io_features(layer)
            if last and None not in (n_in, last[1]) and n_in != last[1]:
                raise ValueError(f"Sequential: layer {i} ({type(layer).__name__}("
                                 f"{layer.extra_repr()})) takes {n_in} features but layer "
                                 f"{last[0]} gives {last[1]}; expected the same width")
            last = (i, n_out)
        self.layers = list(layers)

    def named_children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def config(self):
        return {"layers": [{"type": type(m).__name__, "config": m.config()} for m in self.layers]}


class MLP(Sequential):
    """Dense layers of ``sizes`` with ``activation`` between them (none after the last).

    ``MLP([64, 64, 64, 10])`` is the seeds' baseline (hidden 64-64); its
    layer indices are 0, 2, 4 for the Dense layers, as in the equivalent
    ``torch.nn.Sequential``. With ``activation="identity"`` no activation
    layers are inserted (Dense layers at 0, 1, 2, ...).

    Parameters
    ----------
    sizes : sequence of int
        Input size, hidden sizes..., output size (at least two numbers).
    activation : {"relu", "sigmoid", "tanh", "identity"}
    init : {"he", "xavier"}, optional
        Default: "he" for relu, "xavier" otherwise.
    seed : int or Generator
        Seeds every layer's initialisation (same seed, same weights).

    Raises
    ------
    TypeError, ValueError
        ``sizes`` not a sequence of ints >= 1 (``[4, 2.7, 3]`` is refused, not
        truncated), an unknown ``activation`` or ``init``, a bad ``seed``.
    """

    def __init__(self, sizes, activation: str = "relu", init=None, seed=0):
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"MLP: sizes={sizes!r}; expected a sequence of ints, e.g. "
                            "[64, 64, 10]")
        sizes = [check.integer(s, f"sizes[{i}]", low=1, where="MLP") for i, s in enumerate(sizes)]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes={sizes}; expected at least (in, out)")
        activation = check.choice(activation, "activation", ACTIVATIONS, where="MLP")
        if init is None:
            init = "he" if activation == "relu" else "xavier"
        init = check.choice(init, "init", ("he", "xavier"), where="MLP")
        rng = _rng(seed, "MLP")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Dense(n_in, n_out, init=init, seed=rng))
            if i < len(sizes) - 2 and activation != "identity":
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.sizes, self.activation, self.init = sizes, activation, init

    def config(self):
        return {"sizes": self.sizes, "activation": self.activation, "init": self.init}


def io_features(net) -> tuple:
    """``(in_features, out_features)`` of ``net`` as far as its structure tells.

    A layer with ``in_features``/``out_features`` (Dense) gives both; a
    :class:`Sequential` takes them from its first and last layers that are
    not activations or dropout; anything else gives ``None`` for what it
    does not say. :func:`minicomp.fit` checks the data's width against it.

    Examples
    --------
    >>> io_features(MLP([4, 8, 3]))
    (4, 3)
    >>> io_features(ReLU())
    (None, None)
    """
    if isinstance(net, Sequential):
        layers = [m for m in net.layers if not isinstance(m, SAME_WIDTH)]
        return (io_features(layers[0])[0], io_features(layers[-1])[1]) if layers else (None, None)
    n_in, n_out = getattr(net, "in_features", None), getattr(net, "out_features", None)
    return (n_in if isinstance(n_in, int) else None, n_out if isinstance(n_out, int) else None)
