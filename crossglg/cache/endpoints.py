"""What a server told us about itself: the structured-output mode it accepts, per base URL and model.

`generate --json-mode auto` against a served model asks the server once which form of
structured output it takes (docs/TEXTGEN.md, "Structured output, negotiated") and keeps the
answer here, so a rerun neither probes again nor guesses. The base URL is stored without
user, password, query or fragment: it says where the server was, never how to log in.

Module functions on an open cache, like :mod:`crossglg.cache.leases`; the table is made by
migration 4 (:mod:`crossglg.cache.migrations`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from crossglg.cache.records import utc_now
from crossglg.cache.sanitize import clean_message

if TYPE_CHECKING:
    from crossglg.cache.connection import CacheConnection


def endpoint_url(base_url: str) -> str:
    """``http://user:pw@host:8000/v1/?x=1`` → ``http://host:8000/v1``: the server, no credentials."""
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host.lower(), parts.path.rstrip("/"), "", ""))


def _has_table(cache: CacheConnection) -> bool:
    row = cache.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'json_modes'"
    ).fetchone()
    return row is not None


def remembered_json_mode(cache: CacheConnection, base_url: str, model: str) -> tuple[str, str] | None:
    """(mode, when it was decided) for this server and model, or None if never asked.

    Works on a read-only cache made before the table existed (then: None).
    """
    if not _has_table(cache):
        return None
    row = cache.conn.execute(
        "SELECT json_mode, decided_at FROM json_modes WHERE base_url = ? AND model = ?",
        (endpoint_url(base_url), model),
    ).fetchone()
    return (row[0], row[1]) if row else None


def remember_json_mode(
    cache: CacheConnection,
    base_url: str,
    model: str,
    json_mode: str,
    evidence: str,
    run_id: str | None = None,
) -> None:
    """Record the mode a server accepted; ``evidence`` says what it refused on the way."""
    with cache.write():
        cache.conn.execute(
            "INSERT OR REPLACE INTO json_modes (base_url, model, json_mode, evidence, decided_at, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (endpoint_url(base_url), model, json_mode, clean_message(evidence), utc_now(), run_id),
        )
