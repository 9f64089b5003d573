"""Li₂ dashboard: the grok / no-grok map over M × train fraction (Tian 2025).

On open it loads the batched boundary sweep (one model per M; computed the first time, with
progress) and draws every run as a cell coloured by its final test accuracy, with the
boundary 2.7482·ln M / M and the fitted crossing. Clicking a cell shows that run's stages
(accuracies, G_F alignment, Fourier concentration). **Run cell** trains one more (M, train
fraction) live in a worker thread and adds it to the map; **Stop** checkpoints it. Bad values
show as a one-line message.

    workbench serve li2   # or: panel serve src/workbench/apps/li2.py
"""

from __future__ import annotations

import threading

import pandas as pd
import panel as pn
import param

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import (CellApp, field_widgets, figure_pane, one_line, served_app,
                                  store_note)
from workbench.core import experiment as X
from workbench.core.store import RunStore
from workbench.grokking import li2
from workbench.grokking.plots import grok_map_figure, stages_figure

__all__ = ["SweepMapApp", "Li2App", "create_app"]


class SweepMapApp(CellApp):
    """A sweep drawn as one figure (loaded in a worker thread), one run's details on click,
    and one more run trained live from the inputs (:class:`CellApp`). Subclasses set the
    sweep's configs, the figures and the inputs."""

    sweep_state = param.Selector(default="idle", objects=["idle", "running", "done", "error"])
    THREADS = ("sweep_thread", "cell_thread")
    STOP_EVENTS = ("stop_event", "cell_stop")
    TITLE = ""

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick",
                 autoload: bool = True, **params):
        super().__init__(store=store, preset=preset, **params)
        self.sweep_thread: threading.Thread | None = None
        self._build()
        if autoload:
            self.load()

    # ------------------------------------------------------------------ hooks
    def sweep_configs(self) -> list:
        raise NotImplementedError

    def inputs(self) -> dict:
        """Input name → widget, for the extra run."""
        raise NotImplementedError

    def map_figure(self):
        raise NotImplementedError

    def detail(self, i: int) -> tuple[str, object]:
        """(title, figure) of run ``i``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.status = pn.pane.Markdown("", css_classes=["wb-sweep-status"])
        self.progress = pn.indicators.Progress(value=0, max=1, visible=False,
                                               sizing_mode="stretch_width")
        self.map_pane = figure_pane(height=460, sizing_mode="stretch_width",
                                    css_classes=["wb-map"])
        self.map_pane.param.watch(self._on_click, "click_data")
        self.detail_title = pn.pane.Markdown("Click a run to see its curves.",
                                             css_classes=["wb-detail-title"])
        self.detail_pane = figure_pane(sizing_mode="stretch_width", css_classes=["wb-detail"])
        self.widgets = self.inputs()
        self._build_cell_widgets()
        controls = pn.Column(pn.pane.Markdown("**One more run**"), *self.widgets.values(),
                             pn.Row(self.run_button, self.stop_button), self.cell_progress,
                             self.cell_status, self.alert, width=280)
        self.layout = pn.Column(
            pn.pane.Markdown(self.TITLE),
            pn.Row(pn.Column(self.status, self.progress, self.map_pane,
                             sizing_mode="stretch_width"), controls,
                   sizing_mode="stretch_width"),
            self.detail_title, self.detail_pane, sizing_mode="stretch_width")

    def _redraw(self) -> None:
        self.map_pane.object = self.map_figure()

    # ------------------------------------------------------------------ the sweep
    def load(self) -> None:
        """Load the sweep (computing it the first time) in a worker thread."""
        if self.sweep_state in ("running", "done"):
            return
        configs = self.sweep_configs()
        self.progress.max, self.progress.value = max(c.steps for c in configs), 0
        self.progress.visible = True
        self.status.object = (f"Loading the sweep ({len(configs)} runs, batched; the first "
                              f"visit computes it).")
        self.sweep_state = "running"
        self.sweep_thread = threading.Thread(target=self._sweep_worker, args=(configs,),
                                             daemon=True, name="workbench-sweep")
        self.sweep_thread.start()

    def _sweep_worker(self, configs) -> None:
        def on_log(metrics):
            self.progress.value = min(int(metrics["step"].max()), self.progress.max)
        try:
            sweep = X.sweep(self.EXPERIMENT, configs, store=self.store, progress=False,
                            on_log=on_log, stop=self.stop_event)
        except Exception as err:
            self.status.object = f"Could not compute the sweep: {one_line(err)}"
            self.sweep_state = "error"
        else:
            self.runs = list(sweep.runs) + self.runs
            self._redraw()
            self.status.object = (f"{len(sweep)} runs. Click one to see its curves."
                                  + store_note(sweep))
            self.sweep_state = "done"
        finally:
            self.progress.visible = False

    def _on_click(self, event) -> None:
        points = (event.new or {}).get("points") or []
        if points and isinstance(points[0].get("customdata"), (int, float)):
            i = int(points[0]["customdata"])
            if 0 <= i < len(self.runs):
                self.show(i)

    def show(self, i: int) -> None:
        self.detail_title.object, self.detail_pane.object = self.detail(i)


class Li2App(SweepMapApp):
    """The grok / no-grok map of Li₂."""

    EXPERIMENT = "li2"
    TITLE = ("## Li₂: grok or memorise? (Tian 2025)\n"
             "Final test accuracy over M × train fraction; solid line: the critical fraction "
             "2.7482·ln M / M, dashed: the crossing fitted to these runs.")

    def sweep_configs(self) -> list:
        return li2.boundary_configs(self.preset)[0]

    def inputs(self) -> dict:
        # text boxes from the config fields: typed text reaches the config (never dropped)
        return field_widgets(self.exp.config_cls, ["M", "train_frac"],
                             {"M": 37, "train_frac": 0.4})

    def cell_config(self):
        w = self.widgets
        return self.exp.config(self.preset, **{**li2.BOUNDARY[self.preset]["overrides"],
                                               "M": w["M"].value,
                                               "train_frac": w["train_frac"].value})

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"M": r.summary["M"], "train_frac": r.summary["train_frac"],
                              "final_test_acc": r.summary["final_test_acc"],
                              "final_train_acc": r.summary["final_train_acc"], "run": i}
                             for i, r in enumerate(self.runs)])

    def map_figure(self):
        t = self.table()
        fit = li2.fit_boundary(t)
        fig = grok_map_figure(t, fitted_constant=fit["fitted_constant"])
        # one marker per run (not per cell mean), carrying the run's index for clicks
        fig.data[0].x, fig.data[0].y = t["M"], t["train_frac"]
        fig.data[0].marker.color = t["final_test_acc"]
        fig.data[0].customdata = t["run"]
        fig.data[0].text = [f"M={m}, train {f:.3f}: test {a:.2f}" for m, f, a in
                            zip(t["M"], t["train_frac"], t["final_test_acc"])]
        return fig

    def detail(self, i: int):
        r = self.runs[i]
        s = r.summary
        title = (f"**M = {s['M']}, train fraction {s['train_frac']:.3f} "
                 f"({s['frac_over_critical']:.2f}× critical)** — train "
                 f"{s['final_train_acc']:.3f}, test {s['final_test_acc']:.3f}")
        return title, stages_figure(r.metrics, baseline=li2.random_concentration(s["M"]))


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh Li₂ dashboard (one per browser session)."""
    return served_app(Li2App, store, preset, load="load")


if __name__.startswith("bokeh"):
    create_app().servable()
