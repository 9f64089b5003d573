"""What the chapter dashboards share: one-line errors, labelled widgets, the forms generated
from the config fields (:func:`field_widgets`), and the training-job machinery (Train/Stop
buttons, progress, status, alert; a worker thread per job).

:class:`DashboardApp` holds the store, the preset and the experiment, and stops/joins the
app's worker threads; :class:`TrainingApp` adds one training job run from the widgets, with
hooks for what differs between apps (the job, the views to reset, the figure to draw);
:class:`CellApp` adds one more run (a "cell" of a map) trained live from the inputs and added
to the map. :func:`served_app` builds an app for a browser session or a notebook.
"""

from __future__ import annotations

import threading
import time
from dataclasses import MISSING

import panel as pn
import param

# absolute imports: ``panel serve`` runs the app files as scripts, outside their package
from workbench.core import experiment as X
from workbench.core.config import ConfigError
from workbench.core.store import RunStore
from workbench.core.train import StopTraining

__all__ = ["DashboardApp", "TrainingApp", "CellApp", "served_app", "labelled", "one_line", "session_app", "store_note",
           "field_widget", "field_widgets", "form_values", "set_form_values", "figure_pane"]

REDRAW_SECONDS = 0.5  # at most one live redraw of the curves per this many seconds


def one_line(err: BaseException) -> str:
    """An exception as one line of text (a ConfigError's message is already one)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, ConfigError) else f"{type(err).__name__}: {text}"


def store_note(result) -> str:
    """A status suffix: a new line ``loaded from the run store (…)`` when the run or sweep
    ``result`` came from the store rather than being trained now; else ``""``."""
    line = getattr(result, "source_line", "")
    return f"  \n{line}" if line else ""


def labelled(widget_cls, text: str, **kw):
    """``widget_cls`` with the caption ``text`` (``label`` from Panel 1.9 on, else ``name``)."""
    key = "label" if "label" in widget_cls.param else "name"
    if "color" in widget_cls.param and "button_type" in kw:
        kw["color"] = kw.pop("button_type")
    return widget_cls(**{key: text}, **kw)


def figure_pane(**kw) -> pn.pane.Plotly:
    """A Plotly pane that stays hidden until it has a figure (an empty one draws bare −1…6
    axes); the page's status line says what will appear there."""
    pane = pn.pane.Plotly(None, visible=False, **kw)
    pane.param.watch(lambda event: setattr(pane, "visible", event.new is not None), "object")
    return pane


def field_widget(config_cls, name: str, value=MISSING):
    """The Panel widget of config field ``name`` (see ``Config.form_field``), showing
    ``value`` (default: the field's default), with the CSS class ``wb-<name>``.

    Numbers are text boxes: what is typed reaches the config, which parses it and rejects a
    bad value in one line (a numeric input would drop typed text without a word)."""
    spec = config_cls.form_field(name, value)
    kw = dict(css_classes=[f"wb-{name}"], sizing_mode="stretch_width")  # fits its column
    if spec.kind == "checkbox":
        return labelled(pn.widgets.Checkbox, spec.label, value=spec.value, **kw)
    if spec.kind == "slider":
        cls = pn.widgets.IntSlider if spec.type == "int" else pn.widgets.FloatSlider
        return labelled(cls, spec.label, start=spec.lo, end=spec.hi, step=spec.step,
                        value=spec.value, **kw)
    if spec.kind == "discrete":
        return labelled(pn.widgets.DiscreteSlider, spec.label, options=spec.options,
                        value=spec.value, **kw)
    kw["description"] = spec.help or None
    if spec.kind == "select":
        return labelled(pn.widgets.Select, spec.label, options=spec.options, value=spec.value,
                        **kw)
    if spec.kind == "combo":  # Bokeh's autocomplete box replaces typed text on Enter
        kw["description"] = (spec.help + "; e.g. " if spec.help else "e.g. ") + ", ".join(
            spec.text(o) for o in spec.options)
    return labelled(pn.widgets.TextInput, spec.label, value=spec.value, **kw)


def field_widgets(config_cls, names, values: dict | None = None) -> dict:
    """``{name: widget}`` for the config fields ``names``, showing ``values`` (a config's
    ``to_dict()``, say) where given."""
    values = values or {}
    return {n: field_widget(config_cls, n, values.get(n, MISSING)) for n in names}


def form_values(widgets: dict) -> dict:
    """What the form's widgets hold, for ``Experiment.config(preset, **values)`` (text is
    parsed there, so a bad value raises a one-line ConfigError naming the field)."""
    return {k: w.value for k, w in widgets.items()}


def set_form_values(config_cls, widgets: dict, values: dict) -> None:
    """Show ``values`` in the form's widgets (e.g. the defaults of another scenario)."""
    for k, v in values.items():
        if k in widgets:
            spec = config_cls.form_field(k, v)
            if spec.kind == "discrete":
                widgets[k].options = spec.options
            widgets[k].value = spec.value


def session_app(app: "DashboardApp") -> pn.viewable.Viewable:
    """``app``'s layout; in a browser session, the app is closed when the session ends."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda context: app.close())
    return app.layout


def served_app(app_cls, store: RunStore | str | None, preset: str,
               load: str) -> pn.viewable.Viewable:
    """A fresh ``app_cls`` (one per browser session) and its layout. Under ``panel serve`` its
    ``load`` method starts once the page is live (an update pushed from a worker thread before
    the session connects could be lost) and the app is closed when the session ends;
    elsewhere (a notebook, a test) it loads at once."""
    served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
    app = app_cls(store=store, preset=preset, autoload=not served)
    if served:
        pn.state.onload(getattr(app, load))
        pn.state.on_session_destroyed(lambda context: app.close())
    return app.layout


class DashboardApp(pn.viewable.Viewer):
    """Store, preset and experiment of one dashboard session, and its worker threads."""

    EXPERIMENT: str = ""
    THREADS: tuple[str, ...] = ("thread",)  # attributes holding worker threads (or None)
    STOP_EVENTS: tuple[str, ...] = ("stop_event",)  # attributes holding their stop events

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(**params)
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.preset = preset
        self.exp = X.get(self.EXPERIMENT)
        self.stop_event = threading.Event()

    def __panel__(self):
        return self.layout

    def show_alert(self, message: str) -> None:
        self.alert.object = message
        self.alert.visible = True

    def close(self) -> None:
        """Stop the worker threads (with a checkpoint): the browser session has ended."""
        for name in self.STOP_EVENTS:
            getattr(self, name).set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker threads have finished."""
        for name in self.THREADS:
            t = getattr(self, name)
            if t is not None:
                t.join(timeout)


class TrainingApp(DashboardApp):
    """A dashboard with one training job: Train starts (or resumes) it in a worker thread,
    Stop checkpoints it. Subclasses build their widgets with :meth:`_build_job_widgets` and
    implement :meth:`_job` and :meth:`_finish` (and :meth:`_figure` for the live curves)."""

    state = param.Selector(default="idle", objects=["idle", "running", "done", "stopped",
                                                     "error"], doc="of the training job")

    THREAD_NAME = "workbench-train"

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(store=store, preset=preset, **params)
        self.thread: threading.Thread | None = None
        self._metrics = None
        self._last_draw = 0.0

    # ------------------------------------------------------------------ widgets
    def _build_job_widgets(self, steps: int, prompt: str) -> None:
        """Train/Stop buttons, progress bar, status, alert and the live curves."""
        self.train_button = labelled(pn.widgets.Button, "Train", button_type="primary",
                                     css_classes=["wb-train"])
        self.stop_button = labelled(pn.widgets.Button, "Stop", button_type="warning",
                                    disabled=True, css_classes=["wb-stop"])
        self.train_button.on_click(self.train)
        self.stop_button.on_click(self.stop)
        self.progress = pn.indicators.Progress(value=0, max=steps, sizing_mode="stretch_width")
        self.status = pn.pane.Markdown(prompt, css_classes=["wb-status"])
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["wb-alert"])
        self.curves = figure_pane(sizing_mode="stretch_width", css_classes=["wb-curves"])

    def _set_running(self, running: bool) -> None:
        self.train_button.disabled = running
        self.stop_button.disabled = not running

    # ------------------------------------------------------------------ hooks
    def _job(self):
        """What the widgets describe: a config (raises ConfigError on a bad value)."""
        raise NotImplementedError

    def _job_steps(self, job) -> int:
        return job.steps

    def _start_message(self, job) -> str:
        return f"Training {job.steps} steps…"

    def _reset_views(self) -> None:
        """Hide the views of the previous job's result."""

    def _launch(self, job, stop: threading.Event):
        """Run the job (in the worker thread); returns what :meth:`_finish` receives."""
        return X.run(self.EXPERIMENT, job, store=self.store, on_log=self._on_log, stop=stop,
                     progress=False)

    def _figure(self, metrics):
        raise NotImplementedError

    def _finish(self, result) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ the job
    def train(self, event=None) -> None:
        """Start (or resume) the job the widgets describe, in a worker thread."""
        if self.thread is not None and self.thread.is_alive():
            return
        self.alert.visible = False
        try:
            job = self._job()
        except (ConfigError, TypeError) as err:
            self.state = "error"
            self.show_alert(one_line(err))
            return
        self.stop_event = threading.Event()
        self.progress.max, self.progress.value = self._job_steps(job), 0
        self._reset_views()
        self.status.object = self._start_message(job)
        self.state = "running"
        self._set_running(True)
        self.thread = threading.Thread(target=self._worker, args=(job, self.stop_event),
                                       daemon=True, name=self.THREAD_NAME)
        self.thread.start()

    def stop(self, event=None) -> None:
        """Ask the running job to stop (it checkpoints, and Train resumes it)."""
        self.stop_event.set()

    def _worker(self, job, stop: threading.Event) -> None:
        try:
            result = self._launch(job, stop)
        except StopTraining as exc:
            step = exc.args[0] if exc.args else self.progress.value
            self.status.object = f"**Stopped at step {step}** — press Train to resume."
            self.state = "stopped"
        except Exception as err:  # shown in the page, never as a traceback
            self.show_alert(one_line(err))
            self.status.object = "Training failed."
            self.state = "error"
        else:
            self._finish(result)
            self.status.object = f"{self.status.object}{store_note(result)}"
        finally:
            self._set_running(False)

    def _finish_run(self, run) -> dict:
        """Keep the finished ``run``, show its full curves and progress; its summary."""
        self.run = run
        self._metrics = run.metrics
        self.progress.value = self.progress.max
        self._draw(force=True)
        return run.summary

    def _on_log(self, metrics) -> None:
        """Called by the training loop at every log, in the worker thread."""
        self._metrics = metrics
        step = int(metrics["step"].max())
        self.progress.value = min(step, self.progress.max)
        self.status.object = f"Training… step {step} / {self.progress.max}"
        self._draw()

    def _draw(self, force: bool = False) -> None:
        """Redraw the curves from the latest metrics (throttled unless ``force``)."""
        now = time.monotonic()
        if self._metrics is None or self._metrics.empty or \
                (not force and now - self._last_draw < REDRAW_SECONDS):
            return
        self._last_draw = now
        self.curves.object = self._figure(self._metrics)


class CellApp(DashboardApp):
    """A dashboard whose map (``self.runs``, drawn by :meth:`_redraw`) takes one more run, a
    "cell", trained live from the inputs: **Run cell** trains it (or resumes it from its
    checkpoint) in a worker thread, **Stop** checkpoints it, and when it is done it joins the
    map and its details are shown. Subclasses build the widgets with
    :meth:`_build_cell_widgets` and implement :meth:`cell_config`, :meth:`_redraw` and
    :meth:`show`; the status texts are hooks too."""

    cell_state = param.Selector(default="idle", objects=["idle", "running", "done", "stopped",
                                                        "error"], doc="of the extra run")

    CELL_THREAD_NAME = "workbench-cell"

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(store=store, preset=preset, **params)
        self.runs: list = []
        self.cell_thread: threading.Thread | None = None
        self.cell_stop = threading.Event()

    # ------------------------------------------------------------------ hooks
    def cell_config(self):
        """The extra run's config, from the inputs (raises ConfigError on a bad value)."""
        raise NotImplementedError

    def _redraw(self) -> None:
        raise NotImplementedError

    def show(self, i: int) -> None:
        raise NotImplementedError

    def cell_running_text(self, cfg) -> str:
        return "Training…"

    def cell_step_text(self, step: int, cfg, metrics) -> str:
        return f"step {step} / {cfg.steps}"

    def cell_done_text(self, run, cfg) -> str:
        s = run.summary
        return f"**Done**: train {s['final_train_acc']:.3f}, test {s['final_test_acc']:.3f}"

    # ------------------------------------------------------------------ widgets
    def _build_cell_widgets(self) -> None:
        """Run cell / Stop buttons, the cell's progress bar and status line, and the alert."""
        self.run_button = labelled(pn.widgets.Button, "Run cell", button_type="primary",
                                   css_classes=["wb-run-cell"])
        self.run_button.on_click(self.run_cell)
        self.stop_button = labelled(pn.widgets.Button, "Stop", disabled=True,
                                    css_classes=["wb-stop-cell"])
        self.stop_button.on_click(lambda event: self.cell_stop.set())
        self.cell_progress = pn.indicators.Progress(value=0, max=1, visible=False,
                                                    sizing_mode="stretch_width")
        self.cell_status = pn.pane.Markdown("", css_classes=["wb-cell-status"])
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["wb-alert"])

    # ------------------------------------------------------------------ the extra run
    def run_cell(self, event=None) -> None:
        """Train the inputs' config in a worker thread (a bad input: one line, no run)."""
        if self.cell_thread is not None and self.cell_thread.is_alive():
            return
        self.alert.visible = False
        try:
            cfg = self.cell_config()
        except (ConfigError, TypeError, ValueError) as err:
            self.show_alert(one_line(err))
            self.cell_state = "error"
            return
        self.cell_progress.max, self.cell_progress.value = cfg.steps, 0
        self.cell_progress.visible = True
        self.cell_status.object = self.cell_running_text(cfg)
        self.cell_state = "running"
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.cell_stop = threading.Event()
        self.cell_thread = threading.Thread(target=self._cell_worker, args=(cfg,), daemon=True,
                                            name=self.CELL_THREAD_NAME)
        self.cell_thread.start()

    def _cell_worker(self, cfg) -> None:
        def on_log(metrics):
            step = int(metrics["step"].max())
            self.cell_progress.value = min(step, cfg.steps)
            self.cell_status.object = self.cell_step_text(step, cfg, metrics)
        try:
            run = X.run(self.EXPERIMENT, cfg, store=self.store, on_log=on_log,
                        stop=self.cell_stop, progress=False)
        except StopTraining as stopped:
            self.cell_status.object = (f"Stopped at step {stopped.args[0]}; **Run cell** "
                                       "resumes from the checkpoint.")
            self.cell_state = "stopped"
        except Exception as err:
            self.show_alert(one_line(err))
            self.cell_status.object = "Training failed."
            self.cell_state = "error"
        else:
            self.runs = [r for r in self.runs if r.id != run.id] + [run]
            self._redraw()
            self.show(len(self.runs) - 1)
            self.cell_status.object = self.cell_done_text(run, cfg) + store_note(run)
            self.cell_state = "done"
        finally:
            self.cell_progress.visible = False
            self.run_button.disabled, self.stop_button.disabled = False, True
