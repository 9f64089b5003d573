"""The plain single-instance reference (``gumbel/reference.py``) computes the same numbers as
the batched fast path the experiments run, for the same seed and noise."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from workbench.gumbel import gumbel_softmax
from workbench.gumbel import reference as ref
from workbench.gumbel.vae import VAEConfig, VAETrainer


def test_sample_equals_the_library_sampler_for_the_same_noise():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 7, generator=gen, dtype=torch.float64)
    y = ref.gumbel_softmax_sample(logits, 0.7, torch.Generator().manual_seed(1))
    u = torch.rand(logits.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(y, gumbel_softmax(logits, 0.7, noise=-torch.log(-torch.log(u))),
                               rtol=0, atol=1e-15)


def test_sample_argmax_is_a_categorical_sample():
    """Gumbel-max inside the relaxed sample: argmax frequencies of 100k samples match
    softmax(logits) (chi-square, p > 1e-4)."""
    logits = torch.tensor([2.0, 0.5, 0.0, -1.0])
    y = ref.gumbel_softmax_sample(logits.expand(100_000, -1), 0.5,
                                  torch.Generator().manual_seed(0))
    counts = torch.bincount(y.argmax(-1), minlength=4).double()
    expected = torch.softmax(logits.double(), -1) * 100_000
    assert stats.chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-4


def test_straight_through_is_one_hot_forward_and_soft_backward():
    y = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), -1)
    y.requires_grad_(True)
    z = ref.straight_through(y)
    assert torch.equal(z.detach(), torch.nn.functional.one_hot(y.argmax(-1), 4).float())
    w = torch.arange(20.0).view(5, 4)
    (z * w).sum().backward()
    assert torch.equal(y.grad, w)


@pytest.mark.parametrize("estimator", ["gs", "st", "reinforce"])
def test_vae_reference_equals_batched_instance(estimator):
    """Digits VAE (hidden 64/32), 15 Adam steps with τ annealed: instance 1 of a batch of
    (seed 4, gs) and (seed 2, ``estimator``) and the plain ``nn.Module`` with seed 2, fed the
    instance's own images and noise, end with the same parameters and REINFORCE baseline.

    In float64, to 1e-12 (measured max |Δθ| ≈ 1e-16: the batched path's written-out softmax
    and baddbmm round differently from torch.log_softmax and nn.Linear). In float32 the two
    agree to ≈ 1e-6."""
    steps = 15
    kw = dict(data="digits", hidden1=64, hidden2=32, lr=3e-3, steps=steps, anneal_every=5)
    cfgs = [VAEConfig(**kw, seed=4, estimator="gs"), VAEConfig(**kw, seed=2,
                                                               estimator=estimator)]
    tr = VAETrainer(cfgs, torch.device("cpu"))
    tr.encoder.double()
    tr.decoder.double()
    tr.train_x, tr.test_x = tr.train_x.double(), tr.test_x.double()
    tr.baseline = tr.baseline.double()
    tr.tau_t = tr.tau_t.double()          # τ as the reference gets it (not rounded to float32)
    model = ref.CategoricalVAE(tr.D, tr.L, tr.K, 64, 32, seed=2).double()
    # the trainer keeps lr a float32 tensor (solo = batched): the reference gets that value
    opt = torch.optim.Adam(model.parameters(), lr=float(torch.tensor(3e-3)))
    for step in range(steps):
        x, g = tr.batch(step)
        ref.train_step(model, opt, x[1], g[1].double(), tr.tau_at(step), estimator)
        tr.step(step)
    close = dict(rtol=0, atol=1e-12)
    for lin, w, b in zip(model.encoder[::2], tr.encoder.weights, tr.encoder.biases):
        torch.testing.assert_close(lin.weight.detach().T, w[1].detach(), **close)
        torch.testing.assert_close(lin.bias.detach(), b[1, 0].detach(), **close)
    for lin, w in zip(model.decoder[::2], tr.decoder.weights):
        torch.testing.assert_close(lin.weight.detach().T, w[1].detach(), **close)
    assert float(model.baseline) == pytest.approx(float(tr.baseline[1]), rel=1e-12)
