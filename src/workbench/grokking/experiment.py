"""The ``grokking`` experiment: config, batched trainer, summary, presets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pandas as pd
import torch

from ..core.batched import per_instance
from ..core.capture import StepGraph, capture_field, tf32_field
from ..core.config import ConfigError, TrainConfig, field
from ..core.device import dtype_of
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from . import data as D
from .losses import per_sample_loss
from .metrics import (accuracy, classify_run, dominant_frequencies, excluded_loss,
                      fourier_concentration, key_frequency_power, logit_frequency_power,
                      nlm_cosine, progress_phases, restricted_loss, softmax_collapse_fraction,
                      sum_frequency_basis, zero_loss_fraction)
from .models import build_model
from .optim import OPTIMIZERS, make_optimizer

__all__ = ["GrokkingConfig", "GrokkingTrainer", "summarize", "EXPERIMENT", "logit_table",
           "final_key_frequencies", "progress_run"]

FLOATS = ("float16", "bfloat16", "float32", "float64")


@dataclass
class GrokkingConfig(TrainConfig):
    """Defaults: the MLP reference configuration of Prieto et al. 2025 (p = 113, train 0.4,
    226→200→200→113 without biases, full batch, AdamW β = (0.9, 0.99), eps 1e-25, lr 0.01)."""

    p: int = field(113, "modulus (number of residues and of output classes)", ge=2,
                   widget=dict(options=(23, 31, 41, 59, 67, 97, 113)))
    operation: str = field("add", "a op b mod p, or sparse parity",
                           choices=D.OPERATIONS + ("parity",))
    parity_k: int = field(3, "parity: relevant bits", ge=1)
    parity_noise: int = field(40, "parity: noise bits", ge=0)
    parity_samples: int = field(2000, "parity: number of bit strings", ge=4)
    train_frac: float = field(0.4, "share of the table used for training", gt=0, lt=1,
                              batchable=True, widget=dict(slider=(0.05, 0.95, 0.05)))
    model: str = field("mlp", "bias-free ReLU MLP or 1-layer transformer",
                       choices=("mlp", "transformer"))
    width: int = field(200, "MLP hidden width / transformer d_model", ge=1)
    depth: int = field(2, "MLP hidden layers", ge=1)
    heads: int = field(4, "transformer attention heads", ge=1)
    d_ff: int = field(2048, "transformer feed-forward width", ge=1)
    dropout: float = field(0.1, "transformer dropout", ge=0, lt=1)
    loss: str = field("softmax", "softmax or StableMax cross-entropy",
                      choices=("softmax", "stablemax"), batchable=True)
    loss_dtype: str = field("float32", "precision the loss (and its softmax) is computed in",
                            choices=FLOATS, batchable=True)
    dtype: str = field("float32", "model precision", choices=("float32", "float64"))
    optimizer: str = field("adamw", "adamw, sgd, or their ⊥Grad versions",
                           choices=OPTIMIZERS, batchable=True)
    lr: float = field(0.01, "learning rate", gt=0, batchable=True)
    weight_decay: float = field(0.0, "decoupled weight decay (AdamW) / L2 (SGD)", ge=0,
                                batchable=True, widget=dict(log=(1e-3, 10), zero=True))
    beta1: float = field(0.9, "Adam β1", ge=0, lt=1, batchable=True)
    beta2: float = field(0.99, "Adam β2", ge=0, lt=1, batchable=True)
    eps: float = field(1e-25, "Adam ε (tiny, so that the collapse is visible)", ge=0,
                       batchable=True)
    momentum: float = field(0.2, "SGD momentum", ge=0, lt=1, batchable=True)
    steps: int = field(3000, "full-batch optimisation steps", ge=1)
    log_every: int = field(50, "log metrics every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation (and of the split if data_seed is unset)",
                      ge=0, batchable=True)
    data_seed: Optional[int] = field(None, "seed of the train/test split (None: use seed)",
                                     ge=0, batchable=True)
    key_freqs: Optional[tuple[int, ...]] = field(
        None, "add/sub: key frequencies k for Nanda's progress measures (restricted and "
        "excluded loss, key-frequency power), logged when set (e.g. 14,35,41)", ge=1,
        batchable=True)
    capture: bool = capture_field()
    tf32: bool = tf32_field()

    def check(self):
        if self.tf32 and (self.loss_dtype != "float32" or self.dtype != "float32"):
            raise ConfigError("tf32: refused where precision is the subject: only with "
                              f"dtype=float32 and loss_dtype=float32 (got dtype={self.dtype}, "
                              f"loss_dtype={self.loss_dtype})")
        if self.operation == "div" and not D.is_prime(self.p):
            raise ConfigError(f"p: division mod p needs a prime p (got {self.p})")
        if self.model == "transformer" and self.width % self.heads:
            raise ConfigError(f"width: must be divisible by heads={self.heads} (got {self.width})")
        if self.model == "transformer" and self.operation == "parity":
            raise ConfigError("operation: parity is only set up for model=mlp")
        if self.operation == "parity" and self.parity_samples * self.train_frac < 1:
            raise ConfigError("train_frac: leaves no training samples")
        if self.key_freqs is not None:
            if self.operation not in ("add", "sub"):
                raise ConfigError(f"key_freqs: progress measures are defined for add and sub "
                                  f"(got operation={self.operation})")
            bad = [k for k in self.key_freqs if not 1 <= k < self.p / 2]
            if bad:
                raise ConfigError(f"key_freqs: every frequency must be in 1..{(self.p - 1) // 2} "
                                  f"(got {bad[0]})")

    def group_key(self) -> str:
        # ⊥AdamW and AdamW (⊥SGD and SGD) share a batch, masked per instance
        key = json.loads(super().group_key())
        key["optimizer_family"] = self.optimizer.replace("perp_", "")
        return json.dumps(key, sort_keys=True)

    @property
    def split_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed


def make_dataset(cfg: GrokkingConfig) -> D.Dataset:
    if cfg.operation == "parity":
        return D.sparse_parity(cfg.parity_k, cfg.parity_noise, cfg.parity_samples, cfg.split_seed)
    return D.modular_arithmetic(cfg.p, cfg.operation)


def _padded(parts: list[tuple[torch.Tensor, torch.Tensor]], device):
    """Stack per-instance (tokens, labels) of different lengths: zero padding, and weights
    1/n_i on real rows and 0 on padding, so weighted sums are per-instance means."""
    n = max(len(y) for _, y in parts)
    L = parts[0][0].shape[1]
    x = torch.zeros(len(parts), n, L, dtype=torch.int64)
    y = torch.zeros(len(parts), n, dtype=torch.int64)
    w = torch.zeros(len(parts), n, dtype=torch.float64)   # exact 1/n_i; cast to the loss dtype
    for i, (xi, yi) in enumerate(parts):
        x[i, : len(yi)], y[i, : len(yi)], w[i, : len(yi)] = xi, yi, 1.0 / len(yi)
    return x.to(device), y.to(device), w.to(device)


class GrokkingTrainer(BatchedTrainer):
    """Trains I configs that share every non-batchable field as one batched model."""

    def __init__(self, configs: list[GrokkingConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device = configs, len(configs), device
        train, test, cache = [], [], {}
        for c in configs:
            key = (c.operation, c.split_seed if c.operation == "parity" else None)
            ds = cache.get(key) or cache.setdefault(key, make_dataset(c))
            tr, te = D.split(len(ds), c.train_frac, c.split_seed)
            train.append((ds.tokens[tr], ds.labels[tr]))
            test.append((ds.tokens[te], ds.labels[te]))
        self.modular = c0.operation != "parity"
        self.train_x, self.train_y, self.train_w = _padded(train, device)
        self.test_x, self.test_y, self.test_w = _padded(test, device)
        self.model = build_model(c0.model, [c.seed for c in configs], ds.tokens.shape[1],
                                 ds.vocab, ds.n_classes, c0.width, c0.depth, c0.heads, c0.d_ff,
                                 c0.dropout, dtype_of(c0.dtype)).to(device)
        # float64 (where the device has it): a float64 model gets its hyperparameters exactly;
        # they are cast to the parameter dtype at use, so a float32 model sees float32 values
        hdt = torch.float32 if device.type == "mps" else torch.float64
        hyper = {k: per_instance([getattr(c, k) for c in configs], device=device, dtype=hdt)
                 for k in ("lr", "weight_decay", "beta1", "beta2", "eps", "momentum")}
        self.opt = make_optimizer(list(self.model.parameters()), [c.optimizer for c in configs],
                                  **hyper)
        # instances grouped by (loss, loss dtype): one loss kernel per group
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(configs):
            groups.setdefault((c.loss, c.loss_dtype), []).append(i)
        self.loss_groups = [(kind, dtype_of(dt),
                             None if len(idx) == self.n else torch.tensor(idx, device=device))
                            for (kind, dt), idx in groups.items()]
        # the transformer's dropout masks read the step count from this device tensor
        self.step_t = torch.zeros((), dtype=torch.int64, device=device)
        self.model.step_counter = self.step_t
        self._step = StepGraph(self._update, device, c0.capture, tf32=c0.tf32)
        self._setup_progress(configs, ds)

    def _setup_progress(self, configs, ds):
        """Nanda's progress measures need the whole p × p table and, per instance, a basis of
        its key directions (zero rows pad shorter key lists) and its training rows."""
        self.progress = [c.key_freqs for c in configs]
        if all(k is None for k in self.progress):
            self.progress = None
            return
        c0 = configs[0]
        sign = 1 if c0.operation == "add" else -1
        width = 2 * max(len(k or ()) for k in self.progress)
        basis = torch.zeros(self.n, width, c0.p * c0.p, dtype=torch.float64)
        train = torch.zeros(self.n, c0.p * c0.p, dtype=torch.float64)
        for i, c in enumerate(configs):
            if c.key_freqs:
                u = sum_frequency_basis(c.p, c.key_freqs, sign)
                basis[i, : len(u)] = u
            tr, _ = D.split(len(ds), c.train_frac, c.split_seed)
            train[i, tr] = 1.0 / len(tr)
        self.table_x = ds.tokens.to(self.device).expand(self.n, -1, -1)
        self.table_y = ds.labels.to(self.device)
        self.basis, self.train_rows = basis.to(self.device), train.to(self.device)
        self.keys = torch.tensor([list(k or ()) + [0] * (width // 2 - len(k or ()))
                                  for k in self.progress], device=self.device)
        self.has_keys = torch.tensor([k is not None for k in self.progress], device=self.device)

    # ------------------------------------------------------------------ training
    def _per_sample(self, logits, y):
        """[(instance index or None, per-sample loss, loss dtype)] for each loss group."""
        out = []
        for kind, dt, idx in self.loss_groups:
            z, t = (logits, y) if idx is None else (logits[idx], y[idx])
            out.append((idx, per_sample_loss(kind, z, t, dt), dt))
        return out

    def _objective(self, logits, y, w):
        total = 0.0
        for idx, ps, _ in self._per_sample(logits, y):
            ww = w if idx is None else w[idx]
            total = total + (ps * ww.to(ps.dtype)).sum()
        return total

    def _update(self) -> None:
        """One optimisation step of every instance over static tensors (full batch): what a
        CUDA graph records (see ``core/capture.py``)."""
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(self.train_x)
        self._objective(logits, self.train_y, self.train_w).backward()
        self.opt.step()

    def step(self, step: int) -> None:
        self.model.train()
        self.step_t.fill_(step)
        self._step()

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._step.reset()  # the optimizer state tensors were replaced: capture again

    # ------------------------------------------------------------------ logging
    def _eval(self, logits, y, w, stats):
        """Loss, accuracy, SC and zero-loss fractions per instance into ``stats``."""
        loss = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        sc = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        zero = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        for idx, ps, dt in self._per_sample(logits.detach(), y):
            ww = w if idx is None else w[idx]
            sel = slice(None) if idx is None else idx
            loss[sel] = (ps.double() * ww).sum(-1)
            z = logits.detach() if idx is None else logits.detach()[idx]
            sc[sel] = softmax_collapse_fraction(z, dt, ww)
            zero[sel] = zero_loss_fraction(ps, ww)
        stats.update(loss=loss, acc=accuracy(logits.detach(), y, w), sc=sc, zero=zero)

    def log(self, step: int) -> list[dict]:
        self.model.eval()
        params = dict(self.model.params.items())
        with torch.enable_grad():
            logits = self.model(self.train_x)
            obj = self._objective(logits, self.train_y, self.train_w)
            grads = torch.autograd.grad(obj, list(params.values()))
        tr, te = {}, {}
        with torch.no_grad():
            self._eval(logits, self.train_y, self.train_w, tr)
            self._eval(self.model(self.test_x), self.test_y, self.test_w, te)
            cols = {"train_loss": tr["loss"], "test_loss": te["loss"],
                    "train_acc": tr["acc"], "test_acc": te["acc"],
                    "sc_fraction": tr["sc"], "zero_loss_fraction": tr["zero"],
                    "test_sc_fraction": te["sc"],
                    "nlm_cosine": nlm_cosine(list(grads), list(params.values()))}
            norms = {f"norm_{k}": v.flatten(1).norm(dim=1) for k, v in params.items()}
            cols["weight_norm"] = torch.stack(list(norms.values())).pow(2).sum(0).sqrt()
            cols.update(norms)
            if self.modular:
                cols["fourier_top5"] = fourier_concentration(self.model.embedding.detach())
            if self.progress is not None:
                cols.update(self._progress_measures())
            table = torch.stack([v.double() for v in cols.values()], 1).cpu().tolist()
        return [dict(zip(cols, row)) for row in table]


    @torch.no_grad()
    def _progress_measures(self) -> dict[str, torch.Tensor]:
        """Restricted loss (every pair), excluded loss (training pairs) and the embedding's
        key-frequency power; NaN for instances without key frequencies."""
        table = self.model(self.table_x).double()                          # (I, p², C)
        nan = torch.full((self.n,), float("nan"), dtype=torch.float64, device=self.device)
        keep = lambda v: torch.where(self.has_keys, v, nan)  # noqa: E731
        return {"restricted_loss": keep(restricted_loss(table, self.table_y, self.basis)),
                "excluded_loss": keep(excluded_loss(table, self.table_y, self.basis,
                                                    self.train_rows)),
                "key_power": keep(key_frequency_power(self.model.embedding.detach(),
                                                      self.keys.clamp_min(0)))}


def _first_step(metrics: pd.DataFrame, col: str, threshold: float):
    hit = metrics.loc[metrics[col] >= threshold, "step"]
    return None if hit.empty else int(hit.iloc[0])


def summarize(cfg: GrokkingConfig, metrics: pd.DataFrame) -> dict:
    """Headline numbers of one run."""
    last = metrics.iloc[-1]
    out = {
        "final_test_acc": float(last["test_acc"]), "best_test_acc": float(metrics["test_acc"].max()),
        "final_train_acc": float(last["train_acc"]),
        "step_test_acc_0.9": _first_step(metrics, "test_acc", 0.9),
        "step_train_acc_0.9": _first_step(metrics, "train_acc", 0.9),
        "peak_sc_fraction": float(metrics["sc_fraction"].max()),
        "final_sc_fraction": float(last["sc_fraction"]),
        "final_weight_norm": float(last["weight_norm"]),
        "final_nlm_cosine": float(last["nlm_cosine"]),
        "steps": cfg.steps, "log_every": cfg.log_every,
    }
    out["phase"] = classify_run(out)
    if out["phase"] in NOTES:
        out["note"] = NOTES[out["phase"]]
    if cfg.key_freqs is not None and "excluded_loss" in metrics:
        phases = progress_phases(metrics, cfg.p)
        out["key_freqs"] = list(cfg.key_freqs)
        out["final_restricted_loss"] = float(last["restricted_loss"])
        out["final_excluded_loss"] = float(last["excluded_loss"])
        out["final_key_power"] = float(last["key_power"])
        for name, key in (("memorisation", "end_memorisation"),
                          ("circuit formation", "end_circuit_formation"),
                          ("clean-up", "end_clean_up")):
            out[key] = None if phases[name] is None else phases[name][1]
    return out


# --------------------------------------------------------------------------- progress measures
def logit_table(run, device: str | None = None) -> torch.Tensor:
    """The logits of a finished add/sub run on all p² pairs (a, b), row a·p + b: (p², p)."""
    from ..core.experiment import load_trainer
    cfg = GrokkingConfig.from_dict(run.config)
    trainer = load_trainer(run, device)
    ds = make_dataset(cfg)
    with torch.no_grad():
        trainer.model.eval()
        return trainer.model(ds.tokens.to(trainer.device).unsqueeze(0))[0].double().cpu()


def final_key_frequencies(run, share: float = 0.99) -> list[int]:
    """Key frequencies of a finished add/sub run: the fewest k holding ``share`` of its final
    logit table's power along cos/sin(ω_k(a ± b)) (:func:`~.metrics.dominant_frequencies`)."""
    cfg = run.config
    if cfg["operation"] not in ("add", "sub"):
        raise ConfigError(f"operation: key frequencies are defined for add and sub "
                          f"(got {cfg['operation']})")
    sign = 1 if cfg["operation"] == "add" else -1
    return dominant_frequencies(logit_frequency_power(logit_table(run), cfg["p"], sign), share)


def progress_run(run, share: float = 0.99, **kwargs):
    """The same training run again, now logging Nanda et al.'s progress measures (restricted
    and excluded loss, key-frequency power) for the key frequencies of its *final* model, as
    the paper does: ``key_freqs`` only changes what is logged, so the training is identical.
    ``kwargs`` go to :func:`workbench.run` (store, progress, on_log, …)."""
    from ..core.experiment import run as run_experiment
    keys = tuple(final_key_frequencies(run, share))
    cfg = GrokkingConfig.from_dict({**run.config, "key_freqs": keys})
    kwargs.setdefault("store", run.path.parent)
    return run_experiment("grokking", cfg, **kwargs)


def headline(rows: list[dict]) -> dict:
    n = len(rows)
    return {"train": f"{sum(r['train_acc'] for r in rows) / n:.3f}",
            "test": f"{sum(r['test_acc'] for r in rows) / n:.3f}"}


PRESETS = {
    # quick: what the first `workbench run grokking --preset quick` should show — grokking.
    # p = 59 (the paper: 113), width 128, AdamW with weight decay 2 (the paper's defaults use
    # none): train accuracy 1 by step ~50, test accuracy ≥ 0.9 from step ~575 of 1000
    "quick": dict(p=59, width=128, weight_decay=2.0, steps=1000, log_every=25),
    # full: Prieto et al.'s MLP reference configuration (no weight decay: it memorises)
    "full": dict(p=113, steps=20000, log_every=100),
}

NOTES = {
    "memorise": "train accuracy reached 0.9 but test accuracy did not: it memorised. "
                "To see it generalise, try --set weight_decay=2 (delayed: grokking) or "
                "--set optimizer=perp_adamw (⊥AdamW, no weight decay needed).",
    "no-learn": "train accuracy never reached 0.9: try more --set steps=… or a larger lr.",
}


def memory(configs: list[GrokkingConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py):
    the table and its logits grow with p (or parity_samples), the rest with the width."""
    c, n = configs[0], len(configs)
    b = 8 if c.dtype == "float64" else 4
    if c.operation == "parity":
        rows, L, V, C, key = c.parity_samples, c.parity_k + c.parity_noise, 2, 2, "parity_samples"
    else:
        rows, L, V, C, key = c.p * c.p, 2, c.p, c.p, "p"
    table = rows * (L + 1) * 8 * 3  # the table, and its padded train and test copies
    logits = n * rows * C * 8 * 3  # logits, the loss's copy (up to float64) and its gradient
    if c.model == "mlp":
        acts = n * rows * c.width * c.depth * b * 3
        params = n * (L * V * c.width + c.width ** 2 * (c.depth - 1) + c.width * C) * b * 4
    else:
        acts = n * rows * L * (c.d_ff + 6 * c.width + c.heads * L) * b * 3
        params = n * (V * c.width + 4 * c.width ** 2 + 2 * c.width * c.d_ff + c.width * C) * b * 4
    return {key: table + logits, "width": acts + params}


EXPERIMENT = register(Experiment(
    name="grokking", config_cls=GrokkingConfig, make_trainer=GrokkingTrainer,
    summarize=summarize, presets=PRESETS, memory=memory, headline=headline,
    description="Modular arithmetic / sparse parity with an MLP or a 1-layer transformer: "
                "grokking, Softmax Collapse, StableMax and ⊥Grad (Prieto et al. 2025)."))
