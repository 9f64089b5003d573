"""Chapter 3: neural collapse — from the unconstrained-features model to a tiny language model
(Papyan, Han & Donoho 2020; Zhu et al. 2021; Fang et al. 2021; Wu & Papyan 2024)."""

from .experiment import EXPERIMENT, NCConfig, NCTrainer
from .linguistic import EXPERIMENT as LM_EXPERIMENT, LMConfig, LMTrainer
from .metrics import NC_KEYS, NCAccumulator, geometry, nc_metrics, nc_metrics_stream, simplex_etf
from .equiangular import EXPERIMENT as EBV_EXPERIMENT, EBVConfig, ebv, welch_bound

__all__ = ["EXPERIMENT", "NCConfig", "NCTrainer", "LM_EXPERIMENT", "LMConfig", "LMTrainer",
           "NC_KEYS", "NCAccumulator", "geometry", "nc_metrics", "nc_metrics_stream",
           "simplex_etf", "EBV_EXPERIMENT", "EBVConfig", "ebv", "welch_bound"]
from . import grokking_nc  # noqa: E402,F401  registers grokking-nc
