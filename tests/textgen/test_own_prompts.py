"""Own prompts through `crossglg-text`: the keys follow the rendered text, errors are one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from crossglg.prompts.templates import TEMPLATE_DIR

from .conftest import gen_args, invoke, run_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "prompts"
OWN = ["--templates", EXAMPLES, "--examples", EXAMPLES / "examples.jsonl"]
DESCRIBED = [*OWN, "--dataset-description-file", EXAMPLES / "dataset.txt"]


def _generate(server, cache: Path, *extra: object) -> dict:
    code, out = invoke(*gen_args(server, cache, "-d", "msr-action3d", "-c", "2", "--json"), *extra)
    assert code == 0, out
    return json.loads(out)


def test_same_templates_hit_the_cache_and_a_change_is_new_keys(server, tmp_path, query):
    cache = tmp_path / "cache.db"
    assert _generate(server, cache)["sent"] == 2
    # copies of the built-in templates render the same messages: the same keys, nothing sent
    copies = tmp_path / "copies"
    shutil.copytree(TEMPLATE_DIR, copies)
    assert _generate(server, cache, "--templates", copies)["sent"] == 0
    # own templates with examples and a description: new keys, then cache hits
    first = _generate(server, cache, *DESCRIBED)
    assert first["sent"] == 2
    assert _generate(server, cache, *DESCRIBED)["sent"] == 0
    # one changed word in the description changes both prompts; a changed local template, one
    assert _generate(server, cache, *OWN, "--dataset-description", "MSR Action3D, one subject.")["sent"] == 2
    edited = tmp_path / "local.txt"
    edited.write_text((EXAMPLES / "local.txt").read_text().replace("one short sentence", "one sentence"))
    extra = ["--template", f"local={edited}", "--dataset-description", "MSR Action3D, one subject."]
    assert _generate(server, cache, *OWN, *extra)["sent"] == 1
    sent = [json.loads(m)[-1]["content"] for (m,) in query("SELECT messages_json FROM requests")]
    assert len(sent) == 7 and sum('Action "forward kick":' in s for s in sent) == 5
    assert all('Action "horizontal arm wave"' not in s for s in sent)  # a class never sees its own example
    runs = [json.loads(a) for (a,) in query("SELECT args_json FROM runs ORDER BY started_at")]
    assert runs[2]["prompts"] == {
        "templates": {"global": str(EXAMPLES / "global.txt"), "local": str(EXAMPLES / "local.txt")},
        "examples": str(EXAMPLES / "examples.jsonl"),
        "dataset_description": (EXAMPLES / "dataset.txt").read_text().strip(),
    }


def test_prompts_shows_the_templates_in_use_and_their_rendering():
    code, out = invoke("prompts", "-d", "msr-action3d", "-c", "2", *DESCRIBED)
    assert code == 0
    assert "## global (global@" in out and f"template {EXAMPLES / 'global.txt'})" in out
    assert 'the action "horizontal arm wave"' in out and 'Action "high arm wave":' in out
    code, out = invoke("prompts", "-d", "msr-action3d", "-c", "2", *DESCRIBED, "--json")
    shown = json.loads(out)["prompts"]
    assert [p["template_file"] for p in shown] == [str(EXAMPLES / "global.txt"), str(EXAMPLES / "local.txt")]
    assert shown[1]["template"] == (EXAMPLES / "local.txt").read_text()
    code, out = invoke("prompts", "-d", "msr-action3d", "-c", "2", "--json")
    assert json.loads(out)["prompts"][0]["template_file"] == str(TEMPLATE_DIR / "global.txt")


def test_bad_templates_are_one_line_errors_before_any_file_is_made(tmp_path):
    bad = tmp_path / "local.txt"
    bad.write_text("[user]\nDescribe $action with $colour.\n")
    cases = [
        (["--template", f"local={bad}"], f"error: {bad}: unknown placeholder(s) $colour"),
        (["--templates", EXAMPLES], "global.txt: uses $dataset_description, which has no value"),
        (["--template", "local"], "error: --template 'local': write NAME=FILE"),
    ]
    for extra, message in cases:
        proc = run_cli(
            "generate",
            "--llm",
            "gpt-4o",
            "-d",
            "msr-action3d",
            "--cache",
            tmp_path / "c.db",
            *extra,
            cwd=tmp_path,
        )
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr
    assert not (tmp_path / "c.db").exists()
