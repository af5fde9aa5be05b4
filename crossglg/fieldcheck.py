"""Type and range checks of dataclass configurations, shared by the training and model configs.

A value arrives from a TOML file, a ``--set KEY=VALUE``, or a checkpoint; checking every field
against its annotation before any work starts turns ``dc_beta='x'`` or ``base_channels=0``
into one line naming the key instead of a traceback after hours of training (docs/TRAINING.md).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from crossglg.errors import UserError

Range = tuple[float | None, float | None, bool]  # (low, high, low_open); None = unbounded


def accepts(kind: Any, value: Any) -> bool:
    """Whether ``value`` fits the annotation ``kind`` (bool is never a number here)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(k, value) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is Any:
        return True
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        item = (typing.get_args(kind) or (Any,))[0]
        return isinstance(value, (list, tuple)) and all(accepts(item, v) for v in value)
    if origin is dict or kind is dict:
        return isinstance(value, dict)
    return True  # nested dataclasses are checked on their own


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def check_fields(obj: Any, where: str, ranges: dict[str, Range], prefix: str = "") -> None:
    """Raise a one-line UserError for the first field of ``obj`` of the wrong type or out of range."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if not accepts(hints[f.name], value):
            raise UserError(f"{where}: {key}={value!r} is not {_name(hints[f.name])}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{where}: {key}={value!r} must be a finite number")
        if f.name not in ranges or value is None:
            continue
        low, high, low_open = ranges[f.name]
        below = low is not None and (value <= low if low_open else value < low)
        if below or (high is not None and value > high):
            bounds = f"{'>' if low_open else '>='} {low}" if low is not None else ""
            if high is not None:
                bounds += f"{' and ' if bounds else ''}<= {high}"
            raise UserError(f"{where}: {key} must be {bounds}, got {value!r}")
