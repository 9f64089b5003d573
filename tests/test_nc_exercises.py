"""The neural-collapse exercises: each checker accepts the reference and rejects plausible
wrong solutions (a missing normalisation, an inverse for a pseudo-inverse, float32, …), and
never raises."""

from __future__ import annotations

import torch

from workbench.neural_collapse import exercises as ex
from workbench.neural_collapse.metrics import simplex_etf
from workbench.neural_collapse.reference import nc1


def _nc1_variant(*, divide_by_c=True, inverse=torch.linalg.pinv, dtype=torch.float64,
                 centre="class means", per_class=False, quotient=False, sorted_labels=False):
    def fn(H, y):
        H = H.to(dtype)
        C = int(y.max()) + 1
        if sorted_labels:  # assumes y is sorted and every class has N/C samples
            means = H.view(C, -1, H.shape[1]).mean(1)
        else:
            means = torch.stack([H[y == c].mean(0) for c in range(C)])
        mu_g = means.mean(0) if centre == "class means" else H.mean(0)
        M = means - mu_g
        sb = M.T @ M / C
        R = H - means[y]
        if per_class:
            sw = sum((R[y == c].T @ R[y == c]) / (y == c).sum() for c in range(C)) / C
        else:
            sw = R.T @ R / len(H)
        if quotient:
            return float(torch.trace(sw) / torch.trace(sb))
        value = torch.trace(sw @ inverse(sb))
        return float(value / C if divide_by_c else value)
    return fn


def test_check_nc1_accepts_the_reference():
    result = ex.check_nc1(nc1)
    assert result and result.message.startswith("✓"), result.message
    assert ex.check_nc1(_nc1_variant())          # the same formula written again


def test_check_nc1_rejects_plausible_mistakes():
    wrong = {
        "no /C": _nc1_variant(divide_by_c=False),
        "inverse instead of pseudo-inverse": _nc1_variant(inverse=torch.linalg.inv),
        "float32": _nc1_variant(dtype=torch.float32),
        "centred at the sample mean": _nc1_variant(centre="samples"),
        "per-class average of Σ_W": _nc1_variant(per_class=True),
        "Tr Σ_W / Tr Σ_B": _nc1_variant(quotient=True),
        "assumes sorted, balanced labels": _nc1_variant(sorted_labels=True),
        "sign error": lambda H, y: -nc1(H, y),
    }
    for name, fn in wrong.items():
        result = ex.check_nc1(fn)
        assert not result and result.message.startswith("✗"), name
    # each of the first cases catches its own mistake
    assert "64 dimensions" in ex.check_nc1(wrong["inverse instead of pseudo-inverse"]).message
    assert "imbalanced" in ex.check_nc1(wrong["centred at the sample mean"]).message
    assert "random order" in ex.check_nc1(wrong["assumes sorted, balanced labels"]).message
    assert "float64" in ex.check_nc1(wrong["float32"]).message


def test_checkers_never_raise():
    def boom(*args):
        raise ZeroDivisionError("oops")

    for check in (ex.check_nc1, ex.check_simplex_etf, ex.check_ncc_classify):
        for fn in (None, 3, boom, lambda *a: "text", lambda *a: None, lambda *a: [1, 2]):
            result = check(fn)
            assert not result and result.message.startswith("✗")
    assert "ZeroDivisionError" in ex.check_nc1(boom).message


def test_check_simplex_etf():
    assert ex.check_simplex_etf(simplex_etf)

    def unnormalised(C, d):
        rows = torch.eye(C, dtype=torch.float64) - 1.0 / C                 # norms √((C−1)/C)
        q, _ = torch.linalg.qr(torch.randn(d, C, dtype=torch.float64))
        return rows @ q.T if d >= C else simplex_etf(C, d) * 0.9

    def orthogonal(C, d):
        return torch.eye(max(C, d), dtype=torch.float64)[:C, :d]

    def ignores_d(C, d):
        return simplex_etf(C, C)

    def positive_cosine(C, d):                                            # sign error
        E = simplex_etf(C, d)
        return torch.cat([E[:1], -E[1:]])

    for fn in (unnormalised, orthogonal, ignores_d, positive_cosine):
        assert not ex.check_simplex_etf(fn), fn.__name__


def test_check_ncc_classify():
    assert ex.check_ncc_classify(ex.ncc_classify)
    assert ex.check_ncc_classify(lambda H, M: ((H[:, None] - M[None]) ** 2).sum(-1).argmin(1))
    wrong = {
        "largest inner product": lambda H, M: (H @ M.T).argmax(-1),
        "farthest centre": lambda H, M: torch.cdist(H, M).argmax(-1),
        "argmin over the wrong axis": lambda H, M: torch.cdist(H, M).argmin(0),
    }
    for name, fn in wrong.items():
        assert not ex.check_ncc_classify(fn), name
    assert "different norms" in ex.check_ncc_classify(wrong["largest inner product"]).message


def test_check_min_dimension_is_computed_from_the_rank():
    assert ex.check_min_dimension(10, 9) and ex.check_min_dimension(3, 2)
    assert not ex.check_min_dimension(10, 10) and not ex.check_min_dimension(10, None)
    assert ex.check_min_dimension(7, 6).expected == 6


def test_check_strongest_measure_reads_the_table():
    import pandas as pd

    table = pd.DataFrame({"measure": ["gnc2", "ncc_agreement", "cdnv"],
                          "rho_vs_val_loss": [0.9, -0.95, 0.5]})
    assert ex.check_strongest_measure("ncc_agreement", table)
    for wrong in ("gnc2", "cdnv", "nc1", None, 3):
        assert not ex.check_strongest_measure(wrong, table)
    tied = table.assign(rho_vs_val_loss=[0.95, -0.95, 0.5])
    assert ex.check_strongest_measure("gnc2", tied) and ex.check_strongest_measure(
        "ncc_agreement", tied)
