"""The superposition chapter's headline claims (Liu, Liu & Gore 2025; Elhage et al. 2022;
Bahri et al. 2021) for ``workbench reproduce``; see :mod:`workbench.reproduce.registry` for
how an entry is built. Paper numbers come from the shared reference sheet
(``superposition.md``)."""

from __future__ import annotations

from ..reproduce import Claim, Compute, Job, Paper, Scale, register
from ..reproduce import rules as R
from ..reproduce.plots import line, panels, paper_markers
from .metrics import fit_exponent
from .regimes import regime_curves, regime_slopes
from .scenarios import CLAIMS

REF = "reference/superposition.md"
SEEDS = [0, 1, 2, 3, 4]

# cpu scale of the Liu et al. claims: n = 400, m ∈ {8 … 40}, 3k steps, five seeds per width
# (the smallest setting at which the chapter's tolerances held; see scenarios.CLAIMS)
LIU_CPU = {**CLAIMS, "seeds": 3}
# full: the paper's small sweep (n = 1000, m ∈ {10 … 100}, batch 2048, 20k steps)
LIU_FULL = dict(seeds=5)
LIU_NOTE = ("n = 400 features and widths m ∈ {8, 12, 18, 27, 40}, batch 256, 3,000 steps "
            "(the paper: n = 1000 or 10240, m up to 100 or 1024, batch 2048, 20,000 steps); "
            "three seeds per width, α_m fitted on all widths")

# strong superposition (γ = −1) with the three frequency laws of Fig 1d
SHAPES = [dict(freq_shape="exponential", alpha=1.0, tau=0.15),
          dict(freq_shape="power", alpha=1.2), dict(freq_shape="linear", alpha=1.0)]
SHAPES_FULL = [dict(freq_shape="exponential", alpha=1.0, tau=0.04),
               dict(freq_shape="power", alpha=1.2), dict(freq_shape="linear", alpha=1.0)]
FIG1D = {"exponential": 1.01, "power": 1.0, "linear": 0.89}


def _shape_runs(results):
    return {r.config["freq_shape"]: r for r in results["runs"].runs}


def _read_fig1d(results):
    out, rows = {}, {}
    for shape, run in _shape_runs(results).items():
        s = run.summary
        out[f"exponent_{shape}"] = s["loss_exponent"]
        out[f"exponent_{shape}_std"] = s["loss_exponent_std"]
        for k, a in enumerate(s["loss_exponent_per_seed"]):
            rows.setdefault(k, {"seed": run.config["seed"] + k})[f"exponent_{shape}"] = a
    out["per_seed"] = list(rows.values())
    return out


def _loss_fig(results, title, key="freq_shape"):
    fig = panels(["evaluation loss L(m)"], x="width m", y="L (n × MSE)", log_x=True, log_y=True,
                 title=title)
    for i, run in enumerate(results["runs"].runs):
        s = run.summary
        ms = [int(m) for m in s["m"]]
        L = [s["loss"][str(m)] for m in ms]
        name = f"{run.config[key]}: α_m = {s['loss_exponent']:.2f}"
        if key != "freq_shape":
            name = (f"γ = {run.config['gamma']:g}, α = {run.config['alpha']:g}: "
                    f"α_m = {s['loss_exponent']:.2f}")
        line(fig, ms, L, name, color=i, markers=True)
    return fig


def _plot_fig1d(results, ours):
    fig = _loss_fig(results, "strong superposition (γ = −1): three frequency laws")
    # the paper's exponents as slope markers: a line of slope −α through our first point
    for i, (shape, run) in enumerate(_shape_runs(results).items()):
        s = run.summary
        ms = [int(m) for m in s["m"]]
        L0 = s["loss"][str(ms[0])]
        paper_markers(fig, [(m, L0 * (m / ms[0]) ** -FIG1D[shape]) for m in ms],
                      f"paper slope ({shape}: {FIG1D[shape]})", show=True)
    return fig


register(Claim(
    id="liu-fig1d-strong-exponents",
    paper="Liu, Liu & Gore 2025", figure="Fig 1d",
    claim="Under strong superposition the loss falls as L ∝ 1/m whatever the feature-frequency "
          "law: fitted exponents ≈ 1 for exponential, power-law and linear frequencies.",
    paper_value=[Paper("α_m exponential / power / linear", "1.01 ± 0.05 / 1.0 ± 0.1 / "
                       "0.89 ± 0.05", "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("superposition", "quick",
                           {**LIU_CPU, "gamma": -1.0}, configs=SHAPES)},
              note=LIU_NOTE + "; exponential law p_i ∝ e^{−i/(0.15 n)} (the paper's e^{−i/400} "
                   "at n = 10240 is 0.04 n, too steep for n = 400)", minutes=3),
    full=Scale({"runs": Job("superposition", "full", {**LIU_FULL, "gamma": -1.0},
                            configs=SHAPES_FULL)},
               note="the paper's small-sweep model (n = 1000, m ≤ 100, 20k steps, batch 2048); "
                    "Fig 1d's own model (n = 10240, m up to 1024, width-dependent learning "
                    "rates) is not implemented", needs_gpu=True, minutes=5),
    read=_read_fig1d,
    rule=R.All(*(R.Near(f"exponent_{s}", v, 0.2, partly=0.35,
                        label=f"α_m ({s}, mean of 3 seeds)") for s, v in FIG1D.items())),
    plot=_plot_fig1d,
))


# --------------------------------------------------------------------------- φ½ and overlaps
def _read_phi_overlap(results):
    out = {}
    for shape, run in _shape_runs(results).items():
        s = run.summary
        ms = [int(m) for m in s["m"]]
        out[f"min_phi_half_{shape}"] = min(s["phi_half"].values())
        ov = [s["overlap"][str(m)] for m in ms]
        out[f"overlap_slope_{shape}"] = -fit_exponent(ms, ov)[0]
        out[f"m_times_overlap_{shape}"] = [m * o for m, o in zip(ms, ov)]
    out["min_phi_half"] = min(v for k, v in out.items() if k.startswith("min_phi_half_"))
    slopes = [v for k, v in out.items() if k.startswith("overlap_slope_")]
    out["overlap_slope_worst"] = max(slopes, key=lambda a: abs(a + 1))
    return out


def _plot_phi_overlap(results, ours):
    fig = panels(["mean squared overlap ⟨(Ŵ_i·Ŵ_j)²⟩", "φ½ (share of rows with ‖W_i‖ > ½)"],
                 x="width m", y=["overlap", "φ½"], log_x=True, log_y=[True, False])
    for i, (shape, run) in enumerate(_shape_runs(results).items()):
        s = run.summary
        ms = [int(m) for m in s["m"]]
        line(fig, ms, [s["overlap"][str(m)] for m in ms], shape, col=1, color=i, markers=True)
        line(fig, ms, [s["phi_half"][str(m)] for m in ms], shape, col=2, color=i, markers=True,
             show=False)
    ms = [int(m) for m in results["runs"].runs[0].summary["m"]]
    paper_markers(fig, [(m, 1 / m) for m in ms], "paper: 1/m", col=1)
    paper_markers(fig, [(m, 1.0) for m in ms], "paper: φ½ = 1", col=2)
    return fig


register(Claim(
    id="liu-strong-phi-overlap",
    paper="Liu, Liu & Gore 2025", figure="small sweep (Figs 3–5)",
    claim="Under strong superposition every feature is represented (φ½ = 1) and the mean "
          "squared overlap between feature directions scales as 1/m.",
    paper_value=[Paper("φ½", "≈ 1", "paper", f"{REF} §4", points=[]),
                 Paper("mean squared overlap", "≈ 1/m", "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("superposition", "quick", {**LIU_CPU, "gamma": -1.0},
                           configs=SHAPES)},
              note=LIU_NOTE + "; the runs of liu-fig1d-strong-exponents", minutes=0.2),
    full=Scale({"runs": Job("superposition", "full", {**LIU_FULL, "gamma": -1.0},
                            configs=SHAPES_FULL)},
               note="the paper's small-sweep model", needs_gpu=True, minutes=5),
    read=_read_phi_overlap,
    rule=R.All(R.AtLeast("min_phi_half", 1.0, partly=0.95,
                         label="φ½, smallest over widths and frequency laws"),
               R.Near("overlap_slope_worst", -1.0, 0.15, partly=0.3,
                      label="log-log slope of the overlap against m, worst frequency law")),
    plot=_plot_phi_overlap,
))


# --------------------------------------------------------------------------- weak regime
WEAK = [dict(alpha=1.5), dict(alpha=2.0)]


def _read_weak(results):
    out, rows = {}, {}
    for run in results["runs"].runs:
        s, a = run.summary, run.config["alpha"]
        out[f"exponent_alpha{a:g}"] = s["loss_exponent"]
        out[f"exponent_alpha{a:g}_minus_target"] = s["loss_exponent"] - (a - 1)
        ms = [int(m) for m in s["m"]]
        n = run.config["n"]
        ratio = [s["phi_half"][str(m)] * n / m for m in ms]
        out[f"phi_half_n_over_m_alpha{a:g}"] = ratio
        for k, e in enumerate(s["loss_exponent_per_seed"]):
            rows.setdefault(k, {"seed": run.config["seed"] + k})[f"exponent_alpha{a:g}"] = e
    out["phi_half_n_over_m_max"] = max(max(v) for k, v in out.items()
                                       if k.startswith("phi_half_n_over_m_alpha"))
    out["per_seed"] = list(rows.values())
    return out


def _plot_weak(results, ours):
    fig = _loss_fig(results, "weak superposition (γ = 0.5)", key="alpha")
    for run in results["runs"].runs:
        s, a = run.summary, run.config["alpha"]
        ms = [int(m) for m in s["m"]]
        L0 = s["loss"][str(ms[0])]
        paper_markers(fig, [(m, L0 * (m / ms[0]) ** -(a - 1)) for m in ms],
                      f"paper slope α − 1 = {a - 1:g}")
    return fig


register(Claim(
    id="liu-weak-exponent",
    paper="Liu, Liu & Gore 2025", figure="small sweep (Figs 3–5)",
    claim="Under weak superposition only about m features are represented (φ½ ≈ m/n) and the "
          "loss exponent follows the frequency law: α_m ≈ α − 1 for α > 1.",
    paper_value=[Paper("α_m", "≈ α − 1 (α > 1)", "paper", f"{REF} §4"),
                 Paper("φ½", "≈ m/n", "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("superposition", "quick", {**LIU_CPU, "gamma": 0.5}, configs=WEAK)},
              note=LIU_NOTE + "; γ = 0.5 (ordinary weight decay on W)", minutes=2.5),
    full=Scale({"runs": Job("superposition", "full", {**LIU_FULL, "gamma": 0.5},
                            configs=WEAK)},
               note="the paper's small-sweep model", needs_gpu=True, minutes=5),
    read=_read_weak,
    rule=R.All(R.Near("exponent_alpha1.5_minus_target", 0.0, 0.2, partly=0.35,
                      label="α_m − (α − 1) at α = 1.5 (mean of 3 seeds)"),
               R.Near("exponent_alpha2_minus_target", 0.0, 0.25, partly=0.4,
                      label="α_m − (α − 1) at α = 2 (mean of 3 seeds)"),
               R.AtMost("phi_half_n_over_m_max", 2.0, partly=4.0,
                        label="φ½ / (m/n), largest over widths")),
    plot=_plot_weak,
))


# --------------------------------------------------------------------------- α × γ map
MAP_GAMMAS, MAP_ALPHAS = [-1.0, -0.5, 0.5, 1.0], [1.0, 2.0]


def _map_cell_ok(gamma, alpha, a_m):
    """The paper's Fig 9b reading of one cell: strong (γ < 0): α_m ≥ 0.75 (≈ 1, rising toward
    2(α − 1) at large α); weak (γ > 0): |α_m − (α − 1)| ≤ 0.3."""
    if gamma < 0:
        return a_m >= 0.75 and a_m <= max(1.3, 2 * (alpha - 1) + 0.3)
    return abs(a_m - (alpha - 1)) <= 0.3


def _read_map(results):
    cells = []
    for run in results["runs"].runs:
        g, a = run.config["gamma"], run.config["alpha"]
        e = run.summary["loss_exponent"]
        cells.append({"gamma": g, "alpha": a, "exponent": e, "ok": _map_cell_ok(g, a, e)})
    return {"cells": cells, "share_ok": sum(c["ok"] for c in cells) / len(cells)}


def _plot_map(results, ours):
    import plotly.graph_objects as go
    cells = ours["cells"]
    z = [[next(c["exponent"] for c in cells if c["gamma"] == g and c["alpha"] == a)
          for a in MAP_ALPHAS] for g in MAP_GAMMAS]
    fig = go.Figure(go.Heatmap(z=z, x=[str(a) for a in MAP_ALPHAS],
                               y=[str(g) for g in MAP_GAMMAS], colorscale="Viridis",
                               text=[[f"{v:.2f}" for v in row] for row in z],
                               texttemplate="%{text}", colorbar=dict(title="α_m")))
    fig.update_layout(title="fitted exponent α_m over α × γ (paper: ≈1 for γ < 0, ≈α−1 "
                            "for γ > 0)", xaxis_title="α", yaxis_title="γ", height=360,
                      template="plotly_white")
    return fig


register(Claim(
    id="liu-fig9b-map",
    paper="Liu, Liu & Gore 2025", figure="Fig 9b",
    claim="Over the α × γ plane the exponent splits in two: α_m ≈ 1 (rising at large α) "
          "wherever γ < 0 drives strong superposition, α_m ≈ α − 1 wherever γ > 0 keeps it "
          "weak.",
    paper_value=[Paper("α_m, strong (γ < 0)", "≈ 1, rising toward 2(α − 1) at large α",
                       "paper", f"{REF} §4"),
                 Paper("α_m, weak (γ > 0)", "≈ α − 1", "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("superposition", "quick", {**CLAIMS, "seeds": 2},
                           grid={"gamma": MAP_GAMMAS, "alpha": MAP_ALPHAS})},
              note=LIU_NOTE.replace("three seeds", "two seeds") + "; a 4 × 2 grid of "
                   "(γ, α) (the paper: 10 × 17)", minutes=5),
    full=Scale({"runs": Job("superposition", "full", {"seeds": 1},
                            grid={"gamma": [round(-1 + 2 * k / 9, 3) for k in range(10)],
                                  "alpha": [round(1 + k / 8, 3) for k in range(9)]})},
               note="the paper's small sweep on its α ≥ 1 half (10 γ × 9 α, n = 1000, "
                    "m ≤ 100, 20k steps), one seed", needs_gpu=True, minutes=8),
    read=_read_map,
    rule=R.AtLeast("share_ok", 0.8, partly=0.5,
                   label="share of (γ, α) cells where α_m matches the regime (strong: "
                         "0.75 ≤ α_m ≤ max(1.3, 2(α−1)+0.3); weak: |α_m − (α−1)| ≤ 0.3)"),
    plot=_plot_map,
))


# --------------------------------------------------------------------------- Elhage et al.
def _read_toy_sparsity(results, dense=1.0, m=2):
    rows = {}
    for run in results["runs"].runs:
        c = run.config
        if not c["relu"]:
            continue
        d = rows.setdefault(c["seed"], {"seed": c["seed"]})
        d[f"represented_density_{c['feature_density']:g}"] = run.summary["represented"]
    for d in rows.values():
        dens = sorted((float(k.split("_")[-1]), v) for k, v in d.items() if k != "seed")
        d["represented_dense"] = dict(dens)[dense]
        d["represented_sparsest"] = dens[0][1]
    return {"per_seed": sorted(rows.values(), key=lambda d: d["seed"])}


def _plot_toy(results, ours, m):
    fig = panels(["features represented (‖W_i‖ > ½)"], x="feature density (1 − S)",
                 y="features", log_x=True)
    by_seed: dict = {}
    for run in results["runs"].runs:
        c = run.config
        if c["relu"]:
            by_seed.setdefault(c["seed"], []).append((c["feature_density"],
                                                      run.summary["represented"]))
    for i, (seed, pts) in enumerate(sorted(by_seed.items())):
        pts.sort()
        line(fig, [p for p, _ in pts], [v for _, v in pts], f"ReLU model, seed {seed}",
             color=i, markers=True)
    dens = sorted({p for pts in by_seed.values() for p, _ in pts})
    paper_markers(fig, [(dens[-1], m)], f"paper: m = {m} at density 1")
    return fig


INTRO_DENS = [1.0, 0.3, 0.1, 0.03]
register(Claim(
    id="elhage-5to2-sparsity",
    paper="Elhage et al. 2022", figure="intro figure (5 → 2)",
    claim="With 5 features in 2 dimensions the ReLU model keeps only 2 features when they are "
          "dense, and stores more of them in superposition as they get sparser.",
    paper_value=[Paper("features represented", "2 (dense) → 5 (a pentagon, very sparse)",
                       "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("toy-models", "full", dict(n=5, m=2, importance_decay=0.9),
                           grid={"feature_density": INTRO_DENS, "seed": SEEDS})},
              note="the paper's training (AdamW lr 1e-3, batch 1024, 10k steps); five seeds "
                   "per density instead of keeping the best of several", minutes=2),
    full=Scale({"runs": Job("toy-models", "full", dict(n=5, m=2, importance_decay=0.9),
                            grid={"feature_density": [round(20 ** -(k / 9), 4)
                                                      for k in range(10)],
                                  "seed": SEEDS})},
               note="ten densities from 1 to 0.05", needs_gpu=True, minutes=3),
    read=lambda res: _read_toy_sparsity(res, 1.0, 2),
    rule=R.PerSeed(R.All(R.AtMost("represented_dense", 2,
                                  label="features represented at density 1"),
                         R.AtLeast("represented_sparsest", 4, partly=3,
                                   label="features represented at the lowest density"))),
    plot=lambda res, ours: _plot_toy(res, ours, 2),
))

SPARSITY_DENS = [1.0, 0.3, 0.1, 0.03, 0.01]
register(Claim(
    id="elhage-20to5-sparsity",
    paper="Elhage et al. 2022", figure="sparsity sweep (20 → 5)",
    claim="With 20 features (importance 0.7^i) in 5 dimensions the ReLU model represents 5 "
          "features when they are dense and more than 5, in superposition, once they are "
          "sparse.",
    paper_value=[Paper("features represented", "m = 5 (dense) → more than m (sparse)", "paper",
                       f"{REF} §4")],
    cpu=Scale({"runs": Job("toy-models", "full", dict(n=20, m=5, importance_decay=0.7),
                           grid={"relu": [False, True], "feature_density": SPARSITY_DENS,
                                 "seed": [0, 1, 2]})},
              note="the paper's training (AdamW lr 1e-3, batch 1024, 10k steps), five of its "
                   "seven densities, three seeds", minutes=6),
    full=Scale({"runs": Job("toy-models", "full", dict(n=20, m=5, importance_decay=0.7),
                            grid={"relu": [False, True],
                                  "feature_density": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003,
                                                      0.001], "seed": SEEDS})},
               note="all seven densities of the paper", needs_gpu=True, minutes=4),
    read=lambda res: _read_toy_sparsity(res, 1.0, 5),
    rule=R.PerSeed(R.All(R.AtMost("represented_dense", 5,
                                  label="features represented at density 1"),
                         R.AtLeast("represented_sparsest", 6,
                                   label="features represented at density 0.01"))),
    plot=lambda res, ours: _plot_toy(res, ours, 5),
))


def _read_linear(results):
    rows = []
    for run in results["runs"].runs:
        c = run.config
        if c["relu"]:
            continue
        norms = run.summary["norms"]
        kept = sorted(i for i, v in enumerate(norms) if v > 0.5)
        rows.append({"seed": c["seed"], "density": c["feature_density"],
                     "represented": len(kept), "kept": kept,
                     "top_m_kept": int(kept == list(range(c["m"])))})
    return {"per_seed": sorted(rows, key=lambda d: (d["seed"], -d["density"])),
            "share_top_m": sum(r["top_m_kept"] for r in rows) / len(rows)}


def _plot_linear(results, ours):
    fig = panels(["‖W_i‖ of the linear model, by importance rank i"], x="feature i",
                 y="‖W_i‖")
    for k, run in enumerate(r for r in results["runs"].runs if not r.config["relu"]):
        c = run.config
        line(fig, list(range(len(run.summary["norms"]))), run.summary["norms"],
             f"density {c['feature_density']:g}, seed {c['seed']}", color=k % 10,
             show=k < 10)
    paper_markers(fig, [(i, 1.0) for i in range(5)] + [(i, 0.0) for i in range(5, 20)],
                  "paper: the top m = 5 features, norm 1; the rest 0")
    return fig


register(Claim(
    id="elhage-linear-top-m",
    paper="Elhage et al. 2022", figure="sparsity sweep (linear model)",
    claim="The linear model (no ReLU) never uses superposition: at every sparsity it keeps "
          "exactly the m most important features, like PCA.",
    paper_value=[Paper("features kept by the linear model", "the top m = 5 at every density",
                       "paper", f"{REF} §4")],
    cpu=Scale({"runs": Job("toy-models", "full", dict(n=20, m=5, importance_decay=0.7),
                           grid={"relu": [False, True], "feature_density": SPARSITY_DENS,
                                 "seed": [0, 1, 2]})},
              note="the runs of elhage-20to5-sparsity", minutes=0.2),
    full=Scale({"runs": Job("toy-models", "full", dict(n=20, m=5, importance_decay=0.7),
                            grid={"relu": [False, True],
                                  "feature_density": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003,
                                                      0.001], "seed": SEEDS})},
               note="all seven densities of the paper", needs_gpu=True, minutes=0.2),
    read=_read_linear,
    rule=R.AtLeast("share_top_m", 1.0, partly=0.8,
                   label="share of (density, seed) runs whose represented features are "
                         "exactly the 5 most important"),
    plot=_plot_linear,
))


# --------------------------------------------------------------------------- Bahri et al.
def bahri_slopes(alpha_Ks=(1.0, 0.5), S=1024, repeats=8, seed=0) -> dict:
    """Regime curves and their log-log slopes for each α_K (closed form, NumPy)."""
    return {a: (lambda c: (c, regime_slopes(c)))(regime_curves(S=S, alpha_K=a, repeats=repeats,
                                                                seed=seed))
            for a in alpha_Ks}


REGIMES = ("resolution, model", "resolution, data", "variance, data", "variance, width")


def _read_bahri(results):
    out = {}
    for a, (_, slopes) in results["curves"].items():
        for reg in REGIMES:
            key = reg.replace(", ", "_")
            target = -a if reg.startswith("resolution") else -1.0
            out[f"slope_{key}_aK{a:g}"] = slopes[reg]
            out[f"slope_{key}_aK{a:g}_minus_target"] = slopes[reg] - target
    return out


def _plot_bahri(results, ours):
    fig = panels(list(REGIMES), x="size (P, D or width)",
                 y=["L", "L", "L − L(∞)", "L − L(∞)"], log_x=True, log_y=True, height=340)
    for i, (a, (curves, slopes)) in enumerate(results["curves"].items()):
        for k, reg in enumerate(REGIMES):
            part = curves[curves["regime"] == reg]
            y = part["excess"] if reg.startswith("variance") else part["loss"]
            line(fig, part["size"], y, f"α_K = {a:g}", col=k + 1, color=i, markers=True,
                 show=k == 0)
            x0, y0 = float(part["size"].iloc[0]), float(y.iloc[0])
            slope = -a if reg.startswith("resolution") else -1.0
            paper_markers(fig, [(x, y0 * (x / x0) ** slope) for x in part["size"]],
                          "paper slope", col=k + 1, show=k == 0 and i == 0)
    return fig


register(Claim(
    id="bahri-four-slopes",
    paper="Bahri et al. 2021", figure="the four scaling regimes",
    claim="In a linear random-feature teacher–student model the four scaling regimes have the "
          "predicted slopes: resolution-limited L ∝ P^−α_K and D^−α_K, variance-limited excess "
          "loss ∝ D^−1 and ∝ width^−1.",
    paper_value=[Paper("resolution-limited exponents", "α_D = α_P = α_K", "paper", f"{REF} §2"),
                 Paper("variance-limited exponents", "1", "paper", f"{REF} §2"),
                 Paper("slopes at α_K = 1 / 0.5 (L(P), L(D))", "−0.95, −0.92 / −0.52, −0.47; "
                       "variance, data −1.09", "re-run CPU", f"{REF} §4")],
    cpu=Scale({"curves": Compute(bahri_slopes, dict(alpha_Ks=(1.0, 0.5), S=1024, repeats=8))},
              note="closed-form NumPy (no training): Gaussian latent features S = 1024 with "
                   "variances i^−(1+α_K), minimum-norm least squares, 8 draws per point; the "
                   "width panel uses a 64-dimensional latent space so that P ≫ S", minutes=1),
    full=Scale({"curves": Compute(bahri_slopes, dict(alpha_Ks=(1.0, 0.5), S=1024,
                                                     repeats=64))},
               note="64 draws per point (NumPy, on any machine)",
               needs_gpu="left to the GPU machine's full pass: 64 draws per point are ≈ 10 "
                         "min of NumPy on 2 CPU cores (no GPU needed)", minutes=2),
    read=_read_bahri,
    rule=R.All(*(R.Near(f"slope_{reg.replace(', ', '_')}_aK{a:g}_minus_target", 0.0,
                        0.15 if reg.startswith("resolution") else 0.2,
                        partly=0.3 if reg.startswith("resolution") else 0.4,
                        label=f"{reg} slope − prediction at α_K = {a:g}")
                 for a in (1.0, 0.5) for reg in REGIMES)),
    plot=_plot_bahri,
))
