"""Chapter figures: learning curves, the Fourier view, the phase diagram."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.experiment import load_trainer
from ..core.plots import PHASE_COLORS, bars, categorical_heatmap, curves
from .metrics import fourier_power, key_frequencies, progress_phases

PHASE_BANDS = {"memorisation": "rgba(225, 87, 89, 0.12)",
               "circuit formation": "rgba(242, 142, 43, 0.14)",
               "clean-up": "rgba(89, 161, 79, 0.14)"}

__all__ = ["training_figure", "collapse_figure", "fourier_figure", "phase_figure",
           "embedding_spectrum", "progress_figure"]


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


def progress_figure(run, title: str | None = None) -> go.Figure:
    """Nanda et al.'s progress measures of a run logged with ``key_freqs``: accuracies (top),
    train / test / restricted / excluded loss on a log axis (middle) and the embedding's
    key-frequency power (bottom), with the three phases of
    :func:`~workbench.grokking.metrics.progress_phases` shaded."""
    m = run.metrics
    phases = progress_phases(m, run.config["p"])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.3, 0.45, 0.25],
                        subplot_titles=["accuracy", "losses (log scale)",
                                        "embedding power in the key frequencies"])
    lines = [(1, "train_acc", "train accuracy", "#4e79a7", None),
             (1, "test_acc", "test accuracy", "#e15759", None),
             (2, "train_loss", "train loss", "#4e79a7", None),
             (2, "test_loss", "test loss", "#e15759", None),
             (2, "restricted_loss", "restricted loss (keys only, all pairs)", "#59a14f", "dash"),
             (2, "excluded_loss", "excluded loss (keys removed, train)", "#b07aa1", "dash"),
             (3, "key_power", "key-frequency power", "#f28e2b", None)]
    for row, col, name, color, dash in lines:
        fig.add_trace(go.Scatter(x=m["step"], y=m[col], name=name, mode="lines",
                                 line=dict(color=color, dash=dash)), row=row, col=1)
    end = int(m["step"].max())
    for name, span in phases.items():
        if span is None or span[1] is None and name != "clean-up":
            continue
        x0, x1 = span[0], span[1] if span[1] is not None else end
        for row in (1, 2, 3):
            fig.add_vrect(x0=x0, x1=x1, fillcolor=PHASE_BANDS[name], line_width=0,
                          row=row, col=1)
        fig.add_annotation(x=(x0 + x1) / 2, y=1.0, yref="y domain", text=name,
                           showarrow=False, font=dict(size=11), row=1, col=1)
    fig.update_yaxes(type="log", row=2, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    keys = run.config.get("key_freqs")
    fig.update_layout(height=720, template="plotly_white", legend=dict(orientation="h", y=-0.1),
                      title=title or f"progress measures (key frequencies {keys})")
    return fig
