"""Benign overfitting, then grokking, on XOR clusters (Xu, Wang, Frei, Vardi & Hu, "Benign
overfitting and grokking in ReLU networks for XOR cluster data", ICLR 2024, arXiv:2310.02541).

x = μ + ξ with μ drawn uniformly from {±μ₁, ±μ₂}, μ₁ ⊥ μ₂, ‖μ₁‖ = ‖μ₂‖ = ‖μ‖, and
ξ ~ N(0, I_p). The clean label is +1 on the clusters ±μ₁ and −1 on ±μ₂, so no linear
classifier does better than chance; each observed label is the clean one flipped with
probability η. Here μ₁ = ‖μ‖e₁ and μ₂ = ‖μ‖e₂ (the Gaussian noise is rotation invariant, so
this loses nothing).

Everything the network's gradient descent needs is an inner product (see ``model.py``), so a
dataset is stored as the Gram matrix of its Gaussian vectors — the noise of the train and test
points and the initial weight directions — plus their first two coordinates. For p larger than
the number of vectors N the Gram matrix of the remaining p − 2 coordinates is drawn directly
from its Wishart law (Bartlett's decomposition), which costs O(N³) instead of O(N²p) and is
exact in distribution; for smaller p the vectors themselves are drawn.

The network: 
    f(x) = Σ_j a_j ReLU(⟨w_j, x⟩),  a_j = +1/√m (j < m/2), −1/√m (j ≥ m/2), fixed;
    w_j(0) = σ·ω_j with ω_j ~ N(0, I_p); full-batch gradient descent on the logistic loss
    L = (1/n) Σ_i log(1 + exp(−y_i f(x_i))).

:class:`XorNet` and :func:`train_step` are the plain reference (the weights live in ℝ^p).

The fast path uses that gradient descent never leaves the span of the data: every gradient
∂L/∂w_j = −(1/n) Σ_i g_i y_i a_j 1[⟨w_j, x_i⟩ > 0] x_i (g_i = sigmoid(−y_i f(x_i))) is a
combination of the training points, so w_j(t) = σ·ω_j + Σ_i C_ji(t) x_i exactly, and one
step is C_ji += (lr/n) g_i y_i a_j 1[⟨w_j, x_i⟩ > 0]. Only inner products enter, so p costs
nothing per step (:class:`SpanGD`, with a leading instance axis).

One config is one network on one dataset; configs that differ only in ‖μ‖, the flip rate,
the learning rate, the initial scale or the seed train as ONE batched model (the ‖μ‖ regimes
are one sweep). Metrics are logged at every early step and then log-spaced, for a log step
axis. Test accuracy is measured against the clean test labels (``test_acc``) and against
labels flipped at the same rate (``test_acc_noisy``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.batched import per_instance
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from .experiment import headline

__all__ = ["GaussianGram", "gaussian_gram", "XorSample", "xor_sample", "xor_vectors",
           "second_layer", "XorNet", "train_step", "logistic_gradient", "SpanGD", "XorConfig", "XorTrainer",
           "summarize", "log_spaced", "EXPERIMENT", "PRESETS"]


# --------------------------------------------------------------------------- data
@dataclass
class GaussianGram:
    """N standard Gaussian vectors z_1 … z_N in ℝ^p, as inner products."""

    gram: torch.Tensor      # (N, N) float64: ⟨z_i, z_k⟩
    head: torch.Tensor      # (N, 2) float64: the first two coordinates of each z_i
    vectors: torch.Tensor | None = None   # (N, p) when drawn explicitly


def gaussian_gram(N: int, p: int, seed: int, explicit: bool | None = None) -> GaussianGram:
    """N i.i.d. N(0, I_p) vectors as a :class:`GaussianGram`; ``explicit`` (default: p ≤ N + 2)
    draws the vectors themselves."""
    if p < 3:
        raise ValueError(f"p: must be >= 3 (got {p})")
    rng = np.random.default_rng(seed)
    explicit = p <= N + 2 if explicit is None else explicit
    if explicit:
        z = torch.from_numpy(rng.standard_normal((N, p)))
        return GaussianGram(z @ z.T, z[:, :2].clone(), z)
    head = rng.standard_normal((N, 2))
    # Bartlett: A = L Lᵀ ~ Wishart_N(I, ν) with L lower triangular, L_ii² ~ χ²(ν − i),
    # L_ij ~ N(0, 1) below the diagonal (i = 0 … N−1); here ν = p − 2.
    nu = p - 2
    L = np.tril(rng.standard_normal((N, N)), -1)
    L[np.diag_indices(N)] = np.sqrt(rng.chisquare(nu - np.arange(N)))
    gram = head @ head.T + L @ L.T
    return GaussianGram(torch.from_numpy(gram), torch.from_numpy(head))


@dataclass
class XorSample:
    """One XOR dataset and the initial weights' directions, as inner products.

    Index sets: train points 0…n−1, test points n…n+n_test−1, then the m initial weight
    directions ω_j (w_j(0) = σ·ω_j). ``cluster`` ∈ {0: +μ₁, 1: −μ₁, 2: +μ₂, 3: −μ₂}.
    """

    n: int
    n_test: int
    m: int
    noise: GaussianGram
    cluster: torch.Tensor    # (n + n_test,) int64
    clean: torch.Tensor      # (n + n_test,) ±1 float64: +1 on ±μ₁, −1 on ±μ₂
    label: torch.Tensor      # (n + n_test,) ±1: clean label, flipped with probability η

    @property
    def directions(self) -> torch.Tensor:
        """u_i ∈ ℝ² (the first two coordinates) of each point's cluster mean / ‖μ‖."""
        u = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
        return u[self.cluster]

    def inner_products(self, mu_norm: float) -> dict[str, torch.Tensor]:
        """Everything gradient descent needs at ‖μ‖ = ``mu_norm``:

        ``xx`` (n+n_test, n) = ⟨x_i, x_k⟩ (every point against the training points),
        ``wx`` (m, n+n_test) = ⟨ω_j, x_i⟩, ``xmu`` (n+n_test, 2) = ⟨x_i, μ_c⟩ / ‖μ‖ and
        ``wmu`` (m, 2) = ⟨ω_j, μ_c⟩ / ‖μ‖ for c = 1, 2, and ``ww`` (m,) = ‖ω_j‖².
        """
        P = self.n + self.n_test
        G, H, u, s = self.noise.gram, self.noise.head, self.directions, float(mu_norm)
        hx = H[:P]                                     # noise heads of the points
        full = G[:P, :P] + s * s * (u @ u.T) + s * (u @ hx.T + hx @ u.T)
        return {"xx": full[:, :self.n].contiguous(),
                "wx": (G[P:, :P] + s * (H[P:] @ u.T)).contiguous(),
                "xmu": s * u + hx, "wmu": H[P:].clone(),
                "ww": G[P:, P:].diagonal().clone()}


def xor_sample(n: int, n_test: int, m: int, p: int, flip: float, seed: int,
               explicit: bool | None = None) -> XorSample:
    """Draw the train and test points (clusters, clean and flipped labels) and the noise, from
    ``seed`` (the same ``seed`` and sizes give the same data at every ‖μ‖)."""
    rng = np.random.default_rng([seed, 1])
    P = n + n_test
    cluster = torch.from_numpy(rng.integers(0, 4, P))
    clean = torch.where(cluster < 2, 1.0, -1.0).double()
    flips = torch.from_numpy(rng.random(P) < flip)
    label = torch.where(flips, -clean, clean)
    return XorSample(n, n_test, m, gaussian_gram(P + m, p, seed, explicit), cluster, clean,
                     label)


def xor_vectors(sample: XorSample, mu_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The explicit points x (n + n_test, p) and weight directions ω (m, p) of a sample drawn
    with ``explicit=True`` (for the plain reference model)."""
    z = sample.noise.vectors
    if z is None:
        raise ValueError("xor_vectors: draw the sample with explicit=True")
    P = sample.n + sample.n_test
    x = z[:P].clone()
    x[:, :2] += float(mu_norm) * sample.directions
    return x, z[P:].clone()


# --------------------------------------------------------------------------- the network
def second_layer(m: int, dtype=torch.float64) -> torch.Tensor:
    """The fixed second layer a ∈ ℝ^m: +1/√m on the first half of the neurons, −1/√m on the
    rest."""
    a = torch.full((m,), -1.0 / math.sqrt(m), dtype=dtype)
    a[: m // 2] = 1.0 / math.sqrt(m)
    return a


class XorNet(nn.Module):
    """Plain reference: f(x) = Σ_j a_j ReLU(⟨w_j, x⟩) with W (m, p) trained, a fixed."""

    def __init__(self, directions: torch.Tensor, init_scale: float):
        super().__init__()
        self.W = nn.Parameter(init_scale * directions.clone())        # (m, p)
        self.register_buffer("a", second_layer(directions.shape[0], directions.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x @ self.W.T) @ self.a


def logistic_gradient(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor,
                      y: torch.Tensor) -> torch.Tensor:
    """∂L/∂W of L = (1/n) Σ_i log(1 + exp(−y_i f(x_i))), f(x) = Σ_j a_j ReLU(⟨w_j, x⟩):
    row j is −(1/n) Σ_i sigmoid(−y_i f(x_i)) y_i a_j 1[⟨w_j, x_i⟩ > 0] x_i (ReLU'(0) = 0, as
    in torch). W (m, p), a (m,), X (n, p), y (n,) ±1."""
    H = X @ W.T                                                     # (n, m)
    f = F.relu(H) @ a
    g = torch.sigmoid(-y * f) * y                                   # (n,)
    return -((H > 0).to(X.dtype) * a * g.unsqueeze(1)).T @ X / X.shape[0]


def train_step(model: XorNet, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
    """One full-batch GD step on the logistic loss mean log(1 + e^{−y f(x)})."""
    model.zero_grad()
    loss = F.softplus(-y * model(x)).mean()
    loss.backward()
    with torch.no_grad():
        model.W -= lr * model.W.grad
    return float(loss.detach())


class SpanGD:
    """I networks trained by GD in the span of their own training points.

    ``xx`` (I, P, n): ⟨x_i, x_k⟩ of every point (train first, then test) with the n training
    points; ``wx`` (I, m, P): ⟨ω_j, x_i⟩; ``y`` (I, n) the training labels ±1; ``init_scale``
    and ``lr`` (I,). The state is C (I, m, n).
    """

    def __init__(self, xx, wx, y, init_scale, lr):
        self.xx, self.wx, self.y = xx, wx, y
        self.n = y.shape[1]
        I, m = wx.shape[:2]
        self.a = second_layer(m, xx.dtype).to(xx.device)
        self.sigma = init_scale.view(I, 1, 1).to(xx.dtype)
        self.lr = lr.view(I, 1, 1).to(xx.dtype)
        self.C = torch.zeros(I, m, self.n, dtype=xx.dtype, device=xx.device)

    def pre(self, points: slice = slice(None)) -> torch.Tensor:
        """⟨w_j, x_i⟩ (I, m, P') for the points ``points`` (default: all)."""
        return self.sigma * self.wx[:, :, points] + self.C @ self.xx[:, points].transpose(1, 2)

    def output(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.einsum("j,ijp->ip", self.a, F.relu(pre))

    def step(self) -> None:
        h = self.pre(slice(0, self.n))                                # (I, m, n)
        g = torch.sigmoid(-self.y * self.output(h)) * self.y           # (I, n)
        self.C += (self.lr / self.n) * (h > 0) * self.a.view(1, -1, 1) * g.unsqueeze(1)


# --------------------------------------------------------------------------- the experiment
def log_spaced(steps: int, per_decade: int, log_every: int) -> set[int]:
    """0 … 10, then ``per_decade`` log-spaced steps per decade, every ``log_every``-th step,
    and the last."""
    out = set(range(0, min(steps, 10) + 1)) | set(range(0, steps, log_every)) | {steps}
    if steps > 10:
        k = np.arange(per_decade, int(math.ceil(math.log10(steps) * per_decade)) + 1)
        out |= {int(round(v)) for v in 10 ** (k / per_decade) if v <= steps}
    return out


@dataclass
class XorConfig(TrainConfig):
    """Defaults: the sheet's working setting (n = 200, m = 200, flip rate 0.1, init σ 1e-6,
    lr 16n/p) at p = 10⁵ and ‖μ‖ = p^0.3."""

    p: int = field(100_000, "input dimension", ge=3)
    n: int = field(200, "training points", ge=2)
    n_test: int = field(1000, "test points", ge=1)
    m: int = field(200, "hidden neurons (even: half with a = +1/√m, half −1/√m)", ge=2)
    mu_norm: float = field(31.62, "‖μ‖, the norm of the cluster means", gt=0, batchable=True)
    flip: float = field(0.1, "share η of labels flipped (train and noisy test)", ge=0, lt=0.5,
                        batchable=True)
    init_scale: float = field(1e-6, "σ: initial weights w_j(0) ~ N(0, σ² I)", gt=0,
                              batchable=True)
    lr: Optional[float] = field(None, "GD learning rate (None: 16·n/p)", gt=0, batchable=True)
    steps: int = field(1000, "full-batch gradient-descent steps", ge=1)
    log_every: int = field(1000, "also log every this many steps (besides the log-spaced ones)",
                           ge=1)
    logs_per_decade: int = field(12, "log-spaced logs per decade of steps", ge=1)
    seed: int = field(0, "seed of the data, the flips and the initial weights", ge=0,
                      batchable=True)

    def check(self):
        if self.m % 2:
            raise ConfigError(f"m: must be even (half the neurons have a = +1/√m; got {self.m})")

    @property
    def step_size(self) -> float:
        return 16.0 * self.n / self.p if self.lr is None else self.lr

    def log_steps(self) -> set[int]:
        return log_spaced(self.steps, self.logs_per_decade, self.log_every)


class XorTrainer(BatchedTrainer):
    """Trains I configs sharing p, n, n_test and m as one batched model (GD in the span)."""

    def __init__(self, configs: list[XorConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device = configs, len(configs), device
        self.n_train = c0.n
        cache, parts = {}, []
        for c in configs:
            key = (c.seed, c.flip)
            sample = cache.get(key) or cache.setdefault(
                key, xor_sample(c.n, c.n_test, c.m, c.p, c.flip, c.seed))
            parts.append((sample, sample.inner_products(c.mu_norm)))
        stack = lambda k: torch.stack([ip[k] for _, ip in parts]).to(device)  # noqa: E731
        self.xmu, self.wmu, self.ww = stack("xmu"), stack("wmu"), stack("ww")
        self.label = torch.stack([s.label for s, _ in parts]).to(device)      # (I, P)
        self.clean = torch.stack([s.clean for s, _ in parts]).to(device)
        self.gd = SpanGD(stack("xx"), stack("wx"), self.label[:, :c0.n],
                         per_instance([c.init_scale for c in configs], dtype=torch.float64),
                         per_instance([c.step_size for c in configs], dtype=torch.float64))

    def step(self, step: int) -> None:
        self.gd.step()

    def state_dict(self) -> dict:
        return {"C": self.gd.C.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.gd.C.copy_(state["C"])

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        gd, n = self.gd, self.n_train
        h = gd.pre()                                                    # (I, m, P)
        f = gd.output(h)                                                # (I, P)
        y, clean = self.label, self.clean
        ok = (torch.sign(f) == y).double()
        flipped = (y != clean)[:, :n].double()
        tr_ok, te = ok[:, :n], slice(n, None)
        # weights' geometry: ‖w_j‖² and ⟨w_j, μ_c⟩/‖μ‖ from the span coefficients
        sig = gd.sigma[:, :, 0]
        x_tr = gd.xx[:, :n]                                             # (I, n, n)
        norm2 = (sig ** 2) * self.ww + 2 * sig * (gd.C * gd.wx[:, :, :n]).sum(-1) \
            + ((gd.C @ x_tr) * gd.C).sum(-1)
        proj = sig.unsqueeze(-1) * self.wmu + gd.C @ self.xmu[:, :n]      # (I, m, 2)
        cos = (proj / norm2.clamp(min=1e-300).sqrt().unsqueeze(-1)).abs()
        pos = (gd.a > 0).view(1, -1, 1).double()
        cos_pos = (cos * pos).sum(1) / pos.sum(1)                        # (I, 2)
        cos_neg = (cos * (1 - pos)).sum(1) / (1 - pos).sum(1)
        lin = torch.einsum("j,ijp->ip", gd.a, h[:, :, te])             # the linear part
        ft = f[:, te]
        fc, lc = ft - ft.mean(1, keepdim=True), lin - lin.mean(1, keepdim=True)
        linearity = (fc * lc).sum(1) / (fc.norm(dim=1) * lc.norm(dim=1)).clamp(min=1e-300)
        cols = {
            "train_loss": torch.nn.functional.softplus(-y[:, :n] * f[:, :n]).mean(1),
            "train_acc": tr_ok.mean(1),
            "flipped_fit": (tr_ok * flipped).sum(1) / flipped.sum(1).clamp(min=1),
            "clean_fit": (tr_ok * (1 - flipped)).sum(1) / (1 - flipped).sum(1).clamp(min=1),
            "test_acc": (torch.sign(f[:, te]) == clean[:, te]).double().mean(1),
            "test_acc_noisy": ok[:, te].mean(1),
            "align_pos_mu1": cos_pos[:, 0], "align_pos_mu2": cos_pos[:, 1],
            "align_neg_mu1": cos_neg[:, 0], "align_neg_mu2": cos_neg[:, 1],
            "linearity": linearity,
            "weight_norm": norm2.sum(1).sqrt(),
        }
        table = torch.stack(list(cols.values()), 1).cpu().tolist()
        return [dict(zip(cols, row)) for row in table]


def _at(metrics: pd.DataFrame, step: int, col: str):
    row = metrics.loc[metrics["step"] == step, col]
    return None if row.empty else float(row.iloc[0])


def summarize(cfg: XorConfig, metrics: pd.DataFrame) -> dict:
    """Step 1 against the end: the benign-overfitting and grokking numbers of one run."""
    last = metrics.iloc[-1]
    hit = metrics.loc[metrics["test_acc"] >= 0.9, "step"]
    return {
        "train_acc_step1": _at(metrics, 1, "train_acc"),
        "test_acc_step1": _at(metrics, 1, "test_acc"),
        "flipped_fit_step1": _at(metrics, 1, "flipped_fit"),
        "final_train_acc": float(last["train_acc"]), "final_test_acc": float(last["test_acc"]),
        "final_test_acc_noisy": float(last["test_acc_noisy"]),
        "final_flipped_fit": float(last["flipped_fit"]),
        "min_flipped_fit_after_step1": float(metrics.loc[metrics["step"] >= 1,
                                                         "flipped_fit"].min()),
        "step_test_acc_0.9": None if hit.empty else int(hit.iloc[0]),
        "mu_exponent": math.log(cfg.mu_norm) / math.log(cfg.p),
        "lr": cfg.step_size, "steps": cfg.steps,
    }


PRESETS = {
    "quick": dict(p=100_000, mu_norm=round(100_000 ** 0.3, 2), steps=1000, log_every=1000),
    "full": dict(p=100_000, mu_norm=round(100_000 ** 0.3, 2), steps=10_000, log_every=1000),
}

def memory(configs: list[XorConfig]) -> dict[str, float]:
    """Bytes the batched model needs (core/memory.py): the Gram matrix of the N = n + n_test
    + m Gaussian vectors (or, for p ≤ N + 2, the vectors) grows with n_test, the per-instance
    inner products and coefficients with m."""
    c, k = configs[0], len(configs)
    P, N = c.n + c.n_test, c.n + c.n_test + c.m
    gram = 3 * N * N * 8 + (N * c.p * 8 if c.p <= N + 2 else 0)
    per = k * (P * c.n + 3 * c.m * P + 2 * c.m * c.n) * 8
    return {"n_test": gram + k * P * c.n * 8, "m": per}


EXPERIMENT = register(Experiment(
    name="xor-grokking", config_cls=XorConfig, make_trainer=XorTrainer, summarize=summarize,
    presets=PRESETS, headline=headline, memory=memory,
    description="Two-layer ReLU network on XOR clusters with flipped labels: it fits every "
                "label after one GD step (test ≈ chance), then generalises while the flips stay "
                "fitted (Xu, Wang, Frei, Vardi & Hu, ICLR 2024)."))
