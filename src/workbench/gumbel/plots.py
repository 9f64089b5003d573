"""Chapter figures: Gumbel-max histogram, the relaxation on the simplex, the bias–variance
trade-off, VAE curves, reconstructions and traversals, 2:4 mask losses."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..core.plots import curves
from .estimators import ESTIMATORS
from .samplers import gumbel_max, gumbel_noise, gumbel_softmax

__all__ = ["gumbel_max_figure", "simplex_figure", "bias_variance_figure", "vae_figure",
           "images_figure", "masks_figure", "COLORS", "NAMES"]

COLORS = {"reinforce": "#4e79a7", "reinforce_loo": "#76b7b2", "gs": "#f28e2b", "st": "#e15759"}
NAMES = {"reinforce": "REINFORCE", "reinforce_loo": "REINFORCE-LOO", "gs": "Gumbel-Softmax",
         "st": "ST Gumbel-Softmax"}


def gumbel_max_figure(probs, n: int = 20000, seed: int = 0) -> go.Figure:
    """Frequencies of ``n`` Gumbel-max samples next to π."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    idx = gumbel_max(p.log().expand(n, -1), generator=gen)
    freq = torch.bincount(idx, minlength=len(p)).double() / n
    ks = [str(k) for k in range(len(p))]
    fig = go.Figure([go.Bar(x=ks, y=p.tolist(), name="π", marker_color="#bab0ac"),
                     go.Bar(x=ks, y=freq.tolist(), name=f"Gumbel-max, {n} draws",
                            marker_color="#4e79a7")])
    fig.update_layout(barmode="group", title="Gumbel-max samples are exact draws from Cat(π)",
                      xaxis_title="category", yaxis_title="probability", template="plotly_white")
    return fig


def _simplex_xy(y: torch.Tensor):
    """Barycentric (y0, y1, y2) → 2-D points in an equilateral triangle."""
    x = y[:, 1] + 0.5 * y[:, 2]
    return x.tolist(), (y[:, 2] * math.sqrt(3) / 2).tolist()


def simplex_figure(probs=(0.6, 0.3, 0.1), taus=(0.1, 0.5, 1.0, 5.0), n: int = 600,
                   seed: int = 0) -> go.Figure:
    """Gumbel-Softmax samples (K = 3) on the simplex, one panel per τ: near the vertices for
    small τ, pulled to the centre for large τ."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    fig = make_subplots(rows=1, cols=len(taus), subplot_titles=[f"τ = {t:g}" for t in taus])
    tri_x, tri_y = [0, 1, 0.5, 0], [0, 0, math.sqrt(3) / 2, 0]
    for j, tau in enumerate(taus):
        g = gumbel_noise((n, 3), torch.Generator().manual_seed(seed), dtype=torch.float64)
        y = gumbel_softmax(p.log().expand(n, -1), tau, noise=g)
        xs, ys = _simplex_xy(y)
        fig.add_trace(go.Scatter(x=tri_x, y=tri_y, mode="lines", line=dict(color="#999"),
                                 showlegend=False), row=1, col=j + 1)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False,
                                 marker=dict(size=3, color="#4e79a7", opacity=0.5)),
                      row=1, col=j + 1)
        fig.update_xaxes(visible=False, row=1, col=j + 1)
        fig.update_yaxes(visible=False, scaleanchor=f"x{j + 1}" if j else "x", row=1, col=j + 1)
    fig.update_layout(height=300, template="plotly_white",
                      title=f"Gumbel-Softmax samples on the simplex, π = {tuple(probs)}")
    return fig


def bias_variance_figure(table, title: str | None = None) -> go.Figure:
    """|bias| and total variance against τ per estimator (log axes), from
    :func:`~workbench.gumbel.estimators.estimator_table`."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["‖bias‖ (vs exact gradient)",
                                                        "total variance"])
    for name in ESTIMATORS:
        t = table[table.estimator == name].sort_values("tau")
        for col, key in ((1, "bias"), (2, "variance")):
            fig.add_trace(go.Scatter(x=t["tau"], y=t[key], mode="lines+markers",
                                     name=NAMES[name], legendgroup=name, showlegend=col == 1,
                                     line=dict(color=COLORS[name])), row=1, col=col)
    fig.update_xaxes(type="log", title_text="τ")
    fig.update_yaxes(type="log")
    fig.update_layout(height=360, template="plotly_white",
                      title=title or "Raising τ trades variance for bias")
    return fig


def vae_figure(metrics, title: str | None = None) -> go.Figure:
    """Test −ELBO and τ per instance of a VAE run or sweep."""
    names = None
    if "instance" in metrics and "estimator" in metrics:
        names = {}
        for i, frame in metrics.groupby("instance"):
            seed = f" seed {frame['seed'].iloc[0]}" if "seed" in frame else ""
            names[i] = f"{NAMES.get(frame['estimator'].iloc[0], frame['estimator'].iloc[0])}{seed}"
    return curves(metrics, ["test_nelbo", "tau"], names=names,
                  title=title or "Categorical VAE: test −ELBO (hard samples)")


def images_figure(rows: dict[str, torch.Tensor], side: int, title: str | None = None) -> go.Figure:
    """A grid of grey images: one row per entry of ``rows`` (label → (n, side²) tensor)."""
    labels = list(rows)
    n = max(len(v) for v in rows.values())
    fig = make_subplots(rows=len(labels), cols=n, horizontal_spacing=0.005,
                        vertical_spacing=0.02)
    for r, label in enumerate(labels):
        for c, img in enumerate(rows[label]):
            fig.add_trace(go.Heatmap(z=img.view(side, side).flip(0).tolist(), colorscale="gray_r",
                                     zmin=0, zmax=1, showscale=False), row=r + 1, col=c + 1)
        # the row's label, horizontal, left of its first image (rotated row titles overlap
        # when the rows are short)
        lo, hi = fig.get_subplot(r + 1, 1).yaxis.domain
        fig.add_annotation(text=label, x=0, y=(lo + hi) / 2, xref="paper", yref="paper",
                           xanchor="right", yanchor="middle", showarrow=False, xshift=-8)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=90 * len(labels) + 60, template="plotly_white", title=title,
                      margin=dict(l=150, r=20, t=50, b=10))
    return fig


def masks_figure(summary, title: str | None = None) -> go.Figure:
    """Test loss of the dense model, magnitude 2:4 pruning and learned 2:4 masks per run."""
    labels = [f"seed {r.seed}, prior {r.prior:g}" for r in summary.itertuples()]
    fig = go.Figure()
    for key, name, color in (("dense_test_loss", "dense", "#bab0ac"),
                             ("magnitude_test_loss", "magnitude 2:4", "#e15759"),
                             ("learned_test_loss", "learned 2:4 (Gumbel-Softmax)", "#59a14f")):
        fig.add_trace(go.Bar(x=labels, y=summary[key], name=name, marker_color=color))
    fig.update_layout(barmode="group", template="plotly_white", yaxis_title="test cross-entropy",
                      title=title or "MaskLLM toy: learned 2:4 masks vs magnitude pruning")
    return fig
