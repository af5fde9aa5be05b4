"""Numbered, append-only schema migrations, applied when a cache is opened for writing.

A paid-for cache must open in every later crossglg (docs/CACHE.md, "Schema versions"). So
the schema is never edited in place: each change is a new migration at the end of
:data:`MIGRATIONS`, and ``meta.schema_version`` says how many a file has had. Opening an
older file for writing first copies it (``cache.db.bak-v1``: a consistent snapshot through
SQLite itself, WAL included), then applies the missing migrations in one ``BEGIN IMMEDIATE``
transaction: all of them or none. A file from a newer crossglg is refused before anything
is touched. A new file runs the same chain from 0, so the chain is what every test exercises.

Every statement is idempotent (``IF NOT EXISTS``, rebuilds that check first) because files
called version 1 exist in two shapes: with and without the tables version 2 names (crossglg
used to add them on open).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossglg.cache.records import STATUSES
from crossglg.cache.schema import INDEXES, TABLES


@dataclass(frozen=True)
class Migration:
    version: int
    about: str
    apply: Callable[[sqlite3.Connection], None]


def _v1_tables(conn: sqlite3.Connection) -> None:
    for ddl in TABLES.values():
        conn.execute(ddl)
    for ddl in INDEXES:
        conn.execute(ddl)


LIVENESS_TABLES: dict[str, str] = {
    "run_owners": """
        CREATE TABLE IF NOT EXISTS run_owners (
            run_id TEXT PRIMARY KEY REFERENCES runs(run_id),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL
        )""",
    "leases": """
        CREATE TABLE IF NOT EXISTS leases (
            request_key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
}


def _knows_every_status(conn: sqlite3.Connection) -> bool:
    ddl = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'generations'"
    ).fetchone()
    return ddl is None or all(f"'{s}'" in ddl[0] for s in STATUSES)


def _v2_liveness_and_statuses(conn: sqlite3.Connection) -> None:
    """Run owners and leases (docs/CACHE.md), and status ``degenerate`` in generations' CHECK.

    SQLite cannot alter a CHECK constraint, so an old ``generations`` is rebuilt under the
    current DDL, every row copied as it was. Nothing references it, so no other table changes.
    """
    for ddl in LIVENESS_TABLES.values():
        conn.execute(ddl)
    if _knows_every_status(conn):
        return
    columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(generations)"))
    conn.execute(TABLES["generations"].replace("generations (", "generations_rebuilt (", 1))
    conn.execute(f"INSERT INTO generations_rebuilt ({columns}) SELECT {columns} FROM generations")
    conn.execute("DROP TABLE generations")
    conn.execute("ALTER TABLE generations_rebuilt RENAME TO generations")
    for index in INDEXES:
        conn.execute(index)


BATCH_TABLES: dict[str, str] = {
    # one submitted (or exported) batch: every remote step is recorded as intent before it is made
    "batches": """
        CREATE TABLE IF NOT EXISTS batches (
            batch_local_id TEXT PRIMARY KEY,
            target TEXT NOT NULL CHECK (target IN ('openai', 'file')),
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            state TEXT NOT NULL,
            run_id TEXT REFERENCES runs(run_id),
            input_path TEXT,
            file_id TEXT,
            batch_id TEXT,
            remote_status TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            n_requests INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            note TEXT
        )""",
    "batch_requests": """
        CREATE TABLE IF NOT EXISTS batch_requests (
            batch_local_id TEXT NOT NULL REFERENCES batches(batch_local_id),
            request_key TEXT NOT NULL REFERENCES requests(request_key),
            targets_json TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
            PRIMARY KEY (batch_local_id, request_key)
        )""",
}
BATCH_INDEXES = ("CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests(request_key, state)",)

ENDPOINT_TABLES: dict[str, str] = {
    "json_modes": """
        CREATE TABLE IF NOT EXISTS json_modes (
            base_url TEXT NOT NULL,
            model TEXT NOT NULL,
            json_mode TEXT NOT NULL,
            evidence TEXT,
            decided_at TEXT NOT NULL,
            run_id TEXT,
            PRIMARY KEY (base_url, model)
        )""",
}


def _v3_batches(conn: sqlite3.Connection) -> None:
    for ddl in (*BATCH_TABLES.values(), *BATCH_INDEXES):
        conn.execute(ddl)


def _v4_json_modes(conn: sqlite3.Connection) -> None:
    for ddl in ENDPOINT_TABLES.values():
        conn.execute(ddl)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of docs/CACHE.md", _v1_tables),
    Migration(2, "run_owners and leases; status degenerate", _v2_liveness_and_statuses),
    Migration(3, "batches and batch_requests (generate --batch, --batch-file)", _v3_batches),
    Migration(4, "json_modes: the structured output each server accepts (--json-mode auto)", _v4_json_modes),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1)), "append-only, numbered from 1"


def file_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def apply_pending(conn: sqlite3.Connection, version: int) -> list[int]:
    """Apply every migration after ``version``; call inside a write transaction. Returns those applied."""
    applied = []
    for migration in MIGRATIONS[version:]:
        migration.apply(conn)
        applied.append(migration.version)
    if applied:
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    return applied


def backup_path(path: Path, version: int) -> Path:
    return path.with_name(f"{path.name}.bak-v{version}")


def make_backup(conn: sqlite3.Connection, path: Path, version: int) -> Path | None:
    """Copy the open database to ``cache.db.bak-vN`` before migrating it; None if one exists already.

    ``VACUUM INTO`` reads through our connection, so the copy is one consistent snapshot with
    whatever is still in the WAL, and it opens no second handle on the cache file (closing one
    would drop this process's locks on it: see ``connection._inspect``). It writes a temporary name
    that is hard-linked to the final one only when complete, so a crash never leaves a partial
    backup under the real name, and an earlier backup (the true original) is never replaced.
    """
    final = backup_path(path, version)
    if final.exists():
        return None
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        conn.execute("VACUUM INTO ?", (str(tmp),))
        with contextlib.suppress(FileExistsError):  # a racing process made it first: keep theirs
            os.link(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final
