"""The run store: one directory per run, written atomically.

Layout of a run directory ``<root>/<experiment>-<hash>/``:

``config.json``   the experiment name, the full config and the code version
``metrics.csv``   one row per logged step (and per instance, for a sweep)
``summary.json``  headline numbers; its presence marks the run as finished
``checkpoint.pt`` trainer state: the latest checkpoint while running, the final model after

A run whose config (and code version) is identical has the same id, so it is loaded instead
of recomputed; an unfinished run resumes from its checkpoint. A sweep is a run directory
too, listing its member runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

__all__ = ["RunStore", "Run", "Sweep", "default_root", "atomic_write"]

CODE_VERSION = "1"  # bump when a change alters the numbers an existing config produces


def default_root() -> Path:
    """``$WORKBENCH_STORE`` or ``~/.cache/workbench/runs``."""
    env = os.environ.get("WORKBENCH_STORE")
    return Path(env) if env else Path.home() / ".cache" / "workbench" / "runs"


def atomic_write(path: Path, write) -> None:
    """Write through ``write(tmp_path)`` to a temporary file, then rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj: Any) -> None:
    def w(tmp):
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, default=_json_default)
            fh.write("\n")
    atomic_write(path, w)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def save_torch(path: Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


@dataclass
class Run:
    """A finished (or partial) run read back from its directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def record(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    @property
    def experiment(self) -> str:
        return self.record["experiment"]

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def metrics(self) -> pd.DataFrame:
        p = self.path / "metrics.csv"
        return pd.read_csv(p) if p.exists() else pd.DataFrame()

    @property
    def summary(self) -> dict:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.exists() else {}

    @property
    def done(self) -> bool:
        return (self.path / "summary.json").exists()

    def checkpoint(self, map_location="cpu") -> dict:
        return torch.load(self.path / "checkpoint.pt", map_location=map_location,
                          weights_only=False)

    def __repr__(self) -> str:
        return f"Run({self.id!r}, done={self.done})"


@dataclass
class Sweep:
    """A sweep record: its member runs, in the order of the configs asked for."""

    path: Path
    runs: list[Run]

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def metrics(self) -> pd.DataFrame:
        """All members' metrics, with an ``instance`` column and the swept config values."""
        frames = []
        varying = self.varying()
        for i, run in enumerate(self.runs):
            m = run.metrics.copy()
            m.insert(0, "instance", i)
            for k in varying:
                v = run.config[k]
                m[k] = [v] * len(m) if isinstance(v, list) else v   # a list value per row
            frames.append(m)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per member: the swept config values and the member's summary."""
        varying = self.varying()
        rows = [{"instance": i, "run_id": r.id, **{k: r.config[k] for k in varying}, **r.summary}
                for i, r in enumerate(self.runs)]
        return pd.DataFrame(rows)

    def varying(self) -> list[str]:
        """Config keys whose values differ between members."""
        if not self.runs:
            return []
        cfgs = [r.config for r in self.runs]
        return [k for k in cfgs[0] if any(json.dumps(c[k]) != json.dumps(cfgs[0][k]) for c in cfgs)]

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, i) -> Run:
        return self.runs[i]


class RunStore:
    """A directory of runs. ``RunStore()`` uses :func:`default_root`."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def run_id(self, experiment: str, config) -> str:
        return f"{experiment}-{config.digest(CODE_VERSION)}"

    def sweep_id(self, experiment: str, configs) -> str:
        h = hashlib.sha1((CODE_VERSION + "|".join(c.canonical_json() for c in configs)).encode())
        return f"{experiment}-sweep-{h.hexdigest()[:12]}"

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def get(self, run_id: str) -> Run:
        p = self.path(run_id)
        if not (p / "config.json").exists():
            raise KeyError(f"run {run_id!r} is not in the store at {self.root}")
        return Run(p)

    def is_done(self, run_id: str) -> bool:
        return (self.path(run_id) / "summary.json").exists()

    def get_sweep(self, sweep_id: str) -> Sweep:
        rec = json.loads((self.path(sweep_id) / "config.json").read_text())
        return Sweep(self.path(sweep_id), [self.get(r) for r in rec["members"]])

    def runs(self) -> pd.DataFrame:
        """A table of every run and sweep in the store."""
        rows = []
        if self.root.exists():
            for p in sorted(self.root.iterdir()):
                cfg = p / "config.json"
                if not cfg.exists():
                    continue
                rec = json.loads(cfg.read_text())
                rows.append(dict(run_id=p.name, experiment=rec.get("experiment"),
                                 kind="sweep" if "members" in rec else "run",
                                 done=(p / "summary.json").exists(),
                                 modified=pd.Timestamp(cfg.stat().st_mtime, unit="s")))
        return pd.DataFrame(rows, columns=["run_id", "experiment", "kind", "done", "modified"])
