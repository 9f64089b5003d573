"""Exercises for the neural-collapse notebooks.

*Implement and test* (as ARENA's ``tests.test_x(fn)``): ``check_nc1(fn)``,
``check_simplex_etf(fn)`` and ``check_ncc_classify(fn)`` run the learner's function and the
reference (:mod:`.reference`, :func:`.metrics.simplex_etf`) on constructed cases — the
edge cases that matter — and report the first failing case with a hint.

*Check yourself*: ``check_*(…, answer)`` compare a number with the right one, worked out from
first principles (a constructed simplex ETF, the rank of a matrix, a finished sweep's
summary).

Every checker returns a :class:`~workbench.core.exercises.Check`: truthy when right, shown as
a ✓/✗ message. A wrong, missing, raising or malformed answer never raises.

>>> from workbench.neural_collapse.exercises import check_etf_cosine
>>> bool(check_etf_cosine(10, -1 / 9))
True
>>> from workbench.neural_collapse.reference import nc1
>>> bool(check_nc1(nc1))
True
"""

from __future__ import annotations

import torch

from ..core.exercises import Case, Check, check_function, number as _number
from .metrics import simplex_etf
from .reference import nc1 as _nc1

__all__ = ["check_etf_cosine", "check_min_dimension", "check_minority_threshold",
           "minority_threshold", "check_nc1", "check_simplex_etf", "check_ncc_classify",
           "nc1_cases", "etf_cases", "ncc_cases", "ncc_classify", "check_strongest_measure"]


# ---------------------------------------------------------------------- implement and test
def _clusters(counts, d: int, spread: float, seed: int, offset: float = 0.0,
              shuffle: bool = False):
    """Features (N, d) float64 around C random class means (N(0, 1) entries, plus a common
    ``offset``), within-class noise of std ``spread``; labels (N,)."""
    g = torch.Generator().manual_seed(seed)
    C = len(counts)
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    if shuffle:
        y = y[torch.randperm(len(y), generator=g)]
    means = torch.randn(C, d, generator=g, dtype=torch.float64) + offset
    H = means[y] + spread * torch.randn(len(y), d, generator=g, dtype=torch.float64)
    return H, y


def nc1_cases() -> list[Case]:
    """The cases :func:`check_nc1` runs, each named after the mistake it catches."""
    return [
        Case("3 classes in 2 dimensions", _clusters([20, 20, 20], 2, 0.5, 0),
             "Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ; Σ_B = (1/C) Σ_c μ̃_c μ̃_cᵀ; "
             "NC1 = trace(Σ_W Σ_B⁺) / C."),
        Case("10 classes in 64 dimensions (Σ_B has rank 9 < 64)",
             _clusters([30] * 10, 64, 0.3, 1),
             "Σ_B is singular when d > C − 1: use the pseudo-inverse torch.linalg.pinv, "
             "not the inverse."),
        Case("labels in random order", _clusters([25, 25, 25, 25], 5, 0.5, 3, shuffle=True),
             "Select each class's samples with a mask (H[y == c]); don't assume the samples "
             "are sorted by class."),
        Case("imbalanced classes (100, 30, 10, 5 samples)",
             _clusters([100, 30, 10, 5], 6, 0.4, 2),
             "Centre the class means at the mean of the class means (each class counts "
             "once), and average the within-class scatter over all N samples."),
        Case("nearly collapsed features far from the origin (offset 1000, spread 1e-3)",
             _clusters([40] * 5, 8, 1e-3, 4, offset=1000.0),
             "Compute in float64: in float32 the residuals h − μ (≈ 1e-3) lose most of their "
             "digits next to features of size 1000."),
    ]


def _compare_number(rel: float, abs_: float = 1e-300):
    def compare(got, expected):
        value = float(got)
        if value != value:
            return "returned NaN"
        if abs(value - expected) > max(rel * abs(expected), abs_):
            return f"got {value:.6g}, expected {expected:.6g}"
        return None
    return compare


def check_nc1(fn) -> Check:
    """Implement-and-test: ``fn(H, y)`` with features H (N, d) float64 and labels y (N,) in
    0…C−1 returns NC1 = Tr(Σ_W Σ_B⁺)/C (a float), to 1e-6 relative."""
    return check_function(fn, _nc1, nc1_cases(), name="nc1", compare=_compare_number(1e-6),
                          success="NC1 measures within-class spread in units of the "
                                  "between-class spread; it is 0 exactly when every feature "
                                  "sits on its class mean.")


def etf_cases() -> list[Case]:
    return [
        Case("C = 2, d = 1", (2, 1), "Two classes: two opposite unit vectors."),
        Case("C = 3, d = 2", (3, 2), "Three unit vectors at 120°: cosines −1/2."),
        Case("C = 10, d = 9", (10, 9), "Pairwise cosine −1/(C−1) and unit norms."),
        Case("C = 4, d = 10 (more dimensions than needed)", (4, 10),
             "Return shape (C, d): embed the C − 1-dimensional simplex into d dimensions."),
    ]


def _gram(M) -> torch.Tensor:
    M = torch.as_tensor(M).detach().double()
    return M @ M.T


def _compare_etf(got, expected):
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if not bool(torch.isfinite(got).all()):
        return "contains NaN or inf"
    norms = got.double().norm(dim=1)
    if float((norms - 1).abs().max()) > 1e-6:
        return f"row norms {norms.min():.4f}…{norms.max():.4f}, expected 1"
    err = float((_gram(got) - _gram(expected)).abs().max())
    if err > 1e-6:
        C = got.shape[0]
        return (f"pairwise cosines differ from −1/(C−1) = {-1 / (C - 1):.4f} by up to "
                f"{err:.3g}")
    return None


def check_simplex_etf(fn) -> Check:
    """Implement-and-test: ``fn(C, d)`` returns C unit vectors in ℝ^d (a (C, d) tensor) with
    every pairwise cosine −1/(C−1): a simplex ETF (any rotation is accepted; d ≥ C − 1)."""
    return check_function(fn, lambda C, d: simplex_etf(C, d), etf_cases(), name="simplex_etf",
                          compare=_compare_etf,
                          hint="Hint: the rows of I − 11ᵀ/C are centred and equiangular; "
                               "normalise them and rotate them into d dimensions.",
                          success="Their Gram matrix is C/(C−1)·(I − 11ᵀ/C): the geometry "
                                  "the class means and classifier rows reach in the terminal "
                                  "phase.")


def ncc_classify(H: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """The nearest class centre rule: argmin_c ‖h − μ_c‖ for each row of H (N, d)."""
    return torch.cdist(H.double(), means.double()).argmin(-1)


def ncc_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)
    H = torch.randn(200, 3, generator=g, dtype=torch.float64) * 2
    etf = simplex_etf(4, 3, generator=g)
    uneven = etf * torch.tensor([[0.5], [1.0], [2.0], [4.0]], dtype=torch.float64)
    return [
        Case("equal-norm centres (a simplex ETF)", (H, etf),
             "Predict argmin_c ‖h − μ_c‖ for each row."),
        Case("centres of different norms (0.5 … 4)", (H, uneven),
             "The largest inner product ⟨h, μ_c⟩ is not the nearest centre when the norms "
             "differ: compare distances."),
        Case("one sample", (H[:1], uneven), "Return one label per row, shape (N,)."),
    ]


def _compare_labels(got, expected):
    got = torch.as_tensor(got).flatten()
    if got.shape != expected.shape:
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    wrong = int((got.long() != expected).sum())
    return f"{wrong} of {len(expected)} labels differ" if wrong else None


def check_ncc_classify(fn) -> Check:
    """Implement-and-test: ``fn(H, means)`` returns, for each feature row of H (N, d), the
    index of the nearest class mean in ``means`` (C, d) — the rule NC4 compares with."""
    return check_function(fn, ncc_classify, ncc_cases(), name="ncc_classify",
                          compare=_compare_labels,
                          success="NC4 is the share of samples on which the trained "
                                  "classifier disagrees with this rule.")


# ---------------------------------------------------------------------- check yourself


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
    """The smallest feature dimension d in which C classes can form a simplex ETF: the rank
    of the Gram matrix I − 11ᵀ/C of the centred ETF (computed, not read from a guard)."""
    C = int(n_classes)
    gram = torch.eye(C, dtype=torch.float64) - 1.0 / C
    expected = int(torch.linalg.matrix_rank(gram))
    x = _number(answer)
    ok = x is not None and int(x) == x and int(x) == expected
    msg = (f"✓ d = {expected}: the C centred means span a (C−1)-dimensional space." if ok else
           f"✗ {answer!r} is not it. Hint: centring removes one dimension from C vectors.")
    return Check(ok, msg, expected, 0)


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


def check_strongest_measure(answer, table) -> Check:
    """From :func:`~workbench.neural_collapse.linguistic.spearman_table`: which NC measure
    tracks validation loss most strongly across the models (largest |ρ|)? Every measure tied
    at the largest |ρ| is accepted."""
    rho = table.set_index("measure").iloc[:, 0].dropna()
    top = float(rho.abs().max())
    best = sorted(m for m, r in rho.items() if abs(abs(r) - top) < 1e-9)
    hint = "Hint: sort the ρ column by its absolute value; the sign only says which way."
    if not isinstance(answer, str) or answer not in rho.index:
        return Check(False, f"✗ Answer one of {', '.join(rho.index)} (got {answer!r}). {hint}",
                     best)
    if answer in best:
        sign = "falls" if rho[answer] < 0 else "rises"
        return Check(True, f"✓ Right: {answer} (ρ = {rho[answer]:+.2f}) — it {sign} as the "
                           f"validation loss rises, across these models.", best)
    return Check(False, f"✗ Not quite: |ρ| of {answer} is {abs(rho[answer]):.2f}, the largest "
                        f"is {top:.2f}. {hint}", best)


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
