"""``benchmarks/gpu_check.sh --cpu``: the one-call GPU check, end to end at tiny sizes on a CPU
(every stage, the whole-process Fig 1 stand-in with its accuracy check, the report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_in_cpu_mode(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, WORKBENCH_STORE=str(tmp_path / "store"),
               PYTHONPATH=str(ROOT / "src"))
    env.pop("OUT", None)
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--out",
                           str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all(p.is_file() for p in out.iterdir())   # the $OUT limits
    assert {"RESULTS_gpu.md", "gpu_check.log", "grokking.json", "superposition.json",
            "env.json"} <= set(files)
    grok = json.loads((out / "grokking.json").read_text())
    cases = [r["case"] for r in grok]
    assert any(c.startswith("one run, CE fp32") for c in cases)
    assert any("TF32" in c for c in cases) and any("exact fp32" in c for c in cases)
    fig1 = next(r for r in grok if r["case"].startswith("Fig 1"))
    assert fig1["final_test_acc"] >= 0.95 and fig1["wall_s"] > 0 and fig1["acc_passed"]
    assert all(r["steps_per_s"] > 0 for r in grok if "steps_per_s" in r)
    sup = json.loads((out / "superposition.json").read_text())
    assert sup["sampler"] == "sparse" and sup["sweep_s"] > 0 and sup["step_ms"] > 0
    assert sup["judged"] is False            # no GPU: no pass/fail against the GPU targets
    report = (out / "RESULTS_gpu.md").read_text()
    assert report.startswith("## CPU smoke test of gpu_check.sh")
    for section in ("### Grokking", "### Superposition", "### Stages", "### Reproductions"):
        assert section in report
    log = (out / "gpu_check.log").read_text()
    assert "environment: exit 0" in log and "grokking: exit 0" in log
    assert "superposition: exit 0" in log
    assert "reproduce" in log                 # the reproductions stage (or its hook) ran


def test_gpu_check_rejects_an_unknown_argument():
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--bogus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument --bogus" in proc.stderr
