"""Chapter 1 in plain PyTorch: one model, one training step, nothing batched.

This file is for reading. The experiments run the batched fast path (``models.py``,
``losses.py``, ``optim.py``, ``experiment.py``: many models as one, hand-tuned kernels);
``tests/test_grokking_reference.py`` checks that both compute the same numbers. Everything
here follows Prieto et al. 2025 (arXiv:2501.04697).

>>> model = MLP(p=59, width=128, seed=0)
>>> opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-25,
...                         weight_decay=0.0)
>>> loss = train_step(model, opt, x, y, loss="stablemax", perp=True)   # doctest: +SKIP
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["stablemax", "log_stablemax", "cross_entropy", "softmax_collapse_fraction",
           "perp_grad", "MLP", "Transformer", "train_step"]


# --------------------------------------------------------------------------- StableMax
def s(x: torch.Tensor) -> torch.Tensor:
    """s(x) = x + 1 for x ≥ 0 and 1/(1 − x) for x < 0: grows linearly, never like exp."""
    return torch.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))


def stablemax(z: torch.Tensor) -> torch.Tensor:
    """StableMax(z)_i = s(z_i) / Σ_j s(z_j): a softmax with s in place of exp."""
    return s(z) / s(z).sum(-1, keepdim=True)


def log_stablemax(z: torch.Tensor) -> torch.Tensor:
    return torch.log(s(z)) - torch.log(s(z).sum(-1, keepdim=True))


def cross_entropy(logits, y, loss: str = "softmax", dtype=torch.float32) -> torch.Tensor:
    """−mean log q(y) with q = softmax or StableMax, computed in ``dtype`` (the logits are
    cast first, so the softmax and its rounding happen in that precision)."""
    z = logits.to(dtype)
    logq = F.log_softmax(z, -1) if loss == "softmax" else log_stablemax(z)
    return -logq.gather(-1, y.unsqueeze(-1)).mean()


# --------------------------------------------------------------------------- Softmax Collapse
def softmax_collapse_fraction(logits: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Share of rows whose softmax in ``dtype`` is an exact one-hot: S = Σ_k exp(z_k − max z)
    rounds to exactly 1, so every competitor's exp underflowed and the gradient is 0."""
    z = logits.to(dtype)
    S = torch.exp(z - z.max(-1, keepdim=True).values).sum(-1)
    return (S == 1).double().mean()


# --------------------------------------------------------------------------- ⊥Grad
def perp_grad(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """⊥Grad of one parameter tensor: drop the gradient's component along the weights (the
    direction that only scales the logits) and give it back the norm of g."""
    g_perp = g - (w * g).sum() / ((w * w).sum() + 1e-30) * w
    return g_perp * g.norm() / (g_perp.norm() + 1e-30)


# --------------------------------------------------------------------------- models
class MLP(nn.Module):
    """Bias-free ReLU MLP on the two concatenated one-hots of (a, b): 2p → width (→ width)
    → p. Initialised like ``nn.Linear`` (U(±1/√fan_in)), drawn from one generator seeded
    with ``seed``, layer by layer, as an (in, out) matrix — the batched model's order."""

    def __init__(self, p: int, width: int = 200, depth: int = 2, seed: int = 0,
                 n_positions: int = 2, dtype=torch.float32):
        super().__init__()
        self.p = p
        dims = [n_positions * p] + [width] * depth + [p]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims, dims[1:]))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.layers:
                fan_in, fan_out = layer.in_features, layer.out_features
                w = torch.empty(fan_in, fan_out).uniform_(-1 / math.sqrt(fan_in),
                                                          1 / math.sqrt(fan_in), generator=g)
                layer.weight.copy_(w.T)
        self.to(dtype)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (N, 2) → logits (N, p)."""
        h = F.one_hot(tokens, self.p).flatten(1).to(self.layers[0].weight.dtype)
        for layer in self.layers[:-1]:
            h = F.relu(layer(h))
        return self.layers[-1](h)


class Transformer(nn.Module):
    """Prieto et al.'s 1-layer model: token embedding (no positional encoding), one post-LN
    ``nn.TransformerEncoderLayer``, a linear read-out of the last position. Initialised in the
    batched model's order from one generator seeded with ``seed``."""

    def __init__(self, p: int, d_model: int = 128, heads: int = 4, d_ff: int = 2048,
                 dropout: float = 0.1, seed: int = 0, dtype=torch.float32):
        super().__init__()
        d, f = d_model, d_ff
        self.embed = nn.Embedding(p, d)
        self.layer = nn.TransformerEncoderLayer(d, heads, f, dropout, batch_first=True)
        self.out = nn.Linear(d, p)
        g = torch.Generator().manual_seed(seed)

        def uniform(shape, bound):
            return torch.empty(shape).uniform_(-bound, bound, generator=g)

        with torch.no_grad():
            att, L = self.layer.self_attn, self.layer
            self.embed.weight.copy_(torch.randn((p, d), generator=g))
            att.in_proj_weight.copy_(uniform((d, 3 * d), math.sqrt(6 / (4 * d))).T)
            att.in_proj_bias.zero_()
            att.out_proj.weight.copy_(uniform((d, d), 1 / math.sqrt(d)).T)
            att.out_proj.bias.zero_()
            L.linear1.weight.copy_(uniform((d, f), 1 / math.sqrt(d)).T)
            L.linear1.bias.copy_(uniform((f,), 1 / math.sqrt(d)))
            L.linear2.weight.copy_(uniform((f, d), 1 / math.sqrt(f)).T)
            L.linear2.bias.copy_(uniform((d,), 1 / math.sqrt(f)))
            self.out.weight.copy_(uniform((d, p), 1 / math.sqrt(d)).T)
            self.out.bias.copy_(uniform((p,), 1 / math.sqrt(d)))
        self.to(dtype)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (N, L) → logits (N, p) from the last position."""
        return self.out(self.layer(self.embed(tokens))[:, -1])


# --------------------------------------------------------------------------- one step
def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               loss: str = "softmax", loss_dtype=torch.float32, perp: bool = False) -> float:
    """One full-batch step: the loss in ``loss_dtype``, its gradient, ⊥Grad on every
    parameter tensor if ``perp`` (⊥AdamW = AdamW fed ⊥Grad), then the optimiser's step."""
    model.train()
    opt.zero_grad()
    value = cross_entropy(model(x), y, loss, loss_dtype)
    value.backward()
    if perp:
        with torch.no_grad():
            for w in model.parameters():
                if w.grad is not None:
                    w.grad.copy_(perp_grad(w, w.grad))
    opt.step()
    return value.item()
