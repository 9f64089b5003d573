"""The curriculum runner (``workbench curriculum``) on tiny synthetic notebooks: one that
passes (with a ``parameters`` cell and a plotly figure), one that fails in its third cell.
The real curriculum is executed by tests/test_notebooks.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.curriculum import find_notebooks

CLI = [sys.executable, "-m", "workbench.cli", "curriculum"]
CHROMIUM = "/usr/bin/chromium"


def _notebook(path: Path, *cells: tuple[str, list[str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for source, tags in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "01_pass.ipynb",
              ('preset = "quick"\nstore = None\nseed = 0', ["parameters"]),
              ("import plotly.graph_objects as go\n"
               "print(f'preset is {preset}, seed is {seed}, store is {store}')\n"
               "go.Figure(go.Scatter(x=[0, 1], y=[seed, 2 * seed]))", []))
    _notebook(d / "02_fail.ipynb",
              ('preset = "quick"', ["parameters"]),
              ("x = 1", []),
              ("y = 2\nraise ValueError(f'broken on purpose at {preset}')", []),
              ("print('never reached')", []))
    return d


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=240, cwd=cwd,
                          env=env)


def _stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_find_notebooks_filters_by_glob_or_substring(notebooks):
    assert [p.name for p in find_notebooks(notebooks)] == ["01_pass.ipynb", "02_fail.ipynb"]
    assert [p.name for p in find_notebooks(notebooks, "pass")] == ["01_pass.ipynb"]
    assert [p.name for p in find_notebooks(notebooks, ["0[2-9]_*"])] == ["02_fail.ipynb"]
    assert find_notebooks(notebooks, "nothing") == []


@pytest.mark.timeout(300)
def test_cli_runs_indexes_and_reports_the_failing_cell(notebooks, tmp_path):
    out = tmp_path / "out"
    proc = _run(["--notebooks", str(notebooks), "--out", str(out), "--preset", "full",
                 "--jobs", "2", "-p", "seed=7", "--store", str(tmp_path / "runs")], tmp_path)
    assert proc.returncode == 1, proc.stderr
    # the failing notebook, its failing cell (index 2 of the source notebook) and the error
    assert "FAILED 02_fail.ipynb at cell 2 (In [4]): ValueError: broken on purpose at full" \
        in proc.stderr, proc.stderr
    assert "raise ValueError(f'broken on purpose at {preset}')" in proc.stderr
    assert "01_pass" in proc.stdout and "1 ok, 1 failed" in proc.stdout

    # the passing notebook ran with the injected parameters
    nb = nbformat.read(out / "01_pass.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert f"preset is full, seed is 7, store is {tmp_path / 'runs'}" in _stdout(nb)
    failed = nbformat.read(out / "02_fail.ipynb", as_version=4)
    assert "never reached" not in _stdout(failed)
    assert "seed" not in "".join(c.source for c in failed.cells)  # not declared: not injected

    # one HTML page per notebook, with the figure, and an index linking them with status
    page = (out / "01_pass.html").read_text()
    assert "preset is full" in page
    assert "Plotly.newPlot" in page and "plotly.js v" in page  # the figure, plotly.js inlined
    assert (out / "02_fail.html").exists()
    index = (out / "index.html").read_text()
    assert 'href="01_pass.html"' in index and 'href="02_fail.html"' in index
    assert '<tr class="ok">' in index and '<tr class="failed">' in index
    assert "broken on purpose at full" in index and "2 notebooks, 1 failed" in index
    results = {r["name"]: r for r in json.loads((out / "results.json").read_text())}
    assert results["01_pass"]["status"] == "ok" and results["02_fail"]["cell"] == 2
    assert results["01_pass"]["parameters"] == {"preset": "full", "seed": 7,
                                                "store": str(tmp_path / "runs")}
    assert all(r["seconds"] > 0 for r in results.values())


@pytest.mark.timeout(300)
def test_cli_only_passing_exits_zero_and_exports_its_figure(notebooks, tmp_path):
    out = tmp_path / "out"
    chromium = Path(CHROMIUM).exists()
    proc = _run(["--notebooks", str(notebooks), "--out", str(out), "--only", "pass",
                 "--quiet"] + (["--figures", str(out / "figures")] if chromium else []), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 ok, 0 failed" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["01_pass.html", "01_pass.ipynb", "index.html", "results.json"]
        + (["figures"] if chromium else []))
    nb = nbformat.read(out / "01_pass.ipynb", as_version=4)
    assert "preset is quick, seed is 0, store is None" in _stdout(nb)
    if not chromium:
        pytest.skip(f"{CHROMIUM} is missing: the figure export was not tested")
    png = (out / "figures" / "01_pass.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 2_000 < len(png) < 200_000  # measured 5.9 kB
    assert 'src="figures/01_pass.png"' in (out / "index.html").read_text()


def test_cli_bad_arguments(notebooks, capsys):
    from workbench.cli import main

    assert main(["curriculum", "--notebooks", str(notebooks), "--only", "nothing"]) == 2
    assert "only: no notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["curriculum", "--notebooks", str(notebooks), "--preset", "huge"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
