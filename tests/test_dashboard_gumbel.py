"""The Gumbel-Softmax dashboard: its logic without a browser, and one session in headless
Chromium (τ slider → live estimator table; a tiny batched VAE trained from the page)."""

from __future__ import annotations

import pytest

import panel as pn

from workbench.apps import APPS, app_factory
from workbench.apps import gumbel as G

from dashboard_browser import (assert_fits, need_chromium, open_page, server_fixture,
                               train_in_page)

TINY = dict(steps=40)  # the quick preset's digits VAE, 40 steps: a few seconds




def test_registered_and_estimator_tab_follows_tau(store):
    assert "gumbel" in APPS
    assert isinstance(app_factory("gumbel")(store=store), pn.viewable.Viewable)
    app = G.GumbelApp(store=store)
    assert "Gumbel-Softmax" in app.est_table.object and not app.est_alert.visible
    lo = G.estimator_stats(0.2, 10)["rows"]
    hi = G.estimator_stats(2.0, 10)["rows"]
    assert hi["gs"]["bias"] > lo["gs"]["bias"] and hi["gs"]["variance"] < lo["gs"]["variance"]
    app.tau.value = 2.0
    assert f"{hi['gs']['bias']:.4f}" in app.est_table.object
    app.f.value = "linear"  # GS and ST coincide
    rows = [ln for ln in app.est_table.object.splitlines() if "Gumbel-Softmax" in ln]
    assert len(rows) == 2 and rows[0].split("|")[2:] == rows[1].split("|")[2:]


def test_bad_values_show_alerts(store):
    app = G.GumbelApp(store=store)
    app.K.value = ""  # a cleared input
    assert app.est_alert.visible and app.est_alert.object.startswith("K:")
    app.K.value = "5"
    assert not app.est_alert.visible
    app.estimators.value = []
    app.train()
    assert app.state == "error" and app.alert.object.startswith("estimator:")
    app.estimators.value = ["gs"]
    app.lr.value = "-1"
    app.train()
    assert app.thread is None and app.alert.object.startswith("lr: must be > 0")


def test_vae_trains_batched_with_reconstructions(store):
    app = G.GumbelApp(store=store)
    app.steps.value = str(TINY["steps"])
    app.estimators.value = ["gs", "reinforce"]
    app.train()
    app.wait()
    assert app.state == "done", app.status.object
    assert app.progress.value == 40 and len(app.sweep) == 2
    assert len(app.curves.object.data) == 4  # 2 panels × 2 instances
    assert app.recon.visible and len(app.recon.object.data) == 3 * 8
    assert "gs" in app.status.object and "reinforce" in app.status.object


server = server_fixture("gumbel")


@pytest.mark.browser
@pytest.mark.timeout(600)  # a hang guard; waits are on states
def test_browser_tau_and_vae(server, tmp_path):
    need_chromium()  # before the import: without chromium, playwright may be missing too
    from playwright.sync_api import expect

    expected = G.estimator_stats(1.05, 10)["rows"]["gs"]["bias"]
    with open_page(server) as page:
        table = page.locator(".wb-est-table")
        expect(table).to_contain_text("Gumbel-Softmax")
        handle = page.locator(".wb-tau .noUi-handle")
        handle.focus()
        handle.press("ArrowRight")  # τ 1.0 → 1.05
        expect(table).to_contain_text(f"{expected:.4f}")
        expect(page.locator(".wb-est-fig .plot-container")).to_be_attached()
        assert_fits(page)  # τ, K and f inside their column

        page.get_by_text("VAE", exact=True).click()
        train_in_page(page, (("steps", "40"),))
        expect(page.locator(".wb-curves .scatterlayer .trace").first).to_be_attached()
        expect(page.locator(".wb-recon .heatmaplayer").first).to_be_attached()
        assert_fits(page)  # a 1400 px window: no sideways scroll, no input cut off
        page.screenshot(path=str(tmp_path / "gumbel.png"), full_page=True)
