"""The short runs whose metrics ``tests/data/step_reference.csv`` records (see
``tests/data/make_step_reference.py``) and ``tests/test_capture.py`` re-runs."""

from __future__ import annotations

import itertools

import workbench as wb

SHORT = dict(steps=60, log_every=20)


def CASES() -> dict[str, tuple[str, list]]:
    G = wb.get("grokking")
    base = G.config("quick", weight_decay=0.0, **SHORT)   # as recorded (the preset now has 2)
    sweep = [base.replace(lr=lr, weight_decay=wd, optimizer=opt, seed=seed)
             for lr, wd, opt, seed in itertools.product((0.003, 0.01), (0.0, 1.0),
                                                        ("adamw", "perp_adamw"), (0, 1))]
    N = wb.get("neural-collapse")
    V = wb.get("gumbel-vae")
    nc = N.config("quick", steps=60, log_every=20)
    return {
        "perp_adamw": ("grokking", [base.replace(optimizer="perp_adamw")]),
        "stablemax_fp64": ("grokking", [base.replace(loss="stablemax", loss_dtype="float64")]),
        "sweep16": ("grokking", sweep),
        # lr drops at 50 % and 75 % of the 60 steps, minibatches across epoch boundaries
        "nc_digits": ("neural-collapse", [nc, nc.replace(seed=1, weight_decay=1e-3,
                                                         batchnorm=False, imbalance=2.0)]),
        "nc_ufm": ("neural-collapse", [N.config("quick", data="ufm", **SHORT)]),
        # dropout masks drawn from (seed, step): the step count reaches the model as a tensor
        "transformer": ("grokking", [G.config("quick", model="transformer", p=23, width=32,
                                              d_ff=64, dropout=0.1, weight_decay=0.0,
                                              steps=20, log_every=10, seed=s)
                                     for s in (0, 1)]),
        # τ annealed every step (exp schedule), REINFORCE's baseline starts at step 0
        "vae": ("gumbel-vae", [V.config("quick", steps=60, log_every=20, anneal_every=1,
                                        estimator=e, seed=i)
                               for i, e in enumerate(("gs", "st", "reinforce"))]),
    }
