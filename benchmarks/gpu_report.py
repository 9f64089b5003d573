"""Assemble ``RESULTS_gpu.md`` from what ``gpu_check.sh`` measured: the device and versions,
the targets with pass/fail, the benchmark tables, the stages and the reproductions.

    python benchmarks/gpu_report.py --work WORKDIR --out OUTDIR [--mode gpu|cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok) -> str:
    return {True: "PASS", False: "FAIL"}.get(ok, "not measured")


def targets(grok: list | None, sup: dict | None) -> list[tuple[str, str, str]]:
    rows = []
    by_key = {}
    for r in grok or []:
        if r.get("target_key"):
            by_key[r["target_key"]] = r
    one = by_key.get("one_run_steps_per_s")
    rows.append(("one grokking run (paper MLP, CE fp32) ≥ 3,000 steps/s",
                 f"{one['steps_per_s']:,.0f} steps/s" if one else "—",
                 _verdict(one["passed"] if one else None)))
    fig1 = by_key.get("fig1_wall_s")
    rows.append(("Prieto Fig 1 StableMax, 80k epochs, whole process < 35 s, test acc ≥ 0.95",
                 f"{fig1['wall_s']:.1f} s, test acc {fig1['final_test_acc']:.3f}" if fig1
                 else "—", _verdict(fig1["passed"] if fig1 else None)))
    sw = by_key.get("sweep32_model_steps_per_s")
    exact = next((r for r in grok or [] if "exact fp32" in r.get("case", "")), None)
    rows.append(("32-config grokking sweep ≥ 15,000 model-steps/s (TF32)",
                 (f"{sw['model_steps_per_s']:,.0f} (exact fp32: "
                  f"{exact['model_steps_per_s']:,.0f})") if sw and exact else "—",
                 _verdict(sw["passed"] if sw else None)))
    if sup and sup.get("judged"):
        how = ("measured whole" if sup.get("whole") else
               f"projected from {sup['timed_steps']:,} timed steps")
        rows.append(("540-model superposition sweep (Fig 9b scale) < 5 min",
                     f"{sup['sweep_s'] / 60:.2f} min ({how})", _verdict(sup["passed"])))
    else:
        rows.append(("540-model superposition sweep (Fig 9b scale) < 5 min", "—",
                     "not measured"))
    return rows


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def build(work: Path, mode: str) -> str:
    env = _load(work / "env.json") or {}
    grok = _load(work / "grokking.json")
    sup = _load(work / "superposition.json")
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        sha = "unknown"
    title = (f"## GPU: {env.get('device', 'unknown device')} — {env.get('date', '')}"
             if mode == "gpu" else
             f"## CPU smoke test of gpu_check.sh (tiny sizes, not GPU numbers) — "
             f"{env.get('date', '')}")
    parts = [title, "",
             f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, "
             f"driver {env.get('driver')}, Python {env.get('python')}; git {sha}. "
             "Measured by `bash benchmarks/gpu_check.sh` (one call).", ""]
    if mode == "gpu":
        parts += ["### Targets (one NVIDIA H100/H200)", "",
                  table(("target", "measured", "verdict"), targets(grok, sup)), ""]
    if grok:
        how = "--device cuda --fig1" if mode == "gpu" else "--device cpu --tiny --fig1"
        parts += [f"### Grokking — `benchmarks/bench_grokking.py {how}`", ""]
        md = work / "grokking.md"
        parts += [md.read_text().strip() if md.exists() else "(no table)", ""]
        for r in grok:
            if "command" in r:
                parts += [f"Fig 1 command: `{r['command']}`", ""]
    if sup:
        how = "--device cuda --fig9b" if mode == "gpu" else "--device cpu --fig9b --tiny"
        parts += [f"### Superposition — `benchmarks/bench_superposition.py {how}`", "",
                  sup.get("table", "(no table)"), ""]
    stages = work / "stages"
    if stages.exists():
        rows = [line.split() for line in stages.read_text().splitlines() if line.strip()]
        parts += ["### Stages", "", table(("stage", "exit", "seconds"),
                                          [(r + ["", ""])[:3] for r in rows]), ""]
    rep = work / "repro" / "report.md"
    parts += ["### Reproductions at full scale (`workbench reproduce --scale full`)", ""]
    if rep.exists():
        parts += [rep.read_text().strip(), ""]
    elif mode == "gpu":
        parts += ["not run (no `workbench reproduce` in this checkout, or no time left)", ""]
    else:
        parts += ["not run in the CPU smoke test", ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mode", choices=("gpu", "cpu"), default="gpu")
    args = ap.parse_args(argv)
    text = build(args.work, args.mode)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "RESULTS_gpu.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
