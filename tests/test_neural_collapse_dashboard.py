"""The neural-collapse dashboard: its logic without a browser, and one run in headless
Chromium (like tests/test_dashboard_grokking.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import panel as pn

from workbench.apps import APPS, app_factory, serve
from workbench.apps import neural_collapse as A

CHROMIUM = "/usr/bin/chromium"
TINY = dict(data="ufm", steps=200)  # UFM, log every 100: three logs, ~1 s


def make_app(store, **values) -> A.NeuralCollapseApp:
    app = A.NeuralCollapseApp(store=store)
    for key, value in {**TINY, **values}.items():
        app.widgets[key].value = value
    return app


def test_registered(store):
    assert APPS["neural-collapse"] == "workbench.apps.neural_collapse"
    assert isinstance(app_factory("neural-collapse")(store=store), pn.viewable.Viewable)


def test_train_draws_curves_summary_and_geometry(store):
    app = make_app(store)
    app.train()
    app.wait(60)
    assert app.state == "done", (app.status.object, app.alert.object)
    assert app.progress.value == 200
    fig = app.curves.object
    assert len(fig.data) == 6 and len(fig.data[1].x) == 3  # six panels, three logs
    assert fig.layout.yaxis2.type == "log"                 # NC1 on a log axis
    assert "final_nc1" in app.summary.object
    assert app.geometry.visible and len(app.geometry.object.data) == 6  # means + ETF
    assert run_cfg(app)["width"] == 64 and run_cfg(app)["lr"] == 0.1   # the UFM scenario


def run_cfg(app):
    return app.run.config


def test_data_choice_sets_defaults_and_bad_value_alerts(store):
    app = make_app(store)
    app.widgets["data"].value = "digits"
    assert app.widgets["width"].value == 256 and app.widgets["steps"].value == 1200
    app.widgets["imbalance"].value = 0.5
    app.train()  # no exception, no thread
    assert app.thread is None and app.state == "error"
    assert app.alert.visible and app.alert.object.startswith("imbalance:")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 60) -> None:
    import time
    import urllib.request
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > end:
                raise
        time.sleep(0.3)


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_browser_train(tmp_path, monkeypatch):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium to run this test)")
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "runs"))
    port = _free_port()
    thread = serve("neural-collapse", port=port, threaded=True)
    try:
        url = f"http://127.0.0.1:{port}/neural-collapse"
        _wait_http(url)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(url)
                for name, value in (("steps", "300"), ("width", "16")):
                    box = page.locator(f".wb-{name} input")
                    box.fill(value)
                    box.press("Enter")
                page.locator(".wb-train button").click()
                status = page.locator(".wb-status")
                expect(status).to_contain_text("Done", timeout=120_000)
                expect(status).to_contain_text("300 steps")  # the changed widget was used
                lines = page.locator(".wb-curves .scatterlayer .trace path.js-line")
                expect(lines.first).to_be_attached(timeout=30_000)
                assert lines.count() == 6
                expect(page.locator(".wb-summary")).to_contain_text("final_nc1")
                expect(page.locator(".wb-geometry .gl-container, .wb-geometry canvas").first
                       ).to_be_attached(timeout=30_000)
                page.locator(".wb-imbalance input").fill("0.5")  # a bad value: in-page message
                page.locator(".wb-imbalance input").press("Enter")
                page.locator(".wb-train button").click()
                expect(page.locator(".wb-alert")).to_contain_text("imbalance:", timeout=30_000)
                page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            finally:
                browser.close()
    finally:
        thread.stop()
        thread.join(10)
