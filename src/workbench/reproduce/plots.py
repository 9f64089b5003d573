"""Figure helpers for claims: our curves and the paper's numbers as markers on the same axes."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["panels", "line", "paper_markers", "PALETTE", "PAPER_STYLE"]

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
PAPER_STYLE = dict(symbol="x", size=11, color="black", line=dict(width=1))


def panels(titles: Sequence[str], *, x: str | Sequence[str] = "", y: str | Sequence[str] = "",
           log_x=False, log_y=False, height: int = 330, title: str = "") -> go.Figure:
    """A row of ``len(titles)`` panels with axis titles (one per panel or shared)."""
    n = len(titles)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.1)
    xs = [x] * n if isinstance(x, str) else list(x)
    ys = [y] * n if isinstance(y, str) else list(y)
    lx = [log_x] * n if isinstance(log_x, bool) else list(log_x)
    ly = [log_y] * n if isinstance(log_y, bool) else list(log_y)
    for i in range(n):
        fig.update_xaxes(title_text=xs[i], type="log" if lx[i] else None, row=1, col=i + 1)
        fig.update_yaxes(title_text=ys[i], type="log" if ly[i] else None, row=1, col=i + 1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=60, b=50), title=title or None,
                      legend=dict(orientation="h", y=-0.25), template="plotly_white")
    return fig


def line(fig: go.Figure, x, y, name: str, *, col: int = 1, color: int | str = 0,
         dash: str | None = None, markers: bool = False, show: bool = True) -> go.Figure:
    """Add one of our curves to panel ``col``; curves sharing a ``name`` (several seeds of one
    condition) share one legend entry."""
    c = PALETTE[color % len(PALETTE)] if isinstance(color, int) else color
    show = show and not any(t.name == name and t.showlegend is not False for t in fig.data)
    fig.add_trace(go.Scatter(x=list(x), y=list(y), name=name, legendgroup=name, showlegend=show,
                             mode="lines+markers" if markers else "lines",
                             line=dict(color=c, dash=dash)), row=1, col=col)
    return fig


def paper_markers(fig: go.Figure, points: Sequence[tuple[float, float]], name: str = "paper",
                  *, col: int = 1, show: bool = True, text: Sequence[str] | None = None,
                  color: str = "black") -> go.Figure:
    """The paper's numbers as ✕ markers on panel ``col``."""
    if not points:
        return fig
    xs, ys = zip(*points)
    fig.add_trace(go.Scatter(x=list(xs), y=list(ys), name=name, legendgroup=name,
                             showlegend=show, mode="markers+text" if text else "markers",
                             text=list(text) if text else None, textposition="top center",
                             marker={**PAPER_STYLE, "color": color}), row=1, col=col)
    return fig
