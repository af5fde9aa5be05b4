"""Issue 11 item 1: `crossglg-text export cache.db` must not empty the cache; a failed export
must not truncate the file it would have replaced."""

from __future__ import annotations

import hashlib

import pytest

from tests.robustness._text_cache_helpers import filled_cache, one_line_error, query, run_cli


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_onto_the_cache_is_refused_and_the_cache_is_unchanged(tmp_path):
    cache = filled_cache(tmp_path)
    before = _digest(cache)
    # the slip the issue describes: the cache named as the positional output
    proc = run_cli("export", "cache.db", cwd=tmp_path)
    assert "that is the cache (--cache cache.db)" in one_line_error(proc)
    assert _digest(cache) == before
    assert query(cache, "SELECT count(*) FROM items")[0][0] == 40


def test_export_onto_another_cache_is_refused(tmp_path):
    cache = filled_cache(tmp_path)
    other = tmp_path / "other.db"
    other.write_bytes(cache.read_bytes())
    proc = run_cli("export", other, "--cache", cache, cwd=tmp_path)
    assert "is a SQLite database" in one_line_error(proc)
    assert other.read_bytes() == cache.read_bytes()


def test_failed_export_leaves_the_existing_output_as_it_was(tmp_path):
    cache = filled_cache(tmp_path)
    out = tmp_path / "texts-export.jsonl"
    out.write_text("yesterday's export\n")
    # damage a page of the items table so the export fails part-way through reading
    data = bytearray(cache.read_bytes())
    page = 16384
    for start in range(2 * page, len(data), page):
        data[start : start + 64] = b"\xa5" * 64
    cache.write_bytes(bytes(data))
    proc = run_cli("export", out, "--cache", cache, cwd=tmp_path)
    assert "damaged" in one_line_error(proc)
    assert out.read_text() == "yesterday's export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".texts-export")] == []


def test_export_replaces_an_old_output(tmp_path):
    cache = filled_cache(tmp_path)
    out = tmp_path / "export.jsonl"
    out.write_text("old\n")
    proc = run_cli("export", out, "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 40


BATCH_FILE = ("generate", "--backend", "vllm", "--llm", "Qwen/Qwen2.5-7B-Instruct", "-d", "ntu120", "-c", "1",
              "--batch-file", "{out}")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "out_name", "expected"),
    [
        (BATCH_FILE, "cache.db", "that is the cache (--cache"),
        (BATCH_FILE, "cache.db-wal", "that is the cache (--cache"),
        (BATCH_FILE, "other.db", "is a SQLite database, which writing would replace"),
        (("check", "-d", "ntu120", "--png", "{out}"), "cache.db", "that is the cache (--cache"),
        (("check", "-d", "ntu120", "--png", "{out}"), "other.db", "is a SQLite database, which writing"),
        (("vectors", "{out}", "-d", "ntu120"), "other.npz", "is a SQLite database, which writing"),
    ],
    ids=["batch-file", "batch-file-wal", "batch-file-other-db", "check-png", "check-png-other-db", "vectors"],
)
def test_no_output_replaces_the_cache_or_another_database(tmp_path, args, out_name, expected):
    """`generate --batch-file cache.db` once replaced the cache with the batch file and exited 0."""
    cache = filled_cache(tmp_path)
    out = tmp_path / out_name
    if out.name.startswith("other"):
        out.write_bytes(cache.read_bytes())  # another crossglg cache
    before = {p: _digest(p) for p in (cache, out) if p.exists()}
    proc = run_cli(*(a.format(out=out) for a in args), "--cache", cache, cwd=tmp_path)
    assert expected in one_line_error(proc)
    assert {p: _digest(p) for p in (cache, out) if p.exists()} == before
    assert query(cache, "SELECT count(*) FROM items")[0][0] == 40
