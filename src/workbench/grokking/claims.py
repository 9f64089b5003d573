"""The grokking chapter's headline claims (Prieto et al. 2025, Power et al. 2022, Nanda et
al. 2023) for ``workbench reproduce``; see :mod:`workbench.reproduce.registry` for how an
entry is built. Paper numbers come from the shared reference sheet (``grokking.md``)."""

from __future__ import annotations

from ..reproduce import Claim, Job, Paper, Scale, register
from ..reproduce import rules as R
from ..reproduce.plots import line, panels, paper_markers
from ..reproduce.read import first_step, per_seed, value_at

SEEDS = [0, 1, 2, 3, 4]
REF = "reference/grokking.md §4"


# --------------------------------------------------------------------------- Fig 1 ⊥AdamW
# The repo's ⊥AdamW runs used β2 0.999 and eps 1e-8 (its betas bug, issue #11), train 0.4,
# lr 0.01, 300 epochs, no weight decay: that is the setting here, for five seeds in one model.
PERP = dict(optimizer="perp_adamw", weight_decay=0.0, lr=0.01, beta2=0.999, eps=1e-8,
            train_frac=0.4, steps=300, log_every=10)


def _read_perp(results):
    def one(run):
        m = run.metrics
        return {"epoch_test_0.99": first_step(m, "test_acc", 0.99),
                "epoch_train_0.99": first_step(m, "train_acc", 0.99),
                "test_acc_at_120": value_at(m, "test_acc", 120),
                "final_test_acc": float(m["test_acc"].iloc[-1])}
    return {"per_seed": per_seed(results["runs"], one)}


def _plot_curves(results, ys=("test_acc",), paper=(), title="", log_x=False):
    fig = panels(["test accuracy (solid), train accuracy (dotted)"], x="epoch (full-batch step)",
                 y="accuracy", log_x=log_x, title=title)
    for i, run in enumerate(results["runs"].runs):
        m = run.metrics
        for k, col in enumerate(ys):
            line(fig, m["step"], m[col], f"seed {run.config['seed']}", color=i,
                 dash=None if k == 0 else "dot", show=k == 0)
    paper_markers(fig, list(paper), "paper")
    return fig


register(Claim(
    id="prieto-fig1-perp-adamw",
    paper="Prieto et al. 2025", figure="Fig 1",
    claim="With ⊥AdamW (softmax cross-entropy, no weight decay) the p = 113 MLP generalises: "
          "≈100 % train and test accuracy by epoch 110–120.",
    paper_value=[Paper("train and test accuracy", "≈100 % at epoch 110–120", "repo", REF,
                       points=[(110, 1.0), (120, 1.0)])],
    cpu=Scale({"runs": Job("grokking", "full", PERP, grid={"seed": SEEDS})},
              note="the paper's setting (the repo's ⊥AdamW: β2 0.999, eps 1e-8); random "
                   "split per seed instead of the repo's seed 42", minutes=1.5),
    full=Scale({"runs": Job("grokking", "full", PERP, grid={"seed": SEEDS})},
               note="same as cpu: the paper's setting is cheap"),
    read=_read_perp,
    rule=R.PerSeed(R.All(R.AtMost("epoch_test_0.99", 180, partly=300,
                                  label="first epoch with test accuracy ≥ 0.99"),
                         R.AtLeast("final_test_acc", 0.99, partly=0.9,
                                   label="test accuracy at epoch 300"))),
    plot=lambda res, ours: _plot_curves(res, ("test_acc", "train_acc"),
                                        [(110, 1.0), (120, 1.0)],
                                        "⊥AdamW, p = 113, train 0.4, no weight decay"),
))


# --------------------------------------------------------------------------- Fig 1 StableMax / CE
# The paper's Fig 1 runs (p = 113, train 0.4, lr 0.01, β2 0.999, 80k epochs) take ≈ 25 min per
# model on 2 idle CPU cores; the cpu scale uses the chapter's quick setting instead (p = 59,
# width 128, train 0.8, 1,300 epochs), where StableMax groks within the budget.
FIG1_CPU = dict(loss_dtype="float64", weight_decay=0.0, beta2=0.99, train_frac=0.8, steps=1300,
                log_every=50)
FIG1_FULL = dict(loss_dtype="float64", weight_decay=0.0, train_frac=0.4, steps=80000,
                 log_every=1000)
FIG1_NOTE = ("p = 59, width 128, train 0.8, β2 0.99, 1,300 epochs (the paper: p = 113, width "
             "200, train 0.4, 80,000 epochs): a smaller task that groks within the cpu budget; "
             "three seeds")
FIG1_CPU_JOB = Job("grokking", "quick", FIG1_CPU,
                   grid={"loss": ["softmax", "stablemax"], "seed": [0, 1, 2]})
FIG1_FULL_JOBS = {"runs": Job("grokking", "full", {**FIG1_FULL, "loss": "stablemax",
                                                   "beta2": 0.999}, grid={"seed": [0, 1, 2]}),
                  "ce": Job("grokking", "full", {**FIG1_FULL, "loss": "softmax"},
                            grid={"seed": [0, 1, 2]})}


def _runs_with(results, **match):
    runs = [r for name in ("runs", "ce") if name in results for r in results[name].runs]
    return [r for r in runs if all(r.config[k] == v for k, v in match.items())]


def _read_stablemax(results):
    rows = []
    for run in _runs_with(results, loss="stablemax"):
        m, s = run.metrics, run.summary
        tr, te = s["step_train_acc_0.9"], s["step_test_acc_0.9"]
        rows.append({"seed": run.config["seed"], "final_test_acc": s["final_test_acc"],
                     "epoch_train_0.9": tr, "epoch_test_0.9": te,
                     "delay_ratio": None if tr is None or te is None else te / max(tr, 1)})
    return {"per_seed": sorted(rows, key=lambda d: d["seed"])}


def _read_ce64(results):
    rows = [{"seed": r.config["seed"], "best_test_acc": r.summary["best_test_acc"],
             "final_test_acc": r.summary["final_test_acc"],
             "final_train_acc": r.summary["final_train_acc"]}
            for r in _runs_with(results, loss="softmax")]
    return {"per_seed": sorted(rows, key=lambda d: d["seed"])}


def _plot_fig1(results, ours, loss, paper):
    fig = panels(["test accuracy (solid), train accuracy (dotted)"], x="epoch",
                 y="accuracy", log_x=True)
    for i, run in enumerate(_runs_with(results, loss=loss)):
        m = run.metrics[run.metrics["step"] > 0]
        line(fig, m["step"], m["test_acc"], f"seed {run.config['seed']}", color=i)
        line(fig, m["step"], m["train_acc"], f"seed {run.config['seed']}", color=i, dash="dot",
             show=False)
    paper_markers(fig, paper, "paper (p = 113, train 0.4)")
    return fig


STABLEMAX_PAPER = [(30000, 0.29), (40000, 0.73), (50000, 0.94), (60000, 0.98), (80000, 0.98)]
register(Claim(
    id="prieto-fig1-stablemax",
    paper="Prieto et al. 2025", figure="Fig 1",
    claim="With StableMax cross-entropy (float64) and no weight decay the MLP groks: train "
          "accuracy reaches 100 % early and test accuracy follows much later, ≈98 % from "
          "epoch 60k.",
    paper_value=[Paper("test accuracy", "≈29 % (30k), 73 % (40k), 94 % (50k), ≈98 % (≥ 60k); "
                       "train 100 % by 5k", "repo", REF, points=STABLEMAX_PAPER)],
    cpu=Scale({"runs": FIG1_CPU_JOB}, note=FIG1_NOTE, minutes=4),
    full=Scale(FIG1_FULL_JOBS, note="the paper's setting (repo: β2 0.999 for StableMax), "
                                    "three seeds", needs_gpu=True, minutes=6),
    read=_read_stablemax,
    rule=R.PerSeed(R.All(R.AtLeast("final_test_acc", 0.95, partly=0.8,
                                   label="final test accuracy"),
                         R.AtLeast("delay_ratio", 2.0,
                                   label="epoch of test ≥ 0.9 / epoch of train ≥ 0.9"))),
    plot=lambda res, ours: _plot_fig1(res, ours, "stablemax", STABLEMAX_PAPER),
))

register(Claim(
    id="prieto-fig1-ce-float64",
    paper="Prieto et al. 2025", figure="Fig 1",
    claim="With ordinary softmax cross-entropy, even computed in float64, and no weight decay "
          "the MLP memorises the training set and its test accuracy stays ≈0 %.",
    paper_value=[Paper("test accuracy", "≈0 % through 80k epochs", "repo", REF,
                       points=[(10000, 0.0), (80000, 0.0)])],
    cpu=Scale({"runs": FIG1_CPU_JOB}, note=FIG1_NOTE + "; the softmax runs of "
              "prieto-fig1-stablemax", minutes=0.2),
    full=Scale(FIG1_FULL_JOBS, note="the paper's setting, three seeds", needs_gpu=True,
               minutes=0.5),
    read=_read_ce64,
    rule=R.PerSeed(R.All(R.AtLeast("final_train_acc", 0.99, label="final train accuracy"),
                         R.AtMost("best_test_acc", 0.05, partly=0.2,
                                  label="best test accuracy"), required=[0])),
    plot=lambda res, ours: _plot_fig1(res, ours, "softmax", [(10000, 0.0), (80000, 0.0)]),
))


# --------------------------------------------------------------------------- Fig 2 precision
FIG2_FRACS = {0.7: (0.48, 0.67, 0.90), 0.6: (0.15, 0.30, 0.55), 0.4: (0.0, 0.0, 0.0)}
DTYPES = ["float16", "float32", "float64"]
FIG2_FULL = dict(optimizer="adamw", weight_decay=0.0, lr=5e-4, steps=20000, log_every=100)


def _fig2_full_jobs():
    # repo: eps 1e-30 for train 0.4, the default 1e-25 for 0.6 and 0.7
    return {"runs": Job("grokking", "full", FIG2_FULL,
                        configs=[dict(train_frac=f, loss_dtype=d, eps=1e-30 if f == 0.4 else 1e-25)
                                 for f in FIG2_FRACS for d in DTYPES])}


def _read_fig2(results):
    out = {}
    for run in results["runs"].runs:
        c = run.config
        key = f"{c['loss_dtype'].replace('float', 'fp')}_train{c['train_frac']:g}"
        m = run.metrics
        # the plateau: mean test accuracy over the last 10 % of the run
        tail = m[m["step"] >= 0.9 * c["steps"]]
        out[f"plateau_{key}"] = float(tail["test_acc"].mean())
    for f, vals in FIG2_FRACS.items():
        for d, v in zip(DTYPES, vals):
            k = f"plateau_{d.replace('float', 'fp')}_train{f:g}"
            if k in out:
                out[f"{k}_minus_paper"] = out[k] - v
    return out


def _plot_fig2(results, ours):
    fig = panels([f"train fraction {f:g}" for f in FIG2_FRACS], x="epoch", y="test accuracy")
    for run in results["runs"].runs:
        c = run.config
        col = list(FIG2_FRACS).index(c["train_frac"]) + 1
        m = run.metrics
        line(fig, m["step"], m["test_acc"], c["loss_dtype"], col=col,
             color=DTYPES.index(c["loss_dtype"]), show=col == 1)
    for k, (f, vals) in enumerate(FIG2_FRACS.items()):
        paper_markers(fig, [(20000, v) for v in vals], "paper plateaus (fp16/32/64)",
                      col=k + 1, show=k == 0)
    return fig


register(Claim(
    id="prieto-fig2-precision",
    paper="Prieto et al. 2025", figure="Fig 2",
    claim="Without weight decay the test-accuracy plateau is set by the loss's floating-point "
          "precision: at train fraction 0.7 it is ordered fp16 < fp32 < fp64 (≈48 / 67 / "
          "88–92 %), lower at 0.6 (≈15 / 30 / 55 %) and ≈0 at 0.4.",
    paper_value=[Paper("test plateau fp16 / fp32 / fp64, train 0.7", "≈48 / 67 / 88–92 %",
                       "repo", REF),
                 Paper("same, train 0.6", "≈15 / 30 / 55 %", "repo", REF),
                 Paper("same, train 0.4", "≈0", "repo", REF),
                 Paper("final test accuracy, train 0.7 (re-run)", "37 / 58 / 86 %",
                       "re-run GPU", REF)],
    cpu=Scale(not_run="the paper's setting is 9 models × 20,000 full-batch epochs at p = 113 "
                      "(≈ 20–60 min per train fraction on 2 CPU cores, "
                      "reference/performance.md); no smaller setting was validated to place "
                      "the plateaus"),
    full=Scale(_fig2_full_jobs(), note="the paper's setting (one seed, as in the paper)",
               needs_gpu=True, minutes=4),
    read=_read_fig2,
    rule=R.All(
        R.Ordered(["plateau_fp16_train0.7", "plateau_fp32_train0.7", "plateau_fp64_train0.7"],
                  labels=["plateau fp16 (train 0.7)", "fp32", "fp64"]),
        R.Ordered(["plateau_fp16_train0.6", "plateau_fp32_train0.6", "plateau_fp64_train0.6"],
                  labels=["plateau fp16 (train 0.6)", "fp32", "fp64"]),
        *(R.Near(f"plateau_{d.replace('float', 'fp')}_train0.7_minus_paper", 0.0, 0.12,
                 partly=0.25, label=f"{d} plateau at train 0.7 minus the paper's")
          for d in DTYPES),
        R.AtMost("plateau_fp64_train0.4", 0.05, partly=0.15,
                 label="fp64 plateau at train 0.4"),
        required=[0]),
    plot=_plot_fig2,
))


def _read_sc_first(results):
    rows = {}
    for run in results["runs"].runs:
        c = run.config
        hit = first_step(run.metrics, "sc_fraction", 0.5)
        d = rows.setdefault(c["seed"], {"seed": c["seed"]})
        # never within the run: later than any logged step
        d[f"epoch_sc_0.5_{c['loss_dtype'].replace('float', 'fp')}"] = (
            float("inf") if hit is None else hit)
        d[f"peak_sc_{c['loss_dtype'].replace('float', 'fp')}"] = run.summary["peak_sc_fraction"]
    return {"per_seed": sorted(rows.values(), key=lambda d: d["seed"])}


def _plot_sc(results, ours, paper=()):
    fig = panels(["Softmax Collapse fraction (train)"], x="epoch", y="SC fraction")
    for run in results["runs"].runs:
        c = run.config
        m = run.metrics
        line(fig, m["step"], m["sc_fraction"], c["loss_dtype"],
             color=DTYPES.index(c["loss_dtype"]))
    paper_markers(fig, list(paper), "paper: 50 % SC (fp16/32/64, train 0.7)")
    return fig


register(Claim(
    id="prieto-fig2-sc-first-fp16",
    paper="Prieto et al. 2025", figure="Fig 2",
    claim="Softmax Collapse sets in first with the float16 loss, then float32, then float64.",
    paper_value=[Paper("epoch of 50 % SC fp16 / fp32 / fp64, train 0.7", "≈2k / 3k / 7k",
                       "repo", REF, points=[(2000, 0.5), (3000, 0.5), (7000, 0.5)])],
    cpu=Scale({"runs": Job("grokking", "quick", dict(optimizer="adamw", weight_decay=0.0,
                                                     steps=400, log_every=20),
                           grid={"loss_dtype": DTYPES, "seed": SEEDS})},
              note="the chapter's quick setting: p = 59, width 128, train 0.4, lr 0.01, 400 "
                   "epochs (the paper: p = 113, train 0.7, lr 5e-4, 20k epochs); five seeds",
              minutes=1.5),
    full=Scale({"runs": Job("grokking", "full", {**FIG2_FULL, "train_frac": 0.7},
                            grid={"loss_dtype": DTYPES, "seed": [0, 1, 2]})},
               note="the paper's train-0.7 runs, three seeds", needs_gpu=True, minutes=3),
    read=_read_sc_first,
    rule=R.PerSeed(R.Ordered(["epoch_sc_0.5_fp16", "epoch_sc_0.5_fp32", "epoch_sc_0.5_fp64"],
                             labels=["epoch of SC ≥ 0.5, fp16", "fp32", "fp64 (inf: never)"])),
    plot=lambda res, ours: _plot_sc(res, ours, [(2000, 0.5), (3000, 0.5), (7000, 0.5)]
                                    if res.scale == "full" else ()),
))


# --------------------------------------------------------------------------- Fig 4 tasks
FIG4_PARITY = dict(operation="parity", parity_k=3, parity_noise=40, parity_samples=2000,
                   train_frac=0.5, loss="stablemax", loss_dtype="float64", beta2=0.999,
                   eps=1e-18, weight_decay=0.0, lr=0.01, steps=20000, log_every=500)
FIG4_MOD_CPU = dict(FIG1_CPU, loss="stablemax")
FIG4_MOD_FULL = dict(loss="stablemax", loss_dtype="float64", beta2=0.999, weight_decay=0.0,
                     train_frac=0.4, lr=0.01, steps=100000, log_every=1000)


def _read_fig4(results):
    out = {}
    for name in ("add", "mul"):
        accs = [r.summary["final_test_acc"] for r in results[name].runs]
        out[f"final_test_acc_{name}"] = min(accs)
        out[f"final_test_acc_{name}_per_seed"] = accs
    return out


def _plot_fig4(results, ours):
    fig = panels(["addition", "product"], x="epoch", y="test accuracy")
    for k, name in enumerate(("add", "mul")):
        for i, r in enumerate(results[name].runs):
            m = r.metrics
            line(fig, m["step"], m["test_acc"], f"seed {r.config['seed']}", col=k + 1,
                 color=i, show=k == 0)
    return fig


register(Claim(
    id="prieto-fig4-tasks",
    paper="Prieto et al. 2025", figure="Fig 4",
    claim="StableMax without weight decay makes the MLP grok other modular tasks too: "
          "addition and product.",
    paper_value=[Paper("epoch of grokking, addition / product", "25k–55k / 35k–75k", "repo",
                       REF)],
    cpu=Scale({"add": Job("grokking", "quick", FIG4_MOD_CPU, grid={"seed": [0, 1]}),
               "mul": Job("grokking", "quick", {**FIG4_MOD_CPU, "operation": "mul"},
                          grid={"seed": [0, 1]})},
              note="p = 59, width 128, train 0.8, 1,300 epochs (the paper: p = 113, train 0.4, "
                   "100k epochs); two seeds", minutes=2.5),
    full=Scale({"add": Job("grokking", "full", FIG4_MOD_FULL, grid={"seed": [0, 1]}),
                "mul": Job("grokking", "full", {**FIG4_MOD_FULL, "operation": "mul"},
                           grid={"seed": [0, 1]})},
               note="the paper's settings, two seeds", needs_gpu=True, minutes=6),
    read=_read_fig4,
    rule=R.All(R.AtLeast("final_test_acc_add", 0.95, partly=0.8,
                         label="final test accuracy, addition (worst seed)"),
               R.AtLeast("final_test_acc_mul", 0.95, partly=0.8,
                         label="final test accuracy, product (worst seed)")),
    plot=_plot_fig4,
))


def _read_parity(results):
    par = results["parity"].runs
    return {"parity_test_acc_5k": min(value_at(r.metrics, "test_acc", 5000) for r in par),
            "parity_per_seed": [{"seed": r.config["seed"],
                                 "test_acc_5k": value_at(r.metrics, "test_acc", 5000),
                                 "final": r.summary["final_test_acc"],
                                 "epochs": r.config["steps"]} for r in par]}


def _plot_parity(results, ours):
    fig = panels(["sparse parity"], x="epoch", y="test accuracy")
    for i, r in enumerate(results["parity"].runs):
        line(fig, r.metrics["step"], r.metrics["test_acc"], f"seed {r.config['seed']}",
             color=i)
    paper_markers(fig, [(5000, 0.82), (20000, 0.99)], "paper")
    return fig


register(Claim(
    id="prieto-fig4-parity",
    paper="Prieto et al. 2025", figure="Fig 4",
    claim="StableMax without weight decay makes the MLP grok sparse parity: 82 % test "
          "accuracy at 5k epochs (≈99 % by 20k).",
    paper_value=[Paper("sparse parity test accuracy", "82 % (5k), ≈99 % (20k)", "repo", REF,
                       points=[(5000, 0.82), (20000, 0.99)])],
    cpu=Scale({"parity": Job("grokking", "full", {**FIG4_PARITY, "steps": 5000},
                             grid={"seed": [0]})},
              note="the paper's setting (k = 3, 40 noise bits, 2,000 samples, train 0.5, eps "
                   "1e-18), stopped at 5,000 epochs, the point the verdict reads (the paper's "
                   "20k epochs are ≈ 28 min on 2 CPU cores, over this scale's 15); one seed, "
                   "as the paper", minutes=7),
    full=Scale({"parity": Job("grokking", "full", {**FIG4_PARITY, "steps": 100000,
                                                   "log_every": 1000}, grid={"seed": [0, 1]})},
               note="the paper's settings (100k epochs), two seeds", needs_gpu=True, minutes=4),
    read=_read_parity,
    rule=R.AtLeast("parity_test_acc_5k", 0.77, partly=0.6,
                   label="test accuracy at epoch 5,000, sparse parity (worst seed; the paper's "
                         "82 % less 5 points)"),
    plot=_plot_parity,
))


# --------------------------------------------------------------------------- Fig 6
FIG6_MLP = dict(train_frac=0.4, weight_decay=0.0, steps=500, log_every=20)
FIG6_SGD = dict(FIG6_MLP, optimizer="perp_sgd", lr=10.0, momentum=0.8, dtype="float64",
                loss="stablemax", loss_dtype="float64")
# AdamW with the repo's defaults (β2 0.99, eps 1e-25); ⊥AdamW with what the repo's ⊥AdamW
# effectively used (β2 0.999, eps 1e-8: its betas bug, reference sheet §6)
FIG6_ADAM = [dict(optimizer="adamw"), dict(optimizer="perp_adamw", beta2=0.999, eps=1e-8)]


def _fig6_adam(seeds):
    return Job("grokking", "full", dict(FIG6_MLP, lr=5e-3),
               configs=[dict(c, seed=s) for s in seeds for c in FIG6_ADAM])


def _read_fig6_mlp(results):
    rows = {}
    for name in ("adam", "sgd"):
        for r in results[name].runs:
            c, m = r.config, r.metrics
            d = rows.setdefault(c["seed"], {"seed": c["seed"]})
            if c["optimizer"] == "adamw":
                d["adamw_best_test"] = r.summary["best_test_acc"]
            elif c["optimizer"] == "perp_adamw":
                d["perp_adamw_epoch_test_0.9"] = first_step(m, "test_acc", 0.9)
                d["perp_adamw_final_test"] = r.summary["final_test_acc"]
            else:
                d["perp_sgd_final_test"] = r.summary["final_test_acc"]
    return {"per_seed": sorted(rows.values(), key=lambda d: d["seed"])}


def _plot_fig6_mlp(results, ours):
    fig = panels(["test accuracy, MLP, no weight decay"], x="epoch", y="test accuracy")
    names = {"adamw": 0, "perp_adamw": 1, "perp_sgd": 2}
    for name in ("adam", "sgd"):
        for r in results[name].runs:
            c, m = r.config, r.metrics
            line(fig, m["step"], m["test_acc"], c["optimizer"].replace("perp_", "⊥"),
                 color=names[c["optimizer"]])
    paper_markers(fig, [(160, 0.88), (220, 0.97)], "paper ⊥AdamW")
    paper_markers(fig, [(400, 0.99)], "paper ⊥SGD", color="#59a14f")
    paper_markers(fig, [(500, 0.0)], "paper AdamW", color="#4e79a7")
    return fig


register(Claim(
    id="prieto-fig6-mlp",
    paper="Prieto et al. 2025", figure="Fig 6 (MLP)",
    claim="Without weight decay, ⊥AdamW and ⊥SGD make the MLP generalise while AdamW does "
          "not: ⊥AdamW 88 % by epoch 160 and 97 % by 220, ⊥SGD ≈99 % by 400, AdamW ≈0.",
    paper_value=[Paper("test accuracy", "AdamW ≈0; ⊥AdamW 88 % (160), 97 % (220); ⊥SGD ≈99 % "
                       "(400)", "repo", REF,
                       points=[(160, 0.88), (220, 0.97), (400, 0.99)])],
    cpu=Scale({"adam": _fig6_adam([0, 1]),
               "sgd": Job("grokking", "full", FIG6_SGD, grid={"seed": [0, 1]})},
              note="the paper's setting (p = 113, train 0.4, 500 epochs; AdamW/⊥AdamW lr 5e-3, "
                   "⊥AdamW with the repo's effective β2 0.999 and eps 1e-8; ⊥SGD lr 10, "
                   "momentum 0.8, float64 model, StableMax float64 loss); two seeds",
              minutes=5),
    full=Scale({"adam": _fig6_adam(SEEDS),
                "sgd": Job("grokking", "full", FIG6_SGD, grid={"seed": SEEDS})},
               note="the paper's setting, five seeds", needs_gpu=True, minutes=2),
    read=_read_fig6_mlp,
    rule=R.PerSeed(R.All(R.AtMost("adamw_best_test", 0.05, partly=0.2,
                                  label="AdamW best test accuracy"),
                         R.AtMost("perp_adamw_epoch_test_0.9", 240, partly=500,
                                  label="⊥AdamW first epoch with test ≥ 0.9"),
                         R.AtLeast("perp_sgd_final_test", 0.95, partly=0.8,
                                   label="⊥SGD test accuracy at epoch 500"))),
    plot=_plot_fig6_mlp,
))

FIG6_TF = dict(model="transformer", width=128, heads=4, d_ff=2048, dropout=0.1, lr=1e-3,
               train_frac=0.4, steps=5000, log_every=100)


def _read_fig6_tf(results):
    rows = {}
    for r in results["runs"].runs:
        c, m = r.config, r.metrics
        d = rows.setdefault(c["seed"], {"seed": c["seed"]})
        if c["optimizer"] == "perp_adamw":
            d["perp_adamw_epoch_test_0.85"] = first_step(m, "test_acc", 0.85)
        elif c["weight_decay"] > 0:
            d["adamw_wd_epoch_test_0.9"] = first_step(m, "test_acc", 0.9)
        else:
            d["adamw_best_test"] = r.summary["best_test_acc"]
    return {"per_seed": sorted(rows.values(), key=lambda d: d["seed"])}


def _plot_fig6_tf(results, ours):
    fig = panels(["test accuracy, 1-layer transformer"], x="epoch", y="test accuracy")
    for i, r in enumerate(results["runs"].runs):
        c, m = r.config, r.metrics
        name = c["optimizer"] + (f", wd {c['weight_decay']:g}" if c["weight_decay"] else "")
        line(fig, m["step"], m["test_acc"], name.replace("perp_", "⊥"), color=i)
    paper_markers(fig, [(400, 0.88), (1200, 0.93)], "paper: ⊥AdamW, AdamW wd 1.5 "
                  "(axis corrected)")
    return fig


register(Claim(
    id="prieto-fig6-transformer",
    paper="Prieto et al. 2025", figure="Fig 6 (transformer)",
    claim="On the one-layer transformer, ⊥AdamW without weight decay generalises sooner "
          "(≈88 % near epoch 400) than AdamW with weight decay 1.5 (≈93 % near 1,200).",
    paper_value=[Paper("test accuracy", "⊥AdamW ≈88 % near 400; AdamW wd 1.5 ≈93 % near "
                       "1,200 (the figure's axis is stretched 2.5×; corrected here)",
                       "repo + derived", REF, points=[(400, 0.88), (1200, 0.93)])],
    cpu=Scale(not_run="the transformer step at p = 113 (5,017 pairs, d_ff 2,048, full batch) "
                      "costs ≈ 36 GFLOP: ≈ 1 h for the three 5k-epoch runs on 2 CPU cores"),
    full=Scale({"runs": Job("grokking", "full", FIG6_TF,
                            configs=[dict(optimizer="perp_adamw", weight_decay=0.0, beta2=0.999,
                                          eps=1e-8),
                                     dict(optimizer="adamw", weight_decay=1.5),
                                     dict(optimizer="adamw", weight_decay=0.0)])},
               note="the paper's setting, one seed (⊥AdamW with the repo's effective β2 0.999, "
                    "eps 1e-8; our split uses all pairs 0..112, the repo's transformer "
                    "1..112)", needs_gpu=True, minutes=4),
    read=_read_fig6_tf,
    rule=R.PerSeed(R.All(
        R.Check("⊥AdamW reaches 85 % before AdamW (wd 1.5) reaches 90 %",
                lambda o: R.HOLDS if (o["perp_adamw_epoch_test_0.85"] is not None and (
                    o["adamw_wd_epoch_test_0.9"] is None
                    or o["perp_adamw_epoch_test_0.85"] < o["adamw_wd_epoch_test_0.9"]))
                else R.FAILS,
                ["perp_adamw_epoch_test_0.85", "adamw_wd_epoch_test_0.9"],
                {"perp_adamw_epoch_test_0.85": 400, "adamw_wd_epoch_test_0.9": 1200},
                {"perp_adamw_epoch_test_0.85": 2000, "adamw_wd_epoch_test_0.9": 1200}),
        R.AtMost("perp_adamw_epoch_test_0.85", 800, partly=2000,
                 label="⊥AdamW first epoch with test ≥ 0.85"),
        R.AtMost("adamw_wd_epoch_test_0.9", 2400, partly=5000,
                 label="AdamW wd 1.5 first epoch with test ≥ 0.9"),
        required=[0])),
    plot=_plot_fig6_tf,
))


# --------------------------------------------------------------------------- Power et al.
POWER = dict(p=97, operation="div", train_frac=0.5, optimizer="adamw", lr=1e-3,
             weight_decay=1.0, beta2=0.98, eps=1e-8, steps=3000, log_every=25)


def _read_power(results):
    def one(run):
        m = run.metrics
        tr, te = first_step(m, "train_acc", 0.99), first_step(m, "test_acc", 0.99)
        return {"epoch_train_0.99": tr, "epoch_test_0.99": te,
                "final_test_acc": float(m["test_acc"].iloc[-1]),
                "delay_ratio": None if tr is None or te is None else te / max(tr, 1)}
    return {"per_seed": per_seed(results["runs"], one)}


register(Claim(
    id="power-delay-weight-decay",
    paper="Power et al. 2022", figure="Fig 1",
    claim="On a ÷ b mod 97 with half the table for training, validation accuracy reaches "
          "≈100 % long after training accuracy does: generalisation comes with a delay of "
          "orders of magnitude in optimisation steps.",
    paper_value=[Paper("delay between train and validation accuracy ≈ 100 %",
                       "orders of magnitude in steps (log-scale Fig 1)", "paper, unverified "
                       "reading of the figure", "Power et al. 2022 Fig 1; reference/grokking.md "
                       "§3 for the setting")],
    cpu=Scale({"runs": Job("grokking", "full", POWER, grid={"seed": [0, 1]})},
              note="the chapter's bias-free MLP with full-batch AdamW (lr 1e-3, β2 0.98, weight "
                   "decay 1) instead of the paper's 2-layer transformer with minibatches of "
                   "512 and 10⁵–10⁶ steps; two seeds", minutes=6),
    full=Scale({"runs": Job("grokking", "full", {**POWER, "steps": 20000, "log_every": 25},
                            grid={"seed": SEEDS})},
               note="the same MLP for 20k steps, five seeds", needs_gpu=True, minutes=3),
    read=_read_power,
    rule=R.PerSeed(R.All(R.AtLeast("final_test_acc", 0.99, partly=0.9,
                                   label="final test accuracy"),
                         R.AtLeast("delay_ratio", 100.0, partly=2.0,
                                   label="epoch of test ≥ 0.99 / epoch of train ≥ 0.99 "
                                         "(two orders of magnitude; partly: still delayed)"),
                         required=[0])),
    plot=lambda res, ours: _plot_curves(res, ("test_acc", "train_acc"), (),
                                        "a ÷ b mod 97, train 0.5, weight decay 1", log_x=True),
))


# --------------------------------------------------------------------------- Nanda et al.
# The cpu scale is the chapter's weight-decay grokking run (p = 59 MLP); each run is trained
# once, its key frequencies read off its final logits, and trained again (identically) with
# the progress measures logged for those frequencies (experiment.progress_run).
NANDA_CPU = dict(optimizer="adamw", weight_decay=2.0, steps=1000, log_every=25)
NANDA_FULL = dict(model="transformer", p=113, train_frac=0.3, width=128, heads=4, d_ff=512,
                  dropout=0.0, optimizer="adamw", lr=1e-3, weight_decay=1.0, beta2=0.98,
                  eps=1e-8, steps=20000, log_every=100)
NANDA_NOTE = ("the chapter's bias-free MLP on a + b mod 59 (train 0.4, AdamW lr 0.01, weight "
              "decay 2, 1,000 epochs) instead of Nanda's 1-layer transformer on p = 113; "
              "three seeds")
NANDA_FULL_NOTE = ("Nanda's setting (p = 113, train 0.3, d 128, 4 heads, d_mlp 512, lr 1e-3, "
                   "wd 1, β2 0.98) on our transformer, which keeps a post-LayerNorm encoder "
                   "layer (Nanda's has no LayerNorm); 20k epochs, one seed")


def _progress_runs(results):
    from .experiment import progress_run
    return [progress_run(r, progress=False, device=results.device)
            for r in results["runs"].runs]


def _read_key_freqs(results):
    rows = []
    for run in _progress_runs(results):
        s = run.summary
        rows.append({"seed": run.config["seed"], "key_freqs": s["key_freqs"],
                     "n_key_freqs": len(s["key_freqs"]), "n_freqs": run.config["p"] // 2,
                     "final_test_acc": s["final_test_acc"],
                     "embedding_key_power": s["final_key_power"]})
    return {"per_seed": sorted(rows, key=lambda d: d["seed"])}


def _read_excluded(results):
    rows = []
    for run in _progress_runs(results):
        m, s = run.metrics, run.summary
        t1 = s.get("end_memorisation")
        row = {"seed": run.config["seed"], "end_memorisation": t1,
               "end_circuit_formation": s.get("end_circuit_formation"),
               "end_clean_up": s.get("end_clean_up")}
        if t1 is not None:
            after = m[m["step"] >= t1]
            ex1, exf = float(after["excluded_loss"].iloc[0]), float(m["excluded_loss"].iloc[-1])
            half = first_step(after, "excluded_loss", ex1 + 0.5 * (exf - ex1)) \
                if exf > ex1 else None
            row.update(excluded_rise=exf - ex1, epoch_excluded_half_rise=half,
                       epoch_test_acc_0_5=first_step(after, "test_acc", 0.5))
        rows.append(row)
    return {"per_seed": sorted(rows, key=lambda d: d["seed"])}


def _plot_progress(results, ours):
    from .plots import progress_figure
    run = _progress_runs(results)[0]
    return progress_figure(run, title=f"Nanda et al.'s progress measures (seed "
                                      f"{run.config['seed']}, key frequencies "
                                      f"{run.config['key_freqs']})")


NANDA_PAPER = [Paper("key frequencies (p = 113)", "5: 14, 35, 41, 42, 52", "paper / "
                     "unverified", REF),
               Paper("phases", "memorisation to 1.4k, circuit formation 1.4k–9.4k, clean-up "
                     "to 13.3k epochs; the excluded loss rises during circuit formation",
                     "paper / unverified", REF)]
register(Claim(
    id="nanda-key-frequencies",
    paper="Nanda et al. 2023", figure="key frequencies",
    claim="A network that has grokked modular addition computes it with a handful of key "
          "frequencies: a few Fourier frequencies carry nearly all of its logits' power.",
    paper_value=NANDA_PAPER[:1],
    cpu=Scale({"runs": Job("grokking", "quick", NANDA_CPU, grid={"seed": [0, 1, 2]})},
              note=NANDA_NOTE, minutes=2),
    full=Scale({"runs": Job("grokking", "full", NANDA_FULL)}, note=NANDA_FULL_NOTE,
               needs_gpu=True, minutes=6),
    read=_read_key_freqs,
    rule=R.PerSeed(R.All(R.AtLeast("final_test_acc", 0.95, label="final test accuracy"),
                         R.AtMost("n_key_freqs", 8, partly=15,
                                  label="frequencies holding 99 % of the logits' power"),
                         required=[0])),
    plot=_plot_progress,
))

register(Claim(
    id="nanda-excluded-loss",
    paper="Nanda et al. 2023", figure="progress measures",
    claim="During circuit formation the excluded loss (the training loss with the key "
          "frequencies removed from the logits) rises, before the test loss falls.",
    paper_value=NANDA_PAPER[1:],
    cpu=Scale({"runs": Job("grokking", "quick", NANDA_CPU, grid={"seed": [0, 1, 2]})},
              note=NANDA_NOTE + "; the runs of nanda-key-frequencies", minutes=0.5),
    full=Scale({"runs": Job("grokking", "full", NANDA_FULL)}, note=NANDA_FULL_NOTE,
               needs_gpu=True, minutes=0.5),
    read=_read_excluded,
    rule=R.PerSeed(R.All(
        R.AtLeast("excluded_rise", 0.5, label="rise of the excluded loss after memorisation "
                                               "(nats)"),
        R.Check("the excluded loss makes half its rise before test accuracy reaches 0.5",
                lambda o: R.HOLDS if (o["epoch_excluded_half_rise"] is not None
                                      and o["epoch_test_acc_0_5"] is not None
                                      and o["epoch_excluded_half_rise"]
                                      < o["epoch_test_acc_0_5"]) else R.FAILS,
                ["epoch_excluded_half_rise", "epoch_test_acc_0_5"],
                {"epoch_excluded_half_rise": 300, "epoch_test_acc_0_5": 500},
                {"epoch_excluded_half_rise": 700, "epoch_test_acc_0_5": 500}),
        required=[0])),
    plot=_plot_progress,
))


# --------------------------------------------------------------------------- Tian 2025 (Li₂)
# The author's code (facebookresearch/luckmatters, cogo/config/dyn_madd.yaml) marks the critical
# train fraction at critical_ratio_multiplier · ln M / M with multiplier 2.7482; its reference
# run is M = 127, train 0.3, K = 512, Adam lr 1e-3, weight decay 1e-4, 3,000 epochs.
from . import li2 as _li2  # noqa: E402

LI2_MULTIPLES = (0.5, 1.0, 1.5, 2.0, 3.0)


def _li2_job(preset: str, seeds) -> Job:
    configs, _ = _li2.boundary_configs(preset, multiples=LI2_MULTIPLES, seeds=seeds)
    spec = _li2.BOUNDARY[preset]["overrides"]
    return Job("li2", preset, spec, configs=[
        {"M": c.M, "train_frac": c.train_frac, "seed": c.seed} for c in configs])


def _read_li2_boundary(results):
    table = results["runs"].summary
    rows = []
    for seed, g in table.groupby("seed"):
        g = g.assign(multiple=g["train_frac"] / g["M"].map(_li2.critical_fraction))
        top = g.loc[g.groupby("M")["multiple"].idxmax()]        # the largest multiple per M
        low = g[g["multiple"] <= 0.55]
        fit = _li2.fit_boundary(g)
        rows.append({"seed": int(seed),
                     "top_multiple_min": float(top["multiple"].min()),
                     "top_test_acc_min": float(top["final_test_acc"].min()),
                     "low_test_acc_max": float(low["final_test_acc"].max()),
                     "low_train_acc_min": float(low["final_train_acc"].min()),
                     "fitted_constant": fit["fitted_constant"]})
    return {"per_seed": rows}


def _plot_li2_boundary(results, ours):
    from .plots import grok_map_figure
    table = results["runs"].summary
    consts = [s["fitted_constant"] for s in ours["per_seed"] if s["fitted_constant"]]
    return grok_map_figure(table, fitted_constant=sum(consts) / len(consts) if consts else None,
                           title="Li₂: final test accuracy over M × train fraction (mean over "
                                 "seeds); solid: 2.7482·ln M / M")


register(Claim(
    id="tian-li2-critical-fraction",
    paper="Tian 2025", figure="scaling law (critical train fraction)",
    claim="Group arithmetic mod M with a 2-layer quadratic network: well above the critical "
          "train fraction 2.7482·ln M / M (n ≈ 2.75·M ln M pairs) the network learns features "
          "that generalise; well below it, it memorises.",
    paper_value=[Paper("critical train fraction", "2.7482·ln M / M", "repo",
                       "reference/grokking.md §2 (Tian boundary); luckmatters "
                       "cogo/config/dyn_madd.yaml")],
    cpu=Scale({"runs": _li2_job("quick", SEEDS)},
              note="M ∈ {23, 31, 41} (the paper: up to 127), K = 128 (512), lr 0.01 (1e-3), "
                   "500 full-batch Adam steps (3,000); train fractions 0.5–3× critical (capped "
                   "at 0.9: 2.4× for M = 23); one batched model per M, five seeds", minutes=6),
    full=Scale({"runs": _li2_job("full", SEEDS)},
               note="M ∈ {47, 71, 97, 127}, K = 512, lr 1e-3, 10,000 steps, five seeds",
               needs_gpu=True, minutes=20),
    read=_read_li2_boundary,
    rule=R.PerSeed(R.All(
        R.AtLeast("top_test_acc_min", 0.95, partly=0.8,
                  label="lowest final test accuracy at the largest multiple (≥ 2.4×) of any M"),
        R.AtMost("low_test_acc_max", 0.05, partly=0.2,
                 label="highest final test accuracy at 0.5× critical"),
        R.AtLeast("low_train_acc_min", 0.99, label="lowest final train accuracy at 0.5×"),
        R.Near("fitted_constant", 2.7482, 0.5, partly=2.0,
               label="fitted c of the test-accuracy-0.5 crossing, c·ln M / M"))),
    plot=_plot_li2_boundary,
))


def _read_li2_stages(results):
    from .plots import stage_steps

    def one(run):
        m = run.metrics
        marks = stage_steps(m)
        base = _li2.random_concentration(run.config["M"])
        g = marks["G_F structured"]
        final = float(m["fourier_conc"].iloc[-1])
        at_g = float(m.loc[m["step"] == g, "fourier_conc"].iloc[0]) if g is not None else None
        return {"gf_structured_step": g, "memorised_step": marks["memorised"],
                "test_0.9_step": marks["test ≥ 0.9"], "final_fourier_conc": final,
                "share_of_climb_at_gf": None if at_g is None else (at_g - base) / (final - base)}
    return {"per_seed": per_seed(results["runs"], one)}


def _plot_li2_stages(results, ours):
    fig = panels(["accuracy", "G_F alignment", "Fourier concentration"], x="step")
    for i, run in enumerate(results["runs"].runs):
        m, name = run.metrics, f"seed {run.config['seed']}"
        line(fig, m["step"], m["test_acc"], name, col=1, color=i)
        line(fig, m["step"], m["gf_alignment"], name, col=2, color=i, show=False)
        line(fig, m["step"], m["fourier_conc"], name, col=3, color=i, show=False)
    return fig


register(Claim(
    id="tian-li2-stages",
    paper="Tian 2025", figure="Li₂ stages (abstract)",
    claim="Lazy learning first gives the back-propagated gradient G_F its label structure, "
          "then the hidden nodes learn features (each node's weights concentrate on one "
          "frequency), and generalisation follows.",
    paper_value=[Paper("stage order", "lazy learning → independent feature learning → "
                       "interactive feature learning", "paper", "abstract")],
    cpu=Scale({"runs": Job("li2", "quick", _li2.scenario("stages", "quick"),
                           grid={"seed": SEEDS})},
              note="M = 23 (the paper's run: 127), K = 128 (512), lr 3e-3 (1e-3), twice the "
                   "critical fraction, 1,200 steps; G_F's structure measured as "
                   "cos(G_F, ỸỸᵀF) (our measure, derived for a ridge-fitted top layer)",
              minutes=2),
    full=Scale({"runs": Job("li2", "full", _li2.scenario("stages", "full"),
                            grid={"seed": SEEDS})},
               note="the author's reference run (M = 127, train 0.3, K = 512), five seeds",
               needs_gpu=True, minutes=5),
    read=_read_li2_stages,
    rule=R.PerSeed(R.All(
        R.Ordered(["gf_structured_step", "memorised_step", "test_0.9_step"],
                  labels=["step G_F structured", "step memorised", "step test ≥ 0.9"]),
        R.AtMost("share_of_climb_at_gf", 0.25, partly=0.5,
                 label="share of the Fourier-concentration climb done when G_F is structured"),
        R.AtLeast("final_fourier_conc", 0.6, label="final Fourier concentration"))),
    plot=_plot_li2_stages,
))


# --------------------------------------------------------------------------- Xu et al. 2024 (XOR)
# Xu et al. released no code; the setting is the reference sheet's working setting from an
# independent re-run: n = m = 200, flip rate 0.1, init σ 1e-6, lr 16n/p, p = 1e5, ‖μ‖ = p^0.3.
XOR_PAPER = [Paper("after one GD step", "100 % training accuracy (flipped labels fitted), "
                   "near-random test accuracy", "paper", "abstract"),
             Paper("p = 1e4, ‖μ‖ = p^0.3, step 1", "all train fit, test 0.48", "re-run GPU", REF)]


def _read_xor(results):
    def one(run):
        s = run.summary
        return {k: s[k] for k in ("train_acc_step1", "flipped_fit_step1", "test_acc_step1",
                                  "final_test_acc", "final_flipped_fit",
                                  "min_flipped_fit_after_step1", "final_test_acc_noisy")}
    return {"per_seed": per_seed(results["runs"], one)}


def _plot_xor(results, ours, points=()):
    fig = panels(["test accuracy (clean labels)", "flipped training labels fitted"],
                 x=["GD step", "GD step"], log_x=True)
    for i, run in enumerate(results["runs"].runs):
        m = run.metrics[run.metrics["step"] >= 1]
        name = f"seed {run.config['seed']}"
        line(fig, m["step"], m["test_acc"], name, col=1, color=i)
        line(fig, m["step"], m["flipped_fit"], name, col=2, color=i, show=False)
    return paper_markers(fig, list(points), "re-run (sheet)")


XOR_CPU = Scale({"runs": Job("xor-grokking", "quick", {}, grid={"seed": SEEDS})},
                note="the sheet's working setting at p = 1e5, ‖μ‖ = p^0.3, 1,000 GD steps (full: "
                     "10,000); each label flipped independently with probability 0.1; five "
                     "seeds in one batched model", minutes=1)
XOR_FULL = Scale({"runs": Job("xor-grokking", "full", {}, grid={"seed": SEEDS})},
                 note="10,000 GD steps", minutes=5)

register(Claim(
    id="xu-xor-first-step",
    paper="Xu, Wang, Frei, Vardi & Hu 2024", figure="main theorem, first step (abstract)",
    claim="After the first GD step the two-layer ReLU network fits every training label, the "
          "flipped ones included, while its test accuracy is near random.",
    paper_value=XOR_PAPER,
    cpu=XOR_CPU, full=XOR_FULL, read=_read_xor,
    rule=R.PerSeed(R.All(
        R.AtLeast("train_acc_step1", 1.0, label="train accuracy after step 1"),
        R.AtLeast("flipped_fit_step1", 1.0, label="flipped labels fitted after step 1"),
        R.Near("test_acc_step1", 0.5, 0.05, partly=0.1,
               label="clean test accuracy after step 1"))),
    plot=lambda res, ours: _plot_xor(res, ours, [(1, 0.48)]),
))

register(Claim(
    id="xu-xor-later-grokking",
    paper="Xu, Wang, Frei, Vardi & Hu 2024", figure="main theorem, later steps (abstract)",
    claim="At a later step the network's test accuracy is near-optimal while it still fits "
          "the flipped training labels (benign overfitting after harmful overfitting).",
    paper_value=[Paper("later step", "near-optimal test accuracy, flipped labels still fitted",
                       "paper", "abstract"),
                 Paper("p = 1e5, ‖μ‖ = 31.6, clean test accuracy", "0.84 (step 3), 0.96 (30), "
                       "1.00 (10k)", "re-run GPU", REF, points=[(3, 0.84), (30, 0.96),
                                                                 (10000, 1.0)])],
    cpu=XOR_CPU, full=XOR_FULL, read=_read_xor,
    rule=R.PerSeed(R.All(
        R.AtLeast("min_flipped_fit_after_step1", 1.0, partly=0.9,
                  label="lowest share of flipped labels fitted after step 1"),
        R.AtLeast("final_test_acc", 0.95, partly=0.75,
                  label="final clean test accuracy (optimal ≈ 1)"))),
    plot=lambda res, ours: _plot_xor(res, ours, [(3, 0.84), (30, 0.96), (10000, 1.0)]),
))
