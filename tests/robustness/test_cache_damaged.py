"""A damaged page and a foreign key recipe: one-line errors from every command, never a raw
DatabaseError, and `stats` no longer reports a damaged file as fine."""

from __future__ import annotations

import sqlite3

import pytest

from crossglg.cache import CacheError, open_cache
from tests.robustness._text_cache_helpers import filled_cache, one_line_error, run_cli

PAGE = 16384


def _damage(cache, first_page: int = 2) -> None:
    data = bytearray(cache.read_bytes())
    for start in range(first_page * PAGE, len(data), PAGE):
        data[start : start + 64] = b"\xa5" * 64
    cache.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "args",
    [
        ("stats",),
        ("stats", "--json"),
        ("show", "-d", "ntu120", "-c", "3"),
        ("export", "out.jsonl"),
        ("import", "texts.jsonl", "--label", "again"),
    ],
)
def test_damaged_cache_is_one_line_error_from_every_command(tmp_path, args):
    cache = filled_cache(tmp_path)
    _damage(cache)
    proc = run_cli(*args, "--cache", cache, cwd=tmp_path)
    assert "damaged" in one_line_error(proc)


def _set_recipe(cache, value: str) -> None:
    conn = sqlite3.connect(cache)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'key_recipe_version'", (value,))
    conn.close()


@pytest.mark.parametrize("readonly", [True, False])
def test_cache_of_another_key_recipe_is_refused(tmp_path, readonly):
    cache = filled_cache(tmp_path)
    _set_recipe(cache, "2")
    before = cache.read_bytes()
    with pytest.raises(CacheError, match="key recipe 2"):
        open_cache(cache, readonly=readonly)
    assert cache.read_bytes() == before


def test_key_recipe_refusal_is_one_line_from_the_cli(tmp_path):
    cache = filled_cache(tmp_path)
    _set_recipe(cache, "2")
    assert "key recipe 2" in one_line_error(run_cli("stats", "--cache", cache, cwd=tmp_path))
