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


# --------------------------------------------------------------------------- Li₂ (Tian 2025)
import math  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .li2 import CRITICAL_CONSTANT, node_spectrum  # noqa: E402

__all__ += ["stage_steps", "stages_figure", "grok_map_figure", "spectrum_figure", "xor_figure",
            "regimes_figure"]


def stage_steps(metrics) -> dict:
    """Marker steps read off a run's measures: when G_F reaches 90 % of its peak alignment
    with the independent form, when the training set is memorised (train accuracy ≥ 0.99)
    and when the test accuracy reaches 0.9 (None when never)."""
    def first(mask):
        hit = metrics.loc[mask, "step"]
        return None if hit.empty else int(hit.iloc[0])
    peak = metrics["gf_alignment"].max()
    return {"G_F structured": first(metrics["gf_alignment"] >= 0.9 * peak),
            "memorised": first(metrics["train_acc"] >= 0.99),
            "test ≥ 0.9": first(metrics["test_acc"] >= 0.9)}


def stages_figure(metrics, baseline: float | None = None, title: str | None = None) -> go.Figure:
    """Accuracies (top) and the two stage measures (bottom) of one run, with
    :func:`stage_steps` as dashed lines; ``baseline`` is the random-weights concentration."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("accuracy", "progress measures"))
    x = metrics["step"]
    for col, name, color, row in (("train_acc", "train accuracy", "#4e79a7", 1),
                                  ("test_acc", "test accuracy", "#e15759", 1),
                                  ("gf_alignment", "G_F alignment cos(G_F, ỸỸᵀF)", "#59a14f", 2),
                                  ("fourier_conc", "Fourier concentration of W", "#f28e2b", 2)):
        fig.add_trace(go.Scatter(x=x, y=metrics[col], name=name, line=dict(color=color)),
                      row=row, col=1)
    if baseline is not None:
        fig.add_hline(y=baseline, line=dict(color="#f28e2b", dash="dot", width=1), row=2, col=1,
                      annotation_text="random weights", annotation_position="bottom right")
    for (label, step), color in zip(stage_steps(metrics).items(),
                                    ("#59a14f", "#4e79a7", "#e15759")):
        if step is not None:
            fig.add_vline(x=step, line=dict(color=color, dash="dash", width=1))
            fig.add_annotation(x=step, y=1.04, yref="paper", text=label, showarrow=False,
                               font=dict(size=10, color=color))
    fig.update_yaxes(range=[-0.05, 1.05])
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(height=520, template="plotly_white", title=title,
                      legend=dict(orientation="h", y=-0.15), margin=dict(t=70))
    return fig


def grok_map_figure(table, fitted_constant: float | None = None, level: float = 0.5,
                    title: str | None = None) -> go.Figure:
    """The grok / no-grok map: each (M, train fraction) cell coloured by its final test
    accuracy (mean over seeds), with the boundary 2.7482·ln M / M (solid) and, when given,
    the fitted c·ln M / M (dashed)."""
    t = table.groupby(["M", "train_frac"], as_index=False)[["final_test_acc",
                                                             "final_train_acc"]].mean()
    fig = go.Figure(go.Scatter(
        x=t["M"], y=t["train_frac"], mode="markers",
        marker=dict(size=22, symbol="square", color=t["final_test_acc"], cmin=0, cmax=1,
                    colorscale="RdYlGn", colorbar=dict(title="test acc"),
                    line=dict(color="#555", width=1)),
        text=[f"M={m}, train {f:.3f}: test {a:.2f}, train {b:.2f}" for m, f, a, b in
              zip(t["M"], t["train_frac"], t["final_test_acc"], t["final_train_acc"])],
        hoverinfo="text", name="runs", showlegend=False))
    Ms = np.linspace(max(3.0, t["M"].min() * 0.85), t["M"].max() * 1.1, 100)
    fig.add_trace(go.Scatter(x=Ms, y=CRITICAL_CONSTANT * np.log(Ms) / Ms, mode="lines",
                             name=f"{CRITICAL_CONSTANT}·ln M / M (Tian)",
                             line=dict(color="black", width=2)))
    if fitted_constant is not None and math.isfinite(fitted_constant):
        fig.add_trace(go.Scatter(x=Ms, y=fitted_constant * np.log(Ms) / Ms, mode="lines",
                                 name=f"fitted {fitted_constant:.2f}·ln M / M "
                                      f"(test acc = {level:g})",
                                 line=dict(color="black", width=2, dash="dash")))
    fig.update_layout(template="plotly_white", title=title, height=440,
                      xaxis_title="M (group order)", yaxis_title="train fraction",
                      yaxis_type="log", legend=dict(orientation="h", y=-0.2))
    return fig


def spectrum_figure(weights: torch.Tensor, title: str | None = None) -> go.Figure:
    """Each hidden node's Fourier power over the frequencies k = 1…⌊M/2⌋ (rows: nodes sorted
    by their strongest frequency; each row normalised to sum 1). ``weights`` (2, M, K)."""
    P = node_spectrum(weights)                                   # (K, M//2)
    P = P / P.sum(-1, keepdim=True)
    order = torch.argsort(P.argmax(-1) * 10 - P.max(-1).values)
    fig = go.Figure(go.Heatmap(z=P[order].numpy(), x=list(range(1, P.shape[1] + 1)),
                               colorscale="Viridis", zmin=0, zmax=1,
                               colorbar=dict(title="power share")))
    fig.update_layout(template="plotly_white", title=title, height=380,
                      xaxis_title="frequency k", yaxis_title="hidden node (sorted)")
    return fig


# --------------------------------------------------------------------------- XOR (Xu et al. 2024)
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1"]


def xor_figure(metrics, title: str | None = None) -> go.Figure:
    """One run: accuracies (train on the noisy labels, the flipped training labels still
    fitted, test on clean labels) and the neurons' alignment with μ₁ and μ₂, from step 1 on a
    log axis."""
    m = metrics[metrics["step"] >= 1]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("accuracy", "mean |cos(w_j, μ)| and linearity"))
    for col, name, color in (("train_acc", "train (noisy labels)", "#4e79a7"),
                             ("flipped_fit", "flipped labels still fitted", "#b07aa1"),
                             ("test_acc", "test (clean labels)", "#e15759")):
        fig.add_trace(go.Scatter(x=m["step"], y=m[col], name=name, line=dict(color=color)),
                      row=1, col=1)
    for col, name, color, dash in (("align_pos_mu1", "a>0 neurons · μ₁", "#59a14f", None),
                                   ("align_neg_mu2", "a<0 neurons · μ₂", "#f28e2b", None),
                                   ("align_pos_mu2", "a>0 neurons · μ₂", "#59a14f", "dot"),
                                   ("align_neg_mu1", "a<0 neurons · μ₁", "#f28e2b", "dot"),
                                   ("linearity", "linearity corr(f, Σa_j⟨w_j,x⟩)", "#555",
                                    "dash")):
        fig.add_trace(go.Scatter(x=m["step"], y=m[col], name=name,
                                 line=dict(color=color, dash=dash)), row=1, col=2)
    fig.update_xaxes(type="log", title_text="GD step")
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_layout(height=420, template="plotly_white", title=title,
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=60))
    return fig


def regimes_figure(metrics, names: dict, title: str | None = None) -> go.Figure:
    """Test accuracy (clean) and the share of flipped labels fitted, per run of a sweep
    (``names``: instance → legend name), on a log step axis."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("test accuracy (clean labels)",
                                        "flipped training labels fitted"))
    m = metrics[metrics["step"] >= 1]
    for k, (inst, g) in enumerate(m.groupby("instance", sort=True)):
        name = names.get(inst, f"run {inst}")
        color = PALETTE[k % len(PALETTE)]
        for c, col in enumerate(("test_acc", "flipped_fit"), 1):
            fig.add_trace(go.Scatter(x=g["step"], y=g[col], name=name, legendgroup=name,
                                     showlegend=c == 1, line=dict(color=color)), row=1, col=c)
    fig.update_xaxes(type="log", title_text="GD step")
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(height=380, template="plotly_white", title=title,
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=60))
    return fig
