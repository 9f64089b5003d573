"""``workbench`` command line: run, sweep, list, store, serve, curriculum, reproduce.

    workbench list
    workbench run grokking --preset quick --set optimizer=perp_adamw --set weight_decay=0
    workbench sweep grokking --grid weight_decay=0,1,3 --grid lr=0.003,0.01
    workbench store --stale --rm
    workbench sweep grokking --grid lr=0.003,0.01 --executor dask [--scheduler tcp://HOST:8786]
    workbench curriculum --preset quick --jobs 2 --out build/curriculum
    workbench serve grokking --port 5006
    workbench reproduce --list
    workbench reproduce "prieto-*" --scale cpu --out build/reproductions

Bad input exits with status 2 and one line naming the parameter and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core.config import ConfigError

__all__ = ["main"]


def _parse_sets(exp, items, allow_lists=False) -> dict:
    out = {}
    option = "--grid" if allow_lists else "--set"
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{option} {item}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key in out:  # the later one would silently win
            raise ConfigError(f"{key}: given twice in {option}")
        if allow_lists:
            out[key] = [exp.config_cls.parse(key, t) for t in text.split(",")]
        else:
            out[key] = exp.config_cls.parse(key, text)
    return out


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cell(v) -> str:
    text = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else _fmt(v)
    return text if len(text) <= 12 else text[:11] + "…"


def cmd_list(args) -> int:
    from .core.experiment import experiments, get
    exps = {args.experiment: get(args.experiment)} if args.experiment else experiments()
    for name, exp in exps.items():
        print(f"{name}: {exp.description}")
        presets = {p: exp.config(p).to_dict() for p in exp.presets}  # what each preset runs
        print(f"  {'parameter':<16} {'type':<6} {'default':<12} "
              + "".join(f"{p:<12} " for p in presets) + "help")
        for f in exp.config_cls.describe():
            extra = f" {{{', '.join(map(str, f['choices']))}}}" if f["choices"] else ""
            batch = " [batchable]" if f["batchable"] else ""
            values = "".join(f"{_cell(v[f['name']]):<12} " for v in presets.values())
            print(f"  {f['name']:<16} {f['type']:<6} {_cell(f['default']):<12} {values}"
                  f"{f['help']}{extra}{batch}")
        print()
    return 0


def cmd_run(args) -> int:
    from .core.experiment import get, run
    exp = get(args.experiment)
    cfg = exp.config(args.preset, **_parse_sets(exp, args.set))
    result = run(exp, cfg, store=args.out, device=args.device, progress=not args.quiet)
    if args.quiet and result.loaded:  # without --quiet, run() has said so already
        print(result.source_line)
    print(f"run: {result.path}")
    for k, v in result.summary.items():
        print(f"  {k:<22} {_fmt(v)}")
    if args.json:
        print(json.dumps(result.summary))
    return 0


def cmd_sweep(args) -> int:
    from .core.experiment import get, sweep
    exp = get(args.experiment)
    grid = _parse_sets(exp, args.grid, allow_lists=True)
    base = _parse_sets(exp, args.set)
    clash = set(grid) & set(base)
    if clash:
        raise ConfigError(f"{sorted(clash)[0]}: given both in --grid and --set")
    if args.executor == "dask":
        from .core.executors import dask_sweep
        result = dask_sweep(exp, grid=grid, preset=args.preset, store=args.out,
                            scheduler=args.scheduler, chunk_size=args.chunk_size,
                            n_workers=args.workers, device=args.device,
                            progress=not args.quiet, **base)
    else:
        if args.scheduler:
            raise ConfigError("scheduler: only used with --executor dask")
        result = sweep(exp, grid=grid, preset=args.preset, store=args.out, device=args.device,
                       progress=not args.quiet, **base)
    if args.quiet and result.source_line:  # without --quiet, sweep() has said so already
        print(result.source_line)
    print(f"sweep: {result.path} ({len(result)} runs)")
    table = result.summary.drop(columns=["run_id", "note"], errors="ignore")  # notes: see run
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if exp.summarize_sweep is not None:
        for k, v in exp.summarize_sweep(result.summary).items():
            print(f"{k}: {json.dumps(v)}")
    return 0


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _seconds(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` as seconds (ConfigError otherwise)."""
    t = text.strip().lower()
    try:
        value = float(t[:-1]) if t and t[-1] in _UNITS else float("nan")
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"older-than: expected a number and a unit s, m, h, d or w, "
                          f"e.g. 30d (got {text!r})")
    return value * _UNITS[t[-1]]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def cmd_store(args) -> int:
    from .core.store import RunStore
    store = RunStore(args.out)
    older = _seconds(args.older_than) if args.older_than is not None else None
    table = store.select(args.pattern or (), stale=args.stale, older_than=older)
    if args.rm:
        if not (args.pattern or args.stale or older is not None):
            raise ConfigError("rm: name what to remove: run ids or patterns, --stale or "
                              "--older-than (a pattern of * removes everything)")
        removed, skipped = store.remove(list(table["run_id"]))
        for rid in skipped:
            print(f"kept {rid}: another process is training it")
        print(f"removed {len(removed)} entries from {store.root}")
        return 0
    if table.empty:
        print(f"{store.root}: no runs" + (" match" if len(store.runs()) else ""))
        return 0
    shown = table.assign(age=table["age_s"].map(_age), size=table["size"].map(_size))
    print(shown[["run_id", "status", "age", "size", "params"]].to_string(index=False))
    print(f"{len(table)} entries, {_size(table['size'].sum())} in {store.root}"
          + ("; add --rm to remove them" if args.pattern or args.stale or older else ""))
    return 0


def cmd_serve(args) -> int:
    from .apps import serve
    if args.prefix and not args.prefix.startswith("/"):
        raise ConfigError(f"prefix: must start with / (got {args.prefix!r})")
    serve(args.app, port=args.port, address=args.address,
          allow_websocket_origin=args.allow_websocket_origin, show=args.show,
          prefix=args.prefix)
    return 0


def _literal(text: str):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word is a string


def cmd_curriculum(args) -> int:
    from .core.store import check_writable
    from .curriculum import (PRESETS, default_notebooks_dir, find_notebooks, format_failure,
                             run_curriculum)
    if args.jobs < 1:
        raise ConfigError(f"jobs: must be >= 1 (got {args.jobs})")
    if args.timeout is not None and not args.timeout > 0:
        raise ConfigError(f"timeout: must be > 0 seconds (got {args.timeout})")
    params = {}
    for item in args.param or []:
        if "=" not in item:
            raise ConfigError(f"-p {item}: expected key=value")
        key, text = item.split("=", 1)
        params[key.strip()] = _literal(text)
    if "preset" in params:  # -p preset=…: the notebooks' presets, like --preset
        if params["preset"] not in PRESETS:
            raise ConfigError(f"preset: must be one of {', '.join(PRESETS)} "
                              f"(got {params['preset']!r})")
        args.preset = params.pop("preset")
    directory = args.notebooks or default_notebooks_dir()
    if not Path(directory).is_dir():
        raise ConfigError(f"notebooks: {directory} is not a directory")
    paths = find_notebooks(directory, args.only)
    if not paths:
        raise ConfigError(f"only: no notebook in {directory} matches {args.only}")
    check_writable(args.out, "out")
    if args.store is not None:
        check_writable(args.store, "store")
    results = run_curriculum(paths, out=args.out, preset=args.preset, jobs=args.jobs,
                             store=args.store, parameters=params, timeout=args.timeout,
                             progress=not args.quiet, figures=args.figures)
    for r in results:
        print(f"{'ok    ' if r.ok else 'FAILED'} {r.name:<32} {r.seconds:7.1f} s")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(format_failure(r), file=sys.stderr)
    print(f"index: {Path(args.out).resolve() / 'index.html'} "
          f"({len(results) - len(failed)} ok, {len(failed)} failed)")
    return 1 if failed else 0


def cmd_reproduce(args) -> int:
    from .reproduce.reproduce import list_claims, reproduce
    if args.list:
        print(list_claims(args.claims))
        return 0
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    records = reproduce(args.claims, args.scale, out=args.out, store=args.store,
                        device=args.device, progress=not args.quiet, png=args.png,
                        budget=args.budget, jobs=args.jobs,
                        command=" ".join(["workbench reproduce", *args.claims,
                                          *(f"--scale {x}" for x in args.scale or ["cpu"]),
                                          *([f"--jobs {args.jobs}"] if args.jobs > 1 else []),
                                          f"--out {args.out}"]))
    for r in records:
        why = f": {r.reason}" if r.reason else ""
        print(f"{r.verdict:<14} {r.id:<34} {r.scale:<5} {r.seconds:7.0f} s{why}")
    print(f"report: {Path(args.out).resolve() / 'report.md'} (and report.html, report.json)")
    return 1 if any(r.reason.startswith("failed") for r in records) else 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list experiments, presets and parameters")
    ls.add_argument("experiment", nargs="?")
    ls.set_defaults(func=cmd_list)

    for name, helptext in (("run", "run one experiment (or load it from the store)"),
                           ("sweep", "run a grid of configs as batched models")):
        r = sub.add_parser(name, help=helptext)
        r.add_argument("experiment")
        r.add_argument("--preset", default="quick", help="quick (CPU, seconds) or full (GPU)")
        r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
        if name == "sweep":
            r.add_argument("--grid", action="append", metavar="KEY=V1,V2,...", required=True,
                           help="values to sweep (cartesian product over --grid options)")
            r.add_argument("--executor", choices=("local", "dask"), default="local",
                           help="local: batched on this machine; dask: chunks on a Dask cluster")
            r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                           help="dask scheduler address (default: a LocalCluster on this "
                           "machine); its workers must see --out at the same path")
            r.add_argument("--chunk-size", type=int, default=8, metavar="N",
                           help="dask: at most N batched configs per task (default 8)")
            r.add_argument("--workers", type=int, default=None, metavar="N",
                           help="dask LocalCluster: worker processes (default: CPU count, <= 4)")
        r.add_argument("--out", default=None, help="run store directory (default: "
                       "$WORKBENCH_STORE or ~/.cache/workbench/runs)")
        r.add_argument("--device", default=None, help="auto, cpu, cuda, mps")
        r.add_argument("--quiet", action="store_true", help="no progress bar")
        if name == "run":
            r.add_argument("--json", action="store_true", help="also print the summary as JSON")
        r.set_defaults(func=cmd_run if name == "run" else cmd_sweep)

    st = sub.add_parser("store", help="list the run store; remove runs (--rm)",
                        description="List the runs in the store (id, status, age, size, key "
                        "parameters); with --rm, remove the ones selected. Status: done, "
                        "partial, damaged, or stale (made by other code than the code installed "
                        "now; never loaded, kept until removed).")
    st.add_argument("pattern", nargs="*", help="run ids or glob patterns (e.g. 'grokking-*')")
    st.add_argument("--stale", action="store_true", help="only runs made by other code")
    st.add_argument("--older-than", default=None, metavar="AGE",
                    help="only runs unchanged for longer than AGE (30d, 12h, 90m, 2w)")
    st.add_argument("--rm", action="store_true", help="remove the selected runs")
    st.add_argument("--out", default=None, help="run store directory (default: "
                    "$WORKBENCH_STORE or ~/.cache/workbench/runs)")
    st.set_defaults(func=cmd_store)

    c = sub.add_parser("curriculum", help="execute the notebooks (papermill) and index them")
    c.add_argument("--preset", default="quick", choices=("quick", "full"),
                   help="injected as the notebooks' `preset`")
    c.add_argument("--only", action="append", metavar="PATTERN",
                   help="notebooks whose name matches (glob or substring); repeatable")
    c.add_argument("--jobs", type=int, default=1, metavar="N", help="notebooks run at once")
    c.add_argument("--out", default="build/curriculum",
                   help="executed notebooks, HTML pages and index.html (default %(default)s)")
    c.add_argument("--notebooks", default=None, metavar="DIR",
                   help="notebook directory (default: the repository's notebooks/)")
    c.add_argument("--store", default=None, help="run store injected as `store` (default: "
                   "the notebooks' own default, $WORKBENCH_STORE or ~/.cache/workbench/runs)")
    c.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="another parameter to inject (a Python literal, else a string)")
    c.add_argument("--figures", default=None, metavar="DIR",
                   help="also save each notebook's figure (cell tagged `figure`, else the "
                   "first plotly figure) as DIR/<notebook>.png (headless Chromium)")
    c.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="per-cell execution timeout")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_curriculum)

    rp = sub.add_parser("reproduce", help="run the papers' headline claims and report which hold")
    rp.add_argument("claims", nargs="*", metavar="ID|PATTERN",
                    help="claim ids, globs (prieto-*) or substrings (default: every claim)")
    rp.add_argument("--list", action="store_true", help="list the claims and exit")
    rp.add_argument("--scale", action="append", metavar="cpu|full",
                    help="cpu (2 CPU cores, ≤ 15 min a claim) or full (the paper's setting, "
                    "for a GPU); repeat or comma-separate for both (default cpu)")
    rp.add_argument("--out", default="build/reproductions",
                    help="report directory (default %(default)s)")
    rp.add_argument("--store", default=None, help="run store (default: $WORKBENCH_STORE or "
                    "~/.cache/workbench/runs)")
    rp.add_argument("--device", default=None, help="auto, cpu, cuda, mps")
    rp.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    rp.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="claims run at once, each in its own process (default 1)")
    rp.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                    help="wall-clock allowance: start a claim only while its estimated "
                    "minutes (times the slowdown measured so far) fit; report the rest as "
                    "not run")
    rp.add_argument("--png", action=argparse.BooleanOptionalAction, default=None,
                    help="save figures as PNGs (default: when headless Chromium is available)")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    rp.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("serve", help="serve the Panel dashboards")
    s.add_argument("app", nargs="?", default=None, help="one chapter's app (default: all)")
    s.add_argument("--port", type=int, default=5006)
    s.add_argument("--address", default="127.0.0.1")
    s.add_argument("--allow-websocket-origin", action="append", default=None)
    s.add_argument("--prefix", default="", help="URL prefix (behind a proxy, e.g. Jupyter)")
    s.add_argument("--show", action="store_true", help="open a browser")
    s.set_defaults(func=cmd_serve)
    return p


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the usage first), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"workbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted; the run was checkpointed and resumes when run again",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
