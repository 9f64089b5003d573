"""The registry of claims: one entry per headline claim of a paper.

How to add a claim
------------------
Claims live next to their chapter, in ``src/workbench/<chapter>/claims.py`` (a chapter
package listed in ``core.experiment.CHAPTERS``; the registry imports that module on first
use). One entry looks like this::

    from ..reproduce import Claim, Job, Scale, Paper, rules as R

    register(Claim(
        id="prieto-fig1-perp-adamw",                 # paper-figure-what, lower case
        paper="Prieto et al. 2025", figure="Fig 1",
        claim="⊥AdamW without weight decay reaches ≈100 % test accuracy by epoch 110–120.",
        paper_value=[Paper("test accuracy ≈ 100 %", "epoch 110–120", "repo",
                           "reference/grokking.md §4", points=[(120, 1.0)])],
        cpu=Scale({"runs": Job("grokking", "full", dict(optimizer="perp_adamw", ...),
                               grid={"seed": [0, 1, 2, 3, 4]})},
                  note="the paper's setting, 5 seeds batched", minutes=1),
        full=Scale({...}, needs_gpu=True),
        read=read_fn,             # Results → dict of our numbers (JSON-able)
        rule=R.PerSeed(R.AtMost("epoch_test_0.99", 180, partly=300)),
        plot=plot_fn,             # (Results, ours) → plotly Figure: our curve + paper markers
    ))

- ``Scale.jobs`` maps a name to a :class:`Job` (an experiment, a preset, overrides, and a
  grid or a list of per-config overrides) or a :class:`Compute` (a plain function, for
  closed-form results). All Jobs of one experiment in a scale go through ONE
  :func:`workbench.sweep` call, so configs that batch train as one batched model, and runs
  already in the store are loaded, not recomputed.
- ``cpu`` must finish on 2 CPU cores within 15 minutes and still test the claim at or near
  the paper's setting; say in ``note`` where it departs from the paper. If no such setting
  exists, give ``Scale(not_run="why")``: the claim is then reported ``not run`` with that
  reason, never skipped. ``full`` is the paper's configuration (``needs_gpu=True`` unless it
  is the cpu configuration itself): without a GPU it is reported ``not run: needs a GPU``
  (or ``needs_gpu="…"``, a reason of its own, for a full scale that is long rather than
  GPU-bound).
- ``rule`` (see :mod:`workbench.reproduce.rules`) is the tolerance, fixed in the entry before
  the claim is ever run; the test suite checks that it fails a constructed failing result.
- ``read(results)`` gets a :class:`Results` (``results["runs"]`` is the job's
  :class:`~workbench.core.store.Sweep`, or a Compute's return value) and the scale name as
  ``results.scale``, and returns the numbers the rule reads (plus anything worth recording).
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.config import ConfigError
from .rules import Rule

__all__ = ["Paper", "Job", "Compute", "Scale", "Claim", "Results", "register", "claims",
           "get_claim", "select", "SCALES"]

SCALES = ("cpu", "full")
_REGISTRY: dict[str, "Claim"] = {}
_LOADED = False


@dataclass
class Paper:
    """One of the paper's numbers: what it is, its value (as the paper states it), the
    confidence label of the reference sheet (paper, repo, re-run CPU/GPU, derived,
    unverified) and where it comes from. ``points`` are (x, y) markers for the figure."""

    quantity: str
    value: str
    confidence: str
    source: str
    points: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"quantity": self.quantity, "value": self.value, "confidence": self.confidence,
                "source": self.source}

    def __str__(self) -> str:
        return f"{self.quantity}: {self.value} ({self.confidence}; {self.source})"


@dataclass
class Job:
    """Runs of one experiment: ``preset`` + ``overrides``, times the cartesian ``grid``
    (key → values), or one config per dict in ``configs`` (each on top of the overrides)."""

    experiment: str
    preset: str = "quick"
    overrides: dict = field(default_factory=dict)
    grid: dict | None = None
    configs: list[dict] | None = None

    def make_configs(self) -> list:
        from ..core.experiment import get, grid_configs
        exp = get(self.experiment)
        base = exp.config(self.preset, **self.overrides)
        if self.configs is not None:
            return [base.replace(**c) for c in self.configs]
        return grid_configs(exp, base, self.grid or {})


@dataclass
class Compute:
    """A closed-form result: ``fn(**kwargs)`` (no training, so no run store)."""

    fn: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)


@dataclass
class Scale:
    """The configuration(s) that test a claim at one scale."""

    jobs: dict[str, Job | Compute] = field(default_factory=dict)
    note: str = ""              # where this scale departs from the paper's setting
    minutes: float | None = None   # expected wall time (2 CPU cores for cpu, one GPU for full)
    needs_gpu: bool | str = False  # True, or the reason to give when the device is no GPU
    not_run: str | None = None  # why this scale cannot test the claim (reported, not skipped)

    def describe(self) -> str:
        if self.not_run:
            return f"not run: {self.not_run}"
        parts = []
        for name, job in self.jobs.items():
            if isinstance(job, Compute):
                parts.append(f"{name}: {job.fn.__name__}({_kv(job.kwargs)})")
            else:
                grid = "" if not job.grid else " × " + " × ".join(
                    f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in job.grid.items())
                confs = "" if job.configs is None else f" × {len(job.configs)} configs"
                parts.append(f"{name}: {job.experiment} --preset {job.preset} "
                             f"{_kv(job.overrides)}{grid}{confs}")
        return "; ".join(parts)


def _kv(d: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items())


class Results(dict):
    """Job name → its Sweep (or a Compute's return value); ``scale`` is the scale's name and
    ``device`` the device the runs trained on (for a reader that trains more, e.g. a re-run
    logging extra measures)."""

    def __init__(self, *args, scale: str = "cpu", device: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.scale, self.device = scale, device


@dataclass
class Claim:
    id: str
    paper: str
    figure: str
    claim: str
    paper_value: list[Paper]
    cpu: Scale
    full: Scale
    read: Callable[[Results], dict]
    rule: Rule
    plot: Callable[[Results, dict], Any] | None = None
    chapter: str = ""

    def scale(self, name: str) -> Scale:
        if name not in SCALES:
            raise ConfigError(f"scale: must be one of {', '.join(SCALES)} (got {name!r})")
        return getattr(self, name)

    @property
    def tolerance(self) -> str:
        return self.rule.text


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (its module's chapter is recorded)."""
    if not claim.id or claim.id != claim.id.lower() or " " in claim.id:
        raise ValueError(f"claim id: lower case, no spaces (got {claim.id!r})")
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim id {claim.id!r} is registered twice")
    for name in SCALES:
        sc = getattr(claim, name)
        if not sc.not_run and not sc.jobs:
            raise ValueError(f"{claim.id}: scale {name} has no jobs and no not_run reason")
    if not claim.chapter:
        parts = getattr(claim.read, "__module__", "").split(".")
        claim.chapter = parts[1] if len(parts) > 2 and parts[0] == "workbench" else ""
    _REGISTRY[claim.id] = claim
    return claim


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    from ..core.experiment import CHAPTERS
    for chapter in CHAPTERS:
        name = f"workbench.{chapter}.claims"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:   # this chapter has no claims module (yet)
                continue
            raise
        del module
    _LOADED = True


def claims() -> dict[str, Claim]:
    """Every registered claim, by id, in registration order (chapter by chapter)."""
    _load()
    return dict(_REGISTRY)


def get_claim(claim_id: str) -> Claim:
    reg = claims()
    if claim_id not in reg:
        raise ConfigError(f"claim: no claim {claim_id!r}; see workbench reproduce --list")
    return reg[claim_id]


def select(patterns: list[str] | None = None) -> list[Claim]:
    """The claims whose id matches any pattern (an id, a glob like ``prieto-*``, or a
    substring); all claims when no pattern is given. A pattern matching nothing is an error."""
    reg = claims()
    if not patterns:
        return list(reg.values())
    chosen: list[Claim] = []
    for pat in patterns:
        hits = [c for cid, c in reg.items()
                if cid == pat or fnmatch.fnmatch(cid, pat) or (not any(ch in pat for ch in "*?[")
                                                               and pat in cid)]
        if not hits:
            raise ConfigError(f"claim: nothing matches {pat!r}; see workbench reproduce --list")
        chosen += [c for c in hits if c not in chosen]
    return chosen
