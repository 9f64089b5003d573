"""The plain single-instance reference (``neural_collapse/reference.py``) computes the same
numbers as the batched fast path the experiments run, for the same seed."""

from __future__ import annotations

import pytest
import torch

from workbench.neural_collapse import reference as ref
from workbench.neural_collapse.experiment import NCConfig, NCTrainer
from workbench.neural_collapse.metrics import nc_metrics


def test_nc1_matches_the_streamed_metric():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(40)[torch.randperm(200, generator=gen)]
    H = torch.randn(200, 8, generator=gen, dtype=torch.float64) + 3 * torch.randn(
        5, 8, generator=gen, dtype=torch.float64)[y]
    W = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    assert ref.nc1(H, y) == pytest.approx(nc_metrics(H, y, W)["nc1"], rel=1e-10)


def _f32(value: float, factor: float = 1.0) -> float:
    """A hyperparameter as the batched optimiser holds it: a float32 tensor (times a factor,
    in float32)."""
    return float(torch.tensor(value, dtype=torch.float32) * factor)


def _reference_mlp(cfg: NCConfig, trainer: NCTrainer, steps: int) -> ref.MLP:
    x, y = trainer.train_x, trainer.train_y
    model = ref.MLP(x.shape[1], trainer.C, cfg.width, cfg.depth, cfg.feature_dim,
                    cfg.batchnorm, cfg.seed).to(x.dtype)
    opt = torch.optim.SGD(model.parameters(), lr=_f32(cfg.lr), momentum=_f32(cfg.momentum),
                          weight_decay=_f32(cfg.weight_decay))
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _f32(cfg.lr, ref.lr_factor(step, cfg.steps, cfg.lr_drops))
        idx = ref.minibatch(cfg.seed, step, len(y), cfg.batch_size)
        ref.train_step(model, opt, x[idx], y[idx])
    return model


@pytest.mark.parametrize("batchnorm", [True, False])
def test_mlp_reference_equals_batched_instance(batchnorm):
    """Digits MLP, 30 minibatch steps (two epochs and both lr drops): instance 1 of a batch
    of two (seeds 3 and 1) and the plain ``nn.Module`` with seed 1 end with the same
    parameters, BatchNorm statistics and logged NC metrics.

    Compared in float64, with the hyperparameters rounded to float32 as the batched optimiser
    holds them: to 1e-14 (measured max |Δθ| ≈ 1e-16). Not in float32: torch's CPU ``BatchNorm1d`` backward sums
    in a different order from its forward (pytorch#57796) and, single-threaded, its γ gradient
    on these digits is off by ≈ 1 % from the float64 value (the batched path's by 3e-7), so
    float32 runs drift apart by ≈ 1e-3 within 30 steps."""
    steps = 30
    cfgs = [NCConfig(data="digits", steps=steps, seed=s, batchnorm=batchnorm) for s in (3, 1)]
    tr = NCTrainer(cfgs, torch.device("cpu"))
    tr.model.double()
    tr.train_x, tr.test_x = tr.train_x.double(), tr.test_x.double()
    for step in range(steps):
        tr.step(step)
    row = tr.log(steps)[1]
    model = _reference_mlp(cfgs[1], tr, steps)

    P = tr.model.params
    close = dict(rtol=0, atol=1e-14)
    for k, lin in enumerate(model.linears):
        torch.testing.assert_close(lin.weight.detach().T, P[f"w{k}"][1].detach(), **close)
        torch.testing.assert_close(lin.bias.detach(), P[f"b{k}"][1].detach(), **close)
        if batchnorm:
            torch.testing.assert_close(model.norms[k].weight.detach(),
                                       P[f"gamma{k}"][1].detach(), **close)
            torch.testing.assert_close(model.norms[k].running_mean,
                                       getattr(tr.model, f"run_mean{k}")[1, 0], **close)
            torch.testing.assert_close(model.norms[k].running_var,
                                       getattr(tr.model, f"run_var{k}")[1, 0], **close)
    torch.testing.assert_close(model.classifier.weight.detach(), P["W"][1].detach(), **close)

    model.eval()
    with torch.no_grad():
        H = model.features(tr.train_x)
    ours = nc_metrics(H, tr.train_y, model.classifier.weight, n_classes=10)
    assert ours["nc1"] == pytest.approx(ref.nc1(H, tr.train_y), rel=1e-9)
    for key in ("nc1", "equiangular_std", "equinorm_means", "nc3", "nc4"):
        assert ours[key] == pytest.approx(row[key], rel=1e-10, abs=1e-14), key
    assert ours["accuracy"] == row["train_acc"]


def test_ufm_reference_equals_batched_instance():
    """UFM (C = 10 × 20 samples, d = 16), 200 full-batch SGD steps with weight decay: the same
    H, W, b and NC1 as instance 0 of a batched run of two weight decays, in float32, to float32
    rounding (measured max |Δθ| 4e-7, NC1 3e-7 relative; not bit for bit: bmm vs matmul)."""
    steps = 200
    cfgs = [NCConfig(data="ufm", n_per_class=20, width=16, lr=0.1, weight_decay=wd,
                     lr_drops=False, batch_size=0, steps=steps) for wd in (5e-3, 0.0)]
    tr = NCTrainer(cfgs, torch.device("cpu"))
    for step in range(steps):
        tr.step(step)
    row = tr.log(steps)[0]
    y = tr.train_y
    model = ref.UFM(len(y), 16, 10, init=0.1, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=_f32(0.1), momentum=_f32(0.9),
                          weight_decay=_f32(5e-3))
    for _ in range(steps):
        ref.ufm_train_step(model, opt, y)
    P = tr.model.params
    for name in ("H", "W", "b"):
        torch.testing.assert_close(getattr(model, name).detach(), P[name][0].detach(),
                                   rtol=0, atol=2e-6)
    assert ref.nc1(model.H.detach(), y) == pytest.approx(row["nc1"], rel=1e-5)
