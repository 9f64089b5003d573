"""Grokking step throughput: one run and a batched sweep, on CPU and (if present) GPU.

    python benchmarks/bench_grokking.py                 # every available device
    python benchmarks/bench_grokking.py --device cuda --steps 2000

Config: the paper's MLP reference (p = 113, 226→200→200→113 without biases, train 0.4 =
5,107 rows, full batch, AdamW β = (0.9, 0.99), eps 1e-25). "one run" times the trainer's
step loop (no host syncs inside; one sync at the end); "sweep" trains 32 configs (8 learning
rates × 4 weight decays) as one batched model. Prints a table; record results with the
device name in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse

import torch

import workbench as wb
from workbench.grokking.experiment import GrokkingTrainer

from _bench import device_name, print_table
from _bench import time_steps as _time_trainer


def time_steps(configs, device, steps, warmup):
    return _time_trainer(GrokkingTrainer(configs, device), device, steps, warmup)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", action="append", help="cpu, cuda (default: all available)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 on CPU, 500 on GPU)")
    ap.add_argument("--instances", type=int, default=32)
    args = ap.parse_args(argv)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    base = wb.make_config("grokking", "full")
    lrs = [0.0005 * 1.5 ** k for k in range(8)]
    sweep = [base.replace(lr=lrs[i % 8], weight_decay=[0.0, 0.1, 1.0, 3.0][i // 8 % 4], seed=i)
             for i in range(args.instances)]
    rows = []
    for name in devices:
        device = torch.device(name)
        steps = args.steps or (30 if device.type == "cpu" else 500)
        cases = [("one run, CE fp32 loss", [base]),
                 ("one run, StableMax fp64 loss", [base.replace(loss="stablemax", loss_dtype="float64")]),
                 (f"sweep of {len(sweep)} configs", sweep)]
        for label, cfgs in cases:
            n = steps if len(cfgs) == 1 else max(3, steps // 10)
            sec = time_steps(cfgs, device, n, warmup=3 if device.type == "cpu" else 20)
            rows.append((device_name(device), label, len(cfgs), sec * 1e3, 1 / sec, len(cfgs) / sec))
    head = ("device", "case", "models", "ms/step", "steps/s", "model-steps/s")
    print_table(head, rows, "| {} | {} | {} | {:.2f} | {:.1f} | {:.1f} |")


if __name__ == "__main__":
    main()
