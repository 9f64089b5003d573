"""Notebook widgets generated from the config fields: live curves and a form to run an
experiment.

The form's widgets come from the config's field metadata (help, choices, bounds and the
``widget=`` hint of :func:`workbench.core.config.field`), so a new field appears in the
notebooks, the dashboards and the CLI at once::

    from workbench.core.widgets import LiveCurves, experiment_form

    experiment_form("grokking", ["p", "operation", "train_frac", "weight_decay"],
                    preset=preset, fixed=scenario("weight_decay", preset), store=store)

- ``fields``: a list of config keys; each gets its generated widget (:func:`field_widget`).
  (A dict ``{key: ipywidget}`` of hand-built widgets is still accepted.)
- ``preset`` and ``fixed`` (overrides without a widget) give the starting values; ``values``
  overrides the starting values shown (e.g. ``values={"p": run.config["p"]}``).
- Train runs the experiment in a worker thread (the kernel stays free) with live curves
  (``y``: metrics to plot) under the form and the dashboards' messages: "Training… step k / N",
  "Done", "Stopped at step k — press Train to resume", and one line for a bad value.

:class:`LiveCurves` is the live figure of a cell: pass it as ``on_log`` to ``wb.run`` or
``wb.sweep``; it redraws while training (in JupyterLab, through an ipywidgets ``Output``
that is redrawn whole) and, when the run ends (trained or loaded from the store), it replaces
itself by one static figure of the final state, which is what papermill and the HTML export
keep.
"""

from __future__ import annotations

import threading
import time
from dataclasses import MISSING

import ipywidgets as W
from IPython.display import display

from .config import ConfigError
from .experiment import get, run
from .plots import curves
from .train import StopTraining

__all__ = ["LiveCurves", "experiment_form", "field_widget", "config_widgets"]

MIME = "application/vnd.plotly.v1+json"


# --------------------------------------------------------------------------- live curves
class LiveCurves:
    """A figure that redraws itself at every log; pass it as ``on_log`` to ``run``/``sweep``.

    >>> live = LiveCurves(["train_acc", "test_acc"])
    >>> run = wb.run("grokking", preset="quick", on_log=live)   # draws the final state too

    While training it draws into an ipywidgets ``Output`` (redrawn whole: JupyterLab's plotly
    renderer does not redraw an output updated in place), at most once per ``min_interval``
    seconds (or longer: redraws take at most ~20 % of the time) and every ``every``-th log;
    ``min_interval=0`` redraws at every ``every``-th log. :meth:`finish` (called by
    ``run``/``sweep`` when they end, also when the run was loaded from the store) replaces
    that widget by one static figure of the final metrics. With ``out`` (an ``Output`` shown elsewhere, e.g. in a form)
    it draws into ``out`` instead and shows nothing of its own.
    """

    def __init__(self, y=("train_acc", "test_acc"), every: int = 1, names=None, out=None,
                 min_interval: float = 0.5, **curve_kw):
        self.y, self.every, self.names, self.kw = list(y), max(1, int(every)), names, curve_kw
        self.out, self.min_interval = out, min_interval
        self.calls = 0  # logs received
        self.draws = 0  # live redraws made
        self.handle = None  # display handle of this cell's output (no ``out``)
        self.widget = None  # the live Output widget (no ``out``)
        self.metrics = None  # the latest metrics drawn or received
        self.final = None  # the last step of the final state drawn by finish()
        self._last, self._gap = -float("inf"), 0.0
        self._skeleton = None  # (curve keys, plotly JSON) of the live figure

    def figure(self, metrics):
        return curves(metrics, self.y, names=self.names, **self.kw)

    def __call__(self, metrics) -> None:
        if self.final is not None and _last_step(metrics) <= self.final:
            self.finish(metrics)  # e.g. ``live(run.metrics)`` after the run: the final state
            return
        self.calls += 1
        self.metrics = metrics
        now = time.monotonic()
        if self.calls % self.every or now - self._last < self._gap:
            return
        self.draws += 1
        rebuilt = self._skeleton is None
        output = {"output_type": "display_data", "metadata": {},
                  "data": {MIME: self._live_json(metrics), "text/plain": "live curves"}}
        if self.out is not None:  # an Output shown elsewhere; safe from a worker thread
            self.out.outputs = (output,)
        else:
            if self.widget is None:  # live again (a new run): the widget replaces the figure
                self.widget, self.final = W.Output(), None
                if self.handle is None:
                    _activate_renderers()  # plotly.js for the HTML export, before the figure
                    self.handle = display(self.widget, display_id=True)
                else:
                    self.handle.update(self.widget)
            self.widget.outputs = (output,)
        # redraws cost the training loop at most ~20 % of its time, however slow they are
        # (min_interval=0: every log; the first draw pays for building the figure)
        self._last = time.monotonic()
        if self.min_interval > 0 and not rebuilt:
            self._gap = max(self.min_interval, 4 * (self._last - now))

    def _groups(self, metrics) -> list:
        color = self.kw.get("color", "instance")
        if color is None or color not in metrics:
            return [(None, metrics)]
        return list(metrics.groupby(color, sort=False))

    def _live_json(self, metrics) -> dict:
        """The figure as plotly JSON; after the first draw only the traces' data change (a new
        set of curves rebuilds it)."""
        groups = self._groups(metrics)
        keys = [k for k, _ in groups]
        if self._skeleton is None or self._skeleton[0] != keys:
            self._skeleton = (keys, _plotly_json(self.figure(metrics)))
        fig = self._skeleton[1]
        for gi, (_, frame) in enumerate(groups):
            for k, m in enumerate(self.y):
                trace = fig["data"][gi * len(self.y) + k]
                trace["x"], trace["y"] = frame["step"].tolist(), frame[m].tolist()
        return fig

    def finish(self, metrics=None) -> None:
        """Draw the final state (``metrics``: a run's or sweep's metrics, or a Run/Sweep;
        default: the last metrics received) as one static figure in place of the live one."""
        if hasattr(metrics, "metrics") and not hasattr(metrics, "columns"):
            metrics = metrics.metrics
        metrics = self.metrics if metrics is None else metrics
        if metrics is None or len(metrics) == 0:
            return
        self.metrics, self.final = metrics, _last_step(metrics)
        if self.handle is None and self.out is None:
            _activate_renderers()
        bundle = _mime_bundle(self.figure(metrics))
        if self.out is not None:
            self.out.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": bundle},)
        elif self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        if self.widget is not None:
            self.widget.close()
            self.widget = None


def _last_step(metrics) -> int:
    return int(metrics["step"].max()) if len(metrics) else -1


def _plotly_json(fig) -> dict:
    import json

    import plotly.io as pio

    return json.loads(pio.to_json(fig, validate=False))


def _renderers_spec() -> str:
    import plotly.io as pio

    names = (pio.renderers.default or "plotly_mimetype+notebook").split("+")
    if not any(n in ("plotly_mimetype", "notebook", "notebook_connected", "jupyterlab")
               for n in names):
        names = ["plotly_mimetype", "notebook"]
    return "+".join(n for n in names if hasattr(pio.renderers[n], "to_mimebundle"))


def _activate_renderers() -> None:
    """Emit what the notebook renderer needs once per kernel (its inline plotly.js) now, as
    ``fig.show()`` does before its first figure, so that it precedes our figure."""
    import plotly.io as pio

    try:
        pio.renderers._activate_pending_renderers(cls=pio.base_renderers.MimetypeRenderer)
    except AttributeError:  # a plotly without this helper: it activates in _mime_bundle
        pass


def _mime_bundle(fig) -> dict:
    """The figure's mime bundle for the active plotly renderers (JupyterLab's plotly mimetype
    and, for classic notebooks and HTML export, the notebook renderer's HTML), built the way
    ``fig.show()`` builds it (which first emits the notebook renderer's plotly.js once)."""
    import plotly.io as pio

    spec = _renderers_spec()
    try:  # the default renderers activate once; named ones would activate at every call
        bundle = pio.renderers._build_mime_bundle(
            fig.to_dict(), renderers_string=None if spec == pio.renderers.default else spec)
    except AttributeError:  # a plotly without this helper: the renderers, one by one
        bundle = {}
        for name in spec.split("+"):
            bundle.update(pio.renderers[name].to_mimebundle(fig.to_dict()))
    bundle.setdefault("text/plain", "figure")
    return bundle


# --------------------------------------------------------------------------- generated widgets
def field_widget(config_cls, name: str, value=MISSING) -> W.Widget:
    """The ipywidget of config field ``name`` (see ``Config.form_field``), showing ``value``
    (default: the field's default); its tooltip is the field's help. Numbers are text boxes
    (typed text reaches the config, which parses it or says in one line what is allowed)."""
    spec = config_cls.form_field(name, value)
    kw = dict(description=spec.label, tooltip=spec.help or None,
              style={"description_width": "initial"})
    if spec.kind == "checkbox":
        return W.Checkbox(value=spec.value, indent=False, **kw)
    if spec.kind == "select":
        return W.Dropdown(options=spec.options, value=spec.value, **kw)
    if spec.kind == "slider":
        cls = W.IntSlider if spec.type == "int" else W.FloatSlider
        return cls(value=spec.value, min=spec.lo, max=spec.hi, step=spec.step, **kw)
    if spec.kind == "discrete":
        return W.SelectionSlider(options=[(f"{v:g}", v) for v in spec.options],
                                 value=spec.value, **kw)
    if spec.kind == "combo":
        return W.Combobox(value=spec.value, options=[spec.text(o) for o in spec.options],
                          ensure_option=False, layout=W.Layout(width="14em"), **kw)
    return W.Text(value=spec.value, layout=W.Layout(width="14em"), **kw)


def config_widgets(experiment, names, *, preset: str | None = "quick", fixed: dict | None = None,
                   values: dict | None = None) -> dict[str, W.Widget]:
    """``{name: widget}`` for the config fields ``names`` of ``experiment``, starting at the
    config of ``preset`` + ``fixed``, then ``values``."""
    exp = get(experiment)
    start = {**exp.config(preset, **(fixed or {})).to_dict(), **(values or {})}
    return {n: field_widget(exp.config_cls, n, start.get(n, MISSING)) for n in names}


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, ConfigError) else f"{type(err).__name__}: {text}"


def _headline(summary: dict, n: int = 4) -> str:
    items = [(k, v) for k, v in summary.items() if isinstance(v, float) and k != "steps"]
    return ", ".join(f"{k} = {v:.3g}" for k, v in items[:n])


# --------------------------------------------------------------------------- the form
def experiment_form(experiment: str, fields, *, preset: str = "quick",
                    fixed: dict | None = None, values: dict | None = None,
                    y=("train_acc", "test_acc"), store=None, after=None) -> W.VBox:
    """A form of ``fields`` (config keys: generated widgets; or a dict key → ipywidget) with
    Train and Stop buttons; Train runs the experiment with live curves under the form (see
    the module docstring). ``fixed`` holds overrides without a widget; ``after(run)`` is
    called with the finished run (from the worker thread). Bad values show one line."""
    exp = get(experiment)
    if isinstance(fields, dict):
        widgets = dict(fields)
    else:
        widgets = config_widgets(exp, list(fields), preset=preset, fixed=fixed, values=values)
    train = W.Button(description="Train", button_style="primary")
    stop_btn = W.Button(description="Stop", disabled=True)
    progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="100%"))
    msg, out = W.HTML("Set the parameters and press <b>Train</b>."), W.Output()
    stop = threading.Event()

    def say(text: str, error: bool = False) -> None:
        import html

        msg.value = (f"<b style='color:#c0392b'>{html.escape(text)}</b>" if error
                     else text)

    def job(cfg):
        live = LiveCurves(y, out=out)

        def on_log(metrics):
            step = int(metrics["step"].max())
            progress.value = min(step, progress.max)
            say(f"Training… step {step} / {cfg.steps}")
            live(metrics)
        try:
            result = run(exp, cfg, store=store, on_log=on_log, stop=stop, progress=False)
        except StopTraining as exc:
            step = exc.args[0] if exc.args else progress.value
            say(f"<b>Stopped at step {step}</b> — press Train to resume.")
        except Exception as err:  # shown as one line, never as a traceback
            say(_one_line(err), error=True)
        else:
            live.finish(result.metrics)
            progress.value = progress.max
            where = " (loaded from the run store)" if live.calls == 0 else ""
            say(f"<b>Done</b>{where}: {result.summary.get('steps', cfg.steps)} steps — "
                + _headline(result.summary))
            if after is not None:
                try:
                    after(result)
                except Exception as err:
                    say(_one_line(err), error=True)
        finally:
            train.disabled, stop_btn.disabled = False, True

    def on_train(_):
        overrides = {**(fixed or {}), **{k: w.value for k, w in widgets.items()}}
        try:
            cfg = exp.config(preset, **overrides)
        except (ConfigError, TypeError) as err:
            say(_one_line(err), error=True)
            return
        progress.max, progress.value = cfg.steps, 0
        say(f"Training… step 0 / {cfg.steps}")
        stop.clear()
        train.disabled, stop_btn.disabled = True, False
        threading.Thread(target=job, args=(cfg,), daemon=True,
                         name="workbench-form").start()  # keeps the kernel free

    train.on_click(on_train)
    stop_btn.on_click(lambda _: stop.set())
    form = W.VBox([W.Box(list(widgets.values()), layout=W.Layout(flex_flow="row wrap")),
                   W.HBox([train, stop_btn]), progress, msg, out])
    # for tests, and for notebooks that need the parts
    form.fields, form.train_button, form.stop_button = widgets, train, stop_btn
    form.progress, form.status, form.output = progress, msg, out
    return form
