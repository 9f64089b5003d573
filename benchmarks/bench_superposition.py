"""Superposition sweep throughput: batched models vs one model at a time.

    python benchmarks/bench_superposition.py                      # CPU, small size
    python benchmarks/bench_superposition.py --device cuda --batch 2048 --steps 200 --pad

The paper's small sweep (Liu, Liu & Gore 2025, Figs 3–5) is n = 1000 features,
m ∈ {10, 15, 25, 39, 63, 100}, 10 γ × 9 α, batch 2048, 20k steps: 540 models. This script
times the trainer's step (no host syncs inside; one sync at the end) for
  - "batched": C = γ × α configs × 6 widths × 1 seed in ONE trainer (one launch sequence per
    width, or one for all widths with --pad);
  - "one at a time": the same models, each its own one-width, one-config trainer, stepped in a
    Python loop (what a plain PyTorch script does);
reports model-steps/s for both and projects the wall time of the 540-model, 20k-step sweep
from the measured batched rate (linear in the number of configs: the work is). Numbers are
measured on the device given; nothing is projected onto hardware that was not measured.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import workbench as wb
from workbench.superposition.experiment import SuperpositionTrainer

WIDTHS = (10, 15, 25, 39, 63, 100)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(trainers, device, steps, warmup=2) -> float:
    """Seconds per step of the whole list of trainers (each stepped once per step)."""
    for s in range(warmup):
        for t in trainers:
            t.step(s)
    sync(device)
    t0 = time.perf_counter()
    for s in range(warmup, warmup + steps):
        for t in trainers:
            t.step(s)
    sync(device)
    return (time.perf_counter() - t0) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--gammas", type=int, default=2, help="γ values in the timed sub-sweep")
    p.add_argument("--alphas", type=int, default=2, help="α values in the timed sub-sweep")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--pad", action="store_true", help="pad all widths into one model")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    exp = wb.get("superposition")
    base = exp.config("full", n=a.n, batch_size=a.batch, seeds=1, pad_m=a.pad)
    gammas = [-1 + 2 * k / max(1, a.gammas - 1) for k in range(a.gammas)]
    alphas = [0.5 + k / max(1, a.alphas - 1) for k in range(a.alphas)]
    configs = [base.replace(gamma=g, alpha=al) for g in gammas for al in alphas]
    models = len(configs) * len(WIDTHS)

    batched = rate([SuperpositionTrainer(configs, dev)], dev, a.steps)
    singles = [SuperpositionTrainer([c.replace(m=(m,), pad_m=False)], dev)
               for c in configs for m in WIDTHS]
    single = rate(singles, dev, max(2, a.steps // 2))

    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {dev} ({name}), threads {a.threads}; n={a.n}, batch {a.batch}, "
          f"widths {WIDTHS}, {len(configs)} configs → {models} models, pad_m={a.pad}")
    print(f"{'mode':<16}{'s/step (all models)':>22}{'model-steps/s':>16}"
          f"{'540 models × 20k steps':>26}")
    for label, sec in (("batched", batched), ("one at a time", single)):
        per_model = models / sec
        full_s = 540 * 20000 / per_model
        print(f"{label:<16}{sec:>22.4f}{per_model:>16.1f}{full_s / 3600:>22.1f} h")
    print(f"speed-up batched / one at a time: {single / batched:.2f}×")
    if a.batch != 2048:
        print(f"(batch {a.batch}, not the paper's 2048: per-step work scales ≈ linearly with it)")


if __name__ == "__main__":
    main()
