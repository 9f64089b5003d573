"""Toy of Gumbel-Softmax flow matching with straight-through guidance (Tang, Zhang, Tong &
Chatterjee 2025, arXiv 2503.17361) — a construction *in the paper's spirit*; the paper's exact
parameterisation is unverified here.

Why not the reference sketch x_t = softmax((x₁ + g)/τ(t)) with fixed g: its conditional
velocity λ·x ⊙ (log x − ⟨x, log x⟩) does not depend on x₁ (the path only sharpens x_t), so
there is nothing to learn. This module uses a well-posed path instead. Per position and token,
g ~ Gumbel(0, 1), and

    z_t = (δ(t)·x₁ + g)/τ(t),   x_t = softmax(z_t),
    δ(t) = δ_max·t  (t = 0: pure Gumbel-Softmax noise; t = 1: essentially the vertex x₁),
    τ(t) = τ_max·e^{−λt}.

Conditional velocity (x = x_t, and log x = z − logsumexp z, the constant cancels):

    ż = δ′(t)·x₁/τ − (τ′/τ)·z = δ_max·x₁/τ + λ·(log x + c),
    dx/dt = x ⊙ (ż − ⟨x, ż⟩).

It is LINEAR in x₁, so the marginal velocity E[dx/dt | x_t] is the same expression with x₁
replaced by the denoiser's p(x₁ | x_t, t), trained with cross-entropy per position. Sampling
integrates the same ODE with Euler steps in logit coordinates (ż above with p̂ for x₁; the
map z ↦ softmax z pushes it to exactly the x-velocity), from t = 0 noise to t = 1, and reads
the tokens as argmax x₁.

Straight-through guidance (STGFlow-style): a classifier trained on clean sequences predicts
the count of token ``prop_token``. At each Euler step M discrete sequences are drawn from x_t
(Gumbel-max on log x_t); their straight-through one-hots s = z − sg(x) + x (forward exactly
one-hot, backward into x) go through the classifier, h = mean_M ∇_x log p(count ≥ k | s),
projected to the simplex tangent (h − mean_V h), and γ·h is added to the logit velocity.

Data: length-L sequences over V tokens from a seeded mixture of ``components`` product
distributions (each position's categorical drawn from a Dirichlet(``concentration``)). The
exact distribution over all V^L sequences is known, so generated samples are compared with it
by total-variation distance of the per-position marginals, of the adjacent-pair joints and of
the full joint; baselines are uniform noise (argmax of the t = 0 noise) and N exact samples.

Instances: one per seed (network init, training noise, sampling noise).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..core.batched import BatchedAdamW
from ..core import rng
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from .models import BatchedMLP, log_softmax, softmax
from .samplers import gumbel_from_uniform, one_hot_argmax

__all__ = ["FlowConfig", "FlowTrainer", "mixture", "path", "conditional_velocity",
           "total_variation", "EXPERIMENT"]


def mixture(length: int, vocab: int, components: int, concentration: float, seed: int):
    """(weights (C,), per-position probabilities (C, L, V), exact joint over all V^L sequences
    (V^L,), the sequences (V^L, L)) of the seeded data mixture."""
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(components, generator=g) + 0.5
    w = w / w.sum()
    gam = torch._standard_gamma(torch.full((components, length, vocab), concentration),
                                generator=g)
    probs = gam / gam.sum(-1, keepdim=True)
    seqs = torch.tensor(list(itertools.product(range(vocab), repeat=length)))  # (V^L, L)
    per = probs[:, torch.arange(length), seqs]                      # (C, V^L, L)
    joint = (w.unsqueeze(-1) * per.prod(-1)).sum(0)
    return w, probs, joint / joint.sum(), seqs


def schedule(t, tau_max: float, lam: float, delta_max: float):
    """(δ(t), δ′(t), τ(t), τ′(t)/τ(t)) with δ = δ_max·t and τ = τ_max·e^{−λt}."""
    return delta_max * t, delta_max + 0 * t, tau_max * torch.exp(-lam * t), -lam + 0 * t


def path(x1, g, t, tau_max: float, lam: float, delta_max: float):
    """x_t = softmax((δ(t)·x₁ + g)/τ(t)): x1, g (..., L, V), one time per sequence t (...)."""
    d, _, tau, _ = (v[..., None, None] for v in schedule(t, tau_max, lam, delta_max))
    return softmax((d * x1 + g) / tau)


def conditional_velocity(x, x1, t, tau_max: float, lam: float, delta_max: float,
                         logits: bool = False):
    """dx/dt = x ⊙ (ż − ⟨x, ż⟩), ż = δ′·x₁/τ − (τ′/τ)·log x (x₁ may be a probability vector,
    then this is the marginal velocity); x, x1 (..., L, V), t (...). With ``logits=True``
    return ż itself."""
    _, dd, tau, dlog = (v[..., None, None] for v in schedule(t, tau_max, lam, delta_max))
    zdot = (dd / tau) * x1 - dlog * x.clamp_min(1e-30).log()
    if logits:
        return zdot
    return x * (zdot - (x * zdot).sum(-1, keepdim=True))


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """TV(p, q) = ½ Σ |p − q| over the last axis."""
    return 0.5 * (p - q).abs().sum(-1)


@dataclass
class FlowConfig(TrainConfig):
    """Defaults: length-4 sequences over 5 tokens from a 3-component mixture."""

    length: int = field(4, "sequence length L", ge=1, le=8)
    vocab: int = field(5, "tokens V", ge=2)
    components: int = field(3, "mixture components of the data", ge=1)
    concentration: float = field(0.3, "Dirichlet concentration of each component's "
                                      "per-position categoricals (small = peaked)", gt=0)
    data_seed: int = field(0, "seed of the data mixture", ge=0)
    tau_max: float = field(1.0, "temperature at t = 0", gt=0)
    lam: float = field(2.0, "τ(t) = τ_max·e^{−λt}", ge=0)
    delta_max: float = field(12.0, "δ(1): how far x₁ shifts the logits at t = 1", gt=0)
    hidden: int = field(128, "hidden width of the denoiser and the classifier", ge=1)
    batch: int = field(256, "training sequences per step", ge=1)
    lr: float = field(3e-3, "Adam learning rate", gt=0)
    prop_token: int = field(3, "guidance property: count of this token", ge=0)
    prop_min: int = field(2, "… at least this many", ge=1)
    guidance: float = field(1.0, "γ: weight of the straight-through guidance", ge=0)
    guide_samples: int = field(8, "M: discrete sequences per guidance step", ge=1)
    euler_steps: int = field(40, "Euler steps of the sampler", ge=1)
    eval_samples: int = field(1000, "generated sequences per evaluation", ge=10)
    steps: int = field(1500, "training steps", ge=1)
    log_every: int = field(500, "log (and sample) every this many steps", ge=1)
    seed: int = field(0, "seed of the networks, the training noise and the sampler", ge=0,
                      batchable=True)

    def check(self):
        if self.prop_token >= self.vocab:
            raise ConfigError(f"prop_token: must be below vocab={self.vocab} "
                              f"(got {self.prop_token})")
        if self.prop_min > self.length:
            raise ConfigError(f"prop_min: must be at most length={self.length} "
                              f"(got {self.prop_min})")


class FlowTrainer(BatchedTrainer):
    def __init__(self, configs: list[FlowConfig], device: torch.device):
        c = self.c0 = configs[0]
        self.configs, self.n, self.device = configs, len(configs), device
        self.L, self.V = c.length, c.vocab
        w, probs, joint, seqs = mixture(c.length, c.vocab, c.components, c.concentration,
                                        c.data_seed)
        self.w, self.probs = w.to(device), probs.to(device)
        self.joint, self.seqs = joint.to(device), seqs.to(device)
        self.seed_list = [cfg.seed for cfg in configs]
        self.seed_t = torch.tensor(self.seed_list, device=device)
        d = self.L * self.V
        self.den = BatchedMLP(self.seed_list, [2 * d + 1, c.hidden, c.hidden, d], salt=1).to(device)
        self.cls = BatchedMLP(self.seed_list, [d, c.hidden, self.L + 1], salt=2).to(device)
        self.opt = BatchedAdamW(list(self.den.parameters()) + list(self.cls.parameters()),
                                lr=c.lr)
        self.sched = (c.tau_max, c.lam, c.delta_max)

    # data ------------------------------------------------------------------------------------
    def sample_data(self, step: int, salt: int, n: int) -> torch.Tensor:
        """n exact samples per instance via the inverse CDF of the joint: tokens (I, n, L)."""
        u = rng.uniform(self.seed_t, step, salt, (n,))
        idx = torch.searchsorted(self.joint.cumsum(0), u.contiguous()).clamp_max(
            len(self.joint) - 1)
        return self.seqs[idx]

    def gumbel(self, step: int, salt: int, n: int) -> torch.Tensor:
        return gumbel_from_uniform(rng.uniform(self.seed_t, step, salt, (n, self.L, self.V)))

    # networks --------------------------------------------------------------------------------
    def denoise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits of p(x₁ | x_t, t): x (I, B, L, V), t (I, B) → (I, B, L, V). Input: x and
        log x / 10 (clipped), flattened, and t."""
        I, B = x.shape[:2]
        lx = (x.clamp_min(1e-30).log() / 10).clamp_min(-3)
        h = torch.cat([x.reshape(I, B, -1), lx.reshape(I, B, -1), t.unsqueeze(-1)], -1)
        return self.den(h).view(I, B, self.L, self.V)

    def classify(self, s: torch.Tensor) -> torch.Tensor:
        """log p(count of prop_token = k | s), k = 0..L: s (I, B, L, V) → (I, B, L+1)."""
        I, B = s.shape[:2]
        return log_softmax(self.cls(s.reshape(I, B, -1)))

    def step(self, step: int) -> None:
        c = self.c0
        tok = self.sample_data(step, 1, c.batch)                        # (I, B, L)
        x1 = F.one_hot(tok, self.V).float()
        t = rng.uniform(self.seed_t, step, 2, (c.batch,))
        x = path(x1, self.gumbel(step, 3, c.batch), t, *self.sched)
        logits = self.denoise(x, t)
        loss = F.cross_entropy(logits.reshape(-1, self.V), tok.reshape(-1), reduction="none")
        count = (tok == c.prop_token).sum(-1)
        closs = F.cross_entropy(self.classify(x1).reshape(-1, self.L + 1), count.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        (loss.view(self.n, -1).mean(-1).sum() + closs * self.n).backward()
        self.opt.step()

    # sampling --------------------------------------------------------------------------------
    def guidance_grad(self, x: torch.Tensor, step: int, k: int) -> torch.Tensor:
        """h = mean over M straight-through discrete draws s ~ x of ∇_x log p(property | s),
        minus its mean over tokens (tangent to the simplex): (I, B, L, V)."""
        c = self.c0
        M = c.guide_samples
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            u = rng.uniform(self.seed_t, step, 100 + k, (x.shape[1], M, self.L, self.V))
            lx = xg.clamp_min(1e-30).log().unsqueeze(2)                 # (I, B, 1, L, V)
            hard = one_hot_argmax(lx.detach() + gumbel_from_uniform(u))
            s = hard - xg.unsqueeze(2).detach() + xg.unsqueeze(2)        # ST: value = hard
            lp = self.classify(s.flatten(1, 2))[..., c.prop_min:].logsumexp(-1)
            (h,) = torch.autograd.grad(lp.sum() / M, xg)
        return h - h.mean(-1, keepdim=True)

    @torch.no_grad()
    def generate(self, step: int, n: int, gamma: float = 0.0) -> torch.Tensor:
        """n sequences per instance by Euler steps in logit coordinates from t = 0 to 1:
        tokens (I, n, L)."""
        c = self.c0
        z = self.gumbel(step, 50, n) / c.tau_max                        # x_0 = softmax(g/τ_max)
        dt = 1.0 / c.euler_steps
        for k in range(c.euler_steps):
            t = torch.full(z.shape[:2], k * dt, device=self.device)
            x = softmax(z)
            p = softmax(self.denoise(x, t))
            zdot = conditional_velocity(x, p, t, *self.sched, logits=True)
            if gamma > 0:
                zdot = zdot + gamma * self.guidance_grad(x, step, k)
            z = z + dt * zdot
            z = z - z.amax(-1, keepdim=True).detach()
        return z.argmax(-1)

    def stats(self, tok: torch.Tensor) -> dict:
        """TVs against the exact data distribution, and the property share: tok (I, n, L)."""
        c, V, L = self.c0, self.V, self.L
        oh = F.one_hot(tok, V).double()                                  # (I, n, L, V)
        marg = oh.mean(1)                                                # (I, L, V)
        true_marg = (self.w.view(-1, 1, 1) * self.probs).sum(0).double()
        code = (tok * V ** torch.arange(L - 1, -1, -1, device=tok.device)).sum(-1)
        # self.seqs is in lexicographic order, so a sequence's index is its base-V code
        hist = torch.stack([torch.bincount(r, minlength=V ** L) for r in code]).double()
        hist = hist / tok.shape[1]                                       # (I, V^L)
        pair_tv = []
        jt = self.joint.double().view(*([V] * L))
        for a in range(L - 1):
            pc = (tok[..., a] * V + tok[..., a + 1])
            ph = F.one_hot(pc, V * V).double().mean(1)
            keep = [d for d in range(L) if d not in (a, a + 1)]
            tp = jt.sum(keep).reshape(-1) if keep else jt.reshape(-1)
            pair_tv.append(total_variation(ph, tp))
        prop = ((tok == c.prop_token).sum(-1) >= c.prop_min).double().mean(1)
        return {"marginal_tv": total_variation(marg, true_marg).mean(-1),
                "pair_tv": torch.stack(pair_tv).mean(0),
                "joint_tv": total_variation(hist, self.joint.double()),
                "property_share": prop}

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        c = self.c0
        n = c.eval_samples
        tok = self.sample_data(10_000_000 + step, 4, n)
        x1 = F.one_hot(tok, self.V).float()
        t = rng.uniform(self.seed_t, 10_000_000 + step, 5, (n,))
        x = path(x1, self.gumbel(10_000_000 + step, 6, n), t, *self.sched)
        ce = F.cross_entropy(self.denoise(x, t).reshape(-1, self.V), tok.reshape(-1),
                             reduction="none").view(self.n, -1).mean(-1)
        count = (tok == c.prop_token).sum(-1)
        cls_acc = (self.classify(x1).argmax(-1) == count).double().mean(-1)
        cols = {"denoise_ce": ce.double(), "classifier_acc": cls_acc}
        for name, s in (("data", self.stats(tok)),
                        ("noise", self.stats(self.gumbel(20_000_000 + step, 7, n).argmax(-1))),
                        ("flow", self.stats(self.generate(30_000_000 + step, n))),
                        ("guided", self.stats(self.generate(30_000_000 + step, n,
                                                            c.guidance)))):
            cols.update({f"{name}_{k}": v for k, v in s.items()})
        table = torch.stack(list(cols.values()), 1).cpu().tolist()
        return [dict(zip(cols, r)) for r in table]

    def state_dict(self) -> dict:
        return {"den": self.den.state_dict(), "cls": self.cls.state_dict(),
                "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.den.load_state_dict(state["den"])
        self.cls.load_state_dict(state["cls"])
        self.opt.load_state_dict(state["opt"])


def summarize(cfg: FlowConfig, metrics: pd.DataFrame) -> dict:
    first, last = metrics.iloc[0], metrics.iloc[-1]
    out = {"seed": cfg.seed, "guidance": cfg.guidance,
           "denoise_ce": float(last["denoise_ce"]),
           "classifier_acc": float(last["classifier_acc"])}
    for k in ("marginal_tv", "pair_tv", "joint_tv", "property_share"):
        for name in ("data", "noise", "flow", "guided"):
            out[f"{name}_{k}"] = float(last[f"{name}_{k}"])
        out[f"untrained_{k}"] = float(first[f"flow_{k}"])
    return out


PRESETS = {
    "quick": dict(steps=800, log_every=400, eval_samples=1000, euler_steps=30, hidden=96),
    "full": dict(steps=20000, log_every=2000, eval_samples=20000, euler_steps=100,
                 hidden=512, batch=1024, length=5, vocab=6),
}

def memory(configs: list[FlowConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    seqs = float(c.vocab) ** c.length  # every sequence is enumerated for the exact marginals
    step = c.length * c.vocab
    return {"vocab": seqs * (c.length * 8 + 8 * 3),
            "hidden": k * ((step + 1) * c.hidden + c.hidden ** 2 + c.hidden * step) * 4 * 4 * 2,
            "batch": k * (c.batch + c.eval_samples) * (step * 3 + c.hidden * 3) * 4
            * max(1, c.guide_samples)}


EXPERIMENT = register(Experiment(
    name="gumbel-flow", config_cls=FlowConfig, make_trainer=FlowTrainer, summarize=summarize,
    presets=PRESETS, memory=memory,
    headline=lambda rows: {"flow TV": f"{rows[0]['flow_marginal_tv']:.3f}",
                           "noise TV": f"{rows[0]['noise_marginal_tv']:.3f}"},
    description="Gumbel-Softmax flow matching toy (in the spirit of Tang et al. 2025): "
                "x_t = softmax((δ(t)x₁ + g)/τ(t)), MLP denoiser, Euler sampling, "
                "straight-through classifier guidance toward a token count."))
