"""Check-yourself exercises for the grokking notebooks.

Each ``check_*`` function takes the learner's answer, works out the right one from first
principles (constructed logits, a finished run's metrics) and returns a :class:`Check`:
truthy when the answer is right, with a friendly ✓/✗ message and a hint. A wrong (or
missing, or malformed) answer never raises.

>>> from workbench.grokking.exercises import check_collapse_margin
>>> check_collapse_margin(10)            # doctest: +ELLIPSIS
✗ ...
"""

from __future__ import annotations

import torch

from ..core.device import dtype_of
from ..core.exercises import Check, number as _number
from .metrics import softmax_collapse_fraction

__all__ = ["Check", "collapse_margin", "check_collapse_margin", "check_grok_step"]


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
