"""Pruning: criteria, masks, removal of neurons, schedules and procedures.

One file per idea; each starts with its formula and its paper.

- criteria (scores shaped like what they rank): :mod:`.magnitude`,
  :mod:`.random`, :mod:`.activation` (R_i of seed 000 and Wanda),
  :mod:`.taylor`, :mod:`.obd`, :mod:`.obs`, :mod:`.norm`;
- :mod:`.mask`: ``mask_from_scores(scores, amount)``, global masks with a
  per-layer minimum, ``apply_mask``, ``remove``;
- :mod:`.criteria`: ``prune(net, criterion, amount, ...)`` by name;
- :mod:`.compact`: ``compact(net)`` removes dead neurons for real;
- :mod:`.schedule`: the cubic schedule of Zhu & Gupta (2017);
- :mod:`.procedures`: one-shot, iterative, gradual, sensitivity scan,
  lottery ticket;
- :mod:`.report`: nonzeros, CSR bytes, inference time.

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
from .activation import activation_importance, layer_inputs, wanda_scores
from .compact import compact
from .criteria import CONNECTION, NEURON, layer_scores, prune
from .magnitude import magnitude_scores, magnitude_threshold_mask
from .mask import (
                   apply_mask,
                   default_min_keep,
                   dense_layers,
                   global_masks,
                   mask_from_scores,
                   num_to_prune,
                   prune_connections,
                   prune_neurons,
                   remove,
                   sparsity,
                   threshold_mask,
)
from .norm import norm_scores
from .obd import obd_hessian_diagonal, obd_layer_scores, obd_scores
from .obs import layer_hessian, obs_prune, obs_scores, reconstruction_error
from .procedures import (
                   FineTune,
                   gradual,
                   iterative,
                   lottery_ticket,
                   one_shot,
                   pick_sparsities,
                   sensitivity_scan,
)
from .random import random_scores
from .report import dense_forward, inference_time, size_report, sparse_forward
from .schedule import cubic_sparsity
from .taylor import taylor_scores

__all__ = [
    "CONNECTION", "NEURON", "FineTune", "activation_importance", "apply_mask", "compact",
    "cubic_sparsity", "default_min_keep", "dense_forward", "dense_layers", "global_masks",
    "gradual", "inference_time", "iterative", "layer_hessian", "layer_inputs", "layer_scores",
    "lottery_ticket", "magnitude_scores", "magnitude_threshold_mask", "mask_from_scores",
    "norm_scores", "num_to_prune", "obd_hessian_diagonal", "obd_layer_scores", "obd_scores",
    "obs_prune", "obs_scores", "one_shot", "pick_sparsities", "prune", "prune_connections",
    "prune_neurons", "random_scores", "reconstruction_error", "remove", "sensitivity_scan",
    "size_report", "sparse_forward", "sparsity", "taylor_scores", "threshold_mask",
    "wanda_scores",
]
