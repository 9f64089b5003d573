"""Chapter 2 in plain PyTorch: one toy model, one training step, nothing batched.

This file is for reading. The experiments run the batched fast path (``models.py``,
``experiment.py``, ``toy.py``: every width, seed and config as one tensor, hand-written
gradients); ``tests/test_superposition_reference.py`` checks that both compute the same
numbers from the same seed.

* :class:`LiuModel` + :func:`train_step`: Liu, Liu & Gore 2025 (arXiv:2505.10465),
  y = ReLU(W Wᵀ x + b) with their ±γ row-norm rule on W.
* :class:`ElhageModel` + :func:`elhage_step`: Elhage et al. 2022, the same shape of model
  (optionally linear) with per-feature importance, trained with AdamW.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..core import rng

__all__ = ["sample", "LiuModel", "row_norm_decay_", "lr_at", "train_step", "ElhageModel",
           "elhage_step"]


def sample(seed: int, step: int, batch: int, p: torch.Tensor, scale: float = 2.0,
           salt: int = 1, row: int = 0):
    """A batch of sparse features: feature i fires with probability p_i and then takes a value
    U(0, scale). One uniform r_i per feature does both: it fires when r_i < p_i, and then
    r_i / p_i is again U(0, 1). The uniforms are rows ``row … row+batch`` of the (seed, step,
    salt) draw of :func:`workbench.core.rng.uniform` (salt 1: training, 3: evaluation): the
    numbers the fast path draws."""
    r = rng.uniform(torch.tensor([seed]), step, salt, (batch, len(p)), offset=row * len(p))[0]
    return torch.where(r < p, r * (scale / p), torch.zeros(()))


# --------------------------------------------------------------------------- Liu et al.
class LiuModel(nn.Module):
    """n features in m dimensions: h = Wᵀx, y = ReLU(W h + b). W_ij ~ N(0, 1/m), b_i ~ N(0, 1)."""

    def __init__(self, n: int, m: int, seed: int = 0):
        super().__init__()
        g = rng.generator(seed, 2, m)           # the fast path's init stream for (seed, width)
        self.W = nn.Parameter(torch.randn(n, m, generator=g) / m ** 0.5)
        self.b = nn.Parameter(torch.randn(n, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W @ self.W.T + self.b)


@torch.no_grad()
def row_norm_decay_(W: torch.Tensor, lr: float, gamma: float) -> None:
    """Liu et al.'s ±γ rule on the rows W_i (one per feature), in place.

    γ ≥ 0: W_i ← (1 − ηγ) W_i, ordinary weight decay → weak superposition.
    γ < 0: W_i ← W_i + ηγ (1 − 1/‖W_i‖) W_i, a step on ½(‖W_i‖ − 1)²: every row is pulled
    to norm 1, so every feature stays represented → strong superposition."""
    if gamma >= 0:
        W.mul_(1 - lr * gamma)
    else:
        norm = W.norm(dim=1, keepdim=True).clamp_min(1e-12)
        W.mul_(1 + lr * gamma * (1 - 1 / norm))


def lr_at(step: int, steps: int, warmup: int, peak: float, floor: float = 0.05) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``floor`` × peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train_step(model: LiuModel, opt: torch.optim.Optimizer, x: torch.Tensor, lr: float,
               gamma: float) -> float:
    """One step: L = mean over the batch of ‖y − x‖² (= n × MSE), its gradient, the ±γ rule
    on W (at the pre-step weights' gradient), then Adam with learning rate ``lr``."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    loss = ((model(x) - x) ** 2).sum(-1).mean()
    loss.backward()
    row_norm_decay_(model.W, lr, gamma)
    opt.step()
    return loss.item()


# --------------------------------------------------------------------------- Elhage et al.
class ElhageModel(nn.Module):
    """x′ = ReLU(W Wᵀ x + b) (or without the ReLU: the linear model), W xavier-normal, b = 0;
    row W_i is feature i's direction in the m hidden dimensions."""

    def __init__(self, n: int, m: int, relu: bool = True, seed: int = 0):
        super().__init__()
        g = rng.generator(seed, 2)
        self.W = nn.Parameter(torch.randn(n, m, generator=g) * (2.0 / (n + m)) ** 0.5)
        self.b = nn.Parameter(torch.zeros(n))
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.W @ self.W.T + self.b
        return torch.relu(y) if self.relu else y


def elhage_step(model: ElhageModel, opt: torch.optim.Optimizer, x: torch.Tensor,
                importance: torch.Tensor) -> float:
    """One AdamW step on L = mean over the batch of Σ_i I_i (x_i − x′_i)²."""
    opt.zero_grad()
    loss = (importance * (model(x) - x) ** 2).sum(-1).mean()
    loss.backward()
    opt.step()
    return loss.item()
