"""Sweeps beyond one machine: the grid's configs, in chunks, on a Dask distributed cluster.

The local executor is :func:`workbench.core.experiment.sweep` itself (every batchable group
trains as one batched model on one device). The dask executor splits the configs that still
have to run into *chunks* — configs that batch together, at most ``chunk_size`` of them — and
runs each chunk as one task that calls that same ``sweep`` on the worker, with the worker's own
device, writing into the shared run store (a directory every worker can reach; its writes are
atomic renames, and each run is trained under its lock in the store). Which runs are done and
how they batch is planned once, by the local sweep's own functions (``plan_runs``,
``batch_groups``). A worker that dies loses nothing: its locks die with it, and the scheduler
gives its chunk to another worker, which resumes the chunk's batched model from its last
checkpoint in the store. When
every chunk is done, the sweep record is assembled in the store exactly as the local path does
(by calling ``sweep`` once more, which now only loads finished runs).

    workbench sweep grokking --grid weight_decay=0,1 --grid lr=0.003,0.01 --executor dask
    workbench sweep grokking --grid lr=0.001,0.003,0.01 --executor dask \\
        --scheduler tcp://10.0.0.5:8786 --out /shared/runs

Needs ``dask[distributed]`` (an optional dependency).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tqdm.auto import tqdm

from .config import Config, ConfigError
from .device import pick_device
from .experiment import Experiment, batch_groups, get, grid_configs, plan_runs, stale_line, sweep
from .memory import check_memory
from .store import RunStore, Sweep

__all__ = ["EXECUTORS", "chunk_configs", "dask_sweep", "run_chunk"]

EXECUTORS = ("local", "dask")


def chunk_configs(configs: list[Config], chunk_size: int) -> list[list[Config]]:
    """Split ``configs`` into chunks of configs that batch together (equal ``group_key``),
    at most ``chunk_size`` each (the same grouping as the local sweep:
    :func:`~workbench.core.experiment.batch_groups`)."""
    return [[configs[i] for i in group] for group in batch_groups(configs, chunk_size)]


def run_chunk(experiment: str, config_dicts: list[dict], store_root: str,
              device: str | None = None, code: str | None = None) -> list[str]:
    """The task a worker runs: ``sweep`` over one chunk (resuming from the store's checkpoint
    if a previous attempt died; waiting on a run another process trains), with no sweep
    record; returns the chunk's run ids. ``code``: the client's code fingerprint, which the
    worker's must equal (else the runs would be filed under other ids)."""
    exp = get(experiment)
    if code is not None and exp.code() != code:
        raise ConfigError(f"code: this worker's workbench code differs from the client's "
                          f"({exp.code()[:8]} vs {code[:8]}); install the same version on "
                          "every worker")
    configs = [exp.config_cls.from_dict(d) for d in config_dicts]
    result = sweep(exp, configs, store=RunStore(store_root), device=device, progress=False,
                   record=False)
    return [r.id for r in result.runs]


def _client(scheduler: str | None, n_workers: int | None):
    """A ``distributed.Client`` on ``scheduler``, or on a new local cluster (worker
    processes on 127.0.0.1, one thread each, no dashboard); returns (client, cluster)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ConfigError("executor: dask needs dask[distributed] "
                          "(pip install 'dask[distributed]')") from err
    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=n_workers or min(os.cpu_count() or 1, 4),
                           threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return Client(cluster), cluster


def dask_sweep(experiment: str | Experiment, configs: list[Config] | None = None, *,
               grid: dict | None = None, preset: str = "quick",
               store: RunStore | str | Path | None = None, scheduler: str | None = None,
               chunk_size: int = 8, n_workers: int | None = None, retries: int = 3,
               device: str | None = None, progress: bool = True, **overrides) -> Sweep:
    """Like :func:`~workbench.core.experiment.sweep`, with the chunks run on a Dask cluster.

    ``scheduler``: the address of a running ``dask scheduler`` (its workers must see
    ``store`` at the same path); ``None`` starts a ``LocalCluster`` of ``n_workers`` processes
    for this call. Runs already finished in the store are not submitted again. A chunk whose
    worker dies is rescheduled by Dask, and one that raises is retried ``retries`` times.
    """
    exp = get(experiment)
    if configs is None:
        configs = grid_configs(exp, exp.config(preset, **overrides), grid or {})
    if not configs:
        raise ConfigError("configs: a sweep needs at least one config")
    store = store if isinstance(store, RunStore) else RunStore(store)
    root = str(Path(store.root).resolve())
    code = exp.code()
    plan = plan_runs(exp, configs, store, code)
    todo = plan.todo
    chunks = chunk_configs(list(todo.values()), chunk_size)
    for chunk in chunks:  # refuse what cannot fit before anything is submitted
        check_memory(exp.memory, chunk, pick_device(device))
    if progress and stale_line(exp, store, plan):
        print(stale_line(exp, store, plan), flush=True)
    if chunks:
        client, cluster = _client(scheduler, n_workers)
        from distributed import as_completed

        try:
            futures = []
            for chunk in chunks:
                dicts = [c.to_dict() for c in chunk]
                key = "workbench-chunk-" + hashlib.sha1(
                    "|".join(c.canonical_json() for c in chunk).encode()).hexdigest()[:16]
                futures.append(client.submit(run_chunk, exp.name, dicts, root, device, code,
                                             key=key, pure=False, retries=retries))
            bar = tqdm(total=len(todo), desc=f"{exp.name} on dask ({len(chunks)} chunks)",
                       disable=not progress, dynamic_ncols=True)
            with bar:
                for future in as_completed(futures):
                    bar.update(len(future.result()))  # raises a chunk's final error
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    # every run is finished now: this only loads them and writes the sweep record
    result = sweep(exp, configs, store=store, device="cpu", progress=False)
    for r in result.runs:  # what came from the store before this call
        r.loaded = r.id not in todo
    if progress and result.source_line:
        print(result.source_line, flush=True)
    return result
