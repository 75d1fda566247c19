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

import numpy as np

from . import functional as F
from .tensor import Tensor

_default_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the generator used by layers created without a ``seed``."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def _rng(seed) -> np.random.Generator:
    if seed is None:
        return _default_rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, an int or a numpy Generator, got {seed!r}")


class Parameter(Tensor):
    """A trainable Tensor: float32 by default, ``requires_grad=True``, optional ``mask``."""

    __slots__ = ("mask",)

    def __init__(self, data, dtype=np.float32):
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
        """Copy arrays (NumPy or PyTorch tensors) into the parameters, in place.

        Raises
        ------
        KeyError
            ``strict`` and a key is missing or unexpected.
        ValueError
            A shape differs (the message names the key and both shapes).
        """
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
            value = np.asarray(value)
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {value.shape}, "
                                 f"the model expects {p.shape}")
            p.data[...] = value

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
        He (Kaiming) normal, :math:`W \sim \mathcal N(0, 2/\text{in})`, for
        ReLU nets (He et al. 2015); Xavier (Glorot) uniform,
        :math:`W \sim U(\pm\sqrt{6/(\text{in}+\text{out})})`, for tanh/sigmoid
        (Glorot & Bengio 2010). Biases start at 0.
    seed : int, Generator or None
        None draws from the package generator (see :func:`manual_seed`).
    """

    _state_names = {"W": "weight", "b": "bias"}

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str = "he", seed=None):
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Dense: {arg} must be a positive int, got {v!r}")
        if init not in ("he", "xavier"):
            raise ValueError(f"Dense: init={init!r}; expected 'he' or 'xavier'")
        self.in_features, self.out_features, self.init = int(in_features), int(out_features), init
        rng = _rng(seed)
        if init == "he":
            W = rng.standard_normal((out_features, in_features)) * np.sqrt(2.0 / in_features)
        else:
            limit = np.sqrt(6.0 / (in_features + out_features))
            W = rng.uniform(-limit, limit, (out_features, in_features))
        self.W = Parameter(W)                                  # (out, in)
        self.b = Parameter(np.zeros(out_features)) if bias else None   # (out,)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)          # linear checks the shapes
        return x.linear(self.W, self.b)                        # (N, in) -> (N, out)

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.b is not None, "init": self.init}

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}, bias={self.b is not None}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Identity(Module):
    def forward(self, x):
        return x


class Dropout(Module):
    """Inverted dropout: in training, zero each input with probability ``p`` and
    scale the rest by ``1/(1-p)``; in eval mode, do nothing (Srivastava et al. 2014)."""

    def __init__(self, p: float = 0.5, seed=None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p={p!r}; expected 0 <= p < 1")
        self.p, self.seed = float(p), seed
        self.rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not self.training or self.p == 0.0:
            return x
        keep = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1.0 - self.p)
        return x * keep

    def config(self):
        return {"p": self.p, "seed": self.seed if isinstance(self.seed, int) else None}

    def extra_repr(self):
        return f"p={self.p}"


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity}


class Sequential(Module):
    """Apply layers in order. Children are named ``"0"``, ``"1"``, ... like PyTorch."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is {type(layer).__name__}, "
                                f"expected a Module")
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
    """

    def __init__(self, sizes, activation: str = "relu", init=None, seed=0):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes={sizes}; expected at least (in, out)")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation={activation!r}; expected one of {list(ACTIVATIONS)}")
        init = init or ("he" if activation == "relu" else "xavier")
        rng = _rng(seed)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Dense(n_in, n_out, init=init, seed=rng))
            if i < len(sizes) - 2 and activation != "identity":
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.sizes, self.activation, self.init = sizes, activation, init

    def config(self):
        return {"sizes": self.sizes, "activation": self.activation, "init": self.init}
