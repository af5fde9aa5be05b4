"""``crossglg data prepare``: scan a source, parse it in parallel, validate, write the cache.

Bad files and samples end up in the report, never in the cache; anything unexpected
aborts the run and removes the half-written folder, leaving any previous cache intact.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.data.prepared import PreparedWriter
from crossglg.data.readers import nothing_read, read_checked, scan_source, stream_checked
from crossglg.data.readers.base import Problem, Scan, UnitResult
from crossglg.data.validation import build_report, write_report
from crossglg.vocab.layouts import get_layout


def _results(scan: Scan, workers: int, num_joints: int) -> Iterator[UnitResult]:
    args = {"num_joints": num_joints, "max_bodies": scan.max_bodies, "num_classes": len(scan.class_names)}
    if not scan.parallel:
        for unit in scan.units:
            yield from stream_checked(scan.format, unit, **args)
        return
    job = partial(read_checked, scan.format, **args)
    if workers <= 1 or len(scan.units) < 2:
        yield from map(job, scan.units)
        return
    # fork where there is one: spawn would re-import the caller's __main__, which breaks
    # prepare() called from a notebook or a stdin script; the children touch no locks
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        # map keeps the source order, so the cache order is deterministic
        yield from pool.map(job, scan.units, chunksize=max(1, min(64, len(scan.units) // (8 * workers))))


def prepare(
    source: Path,
    fmt: str,
    out: Path,
    *,
    workers: int = 2,
    force: bool = False,
    options: dict[str, Any] | None = None,
    on_start: Callable[[int | None], None] | None = None,
    on_unit: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Prepare ``source`` into ``out``; returns the validation report (also written beside the cache)."""
    scan = scan_source(Path(source), fmt, **(options or {}))
    layout = get_layout(scan.layout)
    writer = PreparedWriter(
        out, dataset=scan.dataset, layout=scan.layout, class_names=scan.class_names,
        persons=scan.max_bodies, joints=layout.num_joints, overwrite=force,
    )  # fmt: skip
    problems: list[Problem] = list(scan.problems)
    if on_start:  # a streamed file reports each sample, so its total is unknown up front
        on_start(len(scan.units) if scan.parallel else None)
    try:
        seen: set[str] = set()
        for result in _results(scan, workers, layout.num_joints):
            problems.extend(result.problems)
            for sample in result.samples:
                if sample.name in seen:  # e.g. a zip unpacked twice into two sub-folders
                    problems.append(
                        Problem(sample.name, "duplicate", "a sample of this name was already read")
                    )
                    continue
                seen.add(sample.name)
                writer.add(sample)
            if on_unit:
                on_unit()
        if not writer.names:  # an empty cache would replace one a --force rerun points at, and fail in train
            raise nothing_read(source, "no sample could be read", problems)
        lengths = np.asarray(writer.columns["lengths"], dtype=np.int64)
        info = {
            "source": str(source),
            "format": scan.format,
            "dataset": scan.dataset,
            "layout": scan.layout,
            "units": len(scan.units),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        report = build_report(
            scan_info=info, problems=problems, names=writer.names, lengths=lengths,
            expected=scan.expected, expected_count=scan.expected_count,
        )  # fmt: skip
        write_report(writer.folder, report, lengths)
        writer.commit({"source": str(source), "format_of_source": scan.format, "created": info["created"]})
    except BaseException:
        writer.abort()
        raise
    report["out"] = str(out)
    return report
