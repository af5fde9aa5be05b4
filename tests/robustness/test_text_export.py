"""Issue 11 item 1: `crossglg-text export cache.db` must not empty the cache; a failed export
must not truncate the file it would have replaced."""

from __future__ import annotations

import hashlib

from tests.robustness._text_cache_helpers import filled_cache, one_line_error, query, run_cli


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_onto_the_cache_is_refused_and_the_cache_is_unchanged(tmp_path):
    cache = filled_cache(tmp_path)
    before = _digest(cache)
    # the slip the issue describes: the cache named as the positional output
    proc = run_cli("export", "cache.db", cwd=tmp_path)
    assert "is the cache being exported" in one_line_error(proc)
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
