"""workbench: see deep-learning phenomena happen, at runnable scale.

>>> import workbench as wb
>>> run = wb.run("grokking", preset="quick", optimizer="perp_adamw")
>>> run.summary["final_test_acc"]
"""

import os as _os

# Set before torch loads MKL and OpenMP (import workbench before running torch code, or set
# them yourself): MKL matrix products that do not depend on memory alignment, so an instance
# computes the same bits alone, in a batch and in a Dask chunk (see the README's
# "Reproducibility"); idle OpenMP threads that sleep instead of spinning on a busy machine.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .core import (Config, ConfigError, Run, RunStore, Sweep, experiments, get,  # noqa: E402
                   load_trainer, make_config, pick_device, run, seed_everything, sweep)

from .core.config import show_config_errors_in_one_line

show_config_errors_in_one_line()  # in a notebook: a bad parameter is one line, not a traceback

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "Run", "RunStore", "Sweep", "experiments", "get",
           "load_trainer", "make_config", "pick_device", "run", "seed_everything", "sweep",
           "__version__"]
