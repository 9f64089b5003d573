"""Gumbel chapter throughput: the categorical VAE (one model vs a batched sweep) and the
estimator table, on CPU and (if present) GPU.

    python benchmarks/bench_gumbel.py                   # every available device
    python benchmarks/bench_gumbel.py --device cpu --steps 30

Cases: "VAE ×1" times one categorical VAE (quick preset: digits, 20 × 10 latents, 128/64
hidden, batch 100); "VAE ×3" the three estimators as one batched model; "VAE ×12" three
estimators × four seeds; the full preset (MNIST 784-512-256) is timed the same way with
``--full``. "estimators" times one step (2,000 Gumbel vectors per τ) of the τ-grid sweep.
Prints a table; no GPU numbers are printed unless a GPU was measured.
"""

from __future__ import annotations

import argparse

import torch

import workbench as wb
from workbench.gumbel.estimators import EstimatorTrainer
from workbench.gumbel.vae import VAETrainer

from _bench import device_name, print_table, time_steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", action="append", help="cpu, cuda (default: all available)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 30 CPU, 300 GPU)")
    ap.add_argument("--full", action="store_true", help="time the full (MNIST) preset too")
    args = ap.parse_args(argv)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    presets = ["quick"] + (["full"] if args.full else [])
    rows = []
    for name in devices:
        device = torch.device(name)
        steps = args.steps or (30 if device.type == "cpu" else 300)
        warm = 3 if device.type == "cpu" else 20
        for preset in presets:
            base = wb.make_config("gumbel-vae", preset)
            for label, cfgs in (
                    ("VAE ×1 (GS)", [base]),
                    ("VAE ×3 (GS, ST, REINFORCE)",
                     [base.replace(estimator=e) for e in ("gs", "st", "reinforce")]),
                    ("VAE ×12 (3 estimators × 4 seeds)",
                     [base.replace(estimator=e, seed=s) for e in ("gs", "st", "reinforce")
                      for s in range(4)])):
                sec = time_steps(VAETrainer(cfgs, device), device, steps, warm)
                rows.append((device_name(device), f"{preset}: {label}", len(cfgs), sec * 1e3,
                             len(cfgs) / sec))
        est = [wb.make_config("gumbel-estimators", tau=t) for t in (0.1, 0.25, 0.5, 1.0, 2.0)]
        sec = time_steps(EstimatorTrainer(est, device), device, steps, warm)
        rows.append((device_name(device), "estimators: 5 τ × 2,000 samples", len(est), sec * 1e3,
                     len(est) / sec))
    head = ("device", "case", "models", "ms/step", "model-steps/s")
    print_table(head, rows, "| {} | {} | {} | {:.2f} | {:.1f} |")
    if "cuda" not in devices:
        print("GPU: not measured (no GPU on this machine).")


if __name__ == "__main__":
    main()
