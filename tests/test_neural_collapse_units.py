"""Units of the neural-collapse chapter: configs, data, batched == single, the grokking
view, the linguistic experiment, exercises, plots."""

from __future__ import annotations

import math

import pytest
import torch

import workbench as wb
from workbench.core.config import ConfigError
from workbench.core.experiment import experiments
from workbench.neural_collapse import data as D
from workbench.neural_collapse.exercises import (check_etf_cosine, check_min_dimension,
                                                 check_minority_threshold)
from workbench.neural_collapse.experiment import NCTrainer
from workbench.neural_collapse.scenarios import scenario, sweep_grid

DEV = torch.device("cpu")


def test_registered_experiments():
    names = experiments()
    for name in ("neural-collapse", "linguistic-collapse", "grokking-nc"):
        assert name in names


def test_bad_parameters_name_the_field():
    with pytest.raises(ConfigError, match="^imbalance:"):
        wb.make_config("neural-collapse", imbalance=0.5)
    with pytest.raises(ConfigError, match="^data:"):
        wb.make_config("neural-collapse", data="cifar")
    with pytest.raises(ConfigError, match="^width:"):
        wb.make_config("linguistic-collapse", width=30, heads=4)
    with pytest.raises(ValueError, match="scenario:"):
        scenario("nope")


def test_data_offline_and_imbalance_mask():
    s = D.load("digits", 0)
    assert s.train_x.shape == (1437, 64) and s.test_x.shape == (360, 64) and s.n_classes == 10
    keep = D.imbalance_mask(s.train_y, 10, 10.0)
    for c in range(10):
        n = int((s.train_y == c).sum())
        k = int(keep[s.train_y == c].sum())
        assert k == (n if c < 5 else -(-n // 10))
    a, b = D.zipf_corpus(64, 20, 8, seed=3), D.zipf_corpus(64, 20, 8, seed=3)
    assert torch.equal(a, b) and a.max() < 64
    counts = torch.bincount(D.zipf_corpus(64, 400, 16, seed=0).flatten(), minlength=64)
    assert counts.sort(descending=True).values[:8].sum() > counts.sum() / 2  # Zipfian: skewed


@pytest.mark.parametrize("kind", ["ufm", "mlp"])
def test_batched_equals_single(kind):
    """An instance trains to the same numbers alone or inside a batched sweep (imbalance,
    weight decay and BatchNorm differ across the batch)."""
    base = {**scenario("ufm" if kind == "ufm" else "mlp"), "steps": 30, "log_every": 15}
    if kind == "mlp":
        base.update(batch_size=64)
    cfgs = [wb.make_config("neural-collapse", **{**base, "imbalance": r, "weight_decay": w,
                                                 "seed": s, "batchnorm": bn})
            for r, w, s, bn in ((1.0, 5e-3, 0, True), (10.0, 1e-2, 1, False), (3.0, 0.0, 2, True))]
    batched = NCTrainer(cfgs, DEV)
    for s in range(30):
        batched.step(s)
    rows = batched.log(30)
    for i, cfg in enumerate(cfgs):
        single = NCTrainer([cfg], DEV)
        for s in range(30):
            single.step(s)
        one = single.log(30)[0]
        for k in ("train_loss", "train_acc", "nc1", "equiangular_std", "nc3", "minority_cos"):
            if kind == "ufm" or k in ("train_loss", "train_acc"):  # bit for bit
                assert rows[i][k] == one[k] or (math.isnan(rows[i][k]) and math.isnan(one[k])), \
                    (kind, i, k)
            else:  # digits subsets of other sizes are masked: masked sums round differently
                assert rows[i][k] == pytest.approx(one[k], rel=1e-4, abs=1e-6), (kind, i, k)


def test_grokking_models_features_feed_the_readout_and_grokking_nc_reads_them():
    """MLP and Transformer: forward = features · W_out (+ b_out), bit for bit; grokking-nc
    computes its NC metrics from ``model.features`` (for either model)."""
    from workbench.neural_collapse.grokking_nc import GrokkingNCTrainer
    for kind, extra in (("mlp", {}), ("transformer", dict(heads=4, d_ff=32))):
        cfg = wb.make_config("grokking-nc", model=kind, p=11, width=16, steps=5, log_every=5,
                             **extra)
        tr = GrokkingNCTrainer([cfg], DEV)
        tr.model.eval()
        P, x = tr.model.params, tr.train_x
        feats = tr.model.features(x)
        out = torch.bmm(feats, P["out"])
        if kind == "transformer":
            out = out + P["out_bias_head"][:, None, :]
        assert feats.shape == (1, x.shape[1], 16)
        assert torch.equal(out, tr.model(x)), kind
        calls = []
        real = tr.model.features
        tr.model.features = lambda t: calls.append(t) or real(t)
        row = tr.log(0)[0]
        assert calls and calls[-1] is tr.train_x, kind
        assert row["nc1"] > 0 and 0 <= row["nc4"] <= 1 and "test_acc" in row


def test_linguistic_collapse_quick(store):
    """Width 32, the quick preset: CDNV falls during training, the NCC agreement stays far
    from 1 and no simplex forms (V = 512 tokens in 32 dims)."""
    r = wb.run("linguistic-collapse", store=store, progress=False, width=32)
    m, s = r.metrics, r.summary
    assert s["final_val_loss"] < 0.5 * m["val_loss"].iloc[0]          # measured 1.36 vs 6.24
    assert s["final_cdnv"] < 0.5 * m["cdnv"].iloc[0]                  # measured 0.28 vs 1.28
    assert s["final_ncc_agreement"] < 0.9                             # measured 0.40
    assert s["final_equiangular_std"] > 0.1                           # measured 0.23
    assert s["final_n_classes"] > 32                                  # measured 87 > width


def test_spearman_table_runs_across_final_models():
    """ρ is computed over the summary's final models, one row each, next to the paper's ρ."""
    import pandas as pd

    from workbench.neural_collapse.linguistic import spearman_table

    summary = pd.DataFrame({"final_val_loss": [3.0, 2.0, 1.5, 1.0],
                            "final_gnc2": [0.4, 0.3, 0.2, 0.1],          # ρ = +1
                            "final_ncc_agreement": [0.1, 0.2, 0.3, 0.4],  # ρ = −1
                            "final_nc1": [0.1, 0.3, 0.2, 0.4]})           # ρ = −0.8
    t = spearman_table(summary).set_index("measure")
    assert t.loc["gnc2", "rho_vs_val_loss"] == pytest.approx(1.0)
    assert t.loc["ncc_agreement", "rho_vs_val_loss"] == pytest.approx(-1.0)
    assert t.loc["nc1", "rho_vs_val_loss"] == pytest.approx(-0.8)
    assert t.loc["gnc2", "paper_rho"] == 0.92 and (t["models"] == 4).all()
    assert list(t.index[:2]) != ["nc1"] and t.index[-1] == "nc1"     # sorted by |ρ|


def test_exercises():
    assert check_etf_cosine(10, -1 / 9) and not check_etf_cosine(10, 0.0)
    assert not check_etf_cosine(10, "minus a ninth")  # malformed: no exception
    assert check_min_dimension(10, 9) and not check_min_dimension(10, 10)
    import pandas as pd
    summary = pd.DataFrame({"imbalance": [1.0, 3.0, 10.0], "final_minority_cos": [-0.1, 0.6, 1]})
    assert check_minority_threshold(summary, 3) and not check_minority_threshold(summary, 10)


def test_geometry_3d_and_grids():
    from workbench.neural_collapse.metrics import simplex_etf
    from workbench.neural_collapse.plots import geometry_3d
    fig = geometry_3d(simplex_etf(10, 12))
    assert len(fig.data) == 6 and "-0.33" in fig.layout.title.text
    for name in ("ufm_weight_decay", "minority", "mlp_bn_wd", "lm_width"):
        for preset in ("quick", "full"):
            overrides, grid = sweep_grid(name, preset)
            assert grid
