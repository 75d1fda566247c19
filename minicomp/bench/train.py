"""``minicomp bench train``: one training step, engine vs hand-written NumPy vs PyTorch.

A step is forward + cross-entropy + backward + plain SGD update, batch 64,
float32, on the MLPs 64-128-64-10 and 784-300-100-10. The hand-written
NumPy step is the same arithmetic with the backward pass written out by
hand: the floor any NumPy engine can reach. PyTorch runs on the CPU with 2
threads when it is installed.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..nn import MLP
from ..optim import SGD
from ..tensor import Tensor
from .timing import median_time

SIZES = ((64, 128, 64, 10), (784, 300, 100, 10))


def engine_step(sizes, X, y, lr=0.01):
    """Return a function doing one training step of a minicomp MLP."""
    net = MLP(sizes, seed=0)
    opt = SGD(net.parameters(), lr=lr)
    X_t = Tensor(X)

    def step():
        loss = F.cross_entropy(net(X_t), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def numpy_step(sizes, X, y, lr=0.01):
    """Return a function doing the same step with a hand-written backward pass."""
    rng = np.random.default_rng(0)
    Ws = [(rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    N = len(X)
    Y = np.zeros((N, sizes[-1]), np.float32)
    Y[np.arange(N), y] = 1

    def step():
        acts = [X]                                     # inputs of each layer
        for W, b in zip(Ws[:-1], bs[:-1]):
            acts.append(np.maximum(acts[-1] @ W.T + b, 0))
        z = acts[-1] @ Ws[-1].T + bs[-1]               # (N, C) logits
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - Y) / N                                # dL/dz
        for k in range(len(Ws) - 1, -1, -1):
            gW, gb = g.T @ acts[k], g.sum(axis=0)
            if k:
                g = (g @ Ws[k]) * (acts[k] > 0)
            Ws[k] -= lr * gW
            bs[k] -= lr * gb
    return step


def torch_step(sizes, X, y, lr=0.01, threads=2):
    """Return a PyTorch step, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def step():
        loss = torch.nn.functional.cross_entropy(net(X_t), y_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def run(batch_size: int = 64, quick: bool = False, seed: int = 0) -> list[dict]:
    """Time every contender on every MLP; return one row per MLP (seconds and ratios)."""
    rows = []
    samples = 7 if quick else 21
    for sizes in SIZES:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((batch_size, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], batch_size)
        row = {"mlp": "-".join(map(str, sizes)), "batch": batch_size}
        row["engine_s"] = median_time(engine_step(sizes, X, y), samples=samples)
        row["numpy_s"] = median_time(numpy_step(sizes, X, y), samples=samples)
        t_step = torch_step(sizes, X, y)
        row["torch_s"] = median_time(t_step, samples=samples) if t_step else None
        row["engine/numpy"] = row["engine_s"] / row["numpy_s"]
        row["engine/torch"] = row["engine_s"] / row["torch_s"] if t_step else None
        rows.append(row)
    return rows


def format_table(rows) -> str:
    head = f"{'MLP':<16} {'batch':>5} {'engine us':>10} {'numpy us':>9} {'torch us':>9} " \
           f"{'engine/numpy':>13} {'engine/torch':>13}"
    lines = [head, "-" * len(head)]
    for r in rows:
        torch_us = f"{r['torch_s'] * 1e6:9.0f}" if r["torch_s"] else f"{'n/a':>9}"
        vs_torch = f"{r['engine/torch']:13.2f}" if r["engine/torch"] else f"{'n/a':>13}"
        lines.append(f"{r['mlp']:<16} {r['batch']:>5} {r['engine_s'] * 1e6:10.0f} "
                     f"{r['numpy_s'] * 1e6:9.0f} {torch_us} {r['engine/numpy']:13.2f} {vs_torch}")
    lines.append("ratios < 1 mean the engine is faster; targets: engine/torch <= 1.0, "
                 "engine/numpy <= 1.6")
    return "\n".join(lines)
