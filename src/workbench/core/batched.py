"""Instance-axis helpers: the one Adam (and batched optimisers), per-instance slicing.

Every parameter of a batched model has a leading *instance* axis of size I; instance i is
an independent model with its own hyperparameters (held as tensors of shape (I,)), so one
kernel launch trains all of them.
"""

from __future__ import annotations

import torch

__all__ = ["adam_step_", "BatchedAdamW", "BatchedSGD", "slice_instance", "per_instance"]


def per_instance(values, like: torch.Tensor | None = None, *, dtype=torch.float32, device=None):
    """A float tensor of shape (I,) from a list of per-instance values."""
    return torch.as_tensor(list(values), dtype=dtype, device=device)


def _bcast(h, p: torch.Tensor):
    """Broadcast a hyperparameter (scalar or (I,) tensor) against a parameter (I, ...)."""
    if isinstance(h, torch.Tensor):
        return h.to(device=p.device, dtype=p.dtype).view((-1,) + (1,) * (p.dim() - 1))
    return h


@torch.no_grad()
def adam_step_(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step,
               lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0) -> None:
    """One AdamW update of ``p`` in place (Loshchilov & Hutter, decoupled weight decay),
    following ``torch.optim.AdamW``: θ ← θ(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).

    ``step`` is t ≥ 1 counting this update: a float tensor (0-d, on p's device, so the update
    never reads a value back to the host and a CUDA graph can capture it) or an int. The
    hyperparameters are floats or tensors that broadcast against ``p`` (per instance: shape
    (I, 1, …, 1)); float betas give bias corrections computed in float64, tensor betas in
    their own dtype. The one Adam of the package: :class:`BatchedAdamW` and the
    superposition trainer call it."""
    t = step.to(torch.float64) if isinstance(step, torch.Tensor) else step
    if not (isinstance(weight_decay, float) and weight_decay == 0.0):
        p.mul_(1 - lr * weight_decay)
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    bc1 = 1 - _power(beta1, t)
    bc2_sqrt = (1 - _power(beta2, t)) ** 0.5
    denom = (v.sqrt() / bc2_sqrt).add_(eps)
    p.sub_((lr / bc1) * m / denom)


def _power(beta, t):
    """βᵗ for the bias corrections. A float β: in float64. A tensor β: in float64, rounded to
    β's dtype, except t = 3, which is β·β·β in β's dtype (what torch's ``pow`` computes for
    an integer exponent 3, kept so that results stay bit-identical with earlier versions).
    The same numbers for any number of instances and whether ``t`` is an int or a tensor."""
    if not isinstance(beta, torch.Tensor):
        return beta ** t
    t = torch.as_tensor(t, dtype=torch.float64, device=beta.device)
    return torch.where(t == 3, beta * beta * beta, (beta.double() ** t).to(beta.dtype))


class BatchedAdamW(torch.optim.Optimizer):
    """AdamW with per-instance hyperparameters: :func:`adam_step_` on every parameter.

    ``lr``, ``beta1``, ``beta2``, ``eps`` and ``weight_decay`` are floats or tensors of shape
    (I,), applied along the leading instance axis of every parameter. The step count is a
    float32 tensor on the parameter's device. No host syncs.
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
                st = self.state[p]
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                elif not isinstance(st["step"], torch.Tensor) or st["step"].device != p.device:
                    st["step"] = torch.as_tensor(st["step"], dtype=torch.float32).to(p.device)
                st["step"] += 1
                adam_step_(p, p.grad, st["exp_avg"], st["exp_avg_sq"], st["step"],
                           *(_bcast(group[k], p) for k in
                             ("lr", "beta1", "beta2", "eps", "weight_decay")))
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
