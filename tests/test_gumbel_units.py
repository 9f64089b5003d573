"""Chapter 4 units: samplers, their errors, the estimators' algebra, batched = single."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

import workbench as wb
from workbench.core.config import ConfigError
from workbench.gumbel import (binary_concrete, concrete_log_density, gumbel_max, gumbel_noise,
                              gumbel_softmax, straight_through, tau_at)
from workbench.gumbel import estimators as E
from workbench.gumbel.masks import CANDIDATES, magnitude_mask


PI = torch.tensor([0.710, 0.158, 0.096, 0.036], dtype=torch.float64)


def test_gumbel_max_passes_chi_square():
    n = 100_000
    idx = gumbel_max(PI.log().expand(n, -1), generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(idx, minlength=4).numpy()
    chi2, p = stats.chisquare(counts, (PI * n).numpy())
    assert p > 0.01, (counts, chi2, p)
    # and a wrong π is rejected by the same test (the test has power)
    wrong = torch.tensor([0.70, 0.17, 0.096, 0.034], dtype=torch.float64)
    assert stats.chisquare(counts, (wrong / wrong.sum() * n).numpy())[1] < 1e-3


def test_straight_through_is_one_hot_with_the_soft_gradient():
    logits = torch.randn(64, 5, dtype=torch.float64, requires_grad=True)
    g = gumbel_noise((64, 5), torch.Generator().manual_seed(1), dtype=torch.float64)
    c = torch.randn(5, dtype=torch.float64)
    hard = gumbel_softmax(logits, 0.5, hard=True, noise=g)
    assert ((hard == 0) | (hard == 1)).all() and (hard.sum(-1) == 1).all()
    (gh,) = torch.autograd.grad((hard * c).sum(), logits)
    soft = gumbel_softmax(logits, 0.5, hard=False, noise=g)
    (gs,) = torch.autograd.grad((soft * c).sum(), logits)
    assert torch.equal(hard.argmax(-1), soft.argmax(-1))
    torch.testing.assert_close(gh, gs, rtol=0, atol=1e-12)
    # matches torch's own F.gumbel_softmax on the same noise (its noise is ours)
    assert torch.equal(straight_through(soft.detach()), hard.detach())


def test_soft_sample_matches_torch_and_is_biased():
    logits = PI.log().expand(200_000, -1)
    g = gumbel_noise(logits.shape, torch.Generator().manual_seed(2), dtype=torch.float64)
    y = gumbel_softmax(logits, 1.0, noise=g)
    torch.testing.assert_close(y, torch.softmax(logits + g, -1))
    mean = y.mean(0)
    assert mean[0] < PI[0] - 0.1            # pulled to the centre at τ = 1 (≈ 0.58 vs 0.71)
    cold = gumbel_softmax(logits, 0.1, noise=g).mean(0)
    assert (cold - PI).abs().max() < 0.02   # ≈ π at τ = 0.1


def test_concrete_density_matches_torch_distributions():
    logits = torch.randn(3, 4, dtype=torch.float64)
    tau = 0.7
    d = torch.distributions.RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64),
                                                     logits=logits)
    y = d.sample((5,))
    torch.testing.assert_close(concrete_log_density(y, logits, tau), d.log_prob(y))


def test_binary_concrete_matches_relaxed_bernoulli():
    logit = torch.randn(1000, dtype=torch.float64)
    u = torch.rand(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    noise = u.log() - (-u).log1p()
    y = binary_concrete(logit, 2 / 3, noise=noise)
    torch.testing.assert_close(y, torch.sigmoid((logit + noise) * 1.5))
    h = binary_concrete(logit, 2 / 3, hard=True, noise=noise)
    assert ((h == 0) | (h == 1)).all()


@pytest.mark.parametrize("tau", [0, -1.0, float("nan"), float("inf")])
def test_bad_tau_is_a_clear_error(tau):
    with pytest.raises(ConfigError, match=r"^tau: must be a finite number > 0"):
        gumbel_softmax(torch.zeros(2, 3), tau)
    with pytest.raises(ConfigError, match=r"^tau:"):
        binary_concrete(torch.zeros(3), tau)


def test_torch_returns_nan_where_we_raise():
    """The pitfall this guards against (pytorch #184031): τ = 0 gives NaN silently."""
    out = torch.nn.functional.gumbel_softmax(torch.zeros(2, 3), tau=0.0)
    assert torch.isnan(out).any()


def test_bad_logits_and_half_overflow_are_clear_errors():
    with pytest.raises(ConfigError, match=r"^logits: contain NaN"):
        gumbel_softmax(torch.tensor([[0.0, float("nan")]]), 1.0)
    with pytest.raises(ConfigError, match=r"^logits: contain NaN or \+inf"):
        gumbel_max(torch.tensor([[0.0, float("inf")]]))
    with pytest.raises(ConfigError, match=r"^logits: a row is all -inf"):
        gumbel_softmax(torch.full((1, 3), -float("inf")), 1.0)
    # -inf for an impossible category is fine
    y = gumbel_softmax(torch.tensor([[0.0, -float("inf"), 1.0]]), 1.0)
    assert torch.isfinite(y).all() and y[0, 1] == 0
    half = torch.tensor([[10.0, 0.0, -3.0]], dtype=torch.float16)
    with pytest.raises(ConfigError, match=r"^tau: \(logits \+ g\)/tau overflows float16"), \
            pytest.warns(UserWarning):
        gumbel_softmax(half, 1e-4)
    ok = gumbel_softmax(half, 0.5)
    assert ok.dtype == torch.float16 and torch.isfinite(ok).all()
    with pytest.warns(UserWarning, match="below 0.05"):
        gumbel_softmax(torch.zeros(1, 3), 0.01)


def test_tau_schedules():
    assert tau_at(500, 1000, "constant", 1.0) == 1.0
    assert tau_at(0, 1000, "exp", 1.0, 0.5) == 1.0
    assert tau_at(600, 1000, "exp", 1.0, 0.5, 0.6, 100) == pytest.approx(0.5)
    assert tau_at(999, 1000, "exp", 1.0, 0.5, 0.6, 100) == 0.5
    assert tau_at(150, 1000, "exp", 1.0, 0.5, 0.6, 100) == tau_at(100, 1000, "exp", 1.0, 0.5,
                                                                   0.6, 100)  # a step function
    assert tau_at(500, 1000, "linear", 4.0, 0.05, 1.0) == pytest.approx(2.025)
    with pytest.raises(ConfigError, match="^schedule:"):
        tau_at(0, 10, "cosine")


def test_estimators_against_enumeration_and_linear_coincidence():
    theta, c = E.problem(10, 0)
    exact = E.exact_gradient(theta, c)
    # the exact gradient by hand: Σ_k π_k f_k (e_k − π)
    pi = torch.softmax(theta, -1)
    f = c * c
    torch.testing.assert_close(exact, pi * (f - (pi * f).sum()))
    g = gumbel_noise((1000, 10), torch.Generator().manual_seed(0), dtype=torch.float64)
    lin = E.estimates(theta, c, g, 0.7, "linear")
    torch.testing.assert_close(lin["gs"], lin["st"], rtol=0, atol=0)
    quad = E.estimates(theta, c, g, 0.7, "quadratic")
    assert (quad["gs"] - quad["st"]).abs().max() > 1e-3
    # the GS estimate equals autograd through the relaxed sample
    th = theta.expand(1000, -1).clone().requires_grad_(True)
    y = gumbel_softmax(th, 0.7, noise=g)
    (auto,) = torch.autograd.grad(E.objective(y, c).sum(), th)
    torch.testing.assert_close(quad["gs"], auto)


def test_batched_equals_single(store):
    """A τ grid trained as one batched model gives each instance's numbers exactly."""
    sw = wb.sweep("gumbel-estimators", grid={"tau": [0.5, 2.0]}, store=store, progress=False,
                  steps=2, samples_per_step=200, log_every=1)
    one = wb.run("gumbel-estimators", store=store, progress=False, steps=2,
                 samples_per_step=200, log_every=1, tau=2.0)
    assert sw.summary.iloc[1]["bias_gs"] == one.summary["bias_gs"]
    vae = dict(steps=3, log_every=3, hidden1=32, hidden2=16)
    sv = wb.sweep("gumbel-vae", grid={"estimator": ["gs", "reinforce"]}, store=store,
                  progress=False, **vae)
    single = wb.run("gumbel-vae", store=store, progress=False, estimator="reinforce", **vae)
    assert sv.summary.iloc[1]["final_test_nelbo"] == single.summary["final_test_nelbo"]


def test_magnitude_mask_is_2_of_4():
    w = torch.randn(16, 8)
    m = magnitude_mask(w)
    groups = m.t().reshape(8, 4, 4)
    assert (groups.sum(-1) == 2).all()
    kept = (w.abs() * m).t().reshape(8, 4, 4).sum(-1)
    best = w.abs().t().reshape(8, 4, 4).topk(2, -1).values.sum(-1)
    torch.testing.assert_close(kept, best)
    assert CANDIDATES.shape == (6, 4) and (CANDIDATES.sum(-1) == 2).all()


def test_configs_reject_bad_values():
    with pytest.raises(ConfigError, match="^tau: must be > 0"):
        wb.make_config("gumbel-estimators", tau=0)
    with pytest.raises(ConfigError, match="^estimator: must be one of"):
        wb.make_config("gumbel-vae", estimator="rebar")
    with pytest.raises(ConfigError, match="^hidden: must be a multiple of 4"):
        wb.make_config("gumbel-masks", hidden=30)


def test_exercises_never_raise():
    import pandas as pd

    from workbench.gumbel.exercises import (check_best_estimator, check_expected_soft_sample,
                                            check_more_bias, expected_soft_sample)

    right = float(expected_soft_sample((0.7, 0.2, 0.1), 1.0)[0])
    assert 0.5 < right < 0.65                          # pulled below π₀ = 0.7
    assert check_expected_soft_sample(right)
    for wrong in (None, "x", float("nan"), 0.7, True):
        res = check_expected_soft_sample(wrong)
        assert not res and res.message.startswith("✗")
    table = pd.DataFrame({"tau": [1.0, 1.0], "estimator": ["gs", "st"], "bias": [0.15, 0.12]})
    assert check_more_bias("gs", table) and not check_more_bias("st", table)
    assert not check_more_bias(None, table) and not check_more_bias("gs", table.iloc[:0])
    summary = pd.DataFrame({"estimator": ["gs", "st", "reinforce"],
                            "final_test_nelbo": [26.0, 26.3, 27.0]})
    assert check_best_estimator("gs", summary) and not check_best_estimator("reinforce", summary)
    assert not check_best_estimator(3, summary)
