"""Named configurations behind the chapter's claims, at both scales.

Notebooks, tests, the dashboard and the CLI use these names, so a claim in a notebook and the
test that checks it run the very same experiment. ``scenario(name, preset)`` returns the
config overrides (on top of that preset) for a named scenario; ``sweep_grid(name, preset)``
the grid of a named sweep.
"""

from __future__ import annotations

from ..core.scenarios import pick as _pick

__all__ = ["SCENARIOS", "GRIDS", "scenario", "sweep_grid"]

# name → {preset → overrides}
SCENARIOS: dict[str, dict[str, dict]] = {
    # AdamW without weight decay: memorises, Softmax Collapse sets in, test stays at chance
    "adamw": {
        "quick": dict(optimizer="adamw", weight_decay=0.0, steps=500, log_every=20),
        "full": dict(optimizer="adamw", weight_decay=0.0, steps=3000, log_every=50),
    },
    # ⊥AdamW without weight decay: groks in hundreds of steps (Prieto et al. Fig. 1)
    "perp_adamw": {
        "quick": dict(optimizer="perp_adamw", weight_decay=0.0, steps=500, log_every=20),
        "full": dict(optimizer="perp_adamw", weight_decay=0.0, beta2=0.999, eps=1e-8,
                     steps=300, log_every=10),
    },
    # classic grokking: weight decay turns memorisation into delayed generalisation
    "weight_decay": {
        "quick": dict(optimizer="adamw", weight_decay=2.0, steps=1000, log_every=25),
        "full": dict(optimizer="adamw", weight_decay=1.0, steps=10000, log_every=100),
    },
    # StableMax cross-entropy in float64 groks without weight decay
    "stablemax": {
        # p = 41, width 64, train 0.9 (a quarter of the compute of p = 59, width 128, train
        # 0.8). Measured over seeds 0–4 in one batched sweep: StableMax test ≥ 0.9 from step
        # 1550, 1150, 1600, 1300, 1150 (best 0.95, 1.00, 0.92, 0.98, 0.98 at 1800 steps);
        # softmax best test 0.13, 0.17, 0.10, 0.12, 0.22. At train 0.8 this size does not
        # grok within 1600 steps (best 0.43–0.76)
        "quick": dict(loss="stablemax", loss_dtype="float64", weight_decay=0.0, beta2=0.99,
                      p=41, width=64, train_frac=0.9, steps=1800, log_every=50),
        "full": dict(loss="stablemax", loss_dtype="float64", weight_decay=0.0, beta2=0.999,
                     steps=80000, log_every=500),
    },
    # the same softmax run with its loss in float16 / float32 / float64 (sweep over loss_dtype).
    # quick, measured over seeds 0–4: SC fraction ≥ 0.5 from step 300–350 (float16) and
    # 1850–1900 (float32), never in float64 (peak 0.00); test accuracy stays at chance in all
    # three at this size (the paper's test-accuracy ordering needs its 20k steps at p = 113)
    "precision": {
        "quick": dict(optimizer="adamw", weight_decay=0.0, p=41, width=64, train_frac=0.7,
                      lr=0.01, eps=1e-30, steps=2000, log_every=50),
        "full": dict(optimizer="adamw", weight_decay=0.0, lr=5e-4, eps=1e-30, train_frac=0.7,
                     steps=20000, log_every=100),
    },
}

# name → {preset → (overrides, grid)}
GRIDS: dict[str, dict[str, tuple[dict, dict]]] = {
    # StableMax vs softmax cross-entropy, same network and float64 loss: one batched sweep
    "stablemax": {
        "quick": (SCENARIOS["stablemax"]["quick"], {"loss": ["softmax", "stablemax"]}),
        "full": (SCENARIOS["stablemax"]["full"], {"loss": ["softmax", "stablemax"]}),
    },
    "precision": {
        "quick": (SCENARIOS["precision"]["quick"],
                  {"loss_dtype": ["float16", "float32", "float64"]}),
        "full": (SCENARIOS["precision"]["full"],
                 {"loss_dtype": ["float16", "float32", "float64"]}),
    },
    # phase diagram: weight decay × learning rate, one batched sweep
    "phase": {
        # measured (seed 0): all four phases — no-learn at lr 3e-4, memorise without weight
        # decay, grok at lr ≥ 3e-3 with wd 1–3, generalise at lr 0.01 with wd 6
        "quick": (dict(p=41, width=64, train_frac=0.8, steps=600, log_every=20),
                  {"weight_decay": [0.0, 1.0, 3.0, 6.0], "lr": [0.0003, 0.003, 0.01]}),
        "full": (dict(steps=10000, log_every=100),
                 {"weight_decay": [0.0, 0.1, 0.3, 1.0, 3.0, 8.0],
                  "lr": [0.0003, 0.001, 0.003, 0.01]}),
    },
}


def scenario(name: str, preset: str = "quick") -> dict:
    """Config overrides of a named scenario at ``preset`` scale."""
    return dict(_pick(SCENARIOS, name, preset))


def sweep_grid(name: str, preset: str = "quick") -> tuple[dict, dict]:
    """(overrides, grid) of a named sweep at ``preset`` scale."""
    base, grid = _pick(GRIDS, name, preset)
    return dict(base), {k: list(v) for k, v in grid.items()}
