"""Chapter 3 dashboard: train the UFM or an MLP live and watch neural collapse.

Choose the data (the unconstrained-features model, sklearn digits or the MNIST 5k subset),
the width, the weight decay, the imbalance ratio R and BatchNorm; **Train** runs
:func:`workbench.run` in a worker thread and redraws the NC curves (log scale) at every log;
when it finishes, the class-mean geometry is drawn in 3-D against the simplex ETF. **Stop**
checkpoints the run and **Train** resumes it. Bad values show as a one-line message.

    workbench serve neural-collapse    # or: panel serve src/workbench/apps/neural_collapse.py
"""

from __future__ import annotations

import panel as pn

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import (TrainingApp, field_widgets, form_values, session_app,
                                  set_form_values)
from workbench.core.store import RunStore
from workbench.neural_collapse.experiment import run_features
from workbench.neural_collapse.plots import class_means, geometry_3d, nc_figure
from workbench.neural_collapse.scenarios import scenario

__all__ = ["NeuralCollapseApp", "create_app", "TRAIN_FIELDS"]

EXPERIMENT = "neural-collapse"
TRAIN_FIELDS = ("data", "width", "weight_decay", "imbalance", "batchnorm", "steps")
SETTING = {"ufm": "ufm", "digits": "mlp", "mnist": "mlp"}  # data → scenario behind it
SUMMARY_KEYS = ("final_train_acc", "final_test_acc", "final_nc1", "final_equiangular_std",
                "final_equinorm_means", "final_nc3", "final_nc4", "final_minority_cos")


def summary_markdown(summary: dict) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else ("—" if v is None else str(v))
    rows = [f"| {k} | {fmt(summary.get(k))} |" for k in SUMMARY_KEYS]
    return "| summary | |\n|---|---|\n" + "\n".join(rows)


class NeuralCollapseApp(TrainingApp):
    """State and widgets of one session of the neural-collapse dashboard."""

    EXPERIMENT = EXPERIMENT
    THREAD_NAME = "workbench-nc-train"

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(store=store, preset=preset, **params)
        self.run = None
        self._build()

    # ------------------------------------------------------------------ widgets
    def _defaults(self, data: str) -> dict:
        return self.exp.config(self.preset, **scenario(SETTING[data], self.preset)).to_dict()

    def _build(self) -> None:
        d = self._defaults("ufm")
        w = field_widgets(self.exp.config_cls, TRAIN_FIELDS, d)
        self.widgets = w
        w["data"].param.watch(self._on_data, "value")
        self._build_job_widgets(d["steps"], "Set the parameters and press **Train**.")
        self.summary = pn.pane.Markdown("", css_classes=["wb-summary"])
        self.geometry = pn.pane.Plotly(None, height=480, sizing_mode="stretch_width",
                                       visible=False, css_classes=["wb-geometry"])
        controls = pn.Column(*w.values(), pn.Row(self.train_button, self.stop_button), width=300)
        main = pn.Column(self.alert, self.status, self.progress, self.curves,
                         pn.Row(self.summary, self.geometry, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
        self.layout = pn.Column(
            pn.pane.Markdown("## Neural collapse: the geometry of the terminal phase\n"
                             "NC1 = Tr(Σ_W Σ_B⁺)/C; all metrics → 0 under collapse."),
            pn.Row(controls, main, sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def _on_data(self, event) -> None:
        d = self._defaults(event.new)
        set_form_values(self.exp.config_cls, self.widgets,
                        {k: d[k] for k in ("width", "steps", "weight_decay")})

    def config(self):
        """The config the widgets describe (raises ConfigError on a bad value)."""
        values = form_values(self.widgets)
        return self.exp.config(self.preset, **{**scenario(SETTING[values["data"]], self.preset),
                                               **values})

    _job = config

    # ------------------------------------------------------------------ training
    def _reset_views(self) -> None:
        self.summary.object, self.geometry.visible = "", False

    def _figure(self, metrics):
        return nc_figure(metrics, names={0: "run"})

    def _finish(self, run) -> None:
        s = self._finish_run(run)
        self.summary.object = summary_markdown(s)
        H, y, _ = run_features(run)
        C = int(y.max()) + 1
        if C >= 4 and s.get("final_nc1") is not None:
            self.geometry.object = geometry_3d(class_means(H, y, C))
            self.geometry.visible = True
        nc1 = s.get("final_nc1")
        self.status.object = (f"**Done**: {s['steps']} steps, train accuracy "
                              f"{s['final_train_acc']:.3f}, NC1 "
                              f"{'undefined (collapsed to 0)' if nc1 is None else f'{nc1:.2e}'}")
        self.state = "done"


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh neural-collapse dashboard (one per browser session)."""
    return session_app(NeuralCollapseApp(store=store, preset=preset))


if __name__.startswith("bokeh"):
    create_app().servable()
