"""Argument checks shared by the number formats (on top of :mod:`minicomp.validate`).

- :func:`float32_values`: the formats compute in float32 (or store float32
  scales), so a finite input beyond float32's range (``1e300``) would turn
  into inf, then NaN codes, without a word; it is refused where the user
  called, naming the value.
- :func:`layer_bias`: an inference layer's bias must be ``(out,)``, checked
  when the layer is built (not broadcast, not at the first call).
"""
from __future__ import annotations

import numpy as np

from .. import validate

FLOAT32_MAX = float(np.finfo(np.float32).max)          # 3.4028235e38


def float32_values(x, name: str, where: str) -> np.ndarray:
    """ValueError if finite ``x`` holds a value beyond float32's range; ``x`` returned.

    >>> float32_values(np.array([1.0, -1e300]), "x", "nf4_quantize")
    Traceback (most recent call last):
        ...
    ValueError: nf4_quantize: x holds -1e+300, beyond float32's range (3.4e+38); expected \
values that float32 can hold
    """
    x = np.asarray(x)
    if x.dtype.kind == "f" and x.size:
        big = np.abs(x) > FLOAT32_MAX                   # NaN compares False
        if big.any():
            bad = float(x[big].ravel()[0])
            raise ValueError(f"{where}: {name} holds {bad:g}, beyond float32's range "
                             f"({FLOAT32_MAX:.2g}); expected values that float32 can hold")
    return x


def layer_bias(b, out: int, where: str):
    """``b`` as a float32 ``(out,)`` array (None stays None), else ValueError naming it.

    >>> layer_bias([1.0, 2.0], 3, "TernaryDense")
    Traceback (most recent call last):
        ...
    ValueError: TernaryDense: b has shape (2,); expected (3,), one bias per output of W
    """
    if b is None:
        return None
    b = float32_values(validate.array(b, "b", where=where), "b", where).astype(np.float32)
    if b.shape != (out,):
        raise ValueError(f"{where}: b has shape {b.shape}; expected ({out},), one bias per "
                         "output of W")
    return b
