"""Parse-time checks of the numbers on the ``crossglg`` command lines.

Integer bounds use typer's own ``min``/``max``; a float needs this callback as well, because
``nan`` passes every comparison (click's range check included) and would otherwise reach
the work as a silent NaN. Either way a bad number is a usage error naming the option, before
any data is read (docs/ARCHITECTURE.md: no tracebacks for user errors).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import typer


def real(low: float | None = None, high: float | None = None, low_open: bool = False) -> Callable:
    """A typer callback accepting finite floats in [low, high] (``(low, high]`` with ``low_open``)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise typer.BadParameter(f"{value} must be {'>' if low_open else '>='} {low}")
        if high is not None and value > high:
            raise typer.BadParameter(f"{value} must be <= {high}")
        return value

    return check
