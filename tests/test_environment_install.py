"""The pip part of environment.yml installs into a fresh venv and the package imports there.

Torch is installed first as the Makefile does on a machine without a GPU (the CPU build,
torch==2.13.0, from local disk here), so pip does not resolve ``torch>=2.4`` to a multi-GB CUDA
build; the environment's pip options (the PyTorch CPU index) are left to conda/Binder. The
other requirements come from the package registry (or pip's cache after ``make setup``).
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_part_of_environment_installs_in_a_fresh_venv(tmp_path):
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_part = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = [r for r in pip_part if not r.startswith("-")]
    assert "-e ." in pip_part, "environment.yml should install the package itself"
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    py = str(target / "bin" / "python")
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def pip(*args):
        out = subprocess.run([py, "-m", "pip", "install", "-q", *args], cwd=ROOT, env=run_env,
                             capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stderr[-3000:]

    pip("torch==2.13.0")
    pip(*reqs)
    pip("--no-deps", "-e", ".")
    check = ("import torch, numpy, pandas, plotly, panel, param, ipywidgets, papermill, tqdm, "
             "sklearn, mlxtend, distributed, jupyter_server_proxy; import workbench as wb; "
             "print(sorted(wb.experiments()))")
    out = subprocess.run([py, "-c", check], cwd=tmp_path, env=run_env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "grokking" in out.stdout
