"""`crossglg-text export`: every stored text as JSONL or CSV, written so that nothing is lost.

The output is written to a temporary file in its own folder and renamed over the target
only once complete, so a failed export leaves an existing file as it was. The output is
never an input: writing it onto the cache (``crossglg-text export cache.db``, meaning
``--cache``) or onto any SQLite database is refused before anything is opened.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

from crossglg.cache import Cache
from crossglg.errors import UserError
from crossglg.outputs import regular_or_new, replaced_file, spares_cache

EXPORT_FIELDS = (
    "dataset",
    "class_id",
    "class_name",
    "kind",
    "slot",
    "sample_index",
    "source",
    "text",
    "key_body_parts",
    "status",
    "model",
    "prompt",
    "run_id",
    "request_key",
)


def check_output(out: Path, cache: Path) -> None:
    """Refuse an output path that is the cache (or one of its side files) or another database, and
    ``-`` when standard output is closed (``>&-``: Python's ``sys.stdout`` is then None)."""
    if str(out) == "-":
        if sys.stdout is None:
            raise UserError("-: standard output is closed; redirect it to a file, or name an output file")
        return
    if out.is_dir():
        raise UserError(f"{out}: is a folder; name an output file")
    regular_or_new(out, "output file (or '-' for stdout)")
    spares_cache(out, cache, "output file (export OUT.jsonl --cache CACHE)")
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")


def write_rows(store: Cache, fh: IO[str], csv_format: bool, dataset: str | None, source: str | None) -> int:
    """Write the texts as CSV or JSONL to ``fh``; returns how many."""
    writer = csv.DictWriter(fh, fieldnames=EXPORT_FIELDS, extrasaction="ignore") if csv_format else None
    if writer:
        writer.writeheader()
    n = 0
    for row in store.export_rows(dataset=dataset, source=source):
        record = {k: row.get(k) for k in EXPORT_FIELDS}
        if writer:
            record["key_body_parts"] = ";".join(record["key_body_parts"] or [])
            writer.writerow(record)
        else:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        n += 1
    return n


def export(
    store: Cache, out: Path, csv_format: bool, dataset: str | None = None, source: str | None = None
) -> int:
    """Export to ``out`` ('-' = stdout) after :func:`check_output`; returns the number of texts."""
    if str(out) == "-":
        return write_rows(store, sys.stdout, csv_format, dataset, source)
    with replaced_file(out, "export", text=True) as fh:
        return write_rows(store, fh, csv_format, dataset, source)
