"""Gradient estimators for ∇_θ E_{z~Cat(softmax θ)}[f(z)] and the ``gumbel-estimators``
experiment: bias and variance of each estimator against the exact gradient (enumeration over
the K categories), one τ per instance of a batched run.

Estimators (one estimate per sample, or per group of ``loo_group`` samples for LOO):

- REINFORCE (score function, Williams 1992): f(z)·∇ log π_z = f(z)(e_z − π). Unbiased.
- REINFORCE-LOO: (1/m) Σ_j (f(z_j) − b_j)(e_{z_j} − π), b_j = mean of the other m − 1 f's.
- GS (Jang et al. 2016): ∇_θ f(y), y = softmax((θ + g)/τ). Biased (f is evaluated at y).
- ST-GS: ∇_θ f(z − sg(y) + y): f and its gradient evaluated at the one-hot z, the Jacobian
  of the soft y. With a linear f both give J_yᵀc, so they coincide sample by sample.

Bias = ‖mean estimate − exact‖₂; variance = trace of the estimates' covariance ("total
variance"); the Monte-Carlo error of the bias norm is √(variance / n).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ..core.batched import per_instance
from ..core import rng
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from .samplers import check_tau, gumbel_from_uniform, gumbel_noise, gumbel_softmax, one_hot_argmax

__all__ = ["ESTIMATORS", "objective", "exact_gradient", "estimates", "EstimatorConfig",
           "EstimatorTrainer", "estimator_table", "live_stats", "EXPERIMENT"]

ESTIMATORS = ("reinforce", "reinforce_loo", "gs", "st")
OBJECTIVES = ("quadratic", "linear")


def objective(z: torch.Tensor, c: torch.Tensor, kind: str = "quadratic") -> torch.Tensor:
    """f(z) = (z·c)² (nonlinear, the default) or z·c (linear)."""
    s = (z * c).sum(-1)
    return s * s if kind == "quadratic" else s


def problem(K: int, seed: int, scale: float = 1.0, dtype=torch.float64):
    """The logits θ ~ N(0, scale²) and the vector c ~ N(0, 1) of the toy objective."""
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(K, generator=gen, dtype=dtype) * scale
    c = torch.randn(K, generator=gen, dtype=dtype)
    return theta, c


def exact_gradient(theta: torch.Tensor, c: torch.Tensor, kind: str = "quadratic") -> torch.Tensor:
    """∇_θ Σ_k softmax(θ)_k f(e_k), by enumeration of the K one-hot vectors (autograd)."""
    th = theta.detach().clone().requires_grad_(True)
    eye = torch.eye(th.shape[-1], dtype=th.dtype)
    value = (torch.softmax(th, -1) * objective(eye, c, kind)).sum()
    return torch.autograd.grad(value, th)[0]


def estimates(theta: torch.Tensor, c: torch.Tensor, g: torch.Tensor, tau, kind: str = "quadratic",
              loo_group: int = 2) -> dict[str, torch.Tensor]:
    """Gradient estimates from Gumbel noise ``g`` of shape (..., N, K) (θ, c: (..., K), τ a
    float or a tensor broadcasting against (..., 1, 1)). Returns estimator → (..., n, K); LOO
    uses groups of ``loo_group`` consecutive samples (n = N / loo_group)."""
    pi = torch.softmax(theta, -1).unsqueeze(-2)                     # (..., 1, K)
    cc = c.unsqueeze(-2)
    z = one_hot_argmax(theta.unsqueeze(-2) + g)                     # exact samples, (..., N, K)
    fz = objective(z, cc, kind).unsqueeze(-1)                       # (..., N, 1)
    score = z - pi
    out = {"reinforce": fz * score}
    N = g.shape[-2]
    if N % loo_group:
        raise ConfigError(f"loo_group: must divide the samples per step {N} (got {loo_group})")
    fg = fz.unflatten(-2, (N // loo_group, loo_group))             # (..., n, m, 1)
    base = (fg.sum(-2, keepdim=True) - fg) / (loo_group - 1)
    out["reinforce_loo"] = ((fg - base) * score.unflatten(-2, (N // loo_group, loo_group))).mean(-2)
    # relaxed samples: y = softmax((θ + g)/τ); J = (diag y − y yᵀ)/τ, J symmetric
    y = torch.softmax((theta.unsqueeze(-2) + g) / tau, -1)

    def jt(v):  # Jᵀ v for each sample
        return (y * v - y * (y * v).sum(-1, keepdim=True)) / tau

    if kind == "quadratic":
        out["gs"] = jt(2 * (y * cc).sum(-1, keepdim=True) * cc)
        out["st"] = jt(2 * (z * cc).sum(-1, keepdim=True) * cc)
    else:
        out["gs"] = jt(cc.expand_as(y))
        out["st"] = out["gs"].clone()
    return out


def live_stats(tau: float, K: int, f: str = "quadratic", n: int = 4000,
              seed: int = 0) -> dict:
    """Bias and total variance of each estimator at one τ (``n`` samples), the exact gradient's
    norm, π, the mean relaxed sample and a few samples."""
    if K < 2:
        raise ConfigError(f"K: must be >= 2 (got {K})")
    check_tau(float(tau))
    theta, c = problem(K, 0)
    exact = exact_gradient(theta, c, f)
    g = gumbel_noise((n, K), torch.Generator().manual_seed(seed), dtype=torch.float64)
    est = estimates(theta, c, g, float(tau), f)
    rows = {}
    for name, e in est.items():
        rows[name] = {"bias": float((e.mean(0) - exact).norm()),
                      "variance": float(e.var(0).sum())}
    y = gumbel_softmax(theta.expand(n, -1), float(tau), noise=g)
    return {"rows": rows, "exact_norm": float(exact.norm()), "pi": torch.softmax(theta, -1),
            "mean_y": y.mean(0), "samples": y[:12]}


@dataclass
class EstimatorConfig(TrainConfig):
    """Defaults: the reference re-run (K = 10, f(z) = (z·c)², 20k single-sample estimates)."""

    K: int = field(10, "number of categories", ge=2)
    f: str = field("quadratic", "objective f(z): (z·c)² or the linear z·c", choices=OBJECTIVES)
    tau: float = field(1.0, "Gumbel-Softmax temperature τ (one per instance)", gt=0,
                       batchable=True, widget=dict(slider=(0.05, 4.0, 0.05)))
    logit_scale: float = field(1.0, "θ ~ N(0, scale²)", gt=0)
    problem_seed: int = field(0, "seed of θ and c", ge=0)
    samples_per_step: int = field(2000, "single-sample estimates drawn per step", ge=2)
    loo_group: int = field(2, "samples per REINFORCE-LOO estimate", ge=2)
    steps: int = field(10, "steps (total samples = steps × samples_per_step)", ge=1)
    log_every: int = field(5, "log every this many steps", ge=1)
    seed: int = field(0, "seed of the Gumbel noise", ge=0, batchable=True)

    def check(self):
        if self.samples_per_step % self.loo_group:
            raise ConfigError(f"loo_group: must divide samples_per_step={self.samples_per_step} "
                              f"(got {self.loo_group})")


class EstimatorTrainer:
    """Accumulates the first two moments of every estimator, one τ (and seed) per instance.
    A "step" draws ``samples_per_step`` Gumbel vectors per instance (a pure function of
    (seed, step), so an instance gives the same numbers alone or in a batch)."""

    def __init__(self, configs: list[EstimatorConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        theta, c = problem(c0.K, c0.problem_seed, c0.logit_scale)
        self.theta, self.c = theta.to(device), c.to(device)
        self.exact = exact_gradient(self.theta, self.c, c0.f)
        self.tau = per_instance([c.tau for c in configs], dtype=torch.float64,
                                device=device).view(-1, 1, 1)
        check_tau(self.tau)
        self.seeds = torch.tensor([c.seed for c in configs], device=device)
        self.count = torch.zeros(len(ESTIMATORS), dtype=torch.float64, device=device)
        self.sum = torch.zeros(self.n, len(ESTIMATORS), c0.K, dtype=torch.float64, device=device)
        self.sumsq = torch.zeros_like(self.sum)

    def step(self, step: int) -> None:
        c0 = self.c0
        u = rng.uniform(self.seeds, step, 11, (c0.samples_per_step, c0.K)).double()
        g = gumbel_from_uniform(u)
        est = estimates(self.theta.expand(self.n, -1), self.c.expand(self.n, -1), g, self.tau,
                        c0.f, c0.loo_group)
        for j, name in enumerate(ESTIMATORS):
            e = est[name]
            self.sum[:, j] += e.sum(1)
            self.sumsq[:, j] += (e * e).sum(1)
            self.count[j] += e.shape[1]

    def log(self, step: int) -> list[dict]:
        rows = [{"tau": c.tau, "exact_norm": float(self.exact.norm())} for c in self.configs]
        if float(self.count[0]) == 0:
            return rows
        n = self.count.view(1, -1, 1)
        mean = self.sum / n
        var = (self.sumsq / n - mean * mean).sum(-1) * (n[..., 0] / (n[..., 0] - 1))
        bias = (mean - self.exact).norm(dim=-1)
        mc = (var / n[..., 0]).sqrt()
        for i, row in enumerate(rows):
            for j, name in enumerate(ESTIMATORS):
                row[f"bias_{name}"] = float(bias[i, j])
                row[f"var_{name}"] = float(var[i, j])
                row[f"mc_error_{name}"] = float(mc[i, j])
                row[f"n_{name}"] = int(self.count[j])
        return rows

    def state_dict(self) -> dict:
        return {"count": self.count, "sum": self.sum, "sumsq": self.sumsq}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.sum, self.sumsq = state["count"], state["sum"], state["sumsq"]

    def instance_state(self, i: int) -> dict:
        return {"count": self.count.clone(), "sum": self.sum[i:i + 1].clone(),
                "sumsq": self.sumsq[i:i + 1].clone()}


def summarize(cfg: EstimatorConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    out = {"tau": cfg.tau, "f": cfg.f, "exact_norm": float(last["exact_norm"])}
    for name in ESTIMATORS:
        for key in ("bias", "var", "mc_error"):
            out[f"{key}_{name}"] = float(last[f"{key}_{name}"])
    return out


def estimator_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A tidy table (tau, estimator, bias, variance, MC error) from a sweep's summary."""
    rows = []
    for _, r in summary.iterrows():
        for name in ESTIMATORS:
            rows.append({"tau": r["tau"], "estimator": name, "bias": r[f"bias_{name}"],
                         "variance": r[f"var_{name}"], "mc_error": r[f"mc_error_{name}"]})
    return pd.DataFrame(rows)


def headline(rows: list[dict]) -> dict:
    r = rows[0]
    return {"bias_gs": f"{r.get('bias_gs', float('nan')):.3f}"}


PRESETS = {
    "quick": dict(samples_per_step=2000, steps=10, log_every=5),
    "full": dict(samples_per_step=20000, steps=50, log_every=10),
}

def memory(configs: list[EstimatorConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    # Gumbel noise, the relaxed sample and one estimate per estimator, in float64
    return {"samples_per_step": k * c.samples_per_step * c.K * 8 * (len(ESTIMATORS) + 6)}


EXPERIMENT = register(Experiment(
    name="gumbel-estimators", config_cls=EstimatorConfig, make_trainer=EstimatorTrainer,
    summarize=summarize, presets=PRESETS, memory=memory, headline=headline,
    description="Bias and variance of REINFORCE, REINFORCE-LOO, Gumbel-Softmax and ST-GS "
                "against the exact gradient (enumeration), one τ per instance."))
