"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_x.py``, which puts
this directory on ``sys.path``): device sync, step timing, device names and the result table."""

from __future__ import annotations

import platform
import time

import torch


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(trainer, device, steps, warmup):
    """Seconds per ``trainer.step`` after ``warmup`` untimed steps (synced at both ends)."""
    for s in range(warmup):
        trainer.step(s)
    sync(device)
    t0 = time.perf_counter()
    for s in range(warmup, warmup + steps):
        trainer.step(s)
    sync(device)
    return (time.perf_counter() - t0) / steps


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ×{torch.get_num_threads()} threads"


def markdown_table(head, rows) -> str:
    """``rows`` (tuples of already formatted cells) under ``head`` as a Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def print_table(head, rows, row_format: str) -> None:
    """The torch version, then ``rows`` as a Markdown table (each row via ``row_format``)."""
    print(f"torch {torch.__version__}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(row_format.format(*r))
