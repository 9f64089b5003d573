"""Quick stays quick on a busy machine: a notebook's quick preset under the old and the new
CPU thread settings, on an idle machine and beside one CPU-heavy process.

    python benchmarks/bench_threads.py                          # papermill 01_grokking, quick
    python benchmarks/bench_threads.py --notebook notebooks/30_gumbel_softmax.ipynb
    python benchmarks/bench_threads.py --run grokking           # wb.run of the quick preset

Settings (each measurement is a fresh process with an empty run store, so it trains):

- before: what the workbench did before it chose threads itself: training on torch's default
  thread count (one per core), OpenMP's default wait policy (spin about 300k iterations, then
  sleep: ``OMP_WAIT_POLICY=ACTIVE`` with ``GOMP_SPINCOUNT=300000`` is the same) and MKL without
  strict reproducibility (``MKL_CBWR=AUTO``);
- after: the defaults now: one training thread (``$WORKBENCH_THREADS`` unset),
  ``OMP_WAIT_POLICY=PASSIVE``, ``MKL_CBWR=AUTO,STRICT`` (set by ``import workbench``).

The competitor is one process of float32 matrix products on torch's default thread count
(every core), like a second notebook training; it starts before and stops after the
measurement. Wall seconds, one row per (setting, load). Times on a machine that others are
using too are only comparable within one table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPETITOR = ("import torch\n"
              "a = torch.randn(1024, 1024)\n"
              "while True:\n"
              "    a = (a @ a).clamp_(-1, 1)\n")
RUN = "import sys, workbench as wb; wb.run(sys.argv[1], preset='quick', progress=False)"


def settings(cores: int) -> dict[str, dict[str, str]]:
    return {"before": {"WORKBENCH_THREADS": str(cores), "OMP_WAIT_POLICY": "ACTIVE",
                       "GOMP_SPINCOUNT": "300000", "MKL_CBWR": "AUTO"},
            "after": {}}


def measure(args, extra_env: dict, loaded: bool) -> float:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKBENCH_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_CBWR",
                        "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(extra_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH"))
                                        if p)
    competitor = None
    if loaded:
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR],
                                      env={k: v for k, v in os.environ.items()
                                           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        time.sleep(2.0)  # let it import torch and start multiplying
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env["WORKBENCH_STORE"] = str(Path(tmp) / "runs")
            if args.run:
                cmd = [sys.executable, "-c", RUN, args.run]
            else:
                cmd = [sys.executable, "-m", "papermill", str(ROOT / args.notebook),
                       str(Path(tmp) / "out.ipynb"), "-p", "preset", "quick", "--cwd",
                       str((ROOT / args.notebook).parent), "--no-progress-bar"]
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return time.perf_counter() - t0
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--notebook", default="notebooks/01_grokking.ipynb")
    p.add_argument("--run", default=None, help="time wb.run(EXPERIMENT, preset='quick') "
                   "instead of a notebook")
    p.add_argument("--repeat", type=int, default=1, help="measurements per cell (the minimum "
                   "is reported)")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    what = f"wb.run({args.run!r}, preset='quick')" if args.run else \
        f"papermill {args.notebook} -p preset quick"
    print(f"{what}; {cores} cores; wall seconds (min of {args.repeat})")
    print("| setting | idle | + one CPU-heavy process | slowdown |")
    print("|---|---|---|---|")
    for name, env in settings(cores).items():
        idle = min(measure(args, env, False) for _ in range(args.repeat))
        busy = min(measure(args, env, True) for _ in range(args.repeat))
        print(f"| {name} | {idle:.1f} | {busy:.1f} | {busy / idle:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
