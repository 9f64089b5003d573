"""The ``toy-models`` experiment (Elhage et al. 2022, "Toy Models of Superposition").

n features x_i = U(0, 1) with probability ``feature_density`` (1 − S, S the sparsity) and 0
otherwise; h = Wᵀx with W of shape (n, m) (row W_i = feature i, as in the Liu et al. model);
x′ = ReLU(W h + b) (``relu=True``) or W h + b (the linear model); loss Σ_i I_i (x_i − x′_i)²
with importance I_i = importance_decay^(i−1). The linear model keeps the m most important
features (PCA-like); the ReLU model packs more features into m dimensions as the density
falls (superposition), first as antipodal pairs. Every config of a sweep (density,
importance, seed, relu) trains as one batched model; xavier-normal W, zero bias, AdamW.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ..core.batched import BatchedAdamW, per_instance, slice_instance
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core import rng
from . import data as D
from .metrics import dimensions_per_feature, feature_dimensionality, interference
from .models import forward, reconstruction_loss

__all__ = ["ToyConfig", "ToyTrainer", "EXPERIMENT", "toy_weights"]


@dataclass
class ToyConfig(TrainConfig):
    """Defaults: the paper's intro model (5 features → 2 dimensions, importance 0.9^i)."""

    n: int = field(5, "number of features", ge=2)
    m: int = field(2, "hidden dimensions", ge=1)
    feature_density: float = field(0.1, "probability a feature is active (1 − sparsity S)",
                                   gt=0, le=1, batchable=True)
    importance_decay: float = field(0.9, "importance I_i = decay^(i−1)", gt=0, le=1,
                                    batchable=True)
    relu: bool = field(True, "ReLU output (True) or the linear model (False)", batchable=True)
    batch_size: int = field(1024, "fresh samples per step", ge=1)
    steps: int = field(10000, "optimisation steps (constant learning rate)", ge=1)
    lr: float = field(1e-3, "AdamW learning rate", gt=0, batchable=True)
    weight_decay: float = field(0.01, "AdamW decoupled weight decay (torch default, as in "
                                "the paper's notebook)", ge=0, batchable=True)
    seed: int = field(0, "seed of the init and the data stream", ge=0, batchable=True)
    log_every: int = field(500, "log metrics every this many steps", ge=1)

    def check(self):
        if self.m > self.n:
            raise ConfigError(f"m: must be ≤ n={self.n} (got {self.m})")


class ToyTrainer:
    """C configs as one batched model: W (C, n, m), b (C, n)."""

    def __init__(self, configs: list[ToyConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.C, self.device, self.c0 = configs, len(configs), device, c0
        W = torch.zeros(self.C, c0.n, c0.m)
        for i, c in enumerate(configs):
            g = rng.generator(c.seed, 2)
            W[i] = torch.randn(c0.n, c0.m, generator=g) * (2.0 / (c0.n + c0.m)) ** 0.5
        self.W = torch.nn.Parameter(W.to(device))
        self.b = torch.nn.Parameter(torch.zeros(self.C, c0.n, device=device))
        idx = torch.arange(c0.n, dtype=torch.float64)
        self.importance = torch.stack([c.importance_decay ** idx
                                       for c in configs]).float().to(device)
        self.density = per_instance([c.feature_density for c in configs], device=device)
        self.relu_mask = per_instance([float(c.relu) for c in configs], device=device)
        self.opt = BatchedAdamW([self.W, self.b], lr=per_instance([c.lr for c in configs],
                                                                  device=device),
                                weight_decay=per_instance([c.weight_decay for c in configs],
                                                          device=device))
        self.data_seeds = sorted({c.seed for c in configs})
        self.data_idx = torch.tensor([self.data_seeds.index(c.seed) for c in configs],
                                     device=device)
        self.seed_t = torch.tensor(self.data_seeds, device=device)

    def _batch(self, step: int, salt: int, size: int):
        """x (C, size, n) for ``step`` (salt 1: training, 3: evaluation), one stream per
        data seed (:func:`rng.uniform`)."""
        r = rng.uniform(self.seed_t, step, salt, (size, self.c0.n))
        return D.sparse_features(r[self.data_idx], self.density.view(-1, 1, 1), scale=1.0)

    def _out(self, x):
        lin = forward(self.W, self.b, x, relu=False)
        k = self.relu_mask.view(-1, 1, 1)
        return k * torch.relu(lin) + (1 - k) * lin

    def step(self, step: int) -> None:
        x = self._batch(step, 1, self.c0.batch_size)
        self.opt.zero_grad(set_to_none=True)
        reconstruction_loss(self._out(x), x, self.importance).sum().backward()
        self.opt.step()

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        x = self._batch(step, 3, 4096)
        W = self.W.detach()
        cols = {"loss": reconstruction_loss(self._out(x), x, self.importance),
                "dstar": dimensions_per_feature(W),
                "represented": (W.norm(dim=-1) > 0.5).float().sum(-1)}
        norms, dims, interf = W.norm(dim=-1), feature_dimensionality(W), interference(W)
        for i in range(self.c0.n if self.c0.n <= 64 else 0):
            cols[f"norm_{i}"], cols[f"dim_{i}"], cols[f"interference_{i}"] = (
                norms[:, i], dims[:, i], interf[:, i])
        table = torch.stack([v.double() for v in cols.values()], 1).cpu().tolist()
        return [dict(zip(cols, row)) for row in table]

    def state_dict(self) -> dict:
        return {"W": self.W.detach().clone(), "b": self.b.detach().clone(),
                "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.W.copy_(state["W"])
            self.b.copy_(state["b"])
        self.opt.load_state_dict(state["opt"])

    def instance_state(self, i: int) -> dict:
        st = self.state_dict()
        return slice_instance(st, i, self.C)


def summarize(cfg: ToyConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    out = {"final_loss": float(last["loss"]), "dstar": float(last["dstar"]),
           "represented": int(last["represented"]), "steps": cfg.steps}
    if "dim_0" in metrics:
        out["dims"] = [float(last[f"dim_{i}"]) for i in range(cfg.n)]
        out["norms"] = [float(last[f"norm_{i}"]) for i in range(cfg.n)]
    return out


def toy_weights(run, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (n, m), b (n,)) of a finished ``toy-models`` run."""
    st = run.checkpoint()["trainer"]
    return st["W"][0], st["b"][0]


def headline(rows):
    return {"loss": f"{sum(r['loss'] for r in rows) / len(rows):.4f}"}


PRESETS = {
    "quick": dict(steps=3000, log_every=500),
    "full": dict(steps=10000, log_every=500),
}

def memory(configs: list[ToyConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    return {"n": k * c.n * c.m * 4 * 4, "batch_size": k * c.batch_size * (c.n * 4 + c.m) * 4}


EXPERIMENT = register(Experiment(
    name="toy-models", config_cls=ToyConfig, make_trainer=ToyTrainer, summarize=summarize,
    presets=PRESETS, memory=memory, headline=headline,
    description="Elhage et al. 2022 toy models: n sparse features in m < n dimensions, linear "
                "vs ReLU output, superposition as the features get sparser."))
