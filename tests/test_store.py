"""The run store: ids that cover the code, "loaded from the store" said and flagged, the
`workbench store` command, one trainer per run across processes, and damaged files.

The concurrency and damage tests drive real ``python -m workbench.cli`` processes. None of
them waits on the clock: a test that needs two processes to collide holds the run's lock
itself until both say they are waiting for it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import pause_hook
import workbench as wb
from workbench.cli import main
from workbench.core.store import RunStore

CLI = [sys.executable, "-m", "workbench.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = dict(steps=60, log_every=20)
SETS = ["--set", "steps=60", "--set", "log_every=20"]
SRC = Path(wb.__file__).resolve().parent  # the workbench package under test


def _tiny_id(store: RunStore, **overrides) -> str:
    return store.run_id("grokking", wb.make_config("grokking", "quick", **TINY, **overrides))


def _start(args, log: Path, env=ENV, cli=CLI) -> subprocess.Popen:
    fh = open(log, "w")
    proc = subprocess.Popen(cli + args, stdout=fh, stderr=subprocess.STDOUT, env=env,
                            text=True)
    proc.log = log
    fh.close()  # the child keeps its own descriptor
    return proc


def _wait_for_text(procs, text) -> None:
    """Until every process's output contains ``text`` (a state, not a guess at a time; the
    test's timeout mark bounds a hang)."""
    while not all(text in p.log.read_text() for p in procs):
        for p in procs:
            assert p.poll() is None, f"exited early:\n{p.log.read_text()[-2000:]}"
        time.sleep(0.05)


def _finish(proc, timeout=300) -> str:
    proc.wait(timeout)
    out = proc.log.read_text()
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return out


# --------------------------------------------------------------------------- loaded from the store
def test_a_run_from_the_store_says_so(store, capsys):
    first = wb.run("grokking", preset="quick", store=store, **TINY)
    assert not first.loaded and first.source == "trained" and first.source_line == ""
    assert "loaded from the run store" not in capsys.readouterr().out
    again = wb.run("grokking", preset="quick", store=store, **TINY)
    assert again.loaded and again.source == "store" and again.id == first.id
    line = f"loaded from the run store ({first.id}, trained "
    assert again.source_line.startswith(line)
    assert capsys.readouterr().out.count(line) == 1  # one line, printed by wb.run
    # a sweep with one member in the store: "1 of 2 runs loaded", the other trained now
    sw = wb.sweep("grokking", grid={"seed": [0, 1]}, preset="quick", store=store, **TINY)
    assert [r.loaded for r in sw.runs] == [True, False] and sw.source == "mixed"
    assert sw.source_line.startswith("1 of 2 runs loaded from the run store")
    assert "1 of 2 runs loaded from the run store" in capsys.readouterr().out
    again = wb.sweep("grokking", grid={"seed": [0, 1]}, preset="quick", store=store,
                     progress=False, **TINY)
    assert again.loaded and again.source_line.startswith(
        f"loaded from the run store ({again.id}: 2 runs, trained ")
    assert capsys.readouterr().out == ""  # progress=False prints nothing


def test_cli_says_loaded_from_the_store(tmp_path):
    args = ["run", "grokking", *SETS, "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    assert main(args) == 0  # --quiet too: the CLI prints the line itself


def test_dashboard_status_says_loaded_from_the_store(store):
    from workbench.apps import grokking as G

    app = G.GrokkingApp(store=store)
    for key, value in dict(p=23, steps=60).items():  # log_every: the preset's 20
        app.widgets[key].value = str(value)  # the form's text boxes
    app.train()
    app.wait(120)
    assert app.state == "done" and "loaded from the run store" not in app.status.object
    app.train()  # the same config again
    app.wait(120)
    assert app.state == "done" and "Done" in app.status.object
    assert f"loaded from the run store ({app.run.id}, trained " in app.status.object
    # the phase tab's sweep says so too: tests/test_dashboard_grokking.py::test_phase_diagram_and_click


# --------------------------------------------------------------------------- the code fingerprint
FINGERPRINTS = ("import json, workbench as wb; "
                "print(json.dumps({n: e.code() for n, e in wb.experiments().items()}))")


def _fingerprints(src_parent: Path, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", FINGERPRINTS], capture_output=True, text=True,
                         env={**ENV, "PYTHONPATH": str(src_parent)}, cwd=cwd, timeout=300,
                         check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def edited_code(tmp_path_factory):
    """Two copies of the package in other directories: one as it is, one with a comment
    added to ``grokking/losses.py`` and one to ``grokking/plots.py``."""
    root = tmp_path_factory.mktemp("code")
    for name in ("same", "edited"):
        shutil.copytree(SRC, root / name / "workbench",
                        ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("losses.py", "plots.py"):
        with open(root / "edited" / "workbench" / "grokking" / f, "a") as fh:
            fh.write("# a learner's edit\n")
    return root


def test_fingerprint_is_stable_and_covers_the_chapter(edited_code, tmp_path):
    here = {n: e.code() for n, e in wb.experiments().items()}
    # the same files elsewhere, in another process and directory: the same fingerprints
    assert _fingerprints(edited_code / "same", tmp_path) == here
    edited = _fingerprints(edited_code / "edited", tmp_path)
    changed = {n for n in here if edited[n] != here[n]}
    # grokking's own code changed, and the neural_collapse package imports grokking's model
    # and trainer: every experiment of those two chapters, and no other
    assert changed == {n for n, e in wb.experiments().items()
                       if e.chapter in ("grokking", "neural_collapse")}
    assert {"grokking", "grokking-nc", "superposition"} <= set(here) and "superposition" not in changed
    # a figure-only edit (plots.py) alone changes nothing: left out of the fingerprint
    from workbench.core.fingerprint import PRESENTATION, package_files
    assert "plots.py" in PRESENTATION
    assert "plots.py" not in {p.name for p in package_files("grokking")}
    assert "losses.py" in {p.name for p in package_files("grokking")}


def test_other_code_is_recomputed_and_its_run_kept(edited_code, tmp_path, capsys):
    """A run made by other code is never loaded: the edited code trains its own run beside
    it (a real process running the edited copy), and `workbench store --stale` finds it."""
    store = RunStore(tmp_path / "runs")
    ours = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    before = {p.name: p.read_bytes() for p in ours.path.iterdir()}
    proc = subprocess.run(CLI + ["run", "grokking", *SETS, "--out", str(store.root)],
                          capture_output=True, text=True, timeout=300,
                          env={**ENV, "PYTHONPATH": str(edited_code / "edited")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "loaded from the run store" not in proc.stdout + proc.stderr
    assert f"the store's run of this config ({ours.id}) was made by other code" in proc.stdout
    theirs = proc.stdout.split("run: ")[1].split()[0]
    assert Path(theirs).name != ours.id and Path(theirs).parent == store.root
    assert {p.name: p.read_bytes() for p in ours.path.iterdir()} == before  # kept as it was
    assert json.loads((Path(theirs) / "config.json").read_text())["code"] != ours.code
    # this code: ours is current and loaded; theirs is stale
    assert wb.run("grokking", preset="quick", store=store, progress=False, **TINY).loaded
    table = store.runs().set_index("run_id")
    assert table.loc[ours.id, "status"] == "done"
    assert table.loc[Path(theirs).name, "status"] == "stale"
    capsys.readouterr()
    assert main(["store", "--out", str(store.root), "--stale"]) == 0
    listed = capsys.readouterr().out
    assert Path(theirs).name in listed and ours.id not in listed and "--rm" in listed
    assert main(["store", "--out", str(store.root), "--stale", "--rm"]) == 0
    assert not Path(theirs).exists() and ours.path.exists()


# --------------------------------------------------------------------------- workbench store
def test_store_command_lists_and_removes(store, capsys):
    a = wb.run("grokking", preset="quick", store=store, progress=False, **TINY)
    b = wb.run("grokking", preset="quick", store=store, progress=False, seed=3, **TINY)
    sw = wb.sweep("grokking", grid={"seed": [0, 3]}, preset="quick", store=store,
                  progress=False, **TINY)
    root = str(store.root)
    capsys.readouterr()
    assert main(["store", "--out", root]) == 0
    out = capsys.readouterr().out
    assert a.id in out and b.id in out and sw.id in out and "3 entries" in out
    assert "quick steps=60" in out and "seed=3" in out  # the preset and what differs from it
    assert main(["store", "--out", root, "--older-than", "1d"]) == 0
    assert "no runs match" in capsys.readouterr().out
    assert main(["store", "--out", root, "--older-than", "soon"]) == 2
    assert "older-than:" in capsys.readouterr().err
    assert main(["store", "--out", root, "--rm"]) == 2  # nothing named: nothing removed
    assert len(store.runs()) == 3
    # removing a member removes the sweep record that lists it, not the other member
    assert main(["store", "--out", root, "--rm", b.id]) == 0
    assert set(store.runs()["run_id"]) == {a.id}
    # a run another process is training is kept, and so is a batch it trains in
    batch = store.root / "grokking-batch-0123456789ab"
    batch.mkdir()
    (batch / "config.json").write_text(json.dumps({"experiment": "grokking", "batch_of": [a.id]}))
    with store.lock(a.id):
        removed, skipped = store.remove([a.id, batch.name])
    assert removed == [] and skipped == [a.id, batch.name] and a.path.exists() and batch.exists()
    assert main(["store", "--out", root, "--older-than", "0s", "--rm"]) == 0
    assert store.runs().empty


# --------------------------------------------------------------------------- two processes
@pytest.mark.slow
def test_two_processes_same_config_train_it_once(tmp_path):
    """Two `workbench run` of the same config at once: one trains, the other waits for it
    and loads the result; the run is whole and has the numbers of a run made alone."""
    store = RunStore(tmp_path / "runs")
    rid = _tiny_id(store)
    args = ["run", "grokking", *SETS, "--quiet", "--out", str(store.root)]
    reference = _start(["run", "grokking", *SETS, "--quiet", "--out", str(tmp_path / "ref")],
                       tmp_path / "ref.log")
    with store.lock(rid):  # both start while the run is locked: they must collide
        procs = [_start(args, tmp_path / f"{i}.log") for i in range(2)]
        _wait_for_text(procs, f"waiting for another process that is training {rid}")
    outs = [_finish(p) for p in procs]
    _finish(reference)
    assert sum("loaded from the run store" in o for o in outs) == 1, outs
    assert store.check(rid) == ("done", "")
    assert [p.name for p in store.root.iterdir() if not p.name.startswith(".")] == [rid]
    pd.testing.assert_frame_equal(store.get(rid).metrics,
                                  RunStore(tmp_path / "ref").get(rid).metrics, check_exact=True)


@pytest.mark.slow
def test_a_sweep_and_a_run_of_one_member_at_once(tmp_path):
    """A sweep batches two runs while another process asks for one of them alone: whichever
    gets the lock first trains it, the other loads it; nothing is trained twice."""
    store = RunStore(tmp_path / "runs")
    shared = _tiny_id(store, lr=0.01)
    sweep = _start(["sweep", "grokking", "--grid", "lr=0.003,0.01", *SETS, "--quiet",
                    "--out", str(store.root)], tmp_path / "sweep.log")
    single = _start(["run", "grokking", "--set", "lr=0.01", *SETS, "--quiet",
                     "--out", str(store.root)], tmp_path / "single.log")
    with store.lock(shared):
        _wait_for_text([sweep, single], f"waiting for another process that is training {shared}")
    out_sweep, out_single = _finish(sweep), _finish(single)
    # exactly one of them loaded the shared run
    assert ("1 of 2 runs loaded from the run store" in out_sweep) != (
        f"loaded from the run store ({shared}" in out_single), (out_sweep, out_single)
    table = store.runs()
    assert (table["status"] == "done").all() and sorted(table["kind"]) == ["run", "run", "sweep"]
    # the same numbers as runs made alone (batched or not: to float tolerance)
    for lr in (0.003, 0.01):
        ref = wb.run("grokking", preset="quick", store=tmp_path / "ref", progress=False,
                     lr=lr, **TINY)
        pd.testing.assert_frame_equal(store.get(ref.id).metrics, ref.metrics, rtol=1e-6)


# --------------------------------------------------------------------------- killed, damaged
@pytest.mark.slow
def test_killed_process_releases_its_lock_and_a_torn_checkpoint_restarts(tmp_path):
    """A process killed while training leaves its lock free (the OS drops it); its
    checkpoint, torn as by a power cut, is detected: one line, then training from scratch
    to the numbers of an uninterrupted run. The killed process blocks right after its first
    checkpoint (``pause_hook``), so the kill always lands mid-run."""
    store = RunStore(tmp_path / "runs")
    sets = ["--set", "steps=400", "--set", "log_every=10"]
    rid = store.run_id("grokking", wb.make_config("grokking", "quick", steps=400, log_every=10))
    fresh = _start(["run", "grokking", *sets, "--quiet", "--out", str(tmp_path / "f")],
                   tmp_path / "fresh.log")  # the uninterrupted reference, meanwhile
    marker = tmp_path / "checkpointed"
    proc = _start(["run", "grokking", *sets, "--quiet", "--out", str(store.root)],
                  tmp_path / "killed.log", env=pause_hook.env_with_hook(ENV),
                  cli=[sys.executable, "-c", pause_hook.HOOKED_CLI, str(marker)])
    ckpt = store.path(rid) / "checkpoint.pt"
    while not marker.exists():  # the checkpoint is written, and the process is stuck
        assert proc.poll() is None, proc.log.read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not store.is_done(rid), "the run finished before it was killed"
    lock = store.lock(rid)
    lock.acquire(timeout=0)  # free at once: a killed process holds no lock
    lock.release()
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    again = _finish(_start(["run", "grokking", *sets, "--quiet", "--out", str(store.root)],
                           tmp_path / "again.log"))
    lines = [ln for ln in again.splitlines() if "checkpoint.pt is damaged" in ln]
    assert len(lines) == 1 and lines[0].endswith("training it from scratch"), again
    assert store.check(rid) == ("done", "")
    _finish(fresh)
    pd.testing.assert_frame_equal(store.get(rid).metrics,
                                  RunStore(tmp_path / "f").get(rid).metrics, check_exact=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run made by a real CLI process: (store root, run id)."""
    root = tmp_path_factory.mktemp("finished") / "runs"
    proc = subprocess.run(CLI + ["run", "grokking", *SETS, "--quiet", "--out", str(root)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root, Path(proc.stdout.split("run: ")[1].split()[0]).name


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _one_digit_off(path: Path) -> None:  # still a valid CSV, with a wrong number in it
    text = path.read_text()
    i = next(i for i, ch in enumerate(text) if ch in "12345678" and i > text.index("\n"))
    path.write_text(text[:i] + str(int(text[i]) + 1) + text[i + 1:])


@pytest.mark.parametrize("name,damage,how", [
    ("checkpoint.pt", _truncate, "training it from scratch"),
    ("metrics.csv", _truncate, "restarting from its checkpoint at step 60"),
    ("metrics.csv", _one_digit_off, "restarting from its checkpoint at step 60"),
    ("summary.json", _truncate, "restarting from its checkpoint at step 60"),
])
def test_damaged_file_is_detected_and_recomputed(finished, tmp_path, name, damage, how):
    """A finished run with a truncated or altered file is never loaded: a real process
    says so in one line, recomputes what was lost, and ends with the original numbers."""
    src, rid = finished
    store = RunStore(tmp_path / "runs")
    shutil.copytree(src, store.root)
    original = {f: (store.path(rid) / f).read_bytes() for f in ("metrics.csv", "summary.json")}
    damage(store.path(rid) / name)
    assert store.check(rid)[0] == "damaged"
    out = _finish(_start(["run", "grokking", *SETS, "--quiet", "--out", str(store.root)],
                         tmp_path / "again.log"))
    lines = [ln for ln in out.splitlines() if ln.startswith("grokking: ")]
    assert lines == [f"grokking: {rid}: {name} is damaged (it does not match the run's "
                     f"manifest); {how}"], out
    assert "loaded from the run store" not in out
    assert store.check(rid) == ("done", "")
    for f, data in original.items():
        assert (store.path(rid) / f).read_bytes() == data, f
