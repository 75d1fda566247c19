"""Pruning: criteria registered by name, masks, removal of neurons, schedules, procedures.

One file per idea; each starts with its formula and its paper.

- :mod:`.registry`: the ``@criterion`` decorator, :func:`criteria`, and
  ``prune(net, criterion, amount, ...)``, which looks the name up. A new
  criterion is one decorated function, in its own file (imported below)
  or anywhere else (a test, a notebook);
- the criteria, one file each, registered by name (scores shaped like
  what they rank): :mod:`.magnitude`, :mod:`.random`, :mod:`.activation`
  (R_i of seed 000, and Wanda), :mod:`.taylor`, :mod:`.obd`, :mod:`.obs`
  (with its weight update), :mod:`.norm`;
- :mod:`.mask`: ``mask_from_scores(scores, amount)``, global masks with a
  per-layer minimum, ``apply_mask``, ``remove``;
- :mod:`.nm`: ``nm_mask(scores, n, m)``, N:M semi-structured masks (2:4),
  ``nm_prune`` by any connection criterion (``is_nm`` checks a pattern),
  ``gradual_nm`` training (its schedule ``nm_keep``) and
  ``nm_compress`` (values + 2-bit positions, for :mod:`minicomp.kernels.nm`);
- :mod:`.compact`: ``compact(net)`` removes dead neurons for real;
- :mod:`.schedule`: the cubic schedule of Zhu & Gupta (2017);
- :mod:`.procedures`: one-shot, iterative, gradual, sensitivity scan,
  lottery ticket;
- :mod:`.report`: nonzeros, dense and CSR bytes.

The built-in criteria (``criteria()`` lists what is registered):

================= ========== ========== =================================
name              level      needs      file (score)
================= ========== ========== =================================
``magnitude``     connection            :mod:`.magnitude` (Han et al. 2015)
``random``        connection            :mod:`.random` (the baseline)
``wanda``         connection X          :mod:`.activation` (Sun et al. 2023)
``taylor``        connection X, y       :mod:`.taylor` (Molchanov et al. 2017)
``obd``           connection X          :mod:`.obd` (LeCun et al. 1990)
``obs``           connection X          :mod:`.obs` (Hassibi & Stork 1993)
``activation``    neuron     X          :mod:`.activation` (:math:`R_i`, seed 000)
``taylor_neuron`` neuron     X, y       :mod:`.taylor`
``l1``, ``l2``    neuron                :mod:`.norm` (Li et al. 2017)
``random_neuron`` neuron                :mod:`.random`
================= ========== ========== =================================

The names below are the entry points; helpers (``wanda_scores``,
``obs_prune``, ``apply_mask``, ...) are imported from their files.

Examples
--------
>>> import numpy as np
>>> from minicomp import MLP
>>> from minicomp.prune import prune, size_report
>>> net = MLP([64, 32, 10], seed=0)
>>> _ = prune(net, "magnitude", 0.9)
>>> size_report(net)["nonzero"], size_report(net)["weights"]
(237, 2368)
"""
from . import magnitude, random, activation, taylor, obd, obs, norm
from .activation import activation_importance
from .compact import compact
from .mask import mask_from_scores, remove
from .nm import gradual_nm, is_nm, nm_compress, nm_keep, nm_mask, nm_prune
from .procedures import (
                   FineTune,
                   gradual,
                   iterative,
                   lottery_ticket,
                   one_shot,
                   pick_sparsities,
                   sensitivity_scan,
)
from .registry import criteria, criterion, prune
from .report import size_report
from .schedule import cubic_sparsity

# importing a criterion's file registers it; this order is the order of criteria()
CRITERION_FILES = (magnitude, random, activation, taylor, obd, obs, norm)

__all__ = [
    "FineTune", "activation_importance", "compact", "criteria", "criterion", "cubic_sparsity",
    "gradual", "gradual_nm", "is_nm", "iterative", "lottery_ticket", "mask_from_scores",
    "nm_compress", "nm_keep", "nm_mask", "nm_prune", "one_shot",
    "pick_sparsities", "prune", "remove", "sensitivity_scan", "size_report",
]
