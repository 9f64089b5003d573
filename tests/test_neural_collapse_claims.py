"""The chapter's claims, each checked by running the quick scenario behind it.

Tolerances are the issue's; the numbers measured with these exact settings (CPU, torch 2.13)
are written next to each assert.
"""

from __future__ import annotations

import math

import pytest

import workbench as wb
from workbench.neural_collapse.scenarios import scenario, sweep_grid


def test_ufm_collapses_with_weight_decay(store):
    """C = 10, d = 64, λ = 5e-3, 3k full-batch SGD steps. Seeds 0–4: NC1 1.0e-13 … 2.2e-13,
    cosine std 1.9e-5 … 2.9e-5, NC3 2.3e-12 … 3.2e-12, NC4 0, train accuracy 1."""
    r = wb.run("neural-collapse", store=store, progress=False, **scenario("ufm"))
    s = r.summary
    assert s["final_train_acc"] == 1.0
    assert s["final_nc1"] < 1e-6            # measured 1.1e-13
    assert s["final_equiangular_std"] < 1e-3  # measured 2.3e-5
    assert s["final_nc4"] == 0.0             # measured 0
    assert s["final_nc3"] < 1e-6             # measured 2.4e-12


def test_ufm_no_etf_when_d_below_c_minus_1(store):
    """d = 5 < C − 1 = 9, 1,000 steps: features still collapse to their means, but no simplex
    ETF. Seeds 0–4: NC1 4.6e-8 … 7.5e-8, cosine std 0.318 … 0.322."""
    s = wb.run("neural-collapse", store=store, progress=False, **scenario("ufm_narrow")).summary
    assert s["final_nc1"] < 1e-3                 # measured 4.6e-8
    assert s["final_equiangular_std"] > 0.2      # measured 0.318


def test_ufm_weight_decay_sweep_batched(store):
    """One batched model over λ: no decay collapses slowly, too much gives W = H = 0."""
    overrides, grid = sweep_grid("ufm_weight_decay")
    sw = wb.sweep("neural-collapse", grid=grid, store=store, progress=False, **overrides)
    s = sw.summary.set_index("weight_decay")
    assert len({p.parent for p in [r.path for r in sw.runs]}) == 1
    assert s.loc[0.0, "final_nc1"] > 1e-3            # measured 3.0e-2
    assert s.loc[5e-3, "final_nc1"] < 1e-6           # measured 1.1e-13
    assert s.loc[0.0, "final_nc1"] > 1e4 * s.loc[5e-3, "final_nc1"]
    assert s.loc[0.05, "final_train_acc"] == pytest.approx(0.1)  # measured 0.1 (all zero)
    assert s.loc[0.05, "final_nc1"] is None or math.isnan(s.loc[0.05, "final_nc1"])


def test_minority_collapse(store):
    """UFM, 5 classes × 200 and 5 × 200/R, λ = 5e-3; R = 1 and R = 10 in one batch. Seeds 0–4:
    minority cosine −0.11112 … −0.11111 at R = 1, 0.99997 … 0.99999 at R = 10; norm ratio
    0.046 … 0.055 at R = 10."""
    base = scenario("minority")
    sw = wb.sweep("neural-collapse", grid={"imbalance": [1.0, 10.0]}, store=store,
                  progress=False, **base)
    s = sw.summary.set_index("imbalance")
    assert s.loc[10.0, "final_minority_cos"] > 0.9                          # measured 0.99998
    assert abs(s.loc[1.0, "final_minority_cos"] - (-1 / 9)) < 0.02          # measured −0.11112
    assert s.loc[10.0, "final_minor_major_norm"] < 0.2                      # measured 0.047
    assert s.loc[1.0, "final_minor_major_norm"] == pytest.approx(1.0, abs=1e-3)  # measured 1.0000


def test_digits_batchnorm_collapses_and_plain_mlp_does_not(store):
    """Digits MLP, wd 1e-2, 100 epochs; BatchNorm on and off train as one batched model.
    Seeds 0–4: with BatchNorm NC1 0.0066 … 0.0115, test accuracy 0.986 … 0.994; without,
    train accuracy 0.989 … 0.992 and NC1 0.66 … 1.04 (58× … 154× larger)."""
    overrides = scenario("mlp")
    sw = wb.sweep("neural-collapse", grid={"batchnorm": [True, False]}, store=store,
                  progress=False, **{**overrides, "weight_decay": 1e-2})
    s = sw.summary.set_index("batchnorm")
    bn, plain = s.loc[True], s.loc[False]
    assert bn["final_nc1"] < 0.05                    # seeds 0–4: 0.0066 … 0.0115
    assert bn["final_test_acc"] > 0.95               # seeds 0–4: 0.986 … 0.994
    assert plain["final_train_acc"] > 0.98           # seeds 0–4: 0.989 … 0.992: it (nearly) interpolates
    assert plain["final_nc1"] > 5 * bn["final_nc1"]  # seeds 0–4: 58× … 154× larger
