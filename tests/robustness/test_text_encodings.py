"""Text files and arguments in the encodings users really have: JSONL whose strings hold U+2028,
U+2029 or U+0085 unescaped (valid JSON, as ``ensure_ascii=False`` and pydantic write it), files
that start with a byte-order mark, and arguments or file names that are not UTF-8.

Each case used to end in a misleading refusal ("Unterminated string", "text before the first
[system] header") or an ``internal error: UnicodeEncodeError``; one lost answers already paid for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossglg.textgen.testing_server import ScriptedServer
from tests.robustness._text_cache_helpers import one_line_error, query, run_cli

BOM = "\ufeff"
SEPARATED = "The arm rises.\u2028The hand waves.\u2029The feet stay.\x85Done."
TEMPLATES = Path(__file__).resolve().parents[2] / "crossglg" / "prompts" / "templates"


def test_an_export_whose_text_holds_line_separators_imports_again(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"dataset": "ntu120", "class_id": 1, "text": SEPARATED}) + "\n")
    assert run_cli("import", src, "--label", "a", "--cache", "a.db", cwd=tmp_path).returncode == 0
    assert run_cli("export", "out.jsonl", "--cache", "a.db", cwd=tmp_path).returncode == 0
    assert "\u2028" in (tmp_path / "out.jsonl").read_text(encoding="utf-8")  # written unescaped

    proc = run_cli("import", "out.jsonl", "--label", "b", "--cache", "b.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "b.db", "SELECT t.text FROM items JOIN texts t USING (text_id)") == [(SEPARATED,)]


def test_an_import_file_with_a_byte_order_mark_is_read(tmp_path):
    src = tmp_path / "notepad.jsonl"
    src.write_text(BOM + json.dumps({"dataset": "ntu120", "class_id": 1, "text": "Both arms wave."}) + "\n")
    proc = run_cli("import", src, "--label", "win", "--cache", "c.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "c.db", "SELECT dataset, class_id, source FROM items") == [(
        "ntu120", 1, "import:win"
    )]  # fmt: skip


def test_a_template_with_a_byte_order_mark_is_the_same_template(tmp_path):
    builtin = (TEMPLATES / "global.txt").read_text(encoding="utf-8")
    (tmp_path / "global.txt").write_text(BOM + builtin, encoding="utf-8")
    args = ("prompts", "-d", "msr-action3d", "-c", "1", "--json")
    plain = json.loads(run_cli(*args, cwd=tmp_path).stdout)
    proc = run_cli(*args, "--template", "global=global.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with_bom = json.loads(proc.stdout)
    # the same version (the key's messages are the same), and no invisible character in them
    assert json.dumps(with_bom).count("\\ufeff") == 0
    assert [p["messages"] for p in with_bom["prompts"]] == [p["messages"] for p in plain["prompts"]]


def test_examples_with_a_byte_order_mark_and_a_line_separator_are_read(tmp_path):
    examples = tmp_path / "examples.jsonl"
    example = {
        "action": "wave",
        "global": {"description": "The right arm rises\u2028and the hand waves.", "key_body_parts": ["arm"]},
    }
    examples.write_text(BOM + json.dumps(example, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "global.txt").write_text(
        "[system]\nDescribe actions.\n[user]\nExamples:\n$examples\nDescribe $action.\n", encoding="utf-8"
    )
    proc = run_cli(
        "prompts", "-d", "msr-action3d", "-c", "1", "--template", "global=global.txt",
        "--examples", examples, "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "The right arm rises\u2028and the hand waves." in json.dumps(
        json.loads(proc.stdout), ensure_ascii=False
    )


def test_a_run_batch_output_with_a_byte_order_mark_and_line_separators_is_imported(tmp_path):
    cache = tmp_path / "cache.db"
    proc = run_cli(
        "generate", "--backend", "vllm", "--llm", "Qwen/Qwen2.5-7B-Instruct", "-d", "msr-action3d",
        "-c", "1", "--batch-file", "requests.jsonl", "--cache", cache, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    requests = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    (global_request,) = [r for r in requests if "key_body_parts" in json.dumps(r["body"])]
    answer = {"description": "The right arm rises high.\u2028The hand waves side to side.",
              "key_body_parts": ["right arm", "right hand"]}  # fmt: skip
    body = {
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
    }  # fmt: skip
    line = {
        "custom_id": global_request["custom_id"],
        "response": {"status_code": 200, "body": body},
        "error": None,
    }
    (tmp_path / "results.jsonl").write_text(
        BOM + json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    proc = run_cli("batch", "import", "results.jsonl", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stored = query(
        cache,
        "SELECT t.text FROM items i JOIN texts t USING (text_id) WHERE i.kind = 'global' AND i.class_id = 1",
    )
    assert stored == [(answer["description"],)]


NOT_UTF8 = "caf\udce9"  # the bytes b"caf\xe9" (Latin-1) as Python hands them over on Linux


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("show", "-d", NOT_UTF8, "-c", "1"), "--dataset"),
        (("show", "-d", "ntu120", "-c", "1", "--source", NOT_UTF8), "--source"),
        (("export", "-", "--source", NOT_UTF8), "--source"),
        (("export", "-", "-d", NOT_UTF8), "--dataset"),
        (("embed", "--dry-run", "-d", NOT_UTF8), "--dataset"),
        (("embed", "--dry-run", "--prefix", NOT_UTF8), "--prefix"),
        (("invalidate", "--prompt", NOT_UTF8), "--prompt"),
        (("generate", "-d", "msr-action3d", "--dry-run", "--llm", NOT_UTF8), "--llm"),
        (
            ("generate", "-d", "msr-action3d", "--dry-run", "--llm", "gpt-4o", "--cache-salt", NOT_UTF8),
            "--cache-salt",
        ),
        (("generate", "-d", "msr-action3d", "--dry-run", "--llm", "x", "--base-url", NOT_UTF8), "--base-url"),
        (("batch", "status", "--base-url", NOT_UTF8), "--base-url"),
    ],
)
def test_an_option_value_that_is_not_utf8_is_refused_in_one_line(tmp_path, args, option):
    cache = tmp_path / "cache.db"
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"dataset": "ntu120", "class_id": 1, "text": "Both arms wave."}) + "\n")
    assert run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path).returncode == 0
    before = query(cache, "SELECT count(*) FROM runs")
    err = one_line_error(run_cli(*args, "--cache", cache, cwd=tmp_path))
    assert err == f"error: {option} 'caf\\xe9': not valid UTF-8 text; give it in UTF-8"
    assert query(cache, "SELECT count(*) FROM runs") == before  # refused before the cache was touched


def test_an_import_file_whose_name_is_not_utf8_is_imported(tmp_path):
    src = tmp_path / f"{NOT_UTF8}.jsonl"
    src.write_text(json.dumps({"dataset": "ntu120", "class_id": 1, "text": "Both arms wave."}) + "\n")
    # the file name is printed as its bytes, as ls prints it: read them back replaced
    proc = run_cli("import", src, "--label", "x", "--cache", "c.db", cwd=tmp_path, errors="replace")
    assert proc.returncode == 0 and "internal error" not in proc.stderr, proc.stderr
    assert query(tmp_path / "c.db", "SELECT count(*) FROM items") == [(1,)]
    (args,) = query(tmp_path / "c.db", "SELECT args_json FROM runs")[0]
    assert json.loads(args)["file"].endswith("caf\ufffd.jsonl")  # stored as valid text


def test_a_class_list_whose_name_is_not_utf8_is_refused_before_anything_is_sent(tmp_path):
    classes = tmp_path / f"{NOT_UTF8}.txt"
    classes.write_text("juggle three balls\ntie a shoelace\n", encoding="utf-8")
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        base = ("generate", "--llm", "scripted", "--base-url", srv.base_url, "--json-mode", "json_schema",
                "--classes", classes, "--cache", cache)  # fmt: skip
        err = one_line_error(run_cli(*base, cwd=tmp_path))
        assert srv.total == 0  # nothing paid for: the answers used to be lost when the first commit failed
        assert "the file name gives the dataset name, and it is not valid UTF-8 text" in err
        assert "--dataset NAME" in err
        proc = run_cli(*base, "--dataset", "mine", cwd=tmp_path)  # the way out the message names
    assert proc.returncode == 0, proc.stderr
    assert query(cache, "SELECT DISTINCT dataset FROM items") == [("mine",)]
    assert query(cache, "SELECT count(*) FROM items WHERE kind = 'global'") == [(2,)]
