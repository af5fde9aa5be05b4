"""Opening, creating and migrating the cache file: the only place a SQLite connection is made.

Why the ceremony: a deferred read-then-write transaction under WAL fails at once with
"database is locked" when another process writes, and the busy timeout does not help
(docs/CACHE.md, "What the cache guarantees"). So every write is ``BEGIN IMMEDIATE`` on a
driver-autocommit connection (:meth:`CacheConnection.write`), and sqlite-utils' own
transactions nest inside ours as savepoints.

:class:`CacheConnection` is the open file and its transactions, nothing more; the read paths
(:mod:`crossglg.cache.queries`) and the write paths (:mod:`crossglg.cache.store`) build on it,
and the side ledgers (leases, batches, json modes, embeddings) are functions that take it.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from crossglg import __version__
from crossglg.cache.errors import CacheDamaged, CacheError, CacheWriteError
from crossglg.cache.keys import KEY_RECIPE_VERSION
from crossglg.cache.migrations import SCHEMA_VERSION, apply_pending, file_version, make_backup
from crossglg.cache.records import utc_now
from crossglg.cache.schema import FORMAT_NAME, PAGE_SIZE, TABLES

BUSY_TIMEOUT_MS = 30000


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


class CacheConnection:
    """An open cache file and its write transactions; :class:`crossglg.cache.store.Cache` builds on it.

    Use :func:`crossglg.cache.open_cache`; close it (or use ``with``) when done.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> CacheConnection:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):
            translated = storage_error(exc, self.path)
            if translated is not None:
                raise translated from None

    @contextmanager
    def write(self) -> Iterator[CacheConnection]:
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


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open (and, unless ``readonly``, create) a cache file; the connection behind ``open_cache``.

    Read-only opening never creates a file: a missing path is a :class:`CacheError` that
    says which command fills it. A file that is not a crossglg cache, or a newer one, is a
    :class:`CacheError` and is left untouched.
    """
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


def _open(path: Path, readonly: bool) -> sqlite3.Connection:
    state = _inspect(path)
    if readonly:
        if state == "missing":
            raise CacheError(
                f"{path}: no such cache file; create it with `crossglg-text generate --cache {path}`"
            )
        if state == "blank":
            raise CacheError(f"{path}: an empty file, not a crossglg cache")
        return _connect(path, readonly=True)
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
    return conn


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
