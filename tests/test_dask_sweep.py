"""Sweeps on a Dask cluster: a LocalCluster, and real ``dask scheduler`` / ``dask worker``
processes on 127.0.0.1 with a worker killed in the middle of its chunk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import pandas as pd  # noqa: E402

import pause_hook  # noqa: E402
from workbench.cli import main  # noqa: E402
from workbench.core.executors import chunk_configs, dask_sweep  # noqa: E402
from workbench.core.experiment import get, grid_configs, sweep  # noqa: E402
from workbench.core.store import RunStore  # noqa: E402

BASE = dict(p=11, width=32, train_frac=0.5, log_every=20)
GRID = {"weight_decay": [0.0, 1.0], "lr": [0.003, 0.01]}


@pytest.fixture
def one_thread():
    """One torch thread in the test process too (training uses $WORKBENCH_THREADS, default
    1, everywhere): no oversubscription of the two cores by the rest of the test."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _same_metrics(a, b) -> None:
    """Bit-identical: a chunk trains the same numbers as the whole grid batched at once (the
    instances of a batched model do not interact), and a resumed run the same as an
    uninterrupted one (the checkpoint holds the full trainer state)."""
    pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)
    assert [r.id for r in a.runs] == [r.id for r in b.runs]


def test_chunks_batch_together_and_are_capped():
    exp = get("grokking")
    base = exp.config("quick", **BASE)
    configs = grid_configs(exp, base, {"optimizer": ["adamw", "sgd"], "lr": [0.1, 0.2, 0.3]})
    chunks = chunk_configs(configs, 2)
    assert [len(c) for c in chunks] == [2, 1, 2, 1]
    for chunk in chunks:  # each chunk is one batched model
        assert len({c.group_key() for c in chunk}) == 1
    assert sorted(c.canonical_json() for ch in chunks for c in ch) == \
        sorted(c.canonical_json() for c in configs)
    widths = grid_configs(exp, base, {"width": [16, 32]})  # not batchable: one chunk each
    assert [len(c) for c in chunk_configs(widths, 8)] == [1, 1]


@pytest.mark.timeout(240)
def test_local_cluster_sweep_equals_local_sweep(tmp_path, capsys, one_thread):
    steps = dict(BASE, steps=60)
    local = sweep("grokking", grid=GRID, store=tmp_path / "local", progress=False, **steps)
    args = ["sweep", "grokking", "--out", str(tmp_path / "dask"), "--executor", "dask",
            "--chunk-size", "2", "--workers", "2", "--quiet"]
    for key, values in {**{k: [v] for k, v in steps.items()}, **GRID}.items():
        args += ["--grid" if len(values) > 1 else "--set", f"{key}={','.join(map(str, values))}"]
    assert main(args) == 0
    assert "(4 runs)" in capsys.readouterr().out
    store = RunStore(tmp_path / "dask")
    table = store.runs()
    assert sorted(table["kind"]) == ["run"] * 4 + ["sweep"]  # no chunk records left behind
    assert table["done"].all()
    remote = store.get_sweep(table.loc[table["kind"] == "sweep", "run_id"].item())
    _same_metrics(remote, local)
    # a re-run submits nothing (no cluster is started) and rewrites no run
    runs = [store.path(r) / "summary.json" for r in table.loc[table["kind"] == "run", "run_id"]]
    stamps = [p.stat().st_mtime_ns for p in runs]
    again = dask_sweep("grokking", grid=GRID, store=store, progress=False, **steps)
    assert again.loaded and all(r.loaded for r in again.runs)  # every run came from the store
    assert stamps == [p.stat().st_mtime_ns for p in runs]
    _same_metrics(again, local)


# --------------------------------------------------------------------------- real processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes (no nanny: killing the process
    kills the worker) on 127.0.0.1; yields (address, {name: (process, log path)})."""
    env = pause_hook.env_with_hook(dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1"))
    dask = [sys.executable, "-m", "dask"]
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []

    def start(cmd, log):
        fh = open(log, "w")
        procs.append((subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                       cwd=tmp_path, start_new_session=True), fh))
        return procs[-1][0]

    try:
        start(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--no-dashboard"], tmp_path / "scheduler.log")
        workers = {}
        for name in ("a", "b"):
            log = tmp_path / f"worker-{name}.log"
            workers[name] = (start(dask + ["worker", address, "--name", name, "--host",
                                           "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", "--death-timeout", "60"], log),
                             log)
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            # import torch and the chapter on both workers now, so that neither chunk starts
            # seconds ahead of the other while its worker is still importing
            client.run(__import__, "workbench.grokking.experiment")
        yield address, workers
    finally:
        for proc, fh in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            fh.close()


@pytest.mark.timeout(240)
def test_killed_worker_loses_nothing(cluster, tmp_path, one_thread):
    """Worker a dies in the middle of its chunk; worker b resumes that chunk from a's
    checkpoint, and the sweep equals a local one bit for bit. Worker a blocks right after its
    chunk's first checkpoint (``pause_hook``), so the kill lands mid-chunk on any machine."""
    address, workers = cluster
    steps = dict(BASE, steps=200)  # checkpoints every 20 steps
    store = RunStore(tmp_path / "shared")
    marker = tmp_path / "a-checkpointed"
    with distributed.Client(address, timeout="60s") as client:
        a = next(addr for addr, info in client.scheduler_info()["workers"].items()
                 if info["name"] == "a")
        client.run(pause_hook.install, str(marker), workers=[a])
    result, errors = {}, []

    def go():
        try:
            result["sweep"] = dask_sweep("grokking", grid=GRID, store=store, scheduler=address,
                                         chunk_size=2, progress=False, **steps)
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    while not marker.exists():  # worker a has checkpointed its chunk and is now stuck
        assert not errors, errors
        assert thread.is_alive(), "the sweep ended without worker a training a chunk"
        time.sleep(0.02)
    workers["a"][0].send_signal(signal.SIGKILL)
    workers["a"][0].wait(10)
    thread.join(180)
    assert not errors, errors
    assert not thread.is_alive(), "the sweep did not finish after the worker was killed"
    done = result["sweep"]
    assert len(done) == 4 and all(r.done for r in done.runs)
    # worker b took over worker a's chunk and resumed it from a's checkpoint
    step = int(marker.read_text())
    assert 0 < step < steps["steps"]
    log_b = workers["b"][1].read_text()
    assert "grokking: resuming grokking-batch-" in log_b, log_b[-2000:]
    assert f"from step {step}" in log_b.split("grokking: resuming grokking-batch-")[1], \
        log_b[-2000:]
    reference = sweep("grokking", grid=GRID, store=tmp_path / "local", progress=False, **steps)
    _same_metrics(done, reference)
    assert not list(store.root.glob("*-batch-*"))  # the batch work directories are gone
