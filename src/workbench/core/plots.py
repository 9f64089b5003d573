"""Plotly figure helpers shared by notebooks, dashboards and the CLI.

Every function takes plain data (a metrics DataFrame from the run store, a summary table,
a tensor) and returns a ``plotly.graph_objects.Figure``; axes come from the stored ``step``
column, never from an assumed logging interval.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

__all__ = ["curves", "heatmap", "categorical_heatmap", "bars", "use_notebook_renderer",
           "LABELS", "PHASE_COLORS"]

LABELS = {
    "train_acc": "train accuracy", "test_acc": "test accuracy", "train_loss": "train loss",
    "test_loss": "test loss", "sc_fraction": "Softmax Collapse fraction (train)",
    "zero_loss_fraction": "zero-loss fraction", "nlm_cosine": "cos(−∇L, θ)",
    "weight_norm": "‖θ‖", "fourier_top5": "Fourier power in top-5 freqs",
}

PHASE_COLORS = {"no-learn": "#9e9e9e", "memorise": "#e15759", "grok": "#f28e2b",
                "generalise": "#59a14f"}


def use_notebook_renderer() -> None:
    """Render figures so they survive papermill and nbconvert HTML export."""
    pio.renderers.default = "plotly_mimetype+notebook"


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def curves(metrics, y, *, color: str | None = "instance", names: dict | None = None,
           log_x: bool = False, log_y=(), title: str | None = None, cols: int = 2,
           height_per_row: int = 260) -> go.Figure:
    """Learning curves: one panel per metric in ``y``, one line per value of ``color``.

    ``metrics`` is a DataFrame with a ``step`` column (a run's or a sweep's metrics);
    ``names`` maps a ``color`` value to a legend name; ``log_y`` lists metrics on a log axis.
    """
    y = [y] if isinstance(y, str) else list(y)
    rows = (len(y) + cols - 1) // cols
    ncols = min(cols, len(y))
    fig = make_subplots(rows=rows, cols=ncols, subplot_titles=[_label(m) for m in y],
                        horizontal_spacing=0.08, vertical_spacing=min(0.18, 0.6 / rows) if rows > 1 else 0.1)
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
               "#ff9da7", "#9c755f", "#bab0ac"]
    groups = [(None, metrics)] if color is None or color not in metrics else \
        list(metrics.groupby(color, sort=False))
    for gi, (key, frame) in enumerate(groups):
        name = (names or {}).get(key, f"{color}={key}" if key is not None else "run")
        for k, m in enumerate(y):
            fig.add_trace(go.Scatter(x=frame["step"], y=frame[m], mode="lines", name=str(name),
                                     legendgroup=str(name), showlegend=k == 0,
                                     line=dict(color=palette[gi % len(palette)])),
                          row=k // ncols + 1, col=k % ncols + 1)
    for k, m in enumerate(y):
        r, c = k // ncols + 1, k % ncols + 1
        fig.update_xaxes(title_text="step", type="log" if log_x else "linear", row=r, col=c)
        if m in log_y:
            fig.update_yaxes(type="log", row=r, col=c)
    fig.update_layout(height=height_per_row * rows + 80, title=title, template="plotly_white",
                      margin=dict(l=50, r=20, t=60 if title else 40, b=40),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def heatmap(table, x: str, y: str, z: str, *, title: str | None = None, log_x=False,
            log_y=False, colorscale="Viridis", zmin=None, zmax=None, fmt=".2f") -> go.Figure:
    """A heat-map of column ``z`` over the grid of columns ``x`` × ``y`` of a summary table."""
    piv = table.pivot_table(index=y, columns=x, values=z, aggfunc="mean")
    fig = go.Figure(go.Heatmap(z=piv.values, x=[str(v) for v in piv.columns],
                               y=[str(v) for v in piv.index], colorscale=colorscale, zmin=zmin,
                               zmax=zmax, texttemplate="%{z:" + fmt + "}",
                               colorbar=dict(title=_label(z))))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white")
    return fig


def _fmt(v) -> str:
    """A table value for a tooltip: 3 significant digits, "—" for a missing one."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def categorical_heatmap(table, x: str, y: str, category: str, colors: dict[str, str],
                        *, hover: list[str] = (), title: str | None = None) -> go.Figure:
    """A grid of cells coloured by a categorical column (e.g. a phase), with a legend entry
    per category and ``hover`` columns in the tooltip. Each cell's ``customdata`` holds its
    row index in ``table``, so a click can be mapped back to the run (Panel's Plotly pane
    drops heat-map ``customdata`` from click events, so dashboards map the clicked x/y labels
    back instead)."""
    cats = list(colors)
    xs = sorted(table[x].unique())
    ys = sorted(table[y].unique())
    code = {c: i for i, c in enumerate(cats)}
    z = [[None] * len(xs) for _ in ys]
    custom = [[None] * len(xs) for _ in ys]
    text = [[""] * len(xs) for _ in ys]
    for idx, row in table.iterrows():
        i, j = ys.index(row[y]), xs.index(row[x])
        z[i][j] = code.get(row[category])
        custom[i][j] = int(idx)
        text[i][j] = "<br>".join([f"{category}: {row[category]}"] +
                                 [f"{h}: {_fmt(row[h])}" for h in hover])
    n = len(cats)
    scale = []
    for i, c in enumerate(cats):
        scale += [[i / n, colors[c]], [(i + 1) / n, colors[c]]]
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in xs], y=[str(v) for v in ys],
                               customdata=custom, text=text, hoverinfo="text",
                               hovertemplate="%{text}<extra></extra>", colorscale=scale,
                               zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=2, ygap=2))
    for c in cats:  # legend
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=c,
                                 marker=dict(size=12, color=colors[c], symbol="square")))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      xaxis=dict(type="category"), yaxis=dict(type="category"),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def bars(x, y, *, title: str | None = None, xlabel: str = "", ylabel: str = "",
         highlight=(), color="#4e79a7", highlight_color="#e15759") -> go.Figure:
    """A bar chart with some bars (those whose x is in ``highlight``) in another colour."""
    x = list(x)
    colors = [highlight_color if v in set(highlight) else color for v in x]
    fig = go.Figure(go.Bar(x=x, y=list(y), marker_color=colors))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel,
                      template="plotly_white", bargap=0.1)
    return fig
