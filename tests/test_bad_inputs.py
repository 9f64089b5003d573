"""Every bad input gets one clear line: it names the parameter and what is allowed, the CLI
exits with status 2, nothing prints a traceback, and nothing in the run store changes.

One table per surface: the CLI (``workbench run|sweep|list|curriculum|serve``), the Python
API (``wb.run``, ``wb.sweep``), papermill parameters, and the dashboards' forms; plus NaN and
±inf in every float field of every experiment.
"""

from __future__ import annotations

import math
import socket

import pytest
import torch

import workbench as wb
from workbench.cli import main
from workbench.core.config import ConfigError

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory):
    """A run store holding one finished run (so that a change to it would show)."""
    root = tmp_path_factory.mktemp("filled") / "runs"
    wb.run("grokking", store=root, progress=False, p=11, width=8, steps=4, log_every=2)
    return root


def snapshot(root) -> dict:
    """Every file under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


# --------------------------------------------------------------------------- the CLI
CLI = [
    # (case, argv, the one line after "workbench: error: ")
    ("unknown experiment", ["run", "nope"], r"experiment: must be one of .*grokking"),
    ("unknown preset", ["run", "grokking", "--preset", "huge"],
     r"preset: must be one of quick, full \(got 'huge'\)"),
    ("unknown key", ["run", "grokking", "--set", "nope=1"], r"nope: unknown parameter.*; allowed: steps, log_every, p,"),
    ("--set without =", ["run", "grokking", "--set", "p"], r"--set p: expected key=value"),
    ("--set twice", ["run", "grokking", "--set", "lr=0.1", "--set", "lr=0.2"],
     r"lr: given twice in --set"),
    ("wrong type", ["run", "grokking", "--set", "steps=2.5"], r"steps: expected int, got '2.5'"),
    ("text for a number", ["run", "grokking", "--set", "p=abc"], r"p: expected int, got 'abc'"),
    ("out of range", ["run", "grokking", "--set", "lr=-1"], r"lr: must be > 0 \(got -1.0\)"),
    ("zero steps", ["run", "grokking", "--set", "steps=0"], r"steps: must be >= 1"),
    ("not a choice", ["run", "grokking", "--set", "loss=hinge"],
     r"loss: must be one of softmax, stablemax"),
    ("NaN", ["run", "grokking", "--set", "lr=nan"], r"lr: expected a finite float, got 'nan'"),
    ("inf", ["run", "grokking", "--set", "weight_decay=inf"],
     r"weight_decay: expected a finite float, got 'inf'"),
    ("fields that disagree", ["run", "grokking", "--set", "operation=div", "--set", "p=60"],
     r"p: division mod p needs a prime p \(got 60\)"),
    ("too big for memory", ["run", "grokking", "--set", "p=100000"],
     r"p: p=100000 needs ≈ [\d.]+ PB of memory, more than the .* of this machine \(cpu\); "
     r"allowed here: p <= \d+"),
    ("neural collapse too wide", ["run", "neural-collapse", "--set", "width=100000"],
     r"width: width=100000 needs ≈ .*allowed here: width <= \d+"),
    ("unwritable --out", ["run", "grokking", "--out", "/proc/x"],
     r"store: cannot write to /proc/x .*allowed: a directory this user can write to"),
    pytest.param("--device cuda without a GPU", ["run", "grokking", "--device", "cuda"],
                 r"device: cuda was asked for but no CUDA GPU is available; allowed here: auto, "
                 r"cpu", marks=pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU")),
    ("--device tpu", ["run", "grokking", "--device", "tpu"],
     r"device: must be auto, cpu, cuda\[:N\] or mps \(got 'tpu'\); allowed here: auto, cpu"),
    ("superposition alpha=inf", ["run", "superposition", "--set", "alpha=inf"],
     r"alpha: expected a finite float, got 'inf'"),
    ("superposition alpha=1000", ["run", "superposition", "--set", "alpha=1000"],
     r"alpha: must be <= 2 \(got 1000.0\)"),
    ("empty grid values", ["sweep", "grokking", "--grid", "lr="],
     r"lr: expected a finite float, got ''"),
    ("grid of an unknown key", ["sweep", "grokking", "--grid", "nope=1,2"],
     r"nope: unknown parameter"),
    ("grid and --set", ["sweep", "grokking", "--grid", "lr=0.1,0.2", "--set", "lr=0.3"],
     r"lr: given both in --grid and --set"),
    ("--grid twice", ["sweep", "grokking", "--grid", "lr=0.1", "--grid", "lr=0.2"],
     r"lr: given twice in --grid"),
    ("a grid value that cannot run", ["sweep", "grokking", "--grid", "operation=add,div",
                                      "--set", "p=60"], r"p: division mod p needs a prime"),
    ("a grid too big for memory", ["sweep", "grokking", "--grid", "seed=0,1", "--set",
                                   "p=100000"], r"p: p=100000 needs .* \(2 instances\)"),
    ("--scheduler without dask", ["sweep", "grokking", "--grid", "lr=0.1,0.2", "--scheduler",
                                  "tcp://127.0.0.1:1"], r"scheduler: only used with --executor dask"),
    ("--chunk-size 0", ["sweep", "grokking", "--grid", "lr=0.1,0.2", "--executor", "dask",
                        "--chunk-size", "0"], r"chunk_size: must be >= 1 \(got 0\)"),
    ("list an unknown experiment", ["list", "nope"], r"experiment: must be one of"),
    ("unknown command", ["frobnicate"], r"argument command: invalid choice: 'frobnicate'"),
    ("missing experiment", ["run"], r"the following arguments are required: experiment"),
    ("curriculum -p preset=huge", ["curriculum", "-p", "preset=huge"],
     r"preset: must be one of quick, full \(got 'huge'\)"),
    ("curriculum --preset huge", ["curriculum", "--preset", "huge"],
     r"argument --preset: invalid choice: 'huge'"),
    ("curriculum --jobs 0", ["curriculum", "--jobs", "0"], r"jobs: must be >= 1 \(got 0\)"),
    ("curriculum --timeout 0", ["curriculum", "--timeout", "0"],
     r"timeout: must be > 0 seconds"),
    ("curriculum -p without =", ["curriculum", "-p", "seed"], r"-p seed: expected key=value"),
    ("curriculum --only matching nothing", ["curriculum", "--only", "zzz-no-such"],
     r"only: no notebook in .* matches \['zzz-no-such'\]"),
    ("curriculum --notebooks missing", ["curriculum", "--notebooks", "/nonexistent-dir"],
     r"notebooks: /nonexistent-dir is not a directory"),
    ("curriculum unwritable --out", ["curriculum", "--only", "01", "--out", "/proc/x"],
     r"out: cannot write to /proc/x"),
    ("serve an unknown app", ["serve", "nope"], r"app: must be one of grokking"),
    ("serve a port in use", ["serve", "--port", "BUSY"],
     r"port: \d+ is in use on 127.0.0.1; allowed: a free port, e.g. --port \d+"),
    ("serve a port out of range", ["serve", "--port", "70000"],
     r"port: must be an integer in 0..65535 \(got 70000\)"),
    ("serve a port that is not a number", ["serve", "--port", "http"],
     r"argument --port: invalid int value: 'http'"),
    ("serve a bad --prefix", ["serve", "--prefix", "dash"], r"prefix: must start with /"),
]


@pytest.mark.parametrize("case,argv,line", CLI,
                         ids=[c.values[0] if hasattr(c, "marks") else c[0] for c in CLI])
def test_cli(case, argv, line, filled_store, monkeypatch, capsys, tmp_path, busy_port):
    import re

    monkeypatch.setenv("WORKBENCH_STORE", str(filled_store))
    monkeypatch.chdir(tmp_path)  # curriculum's default --out is relative
    argv = [str(busy_port) if a == "BUSY" else a for a in argv]
    before = snapshot(filled_store)
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        rc = exit_.code
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert re.match(r"workbench( \w+)?: error: " + line, one_line(err)), err
    assert "Traceback" not in out
    assert snapshot(filled_store) == before
    assert not list(tmp_path.iterdir())  # nothing written where it was run


# --------------------------------------------------------------------------- the Python API
API = [
    ("run: unknown experiment", lambda s: wb.run("nope", store=s), r"experiment: must be one of"),
    ("run: unknown key", lambda s: wb.run("grokking", store=s, nope=1),
     r"nope: unknown parameter for grokking; allowed: steps, log_every, p,"),
    ("run: unknown preset", lambda s: wb.run("grokking", preset="huge", store=s),
     r"preset: must be one of quick, full \(got 'huge'\)"),
    ("run: NaN", lambda s: wb.run("grokking", store=s, lr=math.nan),
     r"lr: expected a finite float, got nan"),
    ("run: a string for an int", lambda s: wb.run("grokking", store=s, steps="many"),
     r"steps: expected int, got 'many'"),
    ("run: too big for memory", lambda s: wb.run("grokking", store=s, p=100000),
     r"p: p=100000 needs ≈ .*allowed here: p <= \d+"),
    ("run: UFM too wide", lambda s: wb.run("neural-collapse", store=s, data="ufm", width=100000),
     r"width: width=100000 needs ≈ .*allowed here: width <= \d+"),
    ("run: unwritable store", lambda s: wb.run("grokking", store="/proc/x"),
     r"store: cannot write to /proc/x"),
    ("run: device tpu", lambda s: wb.run("grokking", store=s, device="tpu"),
     r"device: must be auto, cpu, cuda\[:N\] or mps \(got 'tpu'\).*"),
    ("sweep: empty grid", lambda s: wb.sweep("grokking", grid={}, store=s), r"grid: empty.*"),
    ("sweep: a key with no values", lambda s: wb.sweep("grokking", grid={"lr": []}, store=s),
     r"lr: the grid gives no values; allowed: a non-empty list"),
    ("sweep: a value, not a list", lambda s: wb.sweep("grokking", grid={"lr": 0.1}, store=s),
     r"lr: a grid needs a list of values \(got 0.1\)"),
    ("sweep: a grid value that cannot run",
     lambda s: wb.sweep("grokking", grid={"operation": ["add", "div"]}, p=60, store=s),
     r"p: division mod p needs a prime p \(got 60\)"),
    ("sweep: unknown grid key", lambda s: wb.sweep("grokking", grid={"nope": [1, 2]}, store=s),
     r"nope: unknown parameter; allowed: steps, log_every, p,"),
    ("sweep: grid values too big to batch",
     lambda s: wb.sweep("superposition", grid={"seed": [0, 1, 2]}, n=10 ** 6, store=s),
     r"n: n=1000000 needs ≈ .* \(3 instances\).*"),
]


@pytest.mark.parametrize("case,call,line", API, ids=[c[0] for c in API])
def test_python_api(case, call, line, filled_store):
    before = snapshot(filled_store)
    with pytest.raises(ConfigError) as err:
        call(filled_store)
    assert __import__("re").match(line, one_line(str(err.value))), str(err.value)
    assert snapshot(filled_store) == before


def float_fields():
    for name, exp in wb.experiments().items():
        for f in exp.config_cls.describe():
            if f["type"] == "float":
                yield name, f["name"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "-inf"])
def test_nan_and_inf_in_every_float_field(value):
    fields = list(float_fields())
    assert len(fields) > 30
    for name, key in fields:
        with pytest.raises(ConfigError, match=rf"^{key}: expected a finite float, got"):
            wb.make_config(name, "quick", **{key: value})


# --------------------------------------------------------------------------- papermill
@pytest.mark.notebook
def test_papermill_preset_huge_is_one_line(tmp_path):
    """``papermill nb.ipynb out.ipynb -p preset huge``: the cell fails with one line."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language":
                                                           "python", "display_name": "Python 3"},
                                            "language_info": {"name": "python"}})
    params = nbformat.v4.new_code_cell('preset = "quick"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        'import workbench as wb\nwb.make_config("grokking", preset)')]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(tmp_path / "nb.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"preset": "huge"}, kernel_name="python3",
                                   progress_bar=False)
    assert err.value.ename == "ConfigError"
    assert err.value.evalue == "preset: must be one of quick, full (got 'huge')"
    (tb,) = err.value.traceback  # one line, not a traceback
    assert "preset: must be one of quick, full" in tb


# --------------------------------------------------------------------------- the dashboards
def grokking(store):
    from workbench.apps.grokking import GrokkingApp
    return GrokkingApp(store=store)


def neural_collapse(store):
    from workbench.apps.neural_collapse import NeuralCollapseApp
    return NeuralCollapseApp(store=store)


def superposition(store):
    from workbench.apps.superposition import SuperpositionApp
    return SuperpositionApp(store=store, autoload=False)


def gumbel(store):
    from workbench.apps.gumbel import GumbelApp
    return GumbelApp(store=store)


def li2(store):
    from workbench.apps.li2 import Li2App
    return Li2App(store=store, autoload=False)


def xor(store):
    from workbench.apps.xor_grokking import XorApp
    return XorApp(store=store, autoload=False)


DASHBOARDS = [
    # (case, app, {widget: typed text}, what to press, the alert's one line)
    ("grokking p=100000", grokking, {"p": "100000"}, "train",
     r"p: p=100000 needs ≈ .*allowed here: p <= \d+"),
    ("grokking p typed as text", grokking, {"p": "abc"}, "train", r"p: expected int, got 'abc'"),
    ("grokking lr cleared", grokking, {"lr": ""}, "train", r"lr: expected a finite float, got ''"),
    ("grokking steps 0", grokking, {"steps": "0"}, "train", r"steps: must be >= 1 \(got 0\)"),
    ("neural-collapse width=100000", neural_collapse, {"width": "100000"}, "train",
     r"width: width=100000 needs ≈ .*allowed here: width <= \d+"),
    ("neural-collapse imbalance 0.5", neural_collapse, {"imbalance": "0.5"}, "train",
     r"imbalance: must be >= 1 \(got 0.5\)"),
    ("superposition alpha=inf", superposition, {"alpha": "inf"}, "run_cell",
     r"alpha: expected a finite float, got 'inf'"),
    ("superposition alpha=1000", superposition, {"alpha": "1000"}, "run_cell",
     r"alpha: must be <= 2 \(got 1000.0\)"),
    ("superposition gamma typed as text", superposition, {"gamma": "minus one"}, "run_cell",
     r"gamma: expected a finite float, got 'minus one'"),
    ("gumbel K=60", gumbel, {"K": "60"}, None, r"K: at most 50 categories here \(got 60\)"),
    ("gumbel K=1", gumbel, {"K": "1"}, None, r"K: must be >= 2 \(got 1\)"),
    ("gumbel K typed as text", gumbel, {"K": "ten"}, None, r"K: expected int, got 'ten'"),
    ("gumbel VAE lr typed as text", gumbel, {"lr": "fast"}, "train",
     r"lr: expected a finite float, got 'fast'"),
    ("li2 M typed as text", li2, {"M": "thirty"}, "run_cell", r"M: expected int, got 'thirty'"),
    ("xor flip typed as text", xor, {"flip": "lots"}, "run_cell",
     r"flip: expected a finite float, got 'lots'"),
]


@pytest.mark.parametrize("case,make,typed,press,line", DASHBOARDS, ids=[c[0] for c in DASHBOARDS])
def test_dashboard_forms(case, make, typed, press, line, filled_store):
    import re

    before = snapshot(filled_store)
    app = make(filled_store)
    widgets = {**getattr(app, "widgets", {}), **getattr(app, "est_widgets", {})}
    for key, text in typed.items():
        widgets[key].value = text
    if press is not None:
        getattr(app, press)()
        app.wait(120)  # a refusal in the worker thread (the memory check) ends it at once
    alert = app.est_alert if press is None else app.alert
    assert alert.visible and re.match(line, one_line(alert.object)), alert.object
    assert snapshot(filled_store) == before


# --------------------------------------------------------------------------- the notebook form
@pytest.mark.parametrize("typed,line", [
    ({"p": "abc"}, r"p: expected int, got 'abc'"),
    ({"lr": ""}, r"lr: expected a finite float, got ''"),
    ({"p": "100000"}, r"p: p=100000 needs ≈ .*allowed here: p <= \d+"),  # refused in the worker
], ids=["p typed as text", "lr cleared", "p=100000"])
def test_notebook_form(typed, line, filled_store):
    """``experiment_form``: what is typed reaches the config; a bad value is one line in the
    form's message, never dropped and never a traceback."""
    import re
    import threading

    from workbench.core.widgets import experiment_form

    before = snapshot(filled_store)
    form = experiment_form("grokking", ["p", "lr"], store=filled_store)
    for key, text in typed.items():
        form.fields[key].value = text
    form.train_button.click()
    for t in threading.enumerate():  # the memory refusal comes from the form's worker
        if t.name == "workbench-form":
            t.join(120)
    assert not form.train_button.disabled
    text = re.sub(r"<[^>]+>", "", form.status.value)
    assert re.match(line, one_line(__import__("html").unescape(text))), form.status.value
    assert snapshot(filled_store) == before
