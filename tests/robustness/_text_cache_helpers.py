"""Shared by the text/cache hostile-input tests (tests/robustness/test_text_*, test_cache_*).

Kept out of a conftest so the data/train robustness tests beside them stay independent.
Everything here is real: subprocesses running the real CLI, real SQLite files, the real
``openai`` client against the scripted HTTP server.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from crossglg.textgen.backends import make_backend
from crossglg.textgen.generate import generate
from crossglg.textgen.plan import GenParams, build_plan, select_classes
from crossglg.textgen.runner import RunSettings, RunSummary
from tests.textgen.conftest import run_cli

__all__ = ["FAST", "filled_cache", "one_line_error", "query", "run_cli", "run_generate", "write_import"]

# test-sized patience: real defaults wait seconds to minutes
FAST = RunSettings(
    concurrency=4,
    timeout=5.0,
    max_attempts=3,
    wait_multiplier=0.02,
    wait_max=0.1,
    retry_after_cap=1.0,
    cooldown_429=0.1,
    disk_full_wait=0.0,
)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a refused command: one ``error:`` line, no traceback, exit 2."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def query(path: Path, sql: str, *params: object) -> list[tuple]:
    """Read the file as it is on disk, bypassing crossglg."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def run_generate(
    cache: Path,
    base_url: str | None,
    classes: tuple[int, ...] = (1, 2),
    model: str = "scripted",
    settings: RunSettings = FAST,
    max_tokens: int = 800,
) -> RunSummary:
    """In-process `generate` for msr-action3d classes against a server (global + local each)."""
    selection = select_classes("msr-action3d", class_ids=list(classes))
    backend = make_backend(model, "auto", base_url)
    plan = build_plan(selection, backend, GenParams(max_tokens=max_tokens), 1)
    return generate(plan, backend, cache, settings, {"test": True})


def write_import(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def filled_cache(tmp_path: Path, n_classes: int = 20) -> Path:
    """A cache holding imported texts for ntu120 classes 1..n (global + one part each)."""
    rows = []
    for c in range(1, n_classes + 1):
        rows.append({"dataset": "ntu120", "class_id": c, "text": f"Class {c} moves its hands. " * 20})
        rows.append({"dataset": "ntu120", "class_id": c, "kind": "part", "slot": "hand", "text": f"hand {c}"})
    src = write_import(tmp_path / "texts.jsonl", rows)
    cache = tmp_path / "cache.db"
    proc = run_cli("import", src, "--label", "seed", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return cache
