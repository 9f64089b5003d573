"""The curriculum notebooks: stored clean, parameterised, and they run (papermill).

The structural checks are instant. The executions are marked ``notebook`` (deselect them with
``-m "not notebook"``); each one runs a notebook at the quick preset into ``tmp_path`` with its
own run store and prints its wall time.
"""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _parameter_cells(nb):
    return [c for c in nb.cells
            if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]


def _assigned(source: str) -> dict:
    """Names assigned to literals in a cell: {name: value}."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


@pytest.fixture(autouse=True)
def _single_threaded_kernels(monkeypatch):
    """Kernels inherit OMP_NUM_THREADS=1 unless it is set: on two shared cores, two torch
    threads per kernel oversubscribe the CPU and made the quick runs about 3× slower."""
    if "OMP_NUM_THREADS" not in os.environ:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _execute(path: Path, out: Path, cwd: Path, **parameters) -> tuple[object, float]:
    papermill = pytest.importorskip("papermill")
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(out), parameters=parameters,
                                   kernel_name="python3", cwd=str(cwd), progress_bar=False)
    finally:
        seconds = time.perf_counter() - t0
        print(f"\n{path.name}: {seconds:.1f} s wall ({parameters})")
    return _read(out), seconds


def _stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:3] == ["00_start_here.ipynb", "01_grokking.ipynb",
                                               "02_softmax_collapse.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_clean(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: strip them before committing"
            assert cell.execution_count is None, f"cell {i} has an execution count"
            assert "%pip" not in cell.source and "!pip" not in cell.source
    # nbformat's own layout (sorted keys, one-space indent), as the git filter writes it: a
    # notebook written any other way shows up as a diff after the next Run All
    assert path.read_text() == nbformat.writes(nb) + "\n", \
        "not in nbformat's canonical form: write it with nbformat.write (or run nbstripout)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_one_parameters_cell(path):
    cells = _parameter_cells(_read(path))
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    assert _assigned(cells[0].source).get("preset") == "quick"


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, tmp_path):
    nb, seconds = _execute(path, tmp_path / path.name, NOTEBOOKS_DIR, preset="quick",
                           store=str(tmp_path / "runs"))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert (tmp_path / "runs").is_dir(), "the notebook should use the store it was given"


@pytest.mark.notebook
@pytest.mark.slow
def test_start_here_seed_parameter_changes_the_run(tmp_path):
    """Injecting ``seed=1`` into 00_start_here reaches its run: the printed run id is that of
    the seed-1 config (the notebook's ⊥AdamW scenario), not the default seed-0 one."""
    from workbench import make_config
    from workbench.core.store import RunStore
    from workbench.grokking.scenarios import scenario

    path = NOTEBOOKS_DIR / "00_start_here.ipynb"
    store = RunStore(tmp_path / "runs")
    nb, _ = _execute(path, tmp_path / path.name, NOTEBOOKS_DIR, preset="quick", seed=1,
                     store=str(store.root))
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and _assigned(injected[0].source)["seed"] == 1
    lines = [ln for ln in _stdout(nb).splitlines() if ln.startswith("run id: ")]
    assert lines, "00_start_here should print its run id"
    printed = lines[0].split("run id: ", 1)[1].strip()
    assert json.loads((store.path(printed) / "config.json").read_text())["config"]["seed"] == 1
    ids = {seed: store.run_id("grokking", make_config("grokking", "quick", seed=seed,
                                                      **scenario("perp_adamw", "quick")))
           for seed in (0, 1)}
    assert printed == ids[1] != ids[0]


# --------------------------------------------------------------------------- the exercises
def test_collapse_margin_matches_the_float_formats():
    from workbench.grokking.exercises import collapse_margin

    for dtype, bits in (("float16", 11), ("float32", 24), ("float64", 53)):
        assert abs(collapse_margin(dtype) - bits * 0.6931) < 0.1   # ≈ ln 2^bits


def test_check_collapse_margin_never_raises():
    from workbench.grokking.exercises import check_collapse_margin

    right = check_collapse_margin(16.6)
    assert right and right.ok and right.message.startswith("✓")
    for wrong in (None, "sixteen", float("nan"), 10, 20, True):
        result = check_collapse_margin(wrong)
        assert not result and result.message.startswith("✗") and "Hint" in result.message
    assert check_collapse_margin(7.6, dtype="float16")


def test_check_grok_step_uses_one_log_interval():
    import pandas as pd
    from types import SimpleNamespace

    from workbench.grokking.exercises import check_grok_step

    metrics = pd.DataFrame({"step": [0, 50, 100, 150], "test_acc": [0.0, 0.2, 0.95, 1.0]})
    run = SimpleNamespace(summary={"step_test_acc_0.9": 100, "step_train_acc_0.9": 50,
                                   "log_every": 50}, config={"log_every": 50}, metrics=metrics)
    assert check_grok_step(100, run) and check_grok_step(140, run)
    assert not check_grok_step(151, run) and not check_grok_step(None, run)
    assert not check_grok_step("soon", run).ok
    never = SimpleNamespace(summary={"step_test_acc_0.9": None, "log_every": 50}, config={},
                            metrics=metrics)
    assert check_grok_step(None, never) and not check_grok_step(100, never)
