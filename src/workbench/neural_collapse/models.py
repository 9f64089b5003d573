"""Batched models of the chapter; every parameter has a leading instance axis I.

Each model's ``features(x)`` returns the penultimate features (I, n, d) and ``classifier``
the last layer's weight (I, C, d) (and ``bias`` (I, C) or None); logits = h Wᵀ + b.

- :class:`UFM`: the unconstrained-features model (Mixon et al. 2020; Zhu et al. 2021): the
  features H are free parameters, one row per training sample.
- :class:`MLP`: in → width (× depth) → feature_dim, each Linear followed by BatchNorm (for the
  instances whose ``batchnorm`` flag is on) and ReLU; a bias-free linear classifier.
  BatchNorm statistics are per instance and use only the real (unmasked) rows of a batch.
- :class:`TinyLM`: a causal pre-LN transformer (GPT style) whose final LayerNorm output is the
  feature of the next-token classifier (the unembedding, with bias).

Initialisation follows the PyTorch defaults of the equivalent modules, drawn per instance
from a generator seeded with that instance's seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["UFM", "MLP", "TinyLM"]


def _uniform(shape, bound, g):
    return torch.empty(shape).uniform_(-bound, bound, generator=g)


def _stack(per: list[dict[str, torch.Tensor]]) -> nn.ParameterDict:
    return nn.ParameterDict({k: nn.Parameter(torch.stack([d[k] for d in per])) for k in per[0]})


class UFM(nn.Module):
    """Free features H (I, N, d) and a linear classifier (W, b), N(0, init²) initialisation."""

    def __init__(self, seeds, n_samples: int, d: int, n_classes: int, init: float = 0.1):
        super().__init__()
        per = []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            per.append({"H": torch.randn(n_samples, d, generator=g) * init,
                        "W": torch.randn(n_classes, d, generator=g) * init,
                        "b": torch.zeros(n_classes)})
        self.params = _stack(per)

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        H = self.params["H"]
        return H if idx is None else torch.gather(H, 1, idx.unsqueeze(-1).expand(-1, -1, H.shape[-1]))

    @property
    def classifier(self):
        return self.params["W"]

    @property
    def bias(self):
        return self.params["b"]


class MLP(nn.Module):
    """in → [Linear → (BatchNorm) → ReLU] × (depth + 1) → bias-free classifier."""

    def __init__(self, seeds, d_in: int, n_classes: int, width: int = 256, depth: int = 2,
                 feature_dim: int = 64, batchnorm=True, bn_momentum: float = 0.1):
        super().__init__()
        dims = [d_in] + [width] * depth + [feature_dim]
        self.n_layers = len(dims) - 1
        per = []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            p = {}
            for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
                p[f"w{k}"] = _uniform((a, b), 1 / math.sqrt(a), g)
                p[f"b{k}"] = _uniform((b,), 1 / math.sqrt(a), g)
                p[f"gamma{k}"], p[f"beta{k}"] = torch.ones(b), torch.zeros(b)
            p["W"] = _uniform((n_classes, feature_dim), 1 / math.sqrt(feature_dim), g)
            per.append(p)
        self.params = _stack(per)
        I = len(seeds)
        flags = [batchnorm] * I if isinstance(batchnorm, bool) else list(batchnorm)
        self.register_buffer("bn", torch.tensor(flags, dtype=torch.bool).view(I, 1, 1))
        for k, b in enumerate(dims[1:]):
            self.register_buffer(f"run_mean{k}", torch.zeros(I, 1, b))
            self.register_buffer(f"run_var{k}", torch.ones(I, 1, b))
        self.momentum = bn_momentum

    def _norm(self, h, k, mask):
        P = self.params
        if self.training:
            if mask is None:
                n = torch.full((), float(h.shape[1]), device=h.device)  # no host copy
                var, mean = torch.var_mean(h, 1, keepdim=True, unbiased=False)
            else:
                m = mask.unsqueeze(-1).to(h.dtype)
                n = m.sum(1, keepdim=True).clamp(min=1)
                mean = (h * m).sum(1, keepdim=True) / n
                var = ((h - mean) ** 2 * m).sum(1, keepdim=True) / n
            with torch.no_grad():
                rm, rv = getattr(self, f"run_mean{k}"), getattr(self, f"run_var{k}")
                rm.lerp_(mean.detach(), self.momentum)
                rv.lerp_((var * n / (n - 1).clamp(min=1)).detach(), self.momentum)
        else:
            mean, var = getattr(self, f"run_mean{k}"), getattr(self, f"run_var{k}")
        out = (h - mean) / torch.sqrt(var + 1e-5) * P[f"gamma{k}"][:, None] + P[f"beta{k}"][:, None]
        return torch.where(self.bn, out, h)

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (I, n, d_in) or (n, d_in) → features (I, n, feature_dim)."""
        P = self.params
        h = x
        for k in range(self.n_layers):
            w = P[f"w{k}"]
            h = (torch.matmul(h, w) if h.dim() == 3 else torch.einsum("na,iab->inb", h, w))
            h = F.relu(self._norm(h + P[f"b{k}"][:, None], k, mask))
        return h

    @property
    def classifier(self):
        return self.params["W"]

    @property
    def bias(self):
        return None


class TinyLM(nn.Module):
    """A causal pre-LN transformer: token + learned position embeddings, ``depth`` blocks of
    (LN → multi-head causal attention) and (LN → 4×width GELU MLP) residuals, a final LN whose
    output is the feature h, and an untied unembedding W (V, width) with bias."""

    def __init__(self, seeds, vocab: int, seq_len: int, width: int = 64, depth: int = 1,
                 heads: int = 4):
        super().__init__()
        if width % heads:
            raise ValueError(f"width: must be divisible by heads={heads} (got {width})")
        self.depth, self.heads = depth, heads
        d = width
        per = []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            p = {"tok": torch.randn(vocab, d, generator=g) * 0.02,
                 "pos": torch.randn(seq_len, d, generator=g) * 0.02}
            for k in range(depth):
                p[f"ln1_{k}"], p[f"ln2_{k}"] = torch.ones(d), torch.ones(d)
                p[f"qkv_{k}"] = torch.randn(d, 3 * d, generator=g) * 0.02
                p[f"proj_{k}"] = torch.randn(d, d, generator=g) * 0.02 / math.sqrt(2 * depth)
                p[f"fc_{k}"] = torch.randn(d, 4 * d, generator=g) * 0.02
                p[f"out_{k}"] = torch.randn(4 * d, d, generator=g) * 0.02 / math.sqrt(2 * depth)
            p["ln_f"] = torch.ones(d)
            p["W"] = torch.randn(vocab, d, generator=g) * 0.02
            p["b"] = torch.zeros(vocab)
            per.append(p)
        self.params = _stack(per)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) shared, or (I, B, T) per instance → features (I, B·T, width)."""
        P = self.params
        I = P["tok"].shape[0]
        if tokens.dim() == 2:
            tokens = tokens.expand(I, -1, -1)
        _, B, T = tokens.shape
        V, d = P["tok"].shape[1:]
        flat = tokens + torch.arange(I, device=tokens.device).view(I, 1, 1) * V
        x = P["tok"].reshape(I * V, d)[flat] + P["pos"][:, None, :T]     # (I, B, T, d)
        h, dh = self.heads, d // self.heads
        for k in range(self.depth):
            a = F.layer_norm(x, (d,)) * P[f"ln1_{k}"][:, None, None]
            q, kk, v = torch.einsum("ibtd,ide->ibte", a, P[f"qkv_{k}"]).split(d, -1)
            q, kk, v = (z.reshape(I * B, T, h, dh).transpose(1, 2) for z in (q, kk, v))
            att = F.scaled_dot_product_attention(q, kk, v, is_causal=True)
            att = att.transpose(1, 2).reshape(I, B, T, d)
            x = x + torch.einsum("ibtd,ide->ibte", att, P[f"proj_{k}"])
            m = F.layer_norm(x, (d,)) * P[f"ln2_{k}"][:, None, None]
            m = F.gelu(torch.einsum("ibtd,idf->ibtf", m, P[f"fc_{k}"]))
            x = x + torch.einsum("ibtf,ifd->ibtd", m, P[f"out_{k}"])
        x = F.layer_norm(x, (d,)) * P["ln_f"][:, None, None]
        return x.reshape(I, B * T, d)

    @property
    def classifier(self):
        return self.params["W"]

    @property
    def bias(self):
        return self.params["b"]
