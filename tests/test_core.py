"""Shared machinery: configs, batched optimisers, the run store, the training loop."""

import threading

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.core import rng
from workbench.core.batched import BatchedAdamW, BatchedSGD, adam_step_, slice_instance
from workbench.core.config import ConfigError
from workbench.core.device import pick_device
from workbench.core.train import StopTraining

TINY = dict(steps=60, log_every=20)


# ------------------------------------------------------------------ configs
def test_config_validation_names_the_field():
    E = wb.get("grokking")
    with pytest.raises(ConfigError, match=r"^lr: must be > 0"):
        E.config("quick", lr=-1)
    with pytest.raises(ConfigError, match=r"^loss: must be one of softmax, stablemax"):
        E.config("quick", loss="hinge")
    with pytest.raises(ConfigError, match=r"^nope: unknown parameter"):
        E.config("quick", nope=3)
    with pytest.raises(ConfigError, match=r"^p: division mod p needs a prime"):
        E.config("quick", operation="div", p=60)
    with pytest.raises(ConfigError, match=r"^steps: expected int"):
        E.config("quick", steps=2.5)
    with pytest.raises(ConfigError, match=r"^preset: must be one of quick, full"):
        E.config("huge")
    cfg = E.config("quick", lr="0.5")           # strings (from the CLI) are parsed
    assert cfg.lr == 0.5 and E.config("full").p == 113


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        pick_device("tpu9")


# ------------------------------------------------------------------ batched helpers
def test_batched_adamw_matches_torch_adamw():
    torch.manual_seed(0)
    hyper = [dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5),
             dict(lr=0.003, betas=(0.8, 0.999), eps=1e-25, weight_decay=0.0)]
    init = torch.randn(2, 4, 3)
    w = torch.nn.Parameter(init.clone())
    opt = BatchedAdamW([w], lr=torch.tensor([h["lr"] for h in hyper]),
                       beta1=torch.tensor([h["betas"][0] for h in hyper]),
                       beta2=torch.tensor([h["betas"][1] for h in hyper]),
                       eps=torch.tensor([h["eps"] for h in hyper]),
                       weight_decay=torch.tensor([h["weight_decay"] for h in hyper]))
    refs = [torch.nn.Parameter(init[i].clone()) for i in range(2)]
    ref_opts = [torch.optim.AdamW([r], **h) for r, h in zip(refs, hyper)]
    for _ in range(25):
        target = torch.randn(4, 3)
        w.grad = 2 * (w.detach() - target)
        opt.step()
        for r, o in zip(refs, ref_opts):
            r.grad = 2 * (r.detach() - target)
            o.step()
    for i in range(2):
        assert torch.allclose(w[i], refs[i], atol=1e-6, rtol=1e-5)


def test_batched_sgd_matches_torch_sgd():
    init = torch.randn(2, 5)
    w = torch.nn.Parameter(init.clone())
    opt = BatchedSGD([w], lr=torch.tensor([0.1, 0.05]), momentum=torch.tensor([0.2, 0.8]),
                     weight_decay=torch.tensor([0.0, 0.1]))
    refs = [torch.nn.Parameter(init[i].clone()) for i in range(2)]
    ref_opts = [torch.optim.SGD([refs[0]], lr=0.1, momentum=0.2),
                torch.optim.SGD([refs[1]], lr=0.05, momentum=0.8, weight_decay=0.1)]
    for _ in range(10):
        w.grad = w.detach() ** 3
        opt.step()
        for r, o in zip(refs, ref_opts):
            r.grad = r.detach() ** 3
            o.step()
    assert torch.allclose(w[0], refs[0], atol=1e-6) and torch.allclose(w[1], refs[1], atol=1e-6)


def test_adam_step_tensor_count_and_batch_size_do_not_change_bits():
    """The step count as a device tensor gives the int count's numbers, and instance i of a
    20-instance AdamW (per-instance betas) equals the same instance trained alone, bit for
    bit."""
    g = torch.Generator().manual_seed(0)
    I = 20
    rand = lambda lo, hi: lo + (hi - lo) * torch.rand(I, generator=g)  # noqa: E731
    hyper = dict(lr=rand(1e-4, 1e-2), beta1=rand(0.5, 1.0), beta2=rand(0.9, 1.0),
                 eps=torch.full((I,), 1e-8), weight_decay=rand(0.0, 1.0))
    w = torch.nn.Parameter(torch.randn(I, 3, 4, generator=g))
    solo = [torch.nn.Parameter(w.detach()[i:i + 1].clone()) for i in range(I)]
    opt = BatchedAdamW([w], **hyper)
    solo_opts = [BatchedAdamW([s], **{k: v[i:i + 1] for k, v in hyper.items()})
                 for i, s in enumerate(solo)]
    p, m, v = w.detach().clone(), torch.zeros_like(w), torch.zeros_like(w)
    shaped = {k: h.view(-1, 1, 1) for k, h in hyper.items()}
    for t in range(1, 60):
        grad = torch.randn(w.shape, generator=g) * (w.detach() - 0.2)
        w.grad = grad
        opt.step()
        for i, (s, o) in enumerate(zip(solo, solo_opts)):
            s.grad = grad[i:i + 1].clone()
            o.step()
        adam_step_(p, grad, m, v, t, **shaped)          # the functional form, an int count
    assert isinstance(opt.state[w]["step"], torch.Tensor) and opt.state[w]["step"].item() == 59
    assert torch.equal(w.detach(), p)
    assert all(torch.equal(w.detach()[i:i + 1], s.detach()) for i, s in enumerate(solo))


def _lowbias32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_rng_uniform_is_the_documented_hash():
    """Pins the stream: element j of instance i is the top 24 bits of
    mix(mix(j ^ key_i) + c) / 2²⁴, key_i = mix(seed_i ^ mix(step·φ + salt·c'))."""
    seeds, step, salt = [0, 7, 2 ** 32 + 3], 123, 5
    u = rng.uniform(torch.tensor(seeds), step, salt, (3, 4))
    for i, seed in enumerate(seeds):
        key = _lowbias32((seed & 0xFFFFFFFF) ^ _lowbias32(
            (step * 0x9E3779B9 + salt * 0x85EBCA6B) & 0xFFFFFFFF))
        for j in range(12):
            x = _lowbias32((_lowbias32(j ^ key) + 0x632BE5AB) & 0xFFFFFFFF)
            assert u[i].flatten()[j].item() == (x >> 8) / 2 ** 24


def test_rng_uniform_is_a_pure_function_of_seed_step_salt_index():
    a = rng.uniform(torch.tensor([3, 7, 11]), step=5, salt=1, shape=(4, 6))
    b = rng.uniform(torch.tensor([7]), step=5, salt=1, shape=(4, 6))
    assert a.shape == (3, 4, 6) and a.dtype == torch.float32
    assert torch.equal(a[1], b[0])                                   # alone = in a batch
    assert not torch.equal(a[0], a[1])
    assert torch.equal(b, rng.uniform(torch.tensor([7]), torch.tensor(5), 1, (4, 6)))
    assert not torch.equal(b, rng.uniform(torch.tensor([7]), 6, 1, (4, 6)))     # step
    assert not torch.equal(b, rng.uniform(torch.tensor([7]), 5, 2, (4, 6)))     # salt
    rows = rng.uniform(torch.tensor([7]), 5, 1, (2, 6), offset=2 * 6)           # chunking
    assert torch.equal(rows, b[:, 2:4])
    per = rng.uniform(torch.tensor([3, 7]), torch.tensor([9, 5]), 1, (4, 6))   # (I,) steps
    assert torch.equal(per[1], b[0])


def test_rng_uniform_statistics():
    u = rng.uniform(torch.arange(4), 17, 3, (250_000,)).double()
    assert 0 <= u.min() and u.max() < 1
    counts = torch.histc(u.flatten(), bins=100, min=0, max=1)
    expected = u.numel() / 100
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 160                                 # 99 dof: P(χ² > 160) < 1e-4
    for x in u:                                       # neighbours and instances uncorrelated
        assert abs(torch.corrcoef(torch.stack([x[:-1], x[1:]]))[0, 1].item()) < 0.01
    assert abs(torch.corrcoef(u[:2])[0, 1].item()) < 0.01


def test_rng_step_salt_pairs_get_distinct_keys():
    """(step, salt) enter the key through step·φ + salt·c' mod 2³², which is injective on
    |Δstep| < 126263, |Δsalt| < 8445 (the docstring's promise): checked exhaustively in
    Δsalt, solving for Δstep."""
    phi, c = 0x9E3779B9, 0x85EBCA6B
    inv = pow(phi, -1, 2 ** 32)
    for d in range(1, 8445):
        ds = (-d * c * inv) % 2 ** 32
        assert min(ds, 2 ** 32 - ds) >= 126263


def test_slice_instance():
    state = {"w": torch.arange(6).view(3, 2), "step": 4, "h": [torch.ones(3)]}
    s = slice_instance(state, 1, 3)
    assert s["w"].tolist() == [[2, 3]] and s["step"] == 4 and s["h"][0].shape == (1,)


# ------------------------------------------------------------------ run store
def test_run_store_cache_hit(store):
    r1 = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    mtime = (r1.path / "summary.json").stat().st_mtime_ns
    r2 = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    assert r1.id == r2.id and (r2.path / "summary.json").stat().st_mtime_ns == mtime
    assert {"config.json", "metrics.csv", "summary.json", "checkpoint.pt"} <= {
        p.name for p in r1.path.iterdir()}
    assert list(r1.metrics["step"]) == [0, 20, 40, 60]
    r3 = wb.run("grokking", preset="quick", store=store, progress=False, seed=1, **TINY)
    assert r3.id != r1.id
    assert set(store.runs()["run_id"]) == {r1.id, r3.id}


def test_same_seed_same_numbers(store, tmp_path):
    a = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    b = wb.run("grokking", preset="quick", store=tmp_path / "other", progress=False, **TINY)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)


def test_stop_then_resume_gives_uninterrupted_metrics(store, tmp_path):
    cfg = wb.make_config("grokking", "quick", steps=120, log_every=10)
    stop = threading.Event()

    def stop_after_some_logs(metrics):
        if metrics["step"].max() >= 50:
            stop.set()

    with pytest.raises(StopTraining):
        wb.run("grokking", cfg, store=store, progress=False, on_log=stop_after_some_logs,
               stop=stop)
    run_id = store.run_id("grokking", cfg)
    assert not store.is_done(run_id) and (store.path(run_id) / "checkpoint.pt").exists()
    resumed = wb.run("grokking", cfg, store=store, progress=False)
    fresh = wb.run("grokking", cfg, store=tmp_path / "fresh", progress=False)
    pd.testing.assert_frame_equal(resumed.metrics, fresh.metrics)
    assert resumed.summary == fresh.summary


def test_load_trainer_restores_the_final_model(store):
    run = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    trainer = wb.load_trainer(run, device="cpu")
    row = trainer.log(60)[0]
    assert row["test_acc"] == pytest.approx(run.metrics.iloc[-1]["test_acc"])
