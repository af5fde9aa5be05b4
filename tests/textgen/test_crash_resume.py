"""A run killed with SIGKILL mid-way, then rerun; and several processes writing one cache at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crossglg.textgen.testing_server import Reply, ScriptedServer

ANSWERED = 6


def _cli(base_url: str, cache: Path, *args: str) -> list[str]:
    """`--json-mode json_schema`: with auto, each process would first ask the server which form it
    takes (docs/TEXTGEN.md, "Structured output, negotiated"), one request more than the plan."""
    return [
        sys.executable,
        "-m",
        "crossglg.text_cli",
        "generate",
        "--llm",
        "scripted",
        "--base-url",
        base_url,
        "--cache",
        str(cache),
        "-d",
        "msr-action3d",
        "--json-mode",
        "json_schema",
        *args,
    ]


def _ok_count(cache: Path) -> int:
    if not cache.exists():
        return 0
    conn = sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM generations WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        conn.close()


@pytest.mark.slow
def test_sigkill_midway_then_rerun_loses_nothing_and_resends_nothing(tmp_path):
    cache = tmp_path / "cache.db"
    lock = threading.Lock()
    answered: set[str] = set()

    def first_run(body, seen):
        from crossglg.textgen.testing_server import request_identity

        with lock:
            if len(answered) < ANSWERED:
                answered.add(request_identity(body))
                return Reply()
        return Reply(delay=30.0)  # the rest hang until the process is killed

    classes = [a for c in range(1, 6) for a in ("-c", str(c))]  # 5 classes → 10 requests
    with ScriptedServer(first_run) as srv1:
        proc = subprocess.Popen(
            _cli(srv1.base_url, cache, "--concurrency", "2", *classes),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while _ok_count(cache) < ANSWERED and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert _ok_count(cache) == ANSWERED, proc.stderr.read() if proc.poll() is not None else "timeout"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        hung = {ident for ident in srv1.counts if ident not in answered}
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= len(hung) <= 2  # only what was in flight (concurrency 2)

    with ScriptedServer() as srv2:
        rerun = subprocess.run(
            _cli(srv2.base_url, cache, *classes), capture_output=True, text=True, timeout=60
        )
    assert rerun.returncode == 0, rerun.stderr
    assert "sent 4, cached 6, failed 0" in rerun.stdout
    # nothing answered in the killed run was asked again; everything ends up cached
    assert not answered & set(srv2.counts)
    assert all(srv1.counts[i] == 1 for i in answered)
    assert set(srv2.counts.values()) == {1} and srv2.total == 10 - ANSWERED
    assert _ok_count(cache) == 10


@pytest.mark.slow
def test_four_processes_generate_into_one_cache(tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer(lambda body, seen: Reply(delay=0.01)) as srv:
        procs = [
            subprocess.Popen(
                _cli(srv.base_url, cache, *[a for c in range(k, 21, 4) for a in ("-c", str(c))]),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(1, 5)
        ]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err
        assert "locked" not in err.lower()
        assert "sent 10, cached 0, failed 0" in out
    assert srv.total == 40 and _ok_count(cache) == 40
