"""The grokking dashboard: its logic without a browser, and one run in headless Chromium."""

from __future__ import annotations

import pytest

import panel as pn

from workbench.apps import APPS, app_factory, serve
from workbench.apps import grokking as G
from workbench.apps._base import set_form_values
from workbench.core.config import ConfigError

from dashboard_browser import (assert_fits, need_chromium, open_page, server_fixture,
                               train_in_page)
TINY = dict(p=23, steps=60)  # plus the quick preset's log_every=20: four logs, ~2 s
TINY_PHASE = (dict(p=11, width=32, train_frac=0.5, steps=40, log_every=20),
              {"weight_decay": [0.0, 1.0], "lr": [0.003, 0.01]})


def make_app(store, **values) -> G.GrokkingApp:
    app = G.GrokkingApp(store=store)
    set_form_values(app.exp.config_cls, app.widgets, {**TINY, **values})
    return app


@pytest.fixture
def tiny_phase(monkeypatch):
    monkeypatch.setattr(G, "sweep_grid", lambda name, preset: (dict(TINY_PHASE[0]),
                                                               dict(TINY_PHASE[1])))


# --------------------------------------------------------------------------- logic
def test_registry_and_factory(store):
    assert "grokking" in APPS
    assert isinstance(app_factory("grokking")(store=store), pn.viewable.Viewable)
    with pytest.raises(ConfigError, match="grokking"):
        app_factory("nope")
    with pytest.raises(ConfigError, match="app: must be one of"):
        serve("nope")


def test_train_updates_plot_progress_and_summary(store):
    app = make_app(store)
    assert app.widgets["lr"].value == "0.01"  # defaults from the quick preset
    app.train()
    app.wait()
    assert app.state == "done", app.status.object
    assert app.progress.value == app.progress.max == 60
    assert len(app.curves.object.data) == 4 and len(app.curves.object.data[0].x) == 4
    assert "final_test_acc" in app.summary.object
    assert app.fourier.visible and len(app.fourier.object.data) == 1
    assert "Done" in app.status.object and not app.alert.visible
    app.view.value = "collapse"  # the other view redraws from the same metrics
    assert "Softmax Collapse" in str(app.curves.object.layout.annotations[1].text)


def test_bad_value_shows_alert(store):
    app = make_app(store, operation="div", p=60)
    app.train()  # no exception
    assert app.thread is None and app.state == "error"
    assert app.alert.visible and "prime" in app.alert.object and "\n" not in app.alert.object
    app.widgets["lr"].value = ""  # a cleared input field
    app.widgets["operation"].value = "add"
    app.train()
    assert app.alert.visible and app.alert.object.startswith("lr:")


def test_stop_then_resume(store):
    app = make_app(store, steps=60)
    live = app._on_log

    def stop_at_first_log(metrics):
        live(metrics)
        app.stop()

    app._on_log = stop_at_first_log
    app.train()
    app.wait()
    assert app.state == "stopped" and "Stopped at step 0" in app.status.object
    assert not app.train_button.disabled and app.stop_button.disabled
    app._on_log = live
    app.train()  # resumes from the checkpoint
    app.wait()
    assert app.state == "done" and app.progress.value == 60
    every = app.run.config["log_every"]  # the quick preset's
    assert list(app.run.metrics["step"]) == sorted(set(range(0, 60, every)) | {60})


def test_phase_diagram_and_click(store, tiny_phase):
    app = make_app(store)
    app.tabs.active = 1  # opening the tab loads (here: computes) the sweep
    app.wait()
    assert app.phase_state == "done", app.phase_status.object
    assert not app.sweep.loaded and "loaded from" not in app.phase_status.object  # computed
    heat = app.phase_pane.object.data[0]
    assert len(heat.z) == 2 and len(heat.z[0]) == 2
    i = heat.customdata[1][0]  # lr=0.01, weight_decay=0.0
    app.phase_pane.click_data = {"points": [{"x": "0.0", "y": "0.01", "customdata": i}]}
    assert "lr=0.01" in app.cell_title.object and "weight_decay=0.0" in app.cell_title.object
    assert len(app.cell_curves.object.data) == 4
    app.phase_pane.click_data = {"points": [{"x": None, "y": None}]}  # legend: ignored
    assert "lr=0.01" in app.cell_title.object
    # what Panel sends for a heat-map cell: customdata lost, the axis labels kept
    app.phase_pane.click_data = {"points": [{"x": "1.0", "y": "0.003", "customdata": None}]}
    assert "weight_decay=1.0, lr=0.003" in app.cell_title.object
    again = make_app(store)  # a second session loads the cached sweep
    again.load_phase()
    again.wait()
    assert again.phase_state == "done" and again.sweep.loaded  # nothing was trained again
    assert "loaded from the run store" in again.phase_status.object


# --------------------------------------------------------------------------- browser
server = server_fixture("grokking")


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_train_and_phase_click(server, tiny_phase, tmp_path):
    need_chromium()  # before the import: without chromium, playwright may be missing too
    from playwright.sync_api import expect

    with open_page(server) as page:
        status = train_in_page(page, (("p", "23"), ("steps", "40")))
        expect(status).to_contain_text("40 steps")  # the changed widget was used
        lines = page.locator(".wb-curves .scatterlayer .trace path.js-line")
        expect(lines.first).to_be_attached()
        assert lines.count() == 4
        expect(page.locator(".wb-summary")).to_contain_text("final_test_acc")
        assert_fits(page)  # a 1400 px window: no sideways scroll, no input cut off
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        page.get_by_text("Phase diagram", exact=True).click()  # computes the tiny sweep
        expect(page.locator(".wb-phase .heatmaplayer")).to_be_attached()
        box = page.locator(".wb-phase .nsewdrag").first.bounding_box()
        x, y = box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25
        page.mouse.move(x - 10, y - 10)
        page.mouse.move(x, y, steps=5)  # plotly reports a click on the hovered cell
        page.mouse.click(x, y)
        expect(page.locator(".wb-cell-title")).to_contain_text(
            "weight_decay=1.0, lr=0.01")
        expect(page.locator(".wb-cell-curves .scatterlayer .trace").first).to_be_attached()
