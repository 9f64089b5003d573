"""Chapter 3 dashboard: train the UFM or an MLP live and watch neural collapse.

Choose the data (the unconstrained-features model, sklearn digits or the MNIST 5k subset),
the width, the weight decay, the imbalance ratio R and BatchNorm; **Train** runs
:func:`workbench.run` in a worker thread and redraws the NC curves (log scale) at every log;
when it finishes, the class-mean geometry is drawn in 3-D against the simplex ETF. **Stop**
checkpoints the run and **Train** resumes it. Bad values show as a one-line message.

    workbench serve neural-collapse    # or: panel serve src/workbench/apps/neural_collapse.py
"""

from __future__ import annotations

import threading
import time

import panel as pn
import param

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps.grokking import labelled, one_line
from workbench.core import experiment as X
from workbench.core.config import ConfigError
from workbench.core.store import RunStore
from workbench.core.train import StopTraining
from workbench.neural_collapse.experiment import run_features
from workbench.neural_collapse.plots import class_means, geometry_3d, nc_figure
from workbench.neural_collapse.scenarios import scenario

__all__ = ["NeuralCollapseApp", "create_app", "TRAIN_FIELDS"]

EXPERIMENT = "neural-collapse"
TRAIN_FIELDS = ("data", "width", "weight_decay", "imbalance", "batchnorm", "steps")
SETTING = {"ufm": "ufm", "digits": "mlp", "mnist": "mlp"}  # data → scenario behind it
REDRAW_SECONDS = 0.5
SUMMARY_KEYS = ("final_train_acc", "final_test_acc", "final_nc1", "final_equiangular_std",
                "final_equinorm_means", "final_nc3", "final_nc4", "final_minority_cos")


def summary_markdown(summary: dict) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else ("—" if v is None else str(v))
    rows = [f"| {k} | {fmt(summary.get(k))} |" for k in SUMMARY_KEYS]
    return "| summary | |\n|---|---|\n" + "\n".join(rows)


class NeuralCollapseApp(pn.viewable.Viewer):
    """State and widgets of one session of the neural-collapse dashboard."""

    state = param.Selector(default="idle", objects=["idle", "running", "done", "stopped",
                                                     "error"])

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(**params)
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.preset = preset
        self.exp = X.get(EXPERIMENT)
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.run = None
        self._metrics = None
        self._last_draw = 0.0
        self._build()

    def __panel__(self):
        return self.layout

    # ------------------------------------------------------------------ widgets
    def _defaults(self, data: str) -> dict:
        return self.exp.config(self.preset, **scenario(SETTING[data], self.preset)).to_dict()

    def _build(self) -> None:
        d = self._defaults("ufm")
        w = {"data": labelled(pn.widgets.Select, "data", options=["ufm", "digits", "mnist"],
                              value="ufm", css_classes=["wb-data"]),
             "width": labelled(pn.widgets.IntInput, "width", value=d["width"],
                               css_classes=["wb-width"]),
             "weight_decay": labelled(pn.widgets.FloatInput, "weight_decay",
                                      value=d["weight_decay"], css_classes=["wb-weight_decay"]),
             "imbalance": labelled(pn.widgets.FloatInput, "imbalance", value=1.0,
                                   css_classes=["wb-imbalance"]),
             "batchnorm": labelled(pn.widgets.Checkbox, "batchnorm", value=True,
                                   css_classes=["wb-batchnorm"]),
             "steps": labelled(pn.widgets.IntInput, "steps", value=d["steps"],
                               css_classes=["wb-steps"])}
        self.widgets = w
        w["data"].param.watch(self._on_data, "value")
        self.train_button = labelled(pn.widgets.Button, "Train", button_type="primary",
                                     css_classes=["wb-train"])
        self.stop_button = labelled(pn.widgets.Button, "Stop", button_type="warning",
                                    disabled=True, css_classes=["wb-stop"])
        self.train_button.on_click(self.train)
        self.stop_button.on_click(self.stop)
        self.progress = pn.indicators.Progress(value=0, max=d["steps"], sizing_mode="stretch_width")
        self.status = pn.pane.Markdown("Set the parameters and press **Train**.",
                                       css_classes=["wb-status"])
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["wb-alert"])
        self.curves = pn.pane.Plotly(None, sizing_mode="stretch_width", css_classes=["wb-curves"])
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
        self.widgets["width"].value = d["width"]
        self.widgets["steps"].value = d["steps"]
        self.widgets["weight_decay"].value = d["weight_decay"]

    def config(self):
        """The config the widgets describe (raises ConfigError on a bad value)."""
        values = {k: w.value for k, w in self.widgets.items()}
        return self.exp.config(self.preset, **{**scenario(SETTING[values["data"]], self.preset),
                                               **values})

    def show_alert(self, message: str) -> None:
        self.alert.object = message
        self.alert.visible = True

    def _set_running(self, running: bool) -> None:
        self.train_button.disabled = running
        self.stop_button.disabled = not running

    # ------------------------------------------------------------------ training
    def train(self, event=None) -> None:
        """Start (or resume) the run the widgets describe, in a worker thread."""
        if self.thread is not None and self.thread.is_alive():
            return
        self.alert.visible = False
        try:
            cfg = self.config()
        except (ConfigError, TypeError) as err:
            self.state = "error"
            self.show_alert(one_line(err))
            return
        self.stop_event = threading.Event()
        self.progress.max, self.progress.value = cfg.steps, 0
        self.summary.object, self.geometry.visible = "", False
        self.status.object = f"Training {cfg.steps} steps…"
        self.state = "running"
        self._set_running(True)
        self.thread = threading.Thread(target=self._worker, args=(cfg, self.stop_event),
                                       daemon=True, name="workbench-nc-train")
        self.thread.start()

    def stop(self, event=None) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def _worker(self, cfg, stop) -> None:
        try:
            run = X.run(EXPERIMENT, cfg, store=self.store, on_log=self._on_log, stop=stop,
                        progress=False)
        except StopTraining as exc:
            step = exc.args[0] if exc.args else self.progress.value
            self.status.object = f"**Stopped at step {step}** — press Train to resume."
            self.state = "stopped"
        except Exception as err:  # shown in the page, never as a traceback
            self.show_alert(one_line(err))
            self.status.object = "Training failed."
            self.state = "error"
        else:
            self._finish(run)
        finally:
            self._set_running(False)

    def _on_log(self, metrics) -> None:
        self._metrics = metrics
        step = int(metrics["step"].max())
        self.progress.value = min(step, self.progress.max)
        self.status.object = f"Training… step {step} / {self.progress.max}"
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._metrics is None or self._metrics.empty or \
                (not force and now - self._last_draw < REDRAW_SECONDS):
            return
        self._last_draw = now
        self.curves.object = nc_figure(self._metrics, names={0: "run"})

    def _finish(self, run) -> None:
        self.run = run
        self._metrics = run.metrics
        self.progress.value = self.progress.max
        self._draw(force=True)
        s = run.summary
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
    app = NeuralCollapseApp(store=store, preset=preset)
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda context: app.close())
    return app.layout


if __name__.startswith("bokeh"):
    create_app().servable()
