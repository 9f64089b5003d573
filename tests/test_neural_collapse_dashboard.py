"""The neural-collapse dashboard: its logic without a browser, and one run in headless
Chromium (like tests/test_dashboard_grokking.py)."""

from __future__ import annotations

import pytest

import panel as pn

from workbench.apps import APPS, app_factory
from workbench.apps import neural_collapse as A
from workbench.apps._base import set_form_values

from dashboard_browser import (assert_fits, fill, need_chromium, open_page, server_fixture,
                               train_in_page)

TINY = dict(data="ufm", steps=200)  # UFM, log every 100: three logs, ~1 s


def make_app(store, **values) -> A.NeuralCollapseApp:
    app = A.NeuralCollapseApp(store=store)
    set_form_values(app.exp.config_cls, app.widgets, {**TINY, **values})
    return app


def test_registered(store):
    assert APPS["neural-collapse"] == "workbench.apps.neural_collapse"
    assert isinstance(app_factory("neural-collapse")(store=store), pn.viewable.Viewable)


def test_train_draws_curves_summary_and_geometry(store):
    app = make_app(store)
    app.train()
    app.wait()
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
    assert app.widgets["width"].value == "256" and app.widgets["steps"].value == "1200"
    app.widgets["imbalance"].value = "0.5"
    app.train()  # no exception, no thread
    assert app.thread is None and app.state == "error"
    assert app.alert.visible and app.alert.object.startswith("imbalance:")


server = server_fixture("neural-collapse")


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_train(server, tmp_path):
    need_chromium()  # before the import: without chromium, playwright may be missing too
    from playwright.sync_api import expect

    with open_page(server) as page:
        status = train_in_page(page, (("steps", "300"), ("width", "16")))
        expect(status).to_contain_text("300 steps")  # the changed widget was used
        lines = page.locator(".wb-curves .scatterlayer .trace path.js-line")
        expect(lines.first).to_be_attached()
        assert lines.count() == 6
        expect(page.locator(".wb-summary")).to_contain_text("final_nc1")
        expect(page.locator(".wb-geometry .gl-container, .wb-geometry canvas").first
               ).to_be_attached()
        fill(page, (("imbalance", "0.5"),))  # a bad value: in-page message
        page.locator(".wb-train button").click()
        expect(page.locator(".wb-alert")).to_contain_text("imbalance:")
        assert_fits(page)  # a 1400 px window: no sideways scroll, no input cut off
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
