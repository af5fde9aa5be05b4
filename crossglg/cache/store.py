"""Opening, creating and writing the cache file: the only place a SQLite connection is made.

Why the ceremony: a deferred read-then-write transaction under WAL fails at once with
"database is locked" when another process writes, and the busy timeout does not help
(docs/CACHE.md, "What the cache guarantees"). So every write here is ``BEGIN IMMEDIATE`` on a driver-autocommit
connection, and sqlite-utils' own transactions nest inside ours as savepoints.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from crossglg import __version__
from crossglg.cache import batches, endpoints, leases
from crossglg.cache.errors import CacheDamaged, CacheError, CacheWriteError
from crossglg.cache.keys import KEY_RECIPE_VERSION, TRANSPORT_FIELDS, canonical_json, sha256_hex, text_sha256
from crossglg.cache.migrations import SCHEMA_VERSION, apply_pending, file_version, make_backup
from crossglg.cache.records import (
    USABLE_STATUSES,
    AttemptRow,
    GenerationRow,
    ItemTarget,
    RequestRow,
    RunCounters,
    utc_stamp,
)
from crossglg.cache.sanitize import (
    clean_message,
    configured_secrets,
    mask_configured_secrets,
    valid_text,
    valid_value,
)
from crossglg.cache.schema import FORMAT_NAME, PAGE_SIZE, TABLES
from crossglg.prompts.answers import answer_texts

if TYPE_CHECKING:
    from crossglg.cache.writer import BatchWriter

BUSY_TIMEOUT_MS = 30000
LOOKUP_CHUNK = 500  # bound variables per IN (...) query, well under SQLite's limit
_USABLE = "(" + ", ".join(f"'{s}'" for s in USABLE_STATUSES) + ")"  # SQL list of USABLE_STATUSES
_SECRET_SUFFIXES = ("_key", "apikey", "token", "secret", "password", "authorization")


def utc_now() -> str:
    return utc_stamp(datetime.now(timezone.utc))


def _inspect(path: Path) -> str:
    """Classify a path without writing to it: 'missing', 'blank' (creatable) or 'cache'.

    Anything else raises :class:`CacheError`. Uses a read-only SQLite connection so a foreign
    or newer file is never touched, and never a plain file handle: closing any descriptor of
    the database drops this process's POSIX locks on it, and in WAL mode another process may
    then checkpoint and reset the WAL under a connection of ours (silently losing its writes).
    """
    if not path.exists():
        return "missing"
    if path.is_dir():
        raise CacheError(f"{path}: is a directory, not a crossglg cache file")
    if path.stat().st_size == 0:
        return "blank"
    try:
        conn = _read_only_connection(path)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not names:
                return "blank"
            if "meta" not in names:
                raise CacheError(f"{path}: a SQLite database but not a crossglg cache (no meta table)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        if _is_lock_error(err):
            raise  # a writer holds the file (e.g. it is being created): not a verdict on its content
        if "not a database" in str(err):
            raise CacheError(
                f"{path}: not a SQLite file, so not a crossglg cache; pass another --cache path"
            ) from None
        raise CacheError(f"{path}: unreadable as a crossglg cache ({err})") from None
    if meta.get("format") != FORMAT_NAME:
        raise CacheError(
            f"{path}: a SQLite database but not a crossglg cache (meta has no format={FORMAT_NAME})"
        )
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise CacheError(f"{path}: crossglg cache with an unreadable schema_version") from None
    if version > SCHEMA_VERSION:
        raise CacheError(
            f"{path}: written by a newer crossglg (cache schema {version}, this tool reads up to "
            f"{SCHEMA_VERSION}); upgrade crossglg (pip install -U crossglg) to use it"
        )
    if version < 1:
        raise CacheError(
            f"{path}: unknown cache schema version {version} (this tool reads 1 to {SCHEMA_VERSION})"
        )
    recipe = meta.get("key_recipe_version", "")
    if recipe != str(KEY_RECIPE_VERSION):
        # keys made by another recipe never match ours: reading on would silently re-pay for everything
        raise CacheError(
            f"{path}: cache keys made by key recipe {recipe or '(none)'}, this tool makes recipe "
            f"{KEY_RECIPE_VERSION}; use the crossglg that wrote the file, or start a new cache"
        )
    return "cache"


def _read_only_connection(path: Path, **kwargs: Any) -> sqlite3.Connection:
    """A connection that never writes, also in a read-only folder.

    A WAL file can only be opened read-only when its ``-shm`` file exists or can be created.
    In a read-only folder after a clean close neither exists, and then nothing is in a WAL
    either, so the file is opened ``immutable`` (no locks, no shared memory).
    """
    uri = path.resolve().as_uri()
    timeout = BUSY_TIMEOUT_MS / 1000
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, **kwargs)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as err:
        conn.close()
        if _is_lock_error(err) or os.access(path.parent, os.W_OK):
            raise
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise CacheError(
                f"{path}: its folder is read-only and {wal.name} holds changes not yet merged; "
                "copy the cache with its -wal file to a writable folder to read it"
            ) from None
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout, **kwargs)


def storage_error(err: sqlite3.Error, path: Path) -> CacheError | None:
    """The one-line error for a SQLite failure the user has to fix, or None for our bugs."""
    code = getattr(err, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(err).lower()
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return CacheWriteError(
            f"{path}: cannot write: the disk is full or the file reached a size limit ({err})",
            may_recover=True,
        )
    if primary == sqlite3.SQLITE_IOERR or "disk i/o error" in text:
        return CacheWriteError(
            f"{path}: cannot write: {err} (a full disk, a file size limit or a failing disk)",
            may_recover=True,
        )
    if primary == sqlite3.SQLITE_READONLY or "readonly database" in text:
        return CacheWriteError(
            f"{path}: read-only ({err}); generate, import, invalidate and embed need write access to the "
            "file and its folder (show, export and stats work as is)"
        )
    if primary == sqlite3.SQLITE_CANTOPEN or "unable to open" in text:
        return CacheError(
            f"{path}: cannot open the file ({err}); check the path and the folder's permissions"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text:
        return CacheDamaged(
            f"{path}: the file is damaged ({err}); recover what is readable with "
            f"`sqlite3 {path.name} .recover | sqlite3 recovered.db` and point --cache at the copy"
        )
    return None


def scrub_args(
    args: Mapping[str, Any], drop_names: bool = True, secrets: list[str] | None = None
) -> dict[str, Any]:
    """Arguments fit to store: transport settings and secret-looking names dropped.

    API keys are never stored; dropping by name is backed up by masking every configured key
    and ``sk-…``/bearer credential wherever it turns up in a string. Request params keep their
    names and all but configured keys (``drop_names=False``): they must stay what was hashed.
    """
    if secrets is None:
        secrets = configured_secrets()  # once, not once a string

    def mask(text: str) -> str:
        return clean_message(text, secrets) if drop_names else mask_configured_secrets(text, secrets)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if not (drop_names and _secret_name(k))}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return clean(args)


def _secret_name(name: Any) -> bool:
    lowered = str(name).lower().replace("-", "_")
    return lowered in TRANSPORT_FIELDS or lowered == "key" or lowered.endswith(_SECRET_SUFFIXES)


class Cache:
    """An open cache file. Use :func:`open_cache`; close it (or use ``with``) when done."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):
            translated = storage_error(exc, self.path)
            if translated is not None:
                raise translated from None

    @contextmanager
    def write(self) -> Iterator[Cache]:
        """One write transaction, ``BEGIN IMMEDIATE``: lock first, then read, then write.

        Nested calls join the outer transaction. Also for the embeddings module's writes.
        """
        if self.readonly:
            raise RuntimeError(f"{self.path} was opened read-only")
        with self._lock:
            if self.conn.in_transaction:
                yield self
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._rollback()
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                # a full disk or an I/O error fails the statement or the COMMIT itself; either
                # way the transaction is gone, every earlier commit stays
                self._rollback()
                translated = storage_error(err, self.path)
                if translated is None:
                    raise
                raise translated from None

    def _rollback(self) -> None:
        # after SQLITE_FULL SQLite may have rolled back already: then there is nothing to undo
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    # -- runs and prompts ----------------------------------------------------------------
    def start_run(self, command: str, args: Mapping[str, Any] | None = None) -> str:
        """Record a CLI call and return its ULID (ULIDs sort by time, so runs list in order).

        Runs left "running" by a process that is gone (kill -9, power cut, a full disk) are
        marked "interrupted" first; their ids are kept in ``self.stale_runs``.
        """
        from ulid import ULID

        run_id = str(ULID())
        with self.write():
            self.stale_runs = leases.mark_stale_runs(self)
            self.db["runs"].insert(
                {
                    "run_id": run_id,
                    "command": command,
                    "args_json": canonical_json(scrub_args(args or {})),
                    "tool_version": __version__,
                    "started_at": utc_now(),
                    "status": "running",
                    "host": socket.gethostname(),
                }
            )
            leases.register_owner(self, run_id)
        return run_id

    def finish_run(self, run_id: str, status: str, counters: RunCounters | None = None) -> None:
        """Close a run with its final status (ok / failed / interrupted) and counters."""
        c = counters or RunCounters()
        with self.write():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, n_requests = ?, n_cache_hits = ?,"
                " n_failed = ?, tokens = ?, cost_usd = ? WHERE run_id = ?",
                (utc_now(), status, c.n_requests, c.n_cache_hits, c.n_failed, c.tokens, c.cost_usd, run_id),
            )
            leases.release_run(self, run_id)

    @contextmanager
    def run(self, command: str, args: Mapping[str, Any] | None = None) -> Iterator[RunCounters]:
        """``start_run`` … ``finish_run`` around a block, so no failure leaves a run "running".

        Yields the counters to fill (``run_id`` set). The run ends "ok" when the block returns
        and "failed" ("interrupted" on Ctrl-C) when it raises; then the block's error is the one reported, even if the
        row cannot be closed (the next run marks it interrupted).
        """
        counters = RunCounters(run_id=self.start_run(command, args))
        assert counters.run_id is not None
        try:
            yield counters
        except BaseException as err:
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            with contextlib.suppress(CacheError, sqlite3.Error):
                self.finish_run(counters.run_id, status, counters)
            raise
        self.finish_run(counters.run_id, "ok", counters)

    def put_prompt(self, name: str, template: str, version_label: str | None = None) -> str:
        """Store a template for provenance; its id is the sha256 of its text (not part of any key)."""
        prompt_id = sha256_hex(template)
        with self.write():
            self.db["prompts"].insert(
                {"prompt_id": prompt_id, "name": name, "version_label": version_label, "template": template},
                ignore=True,
            )
        return prompt_id

    # -- requests and lookups ------------------------------------------------------------
    def put_requests(self, rows: Iterable[RequestRow], run_id: str | None = None) -> int:
        """Insert resolved requests, skipping those already present; returns how many were new.

        Existing keys are found first with the same ``IN`` query as :meth:`lookup`, so a
        rerun serialises nothing and costs about as much as a lookup.
        """
        rows = list(rows)
        if not rows:
            return 0
        now, secrets = utc_now(), configured_secrets()
        with self.write():
            present = self._present("requests", [r.request_key for r in rows])
            fresh = [r for r in rows if r.request_key not in present]
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO requests (request_key, backend, model, model_revision, messages_json,"
                " params_json, schema_json, sample_index, seed, prompt_id, created_run, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        r.request_key,
                        r.backend,
                        r.model,
                        r.model_revision,
                        canonical_json(r.messages),
                        canonical_json(scrub_args(r.params, drop_names=False, secrets=secrets)),
                        canonical_json(r.schema) if r.schema is not None else None,
                        r.sample_index,
                        r.seed,
                        r.prompt_id,
                        run_id,
                        now,
                    )
                    for r in fresh
                ),
            )
            return self.conn.total_changes - before

    def _present(self, table: str, keys: Sequence[str]) -> dict[str, Any]:
        """``request_key`` → first other column, for the keys of ``keys`` found in ``table``."""
        column = {"requests": "backend", "generations": "status"}[table]
        found: dict[str, Any] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self.conn.execute(
                    f"SELECT request_key, {column} FROM {table} WHERE request_key IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        """Status of every key that has a generation; keys absent from the result are missing.

        Chunked ``IN (...)`` queries: about 300k keys/s (docs/CACHE.md, "What the cache guarantees").
        """
        return self._present("generations", list(keys))

    def generation(self, request_key: str) -> dict[str, Any] | None:
        """One stored answer with its raw text and parsed JSON, or None."""
        cur = self.conn.execute(
            "SELECT g.*, t.text AS raw_text FROM generations g LEFT JOIN texts t USING (text_id)"
            " WHERE g.request_key = ?",
            (request_key,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["parsed"] = json.loads(out["parsed_json"]) if out["parsed_json"] else None
        return out

    def writer(self, max_rows: int = 200, max_seconds: float = 1.0, run_id: str | None = None) -> BatchWriter:
        """A batching writer; see :class:`crossglg.cache.writer.BatchWriter`."""
        from crossglg.cache.writer import BatchWriter

        return BatchWriter(self, max_rows=max_rows, max_seconds=max_seconds, run_id=run_id)

    # -- the write paths the batching writer flushes through -----------------------------
    def _text_id(self, text: str) -> int:
        text = valid_text(text)
        digest = text_sha256(text)
        self.conn.execute(
            "INSERT OR IGNORE INTO texts (sha256, text, n_chars) VALUES (?, ?, ?)", (digest, text, len(text))
        )
        return self.conn.execute("SELECT text_id FROM texts WHERE sha256 = ?", (digest,)).fetchone()[0]

    def _store_generation(self, gen: GenerationRow) -> bool:
        """Upsert one generation; a failure never replaces a usable answer already cached."""
        text_id = self._text_id(gen.raw_text) if gen.raw_text is not None else None
        cur = self.conn.execute(
            f"""INSERT INTO generations (request_key, status, text_id, parsed_json, finish_reason,
                   resolved_model, system_fingerprint, tokens_input, tokens_cached, tokens_output,
                   tokens_reasoning, cost_usd, mode, latency_ms, completed_at, run_id, raw_response)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (request_key) DO UPDATE SET
                   status = excluded.status, text_id = excluded.text_id, parsed_json = excluded.parsed_json,
                   finish_reason = excluded.finish_reason, resolved_model = excluded.resolved_model,
                   system_fingerprint = excluded.system_fingerprint, tokens_input = excluded.tokens_input,
                   tokens_cached = excluded.tokens_cached, tokens_output = excluded.tokens_output,
                   tokens_reasoning = excluded.tokens_reasoning, cost_usd = excluded.cost_usd,
                   mode = excluded.mode, latency_ms = excluded.latency_ms,
                   completed_at = excluded.completed_at, run_id = excluded.run_id,
                   raw_response = excluded.raw_response
               WHERE excluded.status IN {_USABLE} OR generations.status NOT IN {_USABLE}""",
            (
                gen.request_key,
                gen.status,
                text_id,
                canonical_json(valid_value(gen.parsed)) if gen.parsed is not None else None,
                gen.finish_reason,
                gen.resolved_model,
                gen.system_fingerprint,
                gen.tokens_input,
                gen.tokens_cached,
                gen.tokens_output,
                gen.tokens_reasoning,
                gen.cost_usd,
                gen.mode,
                gen.latency_ms,
                utc_now(),
                gen.run_id,
                gen.raw_response,
            ),
        )
        return cur.rowcount > 0

    def _store_items(self, request_key: str, status: str, parsed: Any, targets: Sequence[ItemTarget]) -> int:
        if status not in USABLE_STATUSES or not isinstance(parsed, Mapping):
            return 0
        n = 0
        parsed = valid_value(parsed)
        for t in targets:
            # an ok answer passed the quality checks when it was received; the others bring
            # only their pieces that pass them (crossglg.prompts.quality)
            whole = status == "ok" or (status == "degenerate" and t.accept_degenerate)
            checked = None if whole else t.class_name
            for slot, text, parts in answer_texts(t.kind, parsed, t.slots, checked):
                self.conn.execute(
                    "INSERT OR REPLACE INTO items (dataset, class_id, kind, slot, sample_index, source,"
                    " class_name, request_key, text_id, key_body_parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        t.dataset,
                        t.class_id,
                        t.kind,
                        slot,
                        t.sample_index,
                        t.source,
                        t.class_name,
                        request_key,
                        self._text_id(text),
                        json.dumps(parts, ensure_ascii=False) if parts is not None else None,
                    ),
                )
                n += 1
        return n

    def record(
        self,
        generations: Sequence[tuple[GenerationRow, Sequence[ItemTarget]]] = (),
        attempts: Sequence[AttemptRow] = (),
        links: Sequence[tuple[str, Sequence[ItemTarget]]] = (),
    ) -> None:
        """Write answers (with the items they fan out to), attempts and cache-hit links at once.

        A link attaches an already cached answer to new targets, e.g. ntu60 reusing the
        ntu120 answer for the same class name. The batching writer calls this per flush.
        """
        with self.write():
            for gen, targets in generations:
                if self._store_generation(gen):
                    self._store_items(gen.request_key, gen.status, gen.parsed, targets)
            for key, targets in links:
                row = self.conn.execute(
                    "SELECT status, parsed_json FROM generations WHERE request_key = ?", (key,)
                ).fetchone()
                if row and row[1]:
                    self._store_items(key, row[0], json.loads(row[1]), targets)
            if attempts:
                self.db["attempts"].insert_all([_attempt_record(a) for a in attempts])
            answered = [gen.request_key for gen, _ in generations]
            for start in range(0, len(answered), LOOKUP_CHUNK):
                chunk = answered[start : start + LOOKUP_CHUNK]
                self.conn.execute(
                    f"DELETE FROM leases WHERE request_key IN ({','.join('?' * len(chunk))})", chunk
                )
            batches.mark_done(self, answered)  # an open batch no longer owes these

    # -- liveness: stale runs, heartbeats, leases on requests (crossglg.cache.leases) ------
    def heartbeat(self, run_id: str) -> None:
        leases.heartbeat(self, run_id)

    def claim(self, request_key: str, run_id: str, skip_answered: bool = True) -> str:
        return leases.claim(self, request_key, run_id, skip_answered)

    # -- what servers accept (crossglg.cache.endpoints) -------------------------------------
    def remembered_json_mode(self, base_url: str, model: str) -> tuple[str, str] | None:
        return endpoints.remembered_json_mode(self, base_url, model)

    def remember_json_mode(
        self, base_url: str, model: str, json_mode: str, evidence: str, run_id: str | None = None
    ) -> None:
        endpoints.remember_json_mode(self, base_url, model, json_mode, evidence, run_id)

    # -- read paths: show / export / stats / sources / import / invalidate ---------------
    # the query helpers live in their own module; bound here as methods
    from crossglg.cache.queries import (
        export_rows,
        import_texts,
        invalidate,
        show,
        sources,
        stats,
        unused_answers,
    )


def _attempt_record(attempt: AttemptRow) -> dict[str, Any]:
    """An attempt as stored: its error message valid text with every secret masked."""
    record = dict(vars(attempt))
    if attempt.error_message is not None:
        record["error_message"] = clean_message(attempt.error_message)
    return record


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = _read_only_connection(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    else:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _initialise(conn: sqlite3.Connection) -> None:
    """Page size before the first table, then WAL, then every migration in one IMMEDIATE transaction."""
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    with _immediate(conn):
        conn.execute(TABLES["meta"])
        apply_pending(conn, file_version(conn))
        meta = {
            "format": FORMAT_NAME,
            "key_recipe_version": str(KEY_RECIPE_VERSION),
            "created_by": f"crossglg {__version__}",
            "created_at": utc_now(),
        }
        conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", meta.items())


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older cache up to :data:`SCHEMA_VERSION`: a backup first, then the missing migrations.

    The version is read again under the write lock, so two processes opening one old file
    migrate it once (crossglg.cache.migrations).
    """
    version = file_version(conn)
    if version >= SCHEMA_VERSION:
        return
    make_backup(conn, path, version)
    with _immediate(conn):
        apply_pending(conn, file_version(conn))


def open_cache(path: str | os.PathLike[str], readonly: bool = False) -> Cache:
    """Open (and, unless ``readonly``, create) a cache file.

    Read-only opening never creates a file: a missing path is a :class:`CacheError` that
    says which command fills it. A file that is not a crossglg cache, or a newer one, is a
    :class:`CacheError` and is left untouched.
    """
    path = Path(path)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return _open(path, readonly)
        except sqlite3.OperationalError as err:
            # Processes racing to create one file: switching to WAL and the first reads can
            # report "locked" without going through the busy handler, so retry for as long
            # as the busy timeout would have waited.
            if not _is_lock_error(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + 0.08 * random.random())


def _is_lock_error(err: sqlite3.Error) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


def _open(path: Path, readonly: bool) -> Cache:
    state = _inspect(path)
    if readonly:
        if state == "missing":
            raise CacheError(
                f"{path}: no such cache file; create it with `crossglg-text generate --cache {path}`"
            )
        if state == "blank":
            raise CacheError(f"{path}: an empty file, not a crossglg cache")
        return Cache(path, _connect(path, readonly=True), readonly=True)
    if state == "missing" and not path.parent.exists():
        raise CacheError(f"{path}: folder {path.parent} does not exist")
    _check_writable(path, state)
    try:
        conn = _connect(path, readonly=False)
    except sqlite3.Error as err:
        translated = storage_error(err, path)
        if translated is None or _is_lock_error(err):
            raise
        raise translated from None
    try:
        if state != "cache":
            _initialise(conn)
            # another process may have raced us with something else entirely; ask through our
            # own connection (a second handle on the file would drop our locks, see _inspect)
            if dict(conn.execute("SELECT key, value FROM meta").fetchall()).get("format") != FORMAT_NAME:
                raise CacheError(f"{path}: a SQLite database but not a crossglg cache (meta has no format)")
        else:
            _migrate(conn, path)
    except BaseException as err:
        conn.close()
        if state == "missing" and not (isinstance(err, sqlite3.Error) and _is_lock_error(err)):
            _remove_new_file(path)  # e.g. the disk filled while creating it: leave no 0-byte cache behind
        if isinstance(err, sqlite3.Error) and not _is_lock_error(err):
            translated = storage_error(err, path)
            if translated is not None:
                raise translated from None
        raise
    return Cache(path, conn, readonly=False)


def _check_writable(path: Path, state: str) -> None:
    """Refuse, before connecting, a file or folder we could open but never write."""
    folder = path.parent
    if state != "missing" and not os.access(path, os.W_OK):
        raise CacheWriteError(
            f"{path}: read-only file; generate, import, invalidate and embed need write access "
            "(show, export and stats work as is)"
        )
    if not os.access(folder, os.W_OK):
        raise CacheWriteError(
            f"{path}: folder {folder} is read-only; the cache needs it writable for its -wal and -shm "
            "files (show, export and stats work as is)"
        )


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One IMMEDIATE transaction on a connection in autocommit mode: all of it, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _remove_new_file(path: Path) -> None:
    """Delete a cache this call created but could not initialise, if nothing at all landed in it."""
    names = (path.name, path.name + "-wal", path.name + "-journal", path.name + "-shm")
    files = [path.with_name(name) for name in names]
    if any(f.exists() and f.stat().st_size > 0 for f in files[:3]):
        return  # someone else's commit is in there (a racing process): not ours to delete
    for candidate in files:
        candidate.unlink(missing_ok=True)
