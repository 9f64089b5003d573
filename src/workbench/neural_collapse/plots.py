"""Chapter figures: NC curves on log scale, the 3-D class-mean geometry against the simplex
ETF, minority-collapse and linguistic-collapse summaries. NC1 is Tr(Σ_W Σ_B⁺)/C throughout."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from ..core.plots import LABELS, curves
from .metrics import simplex_etf

__all__ = ["nc_figure", "geometry_3d", "class_means", "minority_figure", "lm_figure",
           "NC_LABELS"]

NC_LABELS = {
    "nc1": "NC1 = Tr(Σ_W Σ_B⁺)/C", "equinorm_means": "equinorm: CoV of ‖μ̃_c‖",
    "equinorm_classifier": "equinorm: CoV of ‖w_c‖", "equiangular_std": "std of cos(μ̃_c, μ̃_c′)",
    "equiangular_max_dev": "mean |cos + 1/(C−1)|", "nc3": "NC3 ‖W/‖W‖ − M/‖M‖‖²",
    "nc4": "NC4: classifier ≠ nearest mean", "cdnv": "CDNV", "gnc2": "GNC2 (log-kernel var)",
    "unc3": "UNC3 Var cos(w_c, μ̃_c)", "ncc_agreement": "NCC agreement",
    "minority_cos": "cos between minority classifiers", "val_loss": "validation loss",
}
LABELS.update({k: v for k, v in NC_LABELS.items() if k not in LABELS})

NC_CURVES = ("train_acc", "nc1", "equiangular_std", "equinorm_means", "nc3", "nc4")


def nc_figure(metrics, names=None, title=None, y=NC_CURVES) -> go.Figure:
    """NC metrics over training (log scale; zeros drop off a log axis) for a run or a sweep."""
    log = [k for k in y if k not in ("train_acc", "test_acc", "ncc_agreement")]
    return curves(metrics, list(y), names=names, log_y=log, title=title)


def class_means(features: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Centred class means (C, d) (centred at the mean of the class means)."""
    f = features.double()
    mu = torch.stack([f[labels == c].mean(0) for c in range(n_classes)])
    return mu - mu.mean(0)


def _project3(M: np.ndarray) -> np.ndarray:
    """The centred means' coordinates in their top-3 principal directions, scaled to unit
    mean norm."""
    u, s, vt = np.linalg.svd(M, full_matrices=False)
    P = M @ vt[:3].T
    if P.shape[1] < 3:
        P = np.pad(P, ((0, 0), (0, 3 - P.shape[1])))
    return P / np.linalg.norm(P, axis=1).mean()


def _aligned_etf(M: np.ndarray) -> np.ndarray:
    """The simplex ETF (C, d) closest to M in the Procrustes sense, same mean norm."""
    C, d = M.shape
    E = simplex_etf(C, max(d, C - 1)).numpy()[:, :d] if d >= C - 1 else None
    if E is None:
        return None
    u, _, vt = np.linalg.svd(E.T @ M)
    R = u @ vt
    E = E @ R
    return E * np.linalg.norm(M, axis=1).mean()


def geometry_3d(means: torch.Tensor, classes=(0, 1, 2, 3), title=None) -> go.Figure:
    """Four (by default) class means against the simplex ETF, in 3-D.

    The centred means of ``classes`` (re-centred among themselves) are drawn as a
    tetrahedron in their own 3-D span; the dashed shape is the regular simplex (all pairwise
    cosines −1/3) best aligned to them (Procrustes). Collapse = the two coincide.
    """
    M = means.detach().double().cpu().numpy()[list(classes)]
    M = M - M.mean(0)
    P = _project3(M)
    k = len(classes)
    E = _aligned_etf(P)
    fig = go.Figure()
    edges = [(i, j) for i in range(k) for j in range(i + 1, k)]

    def add(pts, name, color, dash, marker):
        xs, ys, zs = [], [], []
        for i, j in edges:
            xs += [pts[i, 0], pts[j, 0], None]
            ys += [pts[i, 1], pts[j, 1], None]
            zs += [pts[i, 2], pts[j, 2], None]
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name=name,
                                   line=dict(color=color, dash=dash, width=5)))
        fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers+text",
                                   text=[str(c) for c in classes], showlegend=False,
                                   marker=dict(size=marker, color=color)))
        fig.add_trace(go.Scatter3d(x=[0] * k + [None] * k, y=[0] * k, z=[0] * k,
                                   mode="lines", showlegend=False, hoverinfo="skip",
                                   line=dict(color=color, width=1)))

    add(P, "class means", "#4e79a7", "solid", 6)
    if E is not None:
        add(E, "simplex ETF", "#e15759", "dash", 4)
    u = P / np.linalg.norm(P, axis=1, keepdims=True)
    cos = (u @ u.T)[np.triu_indices(k, 1)]
    fig.update_layout(title=title or f"class means vs simplex ETF — cosines {cos.min():.2f}…"
                      f"{cos.max():.2f} (ETF: {-1 / (k - 1):.2f})",
                      template="plotly_white", height=480, margin=dict(l=0, r=0, t=50, b=0),
                      scene=dict(aspectmode="data"))
    return fig


def minority_figure(summary, x="imbalance") -> go.Figure:
    """Minority collapse: cosines between minority / majority classifiers and their norm ratio
    against the imbalance ratio R."""
    s = summary.sort_values(x)
    fig = go.Figure()
    for col, name in (("final_minority_cos", "cos between minority classifiers"),
                      ("final_majority_cos", "cos between majority classifiers"),
                      ("final_minor_major_norm", "‖w_minor‖ / ‖w_major‖")):
        fig.add_trace(go.Scatter(x=s[x], y=s[col], mode="lines+markers", name=name))
    fig.add_hline(y=-1 / 9, line_dash="dot", annotation_text="−1/(C−1)")
    fig.update_layout(xaxis_type="log", xaxis_title="imbalance ratio R", template="plotly_white",
                      title="minority collapse", legend=dict(orientation="h", y=-0.2))
    return fig


def lm_figure(metrics, names=None, title=None) -> go.Figure:
    """Linguistic collapse: validation loss and the NC measures that survive C > d."""
    return curves(metrics, ["val_loss", "cdnv", "gnc2", "unc3", "nc1", "ncc_agreement"],
                  names=names, log_y=("cdnv", "gnc2", "unc3", "nc1"), title=title)


# --------------------------------------------------------------------------- fixed classifiers
def pair_cosines_figure(sets: dict, welch: float | None = None, title: str | None = None
                        ) -> go.Figure:
    """|cos| between every pair of class vectors, one strip per named set (name → (K, d)
    tensor), with the Welch bound as a dashed line."""
    fig = go.Figure()
    for name, E in sets.items():
        u = torch.nn.functional.normalize(E.double(), dim=1)
        iu = torch.triu_indices(len(u), len(u), 1)
        c = (u @ u.T)[iu[0], iu[1]].abs().numpy()
        fig.add_trace(go.Box(y=c, name=name, boxpoints="all", jitter=0.4, pointpos=0,
                             marker=dict(size=4), line=dict(width=1)))
    if welch is not None:
        fig.add_hline(y=welch, line=dict(dash="dash", color="#555"),
                      annotation_text=f"Welch bound {welch:.3f}", annotation_position="top left")
    fig.update_layout(template="plotly_white", title=title, height=360, showlegend=False,
                      yaxis_title="|cos| between two class vectors", yaxis_range=[0, 1.02])
    return fig


__all__ += ["pair_cosines_figure"]
