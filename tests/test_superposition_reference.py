"""The plain single-model references (superposition/reference.py) compute what the batched
fast paths compute: same seed → the same initial weights and data (bit for bit), and after k
steps the same weights and losses to 1e-4 relative (float32; the fast path uses hand-written
gradients and its own Adam, so the last bits differ)."""

import pytest
import torch

import workbench as wb
from workbench.superposition import reference as R
from workbench.superposition.experiment import SuperpositionTrainer
from workbench.superposition.toy import ToyTrainer


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("gamma", [-1.0, 0.5])
def test_liu_reference_trains_like_the_batched_model(gamma):
    cfg = wb.make_config("superposition", "quick", n=60, m=(6,), seeds=1, seed=4, alpha=1.2,
                         gamma=gamma, batch_size=128, steps=40, warmup=8, eval_size=256,
                         log_every=40)
    fast = SuperpositionTrainer([cfg], torch.device("cpu"))
    model = R.LiuModel(cfg.n, 6, seed=cfg.seed)
    g = fast.groups[0]
    assert torch.equal(g["W"][0, 0], model.W.detach()) and torch.equal(g["b"][0, 0], model.b.detach())
    opt = torch.optim.Adam(model.parameters(), betas=(0.9, 0.999), eps=1e-8)
    p = cfg.probs().float()
    for s in range(cfg.steps):
        x = R.sample(cfg.seed, s, cfg.batch_size, p)
        R.train_step(model, opt, x, R.lr_at(s, cfg.steps, cfg.warmup, cfg.lr), cfg.gamma)
        fast.step(s)
    assert _rel(g["W"][0, 0], model.W.detach()) < 1e-4
    assert _rel(g["b"][0, 0], model.b.detach()) < 1e-4
    # the logged evaluation loss: fresh samples of (seed, step, salt 3), in batches
    xs = []
    for start in range(0, cfg.eval_size, cfg.batch_size):
        xs.append(R.sample(cfg.seed, cfg.steps, min(cfg.batch_size, cfg.eval_size - start), p,
                           salt=3, row=start))
    x = torch.cat(xs)
    with torch.no_grad():
        ref = ((model(x) - x) ** 2).sum(-1).mean().item()
    assert fast.log(cfg.steps)[0]["loss_m6_s0"] == pytest.approx(ref, rel=1e-4)


def test_row_norm_rule_pulls_rows_to_one_or_decays_them():
    W = torch.tensor([[3.0, 4.0], [0.3, 0.4]])          # norms 5 and 0.5
    strong = W.clone()
    R.row_norm_decay_(strong, lr=0.1, gamma=-1.0)
    assert strong.norm(dim=1).tolist() == pytest.approx([4.6, 0.55])   # both toward 1
    weak = W.clone()
    R.row_norm_decay_(weak, lr=0.1, gamma=0.5)
    assert torch.allclose(weak, 0.95 * W)


def test_elhage_reference_trains_like_the_batched_model():
    exp = wb.get("toy-models")
    configs = [exp.config("quick", n=12, m=3, relu=relu, feature_density=0.2,
                          importance_decay=0.8, seed=5, batch_size=64, steps=30)
               for relu in (True, False)]
    fast = ToyTrainer(configs, torch.device("cpu"))
    models = [R.ElhageModel(c.n, c.m, relu=c.relu, seed=c.seed) for c in configs]
    for i, model in enumerate(models):
        assert torch.equal(fast.W[i].detach(), model.W.detach())
    for s in range(configs[0].steps):
        fast.step(s)
    for i, (cfg, model) in enumerate(zip(configs, models)):
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        importance = (cfg.importance_decay ** torch.arange(cfg.n, dtype=torch.float64)).float()
        for s in range(cfg.steps):
            x = R.sample(cfg.seed, s, cfg.batch_size, torch.full((cfg.n,), cfg.feature_density),
                         scale=1.0)
            R.elhage_step(model, opt, x, importance)
        assert _rel(fast.W[i].detach(), model.W.detach()) < 1e-4
        assert _rel(fast.b[i].detach(), model.b.detach()) < 1e-4
