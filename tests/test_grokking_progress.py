"""Nanda et al. (2023)'s progress measures: restricted and excluded loss, key-frequency power,
the phases read off them, and their logging in the grokking trainer."""

import math

import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.core.config import ConfigError
from workbench.grokking.metrics import (dominant_frequencies, excluded_loss,
                                        key_frequency_power, logit_frequency_power,
                                        progress_phases, restricted_loss, sum_frequency_basis)

P = 31


def _circuit_logits(p, keys, scale=4.0, sign=1):
    """A perfect Fourier circuit: Z(a, b, c) = scale·Σ_k cos(ω_k(a ± b − c)), rows a·p + b."""
    a = torch.arange(p, dtype=torch.float64).view(-1, 1, 1)
    b = torch.arange(p, dtype=torch.float64).view(1, -1, 1)
    c = torch.arange(p, dtype=torch.float64).view(1, 1, -1)
    z = sum(torch.cos(2 * math.pi * k / p * (a + sign * b - c)) for k in keys)
    return (scale * z).reshape(p * p, p)


def _labels(p, sign=1):
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return ((a + sign * b) % p).reshape(-1)


def test_basis_is_orthonormal_and_orthogonal_to_the_constant():
    u = sum_frequency_basis(P, [1, 4, 15])
    assert u.shape == (6, P * P)
    assert torch.allclose(u @ u.T, torch.eye(6, dtype=torch.float64), atol=1e-12)
    assert (u.sum(-1).abs() < 1e-10).all()
    with pytest.raises(ValueError, match="key_freqs"):
        sum_frequency_basis(P, [16])


@pytest.mark.parametrize("sign", [1, -1])
def test_restricted_keeps_a_pure_circuit_and_excluded_destroys_it(sign):
    keys = [3, 7]
    z, y = _circuit_logits(P, keys, sign=sign), _labels(P, sign)
    basis = sum_frequency_basis(P, keys, sign)
    full = torch.nn.functional.cross_entropy(z, y).item()
    assert full < 0.5                                           # the circuit computes the task
    assert restricted_loss(z, y, basis).item() == pytest.approx(full, abs=1e-9)
    # with the keys removed nothing is left: uniform logits, loss ln p on any subset
    train = torch.zeros(P * P, dtype=torch.float64)
    train[::3] = 1.0
    assert excluded_loss(z, y, basis, train).item() == pytest.approx(math.log(P), abs=1e-9)
    # the wrong keys: restricted keeps nothing useful, excluded keeps the circuit
    wrong = sum_frequency_basis(P, [5])
    assert restricted_loss(z, y, wrong).item() == pytest.approx(math.log(P), abs=1e-9)
    assert excluded_loss(z, y, wrong).item() == pytest.approx(full, abs=1e-9)


def test_memorised_noise_is_barely_touched_by_removing_a_few_directions():
    """A memorising table: noise, plus a boost of the right class on the training pairs only.
    Removing two key directions barely changes its training loss (the excluded loss stays
    near the training loss), and keeping only them predicts close to chance."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(P * P, P, generator=g, dtype=torch.float64) * 3
    y = _labels(P)
    rows = torch.randperm(P * P, generator=g)[: P * P // 3]
    z[rows, y[rows]] += 10
    train = torch.zeros(P * P, dtype=torch.float64)
    train[rows] = 1.0
    basis = sum_frequency_basis(P, [2, 9])
    full = (torch.nn.functional.cross_entropy(z, y, reduction="none") * train).sum() / train.sum()
    assert full.item() < 0.5
    assert abs(excluded_loss(z, y, basis, train).item() - full.item()) < 0.1   # measured 0.08
    assert restricted_loss(z, y, basis).item() > math.log(P) - 0.5           # measured ln p − 0.34


def test_logit_power_and_dominant_frequencies_find_the_circuit():
    z = _circuit_logits(P, [3, 7, 11])
    power = logit_frequency_power(z, P)
    assert power.shape == (P // 2 + 1,)
    assert power[[3, 7, 11]].sum().item() == pytest.approx(1.0, abs=1e-9)
    assert dominant_frequencies(power) == [3, 7, 11]
    # batched over a leading instance axis
    assert logit_frequency_power(torch.stack([z, z]), P).shape == (2, P // 2 + 1)


def test_key_frequency_power_of_an_embedding():
    a = torch.arange(P, dtype=torch.float64).view(-1, 1)
    E = torch.cat([torch.cos(2 * math.pi * 4 * a / P), torch.sin(2 * math.pi * 9 * a / P)], 1)
    assert key_frequency_power(E, [4, 9]).item() == pytest.approx(1.0, abs=1e-9)
    assert key_frequency_power(E, [4]).item() == pytest.approx(0.5, abs=1e-9)
    # per instance, zero-padded key lists
    both = key_frequency_power(torch.stack([E, E]), [[4, 0], [4, 9]])
    assert torch.allclose(both, torch.tensor([0.5, 1.0], dtype=torch.float64))


def test_progress_phases_from_constructed_curves():
    steps = list(range(0, 1100, 100))
    m = pd.DataFrame({
        "step": steps,
        "train_acc": [0.0, 1.0] + [1.0] * 9,
        "test_loss": [3.4, 9.0, 8.0, 6.0, 3.0, 1.0, 0.5, 0.2, 0.1, 0.1, 0.1],
        "excluded_loss": [3.4, 0.2, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.5, 2.55, 2.6],
    })
    phases = progress_phases(m, n_classes=P)                      # ln 31 ≈ 3.43
    assert phases["memorisation"] == (0, 100)
    assert phases["circuit formation"] == (100, 400)
    # 90 % of the rise 0.2 → 2.6 is 2.36: first reached at step 700
    assert phases["clean-up"] == (400, 700)
    never = m.assign(test_loss=9.0)
    assert progress_phases(never, n_classes=P)["clean-up"] is None


def test_key_freqs_config_is_checked():
    exp = wb.get("grokking")
    with pytest.raises(ConfigError, match="key_freqs"):
        exp.config("quick", operation="mul", key_freqs=(3,))
    with pytest.raises(ConfigError, match="key_freqs"):
        exp.config("quick", p=59, key_freqs=(30,))
    assert exp.config("quick", key_freqs="3,7").key_freqs == (3, 7)


def test_logging_the_measures_does_not_change_training(store):
    """key_freqs only adds columns: train/test curves are identical, in a batch where one
    instance has no keys (its measures are NaN)."""
    exp = wb.get("grokking")
    base = dict(p=23, width=32, steps=60, log_every=20, weight_decay=1.0, progress=False)
    plain = wb.run("grokking", store=store, **base)
    configs = [exp.config("quick", **{k: v for k, v in base.items() if k != "progress"},
                          key_freqs=keys, seed=seed)
               for keys, seed in [((2, 5), 0), (None, 1), ((1, 3, 4), 0)]]
    sw = wb.sweep("grokking", configs, store=store, progress=False)
    cols = ["train_acc", "test_acc", "train_loss", "test_loss", "weight_norm"]
    pd.testing.assert_frame_equal(sw[0].metrics[cols], plain.metrics[cols])
    pd.testing.assert_frame_equal(sw[2].metrics[cols], plain.metrics[cols])
    assert sw[1].metrics["excluded_loss"].isna().all()
    m = sw[0].metrics
    assert m[["restricted_loss", "excluded_loss", "key_power"]].notna().all().all()
    # at initialisation nothing is memorised: excluded ≈ training loss ≈ ln p
    assert m["excluded_loss"].iloc[0] == pytest.approx(m["train_loss"].iloc[0], rel=0.05)
    assert sw[0].summary["key_freqs"] == [2, 5]
    assert "end_memorisation" in sw[0].summary


def test_progress_run_reuses_the_training_and_finds_keys(store):
    from workbench.grokking.experiment import final_key_frequencies, progress_run

    run = wb.run("grokking", store=store, progress=False, p=23, width=32, steps=60,
                 log_every=20, weight_decay=1.0)
    keys = final_key_frequencies(run)
    assert keys and all(1 <= k <= 11 for k in keys)
    again = progress_run(run, progress=False)
    assert again.config["key_freqs"] == keys
    assert again.path.parent == run.path.parent
    assert again.metrics["test_loss"].tolist() == run.metrics["test_loss"].tolist()


def test_a_memorising_run_says_which_setting_generalises():
    from workbench.grokking.experiment import summarize

    cfg = wb.make_config("grokking", "quick", weight_decay=0.0)
    m = pd.DataFrame({"step": [0, 25, 50], "train_acc": [0.0, 1.0, 1.0],
                      "test_acc": [0.0, 0.0, 0.01], "sc_fraction": 0.0, "weight_norm": 1.0,
                      "nlm_cosine": 0.5})
    s = summarize(cfg, m)
    assert s["phase"] == "memorise" and "weight_decay=2" in s["note"]
    assert "note" not in summarize(cfg, m.assign(test_acc=[0.0, 0.5, 0.95]))


def test_the_quick_preset_is_the_grokking_run():
    """The first command a reader types, `workbench run grokking --preset quick`, runs the
    notebooks' weight-decay scenario (which test_grokking_claims checks groks)."""
    from workbench.grokking.scenarios import scenario

    assert wb.make_config("grokking", "quick") == wb.make_config(
        "grokking", "quick", **scenario("weight_decay"))
    assert wb.make_config("grokking", "quick").weight_decay > 0
