"""Exercises for the superposition and scaling notebooks (same :class:`Check` as chapter 1:
truthy when right, shows a ✓/✗ message with a hint, never raises on a malformed answer or a
function that raises).

Implement-and-test: ``check_model_forward(fn)`` (the toy model), ``check_row_norm_decay(fn)``
(Liu et al.'s ±γ rule) and ``check_feature_dimensionality(fn)`` (Elhage et al.'s D_i) run the
learner's function against the reference on constructed cases. Check-yourself:
``check_weak_exponent``, ``check_random_overlap``, ``check_exponent_from_run`` and
``check_regime_slope``.

>>> check_weak_exponent(0.5, alpha=1.5)  # doctest: +ELLIPSIS
✓ ...
"""

from __future__ import annotations

import math

import torch

from ..core.exercises import Case, Check, check_function, number as _number, tensors_close
from . import reference as R
from .metrics import feature_dimensionality, random_overlap_stats

__all__ = ["Check", "check_weak_exponent", "check_random_overlap", "check_exponent_from_run",
           "check_model_forward", "check_row_norm_decay", "check_feature_dimensionality",
           "check_regime_slope"]


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _forward(x, W, b):
    return torch.relu(x @ W @ W.T + b)


def check_model_forward(fn) -> Check:
    """Exercise: write ``fn(x, W, b)`` with x (B, n), W (n, m), b (n,) returning the toy
    model's output ReLU(x W Wᵀ + b) (B, n) (Liu et al. 2025; Elhage et al. 2022). Checked to
    1e-10 relative on float64 cases: random, biases that switch every feature off, one
    sample, and n = m."""
    g = _rng(0)

    def t(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    cases = [
        Case("20 features in 5 dimensions", (t(8, 20).abs(), t(20, 5, scale=0.5), t(20))),
        Case("biases that switch every feature off", (t(4, 20).abs(), t(20, 5, scale=0.1),
                                                      -5 - t(20).abs()),
             "Hint: the bias is added before the ReLU."),
        Case("one sample", (t(1, 12).abs(), t(12, 3), t(12))),
        Case("as many dimensions as features (n = m)", (t(6, 7), t(7, 7), t(7)),
             "Hint: h = x W has shape (B, m); the output is h Wᵀ + b."),
    ]
    return check_function(fn, _forward, cases, name="model_forward",
                          compare=tensors_close(1e-10, 1e-12),
                          hint="Hint: y = ReLU(x @ W @ W.T + b).",
                          success="Each feature is read back along its own row W_i; the ReLU "
                                  "and a negative bias filter out small interference.")


def _decayed(W, lr, gamma):
    out = W.clone()
    R.row_norm_decay_(out, lr, gamma)
    return out


def check_row_norm_decay(fn) -> Check:
    """Exercise: write ``fn(W, lr, gamma)`` returning W after Liu et al.'s ±γ rule (a new
    tensor): γ ≥ 0, W ← (1 − ηγ)W; γ < 0, every row W_i ← W_i + ηγ(1 − 1/‖W_i‖)W_i (rows
    pulled toward norm 1). Checked to 1e-10 relative on rows of norm 5 and ½, weight decay,
    a random W and a zero row."""
    g = _rng(1)
    W = torch.randn(30, 4, generator=g, dtype=torch.float64)
    pair = torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=torch.float64)
    zero = W.clone()
    zero[3] = 0
    cases = [
        Case("γ = −1: rows of norm 5 and ½", (pair, 0.1, -1.0),
             "Hint: for γ < 0 the row of norm 5 should shrink and the row of norm ½ grow."),
        Case("γ = +0.5: ordinary weight decay", (W, 0.01, 0.5),
             "Hint: γ ≥ 0 is plain decoupled weight decay, W ← (1 − ηγ)W."),
        Case("γ = −0.3, random W (30 features, 4 dimensions)", (W, 0.05, -0.3),
             "Hint: ‖W_i‖ is the norm of row i (one per feature): W.norm(dim=1, keepdim=True)."),
        Case("a zero row", (zero, 0.05, -1.0),
             "Hint: guard ‖W_i‖ = 0 (the reference clamps it at 1e-12): a zero row stays 0."),
    ]
    return check_function(fn, _decayed, cases, name="row_norm_decay",
                          compare=tensors_close(1e-10, 1e-12),
                          hint="Hint: it is a gradient step of size η|γ| on ½(‖W_i‖ − 1)² "
                               "for γ < 0.",
                          success="With γ < 0 no feature can be dropped: every row keeps a "
                                  "norm near 1, and the features must share the m dimensions.")


def check_feature_dimensionality(fn) -> Check:
    """Exercise: write ``fn(W)`` returning Elhage et al.'s per-feature dimensionality
    D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² (W (n, m), rows = features; Ŵ_i = W_i/‖W_i‖; 0 for a zero
    row). Checked to 1e-9 on orthogonal features (D = 1), an antipodal pair (½), a pentagon
    (⅖), a random W and one with a zero row."""
    g = _rng(2)
    ang = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    pentagon = torch.stack([ang.cos(), ang.sin()], 1)
    antipodal = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.7]], dtype=torch.float64)
    rand = torch.randn(12, 4, generator=g, dtype=torch.float64)
    dead = rand.clone()
    dead[5] = 0
    cases = [
        Case("orthogonal features", (torch.eye(3, dtype=torch.float64) * 0.8,),
             "Hint: a feature alone in its dimension has D_i = 1."),
        Case("an antipodal pair and a lone feature", (antipodal,),
             "Hint: the projection runs on the normalised row Ŵ_i, over every j including i."),
        Case("a pentagon in 2 dimensions", (pentagon,)),
        Case("random W (12 features, 4 dimensions)", (rand,)),
        Case("a zero row (a dropped feature)", (dead,),
             "Hint: guard ‖W_i‖ = 0 so a dropped feature gets D_i = 0, not NaN."),
    ]
    return check_function(fn, feature_dimensionality, cases, name="feature_dimensionality",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: Ŵ = W / ‖W‖ per row; D = ‖W_i‖² / ((Ŵ @ W.T) ** 2).sum(-1).",
                          success="Sticky values: 1, ½ (antipodal pairs), ⅖ (pentagons) …")


def _numeric(answer, expected: float, tolerance: float, right: str, hint: str,
             relative: bool = False, wrong: str = "") -> Check:
    """A numeric check-yourself answer: ✓ ``right`` (formatted with ``value``) within
    ``tolerance`` (times ``expected`` if ``relative``) of ``expected``, else ✗ with ``hint``."""
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    accepted = tolerance * abs(expected) if relative else tolerance
    if abs(value - expected) <= accepted:
        return Check(True, "✓ " + right.format(value=value), expected, tolerance)
    within = f"±{tolerance:.0%}" if relative else f"±{tolerance:g}"
    return Check(False, f"✗ Not quite: {value:g}{wrong} (accepted: within {within}). {hint}",
                 expected, tolerance)


def check_regime_slope(answer, regime: str, alpha_K: float, tolerance: float = 0.05) -> Check:
    """Exercise (Bahri et al. 2021, linear random-feature model with spectrum
    λ_i = i^−(1+α_K)): the log–log slope of the loss (or of its excess over the limit) in
    ``regime``: "resolution, model", "resolution, data" (−α_K) or "variance, data",
    "variance, width" (−1)."""
    regimes = ("resolution, model", "resolution, data", "variance, data", "variance, width")
    if regime not in regimes:
        return Check(False, f"✗ regime must be one of {', '.join(regimes)} (got {regime!r})")
    expected = -alpha_K if regime.startswith("resolution") else -1.0
    hint = ("Hint: in the resolution-limited regimes the loss is the spectrum's tail beyond the "
            "P (or D) directions resolved, Σ_{i>P} λ_i ∝ P^−α_K; variance-limited corrections "
            "are 1/D (or 1/P) for any model.")
    value = _number(answer)
    flipped = value is not None and value != 0 and abs(value + expected) <= tolerance
    return _numeric(answer, expected, tolerance,
                    f"Right: the slope in the {regime} regime is {expected:g} for "
                    f"α_K = {alpha_K:g} (you said {{value:g}}).", hint,
                    wrong=" (the loss falls, so its slope is negative)" if flipped else "")


def check_weak_exponent(answer, alpha: float, tolerance: float = 0.05) -> Check:
    """Exercise: under weak superposition the model keeps the ≈ m most frequent features and
    loses the rest, L ≈ ⟨v²⟩ Σ_{i>m} p_i with p_i ∝ i^−α. What exponent α_m does L ∝ m^−α_m
    have? (α − 1 for α > 1.)"""
    expected = alpha - 1
    return _numeric(answer, expected, tolerance,
                    f"Right: α_m = α − 1 = {expected:g} (you said {{value:g}}); for α ≤ 1 the "
                    f"tail sum does not shrink as a power of m at all.",
                    "Hint: Σ_{i>m} i^−α ≈ ∫_m^∞ x^−α dx = m^(1−α)/(α−1).")


def check_random_overlap(answer, m: int, tolerance: float = 0.1) -> Check:
    """Exercise: the mean of (u·v)² for two independent random unit vectors in ℝ^m.
    Accepted within a relative ``tolerance`` of 1/m."""
    expected = random_overlap_stats(m)[0]
    return _numeric(answer, expected, tolerance,
                    f"Right: E[(u·v)²] = 1/m = {expected:.4g} (you said {{value:g}}). Strong "
                    f"superposition packs features about that tightly.",
                    "Hint: Σ_k (u·e_k)² = 1 and by symmetry every coordinate carries the same "
                    "share.", relative=True)


def check_exponent_from_run(answer, run, tolerance: float = 0.05) -> Check:
    """Exercise: read α_m off a finished ``superposition`` run's loss-vs-m plot (least-squares
    slope of log L on log m). Right within ``tolerance`` of the run's ``loss_exponent``."""
    expected = float(run.summary["loss_exponent"])
    return _numeric(answer, expected, tolerance,
                    f"Right: α_m = {expected:.3f} (you said {{value:g}}).",
                    "Hint: α_m = −Δlog L / Δlog m between the first and last widths is close.")
