"""The experiment registry and the one way every experiment is run.

Each chapter registers its experiments (name → config class, presets, trainer, summary).
The CLI, notebooks, dashboards and sweeps all go through :func:`run` and :func:`sweep`, so a
new experiment appears everywhere at once. Presets are data: ``quick`` shows the effect on two
CPU cores in seconds, ``full`` is the paper's scale for a GPU.
"""

from __future__ import annotations

import importlib
import itertools
import json
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import torch

from .config import Config, ConfigError, TrainConfig
from .device import pick_device
from .store import Run, RunStore, Sweep, save_torch, write_csv, write_json
from .train import StopTraining, train_loop

__all__ = ["Experiment", "register", "get", "experiments", "make_config", "run", "sweep",
           "load_trainer", "CHAPTERS"]

CHAPTERS = ["grokking", "gumbel", "neural_collapse", "superposition"]  # chapter packages whose import registers their experiments

_REGISTRY: dict[str, "Experiment"] = {}


@dataclass
class Experiment:
    name: str
    config_cls: type[TrainConfig]
    make_trainer: Callable[[list[Config], torch.device], Any]
    summarize: Callable[[Config, pd.DataFrame], dict]
    presets: dict[str, dict] = field(default_factory=dict)
    description: str = ""
    headline: Callable[[list[dict]], dict] | None = None  # progress-bar postfix from log rows

    def config(self, preset: str | None = "quick", **overrides) -> Config:
        if preset is not None and preset not in self.presets:
            raise ConfigError(f"preset: must be one of {', '.join(self.presets)} (got {preset!r})")
        values = dict(self.presets.get(preset, {}) if preset else {})
        unknown = sorted(set(overrides) - set(self.config_cls.field_names()))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown parameter for {self.name}; allowed: "
                              + ", ".join(self.config_cls.field_names()))
        values.update(overrides)
        return self.config_cls.from_dict(values)


def register(exp: Experiment) -> Experiment:
    _REGISTRY[exp.name] = exp
    return exp


def _load_chapters() -> None:
    for chapter in CHAPTERS:
        importlib.import_module(f"workbench.{chapter}")


def experiments() -> dict[str, Experiment]:
    _load_chapters()
    return dict(sorted(_REGISTRY.items()))


def get(name: str | Experiment) -> Experiment:
    if isinstance(name, Experiment):
        return name
    exps = experiments()
    if name not in exps:
        raise ConfigError(f"experiment: must be one of {', '.join(exps)} (got {name!r})")
    return exps[name]


def make_config(name: str, preset: str | None = "quick", **overrides) -> Config:
    return get(name).config(preset, **overrides)


# --------------------------------------------------------------------------- running
def run(experiment: str | Experiment, config: Config | None = None, *, preset: str = "quick",
        store: RunStore | str | Path | None = None, device: str | None = None,
        progress: bool = True, on_log: Callable[[pd.DataFrame], None] | None = None,
        stop: threading.Event | None = None, **overrides) -> Run:
    """Run one experiment (or load it from the store when it already ran); return the Run.

    ``config`` defaults to ``preset`` with ``overrides``. An unfinished run in the store
    resumes from its last checkpoint. ``on_log(metrics)`` is called at every log with the
    metrics so far (a DataFrame), e.g. to update a live plot; ``stop`` (a threading.Event)
    stops it cleanly with a checkpoint.
    """
    exp = get(experiment)
    config = config if config is not None else exp.config(preset, **overrides)
    return sweep(exp, [config], store=store, device=device, progress=progress, on_log=on_log,
                 stop=stop)[0]


def grid_configs(exp: Experiment, base: Config, grid: dict[str, Iterable]) -> list[Config]:
    """The cartesian product of ``grid`` (key → values) applied to ``base``."""
    keys = list(grid)
    return [base.replace(**dict(zip(keys, vals)))
            for vals in itertools.product(*(list(grid[k]) for k in keys))]


def sweep(experiment: str | Experiment, configs: list[Config] | None = None, *,
          grid: dict[str, Iterable] | None = None, preset: str = "quick",
          store: RunStore | str | Path | None = None, device: str | None = None,
          progress: bool = True, on_log: Callable[[pd.DataFrame], None] | None = None,
          stop: threading.Event | None = None, **overrides) -> Sweep:
    """Run many configs as batched models and record them as one sweep in the store.

    Configs that agree on every non-batchable field train together as ONE model with an
    instance axis; configs already finished in the store are skipped (loaded). Give either
    ``configs`` or ``grid`` (key → list of values, applied to ``preset`` + ``overrides``).
    """
    exp = get(experiment)
    if configs is None:
        configs = grid_configs(exp, exp.config(preset, **overrides), grid or {})
    if not configs:
        raise ConfigError("configs: a sweep needs at least one config")
    store = store if isinstance(store, RunStore) else RunStore(store)
    dev = pick_device(device)
    ids = [store.run_id(exp.name, c) for c in configs]
    todo: dict[str, Config] = {}
    for rid, c in zip(ids, configs):
        if not store.is_done(rid):
            todo.setdefault(rid, c)
    groups: dict[str, list[str]] = {}
    for rid, c in todo.items():
        groups.setdefault(c.group_key(), []).append(rid)
    for members in groups.values():
        _train_group(exp, [todo[r] for r in members], members, store, dev, progress, on_log, stop)
    if len(configs) == 1:
        return Sweep(store.path(ids[0]), [store.get(ids[0])])
    sid = store.sweep_id(exp.name, configs)
    path = store.path(sid)
    write_json(path / "config.json", {"experiment": exp.name, "members": ids,
                                      "configs": [c.to_dict() for c in configs]})
    result = Sweep(path, [store.get(r) for r in ids])
    write_csv(path / "metrics.csv", result.metrics)
    write_json(path / "summary.json", result.summary.to_dict(orient="records"))
    return result


def _train_group(exp, configs, run_ids, store, device, progress, on_log, stop):
    """Train ``configs`` (which share every non-batchable field) as one batched model."""
    single = len(configs) == 1
    workdir = store.path(run_ids[0]) if single else store.path(
        store.sweep_id(exp.name, configs).replace("-sweep-", "-batch-"))
    record = ({"experiment": exp.name, "config": configs[0].to_dict()} if single else
              {"experiment": exp.name, "batch_of": run_ids,
               "configs": [c.to_dict() for c in configs]})
    trainer = exp.make_trainer(configs, device)
    steps, log_every = configs[0].steps, configs[0].log_every
    ckpt_path = workdir / "checkpoint.pt"
    start, history = 0, []
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        trainer.load_state_dict(state["trainer"])
        start, history = state["step"], state["history"]
        print(f"{exp.name}: resuming {workdir.name} from step {start}", file=sys.stderr)
    else:
        write_json(workdir / "config.json", record)

    def checkpoint(s, hist):
        save_torch(ckpt_path, {"step": s, "trainer": trainer.state_dict(), "history": hist})

    def live(hist):
        if on_log is not None:
            on_log(pd.DataFrame(hist))

    desc = exp.name if single else f"{exp.name} ×{len(configs)}"
    history = train_loop(trainer, steps=steps, log_every=log_every, start_step=start,
                         history=history, on_log=live, checkpoint=checkpoint,
                         stop=stop, progress=progress, desc=desc, postfix=exp.headline)
    frame = pd.DataFrame(history)
    for i, (rid, cfg) in enumerate(zip(run_ids, configs)):
        path = store.path(rid)
        metrics = frame[frame["instance"] == i].drop(columns="instance").reset_index(drop=True)
        write_json(path / "config.json", {"experiment": exp.name, "config": cfg.to_dict()})
        write_csv(path / "metrics.csv", metrics)
        save_torch(path / "checkpoint.pt", {"step": steps, "trainer": trainer.instance_state(i),
                                           "history": metrics.to_dict(orient="records")})
        write_json(path / "summary.json", exp.summarize(cfg, metrics))
    if not single:
        shutil.rmtree(workdir, ignore_errors=True)


def load_trainer(run: Run, device: str | None = None):
    """Rebuild the one-instance trainer of a finished run from its checkpoint (for analysis:
    the trained model, its embedding's Fourier spectrum, ...)."""
    exp = get(run.experiment)
    cfg = exp.config_cls.from_dict(run.config)
    dev = pick_device(device)
    trainer = exp.make_trainer([cfg], dev)
    trainer.load_state_dict(run.checkpoint(map_location=dev)["trainer"])
    return trainer
