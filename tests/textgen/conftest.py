"""Fixtures for the text-generation tests: the scripted server and quick ways to run generate."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossglg.text_cli import app
from crossglg.textgen.backends import make_backend
from crossglg.textgen.generate import generate
from crossglg.textgen.plan import GenParams, build_plan, select_classes
from crossglg.textgen.runner import RunSettings, RunSummary
from crossglg.textgen.testing_server import ScriptedServer
from tests.helpers import run_script

# quick patience for tests: real defaults wait seconds to minutes
FAST = RunSettings(
    concurrency=4, timeout=5.0, wait_multiplier=0.02, wait_max=0.2, retry_after_cap=2.0, cooldown_429=0.2
)


@pytest.fixture
def fast() -> RunSettings:
    return FAST


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


RunGen = Callable[..., RunSummary]


@pytest.fixture
def run_gen(cache_path: Path) -> RunGen:
    """Run generate in-process against a server, with test-sized retry waits."""

    def run(
        base_url: str,
        classes: tuple[int, ...] = (1, 2),
        dataset: str = "msr-action3d",
        samples: int = 1,
        settings: RunSettings = FAST,
        force: bool = False,
        salt: str | None = None,
        model: str = "scripted",
    ) -> RunSummary:
        selection = select_classes(dataset, class_ids=list(classes))
        backend = make_backend(model, "auto", base_url)
        plan = build_plan(selection, backend, GenParams(), samples, salt)
        return generate(plan, backend, cache_path, settings, {"test": True}, force=force)

    return run


@pytest.fixture
def query(cache_path: Path) -> Callable[..., list[tuple]]:
    """Read the cache file directly: what really landed on disk (attempt ledger, statuses)."""

    def run(sql: str, *params: object) -> list[tuple]:
        conn = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    return run


def invoke(*args: object) -> tuple[int, str]:
    """Run ``crossglg-text ARGS`` in-process; (exit code, stdout)."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def gen_args(server: ScriptedServer, cache: Path, *extra: str, json_mode: str = "json_schema") -> list[str]:
    """``generate`` against the scripted server. The mode is named, as the scripted server takes
    json_schema, so that request counts are the plan's: `--json-mode auto` would first ask the
    server with a probe request (tests/textgen/test_negotiation.py covers that)."""
    mode = ["--json-mode", json_mode] if json_mode else []
    return [
        "generate",
        "--llm",
        "scripted",
        "--base-url",
        server.base_url,
        "--cache",
        str(cache),
        *mode,
        *extra,
    ]


def run_cli(
    *args: object, cwd: Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``crossglg-text ARGS`` in a subprocess: the real exit path (one-line errors, no traceback)."""
    return run_script("crossglg-text", *args, cwd=cwd, env=env, **kwargs)
