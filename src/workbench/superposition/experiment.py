"""The ``superposition`` experiment (Liu, Liu & Gore 2025): loss vs width m of the toy model
y = ReLU(W Wᵀ x + b), weak vs strong superposition, and the fitted exponent α_m.

One run covers a whole loss-vs-m curve: ``m`` is a list of widths and ``seeds`` the number
of seeds (seed, seed+1, …), so ``summary.json`` holds α_m with its spread over seeds and
φ½, φ₁ per width. A sweep over the batchable keys (γ, α, density, freq_shape, lr, seed)
trains every config as one batched model. Widths cannot share a tensor unless padded: by
default all instances of one width share one launch sequence per step (the fastest on a
CPU); ``pad_m=True`` zero-pads every width to max(m) and trains all of them in ONE sequence
(zero columns stay exactly zero: their gradient vanishes and the decay keeps them at 0),
which is what a GPU wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..core.batched import adam_step_, per_instance, slice_instance
from ..core.capture import tf32_field, tf32_matmuls
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core import rng
from . import data as D
from .metrics import dimensions_per_feature, exponent_over_seeds, overlap_stats, phi
from .models import forward, loss_grads, lr_factor, reconstruction_loss, row_norm_decay_
from .sparse import SparseSampler, sparse_loss, sparse_loss_grads

__all__ = ["SuperpositionConfig", "SuperpositionTrainer", "summarize", "EXPERIMENT",
           "final_losses", "weights"]


@dataclass
class SuperpositionConfig(TrainConfig):
    """Defaults: the paper's small sweep (n = 1000, m ∈ {10 … 100}, batch 2048, 20k steps,
    lr 1e-2 with 2k warm-up steps and cosine to 5 %)."""

    n: int = field(1000, "number of features", ge=2)
    m: tuple[int, ...] = field((10, 15, 25, 39, 63, 100), "widths (a list: 10,15,25)", ge=1)
    # α ≤ 2, the range Liu et al. study: beyond it the rare features hardly occur in the
    # evaluation batches, and the fitted α_m stops measuring how the loss scales
    alpha: float = field(1.0, "power-law exponent of feature frequency p_i ∝ i^-α (0 to 2, "
                         "the paper's range)", ge=0, le=2, batchable=True)
    gamma: float = field(-1.0, "decay on W: γ<0 row norms → 1 (strong), γ≥0 weight decay "
                         "(weak)", batchable=True)
    density: float = field(1.0, "expected number of active features E = Σ p_i", gt=0,
                           batchable=True)
    freq_shape: str = field("power", "feature-frequency law", choices=D.SHAPES, batchable=True)
    tau: float = field(0.04, "exponential shape: p_i ∝ exp(-i/(τ n))", gt=0, batchable=True)
    batch_size: int = field(2048, "fresh samples per step", ge=1)
    steps: int = field(20000, "optimisation steps", ge=1)
    lr: float = field(0.01, "peak learning rate (Adam)", gt=0, batchable=True)
    warmup: int = field(2000, "linear warm-up steps, then cosine to 5 %", ge=0)
    seed: int = field(0, "first seed (init and data)", ge=0, batchable=True)
    seeds: int = field(3, "seeds per width: seed, seed+1, …", ge=1)
    eval_size: int = field(8192, "fresh samples for the evaluation loss at each log", ge=1)
    log_every: int = field(1000, "log metrics every this many steps", ge=1)
    pad_m: bool = field(False, "pad all widths to max(m) and train them in one launch sequence")
    sampler: str = field("dense", "dense: one uniform per feature (the definition); sparse: "
                         "only the active features, the same distribution (fast at large n)",
                         choices=("dense", "sparse"))
    tf32: bool = tf32_field()

    def check(self):
        if max(self.m) >= self.n:
            raise ConfigError(f"m: every width must be < n={self.n} (got {max(self.m)})")
        if len(set(self.m)) != len(self.m):
            raise ConfigError(f"m: widths must be distinct (got {list(self.m)})")
        if self.warmup >= self.steps:
            raise ConfigError(f"warmup: must be < steps={self.steps} (got {self.warmup})")

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + s for s in range(self.seeds)]

    def probs(self) -> torch.Tensor:
        return D.feature_probs(self.n, self.freq_shape, self.alpha, self.density, self.tau)


class SuperpositionTrainer:
    """C configs (same n, m list, seeds, steps …) × len(m) widths × seeds toy models.

    Parameters are kept per width group as W (C, G, n, w), b (C, G, n), where G runs over
    (width, seed) with seed fastest; the config axis leads, so slicing instance i is
    :func:`slice_instance` on dim 0.
    """

    def __init__(self, configs: list[SuperpositionConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.C, self.device, self.c0 = configs, len(configs), device, c0
        self.ms, S = list(c0.m), c0.seeds
        self.S = S
        widths = [list(self.ms)] if c0.pad_m else [[m] for m in self.ms]
        probs = torch.stack([c.probs() for c in configs])                      # (C, n)
        self.p = probs.float().to(device)
        self.sampler = SparseSampler(probs, device=device) if c0.sampler == "sparse" else None
        self.lr = per_instance([c.lr for c in configs], device=device)
        self.gamma = per_instance([c.gamma for c in configs], device=device)
        # one data stream per distinct seed; instance (c, s) reads stream idx[c, s]
        self.data_seeds = sorted({sd for c in configs for sd in c.seed_list})
        pos = {sd: k for k, sd in enumerate(self.data_seeds)}
        self.data_idx = torch.tensor([[pos[sd] for sd in c.seed_list] for c in configs],
                                     device=device)
        self.seed_t = torch.tensor(self.data_seeds, device=device)
        self.shared_seeds = all(c.seed_list == self.data_seeds for c in configs)
        self.groups = []
        for ws in widths:
            wmax = max(ws)
            W = torch.zeros(self.C, len(ws) * S, c0.n, wmax)
            b = torch.zeros(self.C, len(ws) * S, c0.n)
            for ci, c in enumerate(configs):
                for k, w in enumerate(ws):
                    for s, sd in enumerate(c.seed_list):
                        g = rng.generator(sd, 2, w)
                        W[ci, k * S + s, :, :w] = torch.randn(c0.n, w, generator=g) / w ** 0.5
                        b[ci, k * S + s] = torch.randn(c0.n, generator=g)
            W, b = W.to(device), b.to(device)
            self.groups.append(dict(widths=ws, W=W, b=b, mW=torch.zeros_like(W),
                                    vW=torch.zeros_like(W), mb=torch.zeros_like(b),
                                    vb=torch.zeros_like(b)))
        self.t = torch.zeros((), device=device)   # Adam's step count, on the device

    # ------------------------------------------------------------------ data
    def _batch(self, step: int, salt: int, size: int, row: int = 0) -> torch.Tensor:
        """x of shape (C, S, size, n): rows ``row … row+size`` of the samples of ``step``
        (salt 1: training, 3: evaluation), one stream per data seed (:func:`rng.uniform`)."""
        n = self.c0.n
        r = rng.uniform(self.seed_t, step, salt, (size, n), offset=row * n)
        if self.shared_seeds:  # every config reads the same streams: broadcast, no copy
            return D.sparse_features(r.unsqueeze(0), self.p.view(self.C, 1, 1, -1))
        return D.sparse_features(r[self.data_idx], self.p.view(self.C, 1, 1, -1))

    def _slots(self, step: int, salt: int, size: int, row: int = 0):
        """The same samples as :meth:`_batch` would draw in distribution, as slots (index,
        value), each (C, S, size, H + K) (``sparse.py``): one :func:`rng.uniform` call for
        all data seeds, H + 2K uniforms per sample instead of n."""
        w = self.sampler.width
        u = rng.uniform(self.seed_t, step, salt, (size, w), offset=row * w)
        return self.sampler.slots(u.unsqueeze(0) if self.shared_seeds else u[self.data_idx])

    def _data(self, step: int, salt: int, size: int, row: int = 0):
        return self._batch(step, salt, size, row) if self.sampler is None else \
            self._slots(step, salt, size, row)

    def _grads(self, g, data):
        """(∂W, ∂b) of width group ``g`` on ``data`` (dense x, or slots)."""
        nw, W, b = len(g["widths"]), g["W"], g["b"]
        if self.sampler is None:
            return loss_grads(W, b, self._expand(data, nw))
        idx, val = (self._expand(t, nw).flatten(0, 1) for t in data)
        gW, gb = sparse_loss_grads(W.flatten(0, 1), b.flatten(0, 1), idx, val)
        return gW.view_as(W), gb.view_as(b)

    def _loss(self, g, data):
        """Reconstruction loss (C, G) of width group ``g`` on ``data``."""
        nw, W, b = len(g["widths"]), g["W"], g["b"]
        if self.sampler is None:
            xx = self._expand(data, nw)
            return reconstruction_loss(forward(W, b, xx), xx)
        idx, val = (self._expand(t, nw).flatten(0, 1) for t in data)
        return sparse_loss(W.flatten(0, 1), b.flatten(0, 1), idx, val).view(W.shape[:2])

    @staticmethod
    def _expand(x, nw):
        """x (C, S, B, k) → (C, nw·S, B, k), width-major like G."""
        if nw == 1:
            return x
        C, S, B, n = x.shape
        return x.unsqueeze(1).expand(C, nw, S, B, n).reshape(C, nw * S, B, n)

    def step(self, step: int) -> None:
        c0 = self.c0
        self.t += 1
        lr = self.lr.view(-1, 1, 1, 1) * lr_factor(step, c0.steps, c0.warmup)
        gamma = self.gamma.view(-1, 1, 1, 1)
        data = self._data(step, 1, c0.batch_size)
        for g in self.groups:
            W, b = g["W"], g["b"]
            with tf32_matmuls(c0.tf32):
                gW, gb = self._grads(g, data)
            row_norm_decay_(W, lr, gamma)
            adam_step_(W, gW, g["mW"], g["vW"], self.t, lr)
            adam_step_(b, gb, g["mb"], g["vb"], self.t, lr.squeeze(-1))

    # ------------------------------------------------------------------ logging
    @torch.no_grad()
    def measure(self, step: int) -> dict[str, torch.Tensor]:
        """Per (config, width, seed): eval loss on fresh samples, φ½, φ₁, overlap mean and
        variance, D*. Tensors of shape (C, len(m), S)."""
        c0, K, S = self.c0, len(self.ms), self.S
        out = {k: torch.zeros(self.C, K, S, dtype=torch.float64, device=self.device)
               for k in ("loss", "phi_half", "phi_one", "overlap", "overlap_var", "dstar")}
        done = 0
        while done < c0.eval_size:
            size = min(c0.batch_size, c0.eval_size - done)
            data = self._data(step, 3, size, row=done)
            k0 = 0
            for g in self.groups:
                nw = len(g["widths"])
                L = self._loss(g, data)
                out["loss"][:, k0:k0 + nw] += (L.double() * size).view(self.C, nw, S)
                k0 += nw
            done += size
        out["loss"] /= c0.eval_size
        k0 = 0
        for g in self.groups:
            nw, W = len(g["widths"]), g["W"]
            view = lambda t: t.double().view(self.C, nw, S)  # noqa: E731
            out["phi_half"][:, k0:k0 + nw] = view(phi(W, 0.5))
            out["phi_one"][:, k0:k0 + nw] = view(phi(W, 1.0))
            mean, var = overlap_stats(W)
            out["overlap"][:, k0:k0 + nw], out["overlap_var"][:, k0:k0 + nw] = view(mean), view(var)
            # D* = m/‖W‖²_F with each instance's own width
            w = torch.tensor(g["widths"], device=W.device, dtype=torch.float64)
            dstar = view(dimensions_per_feature(W)) / max(g["widths"]) * w.view(1, nw, 1)
            out["dstar"][:, k0:k0 + nw] = dstar
            k0 += nw
        return out

    def log(self, step: int) -> list[dict]:
        meas = {k: v.cpu().numpy() for k, v in self.measure(step).items()}
        rows = []
        for ci in range(self.C):
            row = {}
            for k, m in enumerate(self.ms):
                for s in range(self.S):
                    row[f"loss_m{m}_s{s}"] = meas["loss"][ci, k, s]
                for key in meas:
                    row[f"{key}_m{m}"] = float(meas[key][ci, k].mean())
            a, sd, _ = exponent_over_seeds(self.ms, meas["loss"][ci].T)
            row["loss_exponent"], row["loss_exponent_std"] = a, sd
            row["lr"] = self.configs[ci].lr * lr_factor(min(step, self.c0.steps - 1),
                                                        self.c0.steps, self.c0.warmup)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"t": self.t.clone(), "groups": [dict(g) for g in self.groups]}

    def load_state_dict(self, state: dict) -> None:
        self.t = torch.as_tensor(state["t"], dtype=torch.float32).to(self.device)
        for g, saved in zip(self.groups, state["groups"]):
            for k, v in saved.items():
                if isinstance(v, torch.Tensor):
                    g[k] = v.to(self.device).clone()

    def instance_state(self, i: int) -> dict:
        st = self.state_dict()
        return {"t": st["t"], "groups": [slice_instance(g, i, self.C) for g in st["groups"]]}

    # ------------------------------------------------------------------ analysis
    def weights(self, i: int = 0) -> dict[int, torch.Tensor]:
        """Width → W of config ``i``, shape (seeds, n, m) (padding removed)."""
        out = {}
        for g in self.groups:
            for k, w in enumerate(g["widths"]):
                out[w] = g["W"][i, k * self.S:(k + 1) * self.S, :, :w].detach().cpu()
        return out


def final_losses(cfg: SuperpositionConfig, metrics: pd.DataFrame) -> np.ndarray:
    """Final evaluation losses of a run, shape (seeds, len(m))."""
    last = metrics.iloc[-1]
    return np.array([[last[f"loss_m{m}_s{s}"] for m in cfg.m] for s in range(cfg.seeds)])


def summarize(cfg: SuperpositionConfig, metrics: pd.DataFrame) -> dict:
    """α_m (mean ± std over seeds of the per-seed least-squares exponent on the final
    evaluation losses) and per-width loss, φ½, φ₁ and mean squared overlap."""
    last = metrics.iloc[-1]
    a, sd, per = exponent_over_seeds(cfg.m, final_losses(cfg, metrics))
    per_m = lambda key: {str(m): float(last[f"{key}_m{m}"]) for m in cfg.m}  # noqa: E731
    return {"loss_exponent": a, "loss_exponent_std": sd, "loss_exponent_per_seed": per,
            "seeds": cfg.seeds, "m": list(cfg.m), "loss": per_m("loss"),
            "phi_half": per_m("phi_half"), "phi_one": per_m("phi_one"),
            "overlap": per_m("overlap"), "overlap_var": per_m("overlap_var"),
            "dstar": per_m("dstar"), "regime": "strong" if cfg.gamma < 0 else "weak",
            "steps": cfg.steps}


def headline(rows: list[dict]) -> dict:
    return {"α_m": " ".join(f"{r['loss_exponent']:.2f}" for r in rows[:6])}


def weights(run, device: str | None = None) -> dict[int, torch.Tensor]:
    """Width → W (seeds, n, m) of a finished run, read from its checkpoint."""
    from ..core.experiment import load_trainer
    return load_trainer(run, device).weights(0)


PRESETS = {
    "quick": dict(n=200, m=(4, 6, 9, 14, 20), batch_size=256, steps=2000, warmup=200,
                  seeds=2, eval_size=4096, log_every=250),
    "full": dict(sampler="sparse"),
}


def memory(configs: list[SuperpositionConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c = configs[0]
    models = len(configs) * len(c.m) * c.seeds
    width = max(c.m) if c.pad_m else sum(c.m) / len(c.m)
    return {"n": models * c.n * width * 4 * 4,  # W, its gradient and Adam's two moments
            "batch_size": models * c.batch_size * (c.n * 4 + width) * 4,
            "eval_size": models * c.eval_size * (c.n * 3 + width) * 4}


EXPERIMENT = register(Experiment(
    name="superposition", config_cls=SuperpositionConfig, make_trainer=SuperpositionTrainer,
    summarize=summarize, presets=PRESETS, memory=memory, headline=headline,
    description="Toy model y = ReLU(WWᵀx+b): loss vs width m under weak (γ ≥ 0) and strong "
                "(γ < 0) superposition, fitted exponent α_m (Liu, Liu & Gore 2025)."))
