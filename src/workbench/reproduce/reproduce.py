"""``workbench reproduce``: run the selected claims at the selected scales, write the report."""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core.config import ConfigError
from ..core.device import pick_device
from ..core.store import RunStore
from .registry import SCALES, Claim, claims, select
from .report import write_report
from .runner import Record, describe_device, not_run, run_claim

__all__ = ["reproduce", "list_claims", "parse_scales"]


def parse_scales(values) -> list[str]:
    """``["cpu,full"]`` or ``["cpu", "full"]`` → ``["cpu", "full"]`` (validated)."""
    out: list[str] = []
    for v in values or ["cpu"]:
        for s in str(v).split(","):
            s = s.strip()
            if s not in SCALES:
                raise ConfigError(f"scale: must be one of {', '.join(SCALES)} (got {s!r})")
            if s not in out:
                out.append(s)
    return out


def list_claims(patterns: list[str] | None = None) -> str:
    """The registry as text: one block per paper, one line per claim."""
    chosen = select(patterns) if patterns else list(claims().values())
    lines, paper = [], None
    for c in chosen:
        if c.paper != paper:
            paper = c.paper
            lines.append(f"{paper}")
        cpu = c.cpu.not_run and f"cpu not run ({c.cpu.not_run})" or (
            f"cpu ≈{c.cpu.minutes:g} min" if c.cpu.minutes is not None else "cpu")
        lines.append(f"  {c.id:<34} {c.figure:<12} {cpu}")
        lines.append(f"      {c.claim}")
    lines.append(f"{len(chosen)} claims, {len({c.paper for c in chosen})} papers")
    return "\n".join(lines)


def reproduce(patterns: list[str] | None = None, scales=("cpu",), *,
              out: str | Path = "build/reproductions", store: str | Path | None = None,
              device: str | None = None, progress: bool = True, png: bool | None = None,
              budget: float | None = None, jobs: int = 1, command: str = "",
              intro: str = "") -> list[Record]:
    """Run every selected claim at every scale (through the run store), judge it, and write
    ``out/report.json``, ``out/report.md`` and ``out/report.html``. The report is rewritten
    after each claim, so an interrupted run keeps what it finished.

    ``budget`` (minutes of wall time): a claim is started only if its estimated time
    (``Scale.minutes``, 1 if unset, times the slowdown measured on the claims finished so
    far: a loaded machine) still fits in what is left; otherwise it is reported ``not run``
    with that reason, so a job with a fixed allowance runs what fits, in order, and says what
    it left out. ``jobs`` > 1 runs that many claims at once, each in its own process, a claim
    starting when a worker frees up (the report keeps the registry's order; each claim's
    seconds are then measured while sharing the machine). Interrupted (Ctrl-C), the claims
    not finished are reported ``not run`` with that reason and the report is written."""
    if jobs < 1:
        raise ConfigError(f"jobs: must be >= 1 (got {jobs})")
    scales = parse_scales(scales)
    chosen: list[Claim] = select(patterns)
    st = RunStore(store)
    dev = pick_device(device)
    header = {"date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "device": describe_device(dev) + f", torch {torch.__version__}",
              "command": command, "intro": intro,
              "jobs": jobs}
    load0 = _load()
    t0 = time.perf_counter()
    records: list[Record] = []
    bar = tqdm(total=len(chosen) * len(scales), desc="claims", disable=not progress,
               dynamic_ncols=True)

    def flush(final: bool):
        wall = time.perf_counter() - t0
        header["wall"] = f"{wall / 60:.1f} min ({wall:.0f} s)" + ("" if final else " so far")
        load1 = _load()
        if load0 and load1:
            header["load"] = f"load average {load0} at the start, {load1} at the end"
        write_report(records, out, scales=scales, header=header, png=png if final else False)

    items = [(claim, scale) for claim in chosen for scale in scales]
    finished: dict[int, Record] = {}

    def done(i: int, rec: Record):
        finished[i] = rec
        records[:] = [finished[k] for k in sorted(finished)]
        bar.update(1)
        if progress:
            tqdm.write(f"{rec.verdict:<14} {rec.id} ({rec.scale}, {rec.seconds:.0f} s)"
                       + (f": {rec.reason}" if rec.reason else ""), file=sys.stderr)
        flush(final=False)

    planned = 0.0  # estimated minutes of the claims started so far, per worker
    timed = [0.0, 0.0]  # estimated and measured minutes of the claims that ran

    def minutes(claim, scale) -> float:
        sc = claim.scale(scale)
        return sc.minutes if sc.minutes is not None else 1.0

    def done_timed(i: int, rec: Record):
        claim, scale = items[i]
        if rec.seconds > 0 and not rec.reason:
            timed[0] += minutes(claim, scale)
            timed[1] += rec.seconds / 60
        done(i, rec)

    def over_budget(claim, scale) -> Record | None:
        nonlocal planned
        sc = claim.scale(scale)
        if budget is None or sc.not_run or (sc.needs_gpu and dev.type != "cuda"):
            return None
        used = max(planned, (time.perf_counter() - t0) / 60)
        slow = max(1.0, timed[1] / timed[0]) if timed[0] else 1.0
        est = minutes(claim, scale) * slow
        if used + est > budget:
            return not_run(claim, scale, describe_device(dev),
                           f"time budget: {budget:g} min, {used:.1f} used, this claim is "
                           f"estimated at {minutes(claim, scale):g} min"
                           + (f" × {slow:.1f} (the slowdown measured so far)"
                              if slow > 1 else ""))
        planned = used + est / max(jobs, 1)
        return None

    try:
        if jobs <= 1:
            for i, (claim, scale) in enumerate(items):
                bar.set_postfix_str(f"{claim.id} ({scale})")
                rec = over_budget(claim, scale) or run_claim(claim, scale, store=st,
                                                             device=str(dev),
                                                             progress=progress)
                done_timed(i, rec)
        else:
            _run_parallel(items, jobs, st, dev, over_budget, done_timed)
    except KeyboardInterrupt:
        for i, (claim, scale) in enumerate(items):
            if i not in finished:
                finished[i] = not_run(claim, scale, describe_device(dev),
                                      "stopped: the run was interrupted before this claim "
                                      "finished")
        records[:] = [finished[k] for k in sorted(finished)]
        raise
    finally:
        bar.close()
        if records:
            flush(final=True)
    return records


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_one(claim_id: str, scale: str, store_root: str, device: str) -> Record:
    from .registry import get_claim
    return run_claim(get_claim(claim_id), scale, store=store_root, device=device,
                     progress=False)


def _run_parallel(items, jobs, st, dev, over_budget, done) -> None:
    """Claims in ``jobs`` worker processes (one torch thread budget each, as in the parent),
    each started when a worker is free (so the budget sees the time really used); runs two
    claims share are trained once (the run store's per-run lock)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ex = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(torch.get_num_threads(),))
    try:
        pending, running = list(enumerate(items)), {}
        while pending or running:
            while pending and len(running) < jobs:
                i, (claim, scale) = pending.pop(0)
                rec = over_budget(claim, scale)
                if rec is not None:
                    done(i, rec)
                else:
                    running[ex.submit(_run_one, claim.id, scale, str(st.root), str(dev))] = i
            if running:
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in ready:
                    done(running.pop(f), f.result())
        ex.shutdown()
    except BaseException:
        for proc in list((getattr(ex, "_processes", None) or {}).values()):
            proc.terminate()            # an interrupted run does not wait for its workers
        ex.shutdown(wait=False, cancel_futures=True)
        raise


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return ""
