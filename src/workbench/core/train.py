"""The training loop, once: steps, logging every ``log_every`` steps, progress, checkpoints,
clean stops.

A chapter supplies a *trainer* (see :class:`Trainer`) that owns a batched model — one model
with a leading instance axis, so a single run and a 64-config sweep share the same code — and
this loop drives it. The loop never reads a tensor value between logs, so on a GPU the step
sequence runs without host synchronisation; ``trainer.log`` is the only place numbers come
back to Python.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, Iterable, Protocol

from tqdm.auto import tqdm

__all__ = ["Trainer", "BatchedTrainer", "train_loop", "StopTraining"]


class Trainer(Protocol):
    """What a chapter implements for the shared loop (see ``grokking/experiment.py``)."""

    def step(self, step: int) -> None:
        """One optimisation step of every instance; no host syncs."""

    def log(self, step: int) -> list[dict]:
        """Metrics of every instance after ``step`` updates: one flat dict per instance."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def instance_state(self, i: int) -> dict:
        """The state a one-instance trainer of instance ``i`` would have."""


class BatchedTrainer:
    """Base for trainers with ``self.n`` instances: the state is ``self.model`` and
    ``self.opt`` unless a subclass overrides :meth:`state_dict` / :meth:`load_state_dict`;
    :meth:`instance_state` slices instance ``i`` out of whatever :meth:`state_dict` returns."""

    n: int

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def instance_state(self, i: int) -> dict:
        from .batched import slice_instance
        return slice_instance(self.state_dict(), i, self.n)


class StopTraining(Exception):
    """Raised inside the loop when a stop was requested; carries the checkpointed step."""


def _log_steps(steps: int, log_every: int) -> set[int]:
    return set(range(0, steps, log_every)) | {steps}


def train_loop(trainer: Trainer, *, steps: int, log_every: int, start_step: int = 0,
               history: list[dict] | None = None,
               on_log: Callable[[list[dict]], None] | None = None,
               checkpoint: Callable[[int, list[dict]], None] | None = None,
               checkpoint_every: int | None = None,
               stop: threading.Event | None = None,
               progress: bool = True, desc: str = "train",
               postfix: Callable[[list[dict]], dict] | None = None,
               log_at: Iterable[int] | None = None) -> list[dict]:
    """Run ``trainer`` from ``start_step`` to ``steps``; return the metric rows.

    Rows are logged at step 0, every ``log_every`` steps and at ``steps`` (metrics at step
    ``s`` are measured after ``s`` updates), or at the steps ``log_at`` (the last step is always
    logged), each tagged with ``step`` and ``instance``.
    ``checkpoint(step, history)`` is called every ``checkpoint_every`` steps, and also when
    the loop is interrupted (Ctrl-C, or ``stop`` set from another thread): the interrupt is
    taken between two steps, the state is saved, and then ``KeyboardInterrupt`` (Ctrl-C) or
    :class:`StopTraining` (``stop``) is raised, so nothing is lost.
    """
    history = list(history or [])
    logged = {r["step"] for r in history}
    log_at = _log_steps(steps, log_every) if log_at is None else \
        {s for s in log_at if 0 <= s <= steps} | {steps}
    every = checkpoint_every or max(log_every, (steps // 10) // log_every * log_every)
    interrupted = threading.Event()

    def on_sigint(signum, frame):  # taken between two steps, see below
        interrupted.set()

    in_main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, on_sigint) if in_main else None

    def do_log(s: int):
        rows = trainer.log(s)
        for i, row in enumerate(rows):
            history.append({"step": s, "instance": i, **row})
        logged.add(s)
        if postfix is not None:
            bar.set_postfix(postfix(rows), refresh=False)
        if on_log is not None:
            on_log(history)

    bar = tqdm(total=steps, initial=start_step, desc=desc, disable=not progress,
               dynamic_ncols=True, leave=True)
    last = start_step
    try:
        for s in range(start_step, steps):
            if s in log_at and s not in logged:
                do_log(s)
                bar.update(s - last)
                last = s
            if checkpoint is not None and s > start_step and s % every == 0:
                checkpoint(s, history)
            if interrupted.is_set() or (stop is not None and stop.is_set()):
                if checkpoint is not None:
                    checkpoint(s, history)
                if interrupted.is_set():
                    raise KeyboardInterrupt
                raise StopTraining(s)
            trainer.step(s)
        if steps not in logged:
            do_log(steps)
        bar.update(steps - last)
    finally:
        bar.close()
        if in_main:
            signal.signal(signal.SIGINT, old_handler)
    return history
