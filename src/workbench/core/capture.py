"""A training step that a CUDA graph can capture, written once for every chapter.

One run of a small model is *launch-bound* on a GPU: the kernels are tiny and Python spends
longer launching them than the GPU spends running them. A CUDA graph records the whole step
once and replays it with one launch. For that the step must be a function of *static*
tensors:

- the same shapes every step, the same tensors read and written (state updated in place);
- no host syncs (no ``.item()``, no Python ``if`` on a tensor value);
- nothing that changes between steps passed as a Python number: the step count, the
  learning-rate factor, τ … live in device tensors that the trainer fills before each step.

A trainer writes such a function (``_update``) and wraps it in :class:`StepGraph`. On CUDA
with capture on, the first ``warmup`` calls run it eagerly on a side stream (they are real
training steps), the next call records it into a ``torch.cuda.CUDAGraph`` and every call
from then on replays the graph. Everywhere else (CPU, MPS, or capture off) a call runs the
very same function eagerly. Replaying a graph runs the same kernels on the same tensors as
the eager call, so capture changes the speed, not the numbers: the ``capture`` config field
(:func:`capture_field`) is therefore left out of a run's identity.

TF32 (:func:`tf32_field`, :func:`tf32_matmuls`) does change the numbers (10-bit mantissa
products in float32 matmuls on CUDA): it is opt-in per experiment, part of the run's
identity, never on by default, and refused where floating-point precision is the subject.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

from .config import field

__all__ = ["StepGraph", "capture_field", "tf32_field", "tf32_matmuls", "capture_active"]


def capture_field():
    """The ``capture`` config field: replay the training step as a CUDA graph on CUDA."""
    return field(True, "on CUDA, replay the training step as a CUDA graph (speed only: the "
                       "numbers are the eager step's, so it is not part of the run id); "
                       "no effect on CPU", identity=False)


def tf32_field():
    """The ``tf32`` config field: opt-in TF32 matmuls in the training step on CUDA."""
    return field(False, "on CUDA, TF32 matmuls in the training step (faster, changes the "
                        "numbers; metrics stay in full float32); no effect on CPU")


def capture_active(device: torch.device, enabled: bool) -> bool:
    """Whether a :class:`StepGraph` on ``device`` with ``enabled`` will capture."""
    return bool(enabled) and torch.device(device).type == "cuda"


@contextlib.contextmanager
def tf32_matmuls(enabled: bool):
    """Allow TF32 in float32 CUDA matmuls (and cuDNN) inside the block, if ``enabled``; the
    previous setting is restored afterwards. No effect on CPU tensors."""
    if not enabled:
        yield
        return
    m, c = torch.backends.cuda.matmul, torch.backends.cudnn
    new_api = hasattr(m, "fp32_precision") and hasattr(c, "fp32_precision")
    old = (m.fp32_precision, c.fp32_precision) if new_api else (m.allow_tf32, c.allow_tf32)
    try:
        if new_api:
            m.fp32_precision = c.fp32_precision = "tf32"
        else:
            m.allow_tf32 = c.allow_tf32 = True
        yield
    finally:
        if new_api:
            m.fp32_precision, c.fp32_precision = old
        else:
            m.allow_tf32, c.allow_tf32 = old


class StepGraph:
    """Run ``fn`` (a training step over static tensors, no arguments) once per call: as a
    replayed CUDA graph on CUDA when ``enabled``, else eagerly.

    ``tf32`` wraps every eager call and the capture in :func:`tf32_matmuls`. Call
    :meth:`reset` whenever a tensor the step reads or writes is replaced rather than
    updated in place (e.g. after ``load_state_dict`` of an optimizer): the next calls warm
    up and capture again.
    """

    def __init__(self, fn: Callable[[], None], device: torch.device, enabled: bool = True,
                 tf32: bool = False, warmup: int = 3):
        self.fn, self.device, self.tf32, self.warmup = fn, torch.device(device), tf32, warmup
        self.capture = capture_active(self.device, enabled)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0  # eager calls since the last reset (warm-up of the capture)

    def reset(self) -> None:
        self.graph, self.calls = None, 0

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self) -> None:
        if not self.capture:
            with tf32_matmuls(self.tf32):
                self.fn()
            return
        if self.graph is not None:
            self.graph.replay()
            return
        if self.calls < self.warmup:
            # warm-up on a side stream (lazy cuBLAS / autograd initialisation happens
            # outside the capture); these are real steps
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side), tf32_matmuls(self.tf32):
                self.fn()
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.calls += 1
            return
        graph = torch.cuda.CUDAGraph()
        with tf32_matmuls(self.tf32), torch.cuda.graph(graph):
            self.fn()            # recorded, not run
        self.graph = graph
        graph.replay()           # this call's step
