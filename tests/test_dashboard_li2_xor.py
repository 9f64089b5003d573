"""The Li₂ and XOR dashboards: their logic without a browser (tiny sweeps), and one session
of each in headless Chromium (the sweep draws; a new run is trained from the page)."""

from __future__ import annotations

import panel as pn
import pytest

from workbench.apps import APPS, app_factory
from workbench.apps import li2 as A
from workbench.apps import xor_grokking as B

from dashboard_browser import fill, need_chromium, open_page, server_fixture  # noqa: F401


@pytest.fixture
def tiny(monkeypatch):
    def li2_configs(self):
        return [self.exp.config(self.preset, M=7, width=16, steps=30, log_every=10,
                                train_frac=f) for f in (0.3, 0.6)]

    def xor_configs(self):
        return [self.exp.config(self.preset, p=2000, n=40, n_test=40, m=20, steps=20,
                                mu_norm=mu) for mu in (4.0, 9.0)]
    monkeypatch.setattr(A.Li2App, "sweep_configs", li2_configs)
    monkeypatch.setattr(B.XorApp, "sweep_configs", xor_configs)
    monkeypatch.setattr(A.Li2App, "cell_config", lambda self: self.exp.config(
        self.preset, M=self.widgets["M"].value, train_frac=self.widgets["train_frac"].value,
        width=16, steps=30, log_every=10))
    monkeypatch.setattr(B.XorApp, "cell_config", lambda self: self.exp.config(
        self.preset, p=2000, n=40, n_test=40, m=20, steps=20,
        mu_norm=self.widgets["mu_norm"].value, flip=self.widgets["flip"].value))


def test_registered():
    assert APPS["li2"] == "workbench.apps.li2"
    assert APPS["xor-grokking"] == "workbench.apps.xor_grokking"


@pytest.mark.parametrize("name, cls", [("li2", A.Li2App), ("xor-grokking", B.XorApp)])
def test_sweep_click_and_new_run(store, tiny, name, cls):
    assert isinstance(app_factory(name)(store=store), pn.viewable.Viewable)
    app = cls(store=store)
    app.wait(120)
    assert app.sweep_state == "done", app.status.object
    assert len(app.runs) == 2 and app.map_pane.object is not None
    app.map_pane.click_data = {"points": [{"customdata": 1, "x": 1, "y": 1}]}
    assert app.detail_pane.object is not None and "**" in app.detail_title.object
    if name == "li2":
        app.widgets["M"].value, app.widgets["train_frac"].value = "11", "0.5"
    else:
        app.widgets["mu_norm"].value = "6"
    app.run_cell()
    app.wait(120)
    assert app.cell_state == "done", app.cell_status.object
    assert len(app.runs) == 3 and "Done" in app.cell_status.object
    assert "loaded from the run store" not in app.cell_status.object
    # the same cell again comes from the store, and the page says so (the map keeps one copy)
    app.run_cell()
    app.wait(120)
    assert app.cell_state == "done", app.cell_status.object
    assert len(app.runs) == 3 and "loaded from the run store" in app.cell_status.object
    # a new session loads the sweep from the store and says so too
    again = cls(store=store)
    again.wait(120)
    assert again.sweep_state == "done" and "loaded from the run store" in again.status.object


@pytest.mark.parametrize("cls, key, bad", [(A.Li2App, "train_frac", "1.5"),
                                           (B.XorApp, "flip", "0.7")])
def test_bad_value_shows_one_line(store, tiny, cls, key, bad):
    app = cls(store=store, autoload=False)
    app.widgets[key].value = bad
    app.run_cell()
    assert app.cell_state == "error" and app.alert.visible
    assert app.alert.object.startswith(f"{key}:") and "\n" not in app.alert.object


li2_server = server_fixture("li2")
xor_server = server_fixture("xor-grokking")


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_li2_map_and_new_cell(tiny, li2_server, tmp_path):
    need_chromium()  # before the import: without chromium, playwright may be missing too
    from playwright.sync_api import expect

    with open_page(li2_server) as page:
        expect(page.locator(".wb-map .scatterlayer .trace").first).to_be_attached()
        expect(page.locator(".wb-sweep-status")).to_contain_text("2 runs")
        fill(page, (("M", "11"), ("train_frac", "0.5")))
        page.locator(".wb-run-cell button").click()
        expect(page.locator(".wb-cell-status")).to_contain_text("Done")
        expect(page.locator(".wb-detail-title")).to_contain_text("M = 11")
        expect(page.locator(".wb-detail .scatterlayer .trace").first).to_be_attached()
        page.screenshot(path=str(tmp_path / "li2.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_xor_regimes_and_new_run(tiny, xor_server, tmp_path):
    need_chromium()
    from playwright.sync_api import expect

    with open_page(xor_server) as page:
        expect(page.locator(".wb-map .scatterlayer .trace").first).to_be_attached()
        fill(page, (("mu_norm", "6"),))
        page.locator(".wb-run-cell button").click()
        expect(page.locator(".wb-cell-status")).to_contain_text("Done")
        expect(page.locator(".wb-detail-title")).to_contain_text("‖μ‖ = 6")
        page.screenshot(path=str(tmp_path / "xor.png"), full_page=True)
