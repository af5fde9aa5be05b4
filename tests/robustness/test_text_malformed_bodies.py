"""Issue 11 item 3: a 200 reply that is no chat completion is retried, then stored as a failure;
it never ends the run with a traceback and never costs the other answers."""

from __future__ import annotations

import json

import pytest

from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.robustness._text_cache_helpers import FAST, query, run_generate

GLOBAL = json.dumps({"description": "Both hands rise above the head.", "key_body_parts": ["hand"]})

MALFORMED = {
    "html": Reply(kind="raw", body=b"<!DOCTYPE html><html><body>Gateway login</body></html>"),
    "not-utf8": Reply(kind="raw", body=b'{"choices": "\xff\xfe\xfa"}', content_type="application/json"),
    "not-json": Reply(kind="raw", body=b'{"choices": [', content_type="application/json"),
    "json-list": Reply(kind="raw", body=b"[1, 2]", content_type="application/json"),
    "no-choices": Reply(kind="no_choices"),
    "message-null": Reply(kind="message", message=None),
    "content-number": Reply(kind="message", message={"role": "assistant", "content": 42}),
}


@pytest.mark.parametrize("mode", sorted(MALFORMED))
def test_malformed_body_then_good_one_is_stored_ok(tmp_path, mode):
    cache = tmp_path / "cache.db"

    def script(body, seen):
        return MALFORMED[mode] if seen == 0 else Reply()

    with ScriptedServer(script) as srv:
        summary = run_generate(cache, srv.base_url, (1, 2))
    assert summary.failed == 0 and summary.sent == 4
    assert srv.total == 8  # every request: one malformed reply, then one retry
    assert query(cache, "SELECT status, count(*) FROM generations GROUP BY status") == [("ok", 4)]
    errors = query(cache, "SELECT error_type, error_message FROM attempts WHERE error_type IS NOT NULL")
    assert len(errors) == 4 and {e[0] for e in errors} == {"MalformedResponse"}


@pytest.mark.parametrize("mode", sorted(MALFORMED))
def test_always_malformed_request_is_a_stored_failure_and_the_rest_are_kept(tmp_path, mode):
    cache = tmp_path / "cache.db"
    bad = {}

    def script(body, seen):
        ident = json.dumps(body.get("messages"))
        bad.setdefault("ident", ident)  # the first request to arrive is broken for good
        return MALFORMED[mode] if ident == bad["ident"] else Reply()

    with ScriptedServer(script) as srv:
        summary = run_generate(cache, srv.base_url, (1, 2, 3))
    assert summary.sent == 6 and summary.failed == 1
    assert query(cache, "SELECT status, count(*) FROM generations GROUP BY status") == [
        ("failed", 1),
        ("ok", 5),
    ]
    assert srv.total == 5 + FAST.max_attempts


def test_list_content_parts_are_joined_into_the_answer(tmp_path):
    cache = tmp_path / "cache.db"
    half = len(GLOBAL) // 2
    parts = [{"type": "text", "text": GLOBAL[:half]}, {"type": "text", "text": GLOBAL[half:]}]

    def script(body, seen):
        if "key_body_parts" in json.dumps(body.get("response_format")):
            return Reply(kind="message", message={"role": "assistant", "content": parts})
        return Reply()

    with ScriptedServer(script) as srv:
        summary = run_generate(cache, srv.base_url, (1,))
    assert summary.failed == 0
    texts = query(cache, "SELECT t.text FROM items i JOIN texts t USING (text_id) WHERE i.kind = 'global'")
    assert texts == [("Both hands rise above the head.",)]
