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
    fig = panels(["accuracy"], x="epoch (full-batch step)", y="accuracy", log_x=log_x,
                 title=title)
    for i, run in enumerate(results["runs"].runs):
        m = run.metrics
        for k, col in enumerate(ys):
            line(fig, m["step"], m[col], f"{col.replace('_acc', '')} (seed {run.config['seed']})",
                 color=i, dash=None if k == 0 else "dot")
    paper_markers(fig, list(paper), "paper")
    return fig


register(Claim(
    id="prieto-fig1-perp-adamw",
    paper="Prieto et al. 2025", figure="Fig 1",
    claim="⊥AdamW (no weight decay, softmax cross-entropy) makes the p = 113 MLP generalise "
          "without delay: ≈100 % train and test accuracy by epoch 110–120.",
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
