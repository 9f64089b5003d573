"""Notebook 01's live parts in real JupyterLab (headless Chromium), which papermill cannot see:
the live curves reach the run's final step (also when re-run from the store), and the form's
Train draws its run to the end with the dashboard's messages.

A JupyterLab server runs on 127.0.0.1 with a token, in a temporary directory holding a copy of
the notebook (its autosave never touches the repository), a temporary run store and settings
that attach every cell to the page. The cells are found by their tags, ``live`` and ``form``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from dashboard_browser import free_port, launch, need_chromium, stop_process, wait_http

# three grokking runs of the quick preset in a kernel: allow for a heavily loaded machine
pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.slow,
              pytest.mark.timeout(1800)]

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_grokking.ipynb"
FORM_P = 23  # the form trains this modulus: a new run, and a cheap one
CELL_TIMEOUT = 600_000  # ms; a generous bound for a loaded machine, never reached when well

# the x values as plotly.js holds them (decoded: the JSON may carry base64 typed arrays)
LAST_X = """(el) => Math.max(...el._fullData.flatMap((t) => Array.from(t.x || [])))"""


def tagged(path: Path, tag: str) -> int:
    cells = nbformat.read(path, as_version=4).cells
    hits = [i for i, c in enumerate(cells) if tag in c.metadata.get("tags", [])]
    assert len(hits) == 1, f"{path.name}: expected one cell tagged {tag!r}, found {hits}"
    return hits[0]


def newest_config(store: Path) -> dict:
    """The config of the most recently finished run in the store."""
    import json

    done = sorted(store.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    return json.loads((done[-1].parent / "config.json").read_text())["config"]


def newest_final_step(store: Path) -> int:
    """The last logged step of the most recently finished run in the store."""
    done = sorted(store.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    assert done, "no finished run in the store"
    return int(pd.read_csv(done[-1].parent / "metrics.csv")["step"].max())


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a copy of notebook 01; yields (url of the notebook, store)."""
    need_chromium()
    root, store, settings = tmp_path / "lab", tmp_path / "runs", tmp_path / "settings"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    token, port = secrets.token_hex(16), free_port()
    env = {**os.environ, "WORKBENCH_STORE": str(store), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "OMP_NUM_THREADS": "1",
           "WORKBENCH_STRICT": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", "--allow-root"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", proc=proc)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", store
    finally:
        stop_process(proc, 30)


def run_cell(page, cell, tries: int = 5) -> None:
    """Select ``cell`` and run it in place (Ctrl+Enter), as a user would; wait until it is
    queued or running (its prompt changes). A key press the page was not ready for (it is
    still settling after the kernel started) is pressed again. Markdown cells are left alone."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    if "jp-CodeCell" not in (cell.get_attribute("class") or ""):
        return
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    for attempt in range(tries):
        prompt.click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-selected\b"), timeout=30_000)
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).not_to_have_text(before, timeout=20_000)
            return
        except (AssertionError, PlaywrightTimeout):
            if attempt == tries - 1:
                raise


def wait_done(cell, timeout=CELL_TIMEOUT) -> None:
    """Wait until ``cell`` has run: its prompt shows an execution count, not ``*``."""
    from playwright.sync_api import expect

    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[\d+\]:$"),
                                                         timeout=timeout)


def assert_no_error(cell) -> None:
    errors = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.first.inner_text()[-2000:]


def last_x(cell) -> float:
    figure = cell.locator(".jp-OutputArea .js-plotly-plot")
    figure.first.wait_for(state="attached", timeout=60_000)
    assert figure.count() == 1, f"{figure.count()} figures in the cell"
    return figure.first.evaluate(LAST_X)


def test_live_cell_and_form_draw_to_the_final_step(lab):
    from playwright.sync_api import expect, sync_playwright

    url, store = lab
    live_i, form_i = tagged(NOTEBOOK, "live"), tagged(NOTEBOOK, "form")
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cells.nth(form_i)).to_be_attached(timeout=120_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                   ).to_be_attached(timeout=120_000)  # the kernel has started
            for i in range(live_i + 1):  # run every code cell down to the live one, in order
                run_cell(page, cells.nth(i))

            # the live cell: one figure, ending at the run's final step
            live = cells.nth(live_i)
            wait_done(live)
            assert_no_error(live)
            live_final = newest_final_step(store)
            assert last_x(live) == live_final

            # the form (the cells between are not needed): a new modulus typed in, Train
            # trains it (not loaded from the store) with live curves drawn to the end, with
            # the dashboard's messages
            form = cells.nth(form_i)
            run_cell(page, form)
            wait_done(form)
            assert_no_error(form)
            form.locator("input[list]").fill(str(FORM_P))  # p: the one combo box
            form.locator(".jupyter-widgets button", has_text="Train").click()
            status = form.locator(".widget-html", has_text=re.compile("Training|Done"))
            expect(status).to_contain_text("Done", timeout=CELL_TIMEOUT)
            assert "loaded from the run store" not in status.inner_text()
            steps = int(re.search(r"(\d+) steps", status.inner_text()).group(1))
            assert last_x(form) == steps == newest_final_step(store)
            assert newest_config(store)["p"] == FORM_P  # what was typed was trained

            # re-running the live cell loads the run from the store: still one final figure
            run_cell(page, live)
            wait_done(live)
            assert last_x(live) == live_final
        finally:
            browser.close()
