"""Print (and write as JSON) the machine a benchmark ran on: device, torch, CUDA, cuDNN.

    python benchmarks/gpu_env.py --device cuda --json env.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys

import torch


def _driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def environment(device: str) -> dict:
    env = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "host_cpu": platform.processor() or platform.machine(),
           "cpu_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit("device: cuda was asked for but torch sees no CUDA GPU "
                             f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        prop = torch.cuda.get_device_properties(0)
        env.update(device=torch.cuda.get_device_name(0), capability=".".join(
            map(str, torch.cuda.get_device_capability(0))), sms=prop.multi_processor_count,
            memory_gib=round(prop.total_memory / 2 ** 30, 1), driver=_driver())
    else:
        env["device"] = f"CPU ({env['host_cpu']}, {env['cpu_threads']} threads)"
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    env = environment(args.device)
    for k, v in env.items():
        print(f"{k:>12}: {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(env, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
