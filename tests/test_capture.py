"""The capturable step path (``core/capture.py``): the same numbers as the eager step path
it replaced, the ``capture`` and ``tf32`` switches, and — where a CUDA GPU is present —
captured CUDA graphs equal to eager CUDA steps.

Tolerances, fixed before the runs: the recorded reference (``tests/data/step_reference.csv``,
the eager paths before they became capturable, on one CPU thread; see
``tests/data/make_step_reference.py``) is reproduced to rtol 1e-5, atol 1e-7 on
every logged metric over 60 steps (differences allowed: float rounding of a reordered
operation; eps = 1e-25 Adam amplifies those, so the horizon is short). A captured CUDA graph
replays the eager step's kernels: rtol 1e-6, atol 1e-7.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from workbench.core.capture import StepGraph, capture_active, tf32_matmuls
from workbench.core.config import ConfigError
from workbench.core.store import RunStore
from workbench.core.train import train_loop

from step_reference_cases import CASES

REFERENCE = Path(__file__).parent / "data" / "step_reference.csv"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _metrics(exp: str, configs, device="cpu") -> pd.DataFrame:
    trainer = wb.get(exp).make_trainer(configs, torch.device(device))
    rows = train_loop(trainer, steps=configs[0].steps, log_every=configs[0].log_every,
                      progress=False)
    return pd.DataFrame(rows).select_dtypes(include="number")


@pytest.mark.parametrize("case", ["perp_adamw", "stablemax_fp64", "sweep16", "nc_digits",
                                  "nc_ufm", "vae", "transformer"])
def test_step_path_reproduces_the_recorded_eager_path(case):
    """⊥AdamW, StableMax fp64 and a 16-config grokking sweep (and two neural-collapse runs:
    minibatches, lr drops, BatchNorm, imbalance; and three categorical VAEs: τ annealed,
    REINFORCE's baseline) give the recorded numbers."""
    exp, configs = CASES()[case]
    ref = pd.read_csv(REFERENCE)
    ref = ref[ref["case"] == case].drop(columns="case").dropna(axis=1, how="all")
    got = _metrics(exp, configs)
    assert list(got["step"]) == list(ref["step"]) and len(got) > 0
    cols = [c for c in ref.columns if c not in ("step", "instance")]
    assert set(cols) <= set(got.columns)
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float),
                               rtol=1e-5, atol=1e-7, equal_nan=True)
    # the reference trained: the metrics moved (a vacuous comparison of step-0 rows would not)
    first, last = ref[ref["step"] == 0], ref[ref["step"] == ref["step"].max()]
    col = "train_loss" if "train_loss" in ref else "train_nelbo"
    assert not np.allclose(first[col].to_numpy(), last[col].to_numpy())


def test_capture_is_not_part_of_the_run_id_but_tf32_is():
    E = wb.get("grokking")
    store = RunStore("/nonexistent")
    cfg = E.config("quick")
    assert cfg.capture is True and cfg.tf32 is False          # defaults
    assert store.run_id("grokking", cfg) == store.run_id("grokking", cfg.replace(capture=False))
    assert store.run_id("grokking", cfg) != store.run_id("grokking", cfg.replace(tf32=True))
    assert "capture" in cfg.to_dict() and "capture" not in cfg.canonical_json()
    for name in ("neural-collapse", "gumbel-vae"):
        c = wb.get(name).config("quick")
        assert c.capture is True and c.tf32 is False
        assert store.run_id(name, c) == store.run_id(name, c.replace(capture=False))


def test_tf32_is_refused_where_precision_is_the_subject(store):
    E = wb.get("grokking")
    E.config("quick", tf32=True)                              # fp32 model and loss: allowed
    for bad in (dict(loss_dtype="float64"), dict(loss_dtype="float16"),
                dict(loss="stablemax", loss_dtype="float64"), dict(dtype="float64")):
        with pytest.raises(ConfigError, match=r"^tf32: refused where precision is the subject"):
            E.config("quick", tf32=True, **bad)
    # a loss-precision comparison cannot be swept with TF32 on
    with pytest.raises(ConfigError, match=r"^tf32"):
        wb.sweep(E, grid={"loss_dtype": ["float16", "float32", "float64"]}, store=store,
                 preset="quick", tf32=True, progress=False)


def test_tf32_switch_restores_the_previous_setting():
    m = torch.backends.cuda.matmul
    attr = "fp32_precision" if hasattr(m, "fp32_precision") else "allow_tf32"
    before = getattr(m, attr)
    with tf32_matmuls(True):
        assert getattr(m, attr) in ("tf32", True)
    assert getattr(m, attr) == before
    with tf32_matmuls(False):
        assert getattr(m, attr) == before


def test_step_graph_runs_the_function_eagerly_off_cuda():
    calls = []
    g = StepGraph(lambda: calls.append(1), torch.device("cpu"), enabled=True)
    for _ in range(5):
        g()
    assert len(calls) == 5 and not g.captured
    assert not capture_active(torch.device("cpu"), True)
    assert capture_active(torch.device("cuda"), True) and not capture_active("cuda", False)


# ------------------------------------------------------------------ on a CUDA GPU
def _cuda_cases():
    G, N, V = (wb.get(n) for n in ("grokking", "neural-collapse", "gumbel-vae"))
    g = G.config("quick", steps=60, log_every=20)
    return {
        "grokking_sweep": ("grokking", [g.replace(seed=s, optimizer=o, loss=l, loss_dtype=d)
                                        for s, (o, l, d) in enumerate(
                                            [("adamw", "softmax", "float32"),
                                             ("perp_adamw", "softmax", "float32"),
                                             ("adamw", "stablemax", "float64")])]),
        "transformer": ("grokking", [g.replace(model="transformer", p=23, width=32, d_ff=64,
                                               seed=s) for s in (0, 1)]),
        "nc_digits": ("neural-collapse", [N.config("quick", steps=60, log_every=20)]),
        "vae": ("gumbel-vae", [V.config("quick", steps=60, log_every=20, estimator=e, seed=i)
                               for i, e in enumerate(("gs", "st", "reinforce"))]),
    }


@CUDA
@pytest.mark.parametrize("case", ["grokking_sweep", "transformer", "nc_digits", "vae"])
def test_captured_cuda_graph_equals_eager_cuda_steps(case):
    exp, configs = _cuda_cases()[case]
    E = wb.get(exp)
    trainer = E.make_trainer(configs, torch.device("cuda"))
    rows = train_loop(trainer, steps=configs[0].steps, log_every=configs[0].log_every,
                      progress=False)
    captured = pd.DataFrame(rows).select_dtypes(include="number")
    graphs = trainer._graphs() if hasattr(trainer, "_graphs") else [trainer._step]
    assert all(g.capture and g.captured for g in graphs), "the step was never captured"
    eager = _metrics(exp, [c.replace(capture=False) for c in configs], "cuda")
    np.testing.assert_allclose(captured.to_numpy(float), eager.to_numpy(float), rtol=1e-6,
                               atol=1e-7, equal_nan=True)


@CUDA
def test_captured_run_resumes_with_the_numbers_of_an_uninterrupted_run(tmp_path):
    """A checkpoint replaces the optimizer's state tensors: the graph is captured again."""
    import threading
    from workbench.core.train import StopTraining
    E = wb.get("grokking")
    cfg = E.config("quick", steps=80, log_every=20)
    full = wb.run(E, cfg, store=tmp_path / "a", device="cuda", progress=False)
    stop = threading.Event()
    trainer_log = []

    def on_log(frame):
        trainer_log.append(len(frame))
        if len(frame) >= 2:
            stop.set()

    with pytest.raises(StopTraining):
        wb.run(E, cfg, store=tmp_path / "b", device="cuda", progress=False, on_log=on_log,
               stop=stop)
    resumed = wb.run(E, cfg, store=tmp_path / "b", device="cuda", progress=False)
    cols = ["train_loss", "test_loss", "train_acc", "test_acc", "weight_norm"]
    np.testing.assert_allclose(resumed.metrics[cols].to_numpy(), full.metrics[cols].to_numpy(),
                               rtol=1e-6, atol=1e-7)
    assert math.isfinite(resumed.summary["final_test_acc"])
