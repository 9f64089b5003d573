"""Small helpers for claims' readers: numbers out of a Sweep's runs."""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from ..core.store import Run, Sweep

__all__ = ["first_step", "value_at", "per_seed", "by_config", "mean"]


def first_step(metrics: pd.DataFrame, col: str, threshold: float, below: bool = False):
    """The first logged step where ``col`` ≥ ``threshold`` (≤ with ``below``), else None."""
    hit = metrics.loc[(metrics[col] <= threshold) if below else (metrics[col] >= threshold), "step"]
    return None if hit.empty else int(hit.iloc[0])


def value_at(metrics: pd.DataFrame, col: str, step: int) -> float:
    """``col`` at the last logged step ≤ ``step``."""
    rows = metrics[metrics["step"] <= step]
    return float(rows[col].iloc[-1]) if len(rows) else math.nan


def per_seed(sweep: Sweep, fn: Callable[[Run], dict], key: str = "seed") -> list[dict]:
    """``[{"seed": …, **fn(run)}]`` for every run of ``sweep``, in seed order."""
    rows = [{"seed": r.config[key], **fn(r)} for r in sweep.runs]
    return sorted(rows, key=lambda d: d["seed"])


def by_config(sweep: Sweep, *keys: str) -> dict:
    """Runs keyed by the values of ``keys`` (one key: the value itself, else a tuple)."""
    out = {}
    for r in sweep.runs:
        k = tuple(r.config[x] for x in keys)
        out[k[0] if len(keys) == 1 else k] = r
    return out


def mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None
