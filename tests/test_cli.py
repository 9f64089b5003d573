"""The ``workbench`` command line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import pause_hook
from workbench.cli import main

CLI = [sys.executable, "-m", "workbench.cli"]


def test_list_shows_parameters_defaults_and_each_presets_values(capsys):
    import re

    import workbench as wb

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "grokking" in out and "{adamw, sgd, perp_adamw, perp_sgd}" in out
    assert re.search(r"parameter +type +default +quick +full +help", out)
    quick, full = (wb.make_config("grokking", p) for p in ("quick", "full"))
    assert quick.p != full.p  # the quick preset's own values are shown, not only the defaults
    row = re.search(r"^  p +int +(\S+) +(\S+) +(\S+) ", out, re.M)
    assert row.groups() == ("113", str(quick.p), str(full.p))


def test_run_writes_run_dir_and_prints_summary(tmp_path, capsys):
    rc = main(["run", "grokking", "--preset", "quick", "--set", "steps=40", "--set",
               "log_every=20", "--set", "optimizer=perp_adamw", "--out", str(tmp_path), "--quiet",
               "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    run_dir = Path(out.split("run: ")[1].split()[0])
    assert run_dir.parent == tmp_path
    cfg = json.loads((run_dir / "config.json").read_text())["config"]
    assert cfg["optimizer"] == "perp_adamw" and cfg["steps"] == 40
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == json.loads((run_dir / "summary.json").read_text())
    assert "final_test_acc" in out


@pytest.mark.parametrize("args,message", [
    (["--set", "lr=-1"], "lr: must be > 0"),
    (["--set", "colour=blue"], "colour: unknown parameter"),
    (["--set", "loss_dtype=float8"], "loss_dtype: must be one of"),
    (["--set", "steps=many"], "steps: expected int"),
    (["--set", "operation=div", "--set", "p=60"], "p: division mod p needs a prime"),
    (["--preset", "huge"], "preset: must be one of quick, full"),
])
def test_bad_values_exit_nonzero_with_one_line(args, message, tmp_path):
    proc = subprocess.run(CLI + ["run", "grokking", "--out", str(tmp_path)] + args,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_unknown_experiment():
    proc = subprocess.run(CLI + ["run", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "experiment: must be one of" in proc.stderr


def test_sweep_command(tmp_path, capsys):
    rc = main(["sweep", "grokking", "--grid", "weight_decay=0,1", "--set", "steps=20",
               "--set", "log_every=10", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "(2 runs)" in out and "weight_decay" in out


def test_killed_run_resumes_to_the_same_final_metrics(tmp_path):
    """SIGKILL a CLI run right after its first checkpoint; running it again resumes from the
    checkpoint and ends with exactly the metrics of an uninterrupted run. The killed process
    blocks after that checkpoint (``pause_hook``), so the kill always lands mid-run."""
    args = ["run", "grokking", "--set", "steps=400", "--set", "log_every=10", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed, marker = tmp_path / "killed", tmp_path / "checkpointed"
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", pause_hook.HOOKED_CLI, str(marker)]
                                + args + ["--out", str(killed)], env=pause_hook.env_with_hook(env),
                                stdout=out, stderr=subprocess.STDOUT)
        while not marker.exists():
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = next(killed.glob("grokking-*"))
    assert not (run_dir / "summary.json").exists()
    step = int(marker.read_text())
    assert 0 < step < 400
    again = subprocess.run(CLI + args + ["--out", str(killed)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and f"from step {step}" in (again.stdout + again.stderr)
    fresh = subprocess.run(CLI + args + ["--out", str(tmp_path / "fresh")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0
    fresh_dir = next((tmp_path / "fresh").glob("grokking-*"))
    assert fresh_dir.name == run_dir.name
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "metrics.csv"),
                                  pd.read_csv(fresh_dir / "metrics.csv"), check_exact=True)
