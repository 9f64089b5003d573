"""Check-yourself exercises for the superposition notebooks (same :class:`Check` as chapter 1:
truthy when right, shows a ✓/✗ message with a hint, never raises on a malformed answer).

>>> check_weak_exponent(0.5, alpha=1.5)  # doctest: +ELLIPSIS
✓ ...
"""

from __future__ import annotations

from ..core.exercises import Check, number as _number
from .metrics import random_overlap_stats

__all__ = ["Check", "check_weak_exponent", "check_random_overlap", "check_exponent_from_run"]


def check_weak_exponent(answer, alpha: float, tolerance: float = 0.05) -> Check:
    """Exercise: under weak superposition the model keeps the ≈ m most frequent features and
    loses the rest, L ≈ ⟨v²⟩ Σ_{i>m} p_i with p_i ∝ i^−α. What exponent α_m does L ∝ m^−α_m
    have? (α − 1 for α > 1.)"""
    expected = alpha - 1
    hint = "Hint: Σ_{i>m} i^−α ≈ ∫_m^∞ x^−α dx = m^(1−α)/(α−1)."
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: α_m = α − 1 = {expected:g} (you said {value:g}); for "
                           f"α ≤ 1 the tail sum does not shrink as a power of m at all.",
                     expected, tolerance)
    return Check(False, f"✗ Not quite: {value:g} (accepted: within ±{tolerance:g}). {hint}",
                 expected, tolerance)


def check_random_overlap(answer, m: int, tolerance: float = 0.1) -> Check:
    """Exercise: the mean of (u·v)² for two independent random unit vectors in ℝ^m.
    Accepted within a relative ``tolerance`` of 1/m."""
    expected = random_overlap_stats(m)[0]
    hint = "Hint: Σ_k (u·e_k)² = 1 and by symmetry every coordinate carries the same share."
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance * expected:
        return Check(True, f"✓ Right: E[(u·v)²] = 1/m = {expected:.4g} (you said {value:g}). "
                           "Strong superposition packs features about that tightly.",
                     expected, tolerance)
    return Check(False, f"✗ Not quite: {value:g} vs the true value (within ±{tolerance:.0%}). "
                        f"{hint}", expected, tolerance)


def check_exponent_from_run(answer, run, tolerance: float = 0.05) -> Check:
    """Exercise: read α_m off a finished ``superposition`` run's loss-vs-m plot (least-squares
    slope of log L on log m). Right within ``tolerance`` of the run's ``loss_exponent``."""
    expected = float(run.summary["loss_exponent"])
    value = _number(answer)
    hint = "Hint: α_m = −Δlog L / Δlog m between the first and last widths is close."
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: α_m = {expected:.3f} (you said {value:g}).", expected,
                     tolerance)
    return Check(False, f"✗ Not quite: {value:g} (accepted: within ±{tolerance:g}). {hint}",
                 expected, tolerance)
