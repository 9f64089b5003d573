"""The chapter's claims (Liu, Liu & Gore 2025), checked by running the experiment.

The quick preset (n = 200, m = 4 … 20, 2k steps) shows the effects but is too small for the
issue's tolerances (strong 0.94, weak 0.28 at α = 1.5, one seed): the loss at the smallest
widths sits near its ceiling ⟨v²⟩E and flattens the fit. The smallest setting found at which
they hold is ``scenarios.CLAIMS``: n = 400, m ∈ {8, 12, 18, 27, 40}, batch 256, 3000 steps
(one seed here; the four configs train as one batched model: 45 s to 390 s on the shared
2-core machine, depending on its load). Numbers measured with seeds 0 and 1 (``CLAIMS`` with
seeds=2, 88 s; command in the closing note):

  strong, power α = 1:          α_m = 0.98 / 0.90        (target 1 ± 0.25)
  strong, exponential τ = 0.15: α_m = 1.09 / 1.15        (target 1 ± 0.25)
  strong, power α = 1.5:        α_m = 1.13 / 1.15; m·⟨o²⟩ = 1.08 … 1.14 (target 1 ± 30 %)
  weak γ = 0.5, α = 1.5:        α_m = 0.47 / 0.30        (target α − 1 = 0.5 ± 0.25)
                                φ½·n/m = 0.44 … 0.29 (φ½ = 0.009 … 0.029, m/n = 0.02 … 0.1)
  strong φ½ = 1 at every width; φ₁ = 0.02 → 0.55 from m = 8 to 40
"""

import numpy as np
import pytest

import workbench as wb
from workbench.superposition.scenarios import CLAIM_CONFIGS, CLAIMS

pytestmark = pytest.mark.timeout(900)  # the shared sweep took 391 s once at load average 9


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    exp = wb.get("superposition")
    configs = [exp.config("quick", **{**CLAIMS, "seeds": 1, **c}) for c in CLAIM_CONFIGS]
    sw = wb.sweep(exp, configs, store=tmp_path_factory.mktemp("runs"), progress=False)
    return {(c["gamma"], c["freq_shape"], c["alpha"]): r.summary
            for c, r in zip((r.config for r in sw.runs), sw.runs)}


@pytest.mark.slow
def test_strong_superposition_exponent_near_one_for_two_shapes(claims):
    power = claims[(-1.0, "power", 1.0)]["loss_exponent"]
    expo = claims[(-1.0, "exponential", 1.0)]["loss_exponent"]
    assert abs(power - 1) <= 0.25, power        # measured 0.98 (seed 0), 0.90 (seed 1)
    assert abs(expo - 1) <= 0.25, expo          # measured 1.09 (seed 0), 1.15 (seed 1)


@pytest.mark.slow
def test_weak_superposition_exponent_is_alpha_minus_one(claims):
    weak = claims[(0.5, "power", 1.5)]["loss_exponent"]
    assert abs(weak - 0.5) <= 0.25, weak        # measured 0.47 (seed 0), 0.30 (seed 1)
    # and clearly below the strong exponent at the same α
    assert claims[(-1.0, "power", 1.5)]["loss_exponent"] > weak + 0.5


@pytest.mark.slow
def test_strong_overlaps_are_one_over_m(claims):
    s = claims[(-1.0, "power", 1.5)]
    for m, o in s["overlap"].items():           # measured m·⟨o²⟩ = 1.08 … 1.14
        assert abs(int(m) * o - 1) <= 0.30, (m, int(m) * o)


@pytest.mark.slow
def test_row_norms_strong_vs_weak(claims):
    n = CLAIMS["n"]
    for key in [(-1.0, "power", 1.0), (-1.0, "power", 1.5), (-1.0, "exponential", 1.0)]:
        assert all(v == 1.0 for v in claims[key]["phi_half"].values())   # every row > ½
        assert np.mean(list(claims[key]["phi_one"].values())) > 0.05    # many rows > 1
    weak = claims[(0.5, "power", 1.5)]["phi_half"]
    ms = sorted(int(m) for m in weak)
    frac = [weak[str(m)] for m in ms]
    # about m features represented, never more: measured φ½·n/m = 0.44 … 0.29 (the pitfall:
    # at small scale φ½ falls below m/n); it grows with m
    for m, f in zip(ms, frac):
        assert 0.15 * m / n <= f <= 1.2 * m / n, (m, f * n / m)
    assert frac[-1] > frac[0]


def test_toy_models_linear_keeps_top_m_relu_superposes(store):
    """Elhage et al.: 20 features → 5 dims, importance 0.7^i. The linear model spends one
    dimension per feature at every density (D* = m/‖W‖²_F ≈ 1: no superposition); the ReLU
    model stores more than 5 once features are sparse. Measured over seeds 0–4 (2000 steps):
    linear D* 0.986–1.007; ReLU at density ≤ 0.1: 9–12 features represented, D* 0.38–0.57;
    at density 1: 5 features, D* ≈ 1. (Counting features with ‖W_i‖ > ½ in the linear model
    reads 6 at some seeds: the 5th and 6th, importances 0.24 and 0.17, still share the last
    dimension after 2000 steps, with norms like 0.84 and 0.55.)"""
    from workbench.superposition.scenarios import toy_grid
    base, grid = toy_grid("sparsity", "quick")
    sw = wb.sweep("toy-models", grid=grid, preset="quick", store=store, progress=False, **base)
    t = sw.summary
    linear, relu = t[~t.relu], t[t.relu]
    assert ((linear.dstar - 1).abs() <= 0.05).all(), linear.dstar.tolist()
    assert relu[relu.feature_density == 1.0].represented.iloc[0] <= 5
    sparse = relu[relu.feature_density <= 0.1]
    assert (sparse.represented > 5).all() and (sparse.dstar <= 0.75).all()
