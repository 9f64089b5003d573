"""Superposition sweep throughput: batched models vs one model at a time, and the Fig 9b sweep.

    python benchmarks/bench_superposition.py                      # CPU, small size
    python benchmarks/bench_superposition.py --device cuda --batch 2048 --steps 200 --pad
    python benchmarks/bench_superposition.py --device cuda --fig9b --steps 2000 --json out.json
    python benchmarks/bench_superposition.py --device cuda --fig9b --whole      # all 20k steps

The paper's small sweep (Liu, Liu & Gore 2025, Figs 3–5, 9b) is n = 1000 features,
m ∈ {10, 15, 25, 39, 63, 100}, 10 γ × 9 α, batch 2048, 20k steps: 540 models.

Default mode times the trainer's step (no host syncs inside; one sync at the end) for
  - "batched": C = γ × α configs × 6 widths × 1 seed in ONE trainer (one launch sequence per
    width, or one for all widths with --pad);
  - "one at a time": the same models, each its own one-width, one-config trainer, stepped in a
    Python loop (what a plain PyTorch script does);
and projects the wall time of the 540-model, 20k-step sweep from the measured batched rate.

``--fig9b`` builds the whole sweep (10 γ in [−1, 1] × 9 α in [0, 2] × 6 widths, seed 0,
``sampler`` = sparse, the ``full`` preset otherwise) as ONE trainer, times ``--steps`` steps
after a warm-up and one log (the evaluation on 8,192 fresh samples), and projects the sweep:
20,000 × step time + 21 logs × log time (or, with ``--whole``, runs all 20k steps and logs
and measures it). The target on one H100/H200 is < 5 min. Numbers are measured on the
device given; nothing is projected onto hardware that was not measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

import workbench as wb
from workbench.superposition.experiment import SuperpositionTrainer

WIDTHS = (10, 15, 25, 39, 63, 100)
TARGET_S = 300.0


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(trainers, device, steps, warmup=2, start=0) -> float:
    """Seconds per step of the whole list of trainers (each stepped once per step)."""
    for s in range(start, start + warmup):
        for t in trainers:
            t.step(s)
    sync(device)
    t0 = time.perf_counter()
    for s in range(start + warmup, start + warmup + steps):
        for t in trainers:
            t.step(s)
    sync(device)
    return (time.perf_counter() - t0) / steps


def fig9b_configs(tiny: bool, tf32: bool = False):
    exp = wb.get("superposition")
    if tiny:   # the same code path at toy size (CPU smoke test)
        base = exp.config("full", n=60, m=(4, 6), batch_size=64, seeds=1, steps=40,
                          warmup=4, log_every=20, eval_size=128, sampler="sparse")
        gammas, alphas = [-1.0, 0.5], [0.5, 1.5]
    else:
        base = exp.config("full", seeds=1, sampler="sparse")
        gammas = [-1 + 2 * k / 9 for k in range(10)]
        alphas = [2 * k / 8 for k in range(9)]
    return [base.replace(gamma=g, alpha=a, tf32=tf32) for g in gammas for a in alphas]


def fig9b(device, steps: int, whole: bool, tiny: bool, tf32: bool = False) -> dict:
    configs = fig9b_configs(tiny, tf32)
    c0 = configs[0]
    models = len(configs) * len(c0.m) * c0.seeds
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} ×{torch.get_num_threads()} threads"
    t_build = time.perf_counter()
    trainer = SuperpositionTrainer(configs, device)
    sync(device)
    build_s = time.perf_counter() - t_build
    logs = len(range(0, c0.steps, c0.log_every)) + 1
    if whole:
        from workbench.core.train import train_loop
        t0 = time.perf_counter()
        train_loop(trainer, steps=c0.steps, log_every=c0.log_every, progress=False)
        sync(device)
        sweep_s = time.perf_counter() - t0 + build_s
        step_s = log_s = float("nan")
        timed = c0.steps
    else:
        timed = min(steps, c0.steps - 10)
        step_s = rate([trainer], device, timed, warmup=5)
        t0 = time.perf_counter()
        trainer.log(timed + 5)
        sync(device)
        log_s = time.perf_counter() - t0
        sweep_s = build_s + c0.steps * step_s + logs * log_s
    out = dict(device=name, models=models, configs=len(configs), n=c0.n, widths=list(c0.m),
               batch=c0.batch_size, steps=c0.steps, sampler=c0.sampler, tf32=tf32,
               timed_steps=timed,
               whole=whole, build_s=build_s, step_ms=step_s * 1e3, log_s=log_s, logs=logs,
               model_steps_per_s=models / step_s if step_s == step_s else
               models * c0.steps / sweep_s, sweep_s=sweep_s)
    judged = device.type == "cuda" and not tiny and not tf32   # the target: exact fp32
    out.update(judged=judged, target=f"< {TARGET_S / 60:.0f} min",
               passed=bool(sweep_s < TARGET_S) if judged else None)
    how = "measured whole" if whole else f"projected: {c0.steps:,} × step + {logs} logs"
    out["row"] = (f"| {name} | {models} | {c0.n} | {c0.batch_size} | {c0.sampler} | "
                  f"{'TF32' if tf32 else 'fp32'} | {out['step_ms']:.2f} | "
                  f"{out['model_steps_per_s']:,.0f} | {log_s:.2f} | "
                  f"{sweep_s / 60:.2f} min ({how}) | {out['target'] if judged else '—'} | "
                  f"{_verdict(out['passed'])} |")
    return out


HEAD = ("| device | models | n | batch | sampler | matmuls | ms/step (all models) | "
        "model-steps/s | log (s) | sweep | target | pass |\n" + "|" + "---|" * 12)


def _verdict(ok):
    return {True: "PASS", False: "FAIL"}.get(ok, "—")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--gammas", type=int, default=2, help="γ values in the timed sub-sweep")
    p.add_argument("--alphas", type=int, default=2, help="α values in the timed sub-sweep")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--pad", action="store_true", help="pad all widths into one model")
    p.add_argument("--sampler", default="dense", choices=("dense", "sparse"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fig9b", action="store_true", help="the 540-model Fig 9b sweep")
    p.add_argument("--whole", action="store_true", help="--fig9b: run all 20k steps")
    p.add_argument("--tiny", action="store_true", help="--fig9b at toy size (smoke test)")
    p.add_argument("--json", default=None, help="--fig9b: write the result here")
    p.add_argument("--tf32-too", action="store_true",
                   help="--fig9b: also time the sweep with TF32 matmuls (shown, not judged)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    print(f"torch {torch.__version__}")
    if a.fig9b:
        res = fig9b(dev, a.steps, a.whole, a.tiny)
        rows = [res["row"]]
        if a.tf32_too:
            res["tf32_run"] = fig9b(dev, a.steps, a.whole, a.tiny, tf32=True)
            rows.append(res["tf32_run"]["row"])
        res["table"] = "\n".join([HEAD, *rows])
        print(res["table"])
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(res, fh, indent=2)
                fh.write("\n")
        return 0
    exp = wb.get("superposition")
    base = exp.config("full", n=a.n, batch_size=a.batch, seeds=1, pad_m=a.pad,
                      sampler=a.sampler)
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
          f"widths {WIDTHS}, {len(configs)} configs → {models} models, pad_m={a.pad}, "
          f"sampler {a.sampler}")
    print(f"{'mode':<16}{'s/step (all models)':>22}{'model-steps/s':>16}"
          f"{'540 models × 20k steps':>26}")
    for label, sec in (("batched", batched), ("one at a time", single)):
        per_model = models / sec
        full_s = 540 * 20000 / per_model
        print(f"{label:<16}{sec:>22.4f}{per_model:>16.1f}{full_s / 3600:>22.1f} h")
    print(f"speed-up batched / one at a time: {single / batched:.2f}×")
    if a.batch != 2048:
        print(f"(batch {a.batch}, not the paper's 2048: per-step work scales ≈ linearly with it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
