"""Sparse data and a fused loss for the toy model y = ReLU(W Wᵀ x + b) at paper scale.

With an expected density E = Σ p_i of about 1, a sample has about one active feature out of
n = 1000, yet the dense definition (:func:`data.sparse_features`) draws n uniforms per sample
and the model multiplies a mostly-zero x. Here a sample is a short list of *slots* (feature
index, value): O(E) uniforms per sample instead of n, h = Wᵀx as a weighted gather of rows of
W, and the loss and its gradients from the slots plus the one dense tensor that cannot be
avoided, the pre-activation W h + b of shape [instances, batch, n].

**Sampling** (exact in distribution, up to a truncation of probability < 1e-9 per sample).
Features are sorted by decreasing p_i (as :func:`data.feature_probs` returns them).

- *Head*: the first H features (those with p_i ≥ ½ in some config; often H = 0) fire exactly
  as in the dense definition, from one uniform r each: active iff r < p_i, value 2·r/p_i.
- *Tail*: feature i ≥ H fires independently with probability p_i. With the cumulative hazard
  Λ_i = Σ_{H ≤ j ≤ i} −ln(1 − p_j), put a unit-rate Poisson process on [0, Λ_n): feature i
  fires iff at least one point falls in (Λ_{i−1}, Λ_i], which happens with probability
  1 − exp(ln(1 − p_i)) = p_i, independently across features (disjoint intervals). The points
  are the partial sums T_k of K exponentials −ln(1 − u_k); point k names the feature
  searchsorted(Λ, T_k); a feature named twice keeps one slot; each slot's value is 2·v with
  its own uniform v. K is the smallest count with P(Poisson(Λ_n) > K) < 1e-9.

Every sample uses H + 2K uniforms; all data seeds are drawn in one call of
``core.rng.uniform``, so the stream is a pure function of (seed, step).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["SparseSampler", "to_dense", "sparse_loss", "sparse_loss_grads", "TRUNCATION"]

TRUNCATION = 1e-9   # P(a sample needs more than K tail slots), at most
HEAD_P = 0.5        # features with p ≥ this in some config are drawn one uniform each


def _poisson_quantile(lam: float, tail: float) -> int:
    """The smallest K with P(Poisson(lam) > K) < tail."""
    k, term = 0, math.exp(-lam)
    cdf = term
    while 1.0 - cdf >= tail:
        k += 1
        term *= lam / k
        cdf += term
        if k > 10_000:
            raise ValueError(f"density: too many active features per sample (Λ = {lam:.1f})")
    return max(k, 1)


class SparseSampler:
    """Slots (index, value) of samples from per-config firing probabilities ``p`` (C, n),
    each row sorted decreasingly; values are ``scale``·U(0, 1) (scale 2: U(0, 2))."""

    def __init__(self, p: torch.Tensor, scale: float = 2.0, device=None):
        p = p.to(torch.float64).cpu()
        if p.dim() != 2 or bool((p[:, 1:] > p[:, :-1] * (1 + 1e-12)).any()):
            raise ValueError("p: expected (configs, n) firing probabilities sorted decreasingly")
        C, n = p.shape
        self.n, self.scale = n, scale
        self.H = int((p >= HEAD_P).sum(1).max())
        tail = p[:, self.H:]
        hazard = torch.cumsum(-torch.log1p(-tail.clamp(max=1 - 1e-12)), dim=1)  # (C, n − H)
        lam = float(hazard[:, -1].max()) if n > self.H else 0.0
        self.K = _poisson_quantile(lam, TRUNCATION) if n > self.H else 0
        self.width = self.H + 2 * self.K       # uniforms per sample
        dev = torch.device(device or "cpu")
        self.p_head = p[:, : self.H].to(dev, torch.float32)
        self.hazard = hazard.to(dev).contiguous()
        self.total = hazard[:, -1:].to(dev) if n > self.H else None

    def slots(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniforms ``u`` of shape (C or 1, …, B, width) (a leading axis of 1: every config
        reads the same streams) → (idx int64, val float32), each (C, …, B, H + K); unused
        slots have value 0 (and a valid index)."""
        C = self.hazard.shape[0]
        if u.shape[-1] != self.width or u.shape[0] not in (1, C):
            raise ValueError(f"u: expected shape (1 or {C}, …, B, {self.width}), got "
                             f"{tuple(u.shape)}")
        u = u.expand(C, *u.shape[1:])
        shape = u.shape[:-1]
        idx_parts, val_parts = [], []
        if self.H:
            r = u[..., : self.H]
            ph = self.p_head.view(C, *([1] * (len(shape) - 1)), self.H)
            idx_parts.append(torch.arange(self.H, device=u.device).expand(*shape, self.H))
            val_parts.append(torch.where(r < ph, r * (self.scale / ph), torch.zeros_like(r)))
        if self.K:
            ua = u[..., self.H: self.H + self.K].double()
            v = u[..., self.H + self.K:]
            T = torch.cumsum(-torch.log1p(-ua), dim=-1)                # arrival times
            flat = T.reshape(C, -1)
            j = torch.searchsorted(self.hazard, flat).view(T.shape)    # first Λ_i ≥ T
            inside = T < self.total.view(C, *([1] * len(shape)))
            new = torch.ones_like(inside)
            new[..., 1:] = j[..., 1:] != j[..., :-1]
            keep = inside & new
            idx_parts.append(self.H + j.clamp(max=self.n - self.H - 1))
            val_parts.append(torch.where(keep, v * self.scale, torch.zeros_like(v)))
        return torch.cat(idx_parts, -1), torch.cat(val_parts, -1).to(torch.float32)


def to_dense(idx: torch.Tensor, val: torch.Tensor, n: int) -> torch.Tensor:
    """The dense x (…, n) of slots (…, K) (for tests and small models)."""
    return torch.zeros(*idx.shape[:-1], n, dtype=val.dtype, device=val.device).scatter_add_(
        -1, idx, val)


def _embed(W: torch.Tensor, idx: torch.Tensor, val: torch.Tensor, track: bool):
    """h = Wᵀx (I, B, m) for W (I, n, m) and slots (I, B, K), as a weighted gather of rows
    (``embedding_bag``); with ``track`` also the leaf whose gradient gives xᵀ(·)."""
    I, n, m = W.shape
    B, K = idx.shape[1:]
    flat = (idx + n * torch.arange(I, device=idx.device).view(I, 1, 1)).view(I * B, K)
    Wf = W.reshape(I * n, m)
    if track:
        Wf = Wf.detach().requires_grad_(True)
    with torch.enable_grad() if track else torch.no_grad():
        h = F.embedding_bag(flat, Wf, per_sample_weights=val.reshape(I * B, K), mode="sum")
    return h.view(I, B, m), Wf


def sparse_loss(W: torch.Tensor, b: torch.Tensor, idx: torch.Tensor,
                val: torch.Tensor) -> torch.Tensor:
    """mean_batch Σ_i (y_i − x_i)² (I,) for y = ReLU(W Wᵀx + b), x given by its slots:
    Σ_i y_i² − 2 Σ_slots y_a x_a + Σ_slots x_a² (one [I, B, n] tensor, y, is formed)."""
    with torch.no_grad():
        h, _ = _embed(W, idx, val, track=False)
        y = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2)).relu_()
        ya = y.gather(2, idx)
        per = torch.linalg.vector_norm(y, dim=-1).square() - 2 * (ya * val).sum(-1) \
            + val.square().sum(-1)
        return per.mean(-1)


def sparse_loss_grads(W: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, val: torch.Tensor):
    """The gradients (∂W (I, n, m), ∂b (I, n)) of Σ_instances mean_batch Σ_i (y_i − x_i)², as
    :func:`models.loss_grads` computes them for a dense x, from the slots: with
    e = (y − x)·[pre > 0] and h = Wᵀx, ∂W = (2/B)(eᵀh + xᵀ(eW)) and ∂b = (2/B) Σ_batch e.

    The pre-activation is the only [I, B, n] tensor, and it is read or written five times:
    formed (``baddbmm``), turned into e in place (ReLU, then a scatter of −x at the slots),
    and read by the two products eᵀ[h, 1] (which gives ∂W and ∂b at once: h carries a
    column of ones) and eW. x enters through its slots (a scatter, and the backward of the
    gather for xᵀ(eW))."""
    I, n, m = W.shape
    B = idx.shape[1]
    h, Wf = _embed(W, idx, val, track=True)
    with torch.no_grad():
        h1 = torch.ones(I, B, m + 1, dtype=h.dtype, device=h.device)
        h1[..., :m] = h                                                 # [h, 1]
        e = torch.baddbmm(b.unsqueeze(1), h1[..., :m], W.transpose(1, 2))   # pre (I, B, n)
        on = e.gather(2, idx) > 0                                       # [pre > 0] at slots
        e.relu_().scatter_add_(2, idx, torch.where(on, -val, torch.zeros_like(val)))
        g = torch.bmm(e.transpose(1, 2), h1)                            # [eᵀh, Σ_batch e]
        r = torch.bmm(e, W)                                             # eW (I, B, m)
    (gx,) = torch.autograd.grad(h, Wf, grad_outputs=r)                  # xᵀ(eW)
    scale = 2.0 / B
    gW = g[..., :m].add_(gx.view(I, n, m)).mul_(scale)
    return gW, g[..., m].mul(scale)
