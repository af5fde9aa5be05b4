"""Real runs with the embedded SmolLM2-135M model: in-process llama.cpp, and llama.cpp's own server.

The model's text is poor by design (OFFLINE.md §3); these tests assert plumbing, not prose:
the grammar-constrained answers parse, land in the cache with provenance, and a rerun is free.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crossglg.cache import STATUSES, open_cache

pytestmark = [pytest.mark.slow, pytest.mark.llm]
llama_cpp = pytest.importorskip("llama_cpp")


def _cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "crossglg.textgen.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def one_class(tmp_path: Path) -> Path:
    path = tmp_path / "mine.txt"
    path.write_text("wave hand\n")
    return path


def test_embedded_model_generates_offline_and_reruns_free(tmp_path, one_class):
    proc = _cli(tmp_path, "generate", "--classes", str(one_class), "--max-tokens", "300", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not for research results" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["source"] == "llamacpp:SmolLM2-135M-Instruct.Q4_1"
    assert summary["sent"] == 2 and summary["statuses"] == {"ok": 2}
    assert summary["tokens"]["output"] > 0
    with open_cache(tmp_path / "cache.db", readonly=True) as cache:
        rows = cache.show("mine", 1)
    assert [r["slot"] for r in rows] == ["", "head", "hand", "arm", "hip", "leg", "foot"]
    assert all(r["text"].strip() and r["mode"] == "offline" for r in rows)
    assert rows[0]["key_body_parts"]

    again = _cli(tmp_path, "generate", "--classes", str(one_class), "--max-tokens", "300", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["sent"] == 0 and json.loads(again.stdout)["cached"] == 2
    assert "not for research results" in again.stderr  # said on every run that uses it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_llama_cpp_server_via_base_url(tmp_path, one_class):
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
        proc = _cli(
            tmp_path,
            "generate",
            "--classes",
            str(one_class),
            "--llm",
            "smollm2",
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--json-mode",
            "json_object_schema",
            "--max-tokens",
            "200",
            "--json",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = json.loads(proc.stdout)
    assert summary["source"] == "server:smollm2" and summary["sent"] == 2
    # the server answered every request; a 135M model may still write unusable JSON,
    # which is then stored with its status instead of being accepted
    assert "failed" not in summary["statuses"]
    assert set(summary["statuses"]) <= set(STATUSES)
    assert summary["tokens"]["output"] > 0
    assert proc.returncode == (0 if summary["statuses"] == {"ok": 2} else 1)
