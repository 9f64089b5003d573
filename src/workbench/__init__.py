"""workbench: see deep-learning phenomena happen, at runnable scale.

>>> import workbench as wb
>>> run = wb.run("grokking", preset="quick", optimizer="perp_adamw")
>>> run.summary["final_test_acc"]
"""

from .core import (Config, ConfigError, Run, RunStore, Sweep, experiments, get, load_trainer,
                   make_config, pick_device, run, seed_everything, sweep)

from .core.config import show_config_errors_in_one_line

show_config_errors_in_one_line()  # in a notebook: a bad parameter is one line, not a traceback

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "Run", "RunStore", "Sweep", "experiments", "get",
           "load_trainer", "make_config", "pick_device", "run", "seed_everything", "sweep",
           "__version__"]
