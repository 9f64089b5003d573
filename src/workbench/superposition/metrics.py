"""Measurements of a toy model's weights W (rows W_i = features) and of loss-vs-width fits.

Every function takes W of shape (..., n, m) — any leading instance axes — and works on the
last two axes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["row_norms", "phi", "squared_overlaps", "overlap_stats", "random_overlap_stats",
           "welch_bound", "dimensions_per_feature", "feature_dimensionality",
           "interference", "fit_exponent", "exponent_over_seeds"]


def row_norms(W: torch.Tensor) -> torch.Tensor:
    """‖W_i‖ for every feature i: shape (..., n)."""
    return W.norm(dim=-1)


def phi(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Fraction of features with ‖W_i‖ > threshold (Liu et al. 2025): φ½ (threshold ½, the
    represented fraction) and φ₁ (threshold 1, strongly represented)."""
    return (row_norms(W) > threshold).to(W.dtype).mean(-1)


def squared_overlaps(W: torch.Tensor) -> torch.Tensor:
    """(Ŵ_i·Ŵ_j)² for all pairs i < j of normalised rows Ŵ_i = W_i/‖W_i‖: shape (..., n(n−1)/2)."""
    Wn = W / row_norms(W).clamp_min(1e-12).unsqueeze(-1)
    G = (Wn @ Wn.transpose(-1, -2)) ** 2
    n = W.shape[-2]
    iu = torch.triu_indices(n, n, offset=1, device=W.device)
    return G[..., iu[0], iu[1]]


def overlap_stats(W: torch.Tensor, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of (Ŵ_i·Ŵ_j)² over pairs i < j (Liu et al. 2025, Fig. 4), computed
    in chunks of the flattened leading axes. Random unit vectors in ℝ^m give mean 1/m and
    variance 2(m−1)/(m²(m+2)) (see :func:`random_overlap_stats`)."""
    lead = W.shape[:-2]
    flat = W.reshape(-1, *W.shape[-2:])
    n = W.shape[-2]
    means, vars_ = [], []
    for part in flat.split(chunk):
        Wn = part / row_norms(part).clamp_min(1e-12).unsqueeze(-1)
        G = (Wn @ Wn.transpose(-1, -2)) ** 2
        diag = torch.diagonal(G, dim1=-2, dim2=-1)
        pairs = n * (n - 1)
        s1 = (G.sum((-1, -2)) - diag.sum(-1)) / pairs
        s2 = ((G * G).sum((-1, -2)) - (diag * diag).sum(-1)) / pairs
        means.append(s1)
        vars_.append(s2 - s1 * s1)
    return torch.cat(means).reshape(lead), torch.cat(vars_).reshape(lead)


def random_overlap_stats(m: int) -> tuple[float, float]:
    """Mean 1/m and variance 2(m−1)/(m²(m+2)) of (u·v)² for independent random unit vectors
    in ℝ^m ((u·v)² ~ Beta(½, (m−1)/2))."""
    return 1.0 / m, 2.0 * (m - 1) / (m * m * (m + 2))


def welch_bound(nu: int, m: int) -> float:
    """Welch (1974): for ν unit vectors in ℝ^m, max_{i≠j} |⟨w_i, w_j⟩| ≥ √((ν − m)/(m(ν − 1)))
    (0 when ν ≤ m); an equiangular tight frame attains it. Its square bounds the squared
    overlaps: ≈ 1/m for ν ≫ m."""
    if nu <= m:
        return 0.0
    return math.sqrt((nu - m) / (m * (nu - 1)))


def dimensions_per_feature(W: torch.Tensor) -> torch.Tensor:
    """D* = m / ‖W‖²_F (Elhage et al. 2022): hidden dimensions per embedded feature."""
    return W.shape[-1] / (W ** 2).sum((-1, -2))


def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² (Elhage et al. 2022), the share of a hidden dimension
    feature i owns: 1 alone, ½ in an antipodal pair, ⅔ in a triangle, ⅖ in a pentagon, 0
    when not represented. Shape (..., n)."""
    norms = row_norms(W)
    Wn = W / norms.clamp_min(1e-12).unsqueeze(-1)
    proj = (Wn @ W.transpose(-1, -2)) ** 2  # (Ŵ_i·W_j)²
    return norms ** 2 / proj.sum(-1).clamp_min(1e-12)


def interference(W: torch.Tensor) -> torch.Tensor:
    """Σ_{j≠i} (Ŵ_i·W_j)² (Elhage et al. 2022), the polysemanticity colour of feature i."""
    Wn = W / row_norms(W).clamp_min(1e-12).unsqueeze(-1)
    proj = (Wn @ W.transpose(-1, -2)) ** 2
    return proj.sum(-1) - torch.diagonal(proj, dim1=-2, dim2=-1)


def fit_exponent(m, loss) -> tuple[float, float]:
    """α_m and intercept of log L = log A − α_m log m by least squares (Liu et al. 2025):
    returns (α_m, log A). Needs ≥ 2 distinct widths; NaN otherwise."""
    x, y = np.log(np.asarray(m, float)), np.log(np.asarray(loss, float))
    ok = np.isfinite(y)
    if ok.sum() < 2 or len(set(x[ok])) < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(x[ok], y[ok], 1)
    return float(-slope), float(icpt)


def exponent_over_seeds(m, losses) -> tuple[float, float, list[float]]:
    """Fit α_m per seed (``losses`` has shape (seeds, len(m))); return (mean, std over seeds
    with ddof 1 — 0 with a single seed, per-seed values)."""
    per = [fit_exponent(m, row)[0] for row in np.atleast_2d(np.asarray(losses, float))]
    arr = np.asarray(per)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return float(arr.mean()), sd, [float(a) for a in arr]
