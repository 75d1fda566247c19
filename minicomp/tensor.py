"""A tiny reverse-mode autograd engine on NumPy arrays.

This is micrograd (Karpathy, 2020) with arrays instead of scalars. A
:class:`Tensor` holds ``data`` (an ``np.ndarray``) and, after
:meth:`Tensor.backward`, ``grad`` (an array of the same shape). Every
primitive op below computes its output and attaches a ``_backward`` closure
that *adds* the op's local gradient into the gradients of its parents
(the chain rule, one edge at a time)::

    out = f(a, b)                      # forward
    a.grad += dL/d(out) * d(out)/da    # out._backward()

The primitives are: add, mul, neg, pow, matmul, exp, log, tanh, relu,
sum, mean, max, reshape, transpose, indexing, where and clip -- plus one
fused op, ``linear`` (``x @ W.T + b``), kept for speed: it equals its
composite and saves two graph nodes per dense layer. Everything else
(``a - b``, ``a / b``, sigmoid, softmax, cross-entropy, ...) is composed of
them in :mod:`minicomp.functional` and has no backward code of its own.

A new primitive follows the pattern of ``relu`` below: ``Tensor._make`` the
output, then give it a ``_backward`` closure that calls ``accumulate``.

Conventions: ``data`` is float32 by default, float64 if you pass float64
(gradcheck); gradients of broadcast operands are summed back to the
operand's shape (:func:`unbroadcast`); ``.grad`` is ``None`` until a
backward pass reaches the tensor and is never modified in place; inside
``with no_grad():`` no graph is recorded.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

_mode = threading.local()      # grad mode is per thread (as in PyTorch): threads train apart


@contextmanager
def no_grad():
    """Context manager: ops inside record no graph (inference, updates), in this thread."""
    previous, _mode.enabled = is_grad_enabled(), False
    try:
        yield
    finally:
        _mode.enabled = previous


def is_grad_enabled() -> bool:
    """True unless this thread is inside a :func:`no_grad` block."""
    return getattr(_mode, "enabled", True)


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched.

    If ``a`` of shape (3, 1) was broadcast to (2, 3, 4), the gradient for
    ``a`` is the (2, 3, 4) gradient summed over axis 0 and over axis 2.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))          # drop leading axes
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _expand(g: np.ndarray, shape: tuple, axis, keepdims) -> np.ndarray:
    """Broadcast ``g``, the gradient of a reduction over ``axis``, back to ``shape``."""
    if not keepdims and axis is not None:
        g = np.expand_dims(g, axis)                    # put the reduced axes back
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def accumulate(t: Tensor, g: np.ndarray) -> None:
    # never in place: `g` may be shared with another parent (see add)
    t.grad = g if t.grad is None else t.grad + g


class Tensor:
    """An array that remembers how it was computed, for reverse-mode autodiff.

    ``data``: floating arrays keep their dtype, anything else (numbers, lists,
    integer arrays) becomes float32 unless ``dtype`` is given.
    ``requires_grad``: whether :meth:`backward` computes ``grad`` for it.
    """

    __slots__ = ("data", "grad", "requires_grad", "_prev", "_backward", "_op")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        data = data.data if isinstance(data, Tensor) else data
        keep = isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind == "f"
        arr = np.asarray(data)
        if arr.dtype.kind not in "biuf":               # strings, objects, complex: not numbers
            raise TypeError(f"Tensor: data has dtype {arr.dtype}; expected numbers (int, "
                            "float or bool)")
        self.data = arr.astype(dtype or (arr.dtype if keep else np.float32), copy=False)
        self.grad, self._backward, self._prev, self._op = None, None, (), ""
        self.requires_grad = bool(requires_grad)

    # ---- graph plumbing -------------------------------------------------
    @staticmethod
    def _make(data, parents, op):
        """Output tensor of an op; records the graph only when a parent needs grad."""
        out = Tensor.__new__(Tensor)                   # skip __init__: hot path
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad, out._backward, out._op = None, None, op
        out.requires_grad = is_grad_enabled() and (parents[0].requires_grad or
                                                   any(p.requires_grad for p in parents[1:]))
        out._prev = parents if out.requires_grad else ()
        return out

    def _lift(self, other) -> Tensor:                  # a constant, in self's dtype
        return other if isinstance(other, Tensor) else Tensor(other, dtype=self.data.dtype)

    def backward(self, grad=None) -> None:
        """Fill ``.grad`` of every tensor this one depends on.

        ``grad`` is d(loss)/d(self); it may be omitted (it is then 1) only
        when ``self`` is a scalar. Raises RuntimeError if ``self`` does not
        require grad, or is not a scalar and no ``grad`` is given.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no "
                               "input has requires_grad=True, or it was made under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() needs an explicit `grad` for a tensor of "
                                   f"shape {self.data.shape}; reduce it to a scalar first")
            grad = np.ones_like(self.data)
        grad = np.array(grad, dtype=self.data.dtype)          # a copy: never alias the caller's
        if grad.shape != self.data.shape:
            raise ValueError(f"backward(): `grad` has shape {grad.shape}, expected {self.data.shape}")
        # Count, for every tensor in the graph, how many ops consumed it ...
        # Non-leaf tensors (outputs of ops) start every pass from zero; only
        # leaves accumulate across calls, as in PyTorch.
        uses, stack = {self: 0}, [self]                # Tensors hash by identity
        while stack:
            node = stack.pop()
            if node._backward is not None:             # non-leaf: restart from zero
                node.grad = None
            for p in node._prev:
                if p.requires_grad:
                    if p not in uses:
                        uses[p] = 0
                        stack.append(p)
                    uses[p] += 1
        # ... then run a tensor's _backward once all its consumers have sent
        # their gradient: a topological order, outputs before inputs.
        accumulate(self, grad)
        ready = [self]
        while ready:
            node = ready.pop()
            if node._backward is not None and node.grad is not None:
                node._backward()
            for p in node._prev:
                if p.requires_grad:
                    uses[p] -= 1
                    if uses[p] == 0:
                        ready.append(p)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        return Tensor(self.data)

    # ---- primitives: each one forward line, one backward closure ---------
    def __add__(self, other):
        other = self._lift(other)
        out = self._make(self.data + other.data, (self, other), "+")
        if out.requires_grad:
            def _backward():
                if self.requires_grad:
                    accumulate(self, unbroadcast(out.grad, self.data.shape))
                if other.requires_grad:
                    accumulate(other, unbroadcast(out.grad, other.data.shape))
            out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._lift(other)
        out = self._make(self.data * other.data, (self, other), "*")
        if out.requires_grad:
            def _backward():
                if self.requires_grad:
                    accumulate(self, unbroadcast(out.grad * other.data, self.data.shape))
                if other.requires_grad:
                    accumulate(other, unbroadcast(out.grad * self.data, other.data.shape))
            out._backward = _backward
        return out

    def __neg__(self):
        out = self._make(-self.data, (self,), "neg")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, -out.grad)
        return out

    def __pow__(self, p):
        p = p.item() if isinstance(p, (np.integer, np.floating)) else p   # no upcast
        if not isinstance(p, (int, float)):
            raise TypeError(f"pow: exponent must be an int or float constant, got {type(p).__name__}")
        out = self._make(self.data ** p, (self,), f"**{p}")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad * (p * self.data ** (p - 1)))
        return out

    def __matmul__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match; expected "
                             f"(..., n, k) @ (..., k, m), both at least 2-D")
        out = self._make(a @ b, (self, other), "@")
        if out.requires_grad:
            def _backward():
                g = out.grad                               # (..., n, m)
                if self.requires_grad:                     # (..., n, m) @ (..., m, k)
                    accumulate(self, unbroadcast(g @ b.swapaxes(-1, -2), a.shape))
                if other.requires_grad:                    # (..., k, n) @ (..., n, m)
                    if a.ndim == b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous:
                        gb = (g.T @ a).T                   # b is a W.T view: give its grad
                    else:                                  # the same layout (no strided
                        gb = a.swapaxes(-1, -2) @ g        # copies in the update later)
                    accumulate(other, unbroadcast(gb, b.shape))
            out._backward = _backward
        return out

    def linear(self, W, b=None):
        """``self @ W.T + b`` fused (``W`` is (out, in)): equal to the composite, but
        one graph node instead of three and a contiguous ``W.grad = g.T @ x``."""
        x, Wd = self.data, W.data
        if x.ndim != 2 or Wd.ndim != 2 or x.shape[1] != Wd.shape[1]:
            hint = "; one example: reshape(1, -1)" if x.ndim == 1 else ""
            raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                             f"{Wd.shape}; expected (N, {Wd.shape[-1]}){hint}")
        if b is not None and b.data.shape != (Wd.shape[0],):
            raise ValueError(f"linear: bias of shape {b.data.shape} does not match weight of "
                             f"shape {Wd.shape}; expected ({Wd.shape[0]},)")
        y = x @ Wd.T                                       # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b.data
        parents = (self, W) if b is None else (self, W, b)
        out = self._make(y, parents, "linear")
        if out.requires_grad:
            def _backward():
                g = out.grad                               # (N, out)
                if self.requires_grad:
                    accumulate(self, g @ Wd)              # (N, out) @ (out, in) -> (N, in)
                if W.requires_grad:
                    accumulate(W, g.T @ x)                # (out, N) @ (N, in) -> (out, in)
                if b is not None and b.requires_grad:
                    accumulate(b, g.sum(axis=0))          # (N, out) -> (out,)
            out._backward = _backward
        return out

    def exp(self):
        out = self._make(np.exp(self.data), (self,), "exp")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad * out.data)
        return out

    def log(self):
        out = self._make(np.log(self.data), (self,), "log")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad / self.data)
        return out

    def tanh(self):
        out = self._make(np.tanh(self.data), (self,), "tanh")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad * (1 - out.data * out.data))
        return out

    def relu(self):
        out = self._make(np.maximum(self.data, 0), (self,), "relu")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad * (self.data > 0))
        return out

    def sum(self, axis=None, keepdims=False):
        out = self._make(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")
        if out.requires_grad:
            out._backward = lambda: accumulate(
                self, _expand(out.grad, self.data.shape, axis, keepdims))
        return out

    def mean(self, axis=None, keepdims=False):
        out = self._make(self.data.mean(axis=axis, keepdims=keepdims), (self,), "mean")
        n = self.data.size // max(out.data.size, 1)           # elements averaged
        if out.requires_grad:
            out._backward = lambda: accumulate(
                self, _expand(out.grad / n, self.data.shape, axis, keepdims))
        return out

    def max(self, axis=None, keepdims=False):
        """Maximum over ``axis``; the gradient is shared equally among ties."""
        m = self.data.max(axis=axis, keepdims=True)
        out = self._make(m if keepdims else np.squeeze(m, axis=axis), (self,), "max")
        if out.requires_grad:
            def _backward():
                hit = (self.data == m).astype(self.data.dtype)   # where the max was taken
                share = hit / hit.sum(axis=axis, keepdims=True)    # ties split the gradient
                accumulate(self, _expand(out.grad, self.data.shape, axis, keepdims) * share)
            out._backward = _backward
        return out

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        out = self._make(self.data.reshape(shape), (self,), "reshape")
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad.reshape(self.data.shape))
        return out

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        axes = axes or tuple(reversed(range(self.data.ndim)))
        out = self._make(self.data.transpose(axes), (self,), "T")   # NumPy validates axes
        inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i] % self.data.ndim))
        if out.requires_grad:
            out._backward = lambda: accumulate(self, out.grad.transpose(inverse))
        return out

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            raise TypeError("index: got a Tensor; index with ints, slices or NumPy arrays")
        out = self._make(self.data[index], (self,), "[]")
        if out.requires_grad:
            def _backward():
                g = np.zeros_like(self.data)
                np.add.at(g, index, out.grad)              # repeated indices add up
                accumulate(self, g)
            out._backward = _backward
        return out

    def where(self, condition, other):
        """``condition ? self : other`` elementwise (``condition`` is constant)."""
        condition = condition.data if isinstance(condition, Tensor) else condition
        other, cond = self._lift(other), np.asarray(condition, dtype=bool)
        out = self._make(np.where(cond, self.data, other.data), (self, other), "where")
        if out.requires_grad:
            def _backward():
                if self.requires_grad:
                    accumulate(self, unbroadcast(out.grad * cond, self.data.shape))
                if other.requires_grad:
                    accumulate(other, unbroadcast(out.grad * ~cond, other.data.shape))
            out._backward = _backward
        return out

    def clip(self, low=None, high=None):
        """Clamp to [low, high]; gradient 1 inside (bounds included), 0 outside."""
        out = self._make(np.clip(self.data, low, high), (self,), "clip")
        if out.requires_grad:
            def _backward():
                inside = np.ones(self.data.shape, dtype=bool)
                if low is not None:
                    inside &= self.data >= low
                if high is not None:
                    inside &= self.data <= high
                accumulate(self, out.grad * inside)
            out._backward = _backward
        return out

    # ---- composed from the primitives: no backward code ------------------
    __radd__ = __add__                                 # a + b == b + a

    def __sub__(self, other):
        if isinstance(other, Tensor):
            return self + (-other)
        return self + np.negative(other, dtype=self.data.dtype)  # constant: no neg node

    def __rsub__(self, other):
        return self._lift(other) + (-self)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self * (self._lift(other) ** -1)

    def __rtruediv__(self, other):
        return self._lift(other) * self ** -1

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    T = property(lambda self: self.transpose())

    # ---- conveniences -----------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, threshold=8, prefix="Tensor(")
        return f"Tensor({body}{grad})"
