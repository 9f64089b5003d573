"""The superposition dashboard: its logic without a browser, and one session in headless
Chromium (map → click a cell → run a new cell live)."""

from __future__ import annotations

import panel as pn

import pytest

from workbench.apps import APPS, app_factory
from workbench.apps import superposition as A

from dashboard_browser import assert_fits, fill, need_chromium, open_page, server_fixture

TINY = (dict(n=30, m=(3, 5), batch_size=32, steps=40, warmup=5, seeds=2, eval_size=64,
             log_every=20), {"gamma": [-1.0, 0.5], "alpha": [1.0, 1.5]})


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(A, "sweep_grid", lambda name, preset: (dict(TINY[0]), dict(TINY[1])))


def test_registry_and_factory(store, tiny):
    assert APPS["superposition"] == "workbench.apps.superposition"
    view = app_factory("superposition")(store=store)
    assert isinstance(view, pn.viewable.Viewable)


def test_map_click_and_new_cell(store, tiny):
    app = A.SuperpositionApp(store=store)
    app.wait()
    assert app.phase_state == "done", app.status.object
    heat = app.map_pane.object.data[0]
    assert len(heat.z) == 2 and len(heat.z[0]) == 2       # γ rows × α columns
    # what Panel sends for a heat-map cell: the axis labels
    app.map_pane.click_data = {"points": [{"x": "1.5", "y": "-1.0", "customdata": None}]}
    assert "alpha=1.5, gamma=-1.0" in app.cell_title.object
    assert len(app.fit_pane.object.data) == 2               # points + fit line
    assert len(app.norm_pane.object.data) == 2 and len(app.overlap_pane.object.data) == 2
    app.alpha.value, app.gamma.value = "1.25", "0.25"
    app.run_cell()
    app.wait()
    assert app.cell_state == "done", app.cell_status.object
    assert "Done" in app.cell_status.object and len(app.runs) == 5
    assert len(app.map_pane.object.data[0].z[0]) == 3     # a new α column
    assert "alpha=1.25, gamma=0.25" in app.cell_title.object


def test_bad_value_shows_one_line_alert(store, tiny):
    app = A.SuperpositionApp(store=store, autoload=False)
    app.alpha.value = "-1"
    app.run_cell()
    assert app.cell_state == "error" and app.alert.visible
    assert app.alert.object.startswith("alpha:") and "\n" not in app.alert.object
    app.alpha.value = ""                                    # a cleared input field
    app.run_cell()
    assert app.alert.object.startswith("alpha:")


def test_stop_a_running_cell_and_resume_it(store, tiny):
    app = A.SuperpositionApp(store=store, autoload=False)
    app.overrides = {**app.overrides, "steps": 100, "log_every": 20}
    stopped = []
    app.param.watch(lambda e: stopped.append(e.new), "cell_state")
    # press Stop at the log of step 20, from the training thread itself (the progress update
    # runs this watcher before the next step): the run stops there on any machine
    pressed = []

    def press_stop(event):
        if event.new >= 20 and not pressed:         # once: the resumed run goes to the end
            pressed.append(event.new)
            app.stop_button.clicks += 1              # the Stop button
    app.cell_progress.param.watch(press_stop, "value")
    app.run_cell()
    assert app.cell_state == "running" and not app.stop_button.disabled
    app.wait()
    assert app.cell_state == "stopped", app.cell_status.object
    assert "step 20" in app.cell_status.object
    assert "resumes" in app.cell_status.object and app.stop_button.disabled
    assert not app.run_button.disabled
    app.run_cell()                                   # Run cell again: resumes to the end
    app.wait()
    assert app.cell_state == "done", app.cell_status.object
    assert app.runs[-1].metrics["step"].max() == 100


server = server_fixture("superposition")


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_map_click_and_run_cell(tiny, server, tmp_path):
    need_chromium()  # before the import: without chromium, playwright may be missing too
    from playwright.sync_api import expect

    with open_page(server) as page:
        expect(page.locator(".wb-phase .heatmaplayer")).to_be_attached()
        box = page.locator(".wb-phase .nsewdrag").first.bounding_box()
        # upper-right cell: alpha=1.5 (right column), gamma=0.5 (top row)
        x, y = box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25
        page.mouse.move(x - 10, y - 10)
        page.mouse.move(x, y, steps=5)
        page.mouse.click(x, y)
        expect(page.locator(".wb-cell-title")).to_contain_text("alpha=1.5, gamma=0.5")
        expect(page.locator(".wb-cell-fit .scatterlayer .trace").first).to_be_attached()
        fill(page, (("alpha", "2"), ("gamma", "-0.5")))
        page.locator(".wb-run-cell button").click()
        expect(page.locator(".wb-cell-status")).to_contain_text("Done")
        expect(page.locator(".wb-cell-title")).to_contain_text("alpha=2.0, gamma=-0.5")
        assert_fits(page)  # a 1400 px window: no sideways scroll, no input cut off
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
