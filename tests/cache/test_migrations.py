"""Schema migrations: an old cache opens in a new crossglg, backed up first; a newer one is refused.

The fixture ``fixtures/cache-v1.db.gz`` is a real cache written by the crossglg of schema 1
(one run, one answer for ntu120 class 1 from openai:gpt-4o), gzipped because 16 KiB pages
are mostly zeros.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crossglg.cache import SCHEMA_VERSION, CacheError, open_cache
from crossglg.cache.migrations import MIGRATIONS

FIXTURE = Path(__file__).parent / "fixtures" / "cache-v1.db.gz"
V1_TEXT = "The right hand lifts a cup to the mouth."


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = tmp_path / "cache.db"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _version(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_the_chain_is_numbered_and_the_fixture_is_version_1(v1):
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert SCHEMA_VERSION >= 3
    assert _version(v1) == 1
    assert "batches" not in _tables(v1)


def test_a_version_1_cache_reads_as_is_without_being_changed(v1):
    before = hashlib.sha256(v1.read_bytes()).hexdigest()
    with open_cache(v1, readonly=True) as cache:
        assert cache.show("ntu120", 1)[0]["text"] == V1_TEXT
        assert cache.stats()["schema_version"] == 1
    assert hashlib.sha256(v1.read_bytes()).hexdigest() == before
    assert not list(v1.parent.glob("*.bak-*"))


def test_opening_a_version_1_cache_for_writing_backs_it_up_then_migrates(v1):
    original = v1.read_bytes()
    with open_cache(v1) as cache:
        assert cache.meta()["schema_version"] == str(SCHEMA_VERSION)
        assert {"batches", "batch_requests", "run_owners", "leases"} <= _tables(v1)
        assert cache.show("ntu120", 1)[0]["text"] == V1_TEXT  # the paid-for answer is still there
        run = cache.start_run("generate", {})  # and the file takes new writes
        cache.finish_run(run, "ok")
    backup = v1.with_name("cache.db.bak-v1")
    assert backup.exists() and _version(backup) == 1
    with open_cache(backup, readonly=True) as old:  # the backup is a whole cache of its own
        assert old.show("ntu120", 1)[0]["text"] == V1_TEXT
        assert old.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert len(original) > 0 and not list(v1.parent.glob("*.tmp-*"))
    # a second open migrates nothing and leaves the backup alone
    stamp = backup.stat().st_mtime_ns
    with open_cache(v1) as cache:
        assert cache.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    assert backup.stat().st_mtime_ns == stamp


def test_the_backup_holds_changes_still_in_the_wal(v1):
    """A writer that has not checkpointed: its last commit lives only in cache.db-wal."""
    conn = sqlite3.connect(v1)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES ('01WAL', 'x', 'now', 'ok')")
    conn.commit()
    assert v1.with_name("cache.db-wal").stat().st_size > 0
    try:
        with open_cache(v1):
            pass
    finally:
        conn.close()
    with open_cache(v1.with_name("cache.db.bak-v1"), readonly=True) as old:
        assert old.conn.execute("SELECT count(*) FROM runs WHERE run_id = '01WAL'").fetchone()[0] == 1


def test_a_failed_migration_leaves_the_file_at_its_version(v1, monkeypatch):
    from crossglg.cache import migrations

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    last = migrations.MIGRATIONS[-1]
    monkeypatch.setattr(
        migrations,
        "MIGRATIONS",
        (*migrations.MIGRATIONS[:-1], migrations.Migration(last.version, "x", broken)),
    )
    with pytest.raises(CacheError):
        open_cache(v1)
    assert _version(v1) == 1
    assert "half_done" not in _tables(v1) and "run_owners" in _tables(v1)


def test_a_cache_from_a_newer_crossglg_is_refused_in_one_line(v1, tmp_path):
    conn = sqlite3.connect(v1)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = hashlib.sha256(v1.read_bytes()).hexdigest()
    for readonly in (False, True):
        with pytest.raises(CacheError, match=rf"newer crossglg \(cache schema {SCHEMA_VERSION + 1}"):
            open_cache(v1, readonly=readonly)
    proc = subprocess.run(
        [sys.executable, "-m", "crossglg.text_cli", "stats", "--cache", str(v1)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "upgrade crossglg" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert hashlib.sha256(v1.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob("*.bak-*"))


def test_a_version_1_file_from_before_the_liveness_tables_gets_them(v1):
    """The first releases made version-1 files without run_owners and leases (later added on open)."""
    conn = sqlite3.connect(v1)
    conn.executescript("DROP TABLE run_owners; DROP TABLE leases;")
    conn.close()
    with open_cache(v1) as cache:
        assert {"run_owners", "leases", "batches"} <= _tables(v1)
        run = cache.start_run("generate", {})  # registers its owner row: the table works
        assert (
            cache.conn.execute("SELECT count(*) FROM run_owners WHERE run_id = ?", (run,)).fetchone()[0] == 1
        )
        assert cache.show("ntu120", 1)[0]["text"] == V1_TEXT
