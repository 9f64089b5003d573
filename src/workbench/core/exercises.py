"""Exercise grading and claim checks, once, for every chapter.

* :class:`Check` — the outcome of an exercise: truthy when right, shown as a ✓/✗ message.
* :func:`number` — a learner's answer as a finite float, or ``None``.
* :func:`check_number` — a numeric check-yourself answer against the right value ± a tolerance.
* :func:`check_function` — implement-and-test exercises (as ARENA's ``tests.test_x(fn)``): run
  the learner's function and a reference on constructed cases and report the first failing case
  with a hint. It never raises: a function that raises is a ✗ with its error.
* :func:`claim` — a claim check in a notebook: prints ✓/✗ with the numbers for a learner (who
  may have changed a knob), and fails hard (``AssertionError``) under papermill, the test
  suite and CI, i.e. when ``$WORKBENCH_STRICT`` or ``$CI`` is set.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["Check", "number", "check_number", "check_function", "claim", "strict", "Case", "tensors_close"]


@dataclass
class Check:
    """The outcome of an exercise: ``ok``, the ``message`` shown, the ``expected`` value and
    the ``tolerance`` accepted. ``bool(check)`` is ``ok``; it displays as its message."""

    ok: bool
    message: str
    expected: Any = None
    tolerance: float | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return self.message


def number(answer) -> float | None:
    """``answer`` as a finite float, or None when it is not a number (bools, text, NaN, inf)."""
    if isinstance(answer, bool):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def check_number(answer, expected: float, tolerance: float, *, right: str, hint: str) -> Check:
    """A numeric answer: ✓ ``right`` when within ``tolerance`` of ``expected``, else ✗ with
    ``hint`` (also when ``answer`` is not a number). Never raises."""
    value = number(answer)
    if value is None:
        return Check(False, f"✗ No numeric answer yet (got {answer!r}). {hint}", expected,
                     tolerance)
    if abs(value - expected) <= tolerance:
        return Check(True, f"✓ Right: {right}", expected, tolerance)
    return Check(False, f"✗ Not quite: {value:g} (accepted within ±{tolerance:g}). {hint}",
                 expected, tolerance)


@dataclass
class Case:
    """One constructed input of an implement-and-test exercise: ``label`` names it in the
    report ("huge logits", "a zero gradient", …), ``args`` are passed to both functions."""

    label: str
    args: tuple
    hint: str = ""


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def check_function(fn, reference: Callable, cases: Iterable[Case], *, name: str,
                   compare: Callable[[Any, Any], str | None], hint: str = "",
                   success: str = "") -> Check:
    """Run the learner's ``fn`` and ``reference`` on every case; ✓ only when every case agrees.

    ``compare(got, expected)`` returns None when ``got`` is right, else a short reason (shapes
    differ, max |error| 3e-2, …). The first failing case is reported with its label, the
    reason and the case's own hint (else ``hint``). A missing function (``None``), one that
    raises, or a ``compare`` that raises on a malformed result is a ✗, never an exception.
    """
    cases = list(cases)
    if fn is None or not callable(fn):
        return Check(False, f"✗ {name}: no function yet (got {fn!r}). {hint}".rstrip())
    for k, case in enumerate(cases, 1):
        expected = reference(*case.args)
        try:
            got = fn(*case.args)
        except Exception as err:  # the learner's bug: report it, never raise
            return Check(False, f"✗ {name} raised on case {k}/{len(cases)} ({case.label}): "
                                f"{_describe(err)}. {case.hint or hint}".rstrip(), expected)
        try:
            reason = compare(got, expected)
        except Exception as err:  # a malformed result (wrong type, shape, dtype)
            reason = f"could not compare the result ({_describe(err)})"
        if reason:
            return Check(False, f"✗ {name} is wrong on case {k}/{len(cases)} ({case.label}): "
                                f"{reason}. {case.hint or hint}".rstrip(), expected)
    return Check(True, f"✓ {name} passes all {len(cases)} cases "
                       f"({', '.join(c.label for c in cases)}). {success}".rstrip())


def tensors_close(rtol: float, atol: float = 0.0, dtype: bool = True):
    """A ``compare`` for :func:`check_function` on tensors: the result must be a tensor of the
    expected shape (and dtype, if ``dtype``), finite where the expected one is, and within
    |got − expected| ≤ atol + rtol·|expected| everywhere; else a short reason."""
    import torch

    def compare(got, expected) -> str | None:
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if dtype and got.dtype != expected.dtype:
            return f"dtype {got.dtype}, expected {expected.dtype} (keep the input's precision)"
        g, e = got.detach().double(), expected.detach().double()
        bad = ~torch.isfinite(g) & torch.isfinite(e)
        if bad.any():
            return f"{int(bad.sum())} non-finite value(s) (inf or NaN) where the answer is finite"
        err = (g - e).abs()
        tol = atol + rtol * e.abs()
        if (err > tol).any():
            k = int((err - tol).flatten().argmax())
            return (f"max |error| {err.max().item():.3g} (at {e.flatten()[k].item():.6g}, you "
                    f"gave {g.flatten()[k].item():.6g}; tolerance {atol:g} + {rtol:g}·|value|)")
        return None

    return compare


def strict() -> bool:
    """True under papermill runs of the curriculum, the test suite and CI: a failed claim then
    stops the notebook. Set by ``$WORKBENCH_STRICT=1`` (the curriculum runner and the tests set
    it) or ``$CI``."""
    flag = os.environ.get("WORKBENCH_STRICT", os.environ.get("CI", ""))
    return flag.strip().lower() not in ("", "0", "false", "no", "off")


def claim(ok: bool, text: str, **numbers) -> bool:
    """Print ``✓ text`` or ``✗ text`` with ``numbers`` (name = value); return ``ok``.

    Under :func:`strict` a failed claim raises ``AssertionError`` with the same line, so
    papermill, the tests and CI fail hard; a learner who changed a knob just sees the ✗.
    """
    shown = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                      for k, v in numbers.items())
    line = f"{'✓' if ok else '✗'} {text}" + (f"  ({shown})" if shown else "")
    print(line)
    if not ok and strict():
        raise AssertionError(line)
    return bool(ok)
