"""Grokking metrics: pure functions of tensors. A leading instance axis is allowed
everywhere (shapes (..., N, C) → (...,))."""

from __future__ import annotations

import math

import torch

__all__ = ["accuracy", "softmax_collapse_fraction", "zero_loss_fraction", "nlm_cosine",
           "fourier_power", "key_frequencies", "fourier_concentration", "classify_run",
           "sum_frequency_basis", "key_frequency_projection", "logit_frequency_power",
           "restricted_loss", "excluded_loss", "key_frequency_power", "dominant_frequencies",
           "progress_phases"]


def _mean(x: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Share over the last axis (float64). With ``weights`` (per-instance padding: weight 1/n_i
    on the n_i real samples, 0 on padding) only the samples of positive weight count, and the
    share is an exact count ratio, so "all samples" is exactly 1.0."""
    if weights is None:
        return x.double().mean(-1)
    real = weights > 0
    return (x & real).sum(-1).double() / real.sum(-1).clamp(min=1)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, weights=None) -> torch.Tensor:
    """Share of samples whose arg-max logit is the target."""
    return _mean(logits.argmax(-1) == targets, weights)


def softmax_collapse_fraction(logits: torch.Tensor, dtype: torch.dtype = torch.float32,
                              weights=None) -> torch.Tensor:
    """Softmax Collapse (SC) fraction (Prieto et al. 2025, arXiv:2501.04697, §3).

    Cast the logits z_n to ``dtype``; S_n = Σ_k exp(z_nk − max_k z_nk). SC = share of samples
    with S_n == 1 exactly, i.e. where every competitor's exp underflows against the top class
    so the softmax is an exact one-hot and the correct-class gradient is exactly 0. In float32
    that happens once the top logit leads by about 16.6 (one competitor) to 21 (112 equal ones).
    """
    z = logits.to(dtype)
    s = torch.exp(z - z.max(-1, keepdim=True).values).sum(-1)
    return _mean(s == 1, weights)


def zero_loss_fraction(per_sample_loss: torch.Tensor, weights=None) -> torch.Tensor:
    """Share of samples whose loss is exactly 0 in the precision it was computed in
    (Prieto et al. 2025)."""
    return _mean(per_sample_loss == 0, weights)


def nlm_cosine(grads: list[torch.Tensor], params: list[torch.Tensor],
               instance_axis: bool = True) -> torch.Tensor:
    """cos(−∇_θ L, θ) over all parameters flattened (Prieto et al. 2025, §5).

    For a bias-free ReLU MLP f(cθ) = c^L f(θ), so θ itself is the naïve-loss-minimisation
    direction that only scales the logits; a cosine near 1 means the gradient mostly does that.
    """
    def flat(ts):
        return torch.cat([t.reshape(t.shape[0], -1) if instance_axis else t.reshape(1, -1)
                          for t in ts], 1)
    g, w = flat(grads), flat(params)
    cos = -(g * w).sum(1) / (g.norm(dim=1) * w.norm(dim=1) + 1e-30)
    return cos if instance_axis else cos[0]


def fourier_power(embedding: torch.Tensor) -> torch.Tensor:
    """Power of the embedding in the Fourier basis of Z_p (Nanda et al. 2023, arXiv:2301.05217).

    For an embedding E of shape (..., p, d) (one row per residue a), the DFT over a,
    Ê_k = Σ_a E_a e^{−2πi k a / p}, gives P_k = Σ_d |Ê_k,d|² for k = 0..⌊p/2⌋ (k and p − k
    combined), normalised to sum to 1. A grokked network concentrates its power on a handful
    of key frequencies.
    """
    spec = torch.fft.rfft(embedding.double(), dim=-2)        # (..., p//2 + 1, d)
    power = (spec.abs() ** 2).sum(-1)
    return power / power.sum(-1, keepdim=True)


def key_frequencies(power: torch.Tensor, top: int = 5) -> list[int]:
    """The ``top`` frequencies k ≥ 1 with the most power (one power spectrum, shape (K,))."""
    return (torch.argsort(power[1:], descending=True)[:top] + 1).tolist()


def fourier_concentration(embedding: torch.Tensor, top: int = 5) -> torch.Tensor:
    """Share of the non-constant Fourier power held by the ``top`` strongest frequencies —
    a progress measure in the spirit of Nanda et al.: ≈ top/(p/2) for a random embedding,
    near 1 once the modular-addition circuit has formed."""
    power = fourier_power(embedding)[..., 1:]
    power = power / power.sum(-1, keepdim=True)
    return power.sort(-1, descending=True).values[..., :top].sum(-1)


def classify_run(summary: dict, threshold: float = 0.9) -> str:
    """Phase of a run from its summary: ``no-learn`` (train accuracy never reaches
    ``threshold``), ``memorise`` (train does, test does not), ``grok`` (test reaches it at
    least twice as late as train, and at least one log interval later) or ``generalise``
    (test follows train closely)."""
    s_train, s_test = summary.get("step_train_acc_0.9"), summary.get("step_test_acc_0.9")
    if s_train is None:
        return "no-learn"
    if s_test is None:
        return "memorise"
    if s_test >= 2 * max(s_train, 1) and s_test > s_train + summary.get("log_every", 0):
        return "grok"
    return "generalise"


# --------------------------------------------------------------------------- Nanda's progress measures
def sum_frequency_basis(p: int, keys, sign: int = 1, dtype=torch.float64) -> torch.Tensor:
    """Unit vectors over the p² pairs (a, b), row-major (index a·p + b): for every key frequency
    k, ĉ_k ∝ cos(ω_k(a + sign·b)) and ŝ_k ∝ sin(ω_k(a + sign·b)) with ω_k = 2πk/p, shape
    (2·len(keys), p²). For 1 ≤ k < p/2 they are orthonormal and orthogonal to the constant
    (Nanda et al. 2023, arXiv:2301.05217, §5.1: the directions cos/sin(ω(a+b)) that the
    modular-addition circuit writes its logits along). ``sign=-1`` gives a − b (subtraction)."""
    a = torch.arange(p, dtype=dtype).view(-1, 1)
    b = torch.arange(p, dtype=dtype).view(1, -1)
    rows = []
    for k in keys:
        k = int(k)
        if not 1 <= k < p / 2:
            raise ValueError(f"key_freqs: every frequency must be in 1..{(p - 1) // 2} (got {k})")
        phase = (2 * math.pi * k / p) * ((a + sign * b) % p)
        for wave in (torch.cos(phase), torch.sin(phase)):
            rows.append((wave / wave.norm()).reshape(-1))
    return torch.stack(rows) if rows else torch.zeros(0, p * p, dtype=dtype)


def key_frequency_projection(logits: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """P_K Z = Σ_{u ∈ basis} u ⟨u, Z⟩: the part of the logit table Z (..., p², C) (rows the
    pairs (a, b) in :func:`sum_frequency_basis` order, one column per output class c) that lies
    along the key directions cos/sin(ω_k(a + b)); ``basis`` is (2K, p²) or per instance
    (..., 2K, p²) (zero rows allowed: padding)."""
    coef = basis.to(logits.dtype) @ logits                 # (..., 2K, C)
    return basis.to(logits.dtype).transpose(-1, -2) @ coef


def logit_frequency_power(logits: torch.Tensor, p: int, sign: int = 1) -> torch.Tensor:
    """Share of the logit table's non-constant variance along cos/sin(ω_k(a + sign·b)), for
    k = 0..⌊p/2⌋ (entry 0 is 0): Σ_c ⟨ĉ_k, Z_c⟩² + ⟨ŝ_k, Z_c⟩², over Σ_{a,b,c} (Z − Z̄)².
    A generalising modular-addition network puts most of it on a few key frequencies; the
    shares need not sum to 1 (the rest lies along other directions of the (a, b) grid)."""
    z = logits.double()
    ks = list(range(1, (p + 1) // 2))
    coef = sum_frequency_basis(p, ks, sign).to(z.device) @ z          # (..., 2K, C)
    per = coef.pow(2).sum(-1).unflatten(-1, (len(ks), 2)).sum(-1)     # (..., K)
    total = (z - z.mean(-2, keepdim=True)).pow(2).sum((-1, -2)).clamp_min(1e-300)
    out = torch.zeros(*per.shape[:-1], p // 2 + 1, dtype=torch.float64, device=z.device)
    out[..., 1:len(ks) + 1] = per / total.unsqueeze(-1)
    return out


def _ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None):
    """Cross-entropy in float64 per instance: mean over rows (or Σ weights·loss)."""
    nll = -torch.log_softmax(logits.double(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if weights is None:
        return nll.mean(-1)
    return (nll * weights).sum(-1) / weights.sum(-1)


def restricted_loss(logits: torch.Tensor, labels: torch.Tensor, basis: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """Restricted loss (Nanda et al. 2023, arXiv:2301.05217, §5.1): the cross-entropy of the
    logits with everything but the key frequencies ablated,

        Z_restricted = Z̄ + P_K Z,   L_restricted = CE(Z_restricted, y)

    where Z̄ is the mean over pairs (a, b) of each class's logit and P_K the projection onto
    cos/sin(ω_k(a + b)), k in the key set (:func:`key_frequency_projection`). ``logits`` is
    the full table (..., p², C), ``labels`` (p²,) or (..., p²); ``weights`` (..., p²) picks
    and weighs the rows averaged over (None: every pair, which is how it is logged here).
    It falls once the Fourier circuit alone computes the task."""
    z = logits.double()
    restricted = z.mean(-2, keepdim=True) + key_frequency_projection(z, basis)
    return _ce(restricted, labels.expand(z.shape[:-1]), weights)


def excluded_loss(logits: torch.Tensor, labels: torch.Tensor, basis: torch.Tensor,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Excluded loss (Nanda et al. 2023, arXiv:2301.05217, §5.1): the cross-entropy on the
    *training* pairs of the logits with the key frequencies removed,

        Z_excluded = Z − P_K Z,   L_excluded = CE(Z_excluded, y) over the training set

    (``weights``: 1/n_train on training pairs, 0 elsewhere). While the network memorises it
    equals the training loss; it rises as the training set comes to be fitted through the
    key-frequency circuit rather than by memorisation (circuit formation)."""
    z = logits.double()
    excluded = z - key_frequency_projection(z, basis)
    return _ce(excluded, labels.expand(z.shape[:-1]), weights)


def key_frequency_power(embedding: torch.Tensor, keys) -> torch.Tensor:
    """Share of the embedding's non-constant Fourier power (:func:`fourier_power`) held by
    the frequencies ``keys``: ≈ len(keys)/⌊p/2⌋ for a random embedding, near 1 once the
    embedding is built from those frequencies (Nanda et al. 2023's key-frequency power).
    ``keys`` is one list, or one list per leading instance (shorter lists padded with 0)."""
    power = fourier_power(embedding)
    nonconst = power[..., 1:].sum(-1)
    keys_t = torch.as_tensor(keys, dtype=torch.int64, device=power.device)
    if keys_t.dim() == 1:
        return power[..., keys_t].sum(-1) / nonconst
    picked = power.gather(-1, keys_t) * (keys_t > 0)
    return picked.sum(-1) / nonconst


def dominant_frequencies(power: torch.Tensor, share: float = 0.99) -> list[int]:
    """The fewest frequencies k ≥ 1 that hold ``share`` of a spectrum's non-constant power
    (one spectrum, shape (⌊p/2⌋ + 1,), e.g. :func:`logit_frequency_power` of a final model),
    sorted: the key frequencies. A grokked network's spectrum drops to ≈ 0 after them."""
    p1 = power[1:].double()
    order = torch.argsort(p1, descending=True)
    cum = p1[order].cumsum(0) / p1.sum().clamp_min(1e-300)
    n = int((cum < share).sum()) + 1
    return sorted((order[:n] + 1).tolist())


def progress_phases(metrics, n_classes: int, train_acc: float = 0.99,
                    excluded_rise: float = 0.9) -> dict:
    """The three phases of Nanda et al. (2023), marked on one run's logged progress measures
    (a DataFrame with ``step``, ``train_acc``, ``test_loss`` and ``excluded_loss``). The
    boundaries are ours, read off the measures:

    * **memorisation** ends at t₁, the first log with train accuracy ≥ ``train_acc``;
    * **circuit formation** runs from t₁ to t₂, the first later log at which the test loss is
      back below ln C (``n_classes`` = C): the key-frequency circuit now outweighs the
      memorised noise on unseen pairs (meanwhile the excluded loss rises and the restricted
      loss falls);
    * **clean-up** runs from t₂ to t₃, the first log at which the excluded loss has made
      ``excluded_rise`` (90 %) of its rise from t₁ to its final value: the training set is
      now fitted through the key frequencies, the memorising components are gone.

    Returns ``{"memorisation": (0, t₁), "circuit formation": (t₁, t₂), "clean-up": (t₂, t₃)}``;
    a boundary never reached is None (and so are the phases after it)."""
    m = metrics.sort_values("step").reset_index(drop=True)

    def first(mask, after=None):
        rows = m.loc[mask & (m["step"] >= after if after is not None else True), "step"]
        return None if rows.empty else int(rows.iloc[0])

    t1 = first(m["train_acc"] >= train_acc)
    t2 = None if t1 is None else first(m["test_loss"] <= math.log(n_classes), t1 + 1)
    t3 = None
    if t2 is not None:
        start = float(m.loc[m["step"] == t1, "excluded_loss"].iloc[0])
        end = float(m["excluded_loss"].iloc[-1])
        if end > start:
            t3 = first(m["excluded_loss"] >= start + excluded_rise * (end - start), t2)
    return {"memorisation": (0, t1),
            "circuit formation": None if t1 is None else (t1, t2),
            "clean-up": None if t2 is None else (t2, t3)}
