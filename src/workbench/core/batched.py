"""Instance-axis helpers: batched optimisers, per-instance slicing, counter-based randomness.

Every parameter of a batched model has a leading *instance* axis of size I; instance i is
an independent model with its own hyperparameters (held as tensors of shape (I,)), so one
kernel launch trains all of them.
"""

from __future__ import annotations

import torch

__all__ = ["BatchedAdamW", "BatchedSGD", "slice_instance", "hash_uniform", "per_instance"]


def per_instance(values, like: torch.Tensor | None = None, *, dtype=torch.float32, device=None):
    """A float tensor of shape (I,) from a list of per-instance values."""
    return torch.as_tensor(list(values), dtype=dtype, device=device)


def _bcast(h, p: torch.Tensor):
    """Broadcast a hyperparameter (scalar or (I,) tensor) against a parameter (I, ...)."""
    if isinstance(h, torch.Tensor):
        return h.to(device=p.device, dtype=p.dtype).view((-1,) + (1,) * (p.dim() - 1))
    return h


class BatchedAdamW(torch.optim.Optimizer):
    """AdamW (Loshchilov & Hutter, decoupled weight decay) with per-instance hyperparameters.

    ``lr``, ``beta1``, ``beta2``, ``eps`` and ``weight_decay`` are floats or tensors of shape
    (I,), applied along the leading instance axis of every parameter. The update follows
    ``torch.optim.AdamW``: θ ← θ(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps). No host syncs.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                t = st["step"]
                lr, b1, b2, eps, wd = (_bcast(group[k], p) for k in
                                       ("lr", "beta1", "beta2", "eps", "weight_decay"))
                m, v = st["exp_avg"], st["exp_avg_sq"]
                p.mul_(1 - lr * wd)
                m.lerp_(g, 1 - b1)
                v.mul_(b2).add_((1 - b2) * g * g)
                bc1 = 1 - b1 ** t
                bc2_sqrt = (1 - b2 ** t) ** 0.5
                denom = (v.sqrt() / bc2_sqrt).add_(eps)
                p.sub_((lr / bc1) * m / denom)
        return loss


class BatchedSGD(torch.optim.Optimizer):
    """SGD with momentum and decoupled-from-nothing (L2-style, as ``torch.optim.SGD``) weight
    decay, per-instance hyperparameters: g ← g + wd·θ; b ← μb + g; θ ← θ − lr·b."""

    def __init__(self, params, lr=1e-2, momentum=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                lr, mu, wd = (_bcast(group[k], p) for k in ("lr", "momentum", "weight_decay"))
                g = p.grad + wd * p
                st = self.state[p]
                if "momentum_buffer" not in st:
                    st["momentum_buffer"] = g.clone()
                else:
                    st["momentum_buffer"].mul_(mu).add_(g)
                p.sub_(lr * st["momentum_buffer"])
        return loss


def slice_instance(obj, i: int, n: int):
    """Recursively take instance ``i`` (keeping a length-1 instance axis) of every tensor
    whose leading dimension is the instance count ``n``; other values pass through."""
    if isinstance(obj, torch.Tensor):
        return obj[i:i + 1].clone() if obj.dim() >= 1 and obj.shape[0] == n else obj
    if isinstance(obj, dict):
        return {k: slice_instance(v, i, n) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(slice_instance(v, i, n) for v in obj)
    return obj


_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32 by C. Wellons) on int64 tensors holding uint32s."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def hash_uniform(seeds: torch.Tensor, step: int, salt: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform [0, 1) floats of shape (I, *shape), a pure function of (seed_i, step, salt,
    element index): instance i draws the same numbers whether it trains alone or in a batch.
    Used for dropout masks in batched models."""
    dev = seeds.device
    key = _mix32((seeds.to(torch.int64) & _M32) ^ _mix32(torch.tensor(
        (step * 0x9E3779B9 + salt * 0x85EBCA6B) & _M32, device=dev)))
    numel = 1
    for s in shape:
        numel *= s
    idx = torch.arange(numel, device=dev, dtype=torch.int64).view(1, *shape)
    x = _mix32(idx ^ key.view(-1, *([1] * len(shape))))
    x = _mix32(x + 0x632BE5AB & _M32)
    return (x >> 8).to(torch.float32) * (1.0 / (1 << 24))
