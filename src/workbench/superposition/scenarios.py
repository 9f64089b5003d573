"""Named configurations behind the chapter's claims, at both scales.

Notebooks, tests, the dashboard and the CLI use these names, so a claim in a notebook and the
test that checks it run the very same experiment. ``scenario(name, preset)`` returns config
overrides (on top of that preset) and ``sweep_grid(name, preset)`` the (overrides, grid) of a
named sweep. ``claims`` is the smallest CPU setting found at which the claim tests' tolerances
hold (n = 400, m = 8 … 40, 3k steps; see tests/test_superposition_claims.py for the measured
numbers); ``quick`` is smaller still and shows the effects qualitatively in seconds.
"""

from __future__ import annotations

from ..core.scenarios import pick as _check

__all__ = ["CLAIMS", "CLAIM_CONFIGS", "SCENARIOS", "GRIDS", "TOY_GRIDS", "scenario", "sweep_grid",
           "toy_grid"]

CLAIMS = dict(n=400, m=(8, 12, 18, 27, 40), batch_size=256, steps=3000, warmup=300, seeds=2,
              eval_size=4096, log_every=500)

# the claim tests' checks as one batched sweep on top of CLAIMS (preset quick): strong
# superposition with a power law (α = 1, α = 1.5) and an exponential law, weak at α = 1.5
CLAIM_CONFIGS = [dict(gamma=-1.0, alpha=1.0), dict(gamma=-1.0, alpha=1.5),
                 dict(gamma=-1.0, freq_shape="exponential", tau=0.15),
                 dict(gamma=0.5, alpha=1.5)]

# name → {preset → overrides}
SCENARIOS: dict[str, dict[str, dict]] = {
    "strong": {"quick": dict(gamma=-1.0, alpha=1.5), "full": dict(gamma=-1.0)},
    "weak": {"quick": dict(gamma=0.5, alpha=1.5), "full": dict(gamma=0.5, alpha=1.5)},
}

# name → {preset → (overrides, grid)}
GRIDS: dict[str, dict[str, tuple[dict, dict]]] = {
    # strong vs weak over α: the α × γ map of α_m (the dashboard's cached sweep).
    # quick, one seed per config, measured α_m over seeds 0–9 (n = 200, m = 4 … 20, 2k steps):
    # strong α = 1: 0.61–0.89; strong α = 1.5: 0.84–1.18; weak α = 1.5: 0.30–0.62; strong
    # minus weak at α = 1.5 ≥ 0.47 at every seed; strong exponential (τ = 0.15): 0.78–1.04
    "phase": {
        "quick": (dict(seeds=1), {"gamma": [-1.0, 0.5], "alpha": [1.0, 1.5, 2.0]}),
        "full": (dict(seeds=1),
                 {"gamma": [round(-1 + 2 * k / 9, 3) for k in range(10)],
                  "alpha": [round(1 + k / 8, 3) for k in range(9)]}),
    },
    # strong superposition with three frequency laws
    "shapes": {
        "quick": (dict(gamma=-1.0, seeds=1, tau=0.15),
                  {"freq_shape": ["power", "exponential", "linear"]}),
        "full": (dict(gamma=-1.0, tau=0.04), {"freq_shape": ["power", "exponential", "linear"]}),
    },
}

# Elhage et al. toy models: name → {preset → (overrides, grid)}
TOY_GRIDS: dict[str, dict[str, tuple[dict, dict]]] = {
    # 5 features → 2 dimensions, importance 0.9^i, density 1 … 0.05
    "intro": {
        "quick": (dict(n=5, m=2, importance_decay=0.9, steps=2000, batch_size=512),
                  {"feature_density": [1.0, 0.3, 0.1, 0.05], "seed": [0, 1, 2]}),
        "full": (dict(n=5, m=2, importance_decay=0.9, steps=10000),
                 {"feature_density": [round(20 ** -(k / 9), 4) for k in range(10)],
                  "seed": [0, 1, 2, 3]}),
    },
    # 20 → 5, importance 0.7^i: linear vs ReLU output across density
    "sparsity": {
        "quick": (dict(n=20, m=5, importance_decay=0.7, steps=2000, batch_size=512),
                  {"relu": [False, True], "feature_density": [1.0, 0.1, 0.03, 0.01]}),
        "full": (dict(n=20, m=5, importance_decay=0.7, steps=10000),
                 {"relu": [False, True],
                  "feature_density": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]}),
    },
    # uniform importance, many densities: feature dimensionality and its sticky fractions
    "geometry": {
        "quick": (dict(n=40, m=8, importance_decay=1.0, steps=2000, batch_size=512, lr=3e-3,
                       weight_decay=0.0),
                  {"feature_density": [round(20 ** -(k / 7), 4) for k in range(1, 8)]}),
        "full": (dict(n=400, m=30, importance_decay=1.0, steps=10000, weight_decay=0.0),
                 {"feature_density": [round(20 ** -(k / 19), 4) for k in range(1, 20)]}),
    },
}


def scenario(name: str, preset: str = "quick") -> dict:
    """Config overrides of a named scenario at ``preset`` scale."""
    return dict(_check(SCENARIOS, name, preset))


def sweep_grid(name: str, preset: str = "quick") -> tuple[dict, dict]:
    """(overrides, grid) of a named superposition sweep at ``preset`` scale."""
    base, grid = _check(GRIDS, name, preset)
    return dict(base), {k: list(v) for k, v in grid.items()}


def toy_grid(name: str, preset: str = "quick") -> tuple[dict, dict]:
    """(overrides, grid) of a named toy-models sweep at ``preset`` scale."""
    base, grid = _check(TOY_GRIDS, name, preset)
    return dict(base), {k: list(v) for k, v in grid.items()}
