"""NC metrics: a plain NumPy reference, the simplex ETF, random features, streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.neural_collapse.metrics import (NC_KEYS, NCAccumulator, nc_metrics,
                                               simplex_etf)


def numpy_reference(H, y, W, b=None):
    """The definitions of the reference sheet, written out in NumPy."""
    C = W.shape[0]
    mu = np.stack([H[y == c].mean(0) for c in range(C)])
    muG = mu.mean(0)
    M = mu - muG
    N = len(y)
    Sw = sum(np.outer(H[i] - mu[y[i]], H[i] - mu[y[i]]) for i in range(N)) / N
    Sb = M.T @ M / C
    nc1 = np.trace(Sw @ np.linalg.pinv(Sb, hermitian=True)) / C
    n = np.linalg.norm(M, axis=1)
    wn = np.linalg.norm(W, axis=1)
    cos = [M[i] @ M[j] / n[i] / n[j] for i in range(C) for j in range(C) if i != j]
    nc3 = np.sum((W / np.linalg.norm(W) - M / np.linalg.norm(M)) ** 2)
    logits = H @ W.T + (0 if b is None else b)
    ncc = np.argmin([[np.linalg.norm(h - m) for m in mu] for h in H], axis=1)
    var = np.array([np.mean(np.sum((H[y == c] - mu[c]) ** 2, 1)) for c in range(C)])
    cdnv = np.mean([(var[i] + var[j]) / (2 * np.sum((mu[i] - mu[j]) ** 2))
                    for i in range(C) for j in range(C) if i != j])
    unit = M / n[:, None]
    gnc2 = np.var([-np.log(np.linalg.norm(unit[i] - unit[j]))
                   for i in range(C) for j in range(i + 1, C)])
    diag = [W[c] @ M[c] / wn[c] / n[c] for c in range(C)]
    return dict(nc1=nc1, equinorm_means=n.std() / n.mean(), equinorm_classifier=wn.std() / wn.mean(),
                equiangular_std=np.std(cos), equiangular_max_dev=np.mean(np.abs(np.array(cos) + 1 / (C - 1))),
                nc3=nc3, nc4=np.mean(logits.argmax(1) != ncc), cdnv=cdnv, gnc2=gnc2,
                unc3=np.var(diag), unc3_mean=np.mean(diag))


def random_problem(seed=0, C=6, d=8, n=20):
    g = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), n)
    H = g.normal(size=(C * n, d)) + g.normal(size=(C, d))[y] * 2
    W = g.normal(size=(C, d))
    b = g.normal(size=C)
    return H, y, W, b


def test_matches_numpy_reference():
    H, y, W, b = random_problem()
    ref = numpy_reference(H, y, W, b)
    got = nc_metrics(torch.tensor(H), torch.tensor(y), torch.tensor(W), torch.tensor(b),
                     batch_size=7)  # streams in ragged batches
    assert set(NC_KEYS) <= set(got)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k  # float64 on both sides


def test_simplex_etf_is_zero_and_random_is_not():
    C, d = 10, 16
    etf = simplex_etf(C, d, scale=3.0, generator=torch.Generator().manual_seed(0))
    y = torch.arange(C).repeat_interleave(5)
    offset = torch.full((d,), 7.0, dtype=torch.float64)
    H = etf[y] + offset  # zero within-class spread, any global offset
    W = etf * 0.5  # self-dual classifier, up to scale; its bias removes the offset
    m = nc_metrics(H, y, W, -(W @ offset))
    for k in NC_KEYS:
        assert abs(m[k]) < 1e-10, (k, m[k])  # exact up to float64 round-off (~1e-15 seen)
    assert abs(m["etf_error"]) < 1e-10
    g = torch.Generator().manual_seed(1)
    R = torch.randn(len(y), d, generator=g, dtype=torch.float64)
    r = nc_metrics(R, y, torch.randn(C, d, generator=g, dtype=torch.float64))
    # random: NC1 ≈ (d ≥ C−1 ⇒ ≈ 5), cos std ≈ 0.3, NC3 ≈ 2, NC4 ≈ 0.9 (seen)
    assert r["nc1"] > 1 and r["equiangular_std"] > 0.1 and r["nc3"] > 0.5 and r["nc4"] > 0.3
    assert r["equinorm_means"] > 0.05 and r["equiangular_max_dev"] > 0.1


def test_simplex_etf_needs_room():
    with pytest.raises(ValueError, match="d:"):
        simplex_etf(10, 5)


def test_degenerate_gives_nan_not_zero():
    y = torch.arange(4).repeat(3)
    m = nc_metrics(torch.zeros(12, 3), y, torch.zeros(4, 3))
    assert math.isnan(m["nc1"]) and math.isnan(m["equiangular_std"])


def test_instance_axis_and_mask_equal_single():
    Hs, ys, Ws = [], [], []
    for s, n in ((0, 20), (1, 12)):
        H, y, W, _ = random_problem(seed=s, n=n)
        Hs.append(torch.tensor(H)), ys.append(torch.tensor(y)), Ws.append(torch.tensor(W))
    N = max(len(y) for y in ys)
    Hb = torch.zeros(2, N, Hs[0].shape[1], dtype=torch.float64)
    yb = torch.zeros(2, N, dtype=torch.long)
    mask = torch.zeros(2, N, dtype=torch.bool)
    for i in range(2):
        Hb[i, : len(ys[i])], yb[i, : len(ys[i])], mask[i, : len(ys[i])] = Hs[i], ys[i], True
    batched = nc_metrics(Hb, yb, torch.stack(Ws), mask=mask, batch_size=9)
    for i in range(2):
        single = nc_metrics(Hs[i], ys[i], Ws[i])
        for k in NC_KEYS + ("cdnv", "gnc2", "unc3"):
            assert float(batched[k][i]) == pytest.approx(single[k], rel=1e-9), k


def test_min_count_drops_rare_classes():
    H, y, W, b = random_problem(C=5)
    keep = y < 4
    Hx = np.concatenate([H[keep], H[~keep][:2]])
    yx = np.concatenate([y[keep], y[~keep][:2]])
    m = nc_metrics(torch.tensor(Hx), torch.tensor(yx), torch.tensor(W), min_count=3)
    ref = numpy_reference(H[keep], y[keep], W[:4])
    assert m["equiangular_std"] == pytest.approx(ref["equiangular_std"], rel=1e-9)
    assert m["cdnv"] == pytest.approx(ref["cdnv"], rel=1e-9)


def test_accumulator_two_passes_order():
    acc = NCAccumulator(3)
    with pytest.raises(RuntimeError, match="add_means"):
        acc.result()  # nothing accumulated yet
