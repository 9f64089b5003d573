"""Synthetic sparse features for the toy models (nothing is downloaded).

Liu, Liu & Gore 2025: feature i fires with probability p_i and then takes a value U(0, 2)
(so ⟨v²⟩ = 4/3); the p_i follow a *frequency shape* normalised to Σ p_i = E (the expected
number of active features, ``density``). Elhage et al. 2022: feature i is U(0, 1) with
probability ``feature_density`` (= 1 − S, S the "sparsity") and 0 otherwise. The uniforms
come from ``core.rng.uniform`` (one stream per data seed, a pure function of the step).
"""

from __future__ import annotations

import torch

__all__ = ["SHAPES", "feature_probs", "sparse_features", "V_SQ_MEAN"]

SHAPES = ("power", "exponential", "linear")
V_SQ_MEAN = 4.0 / 3.0  # ⟨v²⟩ for v ~ U(0, 2)


def feature_probs(n: int, shape: str = "power", alpha: float = 1.0, density: float = 1.0,
                  tau: float = 0.04) -> torch.Tensor:
    """Firing probabilities p_1 ≥ … ≥ p_n (float64), Σ p_i = density, each clipped to ≤ 1.

    power: p_i ∝ i^(−α); exponential: p_i ∝ exp(−i / (τ n)) (the paper's e^(−i/400) at
    n = 10240 is τ ≈ 0.04); linear: p_i ∝ (n − i + 1) / n.
    """
    i = torch.arange(1, n + 1, dtype=torch.float64)
    if shape == "power":
        w = i ** (-alpha)
    elif shape == "exponential":
        w = torch.exp(-(i - 1) / (tau * n))
    elif shape == "linear":
        w = (n - i + 1) / n
    else:
        raise ValueError(f"freq_shape: must be one of {', '.join(SHAPES)} (got {shape!r})")
    return (w * (density / w.sum())).clamp(max=1.0)


def sparse_features(r: torch.Tensor, p: torch.Tensor, scale: float = 2.0):
    """x_i = u_i · scale · v_i, u_i ~ Bernoulli(p_i), v_i ~ U(0, 1), from ONE uniform r_i:
    u_i = [r_i < p_i] and, given that, v_i = r_i / p_i is again U(0, 1) and independent of
    which features fired — half the random numbers of two draws. ``p`` broadcasts against r."""
    p = p.to(r.dtype)
    return torch.where(r < p, r * (scale / p.clamp_min(1e-30)), torch.zeros((), dtype=r.dtype,
                                                                            device=r.device))
