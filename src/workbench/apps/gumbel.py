"""Chapter 4 dashboard: the Gumbel-Softmax relaxation and its gradient estimators, live.

"Estimators" tab: a τ slider, K and the objective f; every change redraws live samples
(the mean relaxed sample against π, and a few samples) and the bias and variance of
REINFORCE, REINFORCE-LOO, GS and ST-GS against the exact gradient (computed at once, a few
thousand samples, no training). "VAE" tab: trains the chosen estimators as one batched
categorical VAE in a worker thread, with the live test −ELBO, then shows reconstructions.

    workbench serve gumbel        # or: panel serve src/workbench/apps/gumbel.py
"""

from __future__ import annotations

import panel as pn
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import (TrainingApp, field_widgets, figure_pane, form_values,
                                  labelled, one_line, session_app)
from workbench.core import experiment as X
from workbench.core.config import ConfigError
from workbench.core.experiment import load_trainer
from workbench.core.store import RunStore
from workbench.gumbel import estimators as E
from workbench.gumbel.plots import COLORS, NAMES, images_figure, vae_figure

__all__ = ["GumbelApp", "create_app", "estimator_stats"]

estimator_stats = E.live_stats

EXPERIMENT = "gumbel-vae"
ESTIMATOR_FIELDS = ("tau", "K", "f")  # of gumbel-estimators' config: the live statistics
VAE_FIELDS = ("steps", "lr")
K_MAX = 50  # the live panels draw one bar and one heat-map column per category


def stats_figure(stats: dict, tau: float) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, subplot_titles=[
        "π vs mean relaxed sample", "12 relaxed samples", "‖bias‖ and variance"])
    K = len(stats["pi"])
    ks = list(range(K))
    fig.add_trace(go.Bar(x=ks, y=stats["pi"].tolist(), name="π", marker_color="#bab0ac"), 1, 1)
    fig.add_trace(go.Bar(x=ks, y=stats["mean_y"].tolist(), name="E[y]",
                         marker_color="#4e79a7"), 1, 1)
    fig.add_trace(go.Heatmap(z=stats["samples"].tolist(), colorscale="Blues", zmin=0, zmax=1,
                             showscale=False), 1, 2)
    names = list(stats["rows"])
    fig.add_trace(go.Bar(x=[NAMES[n] for n in names], y=[stats["rows"][n]["bias"] for n in names],
                         name="‖bias‖", marker_color=[COLORS[n] for n in names]), 1, 3)
    fig.add_trace(go.Scatter(x=[NAMES[n] for n in names],
                             y=[stats["rows"][n]["variance"] for n in names], mode="markers",
                             name="variance", marker=dict(symbol="diamond", size=11,
                                                          color="#333")), 1, 3)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_layout(height=360, template="plotly_white", barmode="group",
                      title=f"τ = {tau:g}, K = {K}", legend=dict(orientation="h", y=-0.25))
    return fig


def stats_markdown(stats: dict) -> str:
    lines = ["| estimator | ‖bias‖ | total variance |", "|---|---|---|"]
    for name, r in stats["rows"].items():
        lines.append(f"| {NAMES[name]} | {r['bias']:.4f} | {r['variance']:.4g} |")
    return "\n".join(lines) + f"\n\n‖exact gradient‖ = {stats['exact_norm']:.4f}"


class GumbelApp(TrainingApp):
    """One session of the Gumbel-Softmax dashboard (``state``: the VAE tab)."""

    EXPERIMENT = EXPERIMENT
    THREAD_NAME = "workbench-gumbel-train"

    def __init__(self, store: RunStore | str | None = None, preset: str = "quick", **params):
        super().__init__(store=store, preset=preset, **params)
        self.sweep = None
        self._build_estimator_tab()
        self._build_vae_tab()
        self.tabs = pn.Tabs(("Estimators", self.est_tab), ("VAE", self.vae_tab), dynamic=False,
                            sizing_mode="stretch_width")
        self.layout = pn.Column(pn.pane.Markdown("## Gumbel-Softmax: a differentiable sample"),
                                self.tabs, sizing_mode="stretch_width")
        self.update_estimators()

    # ------------------------------------------------------------------ estimators
    def _build_estimator_tab(self) -> None:
        self.est_cls = X.get("gumbel-estimators").config_cls
        self.est_widgets = field_widgets(self.est_cls, ESTIMATOR_FIELDS)
        self.tau, self.K, self.f = (self.est_widgets[k] for k in ESTIMATOR_FIELDS)
        for w in self.est_widgets.values():
            w.param.watch(lambda _: self.update_estimators(), "value")
        self.est_alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                       css_classes=["wb-est-alert"])
        self.est_fig = figure_pane(sizing_mode="stretch_width",
                                   css_classes=["wb-est-fig"])
        self.est_table = pn.pane.Markdown("", css_classes=["wb-est-table"])
        self.est_tab = pn.Row(pn.Column(*self.est_widgets.values(), width=280),
                              pn.Column(self.est_alert, self.est_fig, self.est_table,
                                        sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def update_estimators(self) -> None:
        try:
            cfg = self.est_cls.from_dict(form_values(self.est_widgets))
            if cfg.K > K_MAX:
                raise ConfigError(f"K: at most {K_MAX} categories here (got {cfg.K})")
            stats = E.live_stats(cfg.tau, cfg.K, cfg.f)
        except (ConfigError, ValueError, TypeError) as err:
            self.est_alert.object, self.est_alert.visible = one_line(err), True
            return
        self.est_alert.visible = False
        self.est_fig.object = stats_figure(stats, cfg.tau)
        self.est_table.object = stats_markdown(stats)

    # ------------------------------------------------------------------ VAE
    def _build_vae_tab(self) -> None:
        defaults = self.exp.config(self.preset)
        choices = self.exp.config_cls.form_field("estimator").options  # one VAE each
        self.estimators = labelled(pn.widgets.CheckBoxGroup, "estimators", options=choices,
                                   value=list(choices), inline=True,
                                   css_classes=["wb-estimators"])
        self.widgets = field_widgets(self.exp.config_cls, VAE_FIELDS, defaults.to_dict())
        self.steps, self.lr = self.widgets["steps"], self.widgets["lr"]
        self._build_job_widgets(defaults.steps, "Choose estimators and press **Train**.")
        self.recon = pn.pane.Plotly(None, sizing_mode="stretch_width", visible=False,
                                    css_classes=["wb-recon"])
        controls = pn.Column(self.estimators, *self.widgets.values(),
                             pn.Row(self.train_button, self.stop_button), width=300)
        self.vae_tab = pn.Row(controls, pn.Column(self.alert, self.status, self.progress,
                                                  self.curves, self.recon,
                                                  sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")

    def configs(self):
        if not self.estimators.value:
            raise ConfigError("estimator: choose at least one of "
                              + ", ".join(self.estimators.options))
        values = form_values(self.widgets)
        return [self.exp.config(self.preset, estimator=e, **values)
                for e in self.estimators.value]

    _job = configs

    def _job_steps(self, configs) -> int:
        return configs[0].steps

    def _start_message(self, configs) -> str:
        return f"Training {len(configs)} VAEs as one batched model…"

    def _reset_views(self) -> None:
        self.recon.visible = False

    def _launch(self, configs, stop):
        return X.sweep(EXPERIMENT, configs, store=self.store, on_log=self._on_log,
                       stop=stop, progress=False)

    def _figure(self, metrics):
        return vae_figure(metrics)

    def _finish(self, sweep) -> None:
        self.sweep = sweep
        runs = sweep.runs
        self.curves.object = vae_figure(sweep.metrics)
        self.progress.value = self.progress.max
        rows, parts = {}, []
        for run in runs:
            trainer = load_trainer(run, device="cpu")
            x = trainer.test_x[:8]
            if not rows:
                rows["data"] = x
            rows[NAMES[run.config["estimator"]]] = trainer.reconstruct(x)
            parts.append(f"{run.config['estimator']} {run.summary['final_test_nelbo']:.2f}")
        self.recon.object = images_figure(rows, trainer.side, title="test images and their "
                                          "reconstructions (hard samples)")
        self.recon.visible = True
        self.status.object = "**Done**: test −ELBO " + ", ".join(parts)
        self.state = "done"


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh Gumbel-Softmax dashboard (one per browser session)."""
    return session_app(GumbelApp(store=store, preset=preset))


if __name__.startswith("bokeh"):
    create_app().servable()
