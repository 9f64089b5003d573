"""Batched models: every parameter has a leading instance axis of size I.

``MLP``: the bias-free ReLU MLP on concatenated one-hot inputs of Prieto et al. (226→200→
200→113 for p = 113). The first layer on one-hots is a sum of rows, so it is computed as a
gather (exactly equal to the matmul, ≈40 % fewer FLOPs).

``Transformer``: the paper's 1-layer model — embedding, one post-LayerNorm encoder layer
(multi-head self-attention + ReLU feed-forward, dropout), no positional encoding, a linear
read-out at the last position. Dropout draws from :func:`workbench.core.rng.uniform`, so an
instance's masks do not depend on what else is in the batch.

Initialisation follows the PyTorch defaults of the equivalent ``nn`` modules, drawn per
instance from a generator seeded with that instance's seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import rng

__all__ = ["MLP", "Transformer", "build_model"]


class _SumRows(torch.autograd.Function):
    """rows (R, H), flat (..., L) → Σ_l rows[flat[..., l]] with an ``index_add_`` backward
    (much faster on the CPU than the accumulating index_put of plain indexing)."""

    @staticmethod
    def forward(ctx, rows, flat):
        ctx.save_for_backward(flat)
        ctx.n_rows = rows.shape[0]
        return rows[flat].sum(-2)

    @staticmethod
    def backward(ctx, grad):
        (flat,) = ctx.saved_tensors
        L = flat.shape[-1]
        g = grad.unsqueeze(-2).expand(*grad.shape[:-1], L, grad.shape[-1])
        out = grad.new_zeros(ctx.n_rows, grad.shape[-1])
        out.index_add_(0, flat.reshape(-1), g.reshape(-1, grad.shape[-1]))
        return out, None


def sum_rows(rows: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """Σ_l rows[flat[..., l]]: the first layer on concatenated one-hots, as a gather."""
    return _SumRows.apply(rows, flat)


def _uniform(shape, bound, g):
    return torch.empty(shape).uniform_(-bound, bound, generator=g)


def _stack(per_instance: list[dict[str, torch.Tensor]], dtype) -> nn.ParameterDict:
    return nn.ParameterDict({k: nn.Parameter(torch.stack([d[k] for d in per_instance]).to(dtype))
                             for k in per_instance[0]})


class MLP(nn.Module):
    """Bias-free ReLU MLP: L one-hot inputs of ``vocab`` values → ``depth`` hidden layers of
    ``width`` → ``n_out`` logits."""

    def __init__(self, seeds: list[int], n_positions: int, vocab: int, n_out: int,
                 width: int = 200, depth: int = 2, dtype=torch.float32):
        super().__init__()
        self.n_positions, self.vocab = n_positions, vocab
        d_in = n_positions * vocab
        dims = [d_in] + [width] * depth + [n_out]
        names = ["embed"] + [f"hidden{i}" for i in range(1, depth)] + ["out"]
        per = []
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            per.append({n: _uniform((a, b), 1 / math.sqrt(a), g)
                        for n, a, b in zip(names, dims[:-1], dims[1:])})
        self.params = _stack(per, dtype)
        self.names = names
        self.register_buffer("offsets", torch.arange(n_positions) * vocab, persistent=False)

    @property
    def embedding(self) -> torch.Tensor:
        """First-layer rows of the first input position: (I, vocab, width)."""
        return self.params["embed"][:, : self.vocab]

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (I, N, L) → penultimate features (I, N, width): the last hidden layer after
        its ReLU, what the read-out ``params["out"]`` sees."""
        w = self.params["embed"]
        inst, rows = w.shape[0], w.shape[1]
        flat = tokens + self.offsets + torch.arange(inst, device=w.device).view(-1, 1, 1) * rows
        h = sum_rows(w.reshape(inst * rows, -1), flat)
        for name in self.names[1:-1]:
            h = torch.bmm(F.relu(h), self.params[name])
        return F.relu(h)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (I, N, L) → logits (I, N, n_out) = features · W_out."""
        return torch.bmm(self.features(tokens), self.params["out"])


class Transformer(nn.Module):
    """One post-LN encoder layer (PyTorch ``TransformerEncoderLayer`` semantics) on token
    embeddings without positional encoding; logits from the last position."""

    def __init__(self, seeds: list[int], vocab: int, n_out: int, d_model: int = 128,
                 heads: int = 4, d_ff: int = 2048, dropout: float = 0.1, dtype=torch.float32):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"width: must be divisible by heads={heads} (got {d_model})")
        self.heads, self.dropout = heads, dropout
        d, f = d_model, d_ff
        per = []
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            per.append({
                "embed": torch.randn((vocab, d), generator=g),
                "in_proj": _uniform((d, 3 * d), math.sqrt(6 / (4 * d)), g),
                "in_bias": torch.zeros(3 * d),
                "out_proj": _uniform((d, d), 1 / math.sqrt(d), g),
                "out_bias": torch.zeros(d),
                "ff1": _uniform((d, f), 1 / math.sqrt(d), g),
                "ff1_bias": _uniform((f,), 1 / math.sqrt(d), g),
                "ff2": _uniform((f, d), 1 / math.sqrt(f), g),
                "ff2_bias": _uniform((d,), 1 / math.sqrt(f), g),
                "ln1_weight": torch.ones(d), "ln1_bias": torch.zeros(d),
                "ln2_weight": torch.ones(d), "ln2_bias": torch.zeros(d),
                "out": _uniform((d, n_out), 1 / math.sqrt(d), g),
                "out_bias_head": _uniform((n_out,), 1 / math.sqrt(d), g),
            })
        self.params = _stack(per, dtype)
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64), persistent=False)
        self.step_counter = 0  # set by the trainer: dropout masks depend on (seed, step)

    @property
    def embedding(self) -> torch.Tensor:
        return self.params["embed"]

    def _drop(self, x: torch.Tensor, salt: int) -> torch.Tensor:
        if not self.training or self.dropout == 0:
            return x
        u = rng.uniform(self.seeds, self.step_counter, salt, tuple(x.shape[1:])).to(x.device)
        return x * (u >= self.dropout).to(x.dtype) / (1 - self.dropout)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (I, N, L) → penultimate features (I, N, d_model): the encoder layer's output
        at the last position, what the read-out ``params["out"]`` sees."""
        P = self.params
        inst, n, L = tokens.shape
        flat = tokens + torch.arange(inst, device=tokens.device).view(-1, 1, 1) * P["embed"].shape[1]
        x = P["embed"].reshape(-1, P["embed"].shape[-1])[flat]            # (I, N, L, d)
        d = x.shape[-1]
        h, dh = self.heads, d // self.heads

        def lin(t, w, b):  # (I, N, L, a) @ (I, a, c) + (I, c)
            return torch.einsum("inla,iac->inlc", t, w) + b[:, None, None, :]

        qkv = lin(x, P["in_proj"], P["in_bias"]).view(inst, n, L, 3, h, dh)
        q, k, v = qkv.unbind(3)                                             # (I, N, L, h, dh)
        att = torch.einsum("inqhd,inkhd->inhqk", q, k) / math.sqrt(dh)
        att = self._drop(att.softmax(-1), 1)
        a = torch.einsum("inhqk,inkhd->inqhd", att, v).reshape(inst, n, L, d)
        a = lin(a, P["out_proj"], P["out_bias"])
        x = F.layer_norm(x + self._drop(a, 2), (d,)) * P["ln1_weight"][:, None, None] \
            + P["ln1_bias"][:, None, None]
        ff = lin(self._drop(F.relu(lin(x, P["ff1"], P["ff1_bias"])), 3), P["ff2"], P["ff2_bias"])
        x = F.layer_norm(x + self._drop(ff, 4), (d,)) * P["ln2_weight"][:, None, None] \
            + P["ln2_bias"][:, None, None]
        return x[:, :, -1]                                                  # (I, N, d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (I, N, L) → logits (I, N, n_out) = features · W_out + b_out."""
        P = self.params
        return torch.bmm(self.features(tokens), P["out"]) + P["out_bias_head"][:, None, :]


def build_model(kind: str, seeds, n_positions, vocab, n_out, width, depth, heads, d_ff,
                dropout, dtype) -> nn.Module:
    if kind == "mlp":
        return MLP(seeds, n_positions, vocab, n_out, width, depth, dtype)
    if kind == "transformer":
        return Transformer(seeds, vocab, n_out, width, heads, d_ff, dropout, dtype)
    raise ValueError(f"model: must be mlp or transformer (got {kind!r})")
