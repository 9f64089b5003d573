"""Per-instance random numbers: ``core.rng.uniform`` (counter-based, all instances in one
launch sequence) against one ``torch.Generator`` per instance (``torch.rand`` in a Python loop,
what superposition and the Gumbel chapter used before).

    python benchmarks/bench_rng.py                   # CPU, one thread
    python benchmarks/bench_rng.py --device cuda

Shapes: the superposition quick preset's training batch (2 seeds × 256 × 200), its full
preset's (3 seeds × 2048 × 1000), a 16-instance sweep of the quick batch and a Gumbel VAE
noise draw. Time per draw in ms (median of ``--repeat`` timed runs).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _bench import device_name, print_table, sync
from workbench.core import rng

SHAPES = [("superposition quick batch", 2, (256, 200)),
          ("superposition full batch", 3, (2048, 1000)),
          ("16-instance sweep, quick batch", 16, (256, 200)),
          ("Gumbel VAE noise (B=100, 20×10)", 4, (100, 20, 10))]


def per_generator(seeds: list[int], step: int, shape, device) -> torch.Tensor:
    """The old path: a fresh generator per instance and step, one ``torch.rand`` each."""
    out = []
    for seed in seeds:
        g = torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 1009 + 1)
        out.append(torch.rand(shape, generator=g, device=device))
    return torch.stack(out)


def ms(fn, device, repeat: int) -> float:
    fn(0)
    times = []
    for r in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        fn(r + 1)
        sync(device)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    print(f"device: {device_name(dev)}")
    rows = []
    for name, n, shape in SHAPES:
        seeds = list(range(n))
        seed_t = torch.tensor(seeds, device=dev)
        old = ms(lambda s: per_generator(seeds, s, shape, dev), dev, a.repeat)
        new = ms(lambda s: rng.uniform(seed_t, s, 1, shape), dev, a.repeat)
        numel = n
        for d in shape:
            numel *= d
        rows.append((name, numel, old, new, new / old))
    print_table(["draw", "numbers", "torch.rand per generator (ms)", "rng.uniform (ms)",
                 "ratio"], rows, "| {} | {:,} | {:.3f} | {:.3f} | {:.2f}× |")


if __name__ == "__main__":
    main()
