"""The OpenAI Batch API against the scripted server: kills at every step, validation, repairs.

The kill test runs the real CLI in a subprocess and makes it die (``os._exit(137)``, as a
SIGKILL would leave it) right after each step through crossglg.textgen.batch's test hook,
then reruns the same command: zero duplicate uploads or submissions, every answer stored.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crossglg.textgen.batch import DIE_AT_ENV
from crossglg.textgen.testing_server import Reply, ScriptedServer

from .conftest import invoke, run_cli

CLASSES = ("-c", "1", "-c", "2")  # msr-action3d: 2 classes → 4 requests (global + local)


def _generate(srv: ScriptedServer, cache: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--llm",
        "scripted",
        "--base-url",
        srv.base_url,
        "--cache",
        cache,
        "-d",
        "msr-action3d",
        *CLASSES,
        *extra,
    ]


def _collect(srv: ScriptedServer, cache: Path, *extra: str) -> list[str]:
    return ["batch", "collect", "--base-url", srv.base_url, "--cache", cache, *extra]


def _rows(cache: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


SUBMIT_STEPS = ("intent", "written", "uploading", "uploaded", "creating", "created")


@pytest.mark.slow
@pytest.mark.parametrize("step", [*SUBMIT_STEPS, "downloaded"])
def test_a_kill_at_any_step_loses_nothing_and_never_submits_twice(tmp_path, step):
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        die = {DIE_AT_ENV: step}
        first = run_cli(
            *_generate(srv, cache, "--batch"), cwd=tmp_path, env=die if step in SUBMIT_STEPS else None
        )
        if step in SUBMIT_STEPS:
            assert first.returncode == 137, first.stderr
            again = run_cli(*_generate(srv, cache, "--batch"), cwd=tmp_path)
            assert again.returncode == 0, again.stderr
            assert "0 batched" in again.stdout and "finished submitting" in again.stdout
        else:
            assert first.returncode == 0, first.stderr
            killed = run_cli(*_collect(srv, cache), cwd=tmp_path, env=die)
            assert killed.returncode == 137, killed.stderr
        collected = run_cli(*_collect(srv, cache), cwd=tmp_path)
        assert collected.returncode == 0, collected.stderr
        assert "stored ok 4" in collected.stdout
        assert srv.uploads == 1 and srv.batch_creates == 1  # zero duplicate submissions
        assert len(srv.counts) == 4 and set(srv.counts.values()) == {1}  # the model was asked once each
        submitted = [
            json.loads(line)["custom_id"] for line in srv.files["file-000001"]["data"].decode().splitlines()
        ]
        assert sorted(submitted) == sorted(k for (k,) in _rows(cache, "SELECT request_key FROM requests"))
    # zero lost answers: every request ok, every slot in the text bank, the batch closed
    assert _rows(cache, "SELECT status, mode, count(*) FROM generations GROUP BY 1, 2") == [
        ("ok", "batch", 4)
    ]
    assert _rows(cache, "SELECT count(*) FROM items") == [(14,)]  # 2 × (1 global + 6 parts)
    assert _rows(cache, "SELECT state, count(*) FROM batches GROUP BY 1") == [("closed", 1)]
    # and a rerun of generate sends nothing
    rerun = run_cli(*_generate(srv, cache), cwd=tmp_path)
    assert rerun.returncode == 0 and "sent 0, cached 4" in rerun.stdout


def test_batch_answers_are_validated_and_repaired_live_and_errors_stored_as_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    cache = tmp_path / "cache.db"

    def script(body, seen):
        kind = "local" if '"head"' in json.dumps(body.get("response_format")) else "global"
        name = "high arm wave" if "high arm wave" in json.dumps(body["messages"]) else "other"
        if name == "high arm wave" and kind == "local" and len(body["messages"]) == 2:
            return Reply(kind="truncated")  # the batch answer: cut off, so a repair turn goes live
        if name == "other" and kind == "global":
            return Reply(kind="status", status=500)  # a batch error line
        return Reply()

    with ScriptedServer(script) as srv:
        code, out = invoke(*_generate(srv, cache, "--batch"))
        assert code == 0 and "4 batched" in out
        code, out = invoke(*_collect(srv, cache))
        assert code == 1  # one request failed in the batch
        assert "stored failed 1, ok 3" in out
        live = [b for b in srv.bodies if len(b["messages"]) > 2]
        assert len(live) == 1  # exactly one repair turn, sent live
        assert "not usable" in live[0]["messages"][-1]["content"]
    statuses = dict(
        _rows(
            cache,
            "SELECT g.status, count(*) FROM generations g GROUP BY g.status",
        )
    )
    assert statuses == {"ok": 3, "failed": 1}
    attempts = _rows(
        cache, "SELECT batch_id IS NOT NULL, http_status, error_type FROM attempts ORDER BY attempt_id"
    )
    assert sorted(attempts, key=str) == sorted(
        [(1, 200, None), (1, 200, None), (1, 200, None), (1, 500, "BatchError"), (0, 200, None)], key=str
    )
    # the failed request is free again: a live generate sends it (and nothing else)
    with ScriptedServer() as srv2:
        code, out = invoke(*_generate(srv2, cache))
        assert code == 0 and "sent 1, cached 3" in out


def test_a_live_run_leaves_requests_owed_by_a_submitted_batch_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        srv.batches_ready = False
        assert invoke(*_generate(srv, cache, "--batch"))[0] == 0
        code, out = invoke(*_generate(srv, cache, "--dry-run", "--json"))
        report = json.loads(out)
        assert (report["to_send"], report["in_batch"]) == (0, 4)
        code, out = invoke(*_generate(srv, cache))
        assert code == 0 and "sent 0" in out and "in a submitted batch 4" in out
        code, out = invoke(*_generate(srv, cache, "--batch"))
        assert code == 0 and "0 batched, 4 already in a submitted batch" in out
        code, out = invoke(*_collect(srv, cache))
        assert code == 0 and "in_progress" in out and "collect again later" in out
        code, out = invoke("batch", "status", "--base-url", srv.base_url, "--cache", cache, "--json")
        (row,) = json.loads(out)
        assert (
            row["state"] == "submitted" and row["pending"] == 4 and row["remote"]["status"] == "in_progress"
        )
        srv.batches_ready = True
        code, out = invoke(*_collect(srv, cache))
        assert code == 0 and "stored ok 4" in out
        assert srv.batch_creates == 1 and set(srv.counts.values()) == {1}
        code, out = invoke(*_collect(srv, cache))
        assert "no open batches" in out


def test_batch_refuses_local_backends_and_missing_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cache = tmp_path / "cache.db"
    proc = run_cli(
        "generate",
        "--llm",
        "gpt-4o",
        "-d",
        "msr-action3d",
        "-c",
        "1",
        "--batch",
        "--cache",
        cache,
        cwd=tmp_path,
    )
    assert (
        proc.returncode == 2 and "OPENAI_API_KEY is not set" in proc.stderr and "Traceback" not in proc.stderr
    )
    assert not cache.exists()
    proc = run_cli("generate", "-d", "msr-action3d", "-c", "1", "--batch", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 2 and "--batch sends to the OpenAI Batch API" in proc.stderr


def test_a_run_larger_than_one_batch_allows_becomes_several_batches(tmp_path, monkeypatch):
    from crossglg.textgen import batch

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setattr(batch, "MAX_REQUESTS", 3)  # OpenAI's 50,000, scaled down
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        code, out = invoke(*_generate(srv, cache, "--batch", "--json"))
        report = json.loads(out)
        assert code == 0 and report["batched"] == 4 and len(report["batch_ids"]) == 2
        assert srv.batch_creates == 2 and srv.uploads == 2
        code, out = invoke(*_collect(srv, cache))
        assert code == 0 and "stored ok 3" in out and "stored ok 1" in out
        assert set(srv.counts.values()) == {1} and len(srv.counts) == 4
