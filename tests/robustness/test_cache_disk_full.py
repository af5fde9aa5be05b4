"""Issue 11 item 10: a full disk. Answers received stay in memory and are stored once space
is back; when it does not come back the error says so in one line; the run row is closed
(or marked by the next run); a cache that cannot be created leaves no empty file behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossglg.textgen.testing_server import Reply, ScriptedServer, _answer_for
from tests.helpers import limit_file_size
from tests.robustness._text_cache_helpers import one_line_error, query, run_cli, run_generate

CLASSES = [a for c in range(1, 21) for a in ("-c", str(c))]  # 20 classes → 40 requests


def _generate_args(srv: ScriptedServer, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "crossglg.text_cli", "generate", "--llm", "scripted",
        "--base-url", srv.base_url, "--cache", str(cache), "-d", "msr-action3d", *CLASSES,
        "--concurrency", "2", "--json-mode", "json_schema", *extra,  # named: no probe in the counts
    ]  # fmt: skip


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only: mounting needs it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the RLIMIT_FSIZE test covers this case")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr!r}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """Take all free space of ``disk`` but ``leave`` bytes."""
    st = os.statvfs(disk)
    filler = disk / "filler.bin"
    with filler.open("wb") as fh:
        todo = st.f_bavail * st.f_frsize - leave
        block = b"\0" * (1 << 16)
        while todo > 0:
            try:
                fh.write(block[: min(len(block), todo)])
                fh.flush()
            except OSError:
                break
            todo -= len(block)
    return filler


def test_answers_received_on_a_full_disk_are_stored_when_space_comes_back(small_disk, tmp_path):
    cache = small_disk / "cache.db"
    with ScriptedServer(lambda body, seen: Reply(kind="status", status=400)) as refusing:
        # every request planned and refused once: the file holds the requests, no answers
        subprocess.run(_generate_args(refusing, cache), cwd=tmp_path, capture_output=True, check=False)
    assert query(cache, "SELECT count(*) FROM generations WHERE status = 'failed'") == [(40,)]
    filler = _fill(small_disk, leave=192 * 1024)  # room for a few answers, not for 40 long ones
    with ScriptedServer(lambda body, seen: Reply(kind="text", content=_long_answer(body))) as srv:
        proc = subprocess.Popen(
            _generate_args(srv, cache, "--disk-full-wait", "60"),
            cwd=tmp_path,
            env={**os.environ, "OPENAI_API_KEY": ""},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        while "held in memory" not in seen:
            line = proc.stderr.readline()
            assert line, f"the run ended without hitting the full disk: {seen}"
            seen += line
        filler.unlink()  # space is back
        _, err = proc.communicate(timeout=120)
        answered = srv.total
    assert "Traceback" not in seen + err, seen + err
    assert proc.returncode == 1  # requests were held back: a rerun has work left
    # every answer the server gave is stored: none was lost to the full disk
    assert query(cache, "SELECT count(*) FROM generations WHERE status = 'ok'") == [(answered,)]
    assert query(cache, "SELECT status FROM runs ORDER BY run_id") == [("failed",), ("failed",)]
    with ScriptedServer() as again:
        proc = subprocess.run(_generate_args(again, cache), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert again.total == 40 - answered and max(again.counts.values()) == 1


def _long_answer(body) -> str:
    """A schema-shaped answer with ~6 KB of text, so that each one needs pages of its own."""
    answer = json.loads(_answer_for(body))
    for key, value in answer.items():
        if isinstance(value, str):
            answer[key] = (value + " ") * 60
    return json.dumps(answer)


def test_a_cache_that_cannot_be_created_leaves_no_empty_file(small_disk, tmp_path):
    _fill(small_disk, leave=0)
    cache = small_disk / "new.db"
    src = tmp_path / "t.jsonl"
    src.write_text('{"dataset": "ntu120", "class_id": 1, "text": "wave"}\n')
    proc = run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path)
    assert "cannot write" in one_line_error(proc)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler.bin"]


def test_file_size_limit_mid_run_is_one_line_and_loses_nothing_committed(tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        run_generate(cache, srv.base_url, (1,))
        limit = cache.stat().st_size + 160 * 1024  # room for a few commits in the WAL, not for 40 answers
        proc = subprocess.run(
            _generate_args(srv, cache, "--disk-full-wait", "0.5"),
            cwd=tmp_path,
            env={**os.environ, "OPENAI_API_KEY": ""},
            capture_output=True,
            text=True,
            preexec_fn=limit_file_size(limit),
            timeout=120,
        )
        answered = srv.total
    err = one_line_error(proc)
    assert "cannot write" in err and "could not be stored" in err
    stored = query(cache, "SELECT count(*) FROM generations WHERE status = 'ok'")[0][0]
    assert 2 <= stored < answered  # the first run's answers are still there; not all of this one's
    assert query(cache, "SELECT status FROM runs ORDER BY run_id")[0] == ("ok",)
    with ScriptedServer() as again:
        rerun = subprocess.run(_generate_args(again, cache), cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert again.total == 40 - stored  # only what was never stored is asked again
    assert query(cache, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]
