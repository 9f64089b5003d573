"""A batched sweep trains ONE model with an instance axis; each instance equals a solo run."""

import numpy as np
import pytest

import workbench as wb

COLS = ["train_loss", "test_loss", "train_acc", "test_acc", "sc_fraction", "nlm_cosine",
        "weight_norm"]


def test_each_instance_equals_a_single_run(store, tmp_path):
    E = wb.get("grokking")
    base = E.config("quick", steps=80, log_every=20)
    configs = [base.replace(lr=0.01, seed=0),
               base.replace(lr=0.003, seed=1, weight_decay=1.0),
               base.replace(optimizer="perp_adamw", seed=2, loss_dtype="float64"),
               base.replace(loss="stablemax", loss_dtype="float64", seed=3)]
    sweep = wb.sweep(E, configs, store=store, progress=False)
    assert len(sweep) == 4 and (sweep.path / "summary.json").exists()
    # trained as one group: a single batch workdir was used (no per-config Python loop)
    assert sweep.metrics["instance"].nunique() == 4
    for i, cfg in enumerate(configs):  # bit for bit: the README's reproducibility promise
        solo = wb.run(E, cfg, store=tmp_path / f"solo{i}", progress=False)
        np.testing.assert_array_equal(sweep[i].metrics[COLS].to_numpy(),
                                      solo.metrics[COLS].to_numpy())
    # the sweep is a first-class run in the store: it can be loaded back by id
    again = store.get_sweep(sweep.id)
    assert [r.id for r in again.runs] == [r.id for r in sweep.runs]
    assert set(again.summary["lr"]) == {0.01, 0.003}


def test_instances_with_other_train_fractions_match_over_a_short_horizon(store, tmp_path):
    """Different train fractions pad the shorter sets with zero-weight rows; the reductions
    over padded rows round differently, so agreement is to float tolerance early on (the
    later trajectory of an eps=1e-25 Adam amplifies rounding). The README's exception to
    bit for bit."""
    E = wb.get("grokking")
    base = E.config("quick", steps=10, log_every=5)
    configs = [base.replace(train_frac=0.3, seed=0), base.replace(train_frac=0.5, seed=1)]
    sweep = wb.sweep(E, configs, store=store, progress=False)
    for i, cfg in enumerate(configs):
        solo = wb.run(E, cfg, store=tmp_path / f"solo{i}", progress=False)
        np.testing.assert_allclose(sweep[i].metrics[COLS].to_numpy(),
                                   solo.metrics[COLS].to_numpy(), rtol=1e-4, atol=1e-5)


def test_sweep_groups_by_non_batchable_fields_and_skips_finished(store, monkeypatch):
    from workbench.grokking import experiment as X
    built = []
    orig = X.GrokkingTrainer.__init__

    def spy(self, configs, device):
        built.append(len(configs))
        orig(self, configs, device)

    monkeypatch.setattr(X.GrokkingTrainer, "__init__", spy)
    grid = {"weight_decay": [0.0, 1.0, 3.0], "width": [16, 32]}
    wb.sweep("grokking", grid=grid, preset="quick", store=store, progress=False, steps=20,
             log_every=10)
    assert sorted(built) == [3, 3]          # one batched model per width, not six runs
    built.clear()
    wb.sweep("grokking", grid={"weight_decay": [0.0, 1.0, 3.0, 8.0], "width": [16]},
             preset="quick", store=store, progress=False, steps=20, log_every=10)
    assert built == [1]                     # three were finished: only the new one trains
