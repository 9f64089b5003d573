"""Chapter figures: learning curves, the Fourier view, the phase diagram."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.experiment import load_trainer
from ..core.plots import PHASE_COLORS, bars, categorical_heatmap, curves
from .metrics import fourier_power, key_frequencies

__all__ = ["training_figure", "collapse_figure", "fourier_figure", "phase_figure", "embedding_spectrum"]


def training_figure(metrics, names=None, title=None) -> go.Figure:
    """Train/test accuracy and loss (log scale) of one run or a sweep."""
    return curves(metrics, ["train_acc", "test_acc", "train_loss", "test_loss"], names=names,
                  log_y=("train_loss", "test_loss"), title=title)


def collapse_figure(metrics, names=None, title=None) -> go.Figure:
    """What explains the delay: test accuracy, Softmax Collapse fraction, cos(−∇L, θ) and ‖θ‖."""
    return curves(metrics, ["test_acc", "sc_fraction", "nlm_cosine", "weight_norm"], names=names,
                  title=title)


def embedding_spectrum(run) -> "torch.Tensor":
    """Fourier power spectrum (k = 0..⌊p/2⌋) of a finished run's input embedding."""
    trainer = load_trainer(run, device="cpu")
    return fourier_power(trainer.model.embedding.detach()[0])


def fourier_figure(run, top: int = 5, title: str | None = None) -> go.Figure:
    """Bars of the embedding's power per frequency k (Nanda et al. 2023), the ``top`` key
    frequencies highlighted."""
    power = embedding_spectrum(run)
    keys = key_frequencies(power, top)
    ks = list(range(1, len(power)))
    return bars(ks, power[1:].tolist(), highlight=keys,
                title=title or f"Fourier power of the embedding — key frequencies {sorted(keys)}",
                xlabel="frequency k", ylabel="share of power")


def phase_figure(summary, x: str = "weight_decay", y: str = "lr", title: str | None = None) -> go.Figure:
    """Phase diagram from a sweep's summary table: each cell coloured no-learn / memorise /
    grok / generalise (see :func:`workbench.grokking.metrics.classify_run`)."""
    return categorical_heatmap(summary, x, y, "phase", PHASE_COLORS,
                               hover=["final_train_acc", "final_test_acc", "step_test_acc_0.9"],
                               title=title or f"phase diagram: {x} × {y}")
