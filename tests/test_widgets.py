"""Forms generated from the config fields (notebook and dashboard), and the notebook's live
curves and form (without a browser; tests/test_jupyterlab.py drives them in JupyterLab)."""

from __future__ import annotations

import threading

import ipywidgets as W
import pandas as pd
import pytest

import workbench as wb
from workbench.apps._base import field_widget as panel_widget
from workbench.apps._base import form_values
from workbench.core import widgets
from workbench.core.config import Config, ConfigError, TrainConfig, field
from workbench.core.widgets import LiveCurves, experiment_form, field_widget

MIME = "application/vnd.plotly.v1+json"
TINY = dict(p=23, steps=60, log_every=20)


def all_fields():
    for name, exp in wb.experiments().items():
        for f in exp.config_cls.describe():
            yield name, exp, f["name"]


@pytest.mark.parametrize("toolkit", ["ipywidgets", "panel"])
def test_every_field_of_every_experiment_round_trips(toolkit):
    """Each field gets a widget that starts at the preset's value; what the widget holds gives
    back the same config (so a new field appears in every form, and means the same there)."""
    make = field_widget if toolkit == "ipywidgets" else panel_widget
    for name, exp, key in all_fields():
        base = exp.config("quick")
        w = make(exp.config_cls, key, getattr(base, key))
        assert exp.config("quick", **{key: w.value}) == base, (name, key, w.value)


def test_generated_kinds_follow_types_choices_and_hints():
    g = wb.get("grokking").config_cls
    made = {k: field_widget(g, k) for k in ("p", "operation", "train_frac", "weight_decay",
                                            "lr", "data_seed")}
    assert isinstance(made["p"], W.Combobox) and "113" in made["p"].options
    assert isinstance(made["operation"], W.Dropdown) and "div" in made["operation"].options
    assert isinstance(made["train_frac"], W.FloatSlider)
    assert isinstance(made["weight_decay"], W.SelectionSlider)
    assert 0.0 in [v for _, v in made["weight_decay"].options]  # zero=True: no weight decay
    assert isinstance(made["lr"], W.Text) and made["lr"].value == "0.01"
    assert made["data_seed"].value == ""  # Optional: empty is None
    assert made["lr"].tooltip == "learning rate" and made["lr"].description == "lr"
    nc = wb.get("neural-collapse").config_cls
    assert isinstance(field_widget(nc, "batchnorm"), W.Checkbox)


def test_a_new_field_appears_with_its_hints():
    from dataclasses import dataclass

    @dataclass
    class Toy(TrainConfig):
        rate: float = field(0.3, "a rate", ge=0, le=1, widget=dict(slider=(0.0, 1.0, 0.1)))
        size: int = field(8, "a size", ge=1, widget=dict(options=(8, 16), label="n"))
        flag: bool = field(False, "a flag")

    s = field_widget(Toy, "rate")
    assert isinstance(s, W.FloatSlider) and (s.min, s.max, s.value) == (0.0, 1.0, 0.3)
    c = field_widget(Toy, "size")
    assert isinstance(c, W.Combobox) and c.description == "n" and c.options == ("8", "16")
    assert panel_widget(Toy, "size").css_classes == ["wb-size"]
    assert Toy(**{"size": c.value, "rate": s.value}) == Toy()
    with pytest.raises(TypeError, match="widget"):
        field(1, widget=dict(slide=(0, 1, 1)))


def test_slider_and_log_steps_keep_an_off_grid_value():
    g = wb.get("grokking").config_cls
    assert field_widget(g, "weight_decay", 0.3).value == 0.3
    assert field_widget(g, "train_frac", 0.99).max == 0.99


def test_panel_form_values_reach_the_config_as_typed():
    exp = wb.get("grokking")
    w = {k: panel_widget(exp.config_cls, k) for k in ("p", "lr")}
    w["p"].value, w["lr"].value = "31", "abc"
    with pytest.raises(ConfigError, match=r"^lr: expected a finite float, got 'abc'"):
        exp.config("quick", **form_values(w))


# --------------------------------------------------------------------------- live curves
class FakeDisplay:
    """Stands in for IPython's display: records what is shown and updated."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, raw=False, display_id=None):
        self.shown.append((obj, raw, display_id))
        fake = self

        class Handle:
            def update(self, obj, raw=False):
                fake.updates.append((obj, raw))
        return Handle()


def frame(n):
    return pd.DataFrame({"step": list(range(0, 20 * n, 20)), "instance": 0,
                         "train_acc": [0.1] * n})


def xs(trace) -> list:
    """A trace's x values (plotly's JSON may carry them as a base64 typed array)."""
    import base64

    import numpy as np

    x = trace["x"]
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).tolist()
    return list(x)


def last_x(bundle) -> float:
    return max(max(xs(t)) for t in bundle[MIME]["data"])


def test_live_curves_redraw_a_widget_then_leave_one_final_figure(monkeypatch):
    fake = FakeDisplay()
    monkeypatch.setattr(widgets, "display", fake)
    live = LiveCurves(["train_acc"], min_interval=0)
    for k in range(1, 4):
        live(frame(k))
    assert len(fake.shown) == 1 and isinstance(fake.shown[0][0], W.Output)  # one output
    out = fake.shown[0][0]
    assert live.draws == 3 and last_x(out.outputs[0]["data"]) == 40
    live.finish(frame(5))  # the run ended: one static figure replaces the widget
    (bundle, raw), = fake.updates
    assert raw and last_x(bundle) == 80 and "text/html" in bundle
    live(frame(5))  # the old notebooks' ``live(run.metrics)``: still the one final figure
    assert len(fake.shown) == 1 and len(fake.updates) == 2 and last_x(fake.updates[1][0]) == 80


def test_live_curves_throttle_but_always_draw_the_final_state(monkeypatch, store):
    fake = FakeDisplay()
    monkeypatch.setattr(widgets, "display", fake)
    live = LiveCurves(["train_acc"], every=5, min_interval=3600)
    run = wb.run("grokking", store=store, progress=False, on_log=live, **TINY)
    assert live.calls == 4 and live.draws == 0  # throttled away
    (bundle, raw, _), = fake.shown  # finish() drew the final state
    assert raw and last_x(bundle) == 60 == run.metrics["step"].max()
    again = LiveCurves(["train_acc"])  # loaded from the store: no logs, one final figure
    wb.run("grokking", store=store, progress=False, on_log=again, **TINY)
    assert again.calls == 0 and len(fake.shown) == 2 and last_x(fake.shown[1][0]) == 60


# --------------------------------------------------------------------------- the form
def wait_for_form():
    for t in threading.enumerate():
        if t.name == "workbench-form":
            t.join(120)


def test_form_trains_with_messages_then_stops_and_resumes(store):
    form = experiment_form("grokking", ["p", "lr", "steps"], preset="quick", store=store,
                           fixed=dict(log_every=20), values=dict(p=23, steps=60))
    assert form.fields["p"].value == "23" and form.fields["steps"].value == "60"
    form.fields["lr"].value = "-1"
    form.train_button.click()
    assert form.status.value.count("lr: must be &gt; 0") == 1 and "\n" not in form.status.value
    assert not form.train_button.disabled  # nothing started
    form.fields["lr"].value = "0.01"
    form.train_button.click()
    wait_for_form()
    assert "Done" in form.status.value and "60 steps" in form.status.value
    assert last_x(form.output.outputs[0]["data"]) == 60 and form.progress.value == 60
    form.train_button.click()  # the same config again: loaded from the store
    wait_for_form()
    assert "loaded from the run store" in form.status.value
    assert last_x(form.output.outputs[0]["data"]) == 60

    form.fields["steps"].value = "400"
    seen = threading.Event()
    original = widgets.LiveCurves.__call__

    def stop_at_first_log(self, metrics):
        original(self, metrics)
        form.stop_button.click()
        seen.set()
    try:
        widgets.LiveCurves.__call__ = stop_at_first_log
        form.train_button.click()
        wait_for_form()
    finally:
        widgets.LiveCurves.__call__ = original
    assert seen.is_set() and "Stopped at step" in form.status.value
    assert "press Train to resume" in form.status.value
    form.train_button.click()
    wait_for_form()
    assert "Done" in form.status.value and last_x(form.output.outputs[0]["data"]) == 400


def test_form_still_takes_hand_built_widgets(store):
    form = experiment_form("grokking", {"p": W.IntText(value=23)}, store=store,
                           fixed=dict(steps=40, log_every=20))
    form.train_button.click()
    wait_for_form()
    assert "Done" in form.status.value


# --------------------------------------------------------------------------- the HTML export
@pytest.mark.notebook
def test_curriculum_page_keeps_one_final_live_figure(tmp_path):
    """Executed by the curriculum (papermill) and exported to HTML, a live cell leaves one
    figure: the final state, not one per redraw."""
    import json

    import nbformat

    from workbench.curriculum import execute_notebook

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language":
                                                           "python", "display_name": "Python 3"},
                                            "language_info": {"name": "python"}})
    params = nbformat.v4.new_code_cell(f'store = {str(tmp_path / "runs")!r}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import workbench as wb\n"
        "from workbench.core.plots import use_notebook_renderer\n"
        "from workbench.core.widgets import LiveCurves\n"
        "use_notebook_renderer()\n"
        "live = LiveCurves(['train_acc'], min_interval=0)\n"
        "run = wb.run('grokking', store=store, progress=False, on_log=live, "
        "p=23, steps=60, log_every=20)")]
    nbformat.write(nb, tmp_path / "live.ipynb")
    result = execute_notebook(tmp_path / "live.ipynb", tmp_path / "out")
    assert result.ok, result.error
    cell = nbformat.read(tmp_path / "out" / "live.ipynb", 4).cells[-1]
    figures = [o for o in cell.outputs if MIME in o.get("data", {})]
    assert len(figures) == 1 and last_x(figures[0]["data"]) == 60
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in cell.outputs)  # the live widget is gone
    page = (tmp_path / "out" / result.html).read_text()
    assert page.count('class="plotly-graph-div"') == 1
    json.dumps(figures[0]["data"][MIME])  # plain JSON
    assert_draws_offline(tmp_path / "out" / result.html, figures=1)


def assert_draws_offline(html, figures: int) -> None:
    """The page draws its ``figures`` plotly figures with the network cut off, and asks the
    network for nothing."""
    from dashboard_browser import launch, need_chromium

    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    asked = []

    def refuse(route):
        asked.append(route.request.url)
        route.abort()

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.route(lambda url: not url.startswith("file:"), refuse)
            page.goto(html.resolve().as_uri(), wait_until="load")
            expect(page.locator(".plotly-graph-div:has(.main-svg)")).to_have_count(figures)
        finally:
            browser.close()
    assert asked == []
