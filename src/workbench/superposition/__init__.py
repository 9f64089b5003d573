"""Chapter 2: superposition and neural scaling (Liu, Liu & Gore 2025; Elhage et al. 2022;
Bahri et al. 2021)."""

from .data import feature_probs
from .experiment import EXPERIMENT, SuperpositionConfig, SuperpositionTrainer
from .toy import EXPERIMENT as TOY_EXPERIMENT, ToyConfig, ToyTrainer
from .metrics import (dimensions_per_feature, exponent_over_seeds, feature_dimensionality,
                      fit_exponent, interference, overlap_stats, phi, random_overlap_stats,
                      welch_bound)

__all__ = ["feature_probs", "EXPERIMENT", "TOY_EXPERIMENT", "ToyConfig", "ToyTrainer",
           "SuperpositionConfig", "SuperpositionTrainer",
           "dimensions_per_feature", "exponent_over_seeds", "feature_dimensionality",
           "fit_exponent", "interference", "overlap_stats", "phi", "random_overlap_stats",
           "welch_bound"]
