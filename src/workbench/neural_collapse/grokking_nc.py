"""Neural-collapse metrics over training for the grokking chapter's models — a view no paper
has: does the penultimate layer of a network that groks (softmax + weight decay, StableMax,
⊥AdamW) collapse, and when, relative to memorisation and generalisation?

``grokking-nc`` is the ``grokking`` experiment (same config, same batched trainer, same
numbers) whose logs also carry the NC metrics of the training set's penultimate features
(the model's ``features()``: for the bias-free MLP the last hidden layer after its ReLU)
against the read-out weights. The trainer is the grokking one, subclassed.
"""

from __future__ import annotations

import pandas as pd
import torch

from ..core.experiment import Experiment, register
from ..grokking.experiment import GrokkingConfig, GrokkingTrainer
from ..grokking.experiment import summarize as grokking_summarize
from .metrics import nc_metrics

__all__ = ["GrokkingNCTrainer", "EXPERIMENT", "comparison_configs", "GROK_NC_KEYS"]

GROK_NC_KEYS = ("nc1", "equiangular_std", "equiangular_max_dev", "equinorm_means",
                "equinorm_classifier", "nc3", "nc4")


class GrokkingNCTrainer(GrokkingTrainer):
    """The grokking trainer, logging NC metrics of the training features as well."""

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        rows = super().log(step)
        self.model.eval()
        h = self.model.features(self.train_x)
        W = self.model.params["out"].transpose(1, 2)                  # (I, C, width)
        nc = nc_metrics(h, self.train_y, W, mask=self.train_w > 0, n_classes=W.shape[1])
        for i, row in enumerate(rows):
            row.update({k: float(nc[k][i]) for k in GROK_NC_KEYS})
        return rows


def summarize(cfg: GrokkingConfig, metrics: pd.DataFrame) -> dict:
    out = grokking_summarize(cfg, metrics)
    last = metrics.iloc[-1]
    out.update({f"final_{k}": (None if pd.isna(last[k]) else float(last[k]))
                for k in GROK_NC_KEYS})
    return out


PRESETS = {
    "quick": dict(p=41, width=96, train_frac=0.5, steps=500, log_every=25),
    "full": dict(p=113, steps=20000, log_every=200),
}

# softmax + AdamW (no regulariser), StableMax (float64), ⊥AdamW — one batched model
COMPARISON = {
    "softmax": dict(loss="softmax", optimizer="adamw", weight_decay=0.0),
    "StableMax": dict(loss="stablemax", loss_dtype="float64", optimizer="adamw",
                      weight_decay=0.0, beta2=0.999),
    "⊥AdamW": dict(loss="softmax", optimizer="perp_adamw", weight_decay=0.0),
}


def comparison_configs(preset: str = "quick", **overrides) -> tuple[list, list[str]]:
    """The three training recipes compared, as configs that train as ONE batched model."""
    names = list(COMPARISON)
    return [EXPERIMENT.config(preset, **{**COMPARISON[n], **overrides}) for n in names], names


def memory(configs) -> dict[str, float]:
    """The grokking estimate, plus the penultimate features kept for the NC metrics."""
    from ..grokking.experiment import memory as grokking_memory

    out = grokking_memory(configs)
    c = configs[0]
    out["width"] += len(configs) * (c.p * c.p * c.width * 4 * 2 + c.width ** 2 * 8 * 4)
    return out


EXPERIMENT = register(Experiment(
    name="grokking-nc", config_cls=GrokkingConfig, make_trainer=GrokkingNCTrainer,
    summarize=summarize, presets=PRESETS, memory=memory,
    description="The grokking experiment with neural-collapse metrics of the model's "
                "penultimate features logged over training (softmax vs StableMax vs ⊥AdamW)."))
