"""Named configurations behind the chapter's claims, at both scales.

``scenario(name, preset)`` returns config overrides (on top of that preset) of a named
experiment setting; ``sweep_grid(name, preset)`` returns (overrides, grid) of a named sweep.
Notebooks, tests, the dashboard and the benchmark use these names, so a claim in a notebook
and the test that checks it run the very same experiment.
"""

from __future__ import annotations

from ..core.scenarios import pick as _pick

__all__ = ["SCENARIOS", "GRIDS", "scenario", "sweep_grid", "experiment_of"]

_UFM = dict(data="ufm", n_classes=10, n_per_class=50, width=64, init=0.1, lr=0.1, momentum=0.9,
            weight_decay=5e-3, lr_drops=False, batch_size=0, steps=3000, log_every=100)
# minority collapse: 200 per majority class, lr 1.0 converges in 600 steps (lr 0.1 needs 5k)
_MINORITY = {**_UFM, "n_per_class": 200, "lr": 1.0, "steps": 600, "log_every": 50}

# name → {preset → overrides}; experiment of each: EXPERIMENTS below
SCENARIOS: dict[str, dict[str, dict]] = {
    # the UFM (Zhu et al. 2021): C = 10, 50 per class, d = 64, full-batch SGD, 3k steps
    "ufm": {"quick": dict(_UFM), "full": {**_UFM, "steps": 10000, "log_every": 200}},
    # d = 5 < C − 1: no simplex ETF can form (1k steps: NC1 < 1e-7 already)
    "ufm_narrow": {"quick": {**_UFM, "width": 5, "steps": 1000},
                   "full": {**_UFM, "width": 5, "steps": 10000, "log_every": 200}},
    # minority collapse (Fang et al. 2021): 5 × 200 majority, 5 × 200/R minority samples
    "minority": {"quick": dict(_MINORITY), "full": {**_MINORITY, "lr": 0.1, "steps": 5000,
                                                    "log_every": 100}},
    # the digits MLP into the terminal phase: 100 epochs (quick) / MNIST 5k, 400 epochs (full)
    "mlp": {"quick": dict(data="digits", steps=1200, log_every=100),
            "full": dict(data="mnist", steps=12800, log_every=400)},
    # linguistic collapse: a tiny causal LM on a Zipfian Markov corpus (V = 512, 8 successors)
    "lm": {"quick": {}, "full": {}},
}

GRIDS: dict[str, dict[str, tuple[dict, dict]]] = {
    # weight decay from none to too much (λ = 5e-2: the trivial W = H = 0 solution)
    "ufm_weight_decay": {
        "quick": (dict(_UFM), {"weight_decay": [0.0, 5e-4, 5e-3, 5e-2]}),
        "full": ({**_UFM, "steps": 10000, "log_every": 200},
                 {"weight_decay": [0.0, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2]}),
    },
    "minority": {
        "quick": (dict(_MINORITY), {"imbalance": [1.0, 3.0, 10.0, 30.0]}),
        "full": ({**_MINORITY, "lr": 0.1, "steps": 5000, "log_every": 100},
                 {"imbalance": [1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 200.0]}),
    },
    # BatchNorm on/off × weight decay: interpolation is not collapse
    "mlp_bn_wd": {
        "quick": (dict(data="digits", steps=1200, log_every=100),
                  {"batchnorm": [True, False], "weight_decay": [5e-4, 1e-2]}),
        "full": (dict(data="mnist", steps=12800, log_every=400),
                 {"batchnorm": [True, False], "weight_decay": [0.0, 5e-4, 5e-3, 1e-2]}),
    },
    # linguistic collapse across models of several widths, whose final validation losses
    # differ (each width its own batch, seeds batched): the models Spearman ρ runs across
    "lm_width": {
        "quick": ({}, {"width": [4, 8, 16, 32], "seed": [0, 1]}),
        "full": ({}, {"width": [32, 64, 128, 256], "seed": [0, 1]}),
    },
}

EXPERIMENTS = {"ufm": "neural-collapse", "ufm_narrow": "neural-collapse",
               "minority": "neural-collapse", "mlp": "neural-collapse",
               "ufm_weight_decay": "neural-collapse", "mlp_bn_wd": "neural-collapse",
               "lm": "linguistic-collapse", "lm_width": "linguistic-collapse"}


def scenario(name: str, preset: str = "quick") -> dict:
    """Config overrides of a named scenario at ``preset`` scale."""
    return dict(_pick(SCENARIOS, name, preset))


def sweep_grid(name: str, preset: str = "quick") -> tuple[dict, dict]:
    """(overrides, grid) of a named sweep at ``preset`` scale."""
    base, grid = _pick(GRIDS, name, preset)
    return dict(base), {k: list(v) for k, v in grid.items()}


def experiment_of(name: str) -> str:
    """The registered experiment a scenario or sweep runs."""
    return EXPERIMENTS[name]
