"""A batched ReLU MLP with biases: every parameter has a leading instance axis I, and an
input of shape (I, B, d) goes through all instances with one ``baddbmm`` per layer.
Initialisation follows ``nn.Linear`` (U(±1/√fan_in)), per instance from its own seed."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["BatchedMLP"]


class BatchedMLP(nn.Module):
    def __init__(self, seeds: list[int], dims: list[int], salt: int = 0):
        super().__init__()
        ws, bs = [], []
        for seed in seeds:
            g = torch.Generator().manual_seed(seed * 1000 + salt)
            w, b = [], []
            for a, o in zip(dims[:-1], dims[1:]):
                bound = 1 / math.sqrt(a)
                w.append(torch.empty(a, o).uniform_(-bound, bound, generator=g))
                b.append(torch.empty(1, o).uniform_(-bound, bound, generator=g))
            ws.append(w)
            bs.append(b)
        self.weights = nn.ParameterList(nn.Parameter(torch.stack([w[k] for w in ws]))
                                        for k in range(len(dims) - 1))
        self.biases = nn.ParameterList(nn.Parameter(torch.stack([b[k] for b in bs]))
                                       for k in range(len(dims) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (I, B, d_in) → (I, B, d_out); ReLU between layers, none after the last."""
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if k < last:
                x = torch.relu(x)
        return x


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, written out: ≈3× faster than ``torch.softmax`` on the CPU
    for many short rows (K = 10), same values to float rounding."""
    e = (x - x.detach().amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the last axis, written out (see :func:`softmax`)."""
    s = x - x.detach().amax(-1, keepdim=True)
    return s - s.exp().sum(-1, keepdim=True).log()
