"""Benchmark of the Li₂, XOR and EBV trainers: batched training vs one model at a time, and
XOR's gradient descent in the span of the data vs the plain network in ℝ^p. Prints tables;
never a unit test.

    OMP_NUM_THREADS=1 python benchmarks/bench_li2_xor_ebv.py [--steps 50] [--device cpu]

Rows of the first table: ms per optimisation step of I instances trained as ONE batched
model, against I times the one-instance time (what a Python loop over runs would cost), for
Li₂ at M = 41 (K = 128, train fraction 0.5, full batch), XOR at p = 10⁵ (n = m = 200; GD on the
span coefficients) and the digits EBV MLP (batch 128, d = 32). The second table times one
GD step of the plain XOR network (weights in ℝ^p, autograd) against the span step, for one
network, at growing p.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import device_name, print_table, time_steps  # noqa: E402

import workbench as wb  # noqa: E402
from workbench.grokking import li2, xor  # noqa: E402
from workbench.neural_collapse.equiangular import EBVTrainer  # noqa: E402


def bench_training(steps: int, device, sizes=(1, 4, 16)):
    settings = {
        "li2 M=41 K=128": (li2.Li2Trainer, "li2",
                           dict(M=41, width=128, train_frac=0.5, lr=0.01)),
        "xor p=1e5 n=m=200": (xor.XorTrainer, "xor-grokking", {}),
        "ebv digits d=32": (EBVTrainer, "ebv", {}),
    }
    rows = []
    for label, (cls, exp, over) in settings.items():
        one = None
        for I in sizes:
            cfgs = [wb.make_config(exp, "quick", **{**over, "seed": i}) for i in range(I)]
            ms = time_steps(cls(cfgs, device), device, steps, 3) * 1e3
            one = ms if I == 1 else one
            rows.append((label, I, ms, one * I, one * I / ms))
    return rows


def bench_span(device, ps=(2_000, 10_000, 50_000), n=200, m=200, steps=5):
    rows = []
    for p in ps:
        sample = xor.xor_sample(n, 10, m, p, 0.1, 0, explicit=True)
        x, omega = xor.xor_vectors(sample, p ** 0.3)
        x, omega, y = x.to(device), omega.to(device), sample.label[:n].to(device)
        net = xor.XorNet(omega, 1e-6).to(device)
        lr = 16.0 * n / p
        xor.train_step(net, x[:n], y, lr)
        t0 = time.perf_counter()
        for _ in range(steps):
            xor.train_step(net, x[:n], y, lr)
        plain = (time.perf_counter() - t0) / steps * 1e3
        ip = sample.inner_products(p ** 0.3)
        f64 = dict(dtype=torch.float64, device=device)
        gd = xor.SpanGD(ip["xx"][None].to(device), ip["wx"][None].to(device), y[None],
                        torch.tensor([1e-6], **f64), torch.tensor([lr], **f64))
        gd.step()
        t0 = time.perf_counter()
        for _ in range(steps * 10):
            gd.step()
        span = (time.perf_counter() - t0) / (steps * 10) * 1e3
        rows.append((p, plain, span, plain / span))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device: {device_name(device)}")
    print_table(("setting", "instances", "ms/step batched", "ms/step as a loop (I × single)",
                 "speed-up"), bench_training(args.steps, device),
                "| {} | {} | {:.2f} | {:.2f} | {:.1f}× |")
    print()
    print_table(("p", "plain network ms/step", "span GD ms/step", "speed-up"),
                bench_span(device), "| {:,} | {:.1f} | {:.2f} | {:.0f}× |")
    if device.type == "cpu":
        print("\nGPU: not measured (no GPU here).")


if __name__ == "__main__":
    main()
