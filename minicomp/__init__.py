"""minicomp: model compression from scratch, in NumPy.

A tiny autograd engine (:mod:`minicomp.tensor`), dense layers
(:mod:`minicomp.nn`), optimizers, one training loop, offline datasets and,
on top of them, one short file per compression technique. The entry point
of each technique is importable from here; the technique packages
(:mod:`~minicomp.prune`, :mod:`~minicomp.quant`, :mod:`~minicomp.deploy`)
load on first use, so ``import minicomp`` stays light (no Numba).

Examples
--------
>>> import minicomp
>>> net = minicomp.MLP([4, 8, 3])
>>> [b.index for b in minicomp.dense_blocks(net)], minicomp.storage_bytes(net)  # 4 * 67
([0, 2], 268)
>>> minicomp.prune.prune is minicomp.prune_net
True
"""
import importlib

from . import functional, nn, optim
from . import functional as F
from .blocks import dense_blocks, numpy_forward
from .checkpoint import load, save
from .gradcheck import gradcheck
from .metrics import accuracy, storage_bytes
from .nn import MLP, Dense, Module, Parameter, Sequential, manual_seed
from .tensor import Tensor, is_grad_enabled, no_grad
from .train import evaluate, fit, predict

__version__ = "0.1.0"

# technique entry points, loaded on first use: name -> (module, its name there)
_LAZY = {"prune": ("prune", None), "quant": ("quant", None), "deploy": ("deploy", None),
         "prune_net": ("prune", "prune"), "gradual": ("prune", "gradual"),
         "compact": ("prune", "compact"), "activation_importance": ("prune",
                                                                    "activation_importance"),
         "quantize_mlp": ("quant", "quantize_mlp"), "qat_finetune": ("quant", "qat_finetune"),
         "kmeans_quantize": ("quant", "kmeans_quantize"),
         "mixed_precision": ("quant", "mixed_precision"),
         "to_inference": ("deploy", "to_inference"),
         "distill": ("distill", None), "ptq": ("ptq", None), "formats": ("formats", None),
         "ensemble": ("ensemble", None), "structure": ("structure", None),
         "kd_loss": ("distill", "kd_loss"), "count_macs": ("blocks", "count_macs")}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'minicomp' has no attribute {name!r}")
    module, attr = _LAZY[name]
    loaded = importlib.import_module(f".{module}", __name__)
    return loaded if attr is None else getattr(loaded, attr)


__all__ = [
    "F", "MLP", "Dense", "Module", "Parameter", "Sequential", "Tensor", "accuracy",
    "dense_blocks", "evaluate", "fit", "functional", "gradcheck", "is_grad_enabled", "load",
    "manual_seed", "nn", "no_grad", "numpy_forward", "optim", "predict", "save",
    "storage_bytes", *_LAZY,
]
