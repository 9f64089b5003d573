"""Toy of MaskLLM (Fang et al. 2024, arXiv 2409.17481): learned 2:4 sparsity masks against
magnitude pruning.

A small MLP (64 → hidden → 10, ReLU) is trained densely on sklearn digits and frozen. Each
group of 4 consecutive input weights of each output unit keeps 2 of them: a choice among the
6 = C(4, 2) candidate masks, the rows of S ∈ {0,1}^{6×4}. Per group a logit vector π ∈ ℝ⁶ is
learned; training uses the soft mask m = yᵀS with y = GS(κ·π, τ), τ linear 4 → 0.05 and the
logit scale κ linear 1e2 → 5e2 (MaskLLM's training scripts); evaluation uses the argmax mask.
Magnitude pruning keeps the 2 largest |w| of each group. Optional MaskLLM prior: each
candidate's logit starts at ``prior`` × its overlap with the magnitude mask (÷ κ₀).

Instances: one per seed (logit init and Gumbel noise) and prior strength.
"""

from __future__ import annotations

import itertools
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
from . import data as D
from .models import softmax
from .samplers import gumbel_from_uniform

__all__ = ["CANDIDATES", "magnitude_mask", "MaskConfig", "MaskTrainer", "EXPERIMENT"]

CANDIDATES = torch.tensor([[1.0 if i in keep else 0.0 for i in range(4)]
                           for keep in itertools.combinations(range(4), 2)])  # (6, 4)


def groups_of(w: torch.Tensor) -> torch.Tensor:
    """A weight (in, out) as groups of 4 consecutive inputs per output: (out, in/4, 4)."""
    return w.t().reshape(w.shape[1], w.shape[0] // 4, 4)


def ungroup(m: torch.Tensor, n_in: int) -> torch.Tensor:
    """Inverse of :func:`groups_of` for masks with leading axes:
    (..., out, in/4, 4) → (..., in, out)."""
    return m.flatten(-2).transpose(-1, -2)


def magnitude_mask(w: torch.Tensor) -> torch.Tensor:
    """2:4 magnitude pruning: in every group of 4 inputs keep the 2 largest |w|; (in, out)."""
    g = groups_of(w).abs()
    cand = (g.unsqueeze(-2) * CANDIDATES).sum(-1).argmax(-1)      # (out, in/4)
    return ungroup(CANDIDATES[cand], w.shape[0])


@lru_cache(maxsize=4)
def dense_model(data_seed: int, hidden: int, steps: int, lr: float, test_frac: float):
    """The frozen dense MLP: weights (W1, b1, W2, b2) trained full-batch with Adam, and the data."""
    x, y, _ = D.load_images("digits")
    tr, te = D.split(len(x), test_frac, data_seed)
    gen = torch.Generator().manual_seed(data_seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 10))
    for p in net.parameters():
        with torch.no_grad():
            p.uniform_(-1 / p.shape[-1] ** 0.5, 1 / p.shape[-1] ** 0.5, generator=gen)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x[tr]), y[tr]).backward()
        opt.step()
    w1, b1 = net[0].weight.detach().t().contiguous(), net[0].bias.detach()
    w2, b2 = net[2].weight.detach().t().contiguous(), net[2].bias.detach()
    return (w1, b1, w2, b2), (x[tr], y[tr], x[te], y[te])


@dataclass
class MaskConfig(TrainConfig):
    """Defaults: a 64 → 64 → 10 digits MLP; both layers pruned 2:4."""

    hidden: int = field(64, "hidden width of the frozen MLP (multiple of 4)", ge=4)
    dense_steps: int = field(300, "full-batch Adam steps of the dense model", ge=1)
    dense_lr: float = field(0.01, "learning rate of the dense model", gt=0)
    test_frac: float = field(0.2, "held-out share of the digits", gt=0, lt=1)
    data_seed: int = field(0, "seed of the split and of the dense model", ge=0)
    tau0: float = field(4.0, "initial Gumbel-Softmax temperature", gt=0)
    tau1: float = field(0.05, "final temperature", gt=0)
    kappa0: float = field(100.0, "initial logit scale κ", gt=0)
    kappa1: float = field(500.0, "final logit scale κ", gt=0)
    prior: float = field(0.0, "MaskLLM prior: logit bonus per overlap with the magnitude mask",
                         ge=0, batchable=True)
    init_std: float = field(0.01, "std of the random initial mask logits", ge=0)
    lr: float = field(0.005, "Adam learning rate of the mask logits", gt=0, batchable=True)
    steps: int = field(300, "full-batch mask-learning steps", ge=1)
    log_every: int = field(50, "log every this many steps", ge=1)
    seed: int = field(0, "seed of the logit init and the Gumbel noise", ge=0, batchable=True)

    def check(self):
        if self.hidden % 4:
            raise ConfigError(f"hidden: must be a multiple of 4 for 2:4 groups (got {self.hidden})")


class MaskTrainer(BatchedTrainer):
    def __init__(self, configs: list[MaskConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        (w1, b1, w2, b2), (xtr, ytr, xte, yte) = dense_model(
            c0.data_seed, c0.hidden, c0.dense_steps, c0.dense_lr, c0.test_frac)
        self.w = [w1.to(device), w2.to(device)]
        self.b = [b1.to(device), b2.to(device)]
        self.xtr, self.ytr = xtr.to(device), ytr.to(device)
        self.xte, self.yte = xte.to(device), yte.to(device)
        self.S = CANDIDATES.to(device)
        self.mag = [magnitude_mask(w).to(device) for w in self.w]
        self.seed_list = [c.seed for c in configs]
        self.seed_t = torch.tensor(self.seed_list, device=device)
        prior = per_instance([c.prior for c in configs], device=device).view(-1, 1, 1, 1)
        self.logits = []
        for k, w in enumerate(self.w):
            shape = groups_of(w).shape[:2] + (6,)
            noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(
                s * 100 + k)) for s in self.seed_list]).to(device) * c0.init_std
            overlap = (groups_of(self.mag[k]).unsqueeze(-2) * self.S).sum(-1)  # (out, g, 6)
            self.logits.append(torch.nn.Parameter(noise + prior * overlap / c0.kappa0))
        self.opt = BatchedAdamW(self.logits, lr=per_instance([c.lr for c in configs],
                                                              device=device))

    def schedule(self, step: int) -> tuple[float, float]:
        frac = min(1.0, step / max(1, self.c0.steps - 1))
        c = self.c0
        return c.tau0 + (c.tau1 - c.tau0) * frac, c.kappa0 + (c.kappa1 - c.kappa0) * frac

    def forward(self, x, masks):
        """Logits of the MLP with masked weights; masks (I, in, out) per layer → (I, B, 10)."""
        h = x.unsqueeze(0).expand(self.n, -1, -1)
        h = torch.relu(torch.baddbmm(self.b[0], h, self.w[0] * masks[0]))
        return torch.baddbmm(self.b[1], h, self.w[1] * masks[1])

    def soft_masks(self, step: int):
        tau, kappa = self.schedule(step)
        out = []
        for k, lg in enumerate(self.logits):
            g = gumbel_from_uniform(rng.uniform(self.seed_t, step, k, lg.shape[1:]))
            y = softmax((kappa * lg + g) / tau)
            out.append(ungroup(y @ self.S, self.w[k].shape[0]))
        return out

    def hard_masks(self):
        return [ungroup(self.S[lg.argmax(-1)], w.shape[0]) for lg, w in zip(self.logits, self.w)]

    def step(self, step: int) -> None:
        logits = self.forward(self.xtr, self.soft_masks(step))
        loss = F.cross_entropy(logits.flatten(0, 1), self.ytr.repeat(self.n), reduction="none")
        self.opt.zero_grad(set_to_none=True)
        loss.view(self.n, -1).mean(-1).sum().backward()
        self.opt.step()

    @torch.no_grad()
    def _eval(self, masks, x, y):
        logits = self.forward(x, masks)
        ce = F.cross_entropy(logits.flatten(0, 1), y.repeat(self.n), reduction="none")
        acc = (logits.argmax(-1) == y).float().mean(-1)
        return ce.view(self.n, -1).mean(-1), acc

    def log(self, step: int) -> list[dict]:
        cols = {}
        hard = self.hard_masks()
        mag = [m.expand(self.n, -1, -1) for m in self.mag]
        ones = [torch.ones_like(m) for m in mag]
        for name, masks in (("learned", hard), ("magnitude", mag), ("dense", ones)):
            cols[f"{name}_train_loss"], cols[f"{name}_train_acc"] = self._eval(
                masks, self.xtr, self.ytr)
            cols[f"{name}_test_loss"], cols[f"{name}_test_acc"] = self._eval(
                masks, self.xte, self.yte)
        agree = torch.stack([(h == m).float().flatten(1).mean(-1) for h, m in zip(hard, mag)])
        cols["overlap_with_magnitude"] = agree.mean(0)
        table = torch.stack(list(cols.values()), 1).double().cpu().tolist()
        tau, kappa = self.schedule(max(step - 1, 0))
        return [{"tau": tau, "kappa": kappa, **dict(zip(cols, r))} for r in table]

    def state_dict(self) -> dict:
        return {"logits": [p.detach() for p in self.logits], "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for p, v in zip(self.logits, state["logits"]):
                p.copy_(v)
        self.opt.load_state_dict(state["opt"])


def summarize(cfg: MaskConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    out = {"seed": cfg.seed, "prior": cfg.prior}
    for k in ("learned", "magnitude", "dense"):
        for s in ("train_loss", "test_loss", "train_acc", "test_acc"):
            out[f"{k}_{s}"] = float(last[f"{k}_{s}"])
    out["overlap_with_magnitude"] = float(last["overlap_with_magnitude"])
    out["learned_beats_magnitude"] = bool(out["learned_test_loss"] < out["magnitude_test_loss"])
    return out


def headline(rows):
    r = rows[0]
    return {"learned": f"{r['learned_test_loss']:.3f}",
            "magnitude": f"{r['magnitude_test_loss']:.3f}"}


PRESETS = {
    "quick": dict(hidden=64, dense_steps=100, dense_lr=0.03, steps=200, log_every=25),
    "full": dict(hidden=256, dense_steps=1000, steps=3000, log_every=100),
}

def memory(configs: list[MaskConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    rows = 1797  # sklearn digits
    return {"hidden": k * (rows * c.hidden * 4 * 4 + (64 + 10) * c.hidden * 6 * 4 * 4)}


EXPERIMENT = register(Experiment(
    name="gumbel-masks", config_cls=MaskConfig, make_trainer=MaskTrainer, summarize=summarize,
    presets=PRESETS, memory=memory, headline=headline,
    description="MaskLLM toy: learned 2:4 masks (Gumbel-Softmax over the 6 candidates per "
                "group) vs magnitude pruning of a frozen digits MLP."))
