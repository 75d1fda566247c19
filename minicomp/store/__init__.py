"""The compressed model file: every model minicomp produces, packed, saved and loaded.

- :mod:`.records`: the record kinds (THE schema: arrays, meta, how predict computes);
- :mod:`.layers`: each record decoded and run (on the kernels where the library has one);
- :mod:`.model`: :class:`CompressedModel` (a chain, an ensemble, a cascade), and the
  :class:`Ensemble` / :class:`Cascade` a user packs;
- :mod:`.pack`: :func:`pack`, from nets, quantized nets, k-means nets, inference models;
- :mod:`.file`: :func:`save` / :func:`load`, one versioned binary file;
- :mod:`.cli`: ``minicomp info FILE``, ``minicomp predict FILE DATA``, ``minicomp export``.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from minicomp import MLP
>>> net = MLP([4, 8, 3], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "net.mcz")
>>> header = save(pack(net, "int", bits=4), path)
>>> model = load(path)
>>> model.nbytes        # codes 32*4/8 + 8 scales + 8 biases, then 24*4/8 + 3 + 3 (x4 bytes)
116
>>> os.path.getsize(path) == model.nbytes + header
True
"""
from .file import load, save
from .model import Cascade, CompressedModel, Ensemble
from .pack import pack
from .records import KINDS, Record

__all__ = ["pack", "save", "load", "CompressedModel", "Ensemble", "Cascade", "Record", "KINDS"]
