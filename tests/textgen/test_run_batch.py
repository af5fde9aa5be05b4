"""`generate --batch-file` for `vllm run-batch`, and `batch import` of its output file.

The output file is written by hand in vLLM's real format (vllm/entrypoints/openai/run_batch.py:
``BatchRequestOutput`` lines ``{"id": "vllm-…", "custom_id", "response": {"status_code",
"request_id": "vllm-batch-…", "body": ChatCompletionResponse}, "error"}``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from .conftest import invoke, run_cli

MODEL = "Qwen/Qwen2.5-7B-Instruct"
GLOBAL = {
    "description": "The right arm rises high above the head and the hand waves from side to side.",
    "key_body_parts": ["right arm", "right hand"],
}
LOCAL = {
    "head": "The head stays upright and faces forward while the arm waves.",
    "hand": "The right hand opens and sways from side to side above the head.",
    "arm": "The right arm lifts straight up until the elbow is above the shoulder.",
    "hip": "The hips stay level and still under the upper body.",
    "leg": "Both legs stay straight and carry the weight evenly.",
    "foot": "Both feet stay flat on the floor, shoulder width apart.",
}


def _vllm_line(n: int, custom_id: str, content: str, finish: str = "stop") -> str:
    body = {
        "id": f"chatcmpl-{n:032x}",
        "object": "chat.completion",
        "created": 1767225600,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": None,
                    "content": content,
                    "tool_calls": [],
                },
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": None,
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "total_tokens": 180,
            "completion_tokens": 60,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }
    return json.dumps(
        {
            "id": f"vllm-{n:032x}",
            "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"vllm-batch-{n:032x}", "body": body},
            "error": None,
        }
    )


def _export(tmp_path: Path, cache: Path, *classes: str) -> list[dict]:
    requests = tmp_path / "requests.jsonl"
    code, out = invoke(
        "generate", "--backend", "vllm", "--llm", MODEL, "-d", "msr-action3d", *classes,
        "--batch-file", requests, "--cache", cache,
    )  # fmt: skip
    assert code == 0, out
    assert f"vllm run-batch -i {requests}" in out
    return [json.loads(line) for line in requests.read_text().splitlines()]


def test_export_writes_one_openai_style_line_per_request_keyed_by_the_cache_key(tmp_path):
    cache = tmp_path / "cache.db"
    lines = _export(tmp_path, cache, "-c", "1")  # vllm is not installed here: exporting needs none
    conn = sqlite3.connect(cache)
    keys = {k for (k,) in conn.execute("SELECT request_key FROM requests WHERE backend = 'vllm'")}
    conn.close()
    assert {line["custom_id"] for line in lines} == keys and len(lines) == 2
    for line in lines:
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        body = line["body"]
        assert body["model"] == MODEL and body["max_tokens"] == 800 and body["temperature"] == 0.2
        assert body["response_format"]["type"] == "json_schema" and isinstance(body["seed"], int)
        assert body["messages"][0]["role"] == "system"
    # exporting again re-exports what is still unanswered (a file is not a paid submission)
    assert len(_export(tmp_path, cache, "-c", "1")) == 2


def test_import_validates_stores_and_skips_what_is_not_owed(tmp_path):
    cache = tmp_path / "cache.db"
    lines = _export(tmp_path, cache, "-c", "1", "-c", "2")
    by_kind = {}
    for line in lines:
        kind = "local" if "head" in json.dumps(line["body"]["response_format"]) else "global"
        name = "high" if "high arm wave" in json.dumps(line["body"]["messages"]) else "horizontal"
        by_kind[(name, kind)] = line["custom_id"]
    output = tmp_path / "results.jsonl"
    output.write_text(
        "\n".join(
            [
                _vllm_line(1, by_kind[("high", "global")], json.dumps(GLOBAL)),
                _vllm_line(2, by_kind[("high", "local")], json.dumps(LOCAL)),
                _vllm_line(3, by_kind[("horizontal", "global")], json.dumps(GLOBAL)[:40], finish="length"),
                json.dumps(
                    {
                        "id": "vllm-e",
                        "custom_id": by_kind[("horizontal", "local")],
                        "response": {"status_code": 400, "request_id": "vllm-batch-e", "body": None},
                        "error": "The prompt is too long for max_model_len",
                    }
                ),
                _vllm_line(5, "not-a-key-of-this-cache", json.dumps(GLOBAL)),
            ]
        )
        + "\n"
    )
    code, out = invoke("batch", "import", output, "--cache", cache)
    assert code == 0, out
    assert "5 answers, stored 4 (failed 1, ok 2, truncated 1)" in out and "1 not owed" in out
    conn = sqlite3.connect(cache)
    statuses = dict(
        conn.execute(
            "SELECT r.request_key, g.status || '/' || g.mode FROM generations g JOIN requests r USING (request_key)"
        ).fetchall()
    )
    assert statuses[by_kind[("high", "global")]] == "ok/batch"
    assert statuses[by_kind[("horizontal", "global")]] == "truncated/batch"  # no repair turn: stored as is
    assert statuses[by_kind[("horizontal", "local")]] == "failed/batch"
    texts = conn.execute(
        "SELECT t.text FROM items i JOIN texts t USING (text_id) WHERE i.source = ? AND i.class_id = 1 AND i.slot = 'arm'",
        (f"vllm:{MODEL}",),
    ).fetchall()
    assert texts == [(LOCAL["arm"],)]
    (error,) = conn.execute("SELECT error_message FROM attempts WHERE http_status = 400").fetchone()
    assert "max_model_len" in error
    cost = conn.execute("SELECT DISTINCT cost_usd FROM generations WHERE status = 'ok'").fetchall()
    assert cost == [(0.0,)]  # runs on the user's machine: no API money
    conn.close()
    # importing the same file again stores nothing twice
    code, out = invoke("batch", "import", output, "--cache", cache)
    assert code == 0 and "stored 0" in out and "5 not owed" in out
    # what failed is exported again for the next run-batch, what is ok is not
    again = _export(tmp_path, cache, "-c", "1", "-c", "2")
    assert {line["custom_id"] for line in again} == {
        by_kind[("horizontal", "global")],
        by_kind[("horizontal", "local")],
    }


def test_a_bad_output_file_is_refused_in_one_line_and_the_cache_is_untouched(tmp_path):
    cache = tmp_path / "cache.db"
    _export(tmp_path, cache, "-c", "1")
    before = hashlib.sha256(cache.read_bytes()).hexdigest()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "x", "response": null, "error": "e"}\nnot json\n')
    proc = run_cli("batch", "import", bad, "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 2 and f"{bad}: line 2: not JSON" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = run_cli("batch", "import", tmp_path / "missing.jsonl", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    assert hashlib.sha256(cache.read_bytes()).hexdigest() == before
    proc = run_cli(
        "generate",
        "-d",
        "msr-action3d",
        "-c",
        "1",
        "--batch-file",
        tmp_path / "x.jsonl",
        "--cache",
        cache,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "--batch-file writes a `vllm run-batch` file" in proc.stderr
