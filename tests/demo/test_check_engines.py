"""bench/check_engines.py (`make check-engines`): its servers stop whatever ends the check, and its table.

The engines themselves need the engines venv and many minutes; these tests run the code path
that starts and stops servers on a stand-in server (a shell that starts Python's http.server as
its child, as vLLM's server starts its engine process) and check that Ctrl-C and SIGTERM leave
no process of the server's group behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.check_engines import Row, Run, format_table, free_port, last_json

REPO = Path(__file__).resolve().parents[2]

# The stand-in takes Ctrl-C as a terminal would deliver it: a process inherits an ignored SIGINT
# (a background job, or a test worker where something set SIG_IGN), and then Python never
# raises KeyboardInterrupt, which is not what this test is about.
STAND_IN = """
import signal, sys, time
from pathlib import Path
from bench.check_engines import served, stopping_children

signal.signal(signal.SIGINT, signal.default_int_handler)

port, log = int(sys.argv[1]), Path(sys.argv[2])
server = ["sh", "-c", f"{sys.executable} -m http.server {port} --bind 127.0.0.1 & wait"]
with stopping_children() as children:
    with served(children, server, f"http://127.0.0.1:{port}/", log, {}, 60) as seconds:
        print(children.procs[-1].pid, flush=True)
        time.sleep(120)
"""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_check_stops_its_server_and_the_server_children(tmp_path, sig):
    port = free_port()
    check = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, str(port), str(tmp_path / "server.log")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pgid = int(check.stdout.readline())  # printed once the server answered
        assert _group_alive(pgid)
        assert (
            len(subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split())
            == 2
        )
        check.send_signal(sig)
        _, err = check.communicate(timeout=60)
    finally:
        check.kill()
    assert "KeyboardInterrupt" in err  # the signal ended the check through its finally blocks
    deadline = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(pgid), "the stand-in server or its child outlived the check"


def test_a_server_that_dies_while_starting_is_reported_with_its_last_words(tmp_path):
    from bench.check_engines import served, stopping_children

    log = tmp_path / "server.log"
    dying = ["sh", "-c", "echo 'no such model: /nowhere' >&2; exit 3"]
    with (
        stopping_children() as children,
        pytest.raises(RuntimeError) as err,
        served(children, dying, f"http://127.0.0.1:{free_port()}/", log, {}, 60),
    ):
        pass
    assert str(err.value) == "server exited with 3 before it was ready: no such model: /nowhere"
    assert children.procs == []


def _run(seconds: float, planned: int, sent: int, cached: int, statuses: dict, tokens: int) -> Run:
    summary = {"planned": planned, "sent": sent, "cached": cached, "not_sent": 0, "statuses": statuses}
    return Run(seconds, {**summary, "tokens": {"output": tokens}, "elapsed_s": seconds - 4.2})


def test_the_table_counts_answers_and_what_a_rerun_took_from_the_cache():
    first = _run(84.2, 20, 20, 0, {"ok": 15, "truncated": 3, "invalid_json": 1, "degenerate": 1}, 4000)
    rerun = _run(9.2, 20, 5, 15, {"truncated": 3, "invalid_json": 1, "degenerate": 1}, 900)
    broken = Row("llama.cpp server", error="server exited with 1 before it was ready: boom")
    table = format_table([Row("vLLM server", 12.0, first, rerun), broken]).splitlines()
    assert table[0].startswith("| engine | ok | truncated | invalid | failed | seconds | output tokens/s |")
    assert table[2] == "| vLLM server | 15 | 3 | 2 | 0 | 84 | 50.0 | 12 | 15 | 5 | 9.2 |"
    assert table[3].startswith(
        "| llama.cpp server | failed: server exited with 1 before it was ready: boom |"
    )
    assert all(line.count("|") == table[0].count("|") for line in table)
    assert Row("vLLM server", 12.0, first, rerun).passed
    assert not broken.passed


@pytest.mark.parametrize(
    ("cached", "sent", "statuses"),
    [
        (14, 6, {"ok": 14, "truncated": 3}),  # an ok answer was sent again
        (15, 5, {"ok": 14, "failed": 1}),  # the rerun lost a request
    ],
)
def test_a_rerun_that_resends_an_ok_answer_or_fails_does_not_pass(cached, sent, statuses):
    first = _run(84.2, 20, 20, 0, {"ok": 15, "truncated": 5}, 4000)
    assert not Row("vLLM server", 12.0, first, _run(9.2, 20, sent, cached, statuses, 0)).passed


def test_the_summary_is_found_after_what_an_engine_printed_to_stdout():
    summary = {"planned": 20, "statuses": {"ok": 7}}
    noisy = b"INFO engine started\n{not json\n" + json.dumps(summary, indent=2).encode()
    assert last_json(noisy) == summary
    assert last_json(json.dumps(summary).encode()) == summary
    assert last_json(b"Traceback ...\nValueError: boom\n") is None


def test_the_summary_is_found_before_what_an_engine_prints_as_it_shuts_down():
    summary = {"planned": 20, "statuses": {"ok": 7}, "nested": {"a": [1, {"b": 2}]}}
    noisy = b"INFO engine started\n" + json.dumps(summary, indent=2).encode() + b"\nINFO shutting down {x}\n"
    assert last_json(noisy) == summary
