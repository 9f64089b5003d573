"""Check-yourself exercises for the Gumbel-Softmax notebooks.

Each ``check_*`` takes the learner's answer, computes the right one (exactly, or by a seeded
simulation) and returns a :class:`~workbench.grokking.exercises.Check`: truthy when right,
with a ✓/✗ message and a hint. A wrong, missing or malformed answer never raises.
"""

from __future__ import annotations

import torch

from ..core.exercises import Check, number as _number
from .samplers import gumbel_noise, gumbel_softmax

__all__ = ["Check", "expected_soft_sample", "check_expected_soft_sample", "check_more_bias",
           "check_best_estimator"]


def expected_soft_sample(probs, tau: float, n: int = 200_000, seed: int = 0) -> torch.Tensor:
    """E[y] of the Gumbel-Softmax sample y = softmax((log π + g)/τ), by simulation."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    g = gumbel_noise((n, len(p)), torch.Generator().manual_seed(seed), dtype=torch.float64)
    return gumbel_softmax(p.log().expand(n, -1), tau, noise=g).mean(0)


def check_expected_soft_sample(answer, probs=(0.7, 0.2, 0.1), tau: float = 1.0,
                               tolerance: float = 0.02) -> Check:
    """Exercise: what is E[y₀], the mean first coordinate of a Gumbel-Softmax sample with
    probabilities ``probs`` at temperature ``tau``? (Not π₀: the relaxation is biased.)"""
    expected = float(expected_soft_sample(probs, tau)[0])
    hint = ("Hint: draw many samples with workbench.gumbel.gumbel_softmax(torch.tensor(probs)"
            ".log().expand(n, -1), tau) and average them; at τ → 0 the answer tends to π₀, "
            "at τ → ∞ to 1/K.")
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: E[y₀] ≈ {expected:.3f} at τ = {tau:g}, below π₀ = "
                           f"{probs[0]:g} — the soft sample is pulled toward the centre of the "
                           f"simplex.", expected, tolerance)
    extra = " That is π₀ itself: only the hard (argmax) sample has mean π." \
        if abs(value - probs[0]) < 1e-9 else ""
    return Check(False, f"✗ Not quite: {value:g} (accepted within ±{tolerance:g}).{extra} {hint}",
                 expected, tolerance)


def check_more_bias(answer, table) -> Check:
    """Exercise: at τ = 1, which estimator has the larger bias, ``"gs"`` or ``"st"``? ``table``
    is :func:`~workbench.gumbel.estimators.estimator_table` of a τ-grid sweep."""
    rows = table[(table.tau == 1.0) & table.estimator.isin(["gs", "st"])]
    if rows.empty:
        return Check(False, "✗ The table has no τ = 1 row; run the 'estimators' scenario.")
    bias = dict(zip(rows.estimator, rows.bias))
    expected = max(bias, key=bias.get)
    hint = "Hint: read the ‖bias‖ column of the table at τ = 1."
    if not isinstance(answer, str) or answer.lower() not in ("gs", "st"):
        return Check(False, f"✗ Answer 'gs' or 'st' (got {answer!r}). {hint}", expected)
    if answer.lower() == expected:
        return Check(True, f"✓ Right: at τ = 1, ‖bias‖ is {bias['gs']:.3f} for GS and "
                           f"{bias['st']:.3f} for ST — ST evaluates f at the hard sample, so "
                           f"only its Jacobian is relaxed.", expected)
    return Check(False, f"✗ Not quite. {hint}", expected)


def check_best_estimator(answer, summary) -> Check:
    """Exercise: which estimator reached the lowest test −ELBO in a VAE sweep (``"gs"``,
    ``"st"`` or ``"reinforce"``)? ``summary`` is the sweep's summary table."""
    means = summary.groupby("estimator")["final_test_nelbo"].mean()
    expected = str(means.idxmin())
    hint = "Hint: compare the final_test_nelbo column (lower is better)."
    if not isinstance(answer, str) or answer.lower() not in set(means.index):
        return Check(False, f"✗ Answer one of {', '.join(means.index)} (got {answer!r}). {hint}",
                     expected)
    if answer.lower() == expected:
        table = ", ".join(f"{k} {v:.2f}" for k, v in means.sort_values().items())
        return Check(True, f"✓ Right: {expected} has the lowest −ELBO ({table}).", expected)
    return Check(False, f"✗ Not quite: {answer} reached {means[answer.lower()]:.2f}, another "
                        f"estimator did better. {hint}", expected)
