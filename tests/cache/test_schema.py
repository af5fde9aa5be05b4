"""Creation settings, the tables of docs/CACHE.md ("What is in the file"), and refusing files that are not ours."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from crossglg.cache import SCHEMA_VERSION, BatchWriter, CacheError, GenerationRow, open_cache
from crossglg.errors import UserError

from .conftest import add_request, global_item, ok_global

EXPECTED_COLUMNS = {
    "meta": {"key", "value"},
    "runs": {"run_id", "command", "args_json", "tool_version", "started_at", "finished_at", "status",
             "n_requests", "n_cache_hits", "n_failed", "tokens", "cost_usd", "host"},
    "prompts": {"prompt_id", "name", "version_label", "template"},
    "requests": {"request_key", "backend", "model", "model_revision", "messages_json", "params_json",
                 "schema_json", "sample_index", "seed", "prompt_id", "created_run"},
    "generations": {"request_key", "status", "text_id", "parsed_json", "finish_reason", "resolved_model",
                    "system_fingerprint", "tokens_input", "tokens_cached", "tokens_output", "tokens_reasoning",
                    "cost_usd", "mode", "latency_ms", "completed_at", "run_id", "raw_response"},
    "attempts": {"attempt_id", "request_key", "run_id", "attempt_no", "started_at", "duration_ms", "http_status",
                 "error_type", "error_message", "retry_after_s", "batch_id"},
    "texts": {"text_id", "sha256", "text", "n_chars"},
    "items": {"dataset", "class_id", "kind", "slot", "sample_index", "source", "class_name", "request_key",
              "text_id", "key_body_parts"},
    "embedders": {"embedder_id", "model", "revision", "dim", "dtype", "normalized", "max_tokens", "prefix",
                  "config_json"},
    "embeddings": {"text_id", "embedder_id", "vector", "n_tokens", "truncated", "created_at", "run_id"},
}  # fmt: skip


def test_new_file_has_pragmas_tables_and_meta(cache, cache_path):
    q = cache.conn.execute
    assert q("PRAGMA page_size").fetchone()[0] == 16384
    assert q("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert q("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert q("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert q("PRAGMA foreign_keys").fetchone()[0] == 1
    for table, columns in EXPECTED_COLUMNS.items():
        have = {r[1] for r in q(f"PRAGMA table_info({table})")}
        assert columns <= have, f"{table} lacks {columns - have}"
    meta = cache.meta()
    assert meta["format"] == "crossglg-cache"
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["key_recipe_version"] == "1"
    assert meta["created_by"].startswith("crossglg ")
    # page size is in the file header itself (bytes 16-17, big-endian)
    cache.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert int.from_bytes(cache_path.read_bytes()[16:18], "big") == 16384


def test_embeddings_unique_per_text_and_embedder_and_rowid_table(cache):
    sql = cache.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'embeddings'").fetchone()[0]
    assert "UNIQUE (text_id, embedder_id)" in sql
    assert "WITHOUT ROWID" not in sql.upper()


def test_reopening_keeps_contents(cache_path):
    with open_cache(cache_path) as c:
        run = c.start_run("generate", {"dataset": "ntu120"})
    with open_cache(cache_path) as c:
        assert c.conn.execute("SELECT run_id FROM runs").fetchone()[0] == run
    with open_cache(cache_path, readonly=True) as c:
        assert c.readonly and c.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        with pytest.raises(RuntimeError), c.write():
            pass


def test_readonly_open_never_creates_a_file(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(CacheError, match=r"nope\.db: no such cache file"):
        open_cache(missing, readonly=True)
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CacheError, match="does not exist"):
        open_cache(tmp_path / "no" / "cache.db")


def test_empty_file_becomes_a_cache_but_is_not_readable_as_one(tmp_path):
    path = tmp_path / "touched.db"
    path.touch()
    with pytest.raises(CacheError, match="empty file"):
        open_cache(path, readonly=True)
    with open_cache(path) as c:
        assert c.meta()["format"] == "crossglg-cache"


def _other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE logs (id INTEGER PRIMARY KEY, prompt TEXT)")
    conn.execute("INSERT INTO logs (prompt) VALUES ('hello')")
    conn.commit()
    conn.close()


def _foreign_meta(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    conn.commit()
    conn.close()


def _newer_schema(path: Path) -> None:
    with open_cache(path) as c, c.write():
        c.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn = sqlite3.connect(path)  # fold the WAL back so the file alone is the whole database
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


BAD_FILES = {
    "random bytes": (lambda p: p.write_bytes(os.urandom(3000)), "not a SQLite file"),
    "text file": (lambda p: p.write_text("drink water\neat meal\n"), "not a SQLite file"),
    "other sqlite db": (_other_sqlite, "not a crossglg cache"),
    "foreign meta": (_foreign_meta, "not a crossglg cache"),
    "newer schema": (_newer_schema, "newer crossglg"),
}


@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_and_left_untouched(tmp_path, kind, readonly):
    make, message = BAD_FILES[kind]
    path = tmp_path / "cache.db"
    make(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    size = path.stat().st_size
    with pytest.raises(CacheError, match=message) as info:
        open_cache(path, readonly=readonly)
    assert isinstance(info.value, UserError)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    assert path.stat().st_size == size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(CacheError, match="is a directory"):
        open_cache(tmp_path)


def test_a_cache_made_before_status_degenerate_learns_it_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with open_cache(path) as cache:
        key = add_request(cache, "walk")
        with BatchWriter(cache) as w:
            w.add_generation(
                ok_global(key, "The legs step in turn."),
                [global_item("mine", 1, "walk", "The legs step in turn.")],
            )
    # rebuild `generations` as the first release made it: without 'degenerate' in its CHECK
    conn = sqlite3.connect(path)
    (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'generations'").fetchone()
    old_ddl = ddl.replace(", 'degenerate'", "")
    assert old_ddl != ddl
    conn.executescript(
        f"""BEGIN; {old_ddl.replace("generations (", "g_old (", 1)};
        INSERT INTO g_old SELECT * FROM generations; DROP TABLE generations;
        ALTER TABLE g_old RENAME TO generations;
        UPDATE meta SET value = '1' WHERE key = 'schema_version'; COMMIT;"""
    )
    with pytest.raises(sqlite3.IntegrityError):  # the old file cannot hold the status as it is
        conn.execute("UPDATE generations SET status = 'degenerate'")
    conn.close()
    with open_cache(path) as cache:  # opening for writing rebuilds the table
        other = add_request(cache, "run")
        with BatchWriter(cache) as w:
            w.add_generation(GenerationRow(other, "degenerate", raw_text="{}", parsed={}), [])
        rows = cache.conn.execute("SELECT request_key, status FROM generations ORDER BY status").fetchall()
        assert rows == [(other, "degenerate"), (key, "ok")]
        assert cache.show("mine", 1)[0]["text"] == "The legs step in turn."
        indexes = {r[0] for r in cache.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "generations_status" in indexes
