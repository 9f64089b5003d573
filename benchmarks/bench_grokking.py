"""Grokking step throughput and the Prieto Fig 1 StableMax run, against the GPU targets.

    python benchmarks/bench_grokking.py                          # every available device
    python benchmarks/bench_grokking.py --device cuda --fig1 --out DIR
    python benchmarks/bench_grokking.py --device cpu --tiny --fig1 --out DIR   # smoke test

Config: the paper's MLP reference (p = 113, 226→200→200→113 without biases, train 0.4 =
5,107 rows, full batch, AdamW β = (0.9, 0.99), eps 1e-25). Cases:

- "one run": one model, CE fp32 loss and StableMax fp64 loss: the trainer's step loop (on
  CUDA the step replays a captured CUDA graph; no host syncs inside; one sync at the end),
  in steps/s;
- "sweep of 32 configs" (8 learning rates × 4 weight decays, one batched model), exact fp32
  and with TF32 matmuls, in model-steps/s;
- with ``--fig1``: the StableMax run of Prieto et al. Fig 1 (lr 0.01, β2 0.999, StableMax
  loss in float64, 80k epochs, logged every 1,000) as a whole ``workbench run`` process —
  start-up, training, logging and the run store included — with its final test accuracy,
  which must be ≥ 0.95 (the paper's curve: ≈ 98 % from 60k epochs on).

The targets (one NVIDIA H100/H200; see performance.md) are printed beside the measurements
on CUDA. ``--out DIR`` also writes ``grokking.json`` and ``grokking.md`` there. ``--tiny``
shrinks everything (p = 23, a few steps) to check the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import workbench as wb
from workbench.grokking.experiment import GrokkingTrainer

from _bench import device_name, markdown_table, time_steps as _time_trainer

TARGETS = {"one_run_steps_per_s": 3000.0, "sweep32_model_steps_per_s": 15000.0,
           "fig1_wall_s": 35.0}
FIG1 = dict(loss="stablemax", loss_dtype="float64", lr=0.01, beta2=0.999, weight_decay=0.0,
            steps=80000, log_every=1000)
TINY = dict(p=23, width=32)
# the tiny stand-in for Fig 1 (CPU smoke test): ⊥AdamW at p = 41, train 0.6, reaches test
# accuracy ≥ 0.998 by step 300 for seeds 0–4 (measured on CPU), so the whole-process path
# and its accuracy check are exercised
FIG1_TINY = dict(p=41, width=128, optimizer="perp_adamw", weight_decay=0.0, train_frac=0.6,
                 beta2=0.999, eps=1e-8, steps=300, log_every=100)


def time_steps(configs, device, steps, warmup):
    return _time_trainer(GrokkingTrainer(configs, device), device, steps, warmup)


def fig1_whole_process(device: torch.device, overrides: dict, preset: str,
                       threads: int | None = None) -> dict:
    """Run ``workbench run grokking`` as a fresh process; wall time and final test accuracy."""
    sets = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    with tempfile.TemporaryDirectory() as store:
        cmd = [sys.executable, "-m", "workbench.cli", "run", "grokking", "--preset", preset,
               *sets, "--device", device.type, "--out", store, "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"fig1 run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        cfg = wb.make_config("grokking", preset, **overrides)
        run = wb.run("grokking", cfg, store=store, device=device.type, progress=False)
        assert run.done and len(run.metrics) > 1
        return {"wall_s": wall, "final_test_acc": float(run.summary["final_test_acc"]),
                "final_train_acc": float(run.summary["final_train_acc"]),
                "steps": cfg.steps, "log_every": cfg.log_every,
                "command": " ".join(["python", *cmd[1:-3], "--out", "DIR", "--quiet"])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", action="append", help="cpu, cuda (default: all available)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps of one run (default: 30 on CPU, 3000 on GPU; sweeps "
                         "time a tenth)")
    ap.add_argument("--instances", type=int, default=32)
    ap.add_argument("--fig1", action="store_true", help="also the 80k-epoch StableMax run")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (smoke test on a CPU)")
    ap.add_argument("--out", type=Path, default=None, help="write grokking.json/.md here")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    base = wb.make_config("grokking", "full", **(TINY if args.tiny else {}))
    lrs = [0.0005 * 1.5 ** k for k in range(8)]
    sweep = [base.replace(lr=lrs[i % 8], weight_decay=[0.0, 0.1, 1.0, 3.0][i // 8 % 4], seed=i)
             for i in range(args.instances)]
    rows, results = [], []
    for name in devices:
        device = torch.device(name)
        gpu = device.type == "cuda"
        steps = args.steps or (3000 if gpu else 30)
        warmup = 20 if gpu else 3        # > the capture warm-up: capture is not timed
        # the targets are judged on CE fp32 (one run) and on TF32 (the sweep: precision is
        # not its subject); the other rows are shown beside them
        cases = [("one run, CE fp32 loss", [base], "one_run_steps_per_s"),
                 ("one run, StableMax fp64 loss",
                  [base.replace(loss="stablemax", loss_dtype="float64")], None),
                 (f"sweep of {len(sweep)} configs, exact fp32", sweep, None),
                 (f"sweep of {len(sweep)} configs, TF32 matmuls",
                  [c.replace(tf32=True) for c in sweep], "sweep32_model_steps_per_s")]
        for label, cfgs, target in cases:
            n = steps if len(cfgs) == 1 else max(3, steps // 10)
            sec = time_steps(cfgs, device, n, warmup)
            value = 1 / sec if len(cfgs) == 1 else len(cfgs) / sec
            res = dict(device=device_name(device), case=label, models=len(cfgs),
                       ms_per_step=sec * 1e3, steps_per_s=1 / sec,
                       model_steps_per_s=len(cfgs) / sec, timed_steps=n)
            if gpu and target and not args.tiny and (len(cfgs) == 1 or len(cfgs) == 32):
                res.update(target=f"≥ {TARGETS[target]:,.0f}", target_key=target,
                           passed=bool(value >= TARGETS[target]))
            results.append(res)
            rows.append(res)
        if args.fig1:
            over, preset = (FIG1_TINY, "quick") if args.tiny else (FIG1, "full")
            f = fig1_whole_process(device, over, preset, args.threads)
            ok_acc = f["final_test_acc"] >= 0.95
            res = dict(device=device_name(device),
                       case=f"Fig 1 StableMax, {f['steps']:,} epochs, whole process"
                       if not args.tiny else f"Fig 1 stand-in (tiny), {f['steps']} steps",
                       models=1, wall_s=f["wall_s"], final_test_acc=f["final_test_acc"],
                       command=f["command"], acc_passed=ok_acc)
            if gpu and not args.tiny:
                res.update(target=f"< {TARGETS['fig1_wall_s']:.0f} s, test acc ≥ 0.95",
                           target_key="fig1_wall_s",
                           passed=bool(f["wall_s"] < TARGETS["fig1_wall_s"] and ok_acc))
            results.append(res)
    head = ("device", "case", "models", "ms/step", "steps/s", "model-steps/s", "target",
            "pass")
    table = [(r["device"], r["case"], r["models"],
              f"{r['ms_per_step']:.3f}" if "ms_per_step" in r else f"{r['wall_s']:.1f} s total",
              f"{r['steps_per_s']:.1f}" if "steps_per_s" in r else
              f"test acc {r['final_test_acc']:.3f}",
              f"{r['model_steps_per_s']:.0f}" if "model_steps_per_s" in r else "",
              r.get("target", "—"), {True: "PASS", False: "FAIL"}.get(r.get("passed"), "—"))
             for r in results]
    text = f"torch {torch.__version__}\n" + markdown_table(head, table)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "grokking.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "grokking.md").write_text(text + "\n")
    failed_acc = [r for r in results if r.get("acc_passed") is False]
    if failed_acc:
        print(f"FAIL: final test accuracy {failed_acc[0]['final_test_acc']:.3f} < 0.95",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
