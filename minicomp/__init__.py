"""minicomp: model compression from scratch, in NumPy.

A tiny autograd engine (:mod:`minicomp.tensor`), dense layers
(:mod:`minicomp.nn`), optimizers, one training loop, offline datasets and,
on top of them, one short file per compression technique.
"""
from . import functional, nn, optim
from . import functional as F
from .checkpoint import load, save
from .gradcheck import gradcheck
from .nn import MLP, Dense, Module, Parameter, Sequential, manual_seed
from .tensor import Tensor, is_grad_enabled, no_grad
from .train import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "F", "MLP", "Dense", "Module", "Parameter", "Sequential", "Tensor", "evaluate", "fit",
    "functional", "gradcheck", "is_grad_enabled", "load", "manual_seed", "nn", "no_grad",
    "optim", "predict", "save",
]
