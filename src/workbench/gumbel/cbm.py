"""Toy of Sparse-CBM (Semenov et al. 2024, arXiv 2404.03323): a concept bottleneck trained
with the "Gumbel loss" against an L1 penalty and no penalty.

Synthetic concept scores s ∈ ℝ^{B×K} (K concepts, C classes; each class raises the scores of
``informative`` concepts of its own by ``signal``, all scores get N(0, noise²)) go through a
square bias-free bottleneck c = sA and a bias-free head logits = cW. The Gumbel loss (the
authors' repo) is L_G = ½[−mean_{b,k} log GS_τ(c; over the batch)_{bk} −
mean_{b,k} log GS_τ(c; over the concepts)_{bk}] with τ = 1, soft; L1 is mean |c|.

What to measure (reference sheet, pitfalls): Σ_k −log y_k on a simplex is smallest at the
uniform y, so L_G acts like a noisy entropy term rather than a sparsifier — the toy reports
the Hoyer sparsity of c, H(c) = (√K − ‖c‖₁/‖c‖₂)/(√K − 1) (Hoyer 2004; 1 = one-hot, 0 = flat),
and the share of |c| in its top-3 concepts, and does not assume either.

Instances: penalty (none / l1 / gumbel), its weight λ and the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import torch
import torch.nn.functional as F

from ..core.batched import BatchedAdamW, per_instance
from ..core import rng
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from .models import log_softmax
from .samplers import gumbel_from_uniform

__all__ = ["CBMConfig", "CBMTrainer", "hoyer", "gumbel_loss", "EXPERIMENT", "PENALTIES"]

PENALTIES = ("none", "l1", "gumbel")


def hoyer(c: torch.Tensor) -> torch.Tensor:
    """Hoyer sparsity along the last axis: (√K − ‖c‖₁/‖c‖₂)/(√K − 1), in [0, 1]."""
    k = c.shape[-1]
    ratio = c.abs().sum(-1) / c.norm(dim=-1).clamp_min(1e-12)
    return (math.sqrt(k) - ratio) / (math.sqrt(k) - 1)


def gumbel_loss(c: torch.Tensor, g_batch: torch.Tensor, g_concept: torch.Tensor,
                tau: float = 1.0) -> torch.Tensor:
    """Sparse-CBM's L_G for activations c (..., B, K) and Gumbel noise of the same shape:
    ½[−mean log softmax_B((c + g₁)/τ) − mean log softmax_K((c + g₂)/τ)], per leading index."""
    over_batch = log_softmax(((c + g_batch) / tau).transpose(-1, -2))
    over_concepts = log_softmax((c + g_concept) / tau)
    return -0.5 * (over_batch.mean((-1, -2)) + over_concepts.mean((-1, -2)))


@lru_cache(maxsize=4)
def make_data(concepts: int, classes: int, informative: int, samples: int, signal: float,
              noise: float, seed: int):
    if classes * informative > concepts:
        raise ConfigError(f"informative: classes × informative must be <= concepts={concepts}")
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (samples,), generator=g)
    mu = torch.zeros(classes, concepts)
    for k in range(classes):
        mu[k, k * informative:(k + 1) * informative] = signal
    s = mu[y] + noise * torch.randn(samples, concepts, generator=g)
    n_test = samples // 5
    return s[n_test:], y[n_test:], s[:n_test], y[:n_test]


@dataclass
class CBMConfig(TrainConfig):
    concepts: int = field(20, "concepts K (bottleneck width)", ge=2)
    classes: int = field(4, "classes C", ge=2)
    informative: int = field(2, "informative concepts per class", ge=1)
    samples: int = field(2000, "synthetic samples (a fifth held out)", ge=50)
    signal: float = field(2.0, "score shift of a class's informative concepts", ge=0)
    noise: float = field(1.0, "score noise std", ge=0)
    data_seed: int = field(0, "seed of the synthetic data", ge=0)
    penalty: str = field("gumbel", "sparsity penalty", choices=PENALTIES, batchable=True)
    lam: float = field(0.1, "penalty weight λ", ge=0, batchable=True)
    tau: float = field(1.0, "Gumbel-Softmax temperature of L_G", gt=0)
    lr: float = field(0.01, "Adam learning rate", gt=0, batchable=True)
    batch: int = field(128, "samples per step", ge=2)
    steps: int = field(400, "steps", ge=1)
    log_every: int = field(50, "log every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation, batches and noise", ge=0, batchable=True)

    def check(self):
        if self.classes * self.informative > self.concepts:
            raise ConfigError(f"informative: classes × informative must be <= concepts="
                              f"{self.concepts} (got {self.classes} × {self.informative})")


class CBMTrainer(BatchedTrainer):
    def __init__(self, configs: list[CBMConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        xtr, ytr, xte, yte = make_data(c0.concepts, c0.classes, c0.informative, c0.samples,
                                       c0.signal, c0.noise, c0.data_seed)
        self.xtr, self.ytr, self.xte, self.yte = (t.to(device) for t in (xtr, ytr, xte, yte))
        K, C = c0.concepts, c0.classes
        self.seed_list = [c.seed for c in configs]
        self.seed_t = torch.tensor(self.seed_list, device=device)
        A, W = [], []
        for s in self.seed_list:
            g = torch.Generator().manual_seed(s)
            A.append(torch.empty(K, K).uniform_(-K ** -0.5, K ** -0.5, generator=g))
            W.append(torch.empty(K, C).uniform_(-K ** -0.5, K ** -0.5, generator=g))
        self.A = torch.nn.Parameter(torch.stack(A).to(device))
        self.W = torch.nn.Parameter(torch.stack(W).to(device))
        lam = per_instance([c.lam for c in configs], device=device)
        self.w_l1 = lam * per_instance([c.penalty == "l1" for c in configs], device=device)
        self.w_g = lam * per_instance([c.penalty == "gumbel" for c in configs], device=device)
        self.opt = BatchedAdamW([self.A, self.W], lr=per_instance([c.lr for c in configs],
                                                                  device=device))

    def forward(self, x):
        c = torch.bmm(x, self.A)
        return c, torch.bmm(c, self.W)

    def step(self, step: int) -> None:
        c0 = self.c0
        B, K = c0.batch, c0.concepts
        idx = (self.rand(step, 1, (B,)) * len(self.ytr)).long().clamp_max(len(self.ytr) - 1)
        x, y = self.xtr[idx], self.ytr[idx]                          # (I, B, K), (I, B)
        c, logits = self.forward(x)
        ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        loss = ce.view(self.n, B).mean(-1) + self.w_l1 * c.abs().mean((-1, -2))
        g1 = gumbel_from_uniform(self.rand(step, 2, (B, K)))
        g2 = gumbel_from_uniform(self.rand(step, 3, (B, K)))
        loss = loss + self.w_g * gumbel_loss(c, g1, g2, c0.tau)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()

    def rand(self, step, salt, shape):
        return rng.uniform(self.seed_t, step, salt, shape)

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        x = self.xte.unsqueeze(0).expand(self.n, -1, -1)
        c, logits = self.forward(x)
        acc = (logits.argmax(-1) == self.yte).float().mean(-1)
        mag = c.abs()
        top3 = mag.topk(3, -1).values.sum(-1) / mag.sum(-1).clamp_min(1e-12)
        cols = {"test_acc": acc, "hoyer": hoyer(c).mean(-1), "top3_mass": top3.mean(-1),
                "mean_abs_c": mag.mean((-1, -2))}
        table = torch.stack(list(cols.values()), 1).double().cpu().tolist()
        return [{"penalty": cfg.penalty, **dict(zip(cols, r))}
                for cfg, r in zip(self.configs, table)]

    def state_dict(self) -> dict:
        return {"A": self.A.detach(), "W": self.W.detach(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.A.copy_(state["A"])
            self.W.copy_(state["W"])
        self.opt.load_state_dict(state["opt"])


def summarize(cfg: CBMConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    return {"penalty": cfg.penalty, "lam": cfg.lam, "seed": cfg.seed,
            **{k: float(last[k]) for k in ("test_acc", "hoyer", "top3_mass", "mean_abs_c")}}


PRESETS = {
    "quick": dict(steps=400, log_every=50),
    "full": dict(concepts=100, classes=10, informative=5, samples=20000, steps=5000,
                 log_every=250),
}

def memory(configs: list[CBMConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    return {"samples": c.samples * (c.concepts + 2) * 4 * 3,
            "batch": k * c.batch * (c.concepts * 6 + c.classes * 3) * 4,
            "concepts": k * c.concepts * c.classes * 4 * 4}


EXPERIMENT = register(Experiment(
    name="gumbel-cbm", config_cls=CBMConfig, make_trainer=CBMTrainer, summarize=summarize,
    presets=PRESETS, memory=memory, headline=lambda rows: {"acc": f"{rows[0]['test_acc']:.3f}"},
    description="Sparse-CBM toy: concept bottleneck with the Gumbel loss vs L1 vs none; "
                "accuracy and Hoyer sparsity of the concept activations."))
