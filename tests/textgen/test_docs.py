"""Every `crossglg-text` command shown in docs/TEXTGEN.md parses, and runs in the order shown."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crossglg.errors import UserError
from crossglg.text_cli import app
from crossglg.textgen.testing_server import ScriptedServer
from tests.helpers import console_commands, fenced_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "TEXTGEN.md"
DOC_URLS = ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8765/v1")


def _blocks(lang: str) -> list[str]:
    return fenced_blocks(DOC.read_text(encoding="utf-8"), lang)


def _commands() -> list[list[str]]:
    lines = console_commands(DOC.read_text(encoding="utf-8"))
    return [shlex.split(line)[1:] for line in lines if line.startswith("crossglg-text ")]


def test_doc_shows_every_command():
    shown = {args[0] for args in _commands()}
    assert shown == {
        "generate",
        "invalidate",
        "prompts",
        "show",
        "export",
        "import",
        "stats",
        "packs",
        "batch",
    }


@pytest.mark.parametrize("args", _commands(), ids=lambda a: " ".join(a)[:60])
def test_doc_command_parses(args):
    group = typer.main.get_command(app)
    ctx = group.make_context("crossglg-text", list(args))
    sub = group.get_command(ctx, args[0])
    assert sub is not None
    sub.make_context(args[0], list(args[1:]))  # raises on an unknown option or a bad value


def _embedded(args: list[str]) -> bool:
    return args[0] == "generate" and not {"--llm", "--base-url", "--backend"} & set(args)


def test_doc_commands_run_in_order(tmp_path, monkeypatch):
    """Run the guide top to bottom. Hosted and server models answer from the scripted server
    (OPENAI_BASE_URL); full-protocol runs are cut to one base class. The embedded model's
    commands run as --dry-run here: its real runs are test_local_llm's (slow) job; in-process
    vLLM's, which need a GPU, must refuse in one line (their dry runs run)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "handwritten.jsonl").write_text(next(b for b in _blocks("jsonl") if '"class_id"' in b))
    (tmp_path / "my_actions.txt").write_text(_blocks("text")[0])
    (tmp_path / "examples").symlink_to(DOC.parents[1] / "examples")  # "Your own prompts"
    cli = CliRunner()
    with ScriptedServer() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        for args in _commands():
            args = [srv.base_url if a in DOC_URLS else a for a in args]
            if _embedded(args):
                args += ["--dry-run"]
            elif args[0] == "generate" and "--protocol" in args and "--dry-run" not in args:
                args += ["--class", "2"]
            result = cli.invoke(app, args)
            vllm_run = "--backend" in args and "vllm" in args and "--dry-run" not in args
            if vllm_run:  # GPU only: a clear one-line refusal here (a dry run needs no vllm)
                assert isinstance(result.exception, UserError) and "vllm is not installed" in str(
                    result.exception
                )
                continue
            assert result.exit_code == 0, (args, result.output, result.exception)
            if args[:2] == ["show", "--dataset"] and "--json" not in args:
                assert "The hand waves high above the head." in result.output
        assert srv.total > 0
    assert (tmp_path / "texts.jsonl").read_text().count("\n") >= 2
    with (tmp_path / "texts.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["source"] for r in rows} == {"import:handwritten"} and len(rows) == 2


def test_doc_example_answers_are_a_valid_examples_file(tmp_path):
    """The examples line shown under "Your own prompts" is what --examples accepts."""
    from crossglg.prompts.custom import read_examples

    block = next(b for b in _blocks("jsonl") if '"action"' in b)
    (tmp_path / "examples.jsonl").write_text(block)
    (example,) = read_examples(tmp_path / "examples.jsonl")
    assert example.action == "high arm wave" and set(example.answers) == {"global", "local"}
