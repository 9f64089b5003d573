"""Exercises for the grokking notebooks.

Implement-and-test (as ARENA's): ``check_stablemax(fn)``, ``check_perp_grad(fn)`` and
``check_sc_fraction(fn)`` run the learner's function and the reference
(``grokking/reference.py``) on constructed cases — ordinary ones and the edge cases that
matter (huge logits, a zero gradient, float16) — and report the first failing case with a
hint. Check-yourself: ``check_collapse_margin(answer)`` and ``check_grok_step(answer, run)``
work out the right answer from first principles or from a finished run.

Every checker returns a :class:`Check`: truthy when right, shown as a ✓/✗ message. A wrong,
missing or malformed answer, or a function that raises, never raises.

>>> from workbench.grokking.exercises import check_collapse_margin
>>> check_collapse_margin(10)            # doctest: +ELLIPSIS
✗ ...
"""

from __future__ import annotations

import torch

from ..core.device import dtype_of
from ..core.exercises import Case, Check, check_function, number as _number, tensors_close
from . import reference as R
from .metrics import softmax_collapse_fraction

__all__ = ["Check", "collapse_margin", "check_collapse_margin", "check_grok_step",
           "check_stablemax", "check_perp_grad", "check_sc_fraction"]


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- implement and test
def check_stablemax(fn) -> Check:
    """Exercise: write ``fn(logits)`` mapping float64 logits (N, C) to StableMax probabilities
    (N, C): s(x) = x + 1 for x ≥ 0, 1/(1 − x) for x < 0, normalised per row (Prieto et al.
    2025, eq. 5). Checked to 1e-9 relative (and float64 out) on small, mixed-sign, huge
    (up to 1e150), all-zero and very negative logits."""
    g = _rng(0)
    huge = torch.randn(6, 9, generator=g, dtype=torch.float64) * torch.logspace(
        30, 150, 6, dtype=torch.float64).view(-1, 1)
    cases = [
        Case("small logits", (torch.randn(5, 7, generator=g, dtype=torch.float64),)),
        Case("mixed signs, 59 classes", (torch.randn(8, 59, generator=g, dtype=torch.float64) * 6,),
             "Hint: the negative branch is 1/(1 − x), which lies in (0, 1) for x < 0."),
        Case("huge logits (up to 1e150)", (huge,),
             "Hint: no exp anywhere, and stay in float64: float32 overflows past 3.4e38."),
        Case("all-zero logits", (torch.zeros(3, 5, dtype=torch.float64),),
             "Hint: s(0) = 1, so every class gets 1/C."),
        Case("very negative logits", (-torch.rand(4, 6, generator=g, dtype=torch.float64) * 1e6,),
             "Hint: for x ≪ 0, s(x) = 1/(1 − x) is tiny but positive; the row still sums to 1."),
    ]
    return check_function(fn, R.stablemax, cases, name="stablemax", compare=tensors_close(1e-9),
                          hint="Hint: compute s(z) elementwise with torch.where, then divide "
                               "by its sum over the last axis (keepdim=True).",
                          success="StableMax never rounds to a one-hot: s grows linearly.")


def check_perp_grad(fn) -> Check:
    """Exercise: write ``fn(w, g)`` returning ⊥Grad of one parameter tensor: the gradient with
    its component along the weights removed, g⊥ = g − (⟨w, g⟩/⟨w, w⟩)·w, rescaled to the
    norm of g (Prieto et al. 2025, §5); 1e-30 guards both divisions. Checked to 1e-9
    relative on random tensors, a gradient mostly along w, a 1-D parameter, a gradient
    exactly along w, a zero gradient and zero weights."""
    g = _rng(1)
    w = torch.randn(7, 5, generator=g, dtype=torch.float64)
    e1 = torch.zeros(6, dtype=torch.float64)
    e1[0] = 1.0
    guard = "Hint: guard the division: ‖g⊥‖ can be exactly 0 (add 1e-30 as the reference does)."
    cases = [
        Case("random weights and gradient",
             (w, torch.randn(7, 5, generator=g, dtype=torch.float64))),
        Case("gradient mostly along w",
             (w, torch.randn(7, 5, generator=g, dtype=torch.float64) + 3 * w),
             "Hint: after the projection, rescale g⊥ to the norm of the original g."),
        Case("a 1-D parameter", (torch.randn(9, generator=g, dtype=torch.float64),
                                 torch.randn(9, generator=g, dtype=torch.float64))),
        Case("gradient exactly along w (nothing is left)", (2 * e1, 3 * e1), guard),
        Case("a zero gradient", (w, torch.zeros_like(w)), guard),
        Case("zero weights (nothing to project out)", (torch.zeros_like(w), w),
             "Hint: ⟨w, w⟩ = 0 here: guard it (+ 1e-30) and the gradient passes unchanged."),
    ]
    return check_function(fn, R.perp_grad, cases, name="perp_grad",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: sums run over every element of the tensor: "
                               "(w * g).sum(), (w * w).sum(), g.norm().",
                          success="⊥Grad keeps the gradient's size but never lets it simply "
                                  "scale the weights up.")


def _sc_cases():
    g = _rng(2)
    lead = torch.linspace(0, 45, 90, dtype=torch.float64)
    z = torch.randn(90, 59, generator=g, dtype=torch.float64)
    z[:, 0] = z.max(-1).values + lead                       # top logit leads by 0 … 45
    precision = "Hint: cast the logits to `dtype` before the exp: the rounding is the point."
    return [
        Case("float32, leads 0 … 45", (z, torch.float32), precision),
        Case("float16, leads 0 … 45", (z, torch.float16), precision),
        Case("float64, leads 0 … 45", (z, torch.float64), precision),
        Case("huge logits (1e4)", (z * 300, torch.float32),
             "Hint: subtract the row maximum before exp, or exp overflows to inf."),
    ]


def check_sc_fraction(fn) -> Check:
    """Exercise: write ``fn(logits, dtype)`` returning the Softmax Collapse fraction: the share
    of rows (logits (N, C), float64) whose softmax computed in ``dtype`` is an exact one-hot,
    i.e. S = Σ_k exp(z_k − max z) == 1 exactly (Prieto et al. 2025, §3). Checked exactly
    (to 1e-12) in float32, float16 and float64 and on huge logits."""
    def compare(got, expected):
        value = _number(got)
        if value is None:
            return f"expected a number, got {got!r}"
        if abs(value - float(expected)) > 1e-12:
            return f"you gave {value:.4g}, the share is {float(expected):.4g}"
        return None

    return check_function(fn, R.softmax_collapse_fraction, _sc_cases(), name="sc_fraction",
                          compare=compare,
                          hint="Hint: S = exp(z − max z).sum(-1) in `dtype`; count S == 1.",
                          success="Collapse comes at a lead of ≈ ln 2^(mantissa bits): "
                                  "≈ 8 in float16, ≈ 17 in float32, ≈ 37 in float64.")


def collapse_margin(dtype: str | torch.dtype = "float32", competitors: int = 1,
                    resolution: float = 1e-3, max_margin: float = 100.0) -> float:
    """The smallest lead of the top logit over ``competitors`` equal rivals from which on
    :func:`~workbench.grokking.metrics.softmax_collapse_fraction` in ``dtype`` reports a
    collapse (S = Σ_k exp(z_k − max z) rounds to exactly 1).

    Measured, not derived: logits (m, 0, …, 0) are built for margins m on a grid of step
    ``resolution`` and the first margin from which on every larger one collapses is returned
    (≈ ln 2²⁴ ≈ 16.6 for float32 with one competitor, ≈ 7.6 for float16, ≈ 36.7 for float64).
    """
    dt = dtype_of(dtype) if isinstance(dtype, str) else dtype
    margins = torch.arange(0.0, max_margin, resolution, dtype=torch.float64)
    logits = torch.zeros(len(margins), 1, competitors + 1, dtype=torch.float64)
    logits[:, 0, 0] = margins
    collapsed = softmax_collapse_fraction(logits, dt) == 1          # (len(margins),)
    if not bool(collapsed[-1]):
        raise ValueError(f"no collapse below a margin of {max_margin} in {dt}")
    not_collapsed = (~collapsed).nonzero()
    first = 0 if len(not_collapsed) == 0 else int(not_collapsed[-1]) + 1
    return round(float(margins[first]), 3)


def check_collapse_margin(answer, dtype: str = "float32", competitors: int = 1,
                          tolerance: float = 0.5) -> Check:
    """Exercise: how large must the top logit's lead over ``competitors`` equal rivals be before
    softmax in ``dtype`` returns an exact one-hot (Softmax Collapse)?

    Right when ``answer`` is within ``tolerance`` of :func:`collapse_margin`.
    """
    expected = collapse_margin(dtype, competitors)
    rivals = "one competitor" if competitors == 1 else f"{competitors} equal competitors"
    bits = _mantissa_bits(dtype)
    if competitors == 1:
        hint = (f"Hint: with a lead m over one competitor, S = 1 + e^(−m). S rounds to exactly 1 "
                f"once e^(−m) is at most half the gap between 1 and the next {dtype} number, "
                f"i.e. 2^−{bits}; so m ≈ ln(2^{bits}).")
    else:
        hint = (f"Hint: with a lead m over {rivals}, S = 1 + {competitors}·e^(−m), but the sum "
                f"is rounded term by term (or block by block), so the margin lies between "
                f"ln(2^{bits}) and ln({competitors}·2^{bits}); try softmax_collapse_fraction on "
                f"logits (m, 0, …, 0) for a few m.")
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: in {dtype}, softmax turns into an exact one-hot once the "
                           f"top logit leads {rivals} by about {expected:.1f} "
                           f"(you said {value:g}). From there on the correct class gets no "
                           f"gradient at all.", expected, tolerance)
    direction = "too small" if value < expected else "too large"
    return Check(False, f"✗ Not quite: {value:g} is {direction} (accepted: within ±{tolerance:g} "
                        f"of the true margin). {hint}", expected, tolerance)


def _mantissa_bits(dtype: str) -> int:
    """Bits of precision (mantissa + implicit bit) of a float dtype name."""
    return {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}.get(str(dtype), 24)


def check_grok_step(answer, run, threshold: float = 0.9) -> Check:
    """Exercise: read off the learning curves the first step at which test accuracy reaches
    ``threshold`` (0.9). Right when within one log interval of the run's summary
    (``step_test_acc_0.9``); ``run`` is a finished :class:`~workbench.core.store.Run`."""
    summary = run.summary
    log_every = int(summary.get("log_every") or run.config.get("log_every", 1))
    if threshold == 0.9 and "step_test_acc_0.9" in summary:
        expected = summary["step_test_acc_0.9"]
    else:
        m = run.metrics
        hit = m.loc[m["test_acc"] >= threshold, "step"]
        expected = None if hit.empty else int(hit.iloc[0])
    hint = (f"Hint: hover over the test-accuracy curve and find the first logged point at or "
            f"above {threshold:g}; metrics are logged every {log_every} steps.")
    if expected is None:
        if answer is None:
            return Check(True, f"✓ Right: this run never reaches test accuracy {threshold:g}.",
                         None, log_every)
        return Check(False, f"✗ This run never reaches test accuracy {threshold:g}, so there is "
                            f"no such step (answer None). {hint}", None, log_every)
    value = _number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     log_every)
    if abs(value - expected) <= log_every:
        train = summary.get("step_train_acc_0.9")
        extra = (f" Train accuracy got there at step {train}: generalisation lagged "
                 f"memorisation by {expected - train} steps.") if train is not None else ""
        return Check(True, f"✓ Right: test accuracy first reaches {threshold:g} at step "
                           f"{expected} (you said {value:g}).{extra}", expected, log_every)
    direction = "too early" if value < expected else "too late"
    return Check(False, f"✗ Not quite: step {value:g} is {direction} (accepted: within one log "
                        f"interval, ±{log_every}). {hint}", expected, log_every)
