"""Li₂: when do features emerge in grokking? (Tian 2025, "Provable scaling laws of feature
emergence from learning dynamics of grokking", arXiv:2509.21519).

Group arithmetic mod M: the input is the pair (a, b) as two concatenated one-hots x ∈ ℝ^{2M},
the label is (a + b) mod M. The network is

    F = σ(W x),  σ(z) = z²,  logits = V F          W: 2M → K,  V: K → M,  no biases.

Following the author's code (``facebookresearch/luckmatters``, ``ssl/real-dataset/cogo``),
W is two bias-free M → K layers (one per operand), each initialised like ``nn.Linear``
(uniform ±1/√M; V: ±1/√K), and training is full-batch Adam whose ``weight_decay`` is an L2
term added to the gradient (``torch.optim.Adam``'s convention).

:class:`Li2Net` and :func:`train_step` are the plain single-instance reference; the
experiment trains :class:`BatchedLi2` (a leading instance axis on every weight), which is
tested equal to it.

The progress measures (all with a leading instance axis):

- **Fourier concentration of the hidden weights** (stage II, independent feature learning):
  for hidden node j, the weights it gives the residues of operand a, u_j(a) = W[j, a], and of
  operand b have the DFT û_j(k) = Σ_a u_j(a) e^{−2πi k a/M}; P_j(k) = |û_j(k)|² + |v̂_j(k)|²
  over the non-constant frequencies k = 1 … ⌊M/2⌋ (k and M − k merged). The node's
  concentration is max_k P_j(k) / Σ_k P_j(k): small for random weights
  (:func:`random_concentration`, ≈ 0.2 for M = 23), 1 for a node tuned to one frequency. We report the mean over nodes and how many distinct
  frequencies the concentrated nodes (share ≥ 0.5) cover.
- **The structure of the back-propagated gradient G_F** (stage I → II): G_F = −∂L/∂F, the
  gradient the top layer sends to the hidden activations F (n × K). For the squared loss with
  the top layer at its ridge optimum V = (FᵀF + ηI)⁻¹FᵀỸ (Ỹ = onehot − 1/M), one gets
  G_F ∝ (FFᵀ + ηI)⁻¹ ỸỸᵀ F (FᵀF + ηI)⁻¹, which for strong decay is ∝ ỸỸᵀF: each node's
  gradient then depends only on its own activations and the labels (derived here, not quoted
  from the paper). ``gf_alignment`` = cos(G_F, ỸỸᵀF) measures how close the training is to
  that independent form.

One config is one network; configs that differ only in batchable fields (train fraction,
learning rate, weight decay, loss, seed) train as ONE batched model, so a sweep over train
fractions at one M is one model. A sweep's summary holds the fitted boundary: per M, the
train fraction where the final test accuracy crosses 1/2, and the constant c of
fraction = c·ln M / M fitted to those (Tian's code uses c = 2.7482).
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

from ..core.batched import BatchedAdamW, per_instance
from ..core.config import ConfigError, TrainConfig, field
from ..core.experiment import Experiment, register
from ..core.scenarios import pick
from ..core.train import BatchedTrainer
from .data import split
from .experiment import _first_step, _padded, headline
from .models import sum_rows

__all__ = ["CRITICAL_CONSTANT", "critical_fraction", "pairs", "init_weights", "li2_loss", "Li2Net",
           "train_step", "BatchedLi2", "node_spectrum", "fourier_concentration",
           "random_concentration", "dominant_frequency", "node_concentration",
           "backprop_gradient", "frequency_coverage", "gf_alignment",
           "Li2Config", "Li2Trainer", "summarize", "fit_boundary", "EXPERIMENT", "PRESETS",
           "SCENARIOS", "BOUNDARY", "scenario", "boundary_configs"]


# --------------------------------------------------------------------------- the network
CRITICAL_CONSTANT = 2.7482  # the author's code: critical train fraction = 2.7482·ln M / M


def critical_fraction(M: int, constant: float = CRITICAL_CONSTANT) -> float:
    """The critical training fraction c·ln M / M (c = 2.7482, ``critical_ratio_multiplier``
    in the author's code), i.e. n ≈ 2.75·M·ln M training pairs out of M²."""
    return constant * math.log(M) / M


def pairs(M: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair (a, b) ∈ Z_M² as tokens (M², 2) and the labels (a + b) mod M (M²,)."""
    a, b = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    tokens = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    return tokens, tokens.sum(1) % M


def init_weights(M: int, K: int, seed: int) -> dict[str, torch.Tensor]:
    """The initial weights of one network: W (K, 2M) = [W_a | W_b] and V (M, K), drawn from a
    generator seeded with ``seed`` like ``nn.Linear``'s default (uniform ±1/√fan_in)."""
    g = torch.Generator().manual_seed(seed)
    wa = torch.empty(K, M).uniform_(-1 / math.sqrt(M), 1 / math.sqrt(M), generator=g)
    wb = torch.empty(K, M).uniform_(-1 / math.sqrt(M), 1 / math.sqrt(M), generator=g)
    v = torch.empty(M, K).uniform_(-1 / math.sqrt(K), 1 / math.sqrt(K), generator=g)
    return {"W": torch.cat([wa, wb], 1), "V": v}


def li2_loss(logits: torch.Tensor, y: torch.Tensor, kind: str = "ce") -> torch.Tensor:
    """Per-sample loss: cross-entropy (``ce``), or the author's ``mse``: ‖z − mean(z) − ỹ‖²
    with ỹ = onehot(y) − 1/M (the squared error of the centred logits to the centred target)."""
    if kind == "ce":
        return F.cross_entropy(logits.transpose(1, -1) if logits.dim() == 3 else logits, y,
                               reduction="none")
    M = logits.shape[-1]
    target = F.one_hot(y, M).to(logits.dtype) - 1.0 / M
    return (logits - logits.mean(-1, keepdim=True) - target).pow(2).sum(-1)


class Li2Net(nn.Module):
    """Plain reference: F = (W x)², logits = V F, x = [onehot(a), onehot(b)]."""

    def __init__(self, M: int, K: int, seed: int = 0):
        super().__init__()
        self.M = M
        self.W = nn.Linear(2 * M, K, bias=False)
        self.V = nn.Linear(K, M, bias=False)
        w = init_weights(M, K, seed)
        with torch.no_grad():
            self.W.weight.copy_(w["W"])
            self.V.weight.copy_(w["V"])

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """F = σ(W x) for tokens (n, 2): the hidden activations (n, K)."""
        x = torch.cat([F.one_hot(tokens[:, 0], self.M), F.one_hot(tokens[:, 1], self.M)], 1)
        return self.W(x.to(self.W.weight.dtype)).pow(2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.V(self.hidden(tokens))


def train_step(model: Li2Net, opt: torch.optim.Optimizer, tokens: torch.Tensor,
               y: torch.Tensor, loss: str = "ce") -> float:
    """One full-batch step: mean loss over the training pairs, backward, optimiser step."""
    opt.zero_grad()
    value = li2_loss(model(tokens), y, loss).mean()
    value.backward()
    opt.step()
    return float(value.detach())


class BatchedLi2(nn.Module):
    """I networks at once: W (I, 2M, K) and V (I, K, M); instance i starts from
    :func:`init_weights` with seed ``seeds[i]`` (so it equals ``Li2Net(M, K, seeds[i])``)."""

    def __init__(self, M: int, K: int, seeds, dtype=torch.float32):
        super().__init__()
        self.M, self.K = M, K
        per = [init_weights(M, K, s) for s in seeds]
        self.W = nn.Parameter(torch.stack([p["W"].T for p in per]).to(dtype))   # (I, 2M, K)
        self.V = nn.Parameter(torch.stack([p["V"].T for p in per]).to(dtype))   # (I, K, M)

    def pre(self, tokens: torch.Tensor) -> torch.Tensor:
        """W x for tokens (I, n, 2): (I, n, K); the one-hot matmul as a sum of two rows."""
        I = self.W.shape[0]
        offset = torch.tensor([0, self.M], device=tokens.device) \
            + (torch.arange(I, device=tokens.device) * 2 * self.M).view(I, 1, 1)
        return sum_rows(self.W.reshape(I * 2 * self.M, self.K), tokens + offset)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.pre(tokens).pow(2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.hidden(tokens), self.V)

    def input_weights(self) -> torch.Tensor:
        """(I, 2, M, K): the weights of operand a and of operand b, per residue and node."""
        I = self.W.shape[0]
        return self.W.detach().view(I, 2, self.M, self.K)


# --------------------------------------------------------------------------- measures
def node_spectrum(weights: torch.Tensor) -> torch.Tensor:
    """Per-node Fourier power over the non-constant frequencies.

    ``weights`` (..., 2, M, K): each operand's weights per residue and node (see
    ``BatchedLi2.input_weights``). Returns P (..., K, ⌊M/2⌋): P[..., j, k−1] =
    |û_j(k)|² + |v̂_j(k)|² for k = 1 … ⌊M/2⌋.
    """
    spec = torch.fft.rfft(weights.double(), dim=-2)[..., 1:, :]   # (..., 2, M//2, K)
    return spec.abs().pow(2).sum(-3).transpose(-1, -2)


def node_concentration(weights: torch.Tensor) -> torch.Tensor:
    """Each hidden node's max_k P_j(k) / Σ_k P_j(k) over k = 1…⌊M/2⌋ (shape (..., K))."""
    P = node_spectrum(weights)
    return P.max(-1).values / P.sum(-1).clamp(min=1e-300)


def fourier_concentration(weights: torch.Tensor) -> torch.Tensor:
    """Mean over hidden nodes of :func:`node_concentration` (shape (...,))."""
    return node_concentration(weights).mean(-1)


def backprop_gradient(F_: torch.Tensor, V: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """G_F = −∂L/∂F for the mean cross-entropy L of logits F V (F (n, K), V (K, M), labels y
    (n,)): (onehot(y) − softmax(F V)) Vᵀ / n (softmax computed stably)."""
    P = torch.softmax(F_ @ V, dim=-1)
    Y = torch.nn.functional.one_hot(y, V.shape[-1]).to(P.dtype)
    return (Y - P) @ V.transpose(-1, -2) / F_.shape[-2]


def random_concentration(M: int, trials: int = 2000, seed: int = 0) -> float:
    """The concentration of random Gaussian weights (the stage-I baseline), by Monte Carlo."""
    g = torch.Generator().manual_seed(seed)
    return float(fourier_concentration(torch.randn(2, M, trials, generator=g)))


def dominant_frequency(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(k*, share): each node's strongest frequency k* ∈ 1…⌊M/2⌋ and its power share, (..., K)."""
    P = node_spectrum(weights)
    share, k = (P / P.sum(-1, keepdim=True).clamp(min=1e-300)).max(-1)
    return k + 1, share


def frequency_coverage(weights: torch.Tensor, level: float = 0.5) -> torch.Tensor:
    """How many distinct frequencies the concentrated nodes (power share ≥ ``level``) are tuned
    to, as a share of the ⌊M/2⌋ non-constant frequencies (shape (...,))."""
    k, share = dominant_frequency(weights)
    n_freq = weights.shape[-2] // 2
    hit = torch.zeros(*k.shape[:-1], n_freq + 1, dtype=torch.bool, device=k.device)
    hit.scatter_(-1, torch.where(share >= level, k, torch.zeros_like(k)), True)
    return hit[..., 1:].sum(-1).double() / n_freq


def gf_alignment(G: torch.Tensor, F: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                 M: int) -> torch.Tensor:
    """cos(G_F, ỸỸᵀF) per instance: G and F (I, n, K), labels y (I, n), ``mask`` (I, n) of
    real (non-padding) training rows; Ỹ = onehot(y) − 1/M on real rows, 0 on padding."""
    Yt = (torch.nn.functional.one_hot(y, M).to(F.dtype) - 1.0 / M) * mask.unsqueeze(-1)
    target = Yt @ (Yt.transpose(1, 2) @ F)                       # (I, n, K)
    num = (G * target).sum((1, 2))
    den = G.flatten(1).norm(dim=1) * target.flatten(1).norm(dim=1)
    return num / den.clamp(min=1e-300)


# --------------------------------------------------------------------------- the experiment
@dataclass
class Li2Config(TrainConfig):
    """Defaults: Tian's reference run (M = 127, train 0.3, K = 512, σ = x², Adam lr 1e-3,
    weight decay 1e-4, cross-entropy, full batch, 3,000 epochs)."""

    M: int = field(127, "group order: the label is (a + b) mod M", ge=3)
    train_frac: float = field(0.3, "share of the M² pairs used for training", gt=0, lt=1,
                              batchable=True)
    width: int = field(512, "hidden nodes K", ge=1)
    loss: str = field("ce", "cross-entropy, or the author's centred squared error",
                      choices=("ce", "mse"), batchable=True)
    lr: float = field(1e-3, "Adam learning rate", gt=0, batchable=True)
    weight_decay: float = field(1e-4, "L2 weight decay added to the gradient (as torch.optim.Adam)",
                                ge=0, batchable=True)
    steps: int = field(3000, "full-batch Adam steps (epochs)", ge=1)
    log_every: int = field(100, "log metrics every this many steps", ge=1)
    seed: int = field(0, "seed of the initialisation (and of the split if data_seed is unset)",
                      ge=0, batchable=True)
    data_seed: Optional[int] = field(None, "seed of the train/test split (None: use seed)", ge=0,
                                     batchable=True)

    def check(self):
        if round(self.train_frac * self.M * self.M) < 1:
            raise ConfigError(f"train_frac: leaves no training pairs at M={self.M}")

    @property
    def split_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed


class Li2Trainer(BatchedTrainer):
    """Trains I configs sharing M and the width as one batched model (full batch)."""

    def __init__(self, configs: list[Li2Config], device: torch.device):
        c0 = configs[0]
        self.configs, self.n, self.device, self.M = configs, len(configs), device, c0.M
        tokens, labels = pairs(c0.M)
        train, test = [], []
        for c in configs:
            tr, te = split(len(labels), c.train_frac, c.split_seed)
            train.append((tokens[tr], labels[tr]))
            test.append((tokens[te], labels[te]))
        self.train_x, self.train_y, self.train_w = _padded(train, device)
        self.test_x, self.test_y, self.test_w = _padded(test, device)
        self.model = BatchedLi2(c0.M, c0.width, [c.seed for c in configs]).to(device)
        self.wd = per_instance([c.weight_decay for c in configs], device=device)
        self.opt = BatchedAdamW(list(self.model.parameters()),
                                lr=per_instance([c.lr for c in configs], device=device),
                                weight_decay=0.0)
        kinds = [c.loss for c in configs]
        self.kinds = sorted(set(kinds))
        self.is_mse = None if len(self.kinds) == 1 else torch.tensor(
            [k == "mse" for k in kinds], device=device).view(-1, 1)

    def _per_sample(self, logits, y):
        if self.is_mse is None:
            return li2_loss(logits, y, self.kinds[0])
        return torch.where(self.is_mse, li2_loss(logits, y, "mse"), li2_loss(logits, y, "ce"))

    def step(self, step: int) -> None:
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(self.train_x)
        (self._per_sample(logits, self.train_y) * self.train_w).sum().backward()
        with torch.no_grad():
            for p in self.model.parameters():  # L2 in the gradient, as torch.optim.Adam
                p.grad.add_(self.wd.view(-1, 1, 1) * p)
        self.opt.step()

    def log(self, step: int) -> list[dict]:
        m = self.model
        with torch.enable_grad():
            F_ = m.hidden(self.train_x).detach().requires_grad_(True)
            logits = torch.bmm(F_, m.V.detach())
            ps = self._per_sample(logits, self.train_y)
            (G,) = torch.autograd.grad((ps * self.train_w).sum(), F_)
        with torch.no_grad():
            zt = m(self.test_x)
            pt = self._per_sample(zt, self.test_y)
            mask = self.train_w > 0
            cols = {
                "train_loss": (ps * self.train_w).sum(1),
                "test_loss": (pt * self.test_w).sum(1),
                "train_acc": ((logits.argmax(-1) == self.train_y) * self.train_w).sum(1),
                "test_acc": ((zt.argmax(-1) == self.test_y) * self.test_w).sum(1),
                "fourier_conc": fourier_concentration(m.input_weights()),
                "freq_coverage": frequency_coverage(m.input_weights()),
                "gf_alignment": gf_alignment(-G, F_.detach(), self.train_y, mask, self.M),
                "gf_norm": G.flatten(1).norm(dim=1),
                "weight_norm": torch.sqrt(m.W.detach().pow(2).sum((1, 2))
                                          + m.V.detach().pow(2).sum((1, 2))),
            }
            table = torch.stack([v.double() for v in cols.values()], 1).cpu().tolist()
        return [dict(zip(cols, row)) for row in table]


def summarize(cfg: Li2Config, metrics: pd.DataFrame) -> dict:
    """Headline numbers of one run, with where its train fraction sits against the boundary."""
    last = metrics.iloc[-1]
    crit = critical_fraction(cfg.M)
    return {
        "M": cfg.M, "train_frac": cfg.train_frac,
        "final_test_acc": float(last["test_acc"]), "final_train_acc": float(last["train_acc"]),
        "best_test_acc": float(metrics["test_acc"].max()),
        "step_train_acc_0.9": _first_step(metrics, "train_acc", 0.9),
        "step_test_acc_0.9": _first_step(metrics, "test_acc", 0.9),
        "final_fourier_conc": float(last["fourier_conc"]),
        "final_freq_coverage": float(last["freq_coverage"]),
        "peak_gf_alignment": float(metrics["gf_alignment"].max()),
        "critical_fraction": crit, "frac_over_critical": cfg.train_frac / crit,
        "n_train": int(round(cfg.train_frac * cfg.M ** 2)),
        "steps": cfg.steps, "log_every": cfg.log_every,
    }


def fit_boundary(table: pd.DataFrame, level: float = 0.5) -> dict:
    """The grok / no-grok boundary of a sweep table (columns M, train_frac, final_test_acc).

    Per M (mean over seeds), the crossing is where the final test accuracy first reaches
    ``level`` going up in train fraction, interpolated in log fraction between the two
    neighbouring fractions; ``fitted_constant`` is the least-squares c of
    fraction = c·ln M / M over the M that cross (None when none does).
    """
    t = table.copy()
    if "M" not in t:
        raise ValueError("fit_boundary: the table needs an M column")
    crossings = {}
    for M, g in t.groupby("M"):
        g = g.groupby("train_frac", as_index=False)["final_test_acc"].mean().sort_values(
            "train_frac")
        f, acc = g["train_frac"].to_numpy(), g["final_test_acc"].to_numpy()
        above = np.nonzero(acc >= level)[0]
        if len(above) == 0 or above[0] == 0:
            crossings[int(M)] = None
            continue
        k = above[0]
        x0, x1, a0, a1 = math.log(f[k - 1]), math.log(f[k]), acc[k - 1], acc[k]
        crossings[int(M)] = float(math.exp(x0 + (level - a0) / (a1 - a0) * (x1 - x0)))
    got = {M: v for M, v in crossings.items() if v is not None}
    g = np.array([math.log(M) / M for M in got])
    v = np.array(list(got.values()))
    const = float((g * v).sum() / (g * g).sum()) if len(got) else None
    return {"fitted_fraction": {str(M): v for M, v in crossings.items()},
            "fitted_constant": const, "theory_constant": CRITICAL_CONSTANT, "level": level}


def summarize_sweep(table: pd.DataFrame) -> dict:
    """A sweep over train fractions: its fitted boundary (see :func:`fit_boundary`)."""
    if table["train_frac"].nunique() < 2:
        return {}
    return {"boundary": fit_boundary(table)}


PRESETS = {
    "quick": dict(M=23, train_frac=0.75, width=128, lr=0.01, steps=400, log_every=10),
    "full": dict(M=127, train_frac=0.3, width=512, lr=1e-3, steps=3000, log_every=25),
}

def memory(configs: list[Li2Config]) -> dict[str, float]:
    """Bytes the batched model needs, by the field each part grows with (core/memory.py):
    the M² table and the logits grow with M, activations and parameters with the width."""
    c, n = configs[0], len(configs)
    rows = c.M * c.M
    table = rows * 3 * 8 * 3                          # tokens, labels; padded train and test
    logits = n * rows * c.M * 4 * 4                   # logits, per-sample loss, gradients
    acts = n * rows * c.width * 4 * 4                 # W x, F, their gradients
    params = n * 3 * c.M * c.width * 4 * 4            # W, V, gradients, Adam moments
    return {"M": table + logits, "width": acts + params}


EXPERIMENT = register(Experiment(
    name="li2", config_cls=Li2Config, make_trainer=Li2Trainer, summarize=summarize,
    presets=PRESETS, headline=headline, summarize_sweep=summarize_sweep, memory=memory,
    description="Group arithmetic mod M with a 2-layer quadratic network: Li₂'s three stages "
                "and the critical train fraction 2.7482·ln M / M (Tian 2025)."))


# --------------------------------------------------------------------------- scenarios
# name → {preset → overrides}
SCENARIOS: dict[str, dict[str, dict]] = {
    # one run, twice the critical fraction, logged densely: the three stages in the measures
    "stages": {
        # measured (seeds 0–4): G_F structured by step 20, memorised by 70–80, test ≥ 0.9
        # at 800–1010
        "quick": dict(M=23, train_frac=0.75, width=128, lr=3e-3, steps=1200, log_every=10),
        "full": dict(M=127, train_frac=0.3, width=512, lr=1e-3, steps=3000, log_every=10),
    },
}

# the grok / no-grok map: M values and train fractions as multiples of 2.7482·ln M / M
BOUNDARY: dict[str, dict] = {
    "quick": dict(Ms=(23, 31, 41), multiples=(0.5, 1.0, 1.5, 2.0, 3.0),
                  overrides=dict(width=128, lr=0.01, steps=500, log_every=25)),
    "full": dict(Ms=(47, 71, 97, 127), multiples=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0),
                 overrides=dict(width=512, lr=1e-3, steps=10000, log_every=100)),
}


def scenario(name: str, preset: str = "quick") -> dict:
    return dict(pick(SCENARIOS, name, preset))


def boundary_configs(preset: str = "quick", Ms=None, multiples=None, seeds=(0,), **overrides):
    """The configs of the grok / no-grok map: for each M, train fractions at ``multiples`` of
    the critical fraction (capped at 0.9) and each seed. Configs of one M train as one
    batched model. Returns (configs, table) where ``table`` lists M, multiple, train_frac."""
    spec = pick({"boundary": BOUNDARY}, "boundary", preset)
    Ms = tuple(Ms or spec["Ms"])
    multiples = tuple(multiples or spec["multiples"])
    exp = EXPERIMENT
    configs, rows = [], []
    for M in Ms:
        for k in multiples:
            frac = round(min(0.9, k * critical_fraction(M)), 4)
            for s in seeds:
                configs.append(exp.config(preset, **{**spec["overrides"], **overrides, "M": M,
                                                     "train_frac": frac, "seed": s}))
                rows.append(dict(M=M, multiple=k, train_frac=frac, seed=s))
    return configs, pd.DataFrame(rows)
