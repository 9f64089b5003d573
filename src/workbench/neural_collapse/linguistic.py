"""The ``linguistic-collapse`` experiment: a tiny causal transformer on a seeded Zipfian
Markov corpus (Wu & Papyan 2024, arXiv:2405.17767, at toy scale).

The classes are next tokens: more classes (``vocab``) than feature dimensions (``width``),
so no simplex ETF can form, and the classes are heavily imbalanced. At every log the final
LayerNorm output at every position of a fixed set of training sequences is the feature; the
class-level metrics use the tokens seen at least ``min_count`` times as targets there
(CDNV, GNC2, UNC3, NC1, NCC agreement, …) and are logged next to the validation loss.

The default corpus (V = 512 tokens, 8 successors per token, 8,192 training sequences, so a
model sees each sequence about once) makes width matter: the next-token log-probabilities form
a V × V matrix that a width-d model can only approximate at rank ≈ d, so narrow models stop at
a higher validation loss. Across models of several widths the final validation losses then
differ, which is what :func:`spearman_table` correlates the NC measures with.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..core.batched import BatchedAdamW, per_instance
from ..core import rng
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from .data import zipf_corpus
from .experiment import summarize  # final value of every logged metric
from .metrics import nc_metrics_stream
from .models import TinyLM

__all__ = ["LMConfig", "LMTrainer", "EXPERIMENT", "LM_KEYS", "spearman_table", "PAPER_RHO"]

LM_KEYS = ("cdnv", "gnc2", "unc3", "unc3_mean", "nc1", "ncc_agreement", "equinorm_log_var",
           "nc3", "equiangular_std", "equinorm_means")


@dataclass
class LMConfig(TrainConfig):
    """A toy GPT on a synthetic language; defaults are the quick preset's scale."""

    vocab: int = field(512, "vocabulary size V (the number of classes)", ge=4)
    seq_len: int = field(16, "tokens per sequence", ge=2)
    n_train: int = field(8192, "training sequences", ge=1)
    n_val: int = field(128, "validation sequences", ge=1)
    zipf_alpha: float = field(1.1, "Zipf exponent of token popularity", gt=0)
    branching: int = field(8, "successors per token in the Markov chain", ge=1)
    width: int = field(32, "d_model (the feature dimension)", ge=1)
    depth: int = field(1, "transformer blocks", ge=1)
    heads: int = field(2, "attention heads", ge=1)
    lr: float = field(6e-3, "AdamW learning rate", gt=0, batchable=True)
    weight_decay: float = field(0.0, "AdamW decoupled weight decay", ge=0, batchable=True)
    batch_size: int = field(32, "sequences per step", ge=1)
    steps: int = field(300, "optimisation steps", ge=1)
    log_every: int = field(100, "log metrics every this many steps", ge=1)
    nc_seqs: int = field(256, "training sequences whose features the metrics use", ge=1)
    min_count: int = field(5, "a token is a class of the metrics if it is a target this often",
                           ge=1)
    seed: int = field(0, "seed of the initialisation and of the minibatches", ge=0,
                      batchable=True)
    data_seed: int = field(0, "seed of the corpus", ge=0)

    def check(self):
        if self.width % self.heads:
            raise ConfigError(f"width: must be divisible by heads={self.heads} (got {self.width})")
        if self.branching > self.vocab:
            raise ConfigError(f"branching: must be <= vocab={self.vocab} (got {self.branching})")
        if self.nc_seqs > self.n_train:
            raise ConfigError(f"nc_seqs: must be <= n_train={self.n_train} (got {self.nc_seqs})")


class LMTrainer(BatchedTrainer):
    """Trains I configs (seeds, learning rates, weight decays) as one batched TinyLM."""

    def __init__(self, configs: list[LMConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        seqs = zipf_corpus(c0.vocab, c0.n_train + c0.n_val, c0.seq_len, c0.data_seed,
                           c0.zipf_alpha, c0.branching).to(device)
        self.train, self.val = seqs[: c0.n_train], seqs[c0.n_train:]
        self.seeds = torch.tensor([c.seed for c in configs], device=device)
        self.model = TinyLM([c.seed for c in configs], c0.vocab, c0.seq_len, c0.width, c0.depth,
                            c0.heads).to(device)
        hyper = {k: per_instance([getattr(c, k) for c in configs], device=device)
                 for k in ("lr", "weight_decay")}
        self.opt = BatchedAdamW(list(self.model.parameters()), lr=hyper["lr"], beta1=0.9,
                                beta2=0.99, eps=1e-8, weight_decay=hyper["weight_decay"])

    def _loss(self, tokens):
        """Per-instance mean next-token cross-entropy of tokens (B, T) or (I, B, T)."""
        h = self.model.features(tokens[..., :-1])
        z = torch.baddbmm(self.model.bias[:, None], h, self.model.classifier.transpose(1, 2))
        y = tokens[..., 1:].reshape(*tokens.shape[:-2], -1)
        y = y.expand(self.n, -1) if y.dim() == 1 else y
        # classes on the last axis: the softmax over a strided middle axis is ≈ 10× slower
        ce = F.cross_entropy(z.flatten(0, 1), y.flatten(), reduction="none")
        return ce.view(self.n, -1).mean(1), z, y

    def step(self, step: int) -> None:
        c0 = self.c0
        u = rng.uniform(self.seeds, step, 11, (c0.batch_size,)).to(self.device)
        idx = (u * c0.n_train).long().clamp(max=c0.n_train - 1)         # (I, B)
        self.opt.zero_grad(set_to_none=True)
        loss, _, _ = self._loss(self.train[idx])
        loss.sum().backward()
        self.opt.step()

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        c0 = self.c0
        val_loss, zv, yv = self._loss(self.val)
        sub = self.train[: c0.nc_seqs]
        train_loss, _, _ = self._loss(sub)

        def batches():
            for s in range(0, len(sub), 64):
                t = sub[s:s + 64]
                yield self.model.features(t[:, :-1]), t[:, 1:].reshape(-1)

        nc = nc_metrics_stream(batches, c0.vocab, self.model.classifier, self.model.bias,
                               min_count=c0.min_count, linguistic=True)
        cols = {"train_loss": train_loss.double(), "val_loss": val_loss.double(),
                "val_acc": (zv.argmax(-1) == yv).double().mean(1)}
        cols.update({k: nc[k] for k in LM_KEYS})
        cols["n_classes"] = torch.full((self.n,), float(
            (torch.bincount(sub[:, 1:].reshape(-1), minlength=c0.vocab) >= c0.min_count).sum()))
        table = torch.stack([v.double().cpu() for v in cols.values()], 1).tolist()
        return [dict(zip(cols, row)) for row in table]


# Spearman ρ with validation loss across the 230 released models (Wu & Papyan 2024, computed
# from the authors' results file); "nc3" is their dual (self-duality) error
PAPER_RHO = {"ncc_agreement": -0.96, "cdnv": 0.94, "gnc2": 0.92, "nc3": 0.82, "unc3": 0.68,
             "equinorm_log_var": 0.55}


def spearman_table(summary: pd.DataFrame, target: str = "val_loss",
                   keys=("ncc_agreement", "cdnv", "gnc2", "nc3", "unc3", "equinorm_log_var",
                         "nc1", "equiangular_std")) -> pd.DataFrame:
    """Spearman ρ between each NC measure of the *final* models and their ``target`` (the
    ``final_*`` columns of a sweep's summary, one row per model), across models — Wu & Papyan
    2024's analysis across their 230 trained models, not across the steps of a run. Columns:
    measure, ρ here, ρ in the paper (NaN where it reports none), and the number of models;
    sorted by |ρ| here."""
    y = summary[f"final_{target}"]
    rows = []
    for k in keys:
        col = f"final_{k}"
        if col in summary:
            rho = float(summary[col].rank().corr(y.rank()))
            rows.append((k, rho, PAPER_RHO.get(k, float("nan")), len(summary)))
    out = pd.DataFrame(rows, columns=["measure", f"rho_vs_{target}", "paper_rho", "models"])
    return out.reindex(out.iloc[:, 1].abs().sort_values(ascending=False).index).reset_index(
        drop=True)


def headline(rows: list[dict]) -> dict:
    n = len(rows)
    return {"val": f"{sum(r['val_loss'] for r in rows) / n:.3f}",
            "cdnv": f"{sum(r['cdnv'] for r in rows) / n:.3g}"}


PRESETS = {
    "quick": dict(steps=300, log_every=100),
    "full": dict(vocab=2048, seq_len=64, n_train=20000, n_val=1000, width=128, depth=2,
                 heads=4, lr=3e-3, batch_size=64, steps=20000, log_every=1000, nc_seqs=1000),
}

def memory(configs: list[LMConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    tokens = (c.batch_size + c.n_val + c.nc_seqs) * c.seq_len
    blocks = c.depth * 12 * c.width ** 2 + c.vocab * c.width
    return {"vocab": k * tokens * c.vocab * 4 * 3 + c.vocab * c.branching * 8,
            "width": k * (blocks * 4 * 4 + tokens * c.width * (8 * c.depth + 2) * 4)
            + k * tokens * c.seq_len * c.heads * c.depth * 4 + k * c.width ** 2 * 8 * 4,
            "n_train": (c.n_train + c.n_val) * c.seq_len * 8}


EXPERIMENT = register(Experiment(
    name="linguistic-collapse", config_cls=LMConfig, make_trainer=LMTrainer,
    summarize=summarize, presets=PRESETS, memory=memory, headline=headline,
    description="A tiny causal transformer on a seeded Zipfian corpus: more classes than "
                "dimensions; CDNV, GNC2 and UNC3 against validation loss (Wu & Papyan 2024)."))
