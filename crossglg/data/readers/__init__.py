"""Readers for every supported skeleton format, all yielding float32 [T, M, V, 3] samples.

A reader module has ``scan(source, **options) -> Scan`` and either ``read_unit(unit)``
(parsed in worker processes) or ``read_stream(unit)`` (one big file streamed in-process).
A module whose units hold several samples also has ``unit_samples(unit) -> int``, so a unit
that fails as a whole is counted as the samples it held, not as one. Each built-in module
registers itself in :data:`READERS` under its format name; other distributions add readers
through the ``crossglg.readers`` entry-point group (docs/PLUGINS.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crossglg.data.readers.base import Problem, ReadError, Sample, Scan, UnitResult, plain_reason
from crossglg.errors import UserError
from crossglg.registry import Registry

__all__ = [
    "READERS",
    "Problem",
    "Sample",
    "Scan",
    "UnitResult",
    "options_read",
    "read_checked",
    "reader",
    "scan_source",
]


def _check(obj: object) -> str | None:
    if callable(getattr(obj, "scan", None)) and (hasattr(obj, "read_unit") or hasattr(obj, "read_stream")):
        return None
    return f"{obj!r} has no scan() and read_unit() or read_stream(): not a skeleton reader"


READERS: Registry[Any] = Registry(
    "data format",
    "crossglg.readers",
    modules=tuple(
        f"crossglg.data.readers.{m}"
        for m in ("ntu_skeleton", "ctrgcn_npz", "pyskl_pkl", "pku_mmd", "msr_action3d", "utkinect", "generic")
    ),
    check=_check,
)


def reader(fmt: str) -> Any:
    """The reader module (or plug-in object) registered for ``fmt``."""
    return READERS.get(fmt)


def options_read(fmt: str) -> tuple[str, ...] | None:
    """The ``crossglg data prepare`` options that ``fmt``'s reader reads: the parameters its ``scan``
    names after the source. Each built-in ``scan`` takes the other formats' options as ``**_``, so
    its signature is the one record of what it reads (docs/DATA.md, "Commands"). None for a plug-in
    format, which is handed every option given."""
    module = reader(fmt)
    if not getattr(module, "__name__", "").startswith(__name__ + "."):
        return None
    params = list(inspect.signature(module.scan).parameters.values())[1:]
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def scan_source(source: Path, fmt: str, **options: object) -> Scan:
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    if _special_file(source) is not None:
        raise UserError(f"{source}: {NOT_REGULAR}; name the dataset's folder or file")
    scan = reader(fmt).scan(source, **options)
    if not scan.units:  # an empty cache would only fail later, in train or split, far from the cause
        raise nothing_read(source, "no samples to read", scan.problems)
    scan.format = fmt  # the registered name is what worker processes look the reader up by
    return scan


def _unit_label(unit: object) -> str:
    """The file a unit reads, for problem reports."""
    first = unit[0] if isinstance(unit, tuple) else unit
    return str(first)


def nothing_read(source: Path, what: str, problems: list[Problem]) -> UserError:
    """The one-line refusal of a source that yields no sample, with its first few reasons
    (notes such as a label-file remark only where nothing else explains it)."""
    from crossglg.data.validation import NOTE_KINDS  # validation imports this package

    reasons = [p for p in problems if p.kind not in NOTE_KINDS] or problems
    shown = "; ".join(f"{p.where}: {p.message}" for p in reasons[:3])
    more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return UserError(f"{source}: {what}" + (f" ({shown}{more})" if shown else "") + "; nothing written")


NOT_REGULAR = "not a regular file (a device, pipe or socket)"


def _special_file(unit: object) -> str | None:
    """The first file of ``unit`` (a path or a tuple holding paths) that exists but is neither a
    regular file nor a folder (a folder already reads as "a folder, not a file")."""
    for part in unit if isinstance(unit, tuple) else (unit,):
        if isinstance(part, (str, Path)):
            path = Path(part)
            if path.exists() and not path.is_file() and not path.is_dir():
                return str(path)
    return None


def read_checked(fmt: str, unit: object, num_joints: int, max_bodies: int, num_classes: int) -> UnitResult:
    """Read one unit and validate its samples; never raises for a bad file (worker entry point)."""
    module = reader(fmt)
    special = _special_file(unit)
    if special is not None:  # reading a pipe would wait for a writer, a device might never end
        return UnitResult(problems=[Problem(special, "unreadable", NOT_REGULAR)])
    try:
        result = module.read_unit(unit)
    except ReadError as err:
        kind, message = err.kind, str(err)
    except (OSError, ValueError, IndexError, EOFError, RecursionError) as err:
        kind, message = "unreadable", plain_reason(err)
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
