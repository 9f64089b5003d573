"""Plain dataclass configs that validate themselves.

A config field is declared with :func:`field`, which records its help text, allowed choices
or bounds, and whether it may differ between the instances of one batched model
(``batchable``). Validation happens on construction and raises :class:`ConfigError`, a
``ValueError`` whose one-line message names the field and what is allowed, so the CLI,
notebooks and dashboards can show it as it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any

__all__ = ["ConfigError", "Config", "TrainConfig", "field"]


class ConfigError(ValueError):
    """A bad parameter: the message names it and says what is allowed."""


def field(default, help: str = "", *, choices=None, ge=None, gt=None, le=None, lt=None,
          batchable: bool = False, identity: bool = True):
    """A config field with its documentation and constraints.

    ``batchable=True`` marks a hyperparameter that may differ between the instances of one
    batched model (learning rate, weight decay, seed, ...); all other fields must agree
    within a batch. ``identity=False`` marks a field that changes how fast a run goes but
    not its numbers (e.g. CUDA-graph capture): it is left out of :meth:`Config.canonical_json`
    and so of the run id.
    """
    meta = dict(help=help, choices=tuple(choices) if choices else None, ge=ge, gt=gt, le=le,
                lt=lt, batchable=batchable, identity=identity)
    return dataclasses.field(default=default, metadata=meta)


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
            if out != out:  # NaN
                raise ValueError
            return out
        if tp is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {_type_name(tp)}, got {value!r}") from None
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
        """One dict per field: name, type, default, help, choices, batchable."""
        hints = typing.get_type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            rows.append(dict(name=f.name, type=_type_name(hints[f.name]), default=f.default,
                             help=f.metadata.get("help", ""), choices=f.metadata.get("choices"),
                             batchable=f.metadata.get("batchable", False)))
        return rows

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
