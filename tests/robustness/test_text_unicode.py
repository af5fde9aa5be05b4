"""Issue 11 item 2: one lone surrogate in one answer must not lose the batch it is committed with;
`import` must not traceback on one either."""

from __future__ import annotations

import json
import threading

import pytest

from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.robustness._text_cache_helpers import query, run_cli, run_generate, write_import

BAD_GLOBAL = {"description": "Raise the hand \ud800 and wave.", "key_body_parts": ["hand"]}


def _first_global_gets(content: str):
    lock, sent = threading.Lock(), []

    def script(body, seen):
        is_global = "key_body_parts" in json.dumps(body.get("response_format"))
        with lock:
            if is_global and not sent:
                sent.append(1)
                return Reply(kind="text", content=content)
        return Reply()

    return script


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(BAD_GLOBAL, ensure_ascii=False),  # the surrogate itself, \\ud800-escaped on the wire
        json.dumps(BAD_GLOBAL),  # the answer's own JSON escapes it: parsing makes the surrogate
    ],
    ids=["in-text", "json-escape"],
)
def test_lone_surrogate_keeps_the_whole_batch(tmp_path, content):
    cache = tmp_path / "cache.db"
    classes = (1, 2, 3, 4, 5)
    with ScriptedServer(_first_global_gets(content)) as srv:
        summary = run_generate(cache, srv.base_url, classes)
    assert srv.total == 10 and summary.sent == 10
    assert query(cache, "SELECT count(*) FROM generations")[0][0] == 10
    texts = [
        r[0]
        for r in query(cache, "SELECT t.text FROM items i JOIN texts t USING (text_id) WHERE kind = 'global'")
    ]
    assert len(texts) == 5
    assert any("\ufffd" in t for t in texts)
    with ScriptedServer() as again:  # nothing to resend
        run_generate(cache, again.base_url, classes)
    assert again.total == 0


def test_import_with_a_lone_surrogate_stores_it_repaired(tmp_path):
    src = tmp_path / "texts.jsonl"
    src.write_text('{"dataset": "ntu120", "class_id": 1, "text": "wave \\ud800 hands"}\n', encoding="utf-8")
    cache = tmp_path / "cache.db"
    proc = run_cli("import", src, "--label", "hand", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert query(cache, "SELECT text FROM texts") == [("wave \ufffd hands",)]


def test_surrogate_pair_written_as_two_escapes_is_one_character(tmp_path):
    src = write_import(tmp_path / "t.jsonl", [{"dataset": "ntu120", "class_id": 1, "text": "ok \U0001f44b"}])
    cache = tmp_path / "cache.db"
    assert run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path).returncode == 0
    assert query(cache, "SELECT text FROM texts") == [("ok \U0001f44b",)]
