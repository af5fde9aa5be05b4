"""The smaller items of issue 11 on the text side: huge answers, escape sequences in `show`,
numbers checked when parsed, and crafted `import` files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crossglg.text_cli import app
from crossglg.textgen.runner import max_answer_chars
from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.robustness._text_cache_helpers import one_line_error, query, run_cli, run_generate, write_import


def test_answer_far_beyond_max_tokens_is_cut_and_not_ok(tmp_path):
    cache = tmp_path / "cache.db"
    huge = json.dumps({"description": "wave " * 400_000, "key_body_parts": ["hand"]})  # 2 MB

    def script(body, seen):
        if "key_body_parts" in json.dumps(body.get("response_format")):
            return Reply(kind="text", content=huge)
        return Reply()

    with ScriptedServer(script) as srv:
        summary = run_generate(cache, srv.base_url, (1,), max_tokens=100)
    assert summary.failed == 1
    rows = query(
        cache,
        "SELECT g.status, length(t.text) FROM generations g JOIN texts t USING (text_id) ORDER BY g.status",
    )
    assert rows[0] == ("ok", rows[0][1]) and rows[1] == ("truncated", max_answer_chars(100))
    assert query(cache, "SELECT max(length(text)) FROM texts")[0][0] <= max_answer_chars(100)
    assert query(cache, "SELECT count(*) FROM items WHERE kind = 'global'") == [(0,)]


def test_show_escapes_terminal_control_sequences(tmp_path):
    evil = "Wave.\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil"
    src = write_import(tmp_path / "t.jsonl", [{"dataset": "ntu120", "class_id": 1, "text": evil}])
    cache = tmp_path / "cache.db"
    assert run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path).returncode == 0
    proc = run_cli("show", "-d", "ntu120", "-c", "1", "--cache", cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout and "\x9b" not in proc.stdout
    assert "\u202e" not in proc.stdout
    assert "Wave.\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eevil" in proc.stdout
    # the stored text itself is untouched: export gives it back byte for byte
    out = run_cli("export", "-", "--cache", cache, cwd=tmp_path).stdout
    assert json.loads(out)["text"] == evil


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--temperature", "nan"),
        ("--temperature", "inf"),
        ("--temperature", "-0.5"),
        ("--temperature", "3"),
        ("--top-p", "5"),
        ("--top-p", "0"),
        ("--top-p", "nan"),
        ("--max-tokens", "-5"),
        ("--max-tokens", "0"),
        ("--timeout", "-1"),
        ("--timeout", "0"),
        ("--timeout", "nan"),
        ("--samples", "0"),
        ("--concurrency", "0"),
        ("--rpm", "-1"),
        ("--tpm", "-1"),
        ("--class", "0"),
        ("--disk-full-wait", "-1"),
    ],
)
def test_generate_numbers_are_checked_when_parsed(tmp_path, option, value):
    cache = tmp_path / "cache.db"
    result = CliRunner().invoke(
        app,
        ["generate", "--llm", "gpt-4o", "-d", "utkinect", option, value, "--dry-run", "--cache", str(cache)],
    )
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert not cache.exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["show", "-d", "ntu120", "-c", "0"], "--class"),
        (["prompts", "-d", "ntu120", "-c", "-3"], "--class"),
        (["embed", "--batch-size", "0", "--dry-run"], "--batch-size"),
        (["embed", "--max-tokens", "-5", "--dry-run"], "--max-tokens"),
    ],
)
def test_other_numbers_are_checked_when_parsed(tmp_path, args, option):
    result = CliRunner().invoke(
        app, [*args, "--cache", str(tmp_path / "c.db")] if args[0] != "prompts" else args
    )
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output


GOOD = '{"dataset": "ntu120", "class_id": 2, "text": "fine"}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"dataset": "ntu120", "class_id": 1, "text": "a", "text": "b"}', "key 'text' appears twice"),
        (
            '{"dataset": "ntu120", "class_id": 1, "class_name": "jump up", "text": "a"}',
            "contradicts the ntu120",
        ),
        (
            '{"dataset": "ntu120", "class_id": 1, "kind": "part", "slot": "../../etc", "text": "a"}',
            "not a known part",
        ),
        (
            '{"dataset": "ntu120", "class_id": 1, "kind": "joint", "slot": "hand", "text": "a"}',
            "not a known joint",
        ),
        (
            '{"dataset": "mine", "class_id": 1' + "0" * 400 + ', "class_name": "x", "text": "a"}',
            "'class_id' must be",
        ),
        (
            '{"dataset": "ntu120", "class_id": 1, "sample_index": 1e400, "text": "a"}',
            "'sample_index' must be",
        ),
        ("[" * 100_000 + "]" * 100_000, "unreadable JSON"),
        (
            '{"dataset": "ntu\\u001b[31m", "class_id": 1, "class_name": "x", "text": "a"}',
            "control characters",
        ),
        (GOOD, "a second text for ntu120 class 2 global"),
        (
            '{"dataset": "ntu120", "class_id": 2, "text": "b", "source": "pack:ntu120@1"}',
            "(first on line 1); keep one",  # GOOD names no source: not told apart as several
        ),
        (
            '{"dataset": "ntu120", "class_id": 1, "kind": "part", "slot": "hand", "text": "a", '
            '"key_body_parts": ["hand"]}',
            "'key_body_parts' belongs on global rows only (this is a part row)",
        ),
    ],
    ids=[
        "dup-key",
        "class-name",
        "slot-traversal",
        "joint-slot",
        "huge-int",
        "huge-float",
        "deep",
        "escape",
        "twice",
        "twice-unsourced",
        "parts-on-part-row",
    ],
)
def test_crafted_import_lines_are_refused_by_line(tmp_path, line, message):
    src = tmp_path / "bad.jsonl"
    src.write_text(GOOD + "\n" + line + "\n", encoding="utf-8")
    cache = tmp_path / "cache.db"
    proc = run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path)
    err = one_line_error(proc)
    assert f"{src}:2: " in err and message in err
    assert not cache.exists()  # refused before the cache was opened


def test_import_that_fails_after_starting_leaves_no_running_run(tmp_path):
    cache = tmp_path / "cache.db"
    src = write_import(tmp_path / "ok.jsonl", [{"dataset": "ntu120", "class_id": 1, "text": "a"}])
    assert run_cli("import", src, "--label", "x", "--cache", cache, cwd=tmp_path).returncode == 0
    from crossglg.cache import open_cache

    with pytest.raises(RuntimeError), open_cache(cache) as store, store.run("import", {}):
        raise RuntimeError("the disk went away")
    assert query(cache, "SELECT status FROM runs ORDER BY run_id") == [("ok",), ("failed",)]


def test_show_refuses_a_class_id_beyond_sqlite_integers_in_one_line(tmp_path):
    proc = run_cli("show", "-d", "ntu120", "-c", str(2**63), "--cache", tmp_path / "cache.db", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "'--class' / '-c'" in proc.stderr and "9223372036854775807" in proc.stderr
    assert not (tmp_path / "cache.db").exists()


def test_batch_import_refuses_json_nested_past_the_stack_in_one_line(tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"custom_id": "x", "response": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    proc = run_cli("batch", "import", deep, "--cache", tmp_path / "cache.db", cwd=tmp_path)
    assert f"{deep}: line 1: not JSON (or nested too deeply)" in one_line_error(proc)


def test_check_and_vectors_name_their_own_source_option(tmp_path):
    """The bank's errors once named the trainer's --text-source, which these commands do not have."""
    cache = tmp_path / "cache.db"
    for label in ("a", "b"):
        rows = [{"dataset": "ntu120", "class_id": c, "text": f"{label} {c}"} for c in (1, 2)]
        src = write_import(tmp_path / f"{label}.jsonl", rows)
        assert run_cli("import", src, "--label", label, "--cache", cache, cwd=tmp_path).returncode == 0
    for args in (("check",), ("vectors", tmp_path / "v.npz")):
        message = one_line_error(run_cli(*args, "-d", "ntu120", "--cache", cache, cwd=tmp_path))
        assert "several sources; pick one with --source " in message, message
        message = one_line_error(run_cli(*args, "-d", "ntu60", "--cache", cache, cwd=tmp_path))
        assert "--text-dataset" not in message, message


def test_an_export_of_several_sources_names_them_and_one_source_imports_again(tmp_path):
    cache = tmp_path / "cache.db"
    for label in ("a", "b"):
        src = write_import(tmp_path / f"{label}.jsonl", [{"dataset": "ntu120", "class_id": 1, "text": label}])
        assert run_cli("import", src, "--label", label, "--cache", cache, cwd=tmp_path).returncode == 0
    assert run_cli("export", tmp_path / "all.jsonl", "--cache", cache, cwd=tmp_path).returncode == 0
    err = one_line_error(run_cli("import", "all.jsonl", "--label", "c", "--cache", "new.db", cwd=tmp_path))
    assert "several sources (import:a, import:b)" in err and "--source SOURCE" in err
    assert (
        run_cli("export", "a.out.jsonl", "--source", "import:a", "--cache", cache, cwd=tmp_path).returncode
        == 0
    )
    proc = run_cli("import", "a.out.jsonl", "--label", "c", "--cache", "new.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "new.db", "SELECT source, count(*) FROM items GROUP BY source") == [
        ("import:c", 1)
    ]
