"""`crossglg-text export`: every stored text as JSONL or CSV, written so that nothing is lost.

The output is written to a temporary file in its own folder and renamed over the target
only once complete, so a failed export leaves an existing file as it was. The output is
never an input: writing it onto the cache (``crossglg-text export cache.db``, meaning
``--cache``) or onto any SQLite database is refused before anything is opened.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from crossglg.cache import Cache
from crossglg.errors import UserError
from crossglg.outputs import regular_or_new

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
SQLITE_MAGIC = b"SQLite format 3\x00"


def check_output(out: Path, cache: Path) -> None:
    """Refuse an output path that is the cache (or one of its side files) or another database."""
    target = out.resolve()
    inputs = {cache.resolve().with_name(cache.resolve().name + s) for s in ("", "-wal", "-shm", "-journal")}
    same = target in inputs or (out.exists() and cache.exists() and os.path.samefile(out, cache))
    if same:
        raise UserError(
            f"{out}: that is the cache being exported; name an output file (export OUT.jsonl --cache {cache})"
        )
    if out.is_dir():
        raise UserError(f"{out}: is a folder; name an output file")
    regular_or_new(out, "output file (or '-' for stdout)")
    if out.is_file():
        try:
            with out.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as err:
            raise UserError(f"{out}: cannot read the existing file ({err.strerror})") from None
        if head == SQLITE_MAGIC:
            raise UserError(
                f"{out}: is a SQLite database, not an export; pass another output file "
                f"(to export that cache: export OUT.jsonl --cache {out})"
            )
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[IO[str]]:
    """A text handle on a temporary file beside ``out``, renamed onto it only on success."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as err:
        raise UserError(f"{out}: cannot write in {out.parent} ({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if out.exists():
            os.chmod(tmp, out.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(
            f"{out}: export not written ({err.strerror}); an existing file is unchanged"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    with atomic_output(out) as fh:
        return write_rows(store, fh, csv_format, dataset, source)
