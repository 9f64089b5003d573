"""Refuse a config that cannot fit in memory, before anything is allocated or stored.

Each experiment may give an estimate (``Experiment.memory``): for the configs of one batched
model, a dict ``{part: bytes}`` of the memory the training needs (the largest tensors: data,
activations, logits, parameters with their gradients and optimizer state), each part named
after the field it grows with. :func:`check_memory` compares the total with the memory of the
device (this machine's RAM, or the GPU's) and raises a one-line :class:`ConfigError` naming
the field to blame (the one whose default would save the most), what the config would need
and the largest value of that field that fits, e.g.::

    p: p=100000 needs ≈ 24 PB of memory, more than the 25.3 GB of this machine (cpu);
    allowed here: p <= 975

An estimate is a rough count of the big tensors (a factor of a few, not of a thousand): it
refuses what cannot run, not what is merely tight.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import torch

from .config import Config, ConfigError

__all__ = ["check_memory", "device_memory", "fmt_bytes"]

Estimate = Callable[[list[Config]], dict[str, float]]


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


def device_memory(device: torch.device) -> int:
    """Bytes of memory on ``device``: the GPU's, else this machine's RAM."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # psutil comes with dask; without it, the POSIX page count
        import os

        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _total(estimate: Estimate, configs: list[Config]) -> float:
    return float(sum(estimate(configs).values()))


def _with(configs: list[Config], name: str, value) -> list[Config]:
    """Copies of ``configs`` with field ``name`` set to ``value``, unvalidated (only the
    estimate reads them)."""
    out = []
    for c in configs:
        c = copy.copy(c)
        object.__setattr__(c, name, value)
        out.append(c)
    return out


def _culprit(estimate: Estimate, configs: list[Config], parts: dict[str, float]) -> str:
    """The field to name: the one whose default value saves the most memory (the field the
    user made large), else the largest part."""
    defaults = {f.name: f.default for f in dataclasses.fields(configs[0])}
    total, best, saved = sum(parts.values()), max(parts, key=parts.get), 0.0
    for name, default in defaults.items():
        value = getattr(configs[0], name)
        if value == default or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        gain = total - _total(estimate, _with(configs, name, defaults[name]))
        if gain > saved:
            best, saved = name, gain
    return best


def _largest_fitting(estimate: Estimate, configs: list[Config], name: str, limit: float):
    """The largest int value of field ``name`` (<= its current value) that fits, or None."""
    value = getattr(configs[0], name, None)
    if not isinstance(value, int) or isinstance(value, bool):
        return None

    def fits(v: int) -> bool:
        return _total(estimate, _with(configs, name, v)) <= limit

    if not fits(1):
        return None
    lo, hi = 1, value  # fits(lo); hi does not fit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check_memory(estimate: Estimate | None, configs: list[Config], device: torch.device,
                 limit: float | None = None) -> None:
    """Raise a one-line ConfigError when ``configs`` (one batched model) need more memory
    than ``device`` has (or ``limit`` bytes)."""
    if estimate is None or not configs:
        return
    parts = estimate(configs)
    need = float(sum(parts.values()))
    limit = float(device_memory(device) if limit is None else limit)
    if need <= limit:
        return
    name = _culprit(estimate, configs, parts)
    value = getattr(configs[0], name, None)
    what = f"{name}={value}" if value is not None else name
    n = f" ({len(configs)} instances)" if len(configs) > 1 else ""
    msg = (f"{name}: {what} needs ≈ {fmt_bytes(need)} of memory{n}, more than the "
           f"{fmt_bytes(limit)} of this machine ({device.type})")
    best = _largest_fitting(estimate, configs, name, limit)
    if best is not None:
        msg += f"; allowed here: {name} <= {best}"
    raise ConfigError(msg)
