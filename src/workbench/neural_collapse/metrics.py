"""Neural-collapse metrics, one convention, streamed over batches.

Notation: C classes, penultimate features h ∈ ℝ^d, class means μ_c, M = [μ̃_1 … μ̃_C] with
μ̃_c = μ_c − μ_G. **Convention: μ_G is the mean of the class means** (equal to the sample mean
for balanced data; under imbalance it keeps every class's weight equal, so minority classes
are not pulled to the centre). Σ_B = (1/C) Σ_c μ̃_c μ̃_cᵀ, Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(…)ᵀ.
Classifier W ∈ ℝ^{C×d} (rows w_c), optional bias b.

Everything accepts a leading *instance* axis (features (I, n, d), labels (I, n) or (n,),
classifier (I, C, d)) and a ``mask`` (I, n) of real (non-padding) samples. An
:class:`NCAccumulator` makes two streaming passes (class means, then spreads), so a large
dataset never has to sit in memory; :func:`nc_metrics` is the one-call entry point.
Degenerate geometry (all class means at the centre, e.g. the trivial W = H = 0 solution of a
too-strongly regularised model) gives NaN, never a misleading 0.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

__all__ = ["NCAccumulator", "nc_metrics", "nc_metrics_stream", "geometry", "simplex_etf",
           "NC_KEYS", "LINGUISTIC_KEYS"]

NC_KEYS = ("nc1", "equinorm_means", "equinorm_classifier", "equiangular_std",
           "equiangular_max_dev", "nc3", "nc4")
LINGUISTIC_KEYS = ("cdnv", "gnc2", "unc3", "unc3_mean", "ncc_agreement", "equinorm_log_var")
_EPS = 1e-30


def simplex_etf(C: int, d: int | None = None, scale: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """C class means (C, d) forming a simplex equiangular tight frame: equal norms ``scale``
    and pairwise cosine −1/(C−1). Needs d ≥ C − 1; a random orthonormal embedding of the
    centred identity (I − 11ᵀ/C) rotates it into ℝ^d."""
    d = C if d is None else d
    if d < C - 1:
        raise ValueError(f"d: a simplex ETF of {C} classes needs d >= {C - 1} (got {d})")
    base = torch.eye(C, dtype=torch.float64) - 1.0 / C               # (C, C), rank C − 1
    u, s, _ = torch.linalg.svd(base)
    coords = u[:, : C - 1] * s[: C - 1]                               # (C, C−1), same Gram
    q, _ = torch.linalg.qr(torch.randn(d, C - 1, dtype=torch.float64, generator=generator))
    etf = coords @ q.T                                                # (C, d)
    return etf / etf.norm(dim=1, keepdim=True) * scale


class NCAccumulator:
    """Two streaming passes over (features, labels) batches, with an instance axis.

    >>> acc = NCAccumulator(n_classes=10)
    >>> for h, y in batches(): acc.add_means(h, y)        # pass 1: class sums and counts
    >>> for h, y in batches(): acc.add_spread(h, y, W, b)  # pass 2: Σ_W, σ_c², NC4
    >>> acc.result()                                       # {"nc1": tensor (I,), ...}

    Sums are kept in float64. No per-class d×d covariance is stored: only the pooled Σ_W
    (d×d) and the per-class variances σ_c² = mean_i ‖h_{c,i} − μ_c‖² (for CDNV).
    """

    def __init__(self, n_classes: int, min_count: int = 1):
        self.C, self.min_count = n_classes, min_count
        self.sums = self.counts = self.sigma_w = self.var_c = None
        self.disagree = self.correct = self.seen = None
        self.means = None

    @staticmethod
    def _shape(h, y, mask):
        if h.dim() == 2:
            h = h[None]
        y = y.expand(h.shape[0], -1) if y.dim() == 1 else y
        if mask is None:
            mask = torch.ones(y.shape, dtype=torch.bool, device=h.device)
        elif mask.dim() == 1:
            mask = mask.expand(h.shape[0], -1)
        return h.detach().double(), y, mask.bool()

    def _onehot(self, y, mask):
        oh = torch.zeros(*y.shape, self.C, dtype=torch.float64, device=y.device)
        oh.scatter_(-1, y.unsqueeze(-1), 1.0)
        return oh * mask.unsqueeze(-1)

    @torch.no_grad()
    def add_means(self, h, y, mask=None) -> None:
        """Pass 1: accumulate per-class sums and counts of a batch."""
        h, y, mask = self._shape(h, y, mask)
        oh = self._onehot(y, mask)                                    # (I, n, C)
        s, c = oh.transpose(1, 2) @ h, oh.sum(1)                       # (I, C, d), (I, C)
        self.sums = s if self.sums is None else self.sums + s
        self.counts = c if self.counts is None else self.counts + c

    @torch.no_grad()
    def finish_means(self) -> torch.Tensor:
        """Class means (I, C, d) after pass 1 (classes never seen: 0, and excluded)."""
        self.means = self.sums / self.counts.clamp(min=1).unsqueeze(-1)
        return self.means

    @torch.no_grad()
    def add_spread(self, h, y, W=None, b=None, mask=None) -> None:
        """Pass 2: within-class scatter, per-class variances and the NC4 / accuracy counts."""
        if self.means is None:
            self.finish_means()
        h, y, mask = self._shape(h, y, mask)
        I, n, d = h.shape
        mu_y = torch.gather(self.means, 1, y.unsqueeze(-1).expand(I, n, d))
        r = (h - mu_y) * mask.unsqueeze(-1)                            # (I, n, d)
        sw = r.transpose(1, 2) @ r                                      # (I, d, d)
        vc = self._onehot(y, mask).transpose(1, 2) @ (r * r).sum(-1, keepdim=True)
        self.sigma_w = sw if self.sigma_w is None else self.sigma_w + sw
        self.var_c = vc[..., 0] if self.var_c is None else self.var_c + vc[..., 0]
        seen = mask.sum(1).double()
        self.seen = seen if self.seen is None else self.seen + seen
        if W is None:
            return
        W = W.detach().double()
        W = W[None] if W.dim() == 2 else W
        logits = h @ W.transpose(1, 2)
        if b is not None:
            b = b.detach().double()
            logits = logits + (b[None] if b.dim() == 1 else b).unsqueeze(1)
        valid = self.counts >= self.min_count                          # (I, C)
        dist = torch.cdist(h, self.means)                              # (I, n, C)
        dist = dist.masked_fill(~valid.unsqueeze(1), math.inf)
        pred, ncc = logits.argmax(-1), dist.argmin(-1)
        dis = ((pred != ncc) & mask).sum(1).double()
        cor = ((pred == y) & mask).sum(1).double()
        self.disagree = dis if self.disagree is None else self.disagree + dis
        self.correct = cor if self.correct is None else self.correct + cor
        self.W, self.b = W, b

    @torch.no_grad()
    def result(self, linguistic: bool = False) -> dict[str, torch.Tensor]:
        """Metrics per instance, each a float64 tensor of shape (I,)."""
        if self.sums is None or self.sigma_w is None:
            raise RuntimeError("NCAccumulator: run add_means and add_spread passes first")
        I = self.sums.shape[0]
        out: dict[str, list[float]] = {}
        W = getattr(self, "W", None)
        for i in range(I):
            valid = self.counts[i] >= self.min_count
            row = geometry(self.means[i][valid], None if W is None else W[i][valid],
                           self.sigma_w[i] / self.seen[i].clamp(min=1),
                           self.var_c[i][valid] / self.counts[i][valid].clamp(min=1),
                           linguistic=linguistic)
            if W is not None:
                row["nc4"] = float(self.disagree[i] / self.seen[i].clamp(min=1))
                row["ncc_agreement"] = 1.0 - row["nc4"]
                row["accuracy"] = float(self.correct[i] / self.seen[i].clamp(min=1))
            for k, v in row.items():
                out.setdefault(k, []).append(v)
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}


def _cov(x: torch.Tensor) -> float:
    """Coefficient of variation std/mean (population std)."""
    m = x.mean()
    return float(x.std(unbiased=False) / m) if m > _EPS else math.nan


def _offdiag(a: torch.Tensor) -> torch.Tensor:
    C = a.shape[0]
    return a[~torch.eye(C, dtype=torch.bool, device=a.device)]


def geometry(means: torch.Tensor, W: torch.Tensor | None, sigma_w: torch.Tensor,
             var_c: torch.Tensor | None = None, linguistic: bool = False) -> dict[str, float]:
    """The class-level metrics of one instance from its class means (C, d), classifier (C, d),
    pooled within-class covariance Σ_W (d, d) and per-class variances σ_c² (C,).

    - ``nc1`` = Tr(Σ_W Σ_B⁺)/C (Papyan, Han & Donoho 2020, PNAS; /C as in tding1 and
      rhubarbwu); ``nc1_quotient`` = Tr Σ_W / Tr Σ_B (Tirer et al. 2023).
    - ``equinorm_means`` / ``equinorm_classifier`` = std_c ‖μ̃_c‖ / mean_c ‖μ̃_c‖ (and of ‖w_c‖).
    - ``equiangular_std`` = std over c ≠ c′ of cos(μ̃_c, μ̃_c′); ``equiangular_max_dev`` =
      mean over c ≠ c′ of |cos + 1/(C−1)| (Papyan et al. 2020).
    - ``etf_error`` = ‖G/‖G‖_F − (I − 11ᵀ/C)/√(C−1)‖_F, G = MᵀM.
    - ``nc3`` = ‖Wᵀ/‖W‖_F − M/‖M‖_F‖_F² (self-duality, Papyan et al. 2020).
    - ``cdnv`` = mean over i ≠ j of (σ_i² + σ_j²)/(2‖μ_i − μ_j‖²) — Galanti et al. 2022,
      distance exponent 1 (squared distance; Wu & Papyan's analysis uses ‖·‖⁴).
    - ``gnc2`` = Var over i < j of log(1/‖μ̂_i − μ̂_j‖), μ̂ = μ̃/‖μ̃‖ (hyperspherical
      uniformity, Liu et al. 2023); ``equinorm_log_var`` = Var_c log‖μ̃_c‖.
    - ``unc3`` = Var_c cos(w_c, μ̃_c) (diagonal cosines; Wu & Papyan 2024), ``unc3_mean``
      their mean.
    """
    C = means.shape[0]
    nan = math.nan
    M = means - means.mean(0, keepdim=True)                            # (C, d) rows μ̃_c
    norms = M.norm(dim=1)
    out: dict[str, float] = {}
    degenerate = C < 2 or float(norms.max()) <= 1e-12 * max(1.0, float(means.abs().max()))
    if degenerate:
        for k in ("nc1", "nc1_quotient", "equinorm_means", "equiangular_std",
                  "equiangular_max_dev", "etf_error", "nc3", "cdnv", "gnc2", "unc3",
                  "unc3_mean", "equinorm_log_var"):
            out[k] = nan
        out["equinorm_classifier"] = _cov(W.norm(dim=1)) if W is not None else nan
        return out
    sigma_b = M.T @ M / C
    out["nc1"] = float(torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, hermitian=True)) / C)
    out["nc1_quotient"] = float(torch.trace(sigma_w) / torch.trace(sigma_b))
    out["equinorm_means"] = _cov(norms)
    unit = M / norms.clamp(min=_EPS).unsqueeze(1)
    cos = _offdiag(unit @ unit.T)
    out["equiangular_std"] = float(cos.std(unbiased=False))
    out["equiangular_max_dev"] = float((cos + 1.0 / (C - 1)).abs().mean())
    G = M @ M.T
    target = (torch.eye(C, dtype=G.dtype, device=G.device) - 1.0 / C) / math.sqrt(C - 1)
    out["etf_error"] = float((G / G.norm() - target).norm())
    if W is not None:
        out["equinorm_classifier"] = _cov(W.norm(dim=1))
        wn = W.norm()
        out["nc3"] = float((W / wn - M / M.norm()).pow(2).sum()) if wn > _EPS else nan
        wu = W / W.norm(dim=1, keepdim=True).clamp(min=_EPS)
        diag = (wu * unit).sum(1)
        out["unc3"] = float(diag.var(unbiased=False))
        out["unc3_mean"] = float(diag.mean())
    else:
        out["equinorm_classifier"] = out["nc3"] = out["unc3"] = out["unc3_mean"] = nan
    out["equinorm_log_var"] = float(norms.clamp(min=_EPS).log().var(unbiased=False))
    iu = torch.triu_indices(C, C, 1, device=M.device)
    pair = (unit[iu[0]] - unit[iu[1]]).norm(dim=1).clamp(min=1e-12)
    out["gnc2"] = float((-pair.log()).var(unbiased=False))
    if var_c is not None:
        d2 = torch.cdist(means, means).pow(2)
        v = (var_c[:, None] + var_c[None, :]) / (2 * d2.clamp(min=_EPS))
        out["cdnv"] = float(_offdiag(v).mean())
    else:
        out["cdnv"] = nan
    return out


def nc_metrics_stream(batches: Callable[[], Iterable], n_classes: int, classifier_weight=None,
                      classifier_bias=None, min_count: int = 1,
                      linguistic: bool = False) -> dict[str, torch.Tensor]:
    """NC metrics from a *callable* returning a fresh iterator of ``(features, labels)`` or
    ``(features, labels, mask)`` batches (called twice: one pass for the class means, one for
    the spreads). Classes with fewer than ``min_count`` samples are left out of the
    class-level metrics. Returns tensors of shape (I,) (I = 1 without an instance axis)."""
    acc = NCAccumulator(n_classes, min_count)
    for batch in batches():
        acc.add_means(*batch[:2], mask=batch[2] if len(batch) > 2 else None)
    acc.finish_means()
    for batch in batches():
        acc.add_spread(batch[0], batch[1], classifier_weight, classifier_bias,
                       mask=batch[2] if len(batch) > 2 else None)
    return acc.result(linguistic=linguistic)


def nc_metrics(features: torch.Tensor, labels: torch.Tensor, classifier_weight: torch.Tensor,
               classifier_bias: torch.Tensor | None = None, *, n_classes: int | None = None,
               mask: torch.Tensor | None = None, batch_size: int = 4096, min_count: int = 1,
               linguistic: bool = False):
    """The neural-collapse metrics of penultimate ``features`` (N, d) with integer ``labels``
    (N,) and the last layer's ``classifier_weight`` (C, d) (and bias (C,)).

    Returns a dict of floats with keys ``nc1, equinorm_means, equinorm_classifier,
    equiangular_std, equiangular_max_dev, nc3, nc4`` (all → 0 under collapse) plus
    ``nc1_quotient, etf_error, cdnv, gnc2, unc3, unc3_mean, equinorm_log_var,
    ncc_agreement, accuracy``. With a leading instance axis ((I, N, d), (I, C, d)) every
    value is a tensor of shape (I,) instead. Streams over ``batch_size`` samples at a time.
    See :func:`geometry` for the formulas and papers.
    """
    batched = features.dim() == 3
    C = n_classes or (classifier_weight.shape[-2] if classifier_weight is not None
                      else int(labels.max()) + 1)
    n = features.shape[-2]

    def batches():
        for s in range(0, n, batch_size):
            sl = slice(s, s + batch_size)
            yield (features[..., sl, :], labels[..., sl],
                   None if mask is None else mask[..., sl])

    res = nc_metrics_stream(batches, C, classifier_weight, classifier_bias, min_count,
                            linguistic)
    return res if batched else {k: float(v[0]) for k, v in res.items()}
