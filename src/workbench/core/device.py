"""Device choice, CPU threads and seeding, in one place."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from .config import ConfigError

__all__ = ["pick_device", "seed_everything", "DTYPES", "dtype_of", "train_threads", "cpu_threads"]

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
          "float64": torch.float64}


def dtype_of(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise ConfigError(f"dtype: must be one of {', '.join(DTYPES)} (got {name!r})") from None


def pick_device(name: str | None = None) -> torch.device:
    """The device to train on: ``name`` if given, else ``$WORKBENCH_DEVICE``, else cuda, then
    mps, then cpu."""
    name = name or os.environ.get("WORKBENCH_DEVICE") or None
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    here = ", ".join(["auto", "cpu"] + (["cuda[:N]"] if torch.cuda.is_available() else [])
                     + (["mps"] if _mps() else []))
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: must be auto, cpu, cuda[:N] or mps (got {name!r}); "
                          f"allowed here: {here}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device: must be auto, cpu, cuda[:N] or mps (got {name!r}); "
                          f"allowed here: {here}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: cuda was asked for but no CUDA GPU is available; "
                          f"allowed here: {here}")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device: {name} does not exist (this machine has "
                          f"{torch.cuda.device_count()} CUDA GPUs: cuda:0 … "
                          f"cuda:{torch.cuda.device_count() - 1})")
    if device.type == "mps" and not _mps():
        raise ConfigError(f"device: mps was asked for but is not available; allowed here: {here}")
    return device


def _mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def train_threads() -> int:
    """The number of CPU threads a run trains with: ``$WORKBENCH_THREADS``, else 1.

    One thread by default: the batched models are small, so a second thread buys little on an
    idle machine and costs a lot on a busy one (threads waiting for a core that another
    process holds), and a fixed count keeps the numbers reproducible (CPU reductions split
    their work by thread). The count is the same in a notebook, the CLI, a dashboard and a
    Dask worker, and each run records it in its ``config.json`` (``threads``).
    """
    value = os.environ.get("WORKBENCH_THREADS", "1")
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"WORKBENCH_THREADS: must be a whole number >= 1 (got {value!r})")
    return n


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run the block with ``n`` torch CPU threads in this thread, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded with ``seed``.

    Experiments draw their randomness from explicit generators built from their config's
    seed, so the same seed on the CPU gives identical numbers whatever ran before.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
