"""⊥Grad: the gradient with its component along the weights removed.

Prieto et al. 2025 (arXiv:2501.04697, §5): naïve loss minimisation (NLM) grows the logits by
scaling the weights along θ itself. ⊥Grad removes that direction from each parameter tensor's
gradient and restores its norm:

    g⊥ = g − (⟨w, g⟩ / ⟨w, w⟩) w,     g ← g⊥ · ‖g‖ / ‖g⊥‖

(1e-30 guards both denominators). ⊥AdamW / ⊥SGD are the base optimisers fed g⊥.
"""

from __future__ import annotations

import torch

from ..core.batched import BatchedAdamW, BatchedSGD

__all__ = ["perp_grad_", "PerpGrad", "make_optimizer", "OPTIMIZERS"]

OPTIMIZERS = ("adamw", "sgd", "perp_adamw", "perp_sgd")


@torch.no_grad()
def perp_grad_(params, instance_axis: bool = False, mask: torch.Tensor | None = None) -> None:
    """Replace each parameter's ``.grad`` in place by its ⊥Grad.

    With ``instance_axis=True`` the leading axis indexes independent models and the
    projection is taken per instance; ``mask`` (bool, shape (I,)) limits it to some instances.
    """
    for p in params:
        g = p.grad
        if g is None:
            continue
        dims = tuple(range(1, p.dim())) if instance_axis else tuple(range(p.dim()))
        keep = dict(dim=dims, keepdim=True)
        w = p.detach()
        proj = (w * g).sum(**keep) / ((w * w).sum(**keep) + 1e-30)
        g_perp = g - proj * w
        g_perp = g_perp * (g.norm(**_norm_kw(dims)) / (g_perp.norm(**_norm_kw(dims)) + 1e-30))
        if mask is not None:
            g_perp = torch.where(mask.view((-1,) + (1,) * (p.dim() - 1)), g_perp, g)
        g.copy_(g_perp)


def _norm_kw(dims):
    return dict(dim=dims, keepdim=True) if dims else {}


class PerpGrad:
    """Wrap any ``torch.optim`` optimizer so that each ``step()`` is fed ⊥Grad.

    >>> opt = PerpGrad(torch.optim.AdamW(model.parameters(), lr=1e-2))   # ⊥AdamW
    """

    def __init__(self, optimizer: torch.optim.Optimizer, instance_axis: bool = False,
                 mask: torch.Tensor | None = None):
        self.optimizer = optimizer
        self.instance_axis = instance_axis
        self.mask = mask

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        perp_grad_(params, self.instance_axis, self.mask)
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state)

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state


def make_optimizer(params, kind_per_instance: list[str], lr, weight_decay, beta1, beta2, eps,
                   momentum):
    """The batched optimiser for one group of instances. ``kind_per_instance`` lists each
    instance's optimizer; instances may mix ``adamw`` with ``perp_adamw`` (or ``sgd`` with
    ``perp_sgd``), the ⊥ ones masked per instance. Hyperparameters are (I,) tensors."""
    families = {k.replace("perp_", "") for k in kind_per_instance}
    if len(families) != 1:
        raise ValueError("optimizer: instances of one batch must share AdamW or SGD")
    family = families.pop()
    if family == "adamw":
        base = BatchedAdamW(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                            weight_decay=weight_decay)
    else:
        base = BatchedSGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    perp = torch.tensor([k.startswith("perp_") for k in kind_per_instance], device=lr.device)
    if not perp.any():  # decided once, at construction: no host sync in the loop
        return base
    return PerpGrad(base, instance_axis=True, mask=None if perp.all() else perp)
