"""Run claims at a scale through the run store and judge them.

:func:`run_claim` returns one :class:`Record` per (claim, scale): the report's row, plus the
claim's figure. A scale that cannot run here (``not_run``, or ``needs_gpu`` without a CUDA
device) becomes a ``not run`` record with the reason; a claim whose run fails becomes a
``not run`` record with the error. Nothing is skipped silently.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.device import pick_device, train_threads
from ..core.store import RunStore, Sweep
from .registry import Claim, Compute, Job, Results
from .rules import NOT_RUN, judge

__all__ = ["Record", "run_claim", "run_scale", "describe_device", "not_run", "NEEDS_GPU"]

NEEDS_GPU = "needs a GPU"


@dataclass
class Record:
    """One claim at one scale: the keys of ``report.json`` plus the figure."""

    id: str
    paper: str
    figure: str
    claim: str
    paper_value: list[dict]
    ours: dict
    tolerance: str
    verdict: str
    scale: str
    seconds: float
    device: str
    detail: list[str] = field(default_factory=list)
    reason: str = ""
    config: str = ""
    note: str = ""
    cached: bool = False
    chapter: str = ""
    fig: Any = None  # plotly Figure (not written to JSON)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("id", "paper", "figure", "claim", "paper_value",
                                             "ours", "tolerance", "verdict", "scale", "seconds",
                                             "device", "detail", "reason", "config", "note",
                                             "cached", "chapter")}
        return _plain(d)


def _plain(o):
    """JSON-able copy: numpy / torch scalars to Python numbers, tuples to lists."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if hasattr(o, "item") and getattr(o, "ndim", 0) == 0:
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return o


def describe_device(device: torch.device) -> str:
    """The device in words, e.g. ``cpu (2 cores, 1 training thread)`` or ``cuda (NVIDIA H200)``
    (the threads each run trains with: ``core.device.train_threads``)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = train_threads()
        return f"cpu ({os.cpu_count()} cores, {n} training thread{'s' if n > 1 else ''})"
    return device.type


def _base(claim: Claim, scale: str, device: str) -> dict:
    sc = claim.scale(scale)
    return dict(id=claim.id, paper=claim.paper, figure=claim.figure, claim=claim.claim,
                paper_value=[p.to_dict() for p in claim.paper_value], tolerance=claim.tolerance,
                scale=scale, device=device, config=sc.describe(), note=sc.note,
                chapter=claim.chapter)


def not_run(claim: Claim, scale: str, device: str, reason: str) -> Record:
    """A ``not run`` record of ``claim`` at ``scale`` with its ``reason``."""
    return Record(**_base(claim, scale, device), ours={}, verdict=NOT_RUN, seconds=0.0,
                  reason=reason)


def run_scale(claim: Claim, scale: str, store: RunStore, device: torch.device,
              progress: bool = True) -> tuple[Results, bool]:
    """Run (or load) every job of ``claim`` at ``scale``; return (results, all cached).
    Jobs of the same experiment go through one :func:`workbench.sweep` call, so the configs
    that batch train as one model."""
    from ..core.experiment import sweep

    sc = claim.scale(scale)
    results = Results(scale=scale, device=str(device))
    by_exp: dict[str, list[tuple[str, list]]] = {}
    for name, job in sc.jobs.items():
        if isinstance(job, Job):
            by_exp.setdefault(job.experiment, []).append((name, job.make_configs()))
    cached = all(store.is_done(store.run_id(exp, c))
                 for exp, items in by_exp.items() for _, cs in items for c in cs)
    for name, job in sc.jobs.items():
        if isinstance(job, Compute):
            cached = False
            results[name] = job.fn(**job.kwargs)
    for exp, items in by_exp.items():
        configs = [c for _, cs in items for c in cs]
        sw = sweep(exp, configs, store=store, device=str(device), progress=progress)
        k = 0
        for name, cs in items:
            results[name] = Sweep(sw.path, sw.runs[k:k + len(cs)])
            k += len(cs)
    return results, cached


def run_claim(claim: Claim, scale: str = "cpu", *, store: RunStore | str | None = None,
              device: str | None = None, progress: bool = True, figure: bool = True) -> Record:
    """Run ``claim`` at ``scale`` (or load its runs from ``store``), read our numbers, judge
    them by the claim's rule and draw its figure."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    dev = pick_device(device)
    where = describe_device(dev)
    base = _base(claim, scale, where)
    sc = claim.scale(scale)
    if sc.not_run:
        return not_run(claim, scale, where, sc.not_run)
    if sc.needs_gpu and dev.type != "cuda":
        return not_run(claim, scale, where,
                       sc.needs_gpu if isinstance(sc.needs_gpu, str) else NEEDS_GPU)
    t0 = time.perf_counter()
    try:
        results, cached = run_scale(claim, scale, store, dev, progress)
        ours = claim.read(results)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # reported as not run, with the error, never skipped
        tb = traceback.format_exc(limit=3)
        print(f"{claim.id} ({scale}): failed: {type(err).__name__}: {err}\n{tb}", file=sys.stderr)
        return Record(**base, ours={}, verdict=NOT_RUN, seconds=time.perf_counter() - t0,
                      reason=f"failed: {type(err).__name__}: {err}")
    seconds = time.perf_counter() - t0
    j = judge(claim.rule, ours)
    fig = None
    if figure and claim.plot is not None:
        try:
            fig = claim.plot(results, ours)
        except Exception as err:  # a figure that fails costs the figure, not the verdict
            print(f"{claim.id}: no figure ({type(err).__name__}: {err})", file=sys.stderr)
    return Record(**base, ours=_plain(ours), verdict=j.verdict, seconds=round(seconds, 1),
                  detail=j.detail, cached=cached, fig=fig)
