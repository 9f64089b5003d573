"""Chapter 1: grokking and Softmax Collapse (Prieto et al. 2025; Nanda et al. 2023)."""

from .data import modular_arithmetic, sparse_parity, split
from .experiment import EXPERIMENT, GrokkingConfig, GrokkingTrainer
from .losses import log_stablemax, softmax_cross_entropy, stablemax, stablemax_cross_entropy
from .metrics import (fourier_power, key_frequencies, nlm_cosine, softmax_collapse_fraction,
                      zero_loss_fraction)
from .optim import PerpGrad, perp_grad_

__all__ = ["modular_arithmetic", "sparse_parity", "split", "EXPERIMENT", "GrokkingConfig",
           "GrokkingTrainer", "log_stablemax", "softmax_cross_entropy", "stablemax",
           "stablemax_cross_entropy", "fourier_power", "key_frequencies", "nlm_cosine",
           "softmax_collapse_fraction", "zero_loss_fraction", "PerpGrad", "perp_grad_"]
from . import li2, xor  # noqa: E402,F401  register li2 (Tian 2025) and xor-grokking (Xu et al. 2024)
