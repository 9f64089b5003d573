"""Named scenarios: a chapter's tables of config overrides per preset, looked up one way."""

from __future__ import annotations

__all__ = ["pick"]


def pick(table: dict, name: str, preset: str):
    """``table[name][preset]``, or a one-line ValueError naming what is allowed."""
    if name not in table:
        raise ValueError(f"scenario: must be one of {', '.join(table)} (got {name!r})")
    if preset not in table[name]:
        raise ValueError(f"preset: must be one of {', '.join(table[name])} (got {preset!r})")
    return table[name][preset]
