"""Chapter 4: the Gumbel-Softmax family (Jang, Gu & Poole 2016; Maddison, Mnih & Teh 2016)
and toys of recent papers that use it (MaskLLM, Sparse-CBM, SofT-GRPO, Gumbel-Softmax flow
matching).

Importing the package registers the experiments ``gumbel-estimators``, ``gumbel-vae``,
``gumbel-masks``, ``gumbel-cbm``, ``gumbel-softgrpo`` and ``gumbel-flow``.
"""

from . import cbm, estimators, flow, masks, soft_grpo, vae
from .samplers import (binary_concrete, check_logits, check_tau, concrete_log_density,
                       gumbel_max, gumbel_noise, gumbel_softmax, straight_through, tau_at)

__all__ = ["binary_concrete", "check_logits", "check_tau", "concrete_log_density", "gumbel_max",
           "gumbel_noise", "gumbel_softmax", "straight_through", "tau_at", "cbm", "estimators",
           "flow", "masks", "soft_grpo", "vae"]
