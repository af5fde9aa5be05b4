"""Every command and Python snippet shown in docs/CACHE.md runs against a real cache file."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crossglg.cache import SCHEMA_VERSION, AttemptRow, BatchWriter, GenerationRow, open_cache, utc_now
from tests.helpers import console_commands, fenced_blocks

from .conftest import SOURCE, add_request, global_item, ok_global

DOC = Path(__file__).resolve().parents[2] / "docs" / "CACHE.md"
BIN = Path(sys.executable).parent


def _blocks(lang: str) -> list[str]:
    return fenced_blocks(DOC.read_text(encoding="utf-8"), lang)


def _commands() -> list[str]:
    return console_commands(DOC.read_text(encoding="utf-8"))


@pytest.fixture
def doc_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    with open_cache("cache.db") as cache:
        run = cache.start_run("generate", {"dataset": "ntu120"})
        key = add_request(cache, "drink water")
        refused = add_request(cache, "eat meal/snack", source="openai:gpt-4o")
        with BatchWriter(cache) as w:
            w.add_generation(
                ok_global(key, "Lifts a cup to the mouth."),
                [global_item("ntu120", 1, "drink water", "Lifts a cup to the mouth.")],
            )
            w.add_generation(GenerationRow(refused, "refused", raw_text="I cannot help with that."))
            w.add_attempt(
                AttemptRow(refused, run, 1, utc_now(), 5.0, 429, "RateLimitError", "slow down", 2.0)
            )
        cache.finish_run(run, "ok")
    return tmp_path / "cache.db"


def test_doc_shows_commands():
    tools = {shlex.split(c)[0] for c in _commands()}
    assert tools == {"sqlite-utils", "sqlite3"}
    assert len(_blocks("python")) == 2


@pytest.mark.parametrize("command", _commands())
def test_doc_command_runs(doc_cache, command):
    argv = shlex.split(command)
    if argv[0] == "sqlite3" and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed here")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if "tables" in argv:
        assert re.search(r"items\s+1", out) and re.search(r"embeddings\s+0", out)
    elif "from items" in command:
        assert "Lifts a cup to the mouth." in out and SOURCE in out
    elif "group by g.status" in command:
        assert re.search(r"ok\s+1", out) and re.search(r"refused\s+1", out)
    elif "from attempts" in command:
        assert "RateLimitError" in out and "slow down" in out
    elif "from meta" in command:
        assert "crossglg-cache" in out and f"schema_version|{SCHEMA_VERSION}" in out
    elif "from runs" in command:
        assert "generate" in out and "n_cache_hits" in out
    else:
        pytest.fail(f"no expectation written for: {command}")


def test_doc_python_snippets_run(doc_cache):
    read, forget = _blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(read, {})
    assert "{'ok': 1, 'refused': 1}" in out.getvalue()
    assert f"['{SOURCE}']" in out.getvalue() and "Lifts a cup to the mouth." in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(forget, {})
    assert out.getvalue() == "1 would go\n1 answers forgotten\n"
    with open_cache(doc_cache, readonly=True) as cache:
        assert cache.stats()["generations"] == {"ok": 1}
