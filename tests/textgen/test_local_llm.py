"""Real runs with the embedded SmolLM2-135M model: in-process llama.cpp, and llama.cpp's own server.

The model's text is poor by design (docs/TEXTGEN.md, "Answer quality: `degenerate` answers"); these tests assert plumbing, not prose:
the grammar-constrained answers parse, land in the cache with provenance, and a rerun is free.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossglg.cache import STATUSES, open_cache
from crossglg.prompts.quality import answer_quality, only_class_name
from tests.helpers import run_script

pytestmark = [pytest.mark.slow, pytest.mark.llm]
llama_cpp = pytest.importorskip("llama_cpp")


def _cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_script("crossglg-text", *args, cwd=cwd, env={"OMP_NUM_THREADS": "1"}, timeout=timeout)


@pytest.fixture
def one_class(tmp_path: Path) -> Path:
    path = tmp_path / "mine.txt"
    path.write_text("wave hand\n")
    return path


def test_embedded_model_generates_offline_and_reruns_free(tmp_path, one_class):
    proc = _cli(tmp_path, "generate", "--classes", str(one_class), "--max-tokens", "300", "--json")
    assert "not for research results" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["source"] == "llamacpp:SmolLM2-135M-Instruct.Q4_1"
    # the grammar makes every answer parse; whether it says anything is the model's business
    assert summary["sent"] == 2 and set(summary["statuses"]) <= {"ok", "degenerate"}
    assert summary["tokens"]["output"] > 0
    n_ok = summary["statuses"].get("ok", 0)
    assert proc.returncode == (0 if n_ok == 2 else 1)
    with open_cache(tmp_path / "cache.db", readonly=True) as cache:
        rows = cache.show("mine", 1)
    assert {r["slot"] for r in rows} <= {"", "head", "hand", "arm", "hip", "leg", "foot"}
    assert all(r["text"].strip() and r["mode"] == "offline" for r in rows)

    again = _cli(tmp_path, "generate", "--classes", str(one_class), "--max-tokens", "300", "--json")
    rerun = json.loads(again.stdout)
    assert rerun["cached"] == n_ok and rerun["sent"] == 2 - n_ok  # only what is not ok is asked again
    assert "not for research results" in again.stderr  # said on every run that uses it


def test_embedded_model_never_stores_a_degenerate_answer_as_ok(tmp_path):
    """Issue 13: SmolLM2 answered every part of "walk around" with "walk around", stored as ok."""
    classes = tmp_path / "mine.txt"
    classes.write_text("walk around\nhammer\n")
    proc = _cli(tmp_path, "generate", "--classes", str(classes), "--max-tokens", "300", "--json", timeout=900)
    summary = json.loads(proc.stdout)
    assert summary["sent"] == 4
    assert proc.returncode == (0 if summary["statuses"] == {"ok": 4} else 1)
    with open_cache(tmp_path / "cache.db", readonly=True) as cache:
        stored = cache.conn.execute(
            "SELECT g.status, g.parsed_json, r.schema_json, r.messages_json FROM generations g"
            " JOIN requests r USING (request_key)"
        ).fetchall()
        texts = {(c, r["slot"]): r["text"] for c in (1, 2) for r in cache.show("mine", c)}
    assert len(stored) == 4
    for status, parsed_json, schema_json, messages_json in stored:
        name = "walk around" if "walk around" in messages_json else "hammer"
        required = json.loads(schema_json)["required"]
        kind, slots = ("global", ()) if "description" in required else ("part", tuple(required))
        quality = answer_quality(kind, json.loads(parsed_json) if parsed_json else {}, slots, name)
        assert quality.ok == (status == "ok"), (status, quality.problems)
    # no piece in the text bank only repeats its class name
    for (class_id, _), text in texts.items():
        assert not only_class_name(text, "walk around" if class_id == 1 else "hammer"), text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """llama.cpp's own OpenAI server (``python -m llama_cpp.server``, the ``local`` extra)
    serving the embedded SmolLM2; yields its base URL."""
    pytest.importorskip("uvicorn")
    from crossglg.textgen.backends.llamacpp import embedded_model_path

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_model_path()),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("llama_cpp.server did not start")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # busy generating on a loaded machine
            server.kill()
            server.wait(timeout=30)


def test_llama_cpp_server_via_base_url(tmp_path, one_class, llama_server):
    proc = _cli(
        tmp_path,
        "generate",
        "--classes",
        str(one_class),
        "--llm",
        "smollm2",
        "--base-url",
        llama_server,
        "--json-mode",
        "json_object_schema",
        "--max-tokens",
        "200",
        "--json",
    )
    summary = json.loads(proc.stdout)
    assert summary["source"] == "server:smollm2" and summary["sent"] == 2
    # the server answered every request; a 135M model may still write unusable JSON,
    # which is then stored with its status instead of being accepted
    assert "failed" not in summary["statuses"]
    assert set(summary["statuses"]) <= set(STATUSES)
    assert summary["tokens"]["output"] > 0
    assert proc.returncode == (0 if summary["statuses"] == {"ok": 2} else 1)


def test_llama_cpp_server_with_default_json_mode_answers_every_request(tmp_path, llama_server):
    """Issue 20: with no --json-mode the server refused json_schema (HTTP 500) and all requests failed.

    Now auto mode asks it once, settles on JSON mode with a schema grammar, answers every
    request on the first attempt and remembers the choice.
    """
    classes = tmp_path / "mine.txt"
    classes.write_text("wave hand\nkick forward\n")
    # one request at a time, as the server answers them (a queue of 16 on a busy 2-core machine
    # outlasts the default --timeout): the test is about what is sent, not about load
    args = ("generate", "--classes", str(classes), "--llm", "smollm2", "--base-url", llama_server)
    args += ("--concurrency", "1", "--timeout", "600")
    proc = _cli(tmp_path, *args, "--max-tokens", "200", "--accept-degenerate", timeout=900)
    assert "json mode: json_object_schema, negotiated with" in proc.stderr, proc.stderr
    with open_cache(tmp_path / "cache.db", readonly=True) as cache:
        statuses = [r[0] for r in cache.conn.execute("SELECT status FROM generations")]
        attempts = cache.conn.execute("SELECT http_status, count(*) FROM attempts GROUP BY 1").fetchall()
        modes = {
            json.loads(r[0])["response_format"]
            for r in cache.conn.execute("SELECT params_json FROM requests")
        }
    assert len(statuses) == 4 and "failed" not in statuses  # every request answered
    assert [status for status, _ in attempts] == [200]  # no retry, no refusal (repair turns are 200s)
    assert modes == {"json_object_schema"}
    again = _cli(tmp_path, *args, "--max-tokens", "200", "--accept-degenerate", timeout=900)
    assert "json mode: json_object_schema, which" in again.stderr and "(remembered in" in again.stderr
