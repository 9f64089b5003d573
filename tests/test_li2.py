"""Li₂ (Tian 2025): the plain reference equals the batched trainer, the measures, the
boundary fit, and the claim at the quick preset (seeds 0–4)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.grokking import li2 as L
from workbench.grokking.data import split


def _reference_run(cfg, steps):
    """The plain Li2Net + torch.optim.Adam(weight_decay) on the config's split."""
    tokens, labels = L.pairs(cfg.M)
    tr, _ = split(len(labels), cfg.train_frac, cfg.split_seed)
    net = L.Li2Net(cfg.M, cfg.width, cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = [L.train_step(net, opt, tokens[tr], labels[tr], cfg.loss) for _ in range(steps)]
    return net, losses


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_reference_equals_batched_trainer(loss):
    """25 Adam steps of the plain network and of the batched trainer agree to float32
    rounding (Adam's normalised steps amplify rounding on near-zero gradients)."""
    cfg = wb.get("li2").config("quick", M=11, width=16, train_frac=0.5, lr=0.01,
                               weight_decay=1e-3, loss=loss, seed=3)
    net, losses = _reference_run(cfg, 25)
    tr = L.Li2Trainer([cfg], torch.device("cpu"))
    for s in range(25):
        tr.step(s)
    W = tr.model.W.detach()[0].T                      # (K, 2M), as Li2Net.W.weight
    torch.testing.assert_close(W, net.W.weight.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tr.model.V.detach()[0].T, net.V.weight.detach(), rtol=1e-4,
                               atol=1e-5)
    row = tr.log(25)[0]
    with torch.no_grad():
        tokens, labels = L.pairs(cfg.M)
        idx, _ = split(len(labels), cfg.train_frac, cfg.split_seed)
        ref_loss = float(L.li2_loss(net(tokens[idx]), labels[idx], loss).mean())
    assert row["train_loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert losses[-1] < losses[0]


def test_each_instance_equals_a_solo_run(store, tmp_path):
    E = wb.get("li2")
    base = E.config("quick", M=13, width=24, steps=30, log_every=10)
    configs = [base.replace(train_frac=0.3, seed=0), base.replace(train_frac=0.6, seed=1),
               base.replace(train_frac=0.45, seed=2, loss="mse", weight_decay=1e-3)]
    sweep = wb.sweep(E, configs, store=store, progress=False)
    cols = ["train_loss", "test_loss", "train_acc", "test_acc", "fourier_conc", "gf_alignment"]
    for i, cfg in enumerate(configs):
        solo = wb.run(E, cfg, store=tmp_path / f"solo{i}", progress=False)
        np.testing.assert_allclose(sweep[i].metrics[cols].to_numpy(),
                                   solo.metrics[cols].to_numpy(), rtol=1e-4, atol=1e-5)
    record = json.loads((sweep.path / "summary.json").read_text())
    assert len(record["runs"]) == 3 and "boundary" in record


def test_fourier_concentration_and_coverage():
    M, K = 23, 4
    a = torch.arange(M, dtype=torch.float64)
    w = torch.zeros(2, M, K, dtype=torch.float64)
    for j, k in enumerate((1, 3, 3, 7)):                  # nodes tuned to one frequency
        w[0, :, j] = torch.cos(2 * math.pi * k * a / M + j)
        w[1, :, j] = torch.sin(2 * math.pi * k * a / M)
    assert float(L.fourier_concentration(w)) == pytest.approx(1.0, abs=1e-9)
    k, share = L.dominant_frequency(w)
    assert k.tolist() == [1, 3, 3, 7]
    assert float(L.frequency_coverage(w)) == pytest.approx(3 / 11)
    two = torch.zeros(2, M, 1, dtype=torch.float64)
    two[0, :, 0] = torch.cos(2 * math.pi * 2 * a / M) + torch.cos(2 * math.pi * 5 * a / M)
    assert float(L.fourier_concentration(two)) == pytest.approx(0.5, abs=1e-9)
    base = L.random_concentration(M)
    assert 0.1 < base < 0.35


def test_gf_alignment_is_one_for_the_independent_form():
    g = torch.Generator().manual_seed(0)
    M, n, K = 7, 30, 5
    F_ = torch.rand(1, n, K, generator=g)
    y = torch.randint(0, M, (1, n), generator=g)
    mask = torch.ones(1, n, dtype=torch.bool)
    Yt = torch.nn.functional.one_hot(y, M).float() - 1 / M
    G = 3.0 * (Yt @ (Yt.transpose(1, 2) @ F_))
    assert float(L.gf_alignment(G, F_, y, mask, M)) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(L.gf_alignment(torch.randn(1, n, K, generator=g), F_, y, mask, M))) < 0.5


def test_critical_fraction_and_boundary_fit():
    assert L.critical_fraction(113) * 113 ** 2 == pytest.approx(1468, abs=2)  # n ≈ 2.75 M ln M
    rows = []
    for M in (23, 41):
        crit = L.critical_fraction(M)
        for k, acc in ((0.5, 0.0), (1.0, 0.2), (2.0, 0.8), (3.0, 1.0)):
            rows.append(dict(M=M, train_frac=k * crit, final_test_acc=acc))
    fit = L.fit_boundary(pd.DataFrame(rows))
    # crossing at 0.5 between multiples 1 (0.2) and 2 (0.8): log-linear → multiple 2^0.5
    for M in (23, 41):
        assert fit["fitted_fraction"][str(M)] == pytest.approx(2 ** 0.5 * L.critical_fraction(M))
    assert fit["fitted_constant"] == pytest.approx(2 ** 0.5 * L.CRITICAL_CONSTANT)
    none = L.fit_boundary(pd.DataFrame([dict(M=23, train_frac=0.1, final_test_acc=0.0)]))
    assert none["fitted_constant"] is None


def test_config_names_a_bad_train_fraction():
    with pytest.raises(wb.ConfigError, match="train_frac"):
        wb.get("li2").config("quick", M=3, train_frac=0.01)


@pytest.mark.slow
def test_claim_well_above_generalises_well_below_memorises(store):
    """Quick preset, seeds 0–4, M ∈ {23, 31, 41}: at 3× the critical fraction every run ends
    with test accuracy ≥ 0.95; at 0.5× every run memorises (train ≥ 0.99, test ≤ 0.05).
    One sweep per multiple: a batched model pads every instance's training set to the
    largest, so the 0.5× runs, batched apart, cost a sixth (each instance equals its solo
    run, test_each_instance_equals_a_solo_run)."""
    parts = []
    for k in (0.5, 3.0):
        configs, table = L.boundary_configs("quick", multiples=(k,), seeds=range(5))
        sweep = wb.sweep("li2", configs, store=store, progress=False)
        parts.append(sweep.summary.assign(multiple=table["multiple"].values,
                                          M=table["M"].values, seed=table["seed"].values))
    s = pd.concat(parts, ignore_index=True)
    print(s.pivot_table(index=["M", "multiple"], columns="seed", values="final_test_acc"))
    above, below = s[s.multiple == 3.0], s[s.multiple == 0.5]
    assert (above.final_test_acc >= 0.95).all()
    assert (below.final_train_acc >= 0.99).all() and (below.final_test_acc <= 0.05).all()


def test_li2_exercise_checkers_accept_the_reference_and_reject_wrong_versions():
    import torch.nn.functional as F

    from workbench.grokking.exercises import check_backprop_gradient, check_node_concentration

    assert check_node_concentration(L.node_concentration)

    def with_dc(w):                                   # keeps the constant term
        P = (torch.fft.rfft(w, dim=-2).abs() ** 2).sum(-3)
        return P.max(-2).values / P.sum(-2)

    def operand_a_only(w):
        P = (torch.fft.rfft(w[0], dim=-2)[1:].abs() ** 2).T
        return P.max(-1).values / P.sum(-1)

    def float32(w):
        return L.node_concentration(w.float())
    for wrong in (with_dc, operand_a_only, float32, None):
        result = check_node_concentration(wrong)
        assert not result and result.message.startswith("✗")

    assert check_backprop_gradient(L.backprop_gradient)

    def sign(F_, V, y):
        return -L.backprop_gradient(F_, V, y)

    def no_mean(F_, V, y):
        return L.backprop_gradient(F_, V, y) * F_.shape[0]

    def unstable(F_, V, y):
        e = torch.exp(F_ @ V)
        return (F.one_hot(y, V.shape[1]) - e / e.sum(-1, keepdim=True)) @ V.T / F_.shape[0]

    def raises(F_, V, y):
        raise RuntimeError("not yet")
    for wrong in (sign, no_mean, unstable, raises):
        result = check_backprop_gradient(wrong)
        assert not result and result.message.startswith("✗")


def test_cli_run_and_sweep(tmp_path, capsys):
    from workbench.cli import main

    assert main(["run", "li2", "--set", "M=7", "--set", "width=16", "--set", "train_frac=0.5",
                 "--set", "weight_decay=1e-3", "--set", "lr=0.01", "--set", "steps=20",
                 "--set", "seed=1", "--out", str(tmp_path), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"final_test_acc", "final_train_acc", "critical_fraction"} <= set(summary)
    assert main(["sweep", "li2", "--set", "M=7", "--set", "width=16", "--set", "steps=20",
                 "--grid", "train_frac=0.2,0.5,0.8", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "boundary:" in out and "fitted_constant" in out
    path = next(p for p in tmp_path.iterdir() if "-sweep-" in p.name)
    record = json.loads((path / "summary.json").read_text())
    assert len(record["runs"]) == 3 and record["boundary"]["theory_constant"] == 2.7482


@pytest.mark.slow
def test_claim_stages_in_the_measures(store):
    """The notebook's stage claims, seeds 0–4 (one batched model): G_F is structured before
    the training set is memorised, and that before test accuracy 0.9; when G_F is structured
    the Fourier concentration has made < 1/4 of its climb; it ends above 0.6."""
    from workbench.grokking.plots import stage_steps

    configs = [wb.get("li2").config("quick", seed=s, **L.scenario("stages", "quick"))
               for s in range(5)]
    sweep = wb.sweep("li2", configs, store=store, progress=False)
    base = L.random_concentration(configs[0].M)
    for run in sweep.runs:
        m = run.metrics.set_index("step")
        marks = stage_steps(run.metrics)
        g, mem, test = marks["G_F structured"], marks["memorised"], marks["test ≥ 0.9"]
        final = float(m["fourier_conc"].iloc[-1])
        share = (float(m.loc[g, "fourier_conc"]) - base) / (final - base)
        print(run.config["seed"], marks, f"share {share:.3f} final conc {final:.3f}",
              f"final test {run.summary['final_test_acc']:.3f}")
        assert test is not None and g < mem < test
        assert share < 0.25 and final > 0.6
