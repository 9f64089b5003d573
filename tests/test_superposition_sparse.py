"""The sparse superposition data and fused loss (``superposition/sparse.py``) against the dense
definition (``data.sparse_features``, ``models.forward`` / ``loss_grads``).

Tolerances, fixed before the runs:
- statistics (200,000 samples per generator): every feature's firing count within 5
  binomial standard deviations of N·p_i (and exactly N where p_i = 1); the mean and variance of
  the number of active features within 5 standard errors of Σp and Σp(1 − p); the values'
  Kolmogorov–Smirnov distance to U(0, 2) below 1.95/√N_active (the 0.1 % critical value);
  co-firing of the two most frequent tail features within 5 s.d. of N·p_a·p_b;
- the expected loss of a fixed random model: sparse and dense Monte-Carlo means within 4
  combined standard errors, for three frequency laws;
- fused loss and gradients on the same x: equal to float32 rounding (rtol 1e-5 / 1e-4).
"""

from __future__ import annotations

import math

import pytest
import torch

from workbench.superposition import data as D
from workbench.superposition.models import forward, loss_grads, reconstruction_loss
from workbench.superposition.sparse import (TRUNCATION, SparseSampler, sparse_loss,
                                            sparse_loss_grads, to_dense)

N_SAMPLES = 200_000
N = 200


def _laws():
    return {"power α=1": D.feature_probs(N, "power", 1.0, 1.0),
            "power α=2": D.feature_probs(N, "power", 2.0, 1.0),       # p_1 ≈ 0.61: a head
            "exponential": D.feature_probs(N, "exponential", 1.0, 1.0, tau=0.04),
            "p_1 = 1": D.feature_probs(N, "power", 1.0, float(sum(1 / i for i in
                                                                  range(1, N + 1))))}


def _sparse_x(p: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    s = SparseSampler(p.view(1, -1))
    u = torch.rand(1, samples, s.width, generator=torch.Generator().manual_seed(seed))
    idx, val = s.slots(u)
    return to_dense(idx[0], val[0], p.numel())


def _dense_x(p: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    r = torch.rand(samples, p.numel(), generator=torch.Generator().manual_seed(seed))
    return D.sparse_features(r, p.float())


@pytest.mark.parametrize("law", list(_laws()))
def test_sparse_sampler_statistics_match_the_dense_definition(law):
    p = _laws()[law]
    for make in (_sparse_x, _dense_x):          # the same checks hold for the definition
        x = make(p, N_SAMPLES, seed=1)
        on = x > 0
        count = on.sum(0).double()
        expect = N_SAMPLES * p
        sd = (N_SAMPLES * p * (1 - p)).sqrt()
        sure = p >= 1
        assert torch.equal(count[sure], expect[sure]), make.__name__
        z = ((count - expect) / sd)[~sure & (sd > 0)]
        assert z.abs().max() < 5, (make.__name__, float(z.abs().max()))
        k = on.sum(1).double()                 # active features per sample
        mean, var = float(p.sum()), float((p * (1 - p)).sum())
        assert abs(k.mean() - mean) < 5 * math.sqrt(var / N_SAMPLES), make.__name__
        m4 = float((p * (1 - p) * (1 - 3 * p + 3 * p * p)).sum()) + 3 * var * var  # central 4th
        assert abs(k.var() - var) < 5 * math.sqrt((m4 - var * var) / N_SAMPLES), make.__name__
        vals = torch.sort(x[on].double()).values / 2.0          # U(0, 1) if x ~ U(0, 2)
        n_on = vals.numel()
        grid = torch.arange(1, n_on + 1, dtype=torch.float64) / n_on
        ks = float(torch.maximum(grid - vals, vals - (grid - 1 / n_on)).max())
        assert ks < 1.95 / math.sqrt(n_on), (make.__name__, ks)
        a, b = [i for i in range(N) if p[i] < 1][:2]            # co-firing: independence
        both = float((on[:, a] & on[:, b]).sum())
        pab = float(p[a] * p[b])
        assert abs(both - N_SAMPLES * pab) < 5 * math.sqrt(N_SAMPLES * pab * (1 - pab)) + 1


def test_truncation_is_below_the_stated_probability():
    for p in _laws().values():
        s = SparseSampler(p.view(1, -1))
        lam = float(s.hazard[0, -1])
        tail = 1 - sum(math.exp(-lam) * lam ** k / math.factorial(k) for k in range(s.K + 1))
        assert tail < TRUNCATION and s.width < N / 4
    assert SparseSampler(_laws()["power α=2"].view(1, -1)).H == 1   # p_1 ≈ 0.61 is a head
    assert SparseSampler(_laws()["power α=1"].view(1, -1)).H == 0


@pytest.mark.parametrize("law", ["power α=1", "power α=2", "exponential"])
def test_expected_loss_is_the_same_under_sparse_and_dense_data(law):
    p = _laws()[law]
    g = torch.Generator().manual_seed(3)
    m = 10
    W = torch.randn(1, N, m, generator=g) / m ** 0.5
    b = torch.randn(1, N, generator=g) * 0.1
    means, ses = [], []
    for make in (_sparse_x, _dense_x):
        x = make(p, 100_000, seed=7).unsqueeze(0)
        per = ((forward(W, b, x) - x) ** 2).sum(-1)[0]           # per-sample loss
        means.append(float(per.mean()))
        ses.append(float(per.std()) / math.sqrt(per.numel()))
    assert abs(means[0] - means[1]) < 4 * math.hypot(*ses), (means, ses)


def test_fused_loss_and_gradients_equal_the_dense_ones():
    g = torch.Generator().manual_seed(0)
    I, n, m, B = 3, 50, 6, 64
    p = torch.stack([D.feature_probs(n, "power", a, 2.0) for a in (0.5, 1.0, 2.0)])
    s = SparseSampler(p)
    idx, val = s.slots(torch.rand(1, B, s.width, generator=g))
    assert idx.shape == (I, B, s.H + s.K) and (val == 0).any() and (val > 0).any()
    x = to_dense(idx, val, n)
    W = torch.randn(I, n, m, generator=g) / m ** 0.5
    b = torch.randn(I, n, generator=g)
    torch.testing.assert_close(sparse_loss(W, b, idx, val),
                               reconstruction_loss(forward(W, b, x), x), rtol=1e-5, atol=1e-6)
    gW, gb = sparse_loss_grads(W, b, idx, val)
    rW, rb = loss_grads(W, b, x)
    torch.testing.assert_close(gW, rW, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gb, rb, rtol=1e-4, atol=1e-6)
    # and both are the gradient of the loss
    Wr, br = W.clone().requires_grad_(), b.clone().requires_grad_()
    reconstruction_loss(forward(Wr, br, x), x).sum().backward()
    torch.testing.assert_close(gW, Wr.grad, rtol=1e-4, atol=1e-6)


def test_bad_uniform_shape_names_the_argument():
    s = SparseSampler(D.feature_probs(N).view(1, -1))
    with pytest.raises(ValueError, match=r"^u: expected shape"):
        s.slots(torch.rand(1, 4, s.width + 1))


def _trainer_metrics(configs):
    import pandas as pd
    from workbench.core.train import train_loop
    from workbench.superposition.experiment import SuperpositionTrainer
    tr = SuperpositionTrainer(configs, torch.device("cpu"))
    rows = train_loop(tr, steps=configs[0].steps, log_every=configs[0].log_every, progress=False)
    return pd.DataFrame(rows).select_dtypes(include="number")


def test_sparse_trainer_instances_equal_their_solo_runs():
    """The sparse path keeps the trainer's contract: one data stream per seed, drawn for all
    seeds at once, so a config trains the same alone or in a batch (to float tolerance)."""
    import workbench as wb
    E = wb.get("superposition")
    assert E.config("full").sampler == "sparse" and E.config("quick").sampler == "dense"
    base = E.config("quick", n=60, m=(4, 6), batch_size=64, steps=30, warmup=3, seeds=2,
                    eval_size=256, log_every=10, sampler="sparse")
    configs = [base.replace(gamma=-1.0, alpha=1.0), base.replace(gamma=0.5, alpha=1.5, seed=3)]
    batched = _trainer_metrics(configs)
    for i, c in enumerate(configs):
        solo = _trainer_metrics([c])
        mine = batched[batched["instance"] == i].drop(columns="instance").reset_index(drop=True)
        torch.testing.assert_close(torch.tensor(mine.to_numpy()),
                                   torch.tensor(solo.drop(columns="instance").to_numpy()),
                                   rtol=1e-5, atol=1e-6)
    first, last = batched[batched["step"] == 0], batched[batched["step"] == 30]
    assert (last["loss_m6"].to_numpy() < first["loss_m6"].to_numpy()).all()   # it trained
