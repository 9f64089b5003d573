"""The chapter's models and training steps, plain and single-instance, to read.

The experiments train many instances as one batched model (:mod:`.models`,
:mod:`.experiment`); this module is the same mathematics written the ordinary way — an
``nn.Module``, ``torch.optim.SGD`` and a short ``train_step`` — and ``tests/test_nc_reference.py``
checks that both compute the same numbers for the same seed.

- :func:`nc1`: NC1 = Tr(Σ_W Σ_B⁺)/C in a few lines (Papyan, Han & Donoho 2020).
- :class:`MLP` + :func:`train_step`: the digits MLP (Linear → BatchNorm → ReLU, bias-free
  classifier) and one SGD step on a minibatch.
- :class:`UFM` + :func:`ufm_train_step`: the unconstrained-features model (Mixon et al. 2020;
  Zhu et al. 2021): the features H are parameters; one full-batch SGD step on
  CE + (λ/2)(‖W‖² + ‖H‖² + ‖b‖²).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .experiment import epoch_order, lr_factor

__all__ = ["nc1", "MLP", "train_step", "UFM", "ufm_train_step", "minibatch", "lr_factor"]


def nc1(H: torch.Tensor, y: torch.Tensor) -> float:
    """NC1 = Tr(Σ_W Σ_B⁺)/C of features H (N, d) with labels y (N,) in 0…C−1 (every class
    present). Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ; Σ_B = (1/C) Σ_c μ̃_c μ̃_cᵀ with
    μ̃_c = μ_c − mean of the class means; ⁺ is the pseudo-inverse (Σ_B has rank ≤ C − 1)."""
    H = H.double()
    C = int(y.max()) + 1
    means = torch.stack([H[y == c].mean(0) for c in range(C)])       # (C, d) class means μ_c
    M = means - means.mean(0)                                         # centred: μ̃_c
    sigma_b = M.T @ M / C                                             # between-class (d, d)
    R = H - means[y]                                                  # h_i − μ_{y_i}
    sigma_w = R.T @ R / len(H)                                        # within-class (d, d)
    return float(torch.trace(sigma_w @ torch.linalg.pinv(sigma_b)) / C)


class MLP(nn.Module):
    """in → [Linear → BatchNorm → ReLU] × (depth + 1) → bias-free linear classifier; the
    input of the classifier is the feature h. Initialised exactly as one instance of the
    batched :class:`~workbench.neural_collapse.models.MLP` with the same seed."""

    def __init__(self, d_in: int = 64, n_classes: int = 10, width: int = 256, depth: int = 2,
                 feature_dim: int = 64, batchnorm: bool = True, seed: int = 0):
        super().__init__()
        dims = [d_in] + [width] * depth + [feature_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) if batchnorm else nn.Identity()
                                   for b in dims[1:])
        self.classifier = nn.Linear(feature_dim, n_classes, bias=False)
        g = torch.Generator().manual_seed(seed)                      # U(±1/√fan_in) as nn.Linear
        with torch.no_grad():
            for lin in self.linears:
                bound = 1 / math.sqrt(lin.in_features)
                lin.weight.copy_(torch.empty(lin.in_features, lin.out_features)
                                 .uniform_(-bound, bound, generator=g).T)
                lin.bias.copy_(torch.empty(lin.out_features).uniform_(-bound, bound, generator=g))
            bound = 1 / math.sqrt(feature_dim)
            self.classifier.weight.copy_(torch.empty(n_classes, feature_dim)
                                         .uniform_(-bound, bound, generator=g))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for linear, norm in zip(self.linears, self.norms):
            x = F.relu(norm(linear(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor) -> float:
    """One SGD step on the mean cross-entropy of a minibatch (BatchNorm in training mode)."""
    model.train()
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


class UFM(nn.Module):
    """Unconstrained features: H (N, d) free, one row per training sample; classifier W, b.
    N(0, init²) initialisation, drawn as one instance of the batched UFM."""

    def __init__(self, n_samples: int, d: int, n_classes: int, init: float = 0.1, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.H = nn.Parameter(torch.randn(n_samples, d, generator=g) * init)
        self.W = nn.Parameter(torch.randn(n_classes, d, generator=g) * init)
        self.b = nn.Parameter(torch.zeros(n_classes))

    def forward(self) -> torch.Tensor:
        return self.H @ self.W.T + self.b                              # logits of every sample


def ufm_train_step(model: UFM, opt: torch.optim.Optimizer, y: torch.Tensor) -> float:
    """One full-batch step on (1/N) Σ_i CE(W h_i + b, y_i); the penalty (λ/2)(‖W‖² + ‖H‖² +
    ‖b‖²) enters as the optimiser's weight decay λ (its gradient is λ·θ)."""
    opt.zero_grad()
    loss = F.cross_entropy(model(), y)
    loss.backward()
    opt.step()
    return loss.item()


# ---------------------------------------------------------------------- the data order
def minibatch(seed: int, step: int, n: int, batch_size: int) -> torch.Tensor:
    """The slot indices of step ``step``'s minibatch for one seed (epochs of ⌈n/B⌉ steps, a
    fresh random order each epoch): the same slots the batched trainer uses."""
    per_epoch = math.ceil(n / batch_size)
    epoch, k = divmod(step, per_epoch)
    return epoch_order(torch.tensor([seed]), epoch, n)[0, k * batch_size:(k + 1) * batch_size]
