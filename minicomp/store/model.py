r"""A compressed model (a chain of records, an ensemble or a cascade) and its predictions.

:class:`CompressedModel` is what :func:`minicomp.store.pack` returns and
:func:`minicomp.store.load` rebuilds: ``structure`` "chain" holds ``layers``
(:class:`~minicomp.store.records.Record` s, the schema is in
:mod:`minicomp.store.records`), "ensemble" and "cascade" hold ``members``
(compressed models). :class:`Ensemble` and :class:`Cascade` are what a user
hands to ``pack``: their members are anything ``pack`` accepts.

.. math:: \text{ensemble: } \bar p = \sum_m w_m \operatorname{softmax}(z_m),\qquad
          \text{cascade: } \hat p = \begin{cases} p_{large} & \max_c p_{small,c} < \tau \\
          p_{small} & \text{else} \end{cases}

(Dietterich 2000; Viola & Jones 2001 for cascades.) A chain outputs logits
(float32 scores), ensembles and cascades probabilities (float32); the
labels are their argmax either way. A cascade runs the large model only on
the examples it defers.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import validate
from ..ensemble.cascade import check_tau
from ..ensemble.parallel import average_probabilities, check_weights
from .layers import build, nonzeros
from .records import check_record

STRUCTURES = ("chain", "ensemble", "cascade")


class Ensemble:
    """Members whose softmax probabilities are averaged (``weights``: (M,) on the simplex).

    Members are anything :func:`minicomp.store.pack` accepts (nets, quantized nets, ...).
    """

    def __init__(self, members, weights=None):
        if not isinstance(members, (list, tuple)) or not members:
            raise TypeError(f"Ensemble: members is {type(members).__name__} "
                            f"{members if not members else ''}; expected a non-empty list")
        self.members = list(members)
        self.weights = None if weights is None else check_weights(
            weights, len(self.members), "Ensemble").tolist()


class Cascade:
    """``small`` answers when its top probability is >= ``tau``, else ``large`` does."""

    def __init__(self, small, large, tau: float):
        self.small, self.large, self.tau = small, large, check_tau(tau, "Cascade")


class CompressedModel:
    """A compressed model: records (chain) or members (ensemble, cascade).

    Parameters
    ----------
    layers : list of Record, for ``structure="chain"``
    members : list of CompressedModel, for "ensemble" (M >= 1) and "cascade" ([small, large])
    structure : {"chain", "ensemble", "cascade"}
    weights : list of float or None (ensemble); tau : float in [0, 1] (cascade)

    Examples
    --------
    >>> from minicomp.store import Record
    >>> W = np.array([[1., 0.], [0., -1.]], np.float32)
    >>> m = CompressedModel([Record("dense", {"W": W}, {"out": 2, "in": 2}, relu=True)])
    >>> m.predict(np.array([[2., 3.]])), m.nbytes, m.nonzeros
    (array([[2., 0.]], dtype=float32), 16, 2)
    """

    def __init__(self, layers=None, members=None, structure: str = "chain", weights=None,
                 tau=None):
        where = "CompressedModel"
        self.structure = validate.choice(structure, "structure", STRUCTURES, where=where)
        self.layers = list(layers or [])
        self.members = list(members or [])
        self.weights, self.tau, self._fused = weights, tau, None
        if self.structure == "chain":
            if not self.layers or self.members:
                raise TypeError(f"{where}: a chain needs a non-empty list of Records as layers "
                                "and no members")
            for k, r in enumerate(self.layers):
                check_record(r, f"{where}: layer {k}")              # the schema's arrays
            kinds = {r.kind == "integer" for r in self.layers}
            if len(kinds) > 1:
                raise ValueError(f"{where}: integer records mixed with "
                                 f"{sorted({r.kind for r in self.layers} - {'integer'})}; "
                                 "expected all integer (one int8 model) or none")
            for k, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
                if a.shape[0] != b.shape[1]:
                    raise ValueError(f"{where}: layer {k} has {a.shape[0]} outputs but layer "
                                     f"{k + 1} takes {b.shape[1]} inputs")
        else:
            want = 2 if self.structure == "cascade" else None
            if self.layers or not self.members or (want and len(self.members) != want) or \
                    not all(isinstance(m, CompressedModel) for m in self.members):
                raise TypeError(f"{where}: an {self.structure} needs CompressedModel members "
                                + ("[small, large]" if want else "(at least one)"))
            widths = {m.in_features for m in self.members}
            classes = {m.out_features for m in self.members}
            if len(widths) > 1 or len(classes) > 1:
                raise ValueError(f"{where}: members take {sorted(widths)} inputs and give "
                                 f"{sorted(classes)} classes; expected the same widths")
            if self.structure == "cascade":
                self.tau = check_tau(tau, where)
            elif weights is not None:
                self.weights = check_weights(weights, len(self.members), where).tolist()

    @property
    def in_features(self) -> int:
        return self.layers[0].shape[1] if self.layers else self.members[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].shape[0] if self.layers else self.members[0].out_features

    def records(self) -> list:
        """Every record of the model (members' in order)."""
        return self.layers + [r for m in self.members for r in m.records()]

    @property
    def nbytes(self) -> int:
        """Payload bytes: the sum of every record's arrays (== file size - header)."""
        return int(sum(r.nbytes for r in self.records()))

    @property
    def nonzeros(self) -> int:
        """Stored nonzero weights of every record (biases excluded), from the decoded ``W``."""
        return sum(nonzeros(r) for r in self.records())

    @property
    def outputs(self) -> str:
        """"logits" (a chain) or "probabilities" (an ensemble or a cascade)."""
        return "logits" if self.structure == "chain" else "probabilities"

    def build(self) -> "CompressedModel":
        """Decode every record and make its runtime now (load does, so nothing is lazy)."""
        if self.structure == "chain" and self.layers[0].kind == "integer":
            self._fused = self._fused or _int8_model(self.layers)
        elif self.structure == "chain":
            from ..deploy import InferenceModel, SparseDense
            built = [build(r) for r in self.layers]
            if self._fused is None and all(isinstance(f, SparseDense) for f in built):
                self._fused = InferenceModel(built)       # every layer in one compiled call
        for m in self.members:
            m.build()
        return self

    def _probabilities(self, X) -> np.ndarray:
        Y = self._run(X)
        return Y.astype(np.float64) if self.outputs == "probabilities" else F.softmax(
            Y.astype(np.float64)).data                                    # (B, C)

    def _run(self, X) -> np.ndarray:
        if self.structure == "chain":
            self.build()
            if self._fused is not None:
                return self._fused.predict(X)
            for r in self.layers:
                X = build(r)(X)                                           # (B, out)
            return X
        if self.structure == "ensemble":
            P = np.stack([m._probabilities(X) for m in self.members])    # (M, B, C)
            return average_probabilities(P, self.weights).astype(np.float32)
        small, large = self.members
        P = small._probabilities(X)                                       # (B, C)
        deferred = P.max(axis=1) < self.tau                               # (B,), as cascade_predict
        if deferred.any():
            P[deferred] = large._probabilities(X[deferred])
        return P.astype(np.float32)

    def predict(self, X) -> np.ndarray:
        """float32 scores (B, classes) for ``X`` (B, in): logits of a chain, else probabilities."""
        X = validate.array(X, "X", ndim=2, width=self.in_features, where="predict",
                           dtype=np.float32)                              # (B, in), finite
        return self._run(np.ascontiguousarray(X))

    __call__ = predict

    def describe(self, prefix: str = "") -> list:
        """One dict per record: ``layer``, ``kind``, ``shape``, ``relu``, ``bytes``,
        ``nonzeros`` (the rows of ``minicomp info``)."""
        if self.structure != "chain":
            name = "member" if self.structure == "ensemble" else None
            return [row for k, m in enumerate(self.members) for row in m.describe(
                f"{prefix}{name or ('small', 'large')[k]}{k if name else ''}.")]
        return [{"layer": f"{prefix}{k}", "kind": r.kind, "shape": r.shape, "relu": r.relu,
                 "bytes": r.nbytes, "nonzeros": nonzeros(r)}
                for k, r in enumerate(self.layers)]

    def __repr__(self):
        inner = self.layers if self.structure == "chain" else self.members
        body = "\n".join("  " + line for m in inner for line in repr(m).splitlines())
        return f"CompressedModel({self.structure}, {self.nbytes} bytes,\n{body}\n)"


def _int8_model(layers):
    """The :class:`~minicomp.deploy.InferenceModel` of a chain of integer records."""
    from ..deploy import InferenceModel, Int8Dense
    built = []
    for r in layers:
        A, m = r.arrays, r.meta
        built.append(Int8Dense(A["w_q"], A.get("bias_q"), S_x=m["S_x"], Z_x=int(A["Z_x"][0]),
                               S_w=1.0, S_y=m["S_y"], Z_y=int(A["Z_y"][0]), relu=r.relu,
                               x_dtype=m["x_dtype"], out_dtype=m["out_dtype"], m0=A["m0"],
                               shift=A["shift"]))        # S_w unused: m0, shift are given
    return InferenceModel(built)
