"""``workbench reproduce``: verdict rules on constructed results, the registry, the report."""

from __future__ import annotations

import json
import re

import pytest

from workbench.cli import main
from workbench.reproduce import Claim, Job, Paper, Scale, claims, register, run_claim, select
from workbench.reproduce import registry as REG
from workbench.reproduce import rules as R
from workbench.reproduce.rules import FAILS, HOLDS, NOT_RUN, PARTLY

RECORD_KEYS = {"id", "paper", "figure", "claim", "paper_value", "ours", "tolerance", "verdict",
               "scale", "seconds", "device"}


# --------------------------------------------------------------------------- rules
def test_bounds_hold_partly_and_fail():
    r = R.AtLeast("acc", 0.99, partly=0.9)
    assert r.judge({"acc": 0.995}).verdict == HOLDS
    assert r.judge({"acc": 0.95}).verdict == PARTLY
    assert r.judge({"acc": 0.5}).verdict == FAILS
    assert r.judge({"acc": None}).verdict == FAILS          # never reached
    assert r.judge({}).verdict == FAILS                     # not measured
    assert r.judge({"acc": float("nan")}).verdict == FAILS
    m = R.AtMost("epoch", 180, partly=300)
    assert [m.judge({"epoch": e}).verdict for e in (120, 180, 250, 301)] == \
        [HOLDS, HOLDS, PARTLY, FAILS]
    assert "≤ 180" in m.text and "partly if ≤ 300" in m.text


def test_near_absolute_and_relative():
    n = R.Near("slope", -1.0, 0.15, partly=0.3)
    assert n.judge({"slope": -0.9}).verdict == HOLDS
    assert n.judge({"slope": -0.75}).verdict == PARTLY
    assert n.judge({"slope": -0.5}).verdict == FAILS
    rel = R.Near("nelbo", 100.0, 0.10, rel=True)
    assert rel.judge({"nelbo": 109}).verdict == HOLDS
    assert rel.judge({"nelbo": 127}).verdict == FAILS


def test_ordered_and_monotone():
    o = R.Ordered(["gs", "st", "rf"])
    assert o.judge({"gs": 1, "st": 2, "rf": 3}).verdict == HOLDS
    assert o.judge({"gs": 2, "st": 1, "rf": 3}).verdict == FAILS
    assert o.judge({"gs": 1, "st": 1, "rf": 3}).verdict == FAILS   # ties are not an order
    assert o.judge({"gs": 1, "rf": 3}).verdict == FAILS
    assert R.Ordered(["a", "b"], margin=0.5).judge({"a": 1, "b": 1.2}).verdict == FAILS
    up = R.Monotone("acc", "up", slack=0.01)
    assert up.judge({"acc": [0.1, 0.5, 0.495, 0.9]}).verdict == HOLDS
    assert up.judge({"acc": [0.1, 0.5, 0.3, 0.9]}).verdict == FAILS
    assert up.judge({"acc": [0.9, 0.5]}).verdict == FAILS
    assert R.Monotone("x", "down", min_change=0.2).judge({"x": [1.0, 0.9]}).verdict == FAILS
    with pytest.raises(ValueError):
        R.Monotone("x", "sideways")


def test_all_required_and_partly():
    rule = R.All(R.Ordered(["a", "b"]), R.AtLeast("c", 1.0), required=[0])
    assert rule.judge({"a": 0, "b": 1, "c": 2}).verdict == HOLDS
    assert rule.judge({"a": 0, "b": 1, "c": 0}).verdict == PARTLY
    assert rule.judge({"a": 1, "b": 0, "c": 2}).verdict == FAILS   # the required part fails
    loose = R.All(R.AtLeast("x", 1), R.AtLeast("y", 1))
    assert loose.judge({"x": 0, "y": 0}).verdict == FAILS
    assert loose.judge({"x": 2, "y": 0}).verdict == PARTLY


def test_per_seed_needs_every_seed():
    rule = R.PerSeed(R.AtLeast("acc", 0.9))
    seeds = lambda *v: {"per_seed": [{"seed": i, "acc": a} for i, a in enumerate(v)]}  # noqa
    assert rule.judge(seeds(0.95, 0.99, 0.91)).verdict == HOLDS
    assert rule.judge(seeds(0.95, 0.5, 0.91)).verdict == PARTLY
    assert rule.judge(seeds(0.5, 0.5)).verdict == FAILS
    assert rule.judge({}).verdict == FAILS
    strict = R.PerSeed(R.AtLeast("acc", 0.9), min_share=0.8)
    assert strict.judge(seeds(0.95, 0.5, 0.5)).verdict == FAILS


def test_check_rule_and_empty_results():
    c = R.Check("a below b", lambda o: HOLDS if o["a"] < o["b"] else FAILS, ["a", "b"],
                {"a": 0, "b": 1}, {"a": 2, "b": 1})
    assert c.judge({"a": 0, "b": 1}).verdict == HOLDS
    assert c.judge({"a": 0}).verdict == FAILS                 # cannot evaluate → fails
    assert R.judge(R.AtLeast("x", 0), {}).verdict == FAILS


# --------------------------------------------------------------------------- the registry
PAPERS = ["Prieto", "Power", "Nanda", "Liu, Liu & Gore", "Elhage", "Bahri", "Papyan",
          "Fang et al. 2021", "Wu & Papyan", "Jang", "MaskLLM", "Sparse-CBM", "SofT-GRPO",
          "flow matching", "Tian", "Xu, Wang", "Shen, Sun & Wei"]  # the issue's, and later chapters


def test_registry_covers_every_paper():
    have = {c.paper for c in claims().values()}
    missing = [p for p in PAPERS if not any(p in h for h in have)]
    assert not missing, f"no claim for {missing}"


@pytest.mark.parametrize("cid", list(claims()))
def test_each_rule_fails_a_constructed_failing_result(cid):
    claim = claims()[cid]
    good, bad = claim.rule.examples()
    assert claim.rule.judge(good).verdict == HOLDS, (cid, claim.rule.judge(good).detail)
    assert claim.rule.judge(bad).verdict == FAILS, (cid, claim.rule.judge(bad).detail)
    assert claim.rule.keys() and claim.tolerance


@pytest.mark.parametrize("cid", list(claims()))
def test_each_claim_is_complete_and_its_configs_are_valid(cid):
    claim = claims()[cid]
    assert claim.claim.endswith(".") and claim.paper and claim.figure
    assert claim.paper_value and all(p.confidence and p.source for p in claim.paper_value)
    for name in ("cpu", "full"):
        sc = claim.scale(name)
        assert sc.not_run or sc.jobs
        for job in sc.jobs.values():
            if isinstance(job, Job):
                assert job.make_configs()        # every config validates (ConfigError if not)


def test_select_patterns():
    ids = [c.id for c in select(["prieto-*"])]
    assert ids and all(i.startswith("prieto-") for i in ids)
    assert [c.id for c in select(["jang-estimators-exact"])] == ["jang-estimators-exact"]
    assert len(select(None)) == len(claims())
    from workbench.core.config import ConfigError
    with pytest.raises(ConfigError, match="^claim: nothing matches"):
        select(["no-such-claim"])


def test_list_prints_every_claim(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for cid, c in claims().items():
        assert cid in out and c.paper in out
    assert all(p in out for p in PAPERS)


def test_bad_scale_exits_2(tmp_path, capsys):
    assert main(["reproduce", "jang-estimators-exact", "--scale", "huge", "--out",
                 str(tmp_path)]) == 2
    assert "scale: must be one of cpu, full" in capsys.readouterr().err


# --------------------------------------------------------------------------- running
@pytest.fixture
def fake_claim():
    """A registered claim whose cpu scale cannot run and whose full scale needs a GPU."""
    c = Claim(id="test-not-runnable", paper="Test 2000", figure="Fig 0", claim="Nothing runs.",
              paper_value=[Paper("x", "1", "derived", "here")],
              cpu=Scale(not_run="would take hours on 2 CPU cores"),
              full=Scale({"runs": Job("gumbel-estimators")}, needs_gpu=True),
              read=lambda res: {}, rule=R.AtLeast("x", 1))
    register(c)
    yield c
    REG._REGISTRY.pop(c.id, None)


def test_not_runnable_scales_are_reported_not_skipped(fake_claim, tmp_path):
    for scale, reason in (("cpu", "would take hours on 2 CPU cores"), ("full", "needs a GPU")):
        rec = run_claim(fake_claim, scale, store=tmp_path, device="cpu", progress=False)
        assert rec.verdict == NOT_RUN and rec.reason == reason and rec.seconds == 0
    assert not any(tmp_path.iterdir())                        # nothing was trained


def test_reproduce_end_to_end(tmp_path, capsys):
    """The estimator claim (seconds) through the CLI: report.json with every key, report.md
    and an offline report.html; a GPU claim at full scale on the CPU is `not run`."""
    out, store = tmp_path / "rep", tmp_path / "runs"
    rc = main(["reproduce", "jang-estimators-exact", "--scale", "cpu", "--device", "cpu",
               "--out", str(out), "--store", str(store), "--no-png", "--quiet"])
    assert rc == 0 and "report:" in capsys.readouterr().out
    (est,) = json.loads((out / "report.json").read_text())
    assert RECORD_KEYS <= set(est) and est["scale"] == "cpu"
    assert est["verdict"] == HOLDS, est["detail"]
    assert est["ours"]["reinforce_bias_in_mc_errors"] < 3 and est["device"].startswith("cpu")
    md = (out / "report.md").read_text()
    assert "### jang-estimators-exact" in md and "Tolerance (fixed before the run)" in md
    html = (out / "report.html").read_text()
    assert 'id="fig-jang-estimators-exact-cpu"' in html
    assert not re.search(r"<script[^>]*\ssrc=", html)       # works offline: plotly.js inline
    assert "Plotly.newPlot" in html

    rc = main(["reproduce", "jang-table1-vae", "--scale", "full", "--device", "cpu",
               "--out", str(out), "--store", str(store), "--no-png", "--quiet"])
    (vae,) = json.loads((out / "report.json").read_text())
    assert rc == 0 and vae["verdict"] == NOT_RUN and vae["reason"] == "needs a GPU"
    assert "not run: needs a GPU" in (out / "report.md").read_text()


def test_perp_adamw_claim_end_to_end(tmp_path, monkeypatch):
    """Prieto et al. Fig 1 ⊥AdamW through `workbench reproduce` at the paper's setting
    (p = 113, train 0.4, 300 epochs), one seed of the entry's five (the rule is per seed and
    unchanged; the five seeds are the committed report's)."""
    job = claims()["prieto-fig1-perp-adamw"].cpu.jobs["runs"]
    monkeypatch.setitem(job.grid, "seed", [0])
    out = tmp_path / "rep"
    assert main(["reproduce", "prieto-fig1-perp-adamw", "--device", "cpu", "--out", str(out),
                 "--store", str(tmp_path / "runs"), "--no-png", "--quiet"]) == 0
    (rec,) = json.loads((out / "report.json").read_text())
    assert rec["verdict"] == HOLDS, rec["detail"]
    (seed0,) = rec["ours"]["per_seed"]
    assert seed0["seed"] == 0 and seed0["epoch_test_0.99"] <= 180


def test_budget_reports_what_does_not_fit(tmp_path):
    from workbench.reproduce import reproduce
    recs = reproduce(["jang-estimators-exact"], ["cpu"], out=tmp_path / "rep",
                     store=tmp_path / "runs", device="cpu", progress=False, png=False,
                     budget=0.01)
    assert recs[0].verdict == NOT_RUN and recs[0].reason.startswith("time budget")
    assert not (tmp_path / "runs").exists()


def test_interrupt_reports_the_unfinished_claims_not_run(tmp_path, monkeypatch):
    """Ctrl-C during a claim: the report is still written, the unfinished claims `not run`."""
    import importlib
    RP = importlib.import_module("workbench.reproduce.reproduce")

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(RP, "run_claim", interrupted)
    ids = ["jang-estimators-exact", "soft-grpo-pass32"]
    with pytest.raises(KeyboardInterrupt):
        RP.reproduce(ids, ["cpu"], out=tmp_path / "rep", store=tmp_path / "runs",
                     device="cpu", progress=False, png=False)
    got = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["id"] for r in got] == [c.id for c in select(ids)]
    assert all(r["verdict"] == NOT_RUN and "interrupted" in r["reason"] for r in got)


def test_claims_modules_do_not_change_run_ids():
    """A claim only reads finished runs: editing it (or the reproduce package it imports)
    must not make every run of its chapter stale."""
    from workbench.core.fingerprint import package_files
    for chapter in ("grokking", "superposition", "neural_collapse", "gumbel"):
        assert "claims.py" not in {p.name for p in package_files(chapter)}


def _tiny(config):
    """A few steps of the same config: enough to exercise a claim's reader and figure."""
    names = set(type(config).field_names())
    small = {"steps": 4, "log_every": 2}
    for key, value in (("warmup", 0), ("dense_steps", 2), ("eval_size", 256),
                       ("eval_samples", 64), ("euler_steps", 4), ("nc_seqs", 16),
                       ("width", 32), ("d_ff", 64), ("parity_samples", 200)):
        if key in names:
            small[key] = value
    if "p" in names and getattr(config, "operation", "") != "parity":
        small["p"] = 23                                   # a small table: the same reader
    if isinstance(getattr(config, "m", None), tuple):
        small["n"] = max(config.m) + 24
    return config.replace(**small)


@pytest.mark.slow
@pytest.mark.parametrize("cid", list(claims()))
def test_each_reader_and_figure_work_on_tiny_runs(cid, tmp_path, monkeypatch):
    """Every claim's cpu jobs, cut to 4 steps: the reader returns numbers, the rule judges
    them and the figure draws (the verdict itself means nothing at 4 steps)."""
    from workbench.reproduce.registry import Compute
    claim = claims()[cid]
    sc = claim.scale("cpu" if not claim.cpu.not_run else "full")
    orig = Job.make_configs
    monkeypatch.setattr(Job, "make_configs", lambda self: [_tiny(c) for c in orig(self)])
    for job in sc.jobs.values():
        if isinstance(job, Compute) and "repeats" in job.kwargs:
            monkeypatch.setitem(job.kwargs, "repeats", 1)
    scale = "cpu" if not claim.cpu.not_run else "full"
    monkeypatch.setattr(sc, "needs_gpu", False)
    rec = run_claim(claim, scale, store=tmp_path, device="cpu", progress=False)
    assert not rec.reason, rec.reason
    assert rec.ours and rec.verdict in (HOLDS, PARTLY, FAILS) and rec.detail
    assert rec.fig is not None
    json.dumps(rec.to_dict())


def test_parallel_jobs_keep_the_registry_order(tmp_path):
    """Claims in two worker processes: the same records, in the registry's order."""
    from workbench.reproduce import reproduce
    ids = ["jang-estimators-exact", "prieto-fig6-transformer", "prieto-fig2-precision"]
    recs = reproduce(ids, ["cpu"], out=tmp_path / "rep", store=tmp_path / "runs",
                     device="cpu", progress=False, png=False, jobs=2)
    assert [r.id for r in recs] == [c.id for c in select(ids)]
    by_id = {r.id: r for r in recs}
    est = by_id["jang-estimators-exact"]
    assert not est.reason and est.verdict == HOLDS and est.fig is not None
    for cid in ids[1:]:
        assert by_id[cid].verdict == NOT_RUN and by_id[cid].reason == claims()[cid].cpu.not_run
    got = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["id"] for r in got] == [r.id for r in recs]
