"""The chapter's mechanism and its VAE, plain and single-instance, to read.

The experiments train many instances as one batched model (:mod:`.vae`); this module is the
same mathematics written the ordinary way, and ``tests/test_gumbel_reference.py`` checks that
both compute the same numbers for the same seed and noise.

- :func:`gumbel_softmax_sample`: y = softmax((ℓ + g)/τ), g = −log(−log U) (Jang, Gu & Poole
  2016; Maddison, Mnih & Teh 2016).
- :func:`straight_through`: forward the one-hot argmax of y, backward the gradient of y
  (Bengio, Léonard & Courville 2013; ST Gumbel-Softmax in Jang et al.).
- :class:`CategoricalVAE` + :func:`train_step`: the categorical VAE of Jang et al. §4.3 with a
  Bernoulli decoder, analytic KL to the uniform prior, and the GS, ST-GS or REINFORCE
  estimator.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["gumbel_softmax_sample", "straight_through", "CategoricalVAE", "train_step",
           "kl_to_uniform"]


def gumbel_softmax_sample(logits: torch.Tensor, tau: float,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """One relaxed sample per row of ``logits`` (…, K): softmax((logits + g)/τ)."""
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
    g = -torch.log(-torch.log(u))                                     # Gumbel(0, 1) noise
    return torch.softmax((logits + g) / tau, dim=-1)


def straight_through(y: torch.Tensor) -> torch.Tensor:
    """The one-hot of argmax y in the forward pass; the gradient of y in the backward pass."""
    hard = F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return hard - y.detach() + y


def kl_to_uniform(logq: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ Uniform(K)) summed over the latent variables: Σ_n Σ_k q_nk (log q_nk + log K),
    from log-probabilities ``logq`` (…, N, K) → (…)."""
    return (logq.exp() * (logq + math.log(logq.shape[-1]))).sum((-1, -2))


def _mlp(dims: list[int], seed: int) -> nn.Sequential:
    """Linear layers with ReLU between them, initialised U(±1/√fan_in) from ``seed`` exactly
    as one instance of :class:`~workbench.gumbel.models.BatchedMLP`."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for a, o in zip(dims[:-1], dims[1:]):
        lin = nn.Linear(a, o)
        bound = 1 / math.sqrt(a)
        with torch.no_grad():
            lin.weight.copy_(torch.empty(a, o).uniform_(-bound, bound, generator=g).T)
            lin.bias.copy_(torch.empty(o).uniform_(-bound, bound, generator=g))
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class CategoricalVAE(nn.Module):
    """x (B, D) → log q(z|x) (B, L, K) → z (B, L, K) → Bernoulli logits of x (B, D)."""

    def __init__(self, D: int, latents: int = 20, categories: int = 10, hidden1: int = 512,
                 hidden2: int = 256, seed: int = 0):
        super().__init__()
        self.L, self.K = latents, categories
        self.encoder = _mlp([D, hidden1, hidden2, latents * categories], seed * 1000 + 1)
        self.decoder = _mlp([latents * categories, hidden2, hidden1, D], seed * 1000 + 2)
        self.baseline: torch.Tensor | None = None      # REINFORCE: EMA of the reconstruction

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.encoder(x).unflatten(-1, (self.L, self.K)), -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.flatten(-2))


def train_step(model: CategoricalVAE, opt: torch.optim.Optimizer, x: torch.Tensor,
               g: torch.Tensor, tau: float, estimator: str = "gs",
               baseline_decay: float = 0.9) -> float:
    """One step on the mean −ELBO of binary images x (B, D), Gumbel noise g (B, L, K).

    GS decodes the relaxed sample y, ST-GS its straight-through one-hot, REINFORCE the hard
    sample z and adds the score-function term (f(z) − b)·log q(z|x) for the encoder, with b an
    exponential moving average of f = −log p(x|z)."""
    logq = model.encode(x)
    y = torch.softmax((logq + g) / tau, -1)
    hard = F.one_hot(y.argmax(-1), model.K).to(y.dtype)
    z = {"gs": y, "st": hard - y.detach() + y, "reinforce": hard}[estimator]
    recon = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)
    loss = (recon + kl_to_uniform(logq)).mean()
    f = recon.detach()
    if model.baseline is None:
        model.baseline = f.mean()
    if estimator == "reinforce":
        loss = loss + ((f - model.baseline) * (logq * hard).sum((-1, -2))).mean()
    model.baseline = baseline_decay * model.baseline + (1 - baseline_decay) * f.mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()
