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


# --------------------------------------------------------------------------- fixed classifiers
from ..core.exercises import Case, check_function, tensors_close  # noqa: E402
def check_welch_bound(fn) -> Check:
    """Exercise (EBV): write ``fn(K, d)`` returning the Welch bound, the smallest possible
    max |cos| of K unit vectors in ℝ^d: √((K − d)/(d(K − 1))) when K > d, else 0. Checked to
    1e-9 on K ≤ d, K = d + 1, K ≫ d and the ImageNet-sized case."""
    from .equiangular import welch_bound

    def compare(got, expected):
        x = _number(got)
        if x is None:
            return f"expected a finite number, got {got!r}"
        return None if abs(x - expected) <= 1e-9 else f"got {x:.6g}, expected {expected:.6g}"

    cases = [Case("K = 10 in d = 5", (10, 5)),
             Case("K = 10 in d = 10", (10, 10),
                  "Hint: K ≤ d vectors can be orthonormal: the bound is 0."),
             Case("K = 10 in d = 32", (10, 32),
                  "Hint: for K < d the formula's square root is of a negative number: return 0."),
             Case("K = 3 in d = 2", (3, 2)),
             Case("K = 100 in d = 50", (100, 50)),
             Case("K = 1000 in d = 1000", (1000, 1000))]
    return check_function(fn, welch_bound, cases, name="welch_bound", compare=compare,
                          hint="Hint: √((K − d) / (d·(K − 1))) for K > d.",
                          success="Below this no threshold can be met: ebv() refuses it.")


def check_cosine_logits(fn) -> Check:
    """Exercise (EBV): write ``fn(h, E, tau)`` returning the fixed head's logits
    cos(h_i, e_c)/τ (n, C) for features h (n, d) and class vectors E (C, d). Checked to 1e-9
    (float64 kept) on random inputs, class vectors of unequal norms, a zero feature (its
    logits are 0, as ``F.normalize`` gives), a small τ and one class vector."""
    from .equiangular import cosine_logits

    g = torch.Generator().manual_seed(6)
    h = torch.randn(8, 5, generator=g, dtype=torch.float64)
    E = torch.randn(4, 5, generator=g, dtype=torch.float64)
    zero = h.clone()
    zero[3] = 0
    cases = [Case("random features and unit class vectors",
                  (h, E / E.norm(dim=1, keepdim=True), 0.07)),
             Case("class vectors of unequal norms", (h, E * torch.tensor([[1.0], [3.0], [0.2],
                                                                          [7.0]]), 0.07),
                  "Hint: a cosine normalises both vectors."),
             Case("a zero feature", (zero, E, 0.07),
                  "Hint: torch.nn.functional.normalize(h, dim=-1) maps a zero row to zero "
                  "(no division by 0)."),
             Case("a small temperature τ = 0.01", (h, E, 0.01),
                  "Hint: divide by τ (the logits grow as τ shrinks)."),
             Case("one class vector", (h, E[:1], 0.5))]
    return check_function(fn, cosine_logits, cases, name="cosine_logits",
                          compare=tensors_close(1e-9, 1e-12),
                          hint="Hint: F.normalize(h, dim=-1) @ F.normalize(E, dim=-1).T / tau.",
                          success="With |logits| ≤ 1/τ the loss cannot be driven to 0 by "
                                  "growing the features: only their directions matter.")


__all__ += ["check_welch_bound", "check_cosine_logits"]
