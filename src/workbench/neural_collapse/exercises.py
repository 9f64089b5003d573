"""Check-yourself exercises for the neural-collapse notebooks.

Each ``check_*`` takes the learner's answer, works the right one out from first principles
(a constructed simplex ETF, a finished sweep's summary) and returns a
:class:`~workbench.core.exercises.Check`: truthy when right, shown as a ✓/✗ message with a
hint. A wrong, missing or malformed answer never raises.

>>> from workbench.neural_collapse.exercises import check_etf_cosine
>>> bool(check_etf_cosine(10, -1 / 9))
True
"""

from __future__ import annotations


import torch

from ..core.exercises import Check, number as _number
from .metrics import simplex_etf

__all__ = ["check_etf_cosine", "check_min_dimension", "check_minority_threshold",
           "minority_threshold"]


def check_etf_cosine(n_classes: int, answer) -> Check:
    """The cosine between two class means of a simplex ETF with ``n_classes`` classes,
    measured on a constructed ETF."""
    C = int(n_classes)
    E = simplex_etf(C, C, generator=torch.Generator().manual_seed(0))
    u = E / E.norm(dim=1, keepdim=True)
    expected = float((u @ u.T)[0, 1])
    x = _number(answer)
    if x is None:
        return Check(False, f"✗ give a number (got {answer!r}). Hint: the means sum to zero.",
                     expected, 1e-3)
    ok = abs(x - expected) < 1e-3
    msg = (f"✓ {expected:.4f}: ‖Σ_c μ̂_c‖² = C + C(C−1)·cos = 0 gives cos = −1/(C−1)." if ok else
           f"✗ {x} is not it. Hint: centred means sum to zero; expand ‖Σ_c μ̂_c‖² = 0.")
    return Check(ok, msg, expected, 1e-3)


def check_min_dimension(n_classes: int, answer) -> Check:
    """The smallest feature dimension d in which C classes can form a simplex ETF (found by
    trying to build one in d = 1, 2, …)."""
    C = int(n_classes)
    expected = next(d for d in range(1, C + 1) if _fits(C, d))
    x = _number(answer)
    ok = x is not None and int(x) == x and int(x) == expected
    msg = (f"✓ d = {expected}: the C centred means span a (C−1)-dimensional space." if ok else
           f"✗ {answer!r} is not it. Hint: centring removes one dimension from C vectors.")
    return Check(ok, msg, expected, 0)


def _fits(C: int, d: int) -> bool:
    try:
        simplex_etf(C, d)
        return True
    except ValueError:
        return False


def minority_threshold(summary, level: float = 0.5) -> float | None:
    """The smallest imbalance R in a minority sweep whose minority classifiers have mean
    cosine above ``level``."""
    s = summary.sort_values("imbalance")
    hit = s.loc[s["final_minority_cos"] > level, "imbalance"]
    return None if hit.empty else float(hit.iloc[0])


def check_minority_threshold(summary, answer, level: float = 0.5) -> Check:
    """From the sweep's summary: at which R do the minority classifiers first have mean
    cosine above ``level``?"""
    expected = minority_threshold(summary, level)
    x = _number(answer)
    ok = x is not None and expected is not None and x == expected
    msg = (f"✓ R = {expected:g}." if ok else
           f"✗ {answer!r} is not it. Hint: look at the 'final_minority_cos' column.")
    return Check(ok, msg, expected, 0)
