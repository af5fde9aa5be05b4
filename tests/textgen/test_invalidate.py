"""`crossglg-text invalidate` end to end: a real cache file, the scripted server counting requests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crossglg.textgen.testing_server import ScriptedServer, request_identity

from .conftest import gen_args, invoke, run_cli


def _generate(server: ScriptedServer, cache: Path, *classes: int) -> list[dict]:
    """Run generate for these msr-action3d classes; return the bodies the server received."""
    before = len(server.bodies)
    code, _ = invoke(*gen_args(server, cache, "-d", "msr-action3d", *[f"-c{c}" for c in classes]))
    assert code == 0
    return server.bodies[before:]


def _label(body: dict, class_1: set[str]) -> tuple[int, str]:
    """(class id, prompt) of a request the server received."""
    prompt = body["response_format"]["json_schema"]["name"].removesuffix("_answer")
    return (1 if request_identity(body) in class_1 else 2, prompt)


def _completed_at(cache: Path) -> list[str]:
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("SELECT completed_at FROM generations ORDER BY completed_at")]


@pytest.fixture
def answered(server: ScriptedServer, tmp_path: Path) -> tuple[Path, set[str], str]:
    """Four ok answers (classes 1 and 2 × global, local) from two runs; and when the second began."""
    cache = tmp_path / "cache.db"
    class_1 = {request_identity(b) for b in _generate(server, cache, 1)}
    _generate(server, cache, 2)
    stamps = _completed_at(cache)
    assert stamps[1] < stamps[2]  # the class-1 run finished before the class-2 run answered
    return cache, class_1, stamps[2]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--prompt", "global"], {(1, "global"), (2, "global")}),
        (["--model", "server:scripted", "--prompt", "local"], {(1, "local"), (2, "local")}),
        (["--since", "SECOND_RUN"], {(2, "global"), (2, "local")}),
        (["--status", "ok"], {(1, "global"), (1, "local"), (2, "global"), (2, "local")}),
        (["--model", "other-model"], set()),
    ],
    ids=["prompt", "model+prompt", "since", "status", "no-match"],
)
def test_generate_after_invalidate_re_requests_exactly_those(server, answered, filters, expected):
    cache, class_1, second_run = answered
    filters = [second_run if f == "SECOND_RUN" else f for f in filters]
    before = cache.read_bytes()
    code, out = invoke("invalidate", "--cache", cache, *filters, "--dry-run", "--json")
    assert code == 0 and json.loads(out)["invalidated"] == len(expected)
    assert cache.read_bytes() == before  # a dry run changes nothing
    code, out = invoke("invalidate", "--cache", cache, *filters, "--json")
    report = json.loads(out)
    assert code == 0 and report["invalidated"] == len(expected) and not report["dry_run"]
    resent = _generate(server, cache, 1, 2)
    assert sorted(_label(b, class_1) for b in resent) == sorted(expected)
    assert server.total == 4 + len(expected)
    assert _generate(server, cache, 1, 2) == []  # and then everything is cached again


def test_invalidate_is_recorded_as_a_run(answered):
    cache, _, _ = answered
    code, out = invoke("invalidate", "--cache", cache, "--prompt", "global")
    assert code == 0 and "2 answer(s) matching prompt=global forgotten" in out
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
        runs = conn.execute("SELECT command, args_json, status, n_requests FROM runs").fetchall()
    assert runs[-1] == ("invalidate", '{"prompt":"global"}', "ok", 2)
    code, out = invoke("invalidate", "--cache", cache, "--prompt", "global", "--dry-run")
    assert code == 0 and "no answers match prompt=global; nothing changed" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which answers to forget: --model, --prompt, --since and/or --status"),
        (["--status", "bogus"], "unknown status 'bogus' (one of ok, failed, refused"),
        (["--since", "last tuesday"], "since 'last tuesday' is not an ISO date or time"),
        (["--status", "ok", "--cache", "missing.db"], "missing.db: no such cache file"),
        # valid ISO times whose UTC moment falls outside datetime's years: an internal error once
        (["--since", "0001-01-01T00:00:00+05:00"], "outside the years 1 to 9999 once turned into UTC"),
        (["--since", "9999-12-31T23:00:00-05:00"], "outside the years 1 to 9999 once turned into UTC"),
    ],
    ids=[
        "no-filter",
        "unknown-status",
        "bad-since",
        "missing-file",
        "since-before-year-1",
        "since-after-9999",
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(answered, args, message):
    cache, _, _ = answered
    before = cache.read_bytes()
    proc = run_cli("invalidate", "--cache", cache.name, *args, cwd=cache.parent)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr and proc.stdout == ""
    assert cache.read_bytes() == before
    assert not (cache.parent / "missing.db").exists()


def test_help_names_every_filter():
    code, out = invoke("invalidate", "--help")
    assert code == 0
    for flag in ("--model", "--prompt", "--since", "--status", "--dry-run", "--json", "no zone = UTC"):
        assert flag in out
