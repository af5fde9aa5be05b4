"""Who is working on the file: live runs, stale runs, and leases on requests being answered.

Two `generate` runs on one cache must split the work, not pay twice; a run killed with
``kill -9`` must not stay "running" forever (docs/CACHE.md, "What the cache guarantees").
A run registers its pid and host (``run_owners``) and renews a heartbeat while it works;
before sending a request it takes a lease on the request's key (``leases``). Another run
skips a key with a live lease and waits for the answer to land instead.

A run is stale when its process is gone: same host and a dead pid, or, from another host,
no heartbeat for :data:`STALE_AFTER_S`. SQLite's WAL needs shared memory, so every writer
of one file is normally on one host and the pid test decides. A lease is live while it has
not expired and its run is not stale; a heartbeat extends every lease of its run.

Module functions on an open cache: the store calls the bookkeeping ones inside its own
transactions; a run calls :func:`claim` and :func:`heartbeat`.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from crossglg.cache.records import utc_stamp

if TYPE_CHECKING:
    from crossglg.cache.connection import CacheConnection

LEASE_S = 120.0  # a lease lapses this long after its run's last heartbeat
HEARTBEAT_S = 10.0  # how often a working run renews its heartbeat and leases
STALE_AFTER_S = 600.0  # a run on another host with no heartbeat for this long is gone


def _stamp(offset_s: float = 0.0) -> str:
    return utc_stamp(datetime.now(timezone.utc) + timedelta(seconds=offset_s))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(pid: int | None, host: str | None, heartbeat_at: str | None) -> bool:
    if pid is not None and host == socket.gethostname():
        return pid != os.getpid() and not _pid_alive(pid)
    return heartbeat_at is None or heartbeat_at < _stamp(-STALE_AFTER_S)


def mark_stale_runs(cache: CacheConnection) -> list[str]:
    """Mark every "running" run whose process is gone as "interrupted"; returns their ids.

    Runs written by a crossglg without ``run_owners`` count as stale once they started
    :data:`STALE_AFTER_S` ago. A run wrongly marked (it was alive after all) puts its own
    final status back when it finishes. Call inside a write transaction.
    """
    rows = cache.conn.execute(
        "SELECT r.run_id, o.pid, o.host, coalesce(o.heartbeat_at, r.started_at) FROM runs r"
        " LEFT JOIN run_owners o USING (run_id) WHERE r.status = 'running'"
    ).fetchall()
    stale = [run_id for run_id, pid, host, beat in rows if _is_stale(pid, host, beat)]
    for run_id in stale:
        cache.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at,"
            " (SELECT heartbeat_at FROM run_owners WHERE run_id = ?)) WHERE run_id = ?",
            (run_id, run_id),
        )
        cache.conn.execute("DELETE FROM run_owners WHERE run_id = ?", (run_id,))
        cache.conn.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))
    return stale


def register_owner(cache: CacheConnection, run_id: str) -> None:
    """Record this process as the run's owner. Call inside a write transaction."""
    cache.conn.execute(
        "INSERT OR REPLACE INTO run_owners (run_id, pid, host, heartbeat_at) VALUES (?, ?, ?, ?)",
        (run_id, os.getpid(), socket.gethostname(), _stamp()),
    )


def release_run(cache: CacheConnection, run_id: str) -> None:
    """Forget a finished run's owner row and leases. Call inside a write transaction."""
    cache.conn.execute("DELETE FROM run_owners WHERE run_id = ?", (run_id,))
    cache.conn.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))


def heartbeat(cache: CacheConnection, run_id: str) -> None:
    """Tell other processes this run is alive and extend all of its leases."""
    with cache.write():
        cache.conn.execute("UPDATE run_owners SET heartbeat_at = ? WHERE run_id = ?", (_stamp(), run_id))
        cache.conn.execute("UPDATE leases SET expires_at = ? WHERE run_id = ?", (_stamp(LEASE_S), run_id))


def claim(cache: CacheConnection, request_key: str, run_id: str, skip_answered: bool = True) -> str:
    """Try to take the lease on one request: ``mine``, ``answered`` (an ``ok`` answer is
    already stored and ``skip_answered``) or ``busy`` (another live run holds it).
    """
    with cache.write():
        if skip_answered:
            row = cache.conn.execute(
                "SELECT status FROM generations WHERE request_key = ?", (request_key,)
            ).fetchone()
            if row and row[0] == "ok":
                return "answered"
        holder = cache.conn.execute(
            "SELECT l.run_id, l.expires_at, o.pid, o.host, o.heartbeat_at FROM leases l"
            " LEFT JOIN run_owners o USING (run_id) WHERE l.request_key = ?",
            (request_key,),
        ).fetchone()
        if holder is not None and holder[0] != run_id:
            _, expires_at, pid, host, beat = holder
            if expires_at > _stamp() and not _is_stale(pid, host, beat):
                return "busy"
        cache.conn.execute(
            "INSERT OR REPLACE INTO leases (request_key, run_id, expires_at) VALUES (?, ?, ?)",
            (request_key, run_id, _stamp(LEASE_S)),
        )
    return "mine"
