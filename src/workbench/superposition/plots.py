"""Chapter figures (plotly): loss vs m with its fit, row norms, overlaps, the α × γ map, the
Elhage 2-D picture, WᵀW, feature dimensionality, Bahri's regimes."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.plots import heatmap
from .metrics import feature_dimensionality, fit_exponent, interference, random_overlap_stats

__all__ = ["loss_vs_m_figure", "row_norm_figure", "overlap_figure", "phase_map_figure",
           "toy_2d_figure", "gram_figure", "norm_bars_figure", "dimensionality_figure",
           "regimes_figure"]


def loss_vs_m_figure(summaries: list[dict], names: list[str], title=None) -> go.Figure:
    """Final evaluation loss vs width (log–log) with the least-squares fit of each run."""
    fig = go.Figure()
    for s, name in zip(summaries, names):
        m = np.array([int(k) for k in s["loss"]])
        L = np.array(list(s["loss"].values()))
        a, icpt = fit_exponent(m, L)
        seeds = int(s.get("seeds", 1))
        spread = (f" ± {s['loss_exponent_std']:.2f} (sd over {seeds} seeds)"
                  if seeds > 1 and "loss_exponent_std" in s else f" ({seeds} seed)")
        tr = go.Scatter(x=m, y=L, mode="markers", name=f"{name}: α_m = {a:.2f}{spread}")
        fig.add_trace(tr)
        xs = np.geomspace(m.min(), m.max(), 20)
        fig.add_trace(go.Scatter(x=xs, y=np.exp(icpt) * xs ** (-a), mode="lines",
                                 showlegend=False, line=dict(dash="dot")))
    fig.update_xaxes(type="log", title="width m")
    fig.update_yaxes(type="log", title="loss L = n × MSE")
    fig.update_layout(title=title, template="plotly_white", legend=dict(orientation="h", y=-0.25))
    return fig


def row_norm_figure(W_by_m: dict, title=None) -> go.Figure:
    """Histogram of ‖W_i‖ per width (W (seeds, n, m) → all seeds pooled), with ½ and 1 marked."""
    fig = go.Figure()
    for m, W in W_by_m.items():
        fig.add_trace(go.Histogram(x=W.norm(dim=-1).flatten().numpy(), name=f"m={m}",
                                   opacity=0.6, nbinsx=40))
    for x in (0.5, 1.0):
        fig.add_vline(x=x, line_dash="dot")
    fig.update_layout(barmode="overlay", title=title, xaxis_title="row norm ‖W_i‖",
                      yaxis_title="features", template="plotly_white")
    return fig


def overlap_figure(W_by_m: dict, title=None, max_pairs: int = 20000) -> go.Figure:
    """Distribution of m·(Ŵ_i·Ŵ_j)² per width: random directions give mean 1."""
    fig = go.Figure()
    rng = np.random.default_rng(0)
    for m, W in W_by_m.items():
        Wn = W[0] / W[0].norm(dim=-1, keepdim=True).clamp_min(1e-12)
        G = (Wn @ Wn.T).numpy() ** 2
        iu = np.triu_indices(G.shape[0], 1)
        vals = G[iu] * m
        if len(vals) > max_pairs:
            vals = rng.choice(vals, max_pairs, replace=False)
        fig.add_trace(go.Histogram(x=vals, name=f"m={m}: mean m·o² = {vals.mean():.2f}",
                                   histnorm="probability density", opacity=0.6,
                                   xbins=dict(start=0, end=6, size=0.1)))
    fig.update_layout(barmode="overlay", title=title, xaxis_title="m · (Ŵ_i·Ŵ_j)²",
                      yaxis_title="density", template="plotly_white")
    return fig


def phase_map_figure(table, title="fitted exponent α_m over α × γ") -> go.Figure:
    """Heat-map of ``loss_exponent`` over the α × γ grid of a sweep summary."""
    return heatmap(table, "alpha", "gamma", "loss_exponent", title=title, colorscale="RdBu_r",
                   zmin=0, zmax=2)


def toy_2d_figure(Ws, labels, title=None) -> go.Figure:
    """The Elhage 5 → 2 picture: each feature's column W_i as an arrow in the plane, one
    panel per model (``Ws``: list of (n, 2) tensors), coloured by importance rank."""
    fig = make_subplots(rows=1, cols=len(Ws), subplot_titles=labels)
    for k, W in enumerate(Ws):
        W = W.detach().numpy()
        for i, (a, b) in enumerate(W):
            fig.add_trace(go.Scatter(x=[0, a], y=[0, b], mode="lines+markers",
                                     line=dict(color=f"hsl({int(280 * i / len(W))},70%,45%)"),
                                     name=f"feature {i}", showlegend=(k == 0)),
                          row=1, col=k + 1)
        fig.update_xaxes(range=[-1.5, 1.5], row=1, col=k + 1)
        fig.update_yaxes(range=[-1.5, 1.5], scaleanchor=f"x{k + 1 if k else ''}", row=1,
                         col=k + 1)
    fig.update_layout(title=title, template="plotly_white", height=320)
    return fig


def gram_figure(W, title="WWᵀ (feature × feature)") -> go.Figure:
    G = (W @ W.T).detach().numpy()
    fig = go.Figure(go.Heatmap(z=G, colorscale="RdBu", zmid=0, zmin=-1, zmax=1))
    fig.update_layout(title=title, yaxis=dict(autorange="reversed"), template="plotly_white",
                      width=420, height=380)
    return fig


def norm_bars_figure(W, title="‖W_i‖, coloured by interference Σ_{j≠i}(Ŵ_i·W_j)²") -> go.Figure:
    norms = W.norm(dim=-1).detach().numpy()
    inter = interference(W).detach().numpy()
    fig = go.Figure(go.Bar(x=list(range(len(norms))), y=norms,
                           marker=dict(color=inter, colorscale="Viridis", cmin=0, cmax=1,
                                       colorbar=dict(title="interference"))))
    fig.update_layout(title=title, xaxis_title="feature i", yaxis_title="‖W_i‖",
                      template="plotly_white")
    return fig


def dimensionality_figure(densities, Ws,
                          title="feature dimensionality D_i vs density") -> go.Figure:
    """D_i of every feature for each density (x: 1/density, log), with the sticky fractions
    1, ¾, ⅔, ½, ⅖, ⅜ marked, and D* = m/‖W‖²_F as a line."""
    fig = go.Figure()
    xs, ys = [], []
    dstar = []
    for d, W in zip(densities, Ws):
        D = feature_dimensionality(W).detach().numpy()
        xs += [1 / d] * len(D)
        ys += list(D)
        dstar.append(W.shape[-1] / float((W ** 2).sum()))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="D_i", opacity=0.5))
    fig.add_trace(go.Scatter(x=[1 / d for d in densities], y=dstar, mode="lines+markers",
                             name="D* = m/‖W‖²_F"))
    for f in (1, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8):
        fig.add_hline(y=f, line_dash="dot", line_color="grey")
    fig.update_xaxes(type="log", title="1 / feature density")
    fig.update_layout(title=title, yaxis_title="dimensions per feature", template="plotly_white")
    return fig


def regimes_figure(curves, title="Bahri et al.'s four scaling regimes") -> go.Figure:
    """One log–log panel per regime: the loss (resolution-limited) or its excess over the
    limit (variance-limited), with the least-squares line and its slope. Only positive values
    can sit on a log axis: a noisy excess at or below 0 is left out of the line and the fit
    (as in :func:`~workbench.superposition.regimes.regime_slopes`) and counted in the panel."""
    names = list(curves["regime"].unique())
    fig = make_subplots(rows=1, cols=4, subplot_titles=names)
    for k, (reg, part) in enumerate(curves.groupby("regime", sort=False)):
        y = (part["excess"] if reg.startswith("variance") else part["loss"]).to_numpy()
        x = part["size"].to_numpy()
        ok = y > 0
        fig.add_trace(go.Scatter(x=x[ok], y=y[ok], mode="lines+markers", name=reg),
                      row=1, col=k + 1)
        if ok.sum() >= 2:
            a, icpt = fit_exponent(x[ok], y[ok])
            xs = np.geomspace(x[ok].min(), x[ok].max(), 10)
            fig.add_trace(go.Scatter(x=xs, y=np.exp(icpt) * xs ** (-a), mode="lines",
                                     line=dict(dash="dot", color="grey"), name="fit"),
                          row=1, col=k + 1)
            note = f"slope {-a:+.2f}" + (f"; {int((~ok).sum())} point(s) ≤ 0 not drawn"
                                           if (~ok).any() else "")
            fig.add_annotation(text=note, x=0.5, y=0.02, xref="x domain", yref="y domain",
                               showarrow=False, font=dict(size=11), row=1, col=k + 1)
        fig.update_xaxes(type="log", title="D" if "data" in reg else "P", row=1, col=k + 1)
        fig.update_yaxes(type="log", row=1, col=k + 1)
    fig.update_layout(title=title, template="plotly_white", height=330, showlegend=False)
    return fig


def overlap_reference(m: int) -> float:
    return random_overlap_stats(m)[0]
