"""The run store: one directory per run, written atomically, checked on every load.

Layout of a run directory ``<root>/<experiment>-<config hash>-<code hash>/``:

``config.json``   the experiment name, the full config and the code fingerprint
``metrics.csv``   one row per logged step
``summary.json``  headline numbers
``checkpoint.pt`` trainer state: the latest checkpoint while running, the final model after
``manifest.json`` written last: the size and SHA-256 of the four files above and when the run
                  finished; a run is *done* when its manifest is there and every file matches

The id covers the config and the code that produced it (``core/fingerprint.py``): the same
config run by the same code has the same id and is loaded instead of recomputed; a run made
by other code keeps its own directory (its numbers stay beside the new ones) and is never
loaded as current. An unfinished run resumes from its checkpoint. A file that does not match
the manifest (a disk that filled up, a power cut) makes the run unfinished again: it is
recomputed from its last good checkpoint, or from scratch.

Concurrency: a run is trained only while holding its lock, ``<root>/.locks/<run id>.lock``
(``filelock``: an OS-level lock, released when its process dies), so two processes asking for
the same run train it once — the second waits, then loads it. A sweep is a run directory too,
listing its member runs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from filelock import FileLock

__all__ = ["RunStore", "Run", "Sweep", "default_root", "atomic_write", "loaded_line",
           "check_writable"]

DATA_FILES = ("config.json", "metrics.csv", "summary.json", "checkpoint.pt")
MANIFEST = "manifest.json"
LOCKS = ".locks"


def default_root() -> Path:
    """``$WORKBENCH_STORE`` or ``~/.cache/workbench/runs``."""
    env = os.environ.get("WORKBENCH_STORE")
    return Path(env) if env else Path.home() / ".cache" / "workbench" / "runs"


def check_writable(path: str | Path | None, name: str = "store") -> Path:
    """``path`` (default: :func:`default_root`) as a directory this process can write to,
    created if missing; else a one-line ConfigError naming the parameter ``name``."""
    from .config import ConfigError

    path = Path(path) if path is not None else default_root()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise ConfigError(f"{name}: cannot write to {path} ({why}); allowed: a directory "
                          "this user can write to") from None
    return path


def atomic_write(path: Path, write) -> None:
    """Write through ``write(tmp_path)`` to a temporary file, flush it to disk, then rename it
    onto ``path``: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
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


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path):
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "at an unknown time"


def loaded_line(runs: list["Run"], label: str | None = None) -> str:
    """The one line that says which of ``runs`` came from the store rather than being
    trained: ``loaded from the run store (grokking-…, trained 2026-11-23 14:02)``, or
    ``2 of 4 runs loaded from the run store (…)``; ``""`` when none did."""
    loaded = [r for r in runs if r.loaded]
    if not loaded:
        return ""
    stamps = sorted(t for t in (r.trained_at for r in loaded) if t)
    when = _when(stamps[0] if stamps else None)
    if stamps and _when(stamps[-1]) != when:
        when = f"{when} to {_when(stamps[-1])}"
    if len(runs) == 1:
        return f"loaded from the run store ({loaded[0].id}, trained {when})"
    what = f"{label}: " if label else ""
    if len(loaded) == len(runs):
        return f"loaded from the run store ({what}{len(runs)} runs, trained {when})"
    return (f"{len(loaded)} of {len(runs)} runs loaded from the run store ({what}trained {when}); "
            f"{len(runs) - len(loaded)} trained now")


@dataclass
class Run:
    """A finished (or partial) run read back from its directory. ``loaded`` is True when
    the call that returned it took it from the store instead of training it."""

    path: Path
    loaded: bool = False

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
    def code(self) -> str | None:
        """The fingerprint of the code that trained it (``core/fingerprint.py``)."""
        return self.record.get("code")

    @property
    def metrics(self) -> pd.DataFrame:
        p = self.path / "metrics.csv"
        return pd.read_csv(p) if p.exists() else pd.DataFrame()

    @property
    def summary(self) -> dict:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.exists() else {}

    @property
    def manifest(self) -> dict:
        return _read_json(self.path / MANIFEST) or {}

    @property
    def done(self) -> bool:
        return (self.path / MANIFEST).exists()

    @property
    def trained_at(self) -> float | None:
        """When it finished training (seconds since the epoch), from its manifest."""
        return self.manifest.get("finished")

    @property
    def source(self) -> str:
        """``"store"`` (loaded from the run store) or ``"trained"`` (by the call that
        returned it)."""
        return "store" if self.loaded else "trained"

    @property
    def source_line(self) -> str:
        """``loaded from the run store (<id>, trained <when>)``, or ``""`` if trained now."""
        return loaded_line([self])

    def checkpoint(self, map_location="cpu") -> dict:
        return torch.load(self.path / "checkpoint.pt", map_location=map_location,
                          weights_only=False)

    def __repr__(self) -> str:
        return f"Run({self.id!r}, done={self.done}, source={self.source!r})"


@dataclass
class Sweep:
    """A sweep record: its member runs, in the order of the configs asked for."""

    path: Path
    runs: list[Run]

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def loaded(self) -> bool:
        """Every member came from the store (nothing was trained)."""
        return all(r.loaded for r in self.runs)

    @property
    def source(self) -> str:
        """``"store"`` (every member loaded), ``"trained"`` (none) or ``"mixed"``."""
        n = sum(r.loaded for r in self.runs)
        return "store" if n == len(self.runs) else "trained" if n == 0 else "mixed"

    @property
    def source_line(self) -> str:
        """One line saying which members came from the store; ``""`` if none did."""
        return loaded_line(self.runs, self.id if len(self.runs) > 1 else None)

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


def _current_code(experiment: str, strict: bool = True) -> str | None:
    """The fingerprint of the code installed now for ``experiment``; an unknown experiment
    raises ConfigError, or gives None unless ``strict``."""
    from .experiment import experiments, get
    if strict:
        return get(experiment).code()
    exp = experiments().get(experiment)
    return exp.code() if exp is not None else None


class RunStore:
    """A directory of runs. ``RunStore()`` uses :func:`default_root`."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # ------------------------------------------------------------------ ids
    def run_id(self, experiment: str, config, code: str | None = None) -> str:
        """``<experiment>-<config hash>-<code hash>``; ``code`` defaults to the fingerprint
        of the code installed now."""
        code = code or _current_code(experiment)
        return f"{experiment}-{config.digest()[:10]}-{code[:8]}"

    def sweep_id(self, experiment: str, configs, code: str | None = None) -> str:
        code = code or _current_code(experiment)
        h = hashlib.sha1((code + "|".join(c.canonical_json() for c in configs)).encode())
        return f"{experiment}-sweep-{h.hexdigest()[:12]}"

    def batch_id(self, experiment: str, configs, code: str | None = None) -> str:
        """The work directory of a batched group while it trains."""
        return self.sweep_id(experiment, configs, code).replace("-sweep-", "-batch-")

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def lock(self, run_id: str) -> FileLock:
        """The lock a process holds while it trains ``run_id`` (never deleted: a waiter and
        a new comer must lock the same file)."""
        (self.root / LOCKS).mkdir(parents=True, exist_ok=True)
        return FileLock(self.root / LOCKS / f"{run_id}.lock")

    def older_versions(self, run_id: str) -> list[str]:
        """Runs of the same experiment and config made by other code."""
        stem = run_id.rsplit("-", 1)[0]
        return sorted(p.name for p in self.root.glob(f"{stem}-*")
                      if p.name != run_id and (p / "config.json").exists())

    # ------------------------------------------------------------------ state
    def check(self, run_id: str, thorough: bool = True) -> tuple[str, str]:
        """``(state, reason)``: ``"done"``, ``"missing"``, ``"partial"`` (started, not
        finished) or ``"damaged"`` (the reason names the file). ``thorough`` compares every
        file's SHA-256 with the manifest; otherwise only sizes (for listings)."""
        p = self.path(run_id)
        if not p.is_dir():
            return "missing", ""
        if not (p / MANIFEST).exists():
            return "partial", ""
        man = _read_json(p / MANIFEST)
        if not isinstance(man, dict) or not isinstance(man.get("files"), dict):
            return "damaged", "manifest.json is damaged"
        for name in DATA_FILES:
            entry = man["files"].get(name)
            f = p / name
            if entry is None or not f.exists():
                return "damaged", f"{name} is missing"
            if f.stat().st_size != entry.get("bytes") or (
                    thorough and file_sha256(f) != entry.get("sha256")):
                return "damaged", f"{name} is damaged (it does not match the run's manifest)"
        return "done", ""

    def is_done(self, run_id: str) -> bool:
        return self.check(run_id)[0] == "done"

    def damaged_files(self, run_id: str) -> list[str]:
        """Data files of a finished run that no longer match its manifest."""
        p = self.path(run_id)
        man = _read_json(p / MANIFEST)
        files = man.get("files") if isinstance(man, dict) else None
        if not isinstance(files, dict):
            return [n for n in DATA_FILES if (p / n).exists()]
        bad = []
        for name in DATA_FILES:
            f, entry = p / name, files.get(name) or {}
            if f.exists() and (f.stat().st_size != entry.get("bytes")
                               or file_sha256(f) != entry.get("sha256")):
                bad.append(name)
        return bad

    def unfinish(self, run_id: str, drop: tuple[str, ...] = ()) -> None:
        """Mark a run unfinished before it is (re)computed: remove its manifest and summary
        (so a crash part-way leaves a partial run, never a wrong finished one) and ``drop``."""
        p = self.path(run_id)
        for name in (MANIFEST, "summary.json", *drop):
            (p / name).unlink(missing_ok=True)

    def finish(self, run_id: str, code: str) -> None:
        """Write the manifest of a run whose data files are all written: last, atomically."""
        p = self.path(run_id)
        files = {n: {"bytes": (p / n).stat().st_size, "sha256": file_sha256(p / n)}
                 for n in DATA_FILES}
        write_json(p / MANIFEST, {"files": files, "code": code, "finished": time.time()})

    def get(self, run_id: str) -> Run:
        p = self.path(run_id)
        if not (p / "config.json").exists():
            raise KeyError(f"run {run_id!r} is not in the store at {self.root}")
        return Run(p)

    def get_sweep(self, sweep_id: str) -> Sweep:
        rec = json.loads((self.path(sweep_id) / "config.json").read_text())
        return Sweep(self.path(sweep_id), [self.get(r) for r in rec["members"]])

    # ------------------------------------------------------------------ listing, removal
    def runs(self, thorough: bool = False) -> pd.DataFrame:
        """A table of every run, sweep and batch work directory in the store: id,
        experiment, kind, status (``done``, ``partial``, ``damaged``, or ``stale``: made by
        other code than the code installed now), done, key parameters, age, size and time
        of the last change. Sizes are checked against the manifests; ``thorough`` also
        compares the SHA-256 of every file."""
        rows, now, codes = [], time.time(), {}
        if self.root.exists():
            for p in sorted(self.root.iterdir()):
                rec = _read_json(p / "config.json") if p.is_dir() else None
                if not isinstance(rec, dict):
                    continue
                exp = rec.get("experiment")
                if exp not in codes:
                    codes[exp] = _current_code(exp, strict=False) if exp else None
                kind = ("sweep" if "members" in rec else "batch" if "batch_of" in rec
                        else "run")
                if kind == "run":
                    state = self.check(p.name, thorough)[0]
                else:
                    state = "done" if (p / "summary.json").exists() else "partial"
                stale = rec.get("code") is None or rec.get("code") != codes[exp]
                files = [f for f in p.iterdir() if f.is_file()]
                changed = max(f.stat().st_mtime for f in files)
                rows.append(dict(
                    run_id=p.name, experiment=exp, kind=kind,
                    status="stale" if stale else state, done=state == "done",
                    params=_key_params(exp, rec) if kind == "run" else
                    f"{len(rec.get('members') or rec.get('batch_of') or [])} runs",
                    age_s=now - changed, size=sum(f.stat().st_size for f in files),
                    modified=pd.Timestamp(changed, unit="s")))
        return pd.DataFrame(rows, columns=["run_id", "experiment", "kind", "status", "done",
                                           "params", "age_s", "size", "modified"])

    def select(self, patterns=(), stale: bool = False, older_than: float | None = None,
               table: pd.DataFrame | None = None) -> pd.DataFrame:
        """The rows of :meth:`runs` whose id matches one of ``patterns`` (globs; all if
        none), and, if asked, that are stale / unchanged for ``older_than`` seconds."""
        t = self.runs() if table is None else table
        keep = pd.Series(True, index=t.index)
        if patterns:
            keep &= t["run_id"].map(lambda r: any(fnmatch.fnmatchcase(r, p) for p in patterns))
        if stale:
            keep &= t["status"] == "stale"
        if older_than is not None:
            keep &= t["age_s"] > older_than
        return t[keep]

    def remove(self, run_ids) -> tuple[list[str], list[str]]:
        """Delete runs (and sweep records that list one of them); a run another process is
        training is skipped. Returns (removed, skipped)."""
        removed, skipped = [], []
        gone = set()
        for rid in run_ids:
            rec = _read_json(self.path(rid) / "config.json") or {}
            locks = []  # a batch work directory is in use while any of its runs is locked
            try:
                for lid in sorted(rec.get("batch_of") or [rid]):
                    locks.append(self.lock(lid))
                    locks[-1].acquire(timeout=0)
            except TimeoutError:
                skipped.append(rid)
                locks.pop()
                continue
            else:
                shutil.rmtree(self.path(rid), ignore_errors=True)
                removed.append(rid)
                gone.add(rid)
            finally:
                for lock in locks:
                    lock.release()
        if gone and self.root.exists():
            for p in self.root.glob("*-sweep-*"):
                rec = _read_json(p / "config.json") or {}
                if gone & set(rec.get("members") or ()):
                    shutil.rmtree(p, ignore_errors=True)
                    if p.name not in removed:
                        removed.append(p.name)
        return removed, skipped


def _key_params(experiment: str | None, record: dict) -> str:
    """A run's config in few words: the nearest preset and the values that differ from it."""
    config = record.get("config") or {}
    from .experiment import experiments
    exp = experiments().get(experiment)
    if exp is None:
        return " ".join(f"{k}={v}" for k, v in config.items())
    best = None
    for name in exp.presets:
        try:
            base = exp.config(name).to_dict()
        except Exception:  # noqa: BLE001 - a preset that no longer validates
            continue
        diff = [f"{k}={config[k]}" for k in config if json.dumps(config[k]) != json.dumps(base.get(k))]
        if best is None or len(diff) < len(best[1]):
            best = (name, diff)
    return " ".join([best[0], *best[1]]) if best else ""
