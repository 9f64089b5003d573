"""Toy of SofT-GRPO (Zheng et al. 2025, arXiv 2511.06411): a soft-token policy gradient with
the Gumbel reparameterisation against discrete-token REINFORCE with group advantages (GRPO
without clipping), on a tiny "soft bandit".

The policy is a table of logits θ ∈ ℝ^{T×V} (T = 3 steps, V = 5 tokens). A rollout emits, at
each step, either a discrete token z_t ~ Cat(p_t) (one-hot) or a soft token
y_t = softmax((log p_t + g_t)/τ_g) with g ~ Gumbel(0, 1) clamped to [−1.5, 3] (SofT-GRPO's
rollout, top-k = V here). The state is the sequence of (soft) embeddings H = y E (E: fixed
random unit vectors in ℝ^d); the reward is r = exp(−‖H − H*‖²/T) for the embeddings H* of a
target sequence; a rollout "passes" when r ≥ ``pass_reward``.

Updates, with group advantages A = (r − mean_G r)/(std_G r + 1e-6) over G rollouts:
discrete: −mean(A · Σ_t log p_θ(z_t)); soft: −mean(A · Σ_t ℓ_t), where
ℓ_t = mean over the entries with log p > −3 of (−g′ − e^{−g′}), g′ = ℓ̃ − log p_θ and
ℓ̃ = log p + g stored at rollout time — the Gumbel log-density of the noise that produced the
soft token (not an exact log-probability: the clamp and the filter change it).
Pass@k uses the unbiased estimator 1 − C(n − c, k)/C(n, k) over n evaluation rollouts, each
policy evaluated in its own mode (soft tokens for SofT-GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ..core.batched import BatchedAdamW, per_instance
from ..core import rng
from ..core.config import TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from .models import log_softmax, softmax
from .samplers import gumbel_from_uniform, one_hot_argmax

__all__ = ["SoftGRPOConfig", "SoftGRPOTrainer", "pass_at_k", "EXPERIMENT", "METHODS"]

METHODS = ("discrete", "soft")
PASS_KS = (1, 4, 16)


def pass_at_k(successes: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """Unbiased pass@k (Chen et al. 2021) from c successes out of n: 1 − C(n−c, k)/C(n, k)."""
    c = successes.double()
    out = torch.ones_like(c)
    # C(n−c, k)/C(n, k) = Π_{i=0}^{k−1} (n − c − i)/(n − i)
    for i in range(k):
        out = out * ((n - c - i).clamp_min(0) / (n - i))
    return 1 - out


@dataclass
class SoftGRPOConfig(TrainConfig):
    steps_T: int = field(3, "soft tokens per rollout (T)", ge=1)
    vocab: int = field(5, "tokens V", ge=2)
    dim: int = field(4, "embedding dimension d", ge=1)
    task_seed: int = field(0, "seed of the embeddings and the target sequence", ge=0)
    method: str = field("soft", "SofT-GRPO (soft) or discrete GRPO/REINFORCE", choices=METHODS,
                        batchable=True)
    tau_g: float = field(0.1, "Gumbel-Softmax temperature of the soft tokens", gt=0)
    clamp_lo: float = field(-1.5, "Gumbel noise clamp, lower", le=0)
    clamp_hi: float = field(3.0, "Gumbel noise clamp, upper", ge=0)
    logp_floor: float = field(-3.0, "soft log-likelihood uses entries with log p above this")
    group: int = field(8, "rollouts per update (G)", ge=2)
    lr: float = field(0.05, "Adam learning rate", gt=0, batchable=True)
    pass_reward: float = field(0.9, "a rollout passes when its reward is at least this", gt=0,
                               le=1)
    eval_rollouts: int = field(32, "rollouts per evaluation (n of pass@k)", ge=16)
    steps: int = field(100, "updates", ge=1)
    log_every: int = field(10, "log every this many updates", ge=1)
    seed: int = field(0, "seed of the rollouts and the initial logits", ge=0, batchable=True)


class SoftGRPOTrainer(BatchedTrainer):
    def __init__(self, configs: list[SoftGRPOConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        g = torch.Generator().manual_seed(c0.task_seed)
        E = torch.randn(c0.vocab, c0.dim, generator=g)
        self.E = (E / E.norm(dim=-1, keepdim=True)).to(device)
        self.target = torch.randint(c0.vocab, (c0.steps_T,), generator=g).to(device)
        self.H_star = self.E[self.target]                                  # (T, d)
        self.seed_list = [c.seed for c in configs]
        self.seed_t = torch.tensor(self.seed_list, device=device)
        init = torch.stack([0.01 * torch.randn(c0.steps_T, c0.vocab,
                                               generator=torch.Generator().manual_seed(s))
                            for s in self.seed_list])
        self.theta = torch.nn.Parameter(init.to(device))
        self.soft = per_instance([c.method == "soft" for c in configs], device=device)
        self.opt = BatchedAdamW([self.theta], lr=per_instance([c.lr for c in configs],
                                                              device=device))

    def rollouts(self, step: int, salt: int, G: int):
        """G rollouts per instance: (tokens (I, G, T, V) in each instance's mode, stored
        ℓ̃ = log p + clamped g, the one-hot discrete tokens)."""
        c = self.c0
        logp = log_softmax(self.theta.detach()).unsqueeze(1)               # (I, 1, T, V)
        g = gumbel_from_uniform(rng.uniform(self.seed_t, step, salt, (G, c.steps_T, c.vocab)))
        hard = one_hot_argmax(logp + g)                                     # exact samples
        lt = logp + g.clamp(c.clamp_lo, c.clamp_hi)
        y = softmax(lt / c.tau_g)
        m = self.soft.view(-1, 1, 1, 1)
        return m * y + (1 - m) * hard, lt, hard

    def reward(self, tokens: torch.Tensor) -> torch.Tensor:
        H = tokens @ self.E                                                 # (I, G, T, d)
        return torch.exp(-((H - self.H_star) ** 2).sum((-1, -2)) / self.c0.steps_T)

    def step(self, step: int) -> None:
        c = self.c0
        tokens, lt, hard = self.rollouts(step, 1, c.group)
        r = self.reward(tokens)                                             # (I, G)
        adv = (r - r.mean(-1, keepdim=True)) / (r.std(-1, keepdim=True) + 1e-6)
        logp = log_softmax(self.theta).unsqueeze(1)                         # (I, 1, T, V)
        disc = (logp * hard).sum((-1, -2))                                  # Σ_t log p(z_t)
        gp = lt - logp                                                      # g′
        keep = (logp.detach() > c.logp_floor).float()
        dens = (-gp - torch.exp(-gp)) * keep
        soft = (dens.sum(-1) / keep.sum(-1).clamp_min(1)).sum(-1)          # Σ_t mean_k
        surrogate = self.soft.unsqueeze(-1) * soft + (1 - self.soft.unsqueeze(-1)) * disc
        loss = -(adv * surrogate).mean(-1)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()

    @torch.no_grad()
    def log(self, step: int) -> list[dict]:
        c = self.c0
        tokens, _, _ = self.rollouts(10_000_000 + step, 2, c.eval_rollouts)
        r = self.reward(tokens)
        wins = (r >= c.pass_reward).sum(-1)
        cols = {"mean_reward": r.mean(-1)}
        for k in PASS_KS:
            cols[f"pass@{k}"] = pass_at_k(wins, c.eval_rollouts, k)
        p_target = softmax(self.theta)[:, torch.arange(c.steps_T), self.target].prod(-1)
        cols["p_target"] = p_target
        table = torch.stack([v.double() for v in cols.values()], 1).cpu().tolist()
        return [{"method": cfg.method, **dict(zip(cols, row))}
                for cfg, row in zip(self.configs, table)]

    def state_dict(self) -> dict:
        return {"theta": self.theta.detach(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.theta.copy_(state["theta"])
        self.opt.load_state_dict(state["opt"])


def summarize(cfg: SoftGRPOConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    out = {"method": cfg.method, "seed": cfg.seed, "final_mean_reward": float(last["mean_reward"]),
           "auc_mean_reward": float(metrics["mean_reward"].mean()),
           "final_p_target": float(last["p_target"])}
    for k in PASS_KS:
        out[f"final_pass@{k}"] = float(last[f"pass@{k}"])
    return out


PRESETS = {
    "quick": dict(steps_T=4, vocab=8, steps=100, log_every=10),
    "full": dict(steps_T=8, vocab=20, dim=8, group=8, steps=2000, log_every=50),
}

def memory(configs: list[SoftGRPOConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    rollouts = max(c.group, c.eval_rollouts)
    return {"group": k * rollouts * c.steps_T * (c.vocab * 4 + c.dim) * 8,
            "vocab": c.vocab * c.dim * 8 * 4}


EXPERIMENT = register(Experiment(
    name="gumbel-softgrpo", config_cls=SoftGRPOConfig, make_trainer=SoftGRPOTrainer,
    summarize=summarize, presets=PRESETS, memory=memory,
    headline=lambda rows: {r["method"]: f"{r['mean_reward']:.2f}" for r in rows[:2]},
    description="SofT-GRPO toy: soft tokens with the Gumbel-density surrogate vs discrete "
                "REINFORCE with group advantages, on a small soft bandit."))
