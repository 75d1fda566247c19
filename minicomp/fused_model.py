"""Whole-model inference: an :class:`~minicomp.deploy.InferenceModel` in one compiled call.

A small MLP run layer by layer pays, per layer, a Python call, argument
checks, an allocation and (int8) a trip of the activations back to NumPy;
on 64-64-10 or a pruned 300-100 that costs more than the arithmetic.
:class:`FusedModel` packs the model's layers once
(:func:`~minicomp.kernels.fused_mlp.pack_int8` / :func:`~minicomp.kernels.fused_mlp.pack_sparse`)
and runs them in ONE call of a :mod:`minicomp.kernels.fused` kernel: float
input batch in, float outputs (and, int8, the last layer's codes) out.

- int8 models: the input is quantized by a small kernel (one per input dtype)
  and activations stay 8-bit codes between layers (requantized in the kernel,
  ReLU a clamp on the codes); the codes equal the layer-by-layer chain's bit
  for bit.
- sparse models: activations stay float32, feature-major for batches >= 4.

The design (serial or threads over the batch; sparse: gather-dot or AXPY) is
chosen by measurement the first time a (model shape, batch bucket) is seen
(:func:`minicomp.kernels.dispatch.choose`, family ``"fused_int8"`` or
``"fused_sparse"``; ``MINICOMP_KERNEL=fused_int8:serial`` forces one) and
kept by the model per batch size; Numba's thread count is read when the
model is built.
The input is checked cheaply (a float, C-contiguous (batch, in) array runs
as is); the kernels count the finite entries, and a NaN/inf is refused with
the message of :func:`minicomp.validate.array`, naming the first one.

Deviation: int8 on a CPU without AVX-512 VNNI runs the plain-loop design
(``int8_loops``), several times slower than ``int8_vnni``.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from . import validate
from .kernels import dispatch
from .kernels import fused_mlp as fused
from .kernels.vnni import cpu_vnni


PARALLEL_WORK = 1 << 20       # multiply-adds per call (batch x per example) below which
                              # threads are not even timed (starting them costs more)


class FusedModel:
    """The layers of an :class:`~minicomp.deploy.InferenceModel`, packed for one fused call.

    Parameters
    ----------
    model : InferenceModel
        Its layers are read once (later changes to them are not seen).

    Examples
    --------
    >>> from minicomp.nn import MLP
    >>> from minicomp.deploy import to_inference
    >>> model = to_inference(MLP([4, 3, 2], seed=0))
    >>> X = np.ones((2, 4), np.float32)
    >>> bool(np.allclose(FusedModel(model)(X)[1], model.predict(X, fused=False)))
    True
    """

    def __init__(self, model):
        layers, self.int8, self.in_features = model.layers, model.int8, model.in_features
        if self.int8:
            self.packed = fused.pack_int8(
                [{"w_q": m.w_q, "bias_q": m.bias_q, "Z_x": m.Z_x, "m0": m.m0, "shift": m.shift,
                  "Z_y": m.Z_y, "relu": m.relu, "x_dtype": m.x_dtype, "out_dtype": m.out_dtype}
                 for m in layers], layers[0].S_x, layers[-1].S_y, cpu_vnni() == "avx512")
            self.out_dtype = layers[-1].out_dtype
            self.key = ("vnni" if self.packed.vnni else "loops",) + tuple(
                m.w_q.shape for m in layers)
        else:
            self.packed = fused.pack_sparse([m.csr for m in layers], [m.bias for m in layers],
                                            [m.relu for m in layers])
            self.key = tuple((m.csr.shape, dispatch.density_bucket(m.csr.nnz, np.prod(
                m.csr.shape))) for m in layers)
        self.family = "fused_int8" if self.int8 else "fused_sparse"
        self.threads = numba.get_num_threads()          # read once: costly per call
        self._names: dict = {}                          # batch -> (design, key), once decided
        self._dtypes = (np.float32, np.float64) if self.int8 else (np.float32,)
        self.macs = sum(m.w_q.size if self.int8 else m.csr.nnz for m in layers)   # per example

    def designs(self, X) -> dict:
        """Design name -> a zero-argument call of it on ``X`` (what dispatch times).

        Threads are a candidate only above :data:`PARALLEL_WORK` multiply-adds per call
        (below, starting them costs more than the work). A parallel winner is watched
        (:func:`~minicomp.kernels.dispatch.observe`): on a loaded machine a parallel call
        of tens of microseconds can wait milliseconds for a core, and then it is dropped.
        """
        threads, B, P = self.threads, X.shape[0], self.packed
        threaded = threads > 1 and B * self.macs >= PARALLEL_WORK
        if self.int8:
            names = ["serial"] + (["parallel"] if threaded else [])
            return {n: (lambda n=n: fused.run_int8(X, P, n, threads)) for n in names}
        names = (["rowdot_serial", "axpy_serial"] if B < 4 else
                 ["axpy_serial"] + (["axpy_parallel"] if threaded else []))
        return {n: (lambda n=n: fused.run_sparse(X, P, n, threads)) for n in names}

    def design(self, X) -> str:
        """The design :meth:`__call__` runs for ``X``'s batch (measured once per bucket)."""
        key = self.key + (dispatch.batch_bucket(X.shape[0]),)
        return dispatch.remembered(self.family, key) or dispatch.choose(
            self.family, key, self.designs(X), threaded=("parallel", "axpy_parallel"))

    def __call__(self, X, where: str = "predict"):
        """``(codes, Y)`` for ``X`` (batch, in): the last layer's codes (int8; None for sparse)
        and the float32 outputs (batch, out). ``where`` names the caller in errors."""
        dtype = np.float64 if self.int8 else np.float32
        # int8 takes float32 or float64 as is; sparse casts float64 (one compiled variant)
        if not (type(X) is np.ndarray and X.ndim == 2 and X.dtype in self._dtypes
                and X.shape[0] and X.shape[1] == self.in_features and X.flags.c_contiguous):
            X = np.ascontiguousarray(validate.array(X, "X", ndim=2, width=self.in_features,
                                                    where=where, dtype=dtype))   # (B, in)
        plan = None if dispatch.forcing() else self._names.get(X.shape[0])
        if plan is None:
            plan = (self.design(X), self.key + (dispatch.batch_bucket(X.shape[0]),))
            if len(self._names) < 64 and not dispatch.forcing():
                self._names[X.shape[0]] = plan
        (name, key), threads = plan, self.threads
        t0 = time.perf_counter()
        if self.int8:
            codes, Y, finite = fused.run_int8(X, self.packed, name, threads)
            codes = codes.view(self.out_dtype)                           # (B, out)
        else:
            (Y, finite), codes = fused.run_sparse(X, self.packed, name, threads), None
        if name.endswith("parallel") and dispatch.observe(
                self.family, key, time.perf_counter() - t0, name):
            self._names.clear()                                          # banned: decide again
        if finite != X.size:                                             # NaN/inf: named
            validate.array(X, "X", ndim=2, width=self.in_features, where=where, dtype=dtype)
        return codes, Y
