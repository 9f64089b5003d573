"""Grokking metrics: pure functions of tensors. A leading instance axis is allowed
everywhere (shapes (..., N, C) → (...,))."""

from __future__ import annotations

import torch

__all__ = ["accuracy", "softmax_collapse_fraction", "zero_loss_fraction", "nlm_cosine",
           "fourier_power", "key_frequencies", "fourier_concentration", "classify_run"]


def _mean(x: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Share over the last axis (float64). With ``weights`` (per-instance padding: weight 1/n_i
    on the n_i real samples, 0 on padding) only the samples of positive weight count, and the
    share is an exact count ratio, so "all samples" is exactly 1.0."""
    if weights is None:
        return x.double().mean(-1)
    real = weights > 0
    return (x & real).sum(-1).double() / real.sum(-1).clamp(min=1)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, weights=None) -> torch.Tensor:
    """Share of samples whose arg-max logit is the target."""
    return _mean(logits.argmax(-1) == targets, weights)


def softmax_collapse_fraction(logits: torch.Tensor, dtype: torch.dtype = torch.float32,
                              weights=None) -> torch.Tensor:
    """Softmax Collapse (SC) fraction (Prieto et al. 2025, arXiv:2501.04697, §3).

    Cast the logits z_n to ``dtype``; S_n = Σ_k exp(z_nk − max_k z_nk). SC = share of samples
    with S_n == 1 exactly, i.e. where every competitor's exp underflows against the top class
    so the softmax is an exact one-hot and the correct-class gradient is exactly 0. In float32
    that happens once the top logit leads by about 16.6 (one competitor) to 21 (112 equal ones).
    """
    z = logits.to(dtype)
    s = torch.exp(z - z.max(-1, keepdim=True).values).sum(-1)
    return _mean(s == 1, weights)


def zero_loss_fraction(per_sample_loss: torch.Tensor, weights=None) -> torch.Tensor:
    """Share of samples whose loss is exactly 0 in the precision it was computed in
    (Prieto et al. 2025)."""
    return _mean(per_sample_loss == 0, weights)


def nlm_cosine(grads: list[torch.Tensor], params: list[torch.Tensor],
               instance_axis: bool = True) -> torch.Tensor:
    """cos(−∇_θ L, θ) over all parameters flattened (Prieto et al. 2025, §5).

    For a bias-free ReLU MLP f(cθ) = c^L f(θ), so θ itself is the naïve-loss-minimisation
    direction that only scales the logits; a cosine near 1 means the gradient mostly does that.
    """
    def flat(ts):
        return torch.cat([t.reshape(t.shape[0], -1) if instance_axis else t.reshape(1, -1)
                          for t in ts], 1)
    g, w = flat(grads), flat(params)
    cos = -(g * w).sum(1) / (g.norm(dim=1) * w.norm(dim=1) + 1e-30)
    return cos if instance_axis else cos[0]


def fourier_power(embedding: torch.Tensor) -> torch.Tensor:
    """Power of the embedding in the Fourier basis of Z_p (Nanda et al. 2023, arXiv:2301.05217).

    For an embedding E of shape (..., p, d) (one row per residue a), the DFT over a,
    Ê_k = Σ_a E_a e^{−2πi k a / p}, gives P_k = Σ_d |Ê_k,d|² for k = 0..⌊p/2⌋ (k and p − k
    combined), normalised to sum to 1. A grokked network concentrates its power on a handful
    of key frequencies.
    """
    spec = torch.fft.rfft(embedding.double(), dim=-2)        # (..., p//2 + 1, d)
    power = (spec.abs() ** 2).sum(-1)
    return power / power.sum(-1, keepdim=True)


def key_frequencies(power: torch.Tensor, top: int = 5) -> list[int]:
    """The ``top`` frequencies k ≥ 1 with the most power (one power spectrum, shape (K,))."""
    return (torch.argsort(power[1:], descending=True)[:top] + 1).tolist()


def fourier_concentration(embedding: torch.Tensor, top: int = 5) -> torch.Tensor:
    """Share of the non-constant Fourier power held by the ``top`` strongest frequencies —
    a progress measure in the spirit of Nanda et al.: ≈ top/(p/2) for a random embedding,
    near 1 once the modular-addition circuit has formed."""
    power = fourier_power(embedding)[..., 1:]
    power = power / power.sum(-1, keepdim=True)
    return power.sort(-1, descending=True).values[..., :top].sum(-1)


def classify_run(summary: dict, threshold: float = 0.9) -> str:
    """Phase of a run from its summary: ``no-learn`` (train accuracy never reaches
    ``threshold``), ``memorise`` (train does, test does not), ``grok`` (test reaches it at
    least twice as late as train, and at least one log interval later) or ``generalise``
    (test follows train closely)."""
    s_train, s_test = summary.get("step_train_acc_0.9"), summary.get("step_test_acc_0.9")
    if s_train is None:
        return "no-learn"
    if s_test is None:
        return "memorise"
    if s_test >= 2 * max(s_train, 1) and s_test > s_train + summary.get("log_every", 0):
        return "grok"
    return "generalise"
