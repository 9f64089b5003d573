"""The README's reproducibility promise, the parts not covered elsewhere: training uses a fixed
number of CPU threads (recorded in the run), and ``import workbench`` makes MKL's matrix
products independent of memory alignment, so a slice of a batched product equals the same
product alone (what lets a Dask chunk equal the whole batched grid, tests/test_dask_sweep.py,
and a batched instance equal its solo run, tests/test_batched.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import workbench as wb
from workbench.core.config import ConfigError
from workbench.core.device import cpu_threads, train_threads
from workbench.grokking.experiment import GrokkingTrainer

TINY = dict(p=11, width=16, steps=6, log_every=3)


def test_train_threads_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("WORKBENCH_THREADS", raising=False)
    assert train_threads() == 1
    monkeypatch.setenv("WORKBENCH_THREADS", "3")
    assert train_threads() == 3
    for bad in ("0", "two", "1.5"):
        monkeypatch.setenv("WORKBENCH_THREADS", bad)
        with pytest.raises(ConfigError, match="^WORKBENCH_THREADS: must be a whole number"):
            train_threads()


@pytest.mark.parametrize("threads", [None, "2"])
def test_a_run_trains_with_the_thread_count_it_records(store, monkeypatch, threads):
    """Whatever the caller's torch thread count, training uses $WORKBENCH_THREADS (default 1),
    records it in config.json, and the caller's count is restored afterwards."""
    if threads is None:
        monkeypatch.delenv("WORKBENCH_THREADS", raising=False)
    else:
        monkeypatch.setenv("WORKBENCH_THREADS", threads)
    seen = []
    step = GrokkingTrainer.step
    monkeypatch.setattr(GrokkingTrainer, "step",
                        lambda self, s: (seen.append(torch.get_num_threads()), step(self, s)))
    with cpu_threads(4):
        run = wb.run("grokking", store=store, progress=False, **TINY)
        assert torch.get_num_threads() == 4
    expected = int(threads or 1)
    assert seen and set(seen) == {expected}
    assert json.loads((run.path / "config.json").read_text())["threads"] == expected


def _python(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


PROBE = """
import os, torch
import workbench
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
same = []
for (m, k, n) in [(61, 32, 11), (33, 17, 9), (60, 200, 59), (129, 64, 7)]:
    for count in (2, 3, 4, 8):
        a = torch.randn(count, m, k, generator=g)
        b = torch.randn(count, k, n, generator=g)
        whole = torch.bmm(a, b)
        same.append(all(torch.equal(whole[i], torch.bmm(a[i:i + 1], b[i:i + 1])[0])
                        for i in range(count)))
print(os.environ["MKL_CBWR"], os.environ["OMP_WAIT_POLICY"], all(same))
"""


def test_import_workbench_makes_batched_products_equal_solo_products():
    """In a fresh process, ``import workbench`` (before any matrix product) sets MKL_CBWR and
    OMP_WAIT_POLICY; then instance i of a batched matrix product equals the product of
    instance i alone, bit for bit, for shapes whose slices are not 64-byte aligned (without
    the setting, MKL's kernels for those depend on the alignment)."""
    assert _python(PROBE) == "AUTO,STRICT PASSIVE True"
    # a value the user set is kept
    assert _python(PROBE, MKL_CBWR="COMPATIBLE", OMP_WAIT_POLICY="ACTIVE") == \
        "COMPATIBLE ACTIVE True"
