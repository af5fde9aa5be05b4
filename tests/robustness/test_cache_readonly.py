"""A read-only cache or folder: read commands work (also where SQLite cannot create its -shm
file), write commands refuse in one line; nothing is changed."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.helpers import read_only
from tests.robustness._text_cache_helpers import filled_cache, one_line_error, run_cli


@pytest.fixture
def readonly_folder(tmp_path):
    """A folder holding a cache, made read-only (tests/helpers.py, ``read_only``)."""
    src = tmp_path / "src"
    src.mkdir()
    filled_cache(src)
    for leftover in src.glob("texts.jsonl"):
        shutil.copy(leftover, tmp_path / leftover.name)
    with read_only(src) as view:
        yield view


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "args",
    [("stats",), ("stats", "--json"), ("show", "-d", "ntu120", "-c", "2"), ("export", "-")],
)
def test_read_commands_work_in_a_read_only_folder(readonly_folder, tmp_path, args):
    before = _digest(readonly_folder)
    proc = run_cli(*args, "--cache", readonly_folder / "cache.db", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "ntu120" in proc.stdout
    assert _digest(readonly_folder) == before


@pytest.mark.parametrize(
    "args",
    [
        ("import", "texts.jsonl", "--label", "more"),
        ("invalidate", "--status", "ok"),
        ("generate", "--llm", "scripted", "--base-url", "http://127.0.0.1:9/v1", "-d", "utkinect", "-c", "1"),
        ("embed",),
    ],
)
def test_write_commands_refuse_a_read_only_cache_in_one_line(readonly_folder, tmp_path, args):
    before = _digest(readonly_folder)
    proc = run_cli(*args, "--cache", readonly_folder / "cache.db", cwd=tmp_path)
    assert "read-only" in one_line_error(proc)
    assert _digest(readonly_folder) == before
