"""Plain dataclass configs that validate themselves.

A config field is declared with :func:`field`, which records its help text, allowed choices
or bounds, and whether it may differ between the instances of one batched model
(``batchable``). Validation happens on construction and raises :class:`ConfigError`, a
``ValueError`` whose one-line message names the field and what is allowed, so the CLI,
notebooks and dashboards can show it as it is.

The same metadata generates the forms: :meth:`Config.form_field` turns a field into a
toolkit-neutral :class:`FormField` (a checkbox, a select of its ``choices``, a slider, an
editable box with suggested values, or a text box parsed like the CLI's ``--set``), which
``core/widgets.py`` renders as an ipywidget and ``apps/_base.py`` as a Panel widget. A
``widget=`` hint on :func:`field` says how to show a field when its type and bounds do not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any

__all__ = ["ConfigError", "show_config_errors_in_one_line", "Config", "TrainConfig", "FormField",
           "field", "log_steps"]


class ConfigError(ValueError):
    """A bad parameter: the message names it and says what is allowed."""


def show_config_errors_in_one_line() -> None:
    """In IPython / Jupyter (and so under papermill), show a :class:`ConfigError` as its one
    line (``ConfigError: p: must be >= 2 (got 1)``) instead of a traceback: the message
    already says what to change. Other exceptions keep their tracebacks. Called on
    ``import workbench``; outside IPython it does nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_workbench_one_line", False):
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((ConfigError,), handler)
    shell._workbench_one_line = True


_WIDGET_KEYS = {"options", "slider", "log", "zero", "label"}


def field(default, help: str = "", *, choices=None, ge=None, gt=None, le=None, lt=None,
          batchable: bool = False, identity: bool = True, widget: dict | None = None):
    """A config field with its documentation and constraints.

    ``batchable=True`` marks a hyperparameter that may differ between the instances of one
    batched model (learning rate, weight decay, seed, ...); all other fields must agree
    within a batch. ``identity=False`` marks a field that changes how fast a run goes but
    not its numbers (e.g. CUDA-graph capture): it is left out of :meth:`Config.canonical_json`
    and so of the run id.

    ``widget`` tells the generated forms (notebook and dashboard) how to show the field:

    - ``{"options": (23, 31, 59)}``: an editable box that suggests these values;
    - ``{"slider": (lo, hi, step)}``: a linear slider;
    - ``{"log": (lo, hi)}``: a slider over 1-2-5 steps per decade (``"zero": True`` adds 0);
    - ``{"label": "λ"}``: a caption other than the field's name.

    Without a hint a field is a checkbox (bool), a select (``choices``) or a text box.
    """
    if widget is not None and set(widget) - _WIDGET_KEYS:
        raise TypeError(f"widget: unknown keys {sorted(set(widget) - _WIDGET_KEYS)}; "
                        f"allowed: {sorted(_WIDGET_KEYS)}")
    meta = dict(help=help, choices=tuple(choices) if choices else None, ge=ge, gt=gt, le=le,
                lt=lt, batchable=batchable, identity=identity, widget=dict(widget or {}))
    return dataclasses.field(default=default, metadata=meta)


def log_steps(lo: float, hi: float, zero: bool = False) -> list[float]:
    """1-2-5 steps per decade from ``lo`` to ``hi`` (both kept), with 0 first if ``zero``."""
    import math

    out = [0.0] if zero else []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = float(f"{m}e{k}")
            if lo <= v <= hi:
                out.append(v)
    for v in (float(lo), float(hi)):
        if v not in out:
            out.append(v)
    return sorted(out)


@dataclasses.dataclass
class FormField:
    """How a form shows one config field, independent of the widget toolkit.

    ``kind`` is one of ``checkbox`` (``value`` a bool), ``select`` (``options``: the allowed
    values), ``slider`` (``lo``, ``hi``, ``step``), ``discrete`` (a slider over ``options``),
    ``combo`` (a text box suggesting ``options``) or ``text``. A ``combo`` or ``text``
    widget holds text, which the config parses (and rejects in one line) like ``--set``.
    """

    name: str
    kind: str
    value: Any
    label: str
    help: str = ""
    options: list | None = None
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    type: str = "str"

    def text(self, value) -> str:
        """``value`` as a text box shows it (a list as ``10,15,25``, None as empty)."""
        if value is None:
            return ""
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return str(value)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, tp, value):
    """Coerce ``value`` to the field type ``tp``; strings (from the CLI) are parsed."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _coerce(name, args[0], value)
    if origin is tuple:  # tuple[X, ...]: a list of values; from the CLI "10,15,25"
        (item, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(";", ",").replace(" ", ",").split(",") if v]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{name}: expected a non-empty list of {_type_name(item)}, "
                              f"got {value!r}")
        return tuple(_coerce(name, item, v) for v in value)
    try:
        if tp is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if tp is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            if isinstance(value, str):
                f = float(value)
                if not f.is_integer():
                    raise ValueError
                return int(f)
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):  # NaN, ±inf
                raise ValueError
            return out
        if tp is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        what = "a finite float" if tp is float else _type_name(tp)
        raise ConfigError(f"{name}: expected {what}, got {value!r}") from None
    return value


@dataclasses.dataclass
class Config:
    """Base class of every experiment config (subclass it as a ``@dataclass``)."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            m = f.metadata
            if value is None:
                continue
            if m.get("choices") and value not in m["choices"]:
                allowed = ", ".join(map(str, m["choices"]))
                raise ConfigError(f"{f.name}: must be one of {allowed} (got {value!r})")
            for key, op, word in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"),
                                  ("le", float.__le__, "<="), ("lt", float.__lt__, "<")):
                bound = m.get(key)
                for v in (value if isinstance(value, tuple) else (value,)):
                    if bound is not None and not op(float(v), float(bound)):
                        raise ConfigError(f"{f.name}: must be {word} {bound} (got {v!r})")
        self.check()

    def check(self) -> None:
        """Cross-field checks; raise :class:`ConfigError`. Override in subclasses."""

    # ------------------------------------------------------------------ helpers
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def describe(cls) -> list[dict]:
        """One dict per field: name, type, default, help, choices, batchable, bounds
        (ge, gt, le, lt) and the widget hint."""
        hints = typing.get_type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            rows.append(dict(name=f.name, type=_type_name(hints[f.name]), default=f.default,
                             help=m.get("help", ""), choices=m.get("choices"),
                             batchable=m.get("batchable", False),
                             **{k: m.get(k) for k in ("ge", "gt", "le", "lt")},
                             widget=dict(m.get("widget") or {})))
        return rows

    @classmethod
    def form_field(cls, name: str, value=dataclasses.MISSING) -> FormField:
        """How a form shows field ``name`` with the current ``value`` (default: the
        field's default); see :class:`FormField`."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in fields:
            raise ConfigError(f"{name}: unknown parameter; allowed: " + ", ".join(fields))
        f = fields[name]
        m, hint = f.metadata, dict(f.metadata.get("widget") or {})
        tp = typing.get_type_hints(cls)[name]
        if typing.get_origin(tp) is typing.Union:
            tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
        value = f.default if value is dataclasses.MISSING else value
        spec = FormField(name, "text", value, hint.get("label", name), m.get("help", ""),
                         type=_type_name(tp) if typing.get_origin(tp) is None else "list")
        if tp is bool:
            spec.kind, spec.value = "checkbox", bool(value)
        elif m.get("choices"):
            spec.kind, spec.options = "select", list(m["choices"])
        elif "slider" in hint:
            spec.kind, (spec.lo, spec.hi, spec.step) = "slider", hint["slider"]
            if isinstance(value, (int, float)):  # a preset may sit outside the usual range
                spec.lo, spec.hi = min(spec.lo, value), max(spec.hi, value)
        elif "log" in hint:
            spec.kind = "discrete"
            spec.options = log_steps(*hint["log"], zero=hint.get("zero", False))
            if isinstance(value, (int, float)) and value not in spec.options:
                spec.options = sorted(spec.options + [value])
        elif "options" in hint:
            spec.kind, spec.options = "combo", list(hint["options"])
        if spec.kind in ("combo", "text"):
            spec.value = spec.text(value)
        return spec

    @classmethod
    def batchable_fields(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls) if f.metadata.get("batchable")}

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown parameter; allowed: "
                              + ", ".join(cls.field_names()))
        return cls(**values)

    def replace(self, **changes):
        """A copy with ``changes`` applied (validated; unknown keys raise ConfigError)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical_json(self) -> str:
        """The config as it identifies a run: every field but the ``identity=False`` ones."""
        keep = {f.name for f in dataclasses.fields(self) if f.metadata.get("identity", True)}
        return json.dumps({k: v for k, v in self.to_dict().items() if k in keep},
                          sort_keys=True, separators=(",", ":"))

    def digest(self, salt: str = "") -> str:
        return hashlib.sha1((salt + self.canonical_json()).encode()).hexdigest()[:12]

    def group_key(self) -> str:
        """Fields that must agree within one batched model (all non-batchable fields)."""
        batch = self.batchable_fields()
        return json.dumps({k: v for k, v in self.to_dict().items() if k not in batch},
                          sort_keys=True)

    @classmethod
    def parse(cls, key: str, text: str):
        """Parse a CLI ``key=value`` string for field ``key``."""
        if key not in cls.field_names():
            raise ConfigError(f"{key}: unknown parameter; allowed: " + ", ".join(cls.field_names()))
        return _coerce(key, typing.get_type_hints(cls)[key], text)


@dataclasses.dataclass
class TrainConfig(Config):
    """Base of every experiment config: what the shared training loop (``core/train.py``,
    ``core/experiment.py``) reads. Subclasses re-declare these fields with their own defaults
    and help text."""

    steps: int = field(1000, "optimisation steps", ge=1)
    log_every: int = field(100, "log metrics every this many steps", ge=1)

    def log_steps(self) -> set[int]:
        """The steps at which metrics are logged: 0, every ``log_every`` and the last. Override
        for another schedule (e.g. log-spaced steps for a log step axis)."""
        return set(range(0, self.steps, self.log_every)) | {self.steps}
