"""Chapter 1 dashboard: train a grokking run live, and explore the phase diagram.

The "Train" tab runs :func:`workbench.run` in a worker thread, so the page stays responsive;
the curves, the progress bar and the status are redrawn at every log (Panel forwards changes
made from a thread to the browser on the server's next tick). "Stop" checkpoints the run and
"Train" resumes it. The "Phase diagram" tab loads the cached ``phase`` sweep (computing it on
the first visit); clicking a cell shows that run's curves.

    workbench serve grokking        # or: panel serve src/workbench/apps/grokking.py
"""

from __future__ import annotations

import threading

import panel as pn
import param

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import (TrainingApp, field_widgets, figure_pane, form_values,
                                  one_line, session_app, store_note)
from workbench.core import experiment as X
from workbench.core.store import RunStore
from workbench.grokking.plots import (collapse_figure, fourier_figure, phase_figure,
                                      training_figure)
from workbench.grokking.scenarios import sweep_grid

__all__ = ["GrokkingApp", "create_app", "TRAIN_FIELDS"]

EXPERIMENT = "grokking"
TRAIN_FIELDS = ("p", "operation", "train_frac", "loss", "loss_dtype", "optimizer", "lr",
                "weight_decay", "steps")
VIEWS = {"accuracy & loss": training_figure, "collapse": collapse_figure}
PHASE_AXES = ("weight_decay", "lr")  # x and y of the phase diagram
SUMMARY_KEYS = ("final_train_acc", "final_test_acc", "best_test_acc", "step_train_acc_0.9",
                "step_test_acc_0.9", "peak_sc_fraction", "final_weight_norm", "final_nlm_cosine",
                "phase")


def summary_markdown(summary: dict) -> str:
    """The headline numbers of a finished run as a Markdown table."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else ("—" if v is None else str(v))
    rows = [f"| {k} | {fmt(summary[k])} |" for k in SUMMARY_KEYS if k in summary]
    return "| summary | |\n|---|---|\n" + "\n".join(rows)


def clicked_index(click_data, summary, x: str, y: str) -> int | None:
    """The summary row of a clicked phase-diagram cell.

    Each cell's ``customdata`` holds its row index, but Panel's click events lose the
    ``customdata`` of 2-D traces (a heat-map point's number is a (row, column) pair), so the
    cell's axis labels — ``str`` of the swept values, as in the figure — are matched too.
    """
    points = (click_data or {}).get("points") or []
    if not points:
        return None
    point = points[0]
    if isinstance(point.get("customdata"), (int, float)):
        return int(point["customdata"])
    if point.get("x") is None or point.get("y") is None:
        return None  # e.g. a legend marker
    hit = summary.index[(summary[x].astype(str) == str(point["x"])) &
                        (summary[y].astype(str) == str(point["y"]))]
    return int(hit[0]) if len(hit) else None


class GrokkingApp(TrainingApp):
    """State and widgets of one session of the grokking dashboard (``state``: the Train tab)."""

    phase_state = param.Selector(default="idle", objects=["idle", "running", "done", "error"])

    EXPERIMENT = EXPERIMENT
    THREAD_NAME = "workbench-grokking-train"
    THREADS = ("thread", "phase_thread")
    STOP_EVENTS = ("stop_event", "phase_stop")

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(store=store, preset=preset, **params)
        self.phase_thread: threading.Thread | None = None
        self.phase_stop = threading.Event()
        self.run = None  # the last finished Run
        self.sweep = None  # the phase sweep, once loaded
        self._build_train_tab()
        self._build_phase_tab()
        self.tabs = pn.Tabs(("Train", self.train_tab), ("Phase diagram", self.phase_tab),
                            dynamic=False, sizing_mode="stretch_width")
        self.tabs.param.watch(self._on_tab, "active")
        self.layout = pn.Column(
            pn.pane.Markdown("## Grokking: memorise first, generalise much later"),
            self.tabs, sizing_mode="stretch_width")

    # ------------------------------------------------------------------ Train tab
    def _build_train_tab(self) -> None:
        defaults = self.exp.config(self.preset).to_dict()
        self.widgets = field_widgets(self.exp.config_cls, TRAIN_FIELDS, defaults)
        self._build_job_widgets(defaults["steps"], "Set the parameters and press **Train**.")
        self.view = pn.widgets.RadioButtonGroup(options=list(VIEWS), value="accuracy & loss")
        self.view.param.watch(lambda _: self._draw(force=True), "value")
        self.summary = pn.pane.Markdown("", css_classes=["wb-summary"])
        self.fourier = pn.pane.Plotly(None, sizing_mode="stretch_width", visible=False,
                                      css_classes=["wb-fourier"])
        controls = pn.Column(*self.widgets.values(),
                             pn.Row(self.train_button, self.stop_button), width=300)
        main = pn.Column(self.alert, self.status, self.progress, self.view, self.curves,
                         pn.Row(self.summary, self.fourier, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
        self.train_tab = pn.Row(controls, main, sizing_mode="stretch_width")

    def config(self):
        """The config the widgets describe (raises ConfigError on a bad value)."""
        return self.exp.config(self.preset, **form_values(self.widgets))

    _job = config

    def _reset_views(self) -> None:
        self.summary.object, self.fourier.visible = "", False

    def _figure(self, metrics):
        return VIEWS[self.view.value](metrics, names={0: "run"})

    def _finish(self, run) -> None:
        s = self._finish_run(run)
        self.summary.object = summary_markdown(s)
        if run.config.get("operation") != "parity":
            self.fourier.object = fourier_figure(run)
            self.fourier.visible = True
        self.status.object = (f"**Done**: {s['steps']} steps, train accuracy "
                              f"{s['final_train_acc']:.3f}, test accuracy {s['final_test_acc']:.3f}"
                              f" — phase: **{s['phase']}**")
        self.state = "done"

    # ------------------------------------------------------------------ Phase tab
    def _build_phase_tab(self) -> None:
        self.phase_status = pn.pane.Markdown("The phase diagram loads when you open this tab.",
                                             css_classes=["wb-phase-status"])
        self.phase_progress = pn.indicators.Progress(value=0, max=1, visible=False,
                                                     sizing_mode="stretch_width")
        self.phase_pane = figure_pane(height=480, sizing_mode="stretch_width",
                                      css_classes=["wb-phase"])
        self.phase_pane.param.watch(self._on_phase_click, "click_data")
        self.cell_title = pn.pane.Markdown("Click a cell to see that run's curves.",
                                           css_classes=["wb-cell-title"])
        self.cell_curves = figure_pane(sizing_mode="stretch_width",
                                       css_classes=["wb-cell-curves"])
        self.phase_tab = pn.Column(self.phase_status, self.phase_progress, self.phase_pane,
                                   self.cell_title, self.cell_curves, sizing_mode="stretch_width")

    def _on_tab(self, event) -> None:
        if self.tabs[event.new] is self.phase_tab:
            self.load_phase()

    def load_phase(self) -> None:
        """Load the phase sweep (computing it the first time) in a worker thread."""
        if self.sweep is not None or self.phase_state == "running":
            return
        overrides, grid = sweep_grid("phase", self.preset)
        n = 1
        for values in grid.values():
            n *= len(values)
        steps = overrides.get("steps", self.exp.config(self.preset).steps)
        self.phase_progress.max, self.phase_progress.value = steps, 0
        self.phase_progress.visible = True
        self.phase_status.object = (f"Loading the phase sweep ({n} runs: "
                                    f"{' × '.join(grid)}). The first visit computes it "
                                    f"({steps} steps, batched) — later visits load it at once.")
        self.phase_state = "running"
        self.phase_thread = threading.Thread(target=self._phase_worker, args=(overrides, grid),
                                             daemon=True, name="workbench-grokking-phase")
        self.phase_thread.start()

    def _phase_worker(self, overrides: dict, grid: dict) -> None:
        def on_log(metrics):
            self.phase_progress.value = min(int(metrics["step"].max()), self.phase_progress.max)
        try:
            sweep = X.sweep(EXPERIMENT, grid=grid, preset=self.preset, store=self.store,
                            progress=False, on_log=on_log, stop=self.phase_stop, **overrides)
        except Exception as err:
            self.phase_status.object = f"Could not compute the phase sweep: {one_line(err)}"
            self.phase_state = "error"
        else:
            self.sweep = sweep
            self.phase_pane.object = phase_figure(sweep.summary, *PHASE_AXES)
            self.phase_status.object = (f"{len(sweep)} runs, {overrides.get('steps', '')} steps"
                                        " each. Click a cell to see its curves."
                                        + store_note(sweep))
            self.phase_state = "done"
        finally:
            self.phase_progress.visible = False

    def _on_phase_click(self, event) -> None:
        if self.sweep is None:
            return
        i = clicked_index(event.new, self.sweep.summary, *PHASE_AXES)
        if i is None or not 0 <= i < len(self.sweep):
            return
        run = self.sweep[i]
        cfg, phase = run.config, run.summary.get("phase", "?")
        label = f"weight_decay={cfg['weight_decay']}, lr={cfg['lr']}"
        self.cell_title.object = f"**{label}** — phase: **{phase}**"
        self.cell_curves.object = training_figure(run.metrics, names={0: label})


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh grokking dashboard (call once per browser session; when the session ends, its
    training stops with a checkpoint and resumes on the next Train)."""
    return session_app(GrokkingApp(store=store, preset=preset))


if __name__.startswith("bokeh"):
    create_app().servable()
