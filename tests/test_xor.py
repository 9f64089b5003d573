"""XOR clusters (Xu et al. 2024): GD in the span equals the plain network, the Gram sampler,
and the claims at the quick preset (seeds 0–4)."""

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.grokking import xor as X


def test_span_gd_equals_the_plain_network():
    """The fast path (coefficients on the training points) and the plain ℝ^p network trained
    by the same GD give the same outputs on train and test points at every step."""
    n, n_test, m, p, mu = 30, 20, 10, 60, 4.0
    sample = X.xor_sample(n, n_test, m, p, flip=0.2, seed=5, explicit=True)
    x, omega = X.xor_vectors(sample, mu)
    y = sample.label[:n]
    net = X.XorNet(omega, init_scale=1e-3)
    ip = sample.inner_products(mu)
    gd = X.SpanGD(ip["xx"][None], ip["wx"][None], y[None], torch.tensor([1e-3], dtype=torch.float64),
                  torch.tensor([0.05], dtype=torch.float64))
    for _ in range(40):
        with torch.no_grad():
            torch.testing.assert_close(gd.output(gd.pre())[0], net(x), rtol=1e-9, atol=1e-12)
        X.train_step(net, x[:n], y, lr=0.05)
        gd.step()


def test_inner_products_match_the_explicit_vectors():
    sample = X.xor_sample(12, 8, 6, 40, flip=0.1, seed=1, explicit=True)
    x, omega = X.xor_vectors(sample, 3.0)
    ip = sample.inner_products(3.0)
    torch.testing.assert_close(ip["xx"], x @ x[:12].T)
    torch.testing.assert_close(ip["wx"], omega @ x.T)
    torch.testing.assert_close(ip["xmu"], x[:, :2])                  # ⟨x, μ_c⟩/‖μ‖ = x_c
    torch.testing.assert_close(ip["ww"], (omega ** 2).sum(1))


def test_wishart_gram_has_the_gaussian_moments():
    """Bartlett's Gram of N Gaussian vectors in ℝ^p: E⟨z_i, z_i⟩ = p, Var⟨z_i, z_k⟩ = p."""
    N, p = 300, 5000
    G = X.gaussian_gram(N, p, seed=0).gram
    off = G[~torch.eye(N, dtype=torch.bool)]
    assert float(G.diagonal().mean()) == pytest.approx(p, rel=0.01)
    assert float(off.mean()) == pytest.approx(0.0, abs=0.05 * p ** 0.5)
    assert float(off.var()) == pytest.approx(p, rel=0.03)
    assert torch.linalg.eigvalsh(G).min() > 0                          # positive definite


def test_log_schedule_is_log_spaced():
    steps = X.log_spaced(1000, 4, 1000)
    assert set(range(11)) <= steps and {18, 32, 56, 100, 178, 316, 562, 1000} <= steps
    assert max(steps) == 1000
    cfg = wb.get("xor-grokking").config("quick", steps=50, logs_per_decade=3, log_every=25)
    assert cfg.log_steps() == set(range(11)) | {22, 25, 46, 50}


def test_each_instance_equals_a_solo_run(store, tmp_path):
    E = wb.get("xor-grokking")
    base = E.config("quick", p=3000, n=40, n_test=50, m=20, steps=20)
    configs = [base.replace(mu_norm=5.0, seed=0), base.replace(mu_norm=11.0, seed=1, flip=0.2)]
    sweep = wb.sweep(E, configs, store=store, progress=False)
    cols = ["train_loss", "train_acc", "test_acc", "flipped_fit", "align_pos_mu1", "linearity"]
    for i, cfg in enumerate(configs):
        solo = wb.run(E, cfg, store=tmp_path / f"solo{i}", progress=False)
        np.testing.assert_allclose(sweep[i].metrics[cols].to_numpy(),
                                   solo.metrics[cols].to_numpy(), rtol=1e-9, atol=1e-12)
    s = sweep[0].summary
    for key in ("train_acc_step1", "test_acc_step1", "final_train_acc", "final_test_acc",
                "final_flipped_fit"):
        assert key in s


def test_config_errors():
    with pytest.raises(wb.ConfigError, match="m:"):
        wb.get("xor-grokking").config("quick", m=7)


REGIMES = (0.25, 0.3, 0.45)


@pytest.fixture(scope="module")
def regimes(tmp_path_factory):
    """One batched sweep: ‖μ‖ = p^e for e in REGIMES × seeds 0–4, quick preset (p = 10⁵)."""
    E = wb.get("xor-grokking")
    p = E.config("quick").p
    configs = [E.config("quick", mu_norm=round(p ** e, 2), seed=s) for e in REGIMES
               for s in range(5)]
    sweep = wb.sweep(E, configs, store=tmp_path_factory.mktemp("runs"), progress=False)
    s = sweep.summary.assign(exponent=[e for e in REGIMES for _ in range(5)],
                             seed=[s for _ in REGIMES for s in range(5)])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(s[["exponent", "seed", "train_acc_step1", "test_acc_step1", "flipped_fit_step1",
                 "final_test_acc", "final_flipped_fit", "min_flipped_fit_after_step1"]])
    m = sweep.metrics
    first = m[m.step == 1].set_index("instance")
    last = m[m.step == m.step.max()].set_index("instance")
    s = s.assign(linearity_step1=first.linearity.values, linearity_final=last.linearity.values,
                 **{f"final_{k}": last[k].values for k in ("align_pos_mu1", "align_pos_mu2",
                                                           "align_neg_mu1", "align_neg_mu2")})
    return s


@pytest.mark.slow
def test_claim_step_one_fits_every_label_and_tests_at_chance(regimes):
    s = regimes[regimes.exponent == 0.3]
    assert (s.train_acc_step1 == 1.0).all() and (s.flipped_fit_step1 == 1.0).all()
    assert ((s.test_acc_step1 - 0.5).abs() <= 0.05).all()


@pytest.mark.slow
def test_claim_later_it_generalises_while_the_flips_stay_fitted(regimes):
    s = regimes[regimes.exponent == 0.3]
    assert (s.min_flipped_fit_after_step1 == 1.0).all()
    assert (s.final_test_acc - s.test_acc_step1 >= 0.15).all()


@pytest.mark.slow
def test_claim_the_mu_regimes(regimes):
    """‖μ‖ = p^0.45: step 1 does not fit every label; p^0.25 ends below p^0.3, seed by seed."""
    big, mid, small = (regimes[regimes.exponent == e].set_index("seed") for e in (0.45, 0.3, 0.25))
    assert (big.train_acc_step1 < 1.0).all()
    assert (small.final_test_acc < mid.final_test_acc).all()


def test_xor_exercise_checkers_accept_the_reference_and_reject_wrong_versions():
    import torch.nn.functional as F

    from workbench.grokking.exercises import check_first_step_margin, check_network_gradient

    assert check_network_gradient(X.logistic_gradient)

    def sign(W, a, Xs, y):
        return -X.logistic_gradient(W, a, Xs, y)

    def exp_form(W, a, Xs, y):                       # overflows for large margins
        H = Xs @ W.T
        z = y * (F.relu(H) @ a)
        g = y * torch.exp(-z) / (1 + torch.exp(-z))
        return -((H > 0).double() * a * g[:, None]).T @ Xs / Xs.shape[0]

    def relu_prime_one_at_zero(W, a, Xs, y):
        H = Xs @ W.T
        g = torch.sigmoid(-y * (F.relu(H) @ a)) * y
        return -((H >= 0).double() * a * g[:, None]).T @ Xs / Xs.shape[0]

    def no_mean(W, a, Xs, y):
        return X.logistic_gradient(W, a, Xs, y) * Xs.shape[0]
    for wrong in (sign, exp_form, relu_prime_one_at_zero, no_mean):
        result = check_network_gradient(wrong)
        assert not result and result.message.startswith("✗")

    assert check_first_step_margin(2.0)
    for wrong in (0.5, 8, None, "two", float("nan")):
        assert not check_first_step_margin(wrong)


@pytest.mark.slow
def test_claim_linear_after_one_step_then_xor_features(regimes):
    """‖μ‖ = p^0.3, seeds 0–4: after step 1 the output correlates ≥ 0.95 with its linear part;
    by the end it has dropped by > 0.2, and the a > 0 (a < 0) neurons align more than twice as
    much with μ₁ (μ₂) as with the other cluster."""
    s = regimes[regimes.exponent == 0.3]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(s[["seed", "linearity_step1", "linearity_final", "final_align_pos_mu1",
                 "final_align_pos_mu2", "final_align_neg_mu2", "final_align_neg_mu1"]])
    assert (s.linearity_step1 >= 0.95).all()
    assert (s.linearity_final < s.linearity_step1 - 0.2).all()
    assert (s.final_align_pos_mu1 > 2 * s.final_align_pos_mu2).all()
    assert (s.final_align_neg_mu2 > 2 * s.final_align_neg_mu1).all()


def test_cli_run(tmp_path, capsys):
    import json

    from workbench.cli import main

    assert main(["run", "xor-grokking", "--set", "p=2000", "--set", "n=40", "--set",
                 "n_test=40", "--set", "m=20", "--set", "steps=15", "--out", str(tmp_path),
                 "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"train_acc_step1", "test_acc_step1", "final_train_acc", "final_test_acc",
            "final_flipped_fit"} <= set(summary)
