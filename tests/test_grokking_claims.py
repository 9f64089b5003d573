"""The chapter's claims, checked by running the experiments at the quick preset."""

import pytest

import workbench as wb
from workbench.grokking.scenarios import scenario, sweep_grid


def test_perp_adamw_groks_where_adamw_does_not(store):
    """p = 59 addition, no weight decay, 500 steps: ⊥AdamW ≥ 0.95 test accuracy, AdamW < 0.1."""
    perp = wb.run("grokking", preset="quick", store=store, progress=False, **scenario("perp_adamw"))
    plain = wb.run("grokking", preset="quick", store=store, progress=False, **scenario("adamw"))
    for r in (perp, plain):
        assert r.config["p"] == 59 and r.config["operation"] == "add"
        assert r.config["weight_decay"] == 0 and r.config["steps"] <= 500
    assert perp.summary["best_test_acc"] >= 0.95
    assert plain.summary["final_test_acc"] < 0.1 and plain.summary["best_test_acc"] < 0.1
    assert plain.summary["final_train_acc"] == 1.0      # it memorised, it did not generalise


def test_low_precision_loss_collapses_first(store):
    """Softmax Collapse comes first in float16, later in float32, not at all in float64 (p = 41,
    train 0.7, lr 0.01, 2000 steps). Measured over seeds 0–4: SC ≥ 0.5 from step 300–350
    (float16) and 1850–1900 (float32); float64 peak 0.00."""
    overrides, grid = sweep_grid("precision")
    sw = wb.sweep("grokking", grid=grid, preset="quick", store=store, progress=False, **overrides)
    m = sw.metrics

    def first_collapse(dtype, level=0.5):
        rows = m[(m.loss_dtype == dtype) & (m.sc_fraction >= level)]
        return None if rows.empty else int(rows.step.min())

    f16, f32, f64 = (first_collapse(d) for d in ("float16", "float32", "float64"))
    assert f16 is not None and f32 is not None, (f16, f32)
    assert f16 < f32 and f64 is None
    peak = sw.summary.set_index("loss_dtype")["peak_sc_fraction"]
    assert peak["float16"] > 0.9 and peak["float64"] < 0.5


def test_stablemax_groks_without_weight_decay(store):
    """Same network, no weight decay, float64 loss: StableMax CE groks, softmax CE does not.
    Measured (p = 41, width 64, train 0.9, 1800 steps): StableMax test ≥ 0.9 from step
    1150–1600 over seeds 0–4 (seed 2: 1600), softmax best test accuracy 0.10–0.22."""
    overrides, grid = sweep_grid("stablemax")
    sw = wb.sweep("grokking", grid=grid, preset="quick", store=store, progress=False, **overrides)
    s = sw.summary.set_index("loss")
    assert all(r.config["weight_decay"] == 0 for r in sw.runs)
    assert s.loc["stablemax", "best_test_acc"] >= 0.9
    assert s.loc["stablemax", "phase"] in ("grok", "generalise")
    assert s.loc["softmax", "best_test_acc"] < 0.5
    assert s.loc["softmax", "final_train_acc"] == 1.0


def test_weight_decay_gives_delayed_generalisation(store):
    r = wb.run("grokking", preset="quick", store=store, progress=False,
               **scenario("weight_decay"))
    s = r.summary
    assert s["step_test_acc_0.9"] is not None
    assert s["step_test_acc_0.9"] >= 3 * s["step_train_acc_0.9"]
    assert s["phase"] == "grok"
