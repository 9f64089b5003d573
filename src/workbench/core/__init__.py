"""Shared machinery: configs, devices and seeding, the training loop, the run store, the
experiment registry, batched helpers, plots and widgets."""

from .config import Config, ConfigError, TrainConfig, field
from .device import pick_device, seed_everything
from .experiment import experiments, get, make_config, run, sweep, load_trainer
from .store import Run, RunStore, Sweep

__all__ = ["Config", "ConfigError", "TrainConfig", "field", "pick_device", "seed_everything", "experiments",
           "get", "make_config", "run", "sweep", "load_trainer", "Run", "RunStore", "Sweep"]
