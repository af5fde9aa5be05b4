"""Issue 11 items 6 and 7: an API key echoed by a server is neither printed nor stored; with
OPENAI_BASE_URL set, answers are recorded as the server's, never as the hosted model's."""

from __future__ import annotations

import json

from crossglg.cache.sanitize import scrub_secrets
from crossglg.textgen.backends import make_backend
from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.robustness._text_cache_helpers import query, run_cli, run_generate

KEY = "sk-proj-Zx81TestKeyThatMustNeverBeStored0123456789"


def test_echoed_api_key_is_not_printed_or_stored(tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer(lambda body, seen: Reply(kind="echo_key")) as srv:
        proc = run_cli(
            "generate", "--llm", "scripted", "--base-url", srv.base_url, "-d", "msr-action3d", "-c", "1",
            "--cache", cache, cwd=tmp_path, env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "Incorrect API key provided: Bearer" in proc.stderr  # the error itself is still shown
    assert KEY not in proc.stdout + proc.stderr and KEY[:20] not in proc.stdout + proc.stderr
    dump = "\n".join("\n".join(map(str, row)) for row in query(cache, "SELECT * FROM attempts"))
    dump += json.dumps(query(cache, "SELECT * FROM runs"))
    assert "Incorrect API key provided" in dump
    assert KEY[:20] not in dump and "Zx81" not in dump


def test_secret_patterns_are_masked_without_a_configured_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    text = scrub_secrets("bad key sk-abcdef123456789 (header Authorization: Bearer tok_live_999999)")
    assert text == "bad key sk-*** (header Authorization: Bearer ***)"


def test_openai_base_url_in_the_environment_is_recorded_as_that_server(tmp_path, monkeypatch):
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "anything-local")
        summary = run_generate(cache, None, (1,), model="gpt-4o")
        assert srv.total == 2 and summary.sent == 2
    assert query(cache, "SELECT DISTINCT source FROM items") == [("server:gpt-4o",)]
    assert query(cache, "SELECT DISTINCT backend, model FROM requests") == [("server", "gpt-4o")]
    stored = {r[0] for r in query(cache, "SELECT request_key FROM requests")}
    # the same request planned for the hosted API has other keys: real GPT-4o answers never mix in
    monkeypatch.delenv("OPENAI_BASE_URL")
    from crossglg.textgen.plan import GenParams, build_plan, select_classes

    hosted = build_plan(select_classes("msr-action3d", class_ids=[1]), make_backend("gpt-4o"), GenParams(), 1)
    assert hosted.source == "openai:gpt-4o" and stored.isdisjoint(hosted.keys)


def test_environment_base_url_is_announced(tmp_path):
    proc = run_cli(
        "generate", "--llm", "gpt-4o", "-d", "utkinect", "--dry-run", "--cache", tmp_path / "c.db",
        cwd=tmp_path, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "OPENAI_BASE_URL=http://127.0.0.1:9/v1 is set" in proc.stderr
    assert proc.stdout.startswith("server:gpt-4o:")
