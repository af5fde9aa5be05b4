"""The ledger of batch jobs: what was submitted (or exported), where it stands, what is still owed.

`generate --batch` must survive being killed between any two remote calls without losing
an answer or paying twice (docs/TEXTGEN.md, "OpenAI Batch API"). So every step is written
here *before* it is made: a batch row in state ``prepared`` with its requests, then
``uploading``, ``creating`` (with the file id), ``submitted`` (batch id), ``closed``. A
rerun finds the unfinished row and reconciles it with the server instead of starting over.
A request stays ``pending`` in its batch until its answer is stored (in the same transaction,
:meth:`crossglg.cache.store.Cache.record`); while its batch is open no other batch or live
run takes it.

Module functions on a :class:`crossglg.cache.store.Cache`, like :mod:`crossglg.cache.leases`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crossglg.cache.records import utc_stamp

if TYPE_CHECKING:
    from crossglg.cache.connection import CacheConnection

STATES = ("prepared", "uploading", "creating", "submitted", "exported", "closed")
_CHUNK = 500


def _now() -> str:
    from datetime import datetime, timezone

    return utc_stamp(datetime.now(timezone.utc))


def has_batches(cache: CacheConnection) -> bool:
    """False for a read-only cache of schema < 3 (opened as is, never migrated)."""
    row = cache.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'batches'"
    ).fetchone()
    return row is not None


def pending_keys(cache: CacheConnection, keys: Sequence[str], target: str = "openai") -> dict[str, str]:
    """``request_key`` → the open ``target`` batch that still owes its answer, for those of ``keys`` that are.

    Only OpenAI batches hold their keys: those are paid for once submitted. A run-batch
    file (``file``) is local, and a key exported in one may be exported again.
    """
    if not has_batches(cache):
        return {}
    out: dict[str, str] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        out.update(
            cache.conn.execute(
                "SELECT r.request_key, r.batch_local_id FROM batch_requests r JOIN batches b USING (batch_local_id)"
                " WHERE b.state != 'closed' AND b.target = ? AND r.state = 'pending'"
                f" AND r.request_key IN ({','.join('?' * len(chunk))})",
                [target, *chunk],
            ).fetchall()
        )
    return out


def open_batch(
    cache: CacheConnection,
    target: str,
    backend: str,
    model: str,
    run_id: str | None,
    entries: Sequence[tuple[str, str]],
    input_path: str | None = None,
    local_id: str | None = None,
) -> tuple[str | None, list[str]]:
    """Record the intent to batch ``entries`` (key, planned JSON); keys an open OpenAI batch owes are left out.

    One transaction, so two processes never put one key into two open batches. Returns the
    new batch's id (``local_id``, or a new one; None when nothing was left to batch) and the
    keys it holds.
    """
    from ulid import ULID

    with cache.write():
        taken = pending_keys(cache, [key for key, _ in entries]) if target == "openai" else {}
        fresh = [(key, planned) for key, planned in entries if key not in taken]
        if not fresh:
            return None, []
        local_id = local_id or f"cgb_{ULID()}"
        now = _now()
        first = "exported" if target == "file" else "prepared"
        cache.conn.execute(
            "INSERT INTO batches (batch_local_id, target, backend, model, state, run_id, input_path, n_requests,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (local_id, target, backend, model, first, run_id, input_path, len(fresh), now, now),
        )
        cache.conn.executemany(
            "INSERT INTO batch_requests (batch_local_id, request_key, targets_json) VALUES (?, ?, ?)",
            [(local_id, key, planned) for key, planned in fresh],
        )
    return local_id, [key for key, _ in fresh]


def update_batch(cache: CacheConnection, local_id: str, **fields: Any) -> None:
    """Record one step (state, remote ids, status) of a batch, committed before the next remote call."""
    allowed = {"state", "file_id", "batch_id", "remote_status", "output_file_id", "error_file_id", "note"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not batch fields: {sorted(unknown)}")
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    sets = ", ".join(f"{name} = ?" for name in fields)
    with cache.write():
        cache.conn.execute(
            f"UPDATE batches SET {sets}, updated_at = ? WHERE batch_local_id = ?",
            (*fields.values(), _now(), local_id),
        )


def list_batches(
    cache: CacheConnection, open_only: bool = False, target: str | None = None
) -> list[dict[str, Any]]:
    """Batches, oldest first, each with how many of its requests are still owed."""
    if not has_batches(cache):
        return []
    where, params = [], []
    if open_only:
        where.append("b.state != 'closed'")
    if target is not None:
        where.append("b.target = ?")
        params.append(target)
    cur = cache.conn.execute(
        "SELECT b.*, (SELECT count(*) FROM batch_requests r WHERE r.batch_local_id = b.batch_local_id"
        " AND r.state = 'pending') AS pending FROM batches b"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY b.batch_local_id",
        params,
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur]


def batch_entries(cache: CacheConnection, local_id: str, pending_only: bool = True) -> list[tuple[str, str]]:
    """(request key, planned JSON) of a batch, in the order they were batched."""
    sql = "SELECT request_key, targets_json FROM batch_requests WHERE batch_local_id = ?"
    if pending_only:
        sql += " AND state = 'pending'"
    return cache.conn.execute(sql + " ORDER BY rowid", (local_id,)).fetchall()


def mark_done(cache: CacheConnection, keys: Sequence[str]) -> None:
    """Answers for ``keys`` were stored: no open batch owes them any more. Call inside a write."""
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        cache.conn.execute(
            f"UPDATE batch_requests SET state = 'done' WHERE state = 'pending' AND request_key IN ({','.join('?' * len(chunk))})",
            chunk,
        )
