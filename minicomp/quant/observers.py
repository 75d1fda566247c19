r"""Observers: choose the range ``[lo, hi]`` of activations from calibration data.

Weights are known in advance; activations are not, so their range is
estimated on a **calibration set** (a few hundred training inputs). Each
observer sees batches through :meth:`Observer.observe` and returns a range;
:meth:`Observer.qparams` turns it into :math:`(S, Z)`.

- :class:`MinMaxObserver` -- the smallest and largest value seen.
- :class:`MovingAverageMinMaxObserver` -- exponential moving averages of
  each batch's min and max, :math:`lo \leftarrow (1-c)\,lo + c\,\min(x_t)`
  (Jacob et al. 2018, used during QAT where activations drift).
- :class:`PercentileObserver` -- the ``p`` and ``100 − p`` percentiles:
  ignores rare outliers, which then saturate.
- :class:`MSEObserver` -- the clipping range :math:`\alpha [lo, hi]` that
  minimises :math:`\mathrm{E}[(x - \hat x)^2]` over a grid of α (the idea of
  PyTorch's HistogramObserver and of Banner et al.'s ACIQ): a shorter range
  trades a little clipping error for a finer step.

An observer that has seen nothing raises ``ValueError`` (empty
calibration set), never a silent default range.

References
----------
Jacob, B. et al. (2018). arXiv:1712.05877, section 3.
Krishnamoorthi, R. (2018). arXiv:1806.08342, section 3.
Banner, R. et al. (2019). Post training 4-bit quantization of
convolutional networks for rapid-deployment. NeurIPS. arXiv:1810.05723.

Deviations: percentile and MSE observers keep a random subsample of at
most ``max_samples`` values (seeded) instead of a histogram.
"""
from __future__ import annotations

import abc
import inspect

import numpy as np

from .. import validate
from .uniform import check_bits, check_finite, fake_quantize, scale_zero_point


class Observer(abc.ABC):
    """Base class: ``observe(x)`` batches, then ``range()`` / ``qparams(bits, scheme)``."""

    def __init__(self):
        self.count = 0                      # values observed so far

    def observe(self, x) -> None:
        """Fold a batch ``x`` (any shape, finite numbers) into the statistics; empty: no-op."""
        x = check_finite("x", x, f"{type(self).__name__}.observe").ravel()
        if x.size == 0:
            return
        self.count += x.size
        self._update(x)

    @abc.abstractmethod
    def _update(self, x):
        """Fold a non-empty flat batch ``x`` into the observer's statistics."""

    @abc.abstractmethod
    def _range(self):
        """``(lo, hi)`` from the statistics (called only after some values)."""

    def range(self) -> tuple[float, float]:
        """``(lo, hi)``; ValueError if nothing was observed."""
        if self.count == 0:
            raise ValueError(f"{type(self).__name__}: the calibration set is empty (no values "
                             f"observed); pass at least one non-empty batch")
        lo, hi = self._range()
        return float(lo), float(hi)

    def qparams(self, bits: int = 8, scheme: str = "affine"):
        """Scale and zero point (floats/ints) of the observed range."""
        check_bits(bits, scheme, where=f"{type(self).__name__}.qparams")
        S, Z = scale_zero_point(*self.range(), bits, scheme)
        return float(S), int(Z)


class MinMaxObserver(Observer):
    """Range = smallest and largest value seen.

    >>> obs = MinMaxObserver()
    >>> obs.observe([0.0, 2.0]); obs.observe([-1.0, 0.5])
    >>> obs.range()
    (-1.0, 2.0)
    """

    def __init__(self):
        super().__init__()
        self.lo, self.hi = np.inf, -np.inf

    def _update(self, x):
        self.lo, self.hi = min(self.lo, x.min()), max(self.hi, x.max())

    def _range(self):
        return self.lo, self.hi


class MovingAverageMinMaxObserver(Observer):
    """Exponential moving average of per-batch min and max (``c`` = weight of the new batch).

    >>> obs = MovingAverageMinMaxObserver(c=0.5)
    >>> obs.observe([0.0, 4.0]); obs.observe([0.0, 2.0])
    >>> obs.range()                     # hi = 0.5*4 + 0.5*2
    (0.0, 3.0)
    """

    def __init__(self, c: float = 0.01):
        super().__init__()
        c = validate.number(c, "c", low=0, high=1, low_open=True, where=type(self).__name__)
        self.c, self.lo, self.hi = float(c), None, None

    def _update(self, x):
        if self.lo is None:
            self.lo, self.hi = float(x.min()), float(x.max())
        else:
            self.lo += self.c * (float(x.min()) - self.lo)
            self.hi += self.c * (float(x.max()) - self.hi)

    def _range(self):
        return self.lo, self.hi


class _SampleObserver(Observer):
    """Keeps up to ``max_samples`` observed values (a seeded random subsample)."""

    def __init__(self, max_samples: int = 100_000, seed=0):
        super().__init__()
        where = type(self).__name__
        self.max_samples = validate.integer(max_samples, "max_samples", low=1, where=where)
        self.rng = validate.rng(seed, "seed", where=where)
        self.samples = np.zeros(0)

    def _update(self, x):
        self.samples = np.concatenate([self.samples, x])
        if self.samples.size > self.max_samples:
            keep = self.rng.choice(self.samples.size, self.max_samples, replace=False)
            self.samples = self.samples[keep]


class PercentileObserver(_SampleObserver):
    """Range = the ``100 − p`` and ``p`` percentiles of the observed values.

    >>> obs = PercentileObserver(p=90.0)
    >>> obs.observe(np.arange(101.0))
    >>> obs.range()
    (10.0, 90.0)
    """

    def __init__(self, p: float = 99.99, max_samples: int = 100_000, seed=0):
        super().__init__(max_samples, seed)
        self.p = validate.number(p, "p", low=50, high=100, low_open=True,
                                 where="PercentileObserver")   # the range is [100 - p, p]

    def _range(self):
        return np.percentile(self.samples, 100.0 - self.p), np.percentile(self.samples, self.p)


class MSEObserver(_SampleObserver):
    r"""Range :math:`\alpha\,[lo, hi]` minimising the mean squared quantization error.

    ``alphas`` is the grid of clipping ratios searched (1 = min-max).

    >>> x = np.concatenate([np.linspace(-1, 1, 999), [40.0]])   # one outlier
    >>> obs = MSEObserver(bits=4); obs.observe(x)
    >>> lo, hi = obs.range(); hi < 40.0                         # the outlier is clipped
    True
    """

    def __init__(self, bits: int = 8, scheme: str = "affine", alphas=None,
                 max_samples: int = 100_000, seed=0):
        super().__init__(max_samples, seed)
        self.bits, self.scheme = check_bits(bits, scheme, where="MSEObserver"), scheme
        self.alphas = np.linspace(0.05, 1.0, 40) if alphas is None else validate.array(
            alphas, "alphas", ndim=1, where="MSEObserver", dtype=np.float64)
        if ((self.alphas <= 0) | (self.alphas > 1)).any():
            raise ValueError(f"MSEObserver: alphas={alphas!r}; expected clipping ratios in "
                             "(0, 1] (1 = min-max)")

    def _range(self):
        x = self.samples
        lo0, hi0 = x.min(), x.max()
        best, best_range = np.inf, (lo0, hi0)
        for alpha in self.alphas:
            lo, hi = alpha * lo0, alpha * hi0
            S, Z = scale_zero_point(lo, hi, self.bits, self.scheme)
            err = np.mean((x - fake_quantize(x, S, Z, self.bits, self.scheme)) ** 2)
            if err < best:
                best, best_range = err, (lo, hi)
        return best_range


OBSERVERS = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver,
             "percentile": PercentileObserver, "mse": MSEObserver}


def make_observer(kind: str = "minmax", **kwargs) -> Observer:
    """Observer by name: "minmax", "moving_average", "percentile" or "mse"."""
    kind = validate.choice(kind, "observer", sorted(OBSERVERS), where="make_observer")
    try:
        return OBSERVERS[kind](**kwargs)
    except TypeError as e:
        if "unexpected keyword" not in str(e):
            raise
        takes = list(inspect.signature(OBSERVERS[kind]).parameters)
        raise TypeError(f"make_observer: {e}; the {kind!r} observer takes "
                        f"{takes or 'no arguments'}") from None
