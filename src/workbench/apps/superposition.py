"""Chapter 2 dashboard: the α × γ phase map of the loss exponent α_m.

On open it loads the cached batched ``phase`` sweep (computing it the first time, with
progress); clicking a cell shows that run's loss-vs-m fit, row-norm histogram and overlap
distribution. "Run cell" trains one more (α, γ) cell live, in a worker thread, and adds it
to the map. Bad values show as a one-line message in the page.

    workbench serve superposition   # or: panel serve src/workbench/apps/superposition.py
"""

from __future__ import annotations

import threading

import pandas as pd
import panel as pn
import param

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import (CellApp, field_widgets, figure_pane, form_values, one_line,
                                  served_app, store_note)
from workbench.apps.grokking import clicked_index
from workbench.core import experiment as X
from workbench.core.store import RunStore
from workbench.superposition.plots import (loss_vs_m_figure, overlap_figure, phase_map_figure,
                                           row_norm_figure)
from workbench.superposition.scenarios import sweep_grid

__all__ = ["SuperpositionApp", "create_app"]

EXPERIMENT = "superposition"
AXES = ("alpha", "gamma")  # x and y of the map
CELL_FIELDS = AXES  # the form of a new cell
CELL_START = {"alpha": 1.25, "gamma": -0.5}


class SuperpositionApp(CellApp):
    """State and widgets of one session of the superposition dashboard: the α × γ map, and
    one more cell trained live from the inputs (:class:`CellApp`)."""

    phase_state = param.Selector(default="idle", objects=["idle", "running", "done", "error"])

    EXPERIMENT = EXPERIMENT
    THREADS = ("phase_thread", "cell_thread")
    STOP_EVENTS = ("stop_event", "cell_stop")

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick",
                 autoload: bool = True, **params):
        super().__init__(store=store, preset=preset, **params)
        self.overrides, self.grid = sweep_grid("phase", preset)
        self.phase_thread: threading.Thread | None = None  # self.runs: the sweep's, then cells
        self._build()
        if autoload:
            self.load_phase()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.status = pn.pane.Markdown("", css_classes=["wb-phase-status"])
        self.progress = pn.indicators.Progress(value=0, max=1, visible=False,
                                               sizing_mode="stretch_width")
        self.map_pane = figure_pane(height=420, sizing_mode="stretch_width",
                                    css_classes=["wb-phase"])
        self.map_pane.param.watch(self._on_click, "click_data")
        self.cell_title = pn.pane.Markdown("Click a cell to see its loss-vs-m fit.",
                                           css_classes=["wb-cell-title"])
        self.fit_pane = figure_pane(sizing_mode="stretch_width",
                                    css_classes=["wb-cell-fit"])
        self.norm_pane = figure_pane(sizing_mode="stretch_width",
                                     css_classes=["wb-cell-norms"])
        self.overlap_pane = figure_pane(sizing_mode="stretch_width",
                                        css_classes=["wb-cell-overlaps"])
        self.widgets = field_widgets(self.exp.config_cls, CELL_FIELDS, CELL_START)
        self.alpha, self.gamma = self.widgets["alpha"], self.widgets["gamma"]
        self._build_cell_widgets()
        controls = pn.Column(pn.pane.Markdown("**New cell**"), *self.widgets.values(),
                             pn.Row(self.run_button, self.stop_button), self.cell_progress,
                             self.cell_status, self.alert,
                             width=260)
        self.layout = pn.Column(
            pn.pane.Markdown("## Superposition: the loss exponent α_m over α × γ\n"
                             "γ < 0: strong superposition (α_m ≈ 1 for any α); γ ≥ 0: weak "
                             "(α_m ≈ α − 1)."),
            pn.Row(pn.Column(self.status, self.progress, self.map_pane,
                             sizing_mode="stretch_width"), controls,
                   sizing_mode="stretch_width"),
            self.cell_title, self.fit_pane,
            pn.Row(self.norm_pane, self.overlap_pane, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    # ------------------------------------------------------------------ the map
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"alpha": r.config["alpha"], "gamma": r.config["gamma"],
                              "loss_exponent": r.summary["loss_exponent"]} for r in self.runs])

    def _redraw(self) -> None:
        self.map_pane.object = phase_map_figure(self.table())

    def load_phase(self) -> None:
        """Load the phase sweep (computing it the first time) in a worker thread."""
        if self.phase_state in ("running", "done"):
            return
        n = len(self.grid["gamma"]) * len(self.grid["alpha"])
        base = self.exp.config(self.preset, **self.overrides)
        self.progress.max, self.progress.value, self.progress.visible = base.steps, 0, True
        self.status.object = (f"Loading the α × γ sweep ({n} configs × {len(base.m)} widths, "
                              f"one batched model; the first visit computes it).")
        self.phase_state = "running"
        self.phase_thread = threading.Thread(target=self._phase_worker, daemon=True,
                                             name="workbench-superposition-phase")
        self.phase_thread.start()

    def _phase_worker(self) -> None:
        def on_log(metrics):
            self.progress.value = min(int(metrics["step"].max()), self.progress.max)
        try:
            sweep = X.sweep(EXPERIMENT, grid=self.grid, preset=self.preset, store=self.store,
                            progress=False, on_log=on_log, stop=self.stop_event,
                            **self.overrides)
        except Exception as err:
            self.status.object = f"Could not compute the sweep: {one_line(err)}"
            self.phase_state = "error"
        else:
            self.runs = list(sweep.runs) + self.runs
            self._redraw()
            self.status.object = (f"{len(sweep)} cells. Click one to see its loss-vs-m fit, "
                                  "row norms and overlaps." + store_note(sweep))
            self.phase_state = "done"
        finally:
            self.progress.visible = False

    def _on_click(self, event) -> None:
        if not self.runs:
            return
        i = clicked_index(event.new, self.table(), *AXES)
        if i is not None and 0 <= i < len(self.runs):
            self.show(i)

    def show(self, i: int) -> None:
        """Show run ``i`` of the map: its fit, row norms and overlaps."""
        run = self.runs[i]
        cfg, s = run.config, run.summary
        label = f"alpha={cfg['alpha']}, gamma={cfg['gamma']}"
        self.cell_title.object = (f"**{label}** — α_m = {s['loss_exponent']:.2f} ± "
                                  f"{s['loss_exponent_std']:.2f} ({s['regime']} superposition)")
        self.fit_pane.object = loss_vs_m_figure([s], [label], title="loss vs width")
        W = X.load_trainer(run, "cpu").weights(0)
        pick = {m: W[m] for m in (cfg["m"][0], cfg["m"][-1])}
        self.norm_pane.object = row_norm_figure(pick, title="row norms ‖W_i‖")
        self.overlap_pane.object = overlap_figure(pick, title="m·(Ŵ_i·Ŵ_j)²")

    # ------------------------------------------------------------------ a new cell
    def cell_config(self):
        return self.exp.config(self.preset, **{**self.overrides, **form_values(self.widgets)})

    def cell_running_text(self, cfg) -> str:
        return f"Training α = {cfg.alpha}, γ = {cfg.gamma}…"

    def cell_step_text(self, step: int, cfg, metrics) -> str:
        return f"step {step} / {cfg.steps}: α_m so far {metrics['loss_exponent'].iloc[-1]:.2f}"

    def cell_done_text(self, run, cfg) -> str:
        return (f"**Done**: α_m = {run.summary['loss_exponent']:.2f} at α = {cfg.alpha}, "
                f"γ = {cfg.gamma}")


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh superposition dashboard (one per browser session)."""
    return served_app(SuperpositionApp, store, preset, load="load_phase")


if __name__.startswith("bokeh"):
    create_app().servable()
