"""XOR dashboard: benign overfitting, then grokking, across ‖μ‖ (Xu et al. 2024).

On open it loads one batched sweep over ‖μ‖ = p^0.25, p^0.3, p^0.45 and draws the clean test
accuracy and the share of flipped training labels still fitted, on a log step axis. Clicking
a curve shows that run's accuracies and the neurons' alignment with μ₁ and μ₂. **Run cell**
trains one more ‖μ‖ (and flip rate) live and adds it; **Stop** checkpoints it.

    workbench serve xor-grokking   # or: panel serve src/workbench/apps/xor_grokking.py
"""

from __future__ import annotations

import math

import panel as pn

# absolute imports: ``panel serve`` runs this file as a script, outside its package
from workbench.apps._base import field_widgets, served_app
from workbench.apps.li2 import SweepMapApp
from workbench.core.store import RunStore
from workbench.grokking.plots import regimes_figure, xor_figure

__all__ = ["XorApp", "create_app", "EXPONENTS"]

EXPONENTS = (0.25, 0.3, 0.45)


class XorApp(SweepMapApp):
    """The ‖μ‖ regimes of the XOR experiment."""

    EXPERIMENT = "xor-grokking"
    TITLE = ("## Benign overfitting, then grokking, on XOR clusters (Xu et al. 2024)\n"
             "One batched sweep over ‖μ‖: clean test accuracy and the flipped training labels "
             "still fitted, per GD step (log axis).")

    def sweep_configs(self) -> list:
        p = self.exp.config(self.preset).p
        return [self.exp.config(self.preset, mu_norm=round(p ** e, 2)) for e in EXPONENTS]

    def inputs(self) -> dict:
        # text boxes from the config fields: typed text reaches the config (never dropped)
        return field_widgets(self.exp.config_cls, ["mu_norm", "flip"],
                             {"mu_norm": 60.0, "flip": 0.1})

    def cell_config(self):
        w = self.widgets
        return self.exp.config(self.preset, mu_norm=w["mu_norm"].value, flip=w["flip"].value)

    def _name(self, run) -> str:
        c = run.config
        e = math.log(c["mu_norm"]) / math.log(c["p"])
        return f"‖μ‖ = {c['mu_norm']:g} (p^{e:.2f}), η = {c['flip']:g}"

    def map_figure(self):
        import pandas as pd
        frames = [r.metrics.assign(instance=i) for i, r in enumerate(self.runs)]
        fig = regimes_figure(pd.concat(frames, ignore_index=True),
                             {i: self._name(r) for i, r in enumerate(self.runs)})
        for trace in fig.data:  # each curve carries its run's index, for clicks
            i = [k for k, r in enumerate(self.runs) if self._name(r) == trace.name][0]
            trace.customdata = [i] * len(trace.x)
        return fig

    def detail(self, i: int):
        r = self.runs[i]
        s = r.summary
        title = (f"**{self._name(r)}** — step 1: train {s['train_acc_step1']:.3f}, test "
                 f"{s['test_acc_step1']:.3f}; end: test {s['final_test_acc']:.3f}, flips "
                 f"fitted {s['final_flipped_fit']:.3f}")
        return title, xor_figure(r.metrics)


def create_app(store: RunStore | str | None = None, preset: str = "quick") -> pn.viewable.Viewable:
    """A fresh XOR dashboard (one per browser session)."""
    return served_app(XorApp, store, preset, load="load")


if __name__.startswith("bokeh"):
    create_app().servable()
