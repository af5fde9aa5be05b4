"""A run killed with kill -9 is marked "interrupted" when the next run starts, and its leases
stop holding back the requests it had claimed."""

from __future__ import annotations

import signal
import subprocess
import sys

from crossglg.cache import open_cache
from tests.robustness._text_cache_helpers import filled_cache, query, run_generate

KILLED_RUN = """
import os, signal, sys
from crossglg.cache import leases, open_cache
cache = open_cache(sys.argv[1])
run_id = cache.start_run("generate", {})
leases.claim(cache, sys.argv[2], run_id)
print(run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_run(cache, key: str = "k" * 64) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(cache), key], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout.strip()


def test_killed_run_is_marked_interrupted_by_the_next_run(tmp_path):
    cache = filled_cache(tmp_path)
    dead = _killed_run(cache)
    assert query(cache, "SELECT status FROM runs WHERE run_id = ?", dead) == [("running",)]
    with open_cache(cache) as store, store.run("import", {}):
        assert store.stale_runs == [dead]
    assert query(cache, "SELECT status, finished_at IS NOT NULL FROM runs WHERE run_id = ?", dead) == [
        ("interrupted", 1)
    ]
    assert query(cache, "SELECT count(*) FROM leases") == [(0,)]
    assert query(cache, "SELECT count(*) FROM run_owners") == [(0,)]


def test_a_live_run_is_not_marked(tmp_path):
    cache = filled_cache(tmp_path)
    with open_cache(cache) as mine:
        live = mine.start_run("generate", {})
        with open_cache(cache) as other, other.run("import", {}):
            assert other.stale_runs == []
        assert query(cache, "SELECT status FROM runs WHERE run_id = ?", live) == [("running",)]
        mine.finish_run(live, "ok")


def test_a_silent_run_from_another_host_goes_stale_after_its_heartbeat_lapses(tmp_path):
    cache = filled_cache(tmp_path)
    with open_cache(cache) as store:
        old = store.start_run("generate", {})
        with store.write():
            store.conn.execute(
                "UPDATE run_owners SET host = 'elsewhere', heartbeat_at = '2000-01-01T00:00:00.000Z'"
            )
        fresh = store.start_run("generate", {})
        assert store.stale_runs == [old]
        store.finish_run(fresh, "ok")


def test_request_leased_by_a_killed_run_is_sent_by_the_next(tmp_path):
    from crossglg.textgen.testing_server import ScriptedServer

    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        run_generate(cache, srv.base_url, (1,))
        key = query(cache, "SELECT request_key FROM requests LIMIT 1")[0][0]
        with open_cache(cache) as store:
            store.invalidate(status="ok")
        _killed_run(cache, key)
        summary = run_generate(cache, srv.base_url, (1,))
    assert summary.sent == 2 and summary.failed == 0
    assert query(cache, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
