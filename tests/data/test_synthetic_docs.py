"""Every command and Python snippet in docs/SYNTHETIC.md runs as written (in a scratch folder)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from tests.helpers import fenced_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "SYNTHETIC.md"


def _blocks(lang: str) -> list[str]:
    return fenced_blocks(DOC.read_text(), lang)


def test_doc_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    commands = [ln for block in _blocks("bash") for ln in block.splitlines() if ln.startswith("crossglg ")]
    assert len(commands) == 5
    runner = CliRunner()
    outputs = []
    for line in commands:
        args = shlex.split(line.replace("--per-class 20", "--per-class 2"))[1:]  # fewer samples, same command
        res = runner.invoke(app, args)
        assert res.exit_code == 0, f"{line}\n{res.output}"
        outputs.append(res.output)
    assert re.search(r"samples: 80\b", outputs[1])  # info: 2 per class × 40
    assert re.search(r"auxiliary: 60\b", outputs[2]) and re.search(r"queries: 10\b", outputs[2])
    assert "skipped 3" in outputs[4] and "(synthetic, layout ntu25)" in outputs[4]
    for kind in ("joints: 1", "nan: 1", "truncated: 1"):
        assert kind in outputs[4]


def test_doc_python_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    snippets = _blocks("python")
    assert len(snippets) == 2
    scope: dict = {}
    for code in snippets:
        exec(compile(code, str(DOC), "exec"), scope)
    assert scope["names"][0] == "S101C001P001R001A001" and scope["labels"][0] == 0
    assert tuple(scope["batch"].x.shape) == (64, 3, 64, 25, 2)
    assert len(scope["manifest"]) == 7
