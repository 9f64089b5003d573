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
from .device import cpu_threads, pick_device, train_threads
from .fingerprint import chapter_of, code_fingerprint
from .memory import check_memory
from .store import (Run, RunStore, Sweep, check_writable, loaded_line, save_torch, write_csv,
                    write_json)
from .train import StopTraining, train_loop

__all__ = ["Experiment", "register", "get", "experiments", "make_config", "run", "sweep",
           "plan_runs", "batch_groups", "load_trainer", "CHAPTERS"]

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
    memory: Callable[[list[Config]], dict[str, float]] | None = None  # bytes by field (memory.py)
    # sweep-level numbers (a fitted boundary, an exponent) from the sweep's summary table;
    # when set, a sweep's summary.json is {"runs": [one record per member], **these}
    summarize_sweep: Callable[[pd.DataFrame], dict] | None = None

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

    @property
    def chapter(self) -> str:
        """The chapter package that defines the experiment's trainer."""
        return chapter_of(self.make_trainer)

    def code(self) -> str:
        """The fingerprint of the code that determines this experiment's numbers (part of
        every run id; see ``core/fingerprint.py``)."""
        return code_fingerprint(self.chapter)


def register(exp: Experiment) -> Experiment:
    _REGISTRY[exp.name] = exp
    exp.code()  # hash the sources now, as they were imported
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
    stops it cleanly with a checkpoint. ``run.loaded`` says whether it came from the store
    (with ``progress``, one line says so too).
    """
    exp = get(experiment)
    config = config if config is not None else exp.config(preset, **overrides)
    return sweep(exp, [config], store=store, device=device, progress=progress, on_log=on_log,
                 stop=stop)[0]


def grid_configs(exp: Experiment, base: Config, grid: dict[str, Iterable]) -> list[Config]:
    """The cartesian product of ``grid`` (key → values) applied to ``base`` (``{}``: just
    ``base``)."""
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ConfigError(f"{key}: a grid needs a list of values (got {values!r})")
        if not list(values):
            raise ConfigError(f"{key}: the grid gives no values; allowed: a non-empty list")
    keys = list(grid)
    return [base.replace(**dict(zip(keys, vals)))
            for vals in itertools.product(*(list(grid[k]) for k in keys))]


@dataclass
class Plan:
    """What running ``configs`` takes: their run ids (in order), the runs not finished in
    the store (run id → config, first-seen order), and those of them whose config the store
    holds from other code (they are trained anew; the old runs stay)."""

    ids: list[str]
    todo: dict[str, Config]
    stale: list[str]


def plan_runs(exp: Experiment, configs: list[Config], store: RunStore, code: str) -> Plan:
    """Which of ``configs`` the store already holds, finished and intact, for ``code``
    (one planning step for the local and the Dask sweeps)."""
    ids = [store.run_id(exp.name, c, code) for c in configs]
    todo: dict[str, Config] = {}
    for rid, c in zip(ids, configs):
        if rid not in todo and not store.is_done(rid):
            todo[rid] = c
    stale = [r for r in todo if not store.path(r).exists() and store.older_versions(r)]
    return Plan(ids, todo, stale)


def batch_groups(configs: list[Config], chunk_size: int | None = None) -> list[list[int]]:
    """Indices of ``configs`` grouped into batched models: configs that agree on every
    non-batchable field (equal ``group_key``), at most ``chunk_size`` per group (no limit if
    None); order kept within a group, groups in first-seen order."""
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"chunk_size: must be >= 1 (got {chunk_size})")
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.group_key(), []).append(i)
    size = chunk_size or max(len(configs), 1)
    return [members[i:i + size] for members in groups.values()
            for i in range(0, len(members), size)]


def stale_line(exp: Experiment, store: RunStore, plan: Plan) -> str:
    """One line saying that configs held from other code are trained anew ("" if none)."""
    if not plan.stale:
        return ""
    if len(plan.stale) == 1:
        old = store.older_versions(plan.stale[0])[-1]
        what = f"the store's run of this config ({old}) was made by other code"
    else:
        what = f"{len(plan.stale)} of these configs were run by other code"
    return (f"{exp.name}: {what}; training anew with this code (the old runs stay in the store: "
            "`workbench store --stale` lists them)")


def _acquire(store: RunStore, run_id: str, exp: Experiment, stop: threading.Event | None):
    """Take ``run_id``'s lock, waiting (with one line) while another process trains it."""
    lock = store.lock(run_id)
    try:
        lock.acquire(timeout=0)
        return lock
    except TimeoutError:
        pass
    print(f"{exp.name}: waiting for another process that is training {run_id}",
          file=sys.stderr, flush=True)
    while True:
        if stop is not None and stop.is_set():
            raise StopTraining(0)
        try:
            lock.acquire(timeout=0.25)
            return lock
        except TimeoutError:
            continue


def sweep(experiment: str | Experiment, configs: list[Config] | None = None, *,
          grid: dict[str, Iterable] | None = None, preset: str = "quick",
          store: RunStore | str | Path | None = None, device: str | None = None,
          progress: bool = True, on_log: Callable[[pd.DataFrame], None] | None = None,
          stop: threading.Event | None = None, record: bool = True, **overrides) -> Sweep:
    """Run many configs as batched models and record them as one sweep in the store.

    Configs that agree on every non-batchable field train together as ONE model with an
    instance axis; configs already finished in the store are skipped (loaded: each member's
    ``loaded`` says so, and with ``progress`` one line does). Give either ``configs`` or
    ``grid`` (key → list of values, applied to ``preset`` + ``overrides``).

    Each run is trained under its lock in the store, taken in run-id order: a run another
    process is training is waited for and then loaded, never trained twice. ``record=False``
    writes no sweep record (a Dask chunk).
    """
    exp = get(experiment)
    if configs is None and grid is not None and not grid:
        raise ConfigError("grid: empty; allowed: at least one key and its values, "
                          "e.g. grid={'lr': [0.003, 0.01]}")
    if configs is None:
        configs = grid_configs(exp, exp.config(preset, **overrides), grid or {})
    if not configs:
        raise ConfigError("configs: a sweep needs at least one config")
    store = store if isinstance(store, RunStore) else RunStore(store)
    dev = pick_device(device)
    code = exp.code()
    plan = plan_runs(exp, configs, store, code)
    todo_configs = list(plan.todo.values())
    for group in batch_groups(todo_configs):  # refuse what cannot fit before anything is stored
        check_memory(exp.memory, [todo_configs[i] for i in group], dev)
    if todo_configs or (record and len(configs) > 1):
        check_writable(store.root, "store")
    sid = store.sweep_id(exp.name, configs, code)
    locks = {}
    try:
        todo = plan.todo
        if todo:
            for rid in sorted(todo):  # one global order: no two processes wait on each other
                locks[rid] = _acquire(store, rid, exp, stop)
            todo = {r: c for r, c in todo.items() if not store.is_done(r)}  # done meanwhile?
            for rid in [r for r in locks if r not in todo]:
                locks.pop(rid).release()
        runs = [Run(store.path(r), loaded=r not in todo) for r in plan.ids]
        if progress:
            for line in (loaded_line(runs, sid if len(runs) > 1 else None),
                         stale_line(exp, store, plan) if todo else ""):
                if line:
                    print(line, flush=True)
        ids = list(todo)
        for group in batch_groups([todo[r] for r in ids]):
            members = [ids[i] for i in group]
            with cpu_threads(train_threads()):  # the same count in every entry point
                _train_group(exp, [todo[r] for r in members], members, store, dev, progress,
                             on_log, stop, code)
            for rid in members:
                locks.pop(rid).release()
    finally:
        for lock in locks.values():
            lock.release()
    if len(configs) == 1:
        return _finish_live(on_log, Sweep(store.path(plan.ids[0]), runs))
    path = store.path(sid)
    result = Sweep(path, runs)
    if record:
        write_json(path / "config.json", {"experiment": exp.name, "members": plan.ids,
                                          "configs": [c.to_dict() for c in configs],
                                          "code": code})
        write_csv(path / "metrics.csv", result.metrics)
        records = result.summary.to_dict(orient="records")
        write_json(path / "summary.json", records if exp.summarize_sweep is None else
                   {"runs": records, **exp.summarize_sweep(result.summary)})
    return _finish_live(on_log, result)


def _finish_live(on_log, result: Sweep) -> Sweep:
    """Let a live plot (an ``on_log`` with a ``finish`` method, e.g. ``LiveCurves``) draw the
    final state, also when every run was loaded from the store."""
    finish = getattr(on_log, "finish", None)
    if callable(finish):
        finish(result.metrics)
    return result


def _resume(exp, configs, workdir, device, steps):
    """(trainer, start step, history, what was wrong) from ``workdir``'s checkpoint; a
    checkpoint that does not load is removed and the trainer starts from scratch."""
    trainer = exp.make_trainer(configs, device)
    ckpt = workdir / "checkpoint.pt"
    if not ckpt.exists():
        return trainer, 0, [], ""
    try:
        state = torch.load(ckpt, map_location=device, weights_only=False)
        start, history = int(state["step"]), [dict(r) for r in state["history"]]
        if not 0 <= start <= steps:
            raise ValueError(f"step {start} is not in 0..{steps}")
        trainer.load_state_dict(state["trainer"])
    except Exception as err:  # noqa: BLE001 - any failure to load means: not a usable state
        ckpt.unlink(missing_ok=True)
        why = str(err).strip().splitlines()[0][:80] if str(err).strip() else type(err).__name__
        return (exp.make_trainer(configs, device), 0, [],
                f"checkpoint.pt is damaged ({why})")
    for row in history:  # a finished run's checkpoint holds its metrics without `instance`
        row.setdefault("instance", 0)
    return trainer, start, history, ""


def _train_group(exp, configs, run_ids, store, device, progress, on_log, stop, code):
    """Train ``configs`` (which share every non-batchable field) as one batched model; the
    caller holds the locks of ``run_ids``."""
    single = len(configs) == 1
    workdir = store.path(run_ids[0]) if single else store.path(
        store.batch_id(exp.name, configs, code))
    threads = torch.get_num_threads()  # recorded: CPU reductions round by thread count
    record = ({"experiment": exp.name, "config": configs[0].to_dict(), "code": code,
               "threads": threads} if single else
              {"experiment": exp.name, "batch_of": run_ids,
               "configs": [c.to_dict() for c in configs], "code": code, "threads": threads})
    damaged = {}
    for rid in run_ids:  # a finished run whose files no longer match: drop what is bad
        state, reason = store.check(rid)
        if state == "damaged":
            damaged[rid] = reason
        store.unfinish(rid, drop=tuple(store.damaged_files(rid)) if damaged.get(rid) else ())
    steps, log_every = configs[0].steps, configs[0].log_every
    trainer, start, history, broken = _resume(exp, configs, workdir, device, steps)
    if single and (damaged or broken):
        how = (f"restarting from its checkpoint at step {start}" if start else
               "training it from scratch")
        print(f"{exp.name}: {run_ids[0]}: {damaged.get(run_ids[0]) or broken}; {how}",
              file=sys.stderr, flush=True)
    else:
        for rid, reason in damaged.items():
            print(f"{exp.name}: {rid}: {reason}; training it again", file=sys.stderr, flush=True)
        if broken:
            print(f"{exp.name}: {workdir.name}: {broken}; training from scratch",
                  file=sys.stderr, flush=True)
        elif start:
            print(f"{exp.name}: resuming {workdir.name} from step {start}", file=sys.stderr,
                  flush=True)
    write_json(workdir / "config.json", record)
    ckpt_path = workdir / "checkpoint.pt"

    def checkpoint(s, hist):
        save_torch(ckpt_path, {"step": s, "trainer": trainer.state_dict(), "history": hist})

    def live(hist):
        if on_log is not None:
            on_log(pd.DataFrame(hist))

    desc = exp.name if single else f"{exp.name} ×{len(configs)}"
    history = train_loop(trainer, steps=steps, log_every=log_every, start_step=start,
                         history=history, on_log=live, checkpoint=checkpoint,
                         stop=stop, progress=progress, desc=desc, postfix=exp.headline,
                         log_at=configs[0].log_steps())
    frame = pd.DataFrame(history)
    for i, (rid, cfg) in enumerate(zip(run_ids, configs)):
        path = store.path(rid)
        metrics = frame[frame["instance"] == i].drop(columns="instance").reset_index(drop=True)
        write_json(path / "config.json", {"experiment": exp.name, "config": cfg.to_dict(),
                                          "code": code, "threads": threads})
        write_csv(path / "metrics.csv", metrics)
        save_torch(path / "checkpoint.pt", {"step": steps, "trainer": trainer.instance_state(i),
                                           "history": metrics.to_dict(orient="records")})
        write_json(path / "summary.json", exp.summarize(cfg, metrics))
        store.finish(rid, code)  # the manifest, last: from here on the run is done
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
