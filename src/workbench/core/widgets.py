"""Notebook widgets: live curves during training and a small form to run an experiment."""

from __future__ import annotations

import threading

import ipywidgets as W
from IPython.display import display

from .config import ConfigError
from .experiment import get, run
from .plots import curves

__all__ = ["LiveCurves", "experiment_form"]


class LiveCurves:
    """A figure that redraws itself at every log; pass it as ``on_log`` to ``run``/``sweep``.

    >>> live = LiveCurves(["train_acc", "test_acc"])
    >>> wb.run("grokking", preset="quick", on_log=live)

    It uses a plain display handle (no front-end extension), so it works in JupyterLab,
    under papermill and in exported HTML (where the last state is kept).
    """

    def __init__(self, y=("train_acc", "test_acc"), every: int = 1, names=None, out=None,
                 **curve_kw):
        self.y, self.every, self.names, self.kw = list(y), every, names, curve_kw
        self.calls = 0
        self.handle = None
        self.out = out

    def __call__(self, metrics) -> None:
        self.calls += 1
        if self.calls % self.every:
            return
        fig = curves(metrics, self.y, names=self.names, **self.kw)
        if self.out is not None:  # an ipywidgets.Output; safe from a worker thread
            self.out.clear_output(wait=True)
            self.out.append_display_data(fig)
            return
        # a plotly Figure ignores display_id (it renders itself), so hand IPython the raw
        # mime bundle: then updates replace the one output instead of adding figures
        bundle = _mime_bundle(fig)
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


def _mime_bundle(fig) -> dict:
    """The figure's mime bundle for the active plotly renderers (JupyterLab's plotly mimetype
    and, for classic notebooks and HTML export, the notebook renderer's HTML)."""
    import plotly.io as pio

    names = (pio.renderers.default or "plotly_mimetype+notebook").split("+")
    if not any(n in ("plotly_mimetype", "notebook", "notebook_connected", "jupyterlab")
               for n in names):
        names = ["plotly_mimetype", "notebook"]
    bundle = {}
    for name in names:
        renderer = pio.renderers[name]
        if hasattr(renderer, "to_mimebundle"):
            bundle.update(renderer.to_mimebundle(fig.to_dict()))
    return bundle


def experiment_form(experiment: str, fields: dict[str, W.Widget], *, preset: str = "quick",
                    fixed: dict | None = None, y=("train_acc", "test_acc"), store=None,
                    after=None) -> W.VBox:
    """A form of ``fields`` (config key → widget) with Train and Stop buttons; Train runs the
    experiment with live curves under the form. ``fixed`` holds overrides that do not get a
    widget; ``after(run)`` is called with the finished run (from the worker thread). Bad
    values show a one-line message instead of a traceback."""
    exp = get(experiment)
    train, stop_btn = W.Button(description="Train", button_style="primary"), W.Button(
        description="Stop", disabled=True)
    msg, out = W.HTML(), W.Output()
    stop = threading.Event()

    def job(cfg):
        live = LiveCurves(y, out=out, every=2)
        try:
            result = run(exp, cfg, store=store, on_log=live, stop=stop, progress=False)
            live(result.metrics.assign(instance=0))
            msg.value = "done: " + ", ".join(f"{k} = {v:.3g}" for k, v in result.summary.items()
                                             if isinstance(v, float))[:400]
            if after is not None:
                after(result)
        except Exception as err:  # StopTraining and friends: one line, no traceback
            msg.value = f"stopped: {type(err).__name__} {err}"
        finally:
            train.disabled, stop_btn.disabled = False, True

    def on_train(_):
        overrides = {**(fixed or {}), **{k: w.value for k, w in fields.items()}}
        try:
            cfg = exp.config(preset, **overrides)
        except ConfigError as err:
            msg.value = f"<b style='color:#c0392b'>{err}</b>"
            return
        msg.value = "training…"
        stop.clear()
        train.disabled, stop_btn.disabled = True, False
        threading.Thread(target=job, args=(cfg,), daemon=True).start()  # keeps the kernel free

    train.on_click(on_train)
    stop_btn.on_click(lambda _: stop.set())
    return W.VBox([W.HBox(list(fields.values())), W.HBox([train, stop_btn]), msg, out])
