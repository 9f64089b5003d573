"""Benchmark of the neural-collapse chapter: batched training vs one model at a time, and the
streaming NC metrics. Prints a table; never a unit test.

    OMP_NUM_THREADS=1 python benchmarks/bench_neural_collapse.py [--steps 100] [--device cpu]

Rows: ms per optimisation step of I instances trained as ONE batched model, against I times
the one-instance time (what a Python loop over runs would cost), for the UFM (C = 10, 50 per
class, d = 64, full batch), the digits MLP (batch 128, BatchNorm) and the tiny LM (width 32);
then nc_metrics throughput. GPU numbers are not measured here (this script runs wherever it
is started; pass --device cuda on a GPU machine).
"""

from __future__ import annotations

import argparse
import time

import torch

import workbench as wb
from workbench.neural_collapse.experiment import NCTrainer
from workbench.neural_collapse.linguistic import LMTrainer
from workbench.neural_collapse.metrics import nc_metrics
from workbench.neural_collapse.scenarios import scenario


def _time_steps(trainer, steps: int, device) -> float:
    warm = 3 if device.type == "cpu" else 20  # on CUDA: past the graph capture
    for s in range(warm):  # warm-up
        trainer.step(s)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(warm, warm + steps):
        trainer.step(s)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps * 1e3


def bench_training(steps: int, device, sizes=(1, 4, 16)):
    rows = []
    settings = {
        "ufm": ("neural-collapse", NCTrainer, scenario("ufm")),
        "digits MLP": ("neural-collapse", NCTrainer, scenario("mlp")),
        "tiny LM w32": ("linguistic-collapse", LMTrainer, dict(width=32)),
    }
    for label, (exp, cls, over) in settings.items():
        one = None
        for I in sizes:
            cfgs = [wb.make_config(exp, **{**over, "seed": i}) for i in range(I)]
            ms = _time_steps(cls(cfgs, device), steps, device)
            one = ms if I == 1 else one
            rows.append((label, I, ms, one * I, one * I / ms))
    return rows


def bench_metrics(device):
    rows = []
    g = torch.Generator().manual_seed(0)
    for N, d, C in ((10_000, 64, 10), (50_000, 128, 100), (20_000, 64, 1000)):
        h = torch.randn(N, d, generator=g).to(device)
        y = torch.randint(0, C, (N,), generator=g).to(device)
        W = torch.randn(C, d, generator=g).to(device)
        nc_metrics(h[:1000], y[:1000], W)
        t0 = time.perf_counter()
        nc_metrics(h, y, W, batch_size=4096)
        dt = time.perf_counter() - t0
        rows.append((N, d, C, dt * 1e3, N / dt))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("\n| setting | instances | ms/step batched | ms/step as a loop (I × single) | speed-up |")
    print("|---|---|---|---|---|")
    for label, I, ms, loop, speed in bench_training(args.steps, device):
        print(f"| {label} | {I} | {ms:.2f} | {loop:.2f} | {speed:.1f}× |")
    print("\n| N | d | C | nc_metrics ms | samples/s |")
    print("|---|---|---|---|---|")
    for N, d, C, ms, rate in bench_metrics(device):
        print(f"| {N} | {d} | {C} | {ms:.1f} | {rate:,.0f} |")
    if device.type == "cpu":
        print("\nGPU: not measured (no GPU here).")


if __name__ == "__main__":
    main()
