"""What `make lab` sets up: the output-stripping git filter, and the README's links to the
JupyterLab it opens (and to Binder) point at the same notebook."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                    reason="needs make and git")
def test_make_installs_a_filter_that_strips_outputs_and_keeps_ids(tmp_path):
    repo = tmp_path / "clone"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    shutil.copy(ROOT / "Makefile", repo)
    shutil.copy(ROOT / ".gitattributes", repo)
    (repo / "notebooks").mkdir()
    clean = ROOT / "notebooks" / "01_grokking.ipynb"
    nb = json.loads(clean.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 7  # what a Run All in JupyterLab leaves behind
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x" * 1000]}]
    (repo / "notebooks" / clean.name).write_text(json.dumps(nb, indent=1) + "\n")
    # the Makefile's target, with this test's Python instead of the clone's .venv
    subprocess.run(["make", "-s", "nbstripout", f"BIN={Path(sys.executable).parent}"],
                   cwd=repo, check=True)
    git("add", ".", cwd=repo)
    stored = git("show", f":notebooks/{clean.name}", cwd=repo)
    assert stored == clean.read_text()  # outputs and count gone, cell ids and all else kept
    assert "x" * 1000 not in stored


def test_readme_links_open_the_notebook_make_lab_opens():
    make = (ROOT / "Makefile").read_text()
    opened = re.search(r"^lab:.*\n\t\S*jupyter lab [^\n]*?(\S+\.ipynb)\s*$", make, re.M).group(1)
    assert (ROOT / opened).is_file()
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"(?:urlpath=|127\.0\.0\.1:8888/)lab/tree/(\S+?\.ipynb)", readme)
    assert links and set(links) == {opened}, links  # JupyterLab's root is the repository
