"""Argument checks shared by every public entry point.

One place decides what a good argument is, so that every bad one gets the
same kind of message: the argument's name, the value it got and what was
expected, raised where the user called, not three NumPy calls down::

    fit: X contains nan at [3, 17]; expected finite numbers
    MLP: sizes[1]=2.7 (float); expected an int >= 1
    SGD: params is a MLP (a Module); expected its parameters: pass net.parameters()

Rules (the same everywhere):

- NumPy scalars are numbers (``np.float32(0.1)``, ``np.int64(2)``); ``bool``
  is not a number and a float is not an int, even ``2.0``.
- NaN and inf are bad input wherever data or numbers come in.
- Arrays are numeric (no strings, no objects), non-empty, of the expected
  number of dimensions and width; a :class:`~minicomp.tensor.Tensor` given
  as data is its ``.data``.
- A choice is the option it equals: ``np.int64(1)`` is the option ``1``.

Every function takes ``name`` (how the caller spells the argument) and an
optional ``where`` (the public function, prefixed to the message).

Examples
--------
>>> integer(np.int64(3), "epochs", low=1)
3
>>> integer(2.0, "epochs", low=1, where="fit")
Traceback (most recent call last):
    ...
TypeError: fit: epochs=2.0 (float); expected an int >= 1
>>> number(float("nan"), "lr", low=0, low_open=True)
Traceback (most recent call last):
    ...
ValueError: lr=nan; expected a finite number > 0
"""
from __future__ import annotations

import argparse
import math
import numbers
import os

import numpy as np

from .functional import probability_rows
from .tensor import Tensor


def _prefix(where) -> str:
    return f"{where}: " if where else ""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounds(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}" if isinstance(low, float)
                     else f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}" if isinstance(high, float)
                     else f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def _in_bounds(value, low, high, low_open, high_open) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def _scalar(value, name, kind, what, low, high, low_open, high_open, where):
    """:func:`integer` (``kind`` Integral) and :func:`number` (Real): type, then bounds."""
    bounds = _bounds(low, high, low_open, high_open)
    expected = what + (f" {bounds}" if bounds else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise TypeError(f"{_prefix(where)}{name}={_show(value)} ({type(value).__name__}); "
                        f"expected {expected}")
    value = int(value) if kind is numbers.Integral else float(value)
    if (kind is numbers.Real and not math.isfinite(value)) or \
            not _in_bounds(value, low, high, low_open, high_open):
        raise ValueError(f"{_prefix(where)}{name}={value!r}; expected {expected}")
    return value


def integer(value, name: str, *, low=None, high=None, where=None) -> int:
    """``value`` as a Python int in ``[low, high]``; NumPy ints accepted, bools refused."""
    return _scalar(value, name, numbers.Integral, "an int", low, high, False, False, where)


def number(value, name: str, *, low=None, high=None, low_open=False, high_open=False,
           where=None) -> float:
    """``value`` as a finite Python float within the bounds; bools and NaN/inf refused.

    ``low_open=True`` makes the lower bound strict (``value > low``), and
    likewise ``high_open``.
    """
    return _scalar(value, name, numbers.Real, "a finite number", low, high, low_open,
                   high_open, where)


def flag(value, name: str, *, where=None) -> bool:
    """``value`` as a bool; only ``True``/``False`` (or NumPy bools) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_prefix(where)}{name}={_show(value)} ({type(value).__name__}); "
                        "expected True or False")
    return bool(value)


def choice(value, name: str, options, *, where=None):
    """The option equal to ``value`` (a str or an int, NumPy ones too), else ValueError.

    Examples
    --------
    >>> choice(np.int64(2), "p", (1, 2)), choice(np.str_("he"), "init", ("he", "xavier"))
    (2, 'he')
    >>> choice(True, "p", (1, 2))
    Traceback (most recent call last):
        ...
    ValueError: p=True; expected one of 1, 2
    """
    options = tuple(options)
    if isinstance(value, (str, numbers.Integral)) and not isinstance(value, (bool, np.bool_)):
        for option in options:                     # np.int64(2) -> 2, np.str_("he") -> "he"
            if not isinstance(option, bool) and option == value:
                return option
    raise ValueError(f"{_prefix(where)}{name}={_show(value)}; expected one of "
                     f"{', '.join(repr(o) for o in options)}")


def array(value, name: str, *, ndim=None, width=None, dtype=None, finite=True,
          nonempty=True, where=None) -> np.ndarray:
    """``value`` as a numeric ndarray, checked.

    Parameters
    ----------
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    width : int, optional
        Required size of the last axis (features).
    dtype : dtype, optional
        Cast to it after the checks (e.g. the weights' float32).
    finite : bool
        Refuse NaN and inf (the position of the first one is named).
    nonempty : bool
        Refuse arrays with no element.

    Examples
    --------
    >>> array([[1, 2]], "X", ndim=2, width=2).shape
    (1, 2)
    >>> array([[1, 2]], "X", width=3, where="predict")
    Traceback (most recent call last):
        ...
    ValueError: predict: X has 2 features (shape (1, 2)); expected 3, the net's input width
    >>> array(Tensor([[1.0, 2.0]]), "X").dtype          # a Tensor: its data
    dtype('float32')
    """
    pre = _prefix(where)
    value = value.data if isinstance(value, Tensor) else value
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"{pre}{name} is a {type(value).__name__}; expected an array of numbers")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:   # ragged nested lists
        raise ValueError(f"{pre}{name} cannot be made into an array ({e}); "
                         "expected a rectangular array of numbers") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{pre}{name} has dtype {arr.dtype}; expected numbers "
                        "(int, float or bool)")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{pre}{name} has shape {arr.shape} ({arr.ndim}-D); "
                             f"expected a {want}-D array")
    if nonempty and arr.size == 0:
        raise ValueError(f"{pre}{name} is empty (shape {arr.shape}); expected at least "
                         "one element")
    if width is not None and (arr.ndim == 0 or arr.shape[-1] != width):
        got = arr.shape[-1] if arr.ndim else "no"
        raise ValueError(f"{pre}{name} has {got} features (shape {arr.shape}); expected "
                         f"{width}, the net's input width")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        where_bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        bad = arr[where_bad]
        raise ValueError(f"{pre}{name} contains {bad} at {list(where_bad)}; "
                         "expected finite numbers")
    if dtype is not None:
        with np.errstate(over="ignore"):
            cast = arr.astype(dtype, copy=False)
        if finite and cast.dtype.kind == "f" and not np.isfinite(cast).all():
            at = [int(i) for i in np.argwhere(~np.isfinite(cast))[0]]
            raise ValueError(f"{pre}{name} holds {arr[tuple(at)]:.4g} at {at}, beyond the "
                             f"range of {np.dtype(dtype).name} ({np.finfo(dtype).max:.3g}); "
                             "expected smaller numbers")
        arr = cast
    return arr


def distributions(value, name: str, *, floats: bool = False, rtol: float = 1e-4,
                  where=None) -> np.ndarray:
    """Soft targets: a 2-D array whose rows are probabilities (>= 0, summing to 1).

    A row's sum may differ from 1 by ``rtol`` (float32 softmax rows do by
    ~1e-7). ``floats=True`` also refuses integer and bool arrays: 2-D
    integers are class labels stacked by mistake, labels are 1-D.

    Examples
    --------
    >>> distributions([[0.25, 0.75], [1.0, 0.0]], "y").shape
    (2, 2)
    >>> distributions([[0.5, 0.5], [2/3, 2/3]], "y", where="fit")
    Traceback (most recent call last):
        ...
    ValueError: fit: y row 1 is [0.6667, 0.6667] (sum 1.333); expected a probability \
distribution per row: entries >= 0 that sum to 1 (soft targets)
    >>> distributions(np.zeros((2, 3), int), "y", floats=True)
    Traceback (most recent call last):
        ...
    TypeError: y has dtype int64 and shape (2, 3); expected class labels as a 1-D array \
(N,), or soft targets as float rows of probabilities
    """
    arr = array(value, name, ndim=2, where=where)                 # numbers, finite
    if floats and arr.dtype.kind != "f":
        raise TypeError(f"{_prefix(where)}{name} has dtype {arr.dtype} and shape {arr.shape}; "
                        "expected class labels as a 1-D array (N,), or soft targets as float "
                        "rows of probabilities")
    return probability_rows(arr, name, where, rtol)              # the rows, as cross_entropy


def labels(value, name: str = "y", *, n=None, num_classes=None, where=None) -> np.ndarray:
    """Integer class labels as an int64 vector, optionally of length ``n``, in range.

    Float labels are accepted when every value is a whole number (as loaded
    from a CSV); anything else is refused.
    """
    pre = _prefix(where)
    y = array(value, name, ndim=1, where=where)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError(f"{pre}{name} holds non-integer values (e.g. "
                             f"{y[y != np.round(y)][0]}); expected integer class labels")
    elif y.dtype.kind == "b":
        raise TypeError(f"{pre}{name} has dtype bool; expected integer class labels")
    if n is not None and len(y) != n:
        raise ValueError(f"{pre}{name} has {len(y)} labels; expected {n}, one per row of X")
    if y.min() < 0 or y.max() >= (2**63 if num_classes is None else num_classes):  # before
        bad = y.min() if y.min() < 0 else y.max()            # the cast: 1e20 wraps in int64
        want = f"in 0..{num_classes - 1}" if num_classes is not None else ">= 0 (int64)"
        raise ValueError(f"{pre}{name} contains the label {int(bad) if abs(bad) < 2**63 else bad}"
                         f"; expected labels {want}")
    return y.astype(np.int64)


def _is_a(value, cls_name: str) -> bool:
    # isinstance(value, minicomp.nn.<cls_name>) without importing nn, which sits above
    # this module (nn uses these checks): the class is named by module and name
    return any(c.__name__ == cls_name and c.__module__ == "minicomp.nn"
               for c in type(value).__mro__)


def parameters(value, name: str = "params", *, where=None) -> list:
    """A non-empty list of :class:`~minicomp.nn.Parameter`; a Module is named as such."""
    pre = _prefix(where)
    if _is_a(value, "Module"):
        raise TypeError(f"{pre}{name} is a {type(value).__name__} (a Module); expected its "
                        "parameters: pass net.parameters()")
    if isinstance(value, (str, bytes, np.ndarray, Tensor)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{pre}{name}={_show(value)}; expected an iterable of Parameters, "
                        "e.g. net.parameters()")
    params = list(value)
    if not params:
        raise ValueError(f"{pre}{name} is empty; expected at least one Parameter")
    for i, p in enumerate(params):
        if not _is_a(p, "Parameter"):
            raise TypeError(f"{pre}{name}[{i}] is a {type(p).__name__}; expected a Parameter "
                            "(pass net.parameters())")
    return params


def module(value, name: str = "net", *, where=None):
    """``value`` if it is a :class:`~minicomp.nn.Module`, else TypeError."""
    if not _is_a(value, "Module"):
        raise TypeError(f"{_prefix(where)}{name} is a {type(value).__name__}; expected a "
                        "minicomp Module (e.g. an MLP)")
    return value


def rng(value, name: str = "seed", *, where=None) -> np.random.Generator:
    """A Generator from a non-negative int seed (NumPy ints accepted) or a Generator."""
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
            and value >= 0:
        return np.random.default_rng(int(value))
    raise TypeError(f"{_prefix(where)}{name}={_show(value)}; expected a non-negative int "
                    "or a numpy Generator")


def path(value, name: str = "path", *, where=None) -> str:
    """A str or os.PathLike as ``str``; anything else is a TypeError."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{_prefix(where)}{name} is a {type(value).__name__}; expected a "
                        "str or os.PathLike path")
    text = os.fspath(value)
    if not text or "\0" in str(text):
        raise ValueError(f"{_prefix(where)}{name}={text!r}; expected a non-empty path")
    return text


# ---- command-line options: the same checks as argparse ``type=`` functions

def _parse(text: str, check, option: str, **bounds):
    """``text`` as an int (else a float, else the string), checked by ``check``."""
    value = text
    for kind in (int, float):
        try:
            value = kind(text)
            break
        except ValueError:
            pass
    try:
        return check(value, option, **bounds)
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def int_option(option: str, low: int, high: int):
    """An argparse ``type=``: an int in ``[low, high]`` (:func:`integer`).

    Examples
    --------
    >>> int_option("--jobs", 1, 64)("2")
    2
    >>> int_option("--jobs", 1, 64)("0")
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: --jobs=0; expected an int >= 1 and <= 64
    """
    def parse(text):
        return _parse(text, integer, option, low=low, high=high)
    return parse


def number_option(option: str, high: float, low: float = 0.0):
    """An argparse ``type=``: a finite number in ``(low, high]`` (:func:`number`).

    Examples
    --------
    >>> number_option("--timeout", 3600.0)("inf")
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: --timeout=inf; expected a finite number > 0 and <= 3600
    """
    def parse(text):
        return _parse(text, number, option, low=low, low_open=True, high=high)
    return parse
