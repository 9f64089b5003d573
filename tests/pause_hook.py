"""Test helper: a training process that stops for good right after its first checkpoint.

``install(marker)`` wraps the training loop that ``workbench.core.experiment`` runs: the first
time a run writes its checkpoint, the process writes the step into the file ``marker`` and
then blocks (until it is killed). A test that waits for ``marker`` and then kills the process
kills it mid-run, after a checkpoint, on a fast machine as on a slow one: it waits on a state,
not on a guess of how long training takes.

Used in-process (``client.run`` on a Dask worker) and in a CLI subprocess (``HOOKED_CLI``,
with this directory on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

HERE = Path(__file__).parent

# ``python -c HOOKED_CLI MARKER ARGS…`` is ``workbench ARGS…`` with the hook installed
HOOKED_CLI = ("import sys, pause_hook; pause_hook.install(sys.argv.pop(1)); "
              "from workbench.cli import main; sys.exit(main(sys.argv[1:]))")


def env_with_hook(env: dict) -> dict:
    """``env`` with this directory first on ``PYTHONPATH`` (so ``import pause_hook`` works)."""
    path = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}


def install(marker: str) -> None:
    from workbench.core import experiment

    original = experiment.train_loop

    def train_loop(trainer, *, checkpoint=None, **kwargs):
        if checkpoint is None:
            return original(trainer, **kwargs)

        def first_checkpoint_then_block(step, history):
            checkpoint(step, history)
            tmp = Path(str(marker) + ".tmp")
            tmp.write_text(str(step))
            tmp.replace(marker)                 # appears whole
            threading.Event().wait()            # until the process is killed

        return original(trainer, checkpoint=first_checkpoint_then_block, **kwargs)

    experiment.train_loop = train_loop
