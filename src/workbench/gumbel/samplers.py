"""Gumbel-max, Gumbel-Softmax / Concrete, straight-through, binary Concrete, τ schedules.

Jang, Gu & Poole 2016 (arXiv 1611.01144); Maddison, Mnih & Teh 2016 (1611.00712); the
straight-through estimator of Bengio, Léonard & Courville 2013 (1308.3432).

Everything is computed in float32 (or float64 when given float64) and checked: τ ≤ 0,
non-finite logits, or half-precision inputs whose scaled logits (ℓ + g)/τ would overflow
that precision raise a one-line :class:`~workbench.core.config.ConfigError` naming the
parameter, instead of returning a silent NaN (torch's own ``F.gumbel_softmax`` returns NaN
for τ = 0, pytorch issue #184031).
"""

from __future__ import annotations

import math
import warnings

import torch

from ..core.config import ConfigError

__all__ = ["check_tau", "check_logits", "gumbel_from_uniform", "gumbel_noise", "gumbel_max",
           "gumbel_softmax", "straight_through", "one_hot_argmax", "concrete_log_density",
           "binary_concrete", "tau_at", "SCHEDULES", "MIN_SAFE_TAU"]

MIN_SAFE_TAU = 0.05  # below this the relaxation is nearly one-hot and gradients explode
SCHEDULES = ("constant", "exp", "linear")
_LOW = (torch.float16, torch.bfloat16)


def check_tau(tau) -> None:
    """Raise ConfigError for τ ≤ 0 or non-finite τ; warn below :data:`MIN_SAFE_TAU`."""
    if isinstance(tau, torch.Tensor):
        if not bool(torch.isfinite(tau).all()) or bool((tau <= 0).any()):
            bad = tau[~torch.isfinite(tau) | (tau <= 0)].flatten()[0].item()
            raise ConfigError(f"tau: must be a finite number > 0 (got {bad!r})")
        low = float(tau.min())
    else:
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or \
                not math.isfinite(tau) or tau <= 0:
            raise ConfigError(f"tau: must be a finite number > 0 (got {tau!r})")
        low = float(tau)
    if low < MIN_SAFE_TAU:
        warnings.warn(f"tau={low:g} is below {MIN_SAFE_TAU}: relaxed samples are almost one-hot "
                      "and their gradients have a huge variance", stacklevel=3)


def check_logits(logits: torch.Tensor) -> None:
    """Raise ConfigError when ``logits`` holds a NaN or ±inf (a −inf logit for a category of
    probability 0 is allowed, as long as some category is finite)."""
    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ConfigError("logits: contain NaN or +inf (check the layer that produced them)")
    if torch.isneginf(logits).all(-1).any():
        raise ConfigError("logits: a row is all -inf (no category has positive probability)")


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def gumbel_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """g = −log(−log U), with U clamped into (0, 1) so that g is always finite."""
    fin = torch.finfo(u.dtype)
    u = u.clamp(min=fin.tiny, max=1.0 - fin.eps)
    return -torch.log(-torch.log(u))


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None,
                 dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise of ``shape`` (always finite)."""
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return gumbel_from_uniform(u)


def _noise_for(logits, noise, generator):
    if noise is None:
        return gumbel_noise(logits.shape, generator, logits.device, _compute_dtype(logits.dtype))
    if noise.shape != logits.shape:
        raise ConfigError(f"noise: shape {tuple(noise.shape)} must match logits "
                          f"{tuple(logits.shape)}")
    return noise.to(_compute_dtype(logits.dtype))


def gumbel_max(logits: torch.Tensor, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None, dim: int = -1) -> torch.Tensor:
    """Exact samples from Cat(softmax(logits)): argmax_i (ℓ_i + g_i) (the Gumbel-max trick)."""
    check_logits(logits)
    g = _noise_for(logits, noise, generator)
    return (logits.to(g.dtype) + g).argmax(dim)


def one_hot_argmax(y: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The one-hot vector of argmax along ``dim`` (no gradient)."""
    idx = y.argmax(dim, keepdim=True)
    return torch.zeros_like(y).scatter_(dim, idx, 1.0)


def straight_through(y: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """z − sg(y) + y: forward value exactly one-hot, backward the gradient of the soft y."""
    z = one_hot_argmax(y.detach(), dim)
    return z - y.detach() + y


def gumbel_softmax(logits: torch.Tensor, tau=1.0, hard: bool = False,
                   generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
                   dim: int = -1) -> torch.Tensor:
    """y = softmax((ℓ + g)/τ) (Gumbel-Softmax / Concrete); with ``hard`` the straight-through
    version (one-hot forward, soft gradient). ``tau`` is a float or a tensor broadcasting
    against ``logits`` (e.g. one τ per instance). Half-precision logits are computed in float32
    and returned in their dtype; if (ℓ + g)/τ would overflow that dtype a ConfigError names τ.
    """
    check_tau(tau)
    check_logits(logits)
    g = _noise_for(logits, noise, generator)
    cdt = g.dtype
    t = tau.to(device=logits.device, dtype=cdt) if isinstance(tau, torch.Tensor) else tau
    scaled = (logits.to(cdt) + g) / t
    if logits.dtype in _LOW:
        top = torch.finfo(logits.dtype).max
        finite = scaled[torch.isfinite(scaled)]
        if finite.numel() and float(finite.abs().max()) > top:
            raise ConfigError(f"tau: (logits + g)/tau overflows {str(logits.dtype)[6:]} (max "
                              f"{top:g}); raise tau or pass float32 logits")
    y = torch.softmax(scaled, dim)
    if hard:
        y = straight_through(y, dim)
    return y.to(logits.dtype)


def concrete_log_density(y: torch.Tensor, logits: torch.Tensor, tau: float) -> torch.Tensor:
    """log p(y) of the Concrete distribution on the simplex (Maddison et al. 2016, eq. 6):
    log Γ(k) + (k−1) log τ − k·logsumexp_i(log π_i − τ log y_i) + Σ_i (log π_i − (τ+1) log y_i),
    with log π = log_softmax(logits). Same as torch's RelaxedOneHotCategorical.log_prob."""
    check_tau(tau)
    check_logits(logits)
    k = y.shape[-1]
    logp = torch.log_softmax(logits.to(_compute_dtype(y.dtype)), -1)
    logy = torch.log(y.to(logp.dtype))
    return (math.lgamma(k) + (k - 1) * math.log(tau)
            - k * torch.logsumexp(logp - tau * logy, -1) + (logp - (tau + 1) * logy).sum(-1))


def binary_concrete(logit: torch.Tensor, tau=2 / 3, hard: bool = False,
                    generator: torch.Generator | None = None,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """Binary Concrete (relaxed Bernoulli(σ(ℓ))): σ((ℓ + log U − log(1 − U))/τ); with ``hard``
    the straight-through 0/1 value. ``noise`` (optional) is the logistic noise log U − log(1−U)."""
    check_tau(tau)
    if torch.isnan(logit).any():
        raise ConfigError("logit: contains NaN")
    cdt = _compute_dtype(logit.dtype)
    if noise is None:
        fin = torch.finfo(cdt)
        u = torch.rand(logit.shape, generator=generator, device=logit.device, dtype=cdt)
        u = u.clamp(fin.tiny, 1 - fin.eps)
        noise = torch.log(u) - torch.log1p(-u)
    y = torch.sigmoid((logit.to(cdt) + noise.to(cdt)) / tau)
    if hard:
        y = (y > 0.5).to(y.dtype) - y.detach() + y
    return y.to(logit.dtype)


def tau_at(step: int, total: int, kind: str = "exp", tau0: float = 1.0, tau_min: float = 0.5,
           anneal_frac: float = 0.6, every: int = 100) -> float:
    """Temperature at ``step`` of ``total`` (a Python float: no host sync).

    ``constant``: τ0. ``exp`` (Jang et al.): τ = max(τ_min, τ0·exp(−r·t)) with t the step rounded
    down to a multiple of ``every`` and r chosen so that the floor is reached at
    ``anneal_frac`` of training (annealing tied to the total steps, so quick presets still get
    there). ``linear`` (MaskLLM): τ0 → τ_min linearly over ``anneal_frac`` of training.
    """
    if kind not in SCHEDULES:
        raise ConfigError(f"schedule: must be one of {', '.join(SCHEDULES)} (got {kind!r})")
    if kind == "constant" or total <= 0:
        return float(tau0)
    horizon = max(1.0, anneal_frac * total)
    if kind == "linear":
        frac = min(1.0, step / horizon)
        return float(tau0 + (tau_min - tau0) * frac)
    t = (step // every) * every if every > 1 else step
    rate = math.log(tau0 / tau_min) / horizon if tau0 > tau_min else 0.0
    return float(max(tau_min, tau0 * math.exp(-rate * t)))
