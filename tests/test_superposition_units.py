"""Units of chapter 2: data, the hand-written gradients, the decay rule, metrics, config,
padding and batching equivalences, the Bahri module."""

import math

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.core import rng
from workbench.core.config import ConfigError
from workbench.core.experiment import load_trainer
from workbench.superposition import data as D
from workbench.superposition.experiment import SuperpositionConfig, SuperpositionTrainer
from workbench.superposition.metrics import (dimensions_per_feature, exponent_over_seeds,
                                             feature_dimensionality, fit_exponent,
                                             interference, overlap_stats, phi,
                                             random_overlap_stats, squared_overlaps,
                                             welch_bound)
from workbench.superposition.models import (forward, loss_grads, lr_factor,
                                            reconstruction_loss, row_norm_decay_)

CPU = torch.device("cpu")


# ------------------------------------------------------------------ data
@pytest.mark.parametrize("shape", D.SHAPES)
def test_feature_probs_normalised_and_decreasing(shape):
    p = D.feature_probs(300, shape, alpha=1.3, density=2.5, tau=0.1)
    assert p.sum().item() == pytest.approx(2.5, rel=1e-12)
    assert (p[1:] <= p[:-1]).all() and (p >= 0).all() and (p <= 1).all()


def test_power_law_ratio_and_sparse_features_statistics():
    p = D.feature_probs(100, "power", alpha=1.5)
    assert (p[0] / p[3]).item() == pytest.approx(4 ** 1.5, rel=1e-12)
    r = rng.uniform(torch.tensor([0]), 0, 1, (20000, 100))
    x = D.sparse_features(r, p.float().unsqueeze(0))[0]
    fired = (x > 0).float().mean(0)
    assert torch.allclose(fired[:5], p[:5].float(), atol=0.02)      # Bernoulli(p_i)
    vals = x[x > 0]
    assert vals.max() <= 2 and (vals ** 2).mean().item() == pytest.approx(4 / 3, rel=0.03)
    # the value is U(0, 2) for rare features too (v = r/p given r < p), independent of p
    rare = x[:, 50:][x[:, 50:] > 0]
    assert rare.mean().item() == pytest.approx(1.0, rel=0.1) and len(rare) > 300


# ------------------------------------------------------------------ model and optimiser
def test_hand_written_gradients_match_autograd():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 2, 30, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 2, 30, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.rand(3, 2, 64, 30, generator=g, dtype=torch.float64) * (
        torch.rand(3, 2, 64, 30, generator=g, dtype=torch.float64) < 0.1)
    loss = reconstruction_loss(forward(W, b, x), x).sum()
    aW, ab = torch.autograd.grad(loss, (W, b))
    gW, gb = loss_grads(W.detach(), b.detach(), x)
    assert torch.allclose(gW, aW, rtol=1e-10, atol=1e-12)
    assert torch.allclose(gb, ab, rtol=1e-10, atol=1e-12)


def test_reconstruction_loss_is_n_times_mse():
    x, y = torch.rand(1, 16, 50), torch.rand(1, 16, 50)
    assert reconstruction_loss(y, x).item() == pytest.approx(50 * ((y - x) ** 2).mean().item(),
                                                             rel=1e-5)


def test_row_norm_decay_rule():
    W = torch.tensor([[[3.0, 4.0], [0.3, 0.4], [0.6, 0.8]]])  # norms 5, 0.5, 1
    neg = W.clone()
    row_norm_decay_(neg, torch.tensor(0.1).view(1, 1, 1), torch.tensor(-1.0).view(1, 1, 1))
    # W_i + ηγ W_i (1 − 1/‖W_i‖): norm 5 → 5 − 0.1·4 = 4.6; 0.5 → 0.5 + 0.1·0.5 = 0.55; 1 stays
    assert neg.norm(dim=-1)[0].tolist() == pytest.approx([4.6, 0.55, 1.0], rel=1e-6)
    pos = W.clone()
    row_norm_decay_(pos, torch.tensor(0.1).view(1, 1, 1), torch.tensor(0.5).view(1, 1, 1))
    assert torch.allclose(pos, W * 0.95)


def test_lr_schedule_warmup_cosine_floor():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10) == pytest.approx(0.05)


# ------------------------------------------------------------------ metrics
def test_phi_and_overlaps_against_brute_force():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(2, 40, 6, generator=g) * 0.5
    norms = W.norm(dim=-1)
    assert torch.allclose(phi(W, 0.5), (norms > 0.5).float().mean(-1))
    mean, var = overlap_stats(W)
    sq = squared_overlaps(W)
    assert torch.allclose(mean, sq.mean(-1), rtol=1e-4)
    assert torch.allclose(var, sq.var(-1, unbiased=False), rtol=1e-3)


def test_random_unit_vectors_overlap_one_over_m():
    g = torch.Generator().manual_seed(2)
    m = 20
    mean, var = overlap_stats(torch.randn(1, 600, m, generator=g, dtype=torch.float64))
    ref_mean, ref_var = random_overlap_stats(m)
    assert mean.item() == pytest.approx(ref_mean, rel=0.05)   # 180k pairs: ±1 % observed
    assert var.item() == pytest.approx(ref_var, rel=0.1)


def test_welch_bound():
    assert welch_bound(3, 2) == pytest.approx(0.5)              # Mercedes frame: |cos 120°|
    assert welch_bound(2, 2) == 0.0
    assert welch_bound(10_000, 50) == pytest.approx(1 / math.sqrt(50), rel=0.01)


def test_feature_dimensionality_sticky_values():
    # antipodal pair in one dimension, a lone feature in another, an unused feature
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    D_i = feature_dimensionality(W)
    assert D_i.tolist() == pytest.approx([0.5, 0.5, 1.0, 0.0])
    assert dimensions_per_feature(W).item() == pytest.approx(2 / 3)
    assert interference(W).tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0])
    # a triangle (Mercedes) in the plane: D_i = 2/3
    ang = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
    tri = torch.stack([ang.cos(), ang.sin()], -1)
    assert feature_dimensionality(tri).tolist() == pytest.approx([2 / 3] * 3, rel=1e-5)


def test_fit_exponent_exact_and_over_seeds():
    m = np.array([10, 20, 40, 80])
    assert fit_exponent(m, 3.0 * m ** -0.7)[0] == pytest.approx(0.7)
    mean, sd, per = exponent_over_seeds(m, [m ** -1.0, m ** -1.2])
    assert mean == pytest.approx(1.1) and sd == pytest.approx(math.sqrt(0.02)) and len(per) == 2
    assert math.isnan(fit_exponent([10], [1.0])[0])


# ------------------------------------------------------------------ config
def test_m_is_a_list_on_the_cli_and_errors_are_one_line():
    exp = wb.get("superposition")
    assert SuperpositionConfig.parse("m", "10,15,25") == (10, 15, 25)
    cfg = exp.config("quick", m="5,8")
    assert cfg.m == (5, 8) and cfg.replace(m=[6, 9]).m == (6, 9)
    assert SuperpositionConfig.from_dict(cfg.to_dict()) == cfg      # JSON list round-trip
    for bad, word in [(dict(m="5,x"), "m:"), (dict(m=(5, 500)), "m:"), (dict(m="0,4"), "m:"),
                      (dict(gamma="a"), "gamma:"), (dict(freq_shape="cubic"), "freq_shape:")]:
        with pytest.raises(ConfigError, match=word) as err:
            exp.config("quick", **bad)
        assert "\n" not in str(err.value)


# ------------------------------------------------------------------ batching
TINY = dict(n=40, m=(3, 5), batch_size=32, steps=30, warmup=5, seeds=2, eval_size=64,
            log_every=10)


def _train(configs, steps):
    tr = SuperpositionTrainer(configs, CPU)
    for s in range(steps):
        tr.step(s)
    return tr


def test_padded_widths_equal_separate_widths():
    c = wb.get("superposition").config("quick", **TINY)
    a = _train([c], 30)
    b = _train([c.replace(pad_m=True)], 30)
    for m in c.m:
        assert torch.allclose(a.weights(0)[m], b.weights(0)[m], atol=1e-5)
    assert torch.count_nonzero(b.groups[0]["W"][0, :2, :, 3:]) == 0     # padding stays zero


def test_batched_instance_equals_single_run(store):
    """A γ × α × seed sweep trains as one model; each member equals the same config alone."""
    exp = wb.get("superposition")
    grid = dict(gamma=[-1.0, 0.5], alpha=[1.0, 1.5], seed=[0, 3])
    sw = wb.sweep(exp, grid=grid, preset="quick", store=store, progress=False, **TINY)
    assert len(sw) == 8 and not any((store.root / p).name.startswith("superposition-batch")
                                    for p in store.root.iterdir())
    for k in (0, 5):
        cfg = exp.config_cls.from_dict(sw[k].config)
        alone = _train([cfg], cfg.steps)
        batched = load_trainer(sw[k])
        for m in cfg.m:  # bit for bit (the README's reproducibility promise)
            assert torch.equal(batched.weights(0)[m], alone.weights(0)[m])
        row = alone.log(cfg.steps)[0]  # same fresh evaluation samples (seeded by step)
        assert sw[k].summary["loss"] == {str(m): row[f"loss_m{m}"] for m in cfg.m}


def test_summary_has_exponent_and_phi_per_m(store):
    run = wb.run("superposition", preset="quick", store=store, progress=False, **TINY)
    s = run.summary
    assert set(s["phi_half"]) == set(s["phi_one"]) == {"3", "5"}
    assert np.isfinite(s["loss_exponent"]) and s["loss_exponent_std"] >= 0
    assert len(s["loss_exponent_per_seed"]) == 2


# ------------------------------------------------------------------ Bahri
def test_bahri_resolution_limited_slopes_match_alpha_k():
    from workbench.superposition.regimes import _mean_loss
    from workbench.superposition.metrics import fit_exponent as fit
    sizes = [8, 16, 32, 64]
    L = [_mean_loss(256, p, None, 1.0, 4, k) for k, p in enumerate(sizes)]
    # D = ∞, P ≪ S: L ∝ P^-α_K; measured 0.97–1.0 (S = 256, 4 draws)
    assert fit(sizes, L)[0] == pytest.approx(1.0, abs=0.15)
