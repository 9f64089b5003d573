"""Verdict rules: a claim's tolerance, written down before anything runs.

A rule reads the flat dict of our numbers (a claim's reader returns it) and gives a
:class:`Judgement`: ``holds``, ``partly`` or ``does not hold``, with one line of detail per
check. Its ``text`` is the tolerance as a sentence; the report prints it beside the verdict.
A number that is missing or ``None`` (a threshold never reached, a run that could not measure
it) fails the check that needs it.

Every rule also builds a constructed passing and a constructed failing result
(:meth:`Rule.examples`), so a test can check that each registered claim's rule does fail a
result that should fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["HOLDS", "PARTLY", "FAILS", "NOT_RUN", "VERDICTS", "Judgement", "Rule", "Near",
           "AtLeast", "AtMost", "Ordered", "Monotone", "All", "PerSeed", "Check"]

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "does not hold", "not run"
VERDICTS = (HOLDS, PARTLY, FAILS, NOT_RUN)
_RANK = {FAILS: 0, PARTLY: 1, HOLDS: 2}


@dataclass
class Judgement:
    verdict: str
    detail: list[str] = field(default_factory=list)


def _num(v) -> float | None:
    if v is None or isinstance(v, bool):
        return None if v is None else float(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _fmt(v) -> str:
    if v is None:
        return "missing"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Rule:
    """Base class. Subclasses set ``text`` and implement :meth:`judge`, :meth:`keys` and
    :meth:`examples`."""

    text: str = ""

    def judge(self, ours: dict) -> Judgement:
        raise NotImplementedError

    def keys(self) -> set[str]:
        """The keys of ``ours`` this rule reads."""
        raise NotImplementedError

    def examples(self) -> tuple[dict, dict]:
        """(a constructed result that holds, one that does not hold)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text


class _Bound(Rule):
    """One number against a bound, with an optional looser bound for ``partly``."""

    op = ""

    def __init__(self, key: str, bound: float, partly: float | None = None, label: str = ""):
        self.key, self.bound, self.partly, self.label = key, float(bound), partly, label or key
        extra = f" (partly if {self.op} {partly:g})" if partly is not None else ""
        self.text = f"{self.label} {self.op} {bound:g}{extra}"

    def _ok(self, v: float, bound: float) -> bool:
        raise NotImplementedError

    def judge(self, ours):
        v = _num(ours.get(self.key))
        if v is None:
            return Judgement(FAILS, [f"{self.label}: missing → does not hold"])
        if self._ok(v, self.bound):
            verdict = HOLDS
        elif self.partly is not None and self._ok(v, self.partly):
            verdict = PARTLY
        else:
            verdict = FAILS
        return Judgement(verdict, [f"{self.label} = {_fmt(v)} ({self.op} {self.bound:g}?) → {verdict}"])

    def keys(self):
        return {self.key}


class AtLeast(_Bound):
    """``ours[key] ≥ bound`` holds; ``≥ partly`` is partly."""

    op = "≥"

    def _ok(self, v, bound):
        return v >= bound

    def examples(self):
        far = self.partly if self.partly is not None else self.bound
        return ({self.key: self.bound + abs(self.bound) * 0.01 + 1e-9},
                {self.key: far - abs(far) - 1.0})


class AtMost(_Bound):
    """``ours[key] ≤ bound`` holds; ``≤ partly`` is partly."""

    op = "≤"

    def _ok(self, v, bound):
        return v <= bound

    def examples(self):
        far = self.partly if self.partly is not None else self.bound
        return ({self.key: self.bound - abs(self.bound) * 0.01},
                {self.key: far + abs(far) + 1.0})


class Near(Rule):
    """``|ours[key] − target| ≤ tol`` holds (``rel=True``: relative to |target|); within
    ``partly`` is partly."""

    def __init__(self, key: str, target: float, tol: float, partly: float | None = None,
                 rel: bool = False, label: str = ""):
        self.key, self.target, self.tol, self.partly, self.rel = key, float(target), tol, partly, rel
        self.label = label or key
        unit = " (relative)" if rel else ""
        extra = f"; partly within ± {partly:g}{unit}" if partly is not None else ""
        self.text = f"{self.label} = {target:g} ± {tol:g}{unit}{extra}"

    def _err(self, v):
        return abs(v - self.target) / (abs(self.target) if self.rel else 1.0)

    def judge(self, ours):
        v = _num(ours.get(self.key))
        if v is None:
            return Judgement(FAILS, [f"{self.label}: missing → does not hold"])
        e = self._err(v)
        verdict = HOLDS if e <= self.tol else (
            PARTLY if self.partly is not None and e <= self.partly else FAILS)
        return Judgement(verdict, [f"{self.label} = {_fmt(v)} (target {self.target:g}, "
                                   f"off by {e:.3g}{' rel.' if self.rel else ''}) → {verdict}"])

    def keys(self):
        return {self.key}

    def examples(self):
        scale = abs(self.target) if self.rel else 1.0
        far = (self.partly if self.partly is not None else self.tol) * 3 + 1.0
        return {self.key: self.target}, {self.key: self.target + far * max(scale, 1e-12)}


class Ordered(Rule):
    """``ours[k0] < ours[k1] < …`` (each gap more than ``margin``)."""

    def __init__(self, keys: Sequence[str], margin: float = 0.0, labels: Sequence[str] = ()):
        self._keys, self.margin = list(keys), margin
        self.labels = list(labels) or self._keys
        gap = f" (each by more than {margin:g})" if margin else ""
        self.text = " < ".join(self.labels) + gap

    def judge(self, ours):
        vals = [_num(ours.get(k)) for k in self._keys]
        shown = ", ".join(f"{lab} = {_fmt(v)}" for lab, v in zip(self.labels, vals))
        if any(v is None for v in vals):
            return Judgement(FAILS, [f"{shown}: a value is missing → does not hold"])
        ok = all(b - a > self.margin for a, b in zip(vals, vals[1:]))
        verdict = HOLDS if ok else FAILS
        return Judgement(verdict, [f"{shown} → {'ordered' if ok else 'not ordered'}: {verdict}"])

    def keys(self):
        return set(self._keys)

    def examples(self):
        step = self.margin + 1.0
        good = {k: i * step for i, k in enumerate(self._keys)}
        bad = {k: -i * step for i, k in enumerate(self._keys)}
        return good, bad


class Monotone(Rule):
    """``ours[key]`` (a list, in the order of its x values) rises (``"up"``) or falls
    (``"down"``): every step moves that way by more than ``-slack`` and the total change
    exceeds ``min_change``."""

    def __init__(self, key: str, direction: str, slack: float = 0.0, min_change: float = 0.0,
                 label: str = ""):
        if direction not in ("up", "down"):
            raise ValueError(f"direction: must be up or down (got {direction!r})")
        self.key, self.direction, self.slack, self.min_change = key, direction, slack, min_change
        self.label = label or key
        word = "rises" if direction == "up" else "falls"
        extra = f" (steps against it of at most {slack:g} allowed)" if slack else ""
        total = f", by more than {min_change:g} in all" if min_change else ""
        self.text = f"{self.label} {word} monotonically{extra}{total}"

    def judge(self, ours):
        seq = ours.get(self.key)
        vals = [_num(v) for v in seq] if isinstance(seq, (list, tuple)) else None
        if not vals or any(v is None for v in vals) or len(vals) < 2:
            return Judgement(FAILS, [f"{self.label}: missing → does not hold"])
        sign = 1.0 if self.direction == "up" else -1.0
        steps_ok = all(sign * (b - a) >= -self.slack for a, b in zip(vals, vals[1:]))
        total_ok = sign * (vals[-1] - vals[0]) > self.min_change
        verdict = HOLDS if steps_ok and total_ok else FAILS
        shown = ", ".join(_fmt(v) for v in vals)
        return Judgement(verdict, [f"{self.label} = [{shown}] → {verdict}"])

    def keys(self):
        return {self.key}

    def examples(self):
        d = self.min_change + self.slack + 1.0
        up = [0.0, d, 2 * d]
        good = up if self.direction == "up" else up[::-1]
        return {self.key: good}, {self.key: good[::-1]}


class Check(Rule):
    """A rule given as a function ``ok(ours) → verdict`` (one of holds, partly, does not hold)
    with its tolerance ``text``, the ``keys`` it reads and constructed ``examples``; for
    checks the other rules do not express."""

    def __init__(self, text: str, fn: Callable[[dict], str], keys: Sequence[str],
                 passing: dict, failing: dict, describe: Callable[[dict], str] | None = None):
        self.text, self.fn, self._keys = text, fn, set(keys)
        self._examples, self.describe = (passing, failing), describe

    def judge(self, ours):
        try:
            verdict = self.fn(ours)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
            return Judgement(FAILS, [f"{self.text}: cannot evaluate ({err}) → does not hold"])
        if verdict not in _RANK:
            raise ValueError(f"{self.text}: check returned {verdict!r}")
        what = self.describe(ours) if self.describe else ", ".join(
            f"{k} = {_fmt(ours.get(k))}" for k in sorted(self._keys))
        return Judgement(verdict, [f"{self.text}: {what} → {verdict}"])

    def keys(self):
        return set(self._keys)

    def examples(self):
        return dict(self._examples[0]), dict(self._examples[1])


class All(Rule):
    """Several checks of one claim. Holds when every part holds; does not hold when a
    ``required`` part does not hold or when no part holds or is partly; otherwise partly."""

    def __init__(self, *parts: Rule, required: Sequence[int] = ()):
        if not parts:
            raise ValueError("All: needs at least one rule")
        self.parts, self.required = list(parts), set(required)
        lines = [f"({i + 1}) {p.text}{' [required]' if i in self.required else ''}"
                 for i, p in enumerate(self.parts)]
        self.text = "; ".join(lines) + ". Holds if every part holds, partly if some do" + (
            ", does not hold if a required part fails" if self.required else "") + "."

    def judge(self, ours):
        js = [p.judge(ours) for p in self.parts]
        detail = [f"({i + 1}) {line}" for i, j in enumerate(js) for line in j.detail]
        vs = [j.verdict for j in js]
        if all(v == HOLDS for v in vs):
            verdict = HOLDS
        elif any(vs[i] == FAILS for i in self.required) or all(v == FAILS for v in vs):
            verdict = FAILS
        else:
            verdict = PARTLY
        return Judgement(verdict, detail)

    def keys(self):
        return set().union(*(p.keys() for p in self.parts))

    def examples(self):
        good, bad = {}, {}
        for p in self.parts:
            g, b = p.examples()
            good.update(g)
            bad.update(b)
        if self.judge(bad).verdict != FAILS:  # parts share keys: fail a required part alone
            for i in sorted(self.required):
                alone = {**good, **self.parts[i].examples()[1]}
                if self.judge(alone).verdict == FAILS:
                    return good, alone
        return good, bad


class PerSeed(Rule):
    """Apply ``rule`` to every seed's numbers, ``ours["per_seed"]`` (a list of dicts, each with
    a ``seed``). Holds when it holds for every seed; partly when it holds or is partly for at
    least ``min_share`` of the seeds (default: any seed); otherwise does not hold."""

    def __init__(self, rule: Rule, min_share: float = 0.0):
        self.rule, self.min_share = rule, min_share
        some = "some seed" if min_share <= 0 else f"at least {min_share:.0%} of the seeds"
        self.text = (f"for every seed: {rule.text} — partly if it holds (or is partly) for "
                     f"{some}")

    def judge(self, ours):
        seeds = ours.get("per_seed") or []
        if not seeds:
            return Judgement(FAILS, ["no per-seed results → does not hold"])
        js = [(s.get("seed", i), self.rule.judge(s)) for i, s in enumerate(seeds)]
        detail = [f"seed {sd}: {j.verdict}: " + "; ".join(j.detail) for sd, j in js]
        vs = [j.verdict for _, j in js]
        good = sum(v != FAILS for v in vs) / len(vs)
        if all(v == HOLDS for v in vs):
            verdict = HOLDS
        elif good > 0 and good >= self.min_share:
            verdict = PARTLY
        else:
            verdict = FAILS
        return Judgement(verdict, detail)

    def keys(self):
        return {"per_seed"}

    def examples(self):
        g, b = self.rule.examples()
        return ({"per_seed": [{"seed": 0, **g}, {"seed": 1, **g}]},
                {"per_seed": [{"seed": 0, **b}, {"seed": 1, **b}]})


def worst(verdicts: Sequence[str]) -> str:
    """The weakest of several verdicts (for summaries)."""
    return min(verdicts, key=lambda v: _RANK.get(v, -1))


def judge(rule: Rule, ours: dict[str, Any]) -> Judgement:
    """``rule.judge(ours)``; a reader that returned nothing is a failed measurement."""
    if not ours:
        return Judgement(FAILS, ["no numbers were read from the runs → does not hold"])
    return rule.judge(ours)
