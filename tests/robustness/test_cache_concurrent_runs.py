"""Issue 11 item 9: two `generate` runs on one cache split the work instead of paying twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.robustness._text_cache_helpers import query

CLASSES = [a for c in range(1, 11) for a in ("-c", str(c))]  # 10 classes → 20 requests


def _generate(srv: ScriptedServer, cache, cwd) -> subprocess.Popen[str]:
    # the mode named: `auto` would add a probe request per run to the counts below
    args = ["generate", "--llm", "scripted", "--base-url", srv.base_url, "--json-mode", "json_schema"]
    args += ["--cache", str(cache)]
    args += ["-d", "msr-action3d", *CLASSES, "--concurrency", "2", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "crossglg.text_cli", *args],
        cwd=cwd,
        env={**os.environ, "OPENAI_API_KEY": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_runs_send_each_request_once(tmp_path):
    cache = tmp_path / "cache.db"
    both_sending = threading.Event()

    def script(body, seen):
        # the first run keeps its 2 requests in flight until a third arrives: that one can only
        # come from the second run, which must therefore have found other work than the first's
        if srv.total >= 3:
            both_sending.set()
        return Reply(hold=both_sending, delay=0.1)

    with ScriptedServer(script) as srv:
        first = _generate(srv, cache, tmp_path)
        deadline = time.monotonic() + 60
        while srv.total == 0 and time.monotonic() < deadline:  # the first run is sending
            time.sleep(0.05)
        second = _generate(srv, cache, tmp_path)
        outs = [p.communicate(timeout=120) for p in (first, second)]
    for proc, (_, err) in zip((first, second), outs, strict=True):
        assert proc.returncode == 0 and "Traceback" not in err, err
    summaries = [json.loads(out) for out, _ in outs]
    assert srv.total == 20 and max(srv.counts.values()) == 1  # nobody paid twice
    assert sum(s["sent"] for s in summaries) == 20
    assert summaries[1]["sent"] > 0  # the second run took a share instead of waiting it all out
    assert summaries[0]["shared"] + summaries[1]["shared"] > 0
    for s in summaries:  # each run accounts for every request: its own, the other's, or cached
        assert s["sent"] + s["shared"] + s["cached"] == 20 and s["failed"] == 0
    assert query(cache, "SELECT count(*) FROM generations WHERE status = 'ok'") == [(20,)]
    assert query(cache, "SELECT count(*) FROM leases") == [(0,)]
    assert query(cache, "SELECT DISTINCT status FROM runs") == [("ok",)]
