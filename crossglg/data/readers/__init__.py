"""Readers for every supported skeleton format, all yielding float32 [T, M, V, 3] samples.

A reader module has ``scan(source, **options) -> Scan`` and either ``read_unit(unit)``
(parsed in worker processes) or ``read_stream(unit)`` (one big file streamed in-process).
A module whose units hold several samples also has ``unit_samples(unit) -> int``, so a unit
that fails as a whole is counted as the samples it held, not as one.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from crossglg.data.readers.base import Problem, ReadError, Sample, Scan, UnitResult
from crossglg.errors import UserError

FORMATS = {
    "ntu-skeleton": "ntu_skeleton",
    "ctrgcn-npz": "ctrgcn_npz",
    "pyskl-pkl": "pyskl_pkl",
    "pku-mmd": "pku_mmd",
    "msr-action3d": "msr_action3d",
    "utkinect": "utkinect",
    "generic": "generic",
}

__all__ = ["FORMATS", "Problem", "Sample", "Scan", "UnitResult", "read_checked", "reader", "scan_source"]


def reader(fmt: str) -> ModuleType:
    if fmt not in FORMATS:
        raise UserError(f"unknown data format {fmt!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"crossglg.data.readers.{FORMATS[fmt]}")


def scan_source(source: Path, fmt: str, **options: object) -> Scan:
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    return reader(fmt).scan(source, **options)


def _unit_label(unit: object) -> str:
    """The file a unit reads, for problem reports."""
    first = unit[0] if isinstance(unit, tuple) else unit
    return str(first)


def read_checked(fmt: str, unit: object, num_joints: int, max_bodies: int, num_classes: int) -> UnitResult:
    """Read one unit and validate its samples; never raises for a bad file (worker entry point)."""
    module = reader(fmt)
    try:
        result = module.read_unit(unit)
    except ReadError as err:
        kind, message = err.kind, str(err)
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as err:
        kind, message = "unreadable", f"{type(err).__name__}: {err}"
    else:
        return _validated(result, num_joints, max_bodies, num_classes)
    lost = module.unit_samples(unit) if hasattr(module, "unit_samples") else 1
    return UnitResult(problems=[Problem(_unit_label(unit), kind, message, samples=lost)])


def stream_checked(
    fmt: str, unit: object, num_joints: int, max_bodies: int, num_classes: int
) -> Iterator[UnitResult]:
    """The in-process twin of :func:`read_checked` for formats that stream one big file."""
    for result in reader(fmt).read_stream(unit):
        yield _validated(result, num_joints, max_bodies, num_classes)


def _validated(result: UnitResult, num_joints: int, max_bodies: int, num_classes: int) -> UnitResult:
    from crossglg.data.validation import check_sample  # validation imports readers.base

    kept = []
    for sample in result.samples:
        problem = check_sample(sample, num_joints, max_bodies, num_classes)
        if problem is None:
            kept.append(sample)
        else:
            result.problems.append(problem)
    result.samples = kept
    return result
