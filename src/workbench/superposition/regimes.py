"""Bahri, Dyer, Kaplan, Lee & Sharma 2021 ("Explaining Neural Scaling Laws"): the four
scaling regimes in a linear random-feature teacher–student model, solved in closed form.

Latent features z ∈ ℝ^S are Gaussian with variances λ_i = i^(−(1+α_K)); the teacher is
y = ω·z with ω ~ N(0, 1/S); the student sees P random features φ = Fᵀz (F ~ N(0, 1/P)) and is
fit by minimum-norm least squares on D samples. Its effective weights w = Fθ give the exact
test loss L = ½ Σ_i λ_i (ω_i − w_i)². Regimes (L(D, P)):

- resolution-limited, model (D = ∞, P ≪ S): L ∝ P^(−α_K)
- resolution-limited, data (P = ∞, D ≪ S): L ∝ D^(−α_K)   (D ↔ P duality)
- variance-limited, data (P fixed, D → ∞): L − L(P, ∞) ∝ D^(−1)
- variance-limited, width (D fixed, P → ∞): L − L(∞, D) ∝ P^(−1) (the excess is small and
  noisy at the sizes used here: fitted slopes vary from seed to seed; notebook 12 prints them)

NumPy only; every function takes a seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import fit_exponent

__all__ = ["spectrum", "teacher_student_loss", "regime_curves", "regime_slopes"]

INF = None  # pass as D or P for the infinite limit


def spectrum(S: int, alpha_K: float) -> np.ndarray:
    """λ_i = i^(−(1+α_K)), i = 1 … S."""
    return np.arange(1, S + 1, dtype=float) ** (-(1.0 + alpha_K))


def _fit(lam, omega, F, Z):
    """Effective student weights w = Fθ of the min-norm least-squares fit on samples Z
    (``Z=None``: infinite data, the population fit θ = (FᵀΛF)⁺FᵀΛω)."""
    if Z is None:
        A = F.T @ (lam[:, None] * F)
        theta = np.linalg.lstsq(A, F.T @ (lam * omega), rcond=None)[0]
    else:
        theta = np.linalg.lstsq(Z @ F, Z @ omega, rcond=None)[0]
    return F @ theta


def _loss(lam, omega, w) -> float:
    e = omega - w
    return 0.5 * float(np.sum(lam * e * e))


def teacher_student_loss(S: int, P: int | None, D: int | None, alpha_K: float,
                         rng: np.random.Generator) -> float:
    """One draw of the exact test loss ½ Σ λ_i (ω_i − w_i)²; ``P=None`` is the infinite-width
    student (min-norm least squares in ℝ^S), ``D=None`` infinite data (population fit)."""
    lam = spectrum(S, alpha_K)
    omega = rng.normal(0.0, 1.0 / np.sqrt(S), S)
    F = np.eye(S) if P is None else rng.normal(0.0, 1.0 / np.sqrt(P), (S, P))
    Z = None if D is None else rng.normal(size=(D, S)) * np.sqrt(lam)
    return _loss(lam, omega, _fit(lam, omega, F, Z))


def _mean_loss(S, P, D, alpha_K, repeats, seed):
    rng = np.random.default_rng(seed)
    return float(np.mean([teacher_student_loss(S, P, D, alpha_K, rng) for _ in range(repeats)]))


def _excess(S, alpha_K, fixed, sizes, vary, repeats, seed):
    """Mean over draws of L(size) − L(∞) with the teacher, the projection (vary="data") or
    the samples (vary="width") shared between the finite and the limiting fit."""
    lam = spectrum(S, alpha_K)
    rng = np.random.default_rng(seed)
    out = np.zeros((repeats, len(sizes)))
    for r in range(repeats):
        omega = rng.normal(0.0, 1.0 / np.sqrt(S), S)
        if vary == "data":  # P = fixed, D → ∞
            F = rng.normal(0.0, 1.0 / np.sqrt(fixed), (S, fixed))
            lim = _loss(lam, omega, _fit(lam, omega, F, None))
            for k, d in enumerate(sizes):
                Z = rng.normal(size=(d, S)) * np.sqrt(lam)
                out[r, k] = _loss(lam, omega, _fit(lam, omega, F, Z)) - lim
        else:  # D = fixed, P → ∞ (the limit: min-norm fit in ℝ^S)
            Z = rng.normal(size=(fixed, S)) * np.sqrt(lam)
            lim = _loss(lam, omega, _fit(lam, omega, np.eye(S), Z))
            for k, p in enumerate(sizes):
                F = rng.normal(0.0, 1.0 / np.sqrt(p), (S, p))
                out[r, k] = _loss(lam, omega, _fit(lam, omega, F, Z)) - lim
    return out.mean(0)


def regime_curves(S: int = 1024, alpha_K: float = 1.0, sizes=(8, 16, 32, 64, 128),
                  big=(64, 128, 256, 512, 1024), fixed: int = 16, repeats: int = 8,
                  seed: int = 0) -> pd.DataFrame:
    """Loss curves of the four regimes: one row per (regime, size) with ``loss`` for the
    resolution-limited regimes and ``excess`` = L − L(limit) for the variance-limited ones."""
    rows = []
    for k, x in enumerate(sizes):
        rows.append(dict(regime="resolution, model", size=x,
                         loss=_mean_loss(S, x, INF, alpha_K, repeats, seed + k)))
        rows.append(dict(regime="resolution, data", size=x,
                         loss=_mean_loss(S, INF, x, alpha_K, repeats, seed + 100 + k)))
    ex = _excess(S, alpha_K, fixed, big, "data", repeats, seed + 200)
    rows += [dict(regime="variance, data", size=x, excess=e) for x, e in zip(big, ex)]
    # width → ∞ needs P ≫ S: a small latent space (S_w = 64), widths 128 … 2048
    wide = tuple(2 ** k for k in range(7, 12))
    ex = _excess(min(S, 64), alpha_K, fixed, wide, "width", 2 * repeats, seed + 300)
    rows += [dict(regime="variance, width", size=x, excess=e) for x, e in zip(wide, ex)]
    return pd.DataFrame(rows)


def regime_slopes(curves: pd.DataFrame) -> dict[str, float]:
    """Log–log slopes per regime (of ``loss`` for the resolution-limited regimes, of the
    excess over the limit for the variance-limited ones)."""
    out = {}
    for reg, part in curves.groupby("regime", sort=False):
        y = part["excess"] if reg.startswith("variance") else part["loss"]
        ok = y > 0  # a noisy excess can dip below 0: fit the positive points
        out[reg] = -fit_exponent(part["size"][ok], y[ok])[0]
    return out
