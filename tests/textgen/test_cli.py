"""Every `crossglg-text` command through the CLI (Typer's runner in-process, a subprocess for exit paths)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossglg.text_cli import app
from crossglg.textgen.testing_server import ScriptedServer

from .conftest import gen_args, invoke, run_cli

cli = CliRunner()


def test_dry_run_gpt4_ntu120_plans_240_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out = invoke("generate", "--llm", "gpt-4", "--dataset", "ntu120", "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["planned"] == 240 and report["to_send"] == 240 and report["cached"] == 0
    assert report["source"] == "openai:gpt-4"
    assert report["estimated_tokens"]["input"] > 0 and report["estimated_tokens"]["output"] > 0
    assert not (tmp_path / "cache.db").exists()  # a dry run creates nothing


def test_protocol_restricts_to_base_classes_and_refuses_novel(tmp_path):
    code, out = invoke("generate", "--llm", "gpt-4", "--protocol", "ntu120", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["planned"] == 200  # 100 base classes × 2 prompts
    result = cli.invoke(
        app, ["generate", "--llm", "gpt-4", "--protocol", "ntu120", "--class", "1", "--dry-run"]
    )
    assert result.exit_code != 0 and "novel" in str(result.exception)
    code, out = invoke(
        "generate",
        "--llm",
        "gpt-4",
        "--protocol",
        "ntu120",
        "--class",
        "1",
        "--include-novel",
        "--dry-run",
        "--json",
    )
    assert code == 0 and json.loads(out)["planned"] == 2


def test_generate_then_dry_run_counts_hits(server, tmp_path):
    cache = tmp_path / "cache.db"
    code, out = invoke(*gen_args(server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2", "--json"))
    assert code == 0
    summary = json.loads(out)
    assert summary["sent"] == 4 and summary["failed"] == 0 and summary["source"] == "server:scripted"
    code, out = invoke(
        *gen_args(server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2", "-c", "3", "--dry-run", "--json")
    )
    assert json.loads(out)["cached"] == 4 and json.loads(out)["to_send"] == 2
    code, out = invoke(*gen_args(server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2"))
    assert code == 0 and "sent 0, cached 4, failed 0" in out
    assert server.total == 4


def test_failure_exits_1(tmp_path):
    from crossglg.textgen.testing_server import Reply

    with ScriptedServer(lambda body, seen: Reply("status", 404)) as srv:
        code, out = invoke(*gen_args(srv, tmp_path / "c.db", "-d", "utkinect", "-c", "1"))
    assert code == 1 and "failed 2" in out


def test_prompts_prints_rendered_messages():
    code, out = invoke("prompts", "--dataset", "ntu120", "--class", "1")
    assert code == 0
    assert out.startswith("# ntu120 class 1: drink water")
    assert "[system]" in out and "[user]" in out and '"drink water"' in out
    assert "head, hand, arm, hip, leg, foot" in out
    code, out = invoke("prompts", "--dataset", "msr-action3d", "--class", "2", "--parts", "joints", "--json")
    data = json.loads(out)
    local = data["prompts"][1]
    assert data["class_name"] and len(local["schema"]["required"]) == 20  # msr20 joints


@pytest.fixture
def filled(server, tmp_path) -> Path:
    cache = tmp_path / "cache.db"
    code, _ = invoke(*gen_args(server, cache, "-d", "utkinect", "-c", "1", "-c", "2"))
    assert code == 0
    return cache


def test_show_lists_texts_with_provenance(filled):
    code, out = invoke("show", "--cache", filled, "-d", "utkinect", "-c", "1")
    assert code == 0
    assert out.startswith("# utkinect class 1: ")
    assert out.count("[server:scripted") == 7  # global + six parts
    code, out = invoke("show", "--cache", filled, "-d", "utkinect", "-c", "1", "--json")
    rows = json.loads(out)
    assert {r["slot"] for r in rows} == {"", "head", "hand", "arm", "hip", "leg", "foot"}
    assert all(r["status"] == "ok" and r["model"] == "scripted" for r in rows)


def test_export_jsonl_csv_and_import_roundtrip(filled, tmp_path):
    out_jsonl = tmp_path / "texts.jsonl"
    code, _ = invoke("export", out_jsonl, "--cache", filled)
    assert code == 0
    rows = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert len(rows) == 14 and {r["source"] for r in rows} == {"server:scripted"}
    code, out = invoke("export", "-", "--cache", filled, "--format", "csv", "-d", "utkinect")
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 14 and table[0]["class_id"] == "1" and table[0]["kind"] == "global"

    # an export re-imports under a new source, into another file, usable like generated text
    other = tmp_path / "other.db"
    code, out = invoke("import", out_jsonl, "--label", "copied", "--cache", other, "--json")
    assert code == 0 and json.loads(out) == {"imported": 14, "source": "import:copied", "cache": str(other)}
    code, out = invoke("show", "--cache", other, "-d", "utkinect", "-c", "2", "--json")
    assert {r["source"] for r in json.loads(out)} == {"import:copied"}


def test_import_handwritten_jsonl(tmp_path):
    cache = tmp_path / "cache.db"
    src = tmp_path / "hand.jsonl"
    src.write_text(
        '{"dataset": "ntu120", "class_id": 1, "text": "Lifts a cup to the mouth.", "key_body_parts": ["hand"]}\n'
        '{"dataset": "ntu120", "class_id": 1, "kind": "part", "slot": "hand", "text": "Holds the cup."}\n'
    )
    code, out = invoke("import", src, "--label", "handwritten", "--cache", cache)
    assert code == 0 and "imported 2 texts" in out
    code, out = invoke("show", "--cache", cache, "-d", "ntu120", "-c", "1")
    assert "drink water" in out and "Lifts a cup to the mouth." in out and "key body parts: hand" in out
    code, out = invoke("stats", "--cache", cache, "--json")
    stats = json.loads(out)
    assert stats["generations"] == {"ok": 2}
    assert {(i["source"], i["kind"]) for i in stats["items"]} == {
        ("import:handwritten", "global"),
        ("import:handwritten", "part"),
    }
    code, out = invoke("stats", "--cache", cache)
    assert code == 0 and "generations: ok 2" in out and "import:handwritten" in out


def test_user_errors_are_one_line_and_leave_files_untouched(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("not a database")
    proc = run_cli("stats", "--cache", bogus, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a SQLite file" in proc.stderr
    assert bogus.read_text() == "not a database"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dataset": "ntu120", "class_id": 1, "text": "ok"}\n{"dataset": "ntu120"}\n')
    proc = run_cli("import", bad, "--label", "x", "--cache", tmp_path / "c.db", cwd=tmp_path)
    assert proc.returncode == 2 and "bad.jsonl:2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.db").exists()  # nothing stored from a file that failed its check
    proc = run_cli(
        "generate", "--llm", "gpt-4", "-d", "utkinect", "-c", "1", "--cache", tmp_path / "g.db", cwd=tmp_path
    )
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
