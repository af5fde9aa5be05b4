"""Own prompts: template files from the options, $examples, $dataset_description, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossglg.errors import UserError
from crossglg.prompts import load_template
from crossglg.prompts.custom import PromptContext, load_prompts, read_description, read_examples
from crossglg.prompts.templates import TEMPLATE_DIR, load_templates
from crossglg.vocab.parts import part_set

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "prompts"
PARTS6 = part_set("parts6").slots

GLOBAL_WITH_CONTEXT = """[system]
You describe movement.
[user]
$dataset_description
Action "$action": which body parts matter?
$examples
"""
LOCAL_WITH_CONTEXT = """[user]
$dataset_description
Describe $parts for "$action".
$examples
"""


def _answer_local(text: str) -> dict[str, str]:
    return {slot: f"The {slot} {text}." for slot in PARTS6}


def _write_examples(path: Path, *rows: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """A template folder using both context placeholders, an examples file and a description file."""
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "global.txt").write_text(GLOBAL_WITH_CONTEXT, encoding="utf-8")
    (folder / "local.txt").write_text(LOCAL_WITH_CONTEXT, encoding="utf-8")
    _write_examples(
        folder / "examples.jsonl",
        {
            "action": "wave",
            "global": {"description": "The arm swings overhead.", "key_body_parts": ["arm"]},
            "local": _answer_local("moves"),
        },
        {"action": "kick", "global": {"description": "The leg swings forward.", "key_body_parts": ["leg"]}},
    )
    return folder


def test_folder_and_name_options_pick_files_and_keep_builtins(tmp_path, own):
    g, loc = load_templates(None, own)
    assert (g.source, loc.source) == (str(own / "global.txt"), str(own / "local.txt"))
    only_local = tmp_path / "only_local"
    only_local.mkdir()
    (only_local / "local.txt").write_text(LOCAL_WITH_CONTEXT, encoding="utf-8")
    g, loc = load_templates(None, only_local)
    assert g.prompt_id == load_template("global").prompt_id and loc.source.endswith("only_local/local.txt")
    # --template overrides the folder's file of that name
    g, loc = load_templates([f"global={TEMPLATE_DIR / 'global.txt'}"], own)
    assert g.source == str(TEMPLATE_DIR / "global.txt") and loc.source == str(own / "local.txt")


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["global"], r"--template 'global': write NAME=FILE"),
        (["system=x.txt"], r"unknown prompt 'system'"),
        (["global=a.txt", "global=b.txt"], r"--template global=… is given twice"),
        (["local=missing.txt"], r"missing.txt: prompt template not found"),
    ],
)
def test_bad_template_options(specs, message):
    with pytest.raises(UserError, match=message):
        load_templates(specs)


def test_bad_template_folders(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        load_templates(None, tmp_path / "nope")
    with pytest.raises(UserError, match=r"neither global\.txt nor local\.txt"):
        load_templates(None, tmp_path)


def test_unreadable_and_non_utf8_templates_name_the_file(tmp_path):
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(UserError, match=r"dir.txt: cannot read the prompt template"):
        load_template("global", tmp_path / "dir.txt")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("[user]\nDécris $action\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.txt: prompt template is not UTF-8 text \(byte 8\)"):
        load_template("global", latin)


@pytest.mark.parametrize(
    ("name", "text", "missing"),
    [("global", "[user]\nDescribe it.\n", "$action"), ("local", "[user]\nDescribe $action.\n", "$parts")],
)
def test_missing_required_placeholder_names_file_and_placeholder(tmp_path, name, text, missing):
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_template(name, path)
    assert str(path) in str(err.value) and f"must use {missing}" in str(err.value)


def test_unknown_placeholder_names_it(tmp_path):
    path = tmp_path / "local.txt"
    path.write_text("[user]\n$action $parts $example\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"local.txt: unknown placeholder\(s\) \$example in \[user\]"):
        load_template("local", path)


def test_context_fills_placeholders_and_leaves_out_the_class_itself(own):
    prompts = load_prompts(None, own, own / "examples.jsonl", "Daily actions, one subject.")
    g, loc = prompts.templates
    msgs = prompts.context.render(g, "wave", ())
    user = msgs[-1]["content"]
    assert user.startswith('Daily actions, one subject.\nAction "wave": which body parts matter?')
    # wave's own example is left out; kick's is shown with its answer as JSON
    assert 'Action "kick":\n{"description": "The leg swings forward.", "key_body_parts": ["leg"]}' in user
    assert "The arm swings overhead" not in user
    local_user = prompts.context.render(loc, "kick", PARTS6)[-1]["content"]
    assert (
        'Action "wave":\n{"head": "The head moves."' in local_user
        and '"kick"' not in local_user.split("\n")[-1]
    )


def test_local_examples_follow_the_prompts_slots(own):
    prompts = load_prompts(None, own, own / "examples.jsonl", "x")
    loc = prompts.templates[1]
    reordered = tuple(reversed(PARTS6))
    shown = prompts.context.render(loc, "jump", reordered)[-1]["content"]
    assert shown.index('"foot"') < shown.index('"head"')  # the example follows the order asked for
    with pytest.raises(UserError, match=r"examples.jsonl:1: the local example of 'wave' answers head, hand"):
        prompts.context.render(loc, "jump", ("left hand", "right hand"))


def test_options_and_templates_must_agree(tmp_path, own):
    examples = own / "examples.jsonl"
    with pytest.raises(UserError, match=r"global.txt: uses \$dataset_description, which has no value"):
        load_prompts(None, own, examples)
    with pytest.raises(UserError, match=r"global.txt: uses \$examples, which has no value \(pass --examples"):
        load_prompts(None, own, None, "x")
    with pytest.raises(UserError, match=r"--examples .*examples.jsonl is given but no prompt template uses"):
        load_prompts(examples=examples)
    with pytest.raises(UserError, match=r"--dataset-description is given but no prompt template uses"):
        load_prompts(description="x")
    only_global = _write_examples(
        tmp_path / "g.jsonl",
        {"action": "kick", "global": {"description": "d d d d", "key_body_parts": ["leg"]}},
    )
    with pytest.raises(UserError, match=r"local.txt: uses \$examples, but .*g.jsonl has no 'local' example"):
        load_prompts(None, own, only_global, "x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"has no examples"),
        ("not json\n", r":1: not a JSON object"),
        ("[1]\n", r":1: not a JSON object"),
        (
            '{"action": "a", "global": {"description": "d", "key_body_parts": ["arm"]}, "x": 1}\n',
            "unknown field 'x'",
        ),
        ('{"global": {"description": "d", "key_body_parts": ["arm"]}}\n', "field 'action'"),
        ('{"action": "a"}\n', "give the example's 'global' and/or 'local' answer"),
        ('{"action": "a", "global": {"description": ""}}\n', "field 'global': description is missing"),
        ('{"action": "a", "global": {"description": "d", "key_body_parts": ["x"], "y": 1}}\n', "unknown key"),
        ('{"action": "a", "local": {"head": ""}}\n', "field 'local': 'head' is missing or empty"),
        ('{"action": "a", "local": {}}\n', "field 'local': it has no body parts"),
        ('{"action": "a", "local": {"head": "h"}}\n{"action": "A", "local": {"head": "h"}}\n', ":2: 'A' is"),
    ],
)
def test_bad_examples_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "ex.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        read_examples(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_examples_and_description_files_must_be_readable_utf8(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(UserError, match=r"bad.txt: examples file is not UTF-8 text \(byte 0\)"):
        read_examples(bad)
    with pytest.raises(UserError, match=r"bad.txt: dataset description is not UTF-8"):
        read_description(path=bad)
    with pytest.raises(UserError, match="not both"):
        read_description("x", bad)
    with pytest.raises(UserError, match="is empty"):
        read_description("  \n")
    assert read_description(path=EXAMPLES / "dataset.txt").startswith("MSR Action3D") is True
    assert read_description(None, None) is None


def test_shipped_example_prompts_load_and_render():
    prompts = load_prompts(None, EXAMPLES, EXAMPLES / "examples.jsonl", None, EXAMPLES / "dataset.txt")
    for tpl, slots in zip(prompts.templates, ((), PARTS6), strict=True):
        content = "".join(m["content"] for m in prompts.context.render(tpl, "hand clap", slots))
        assert '"hand clap"' in content and "MSR Action3D" in content and 'Action "forward kick"' in content
        assert "$" not in content
    assert prompts.describe()["templates"] == {
        "global": str(EXAMPLES / "global.txt"),
        "local": str(EXAMPLES / "local.txt"),
    }


def test_an_empty_context_renders_builtin_templates_unchanged():
    for tpl in (load_template("global"), load_template("local")):
        assert PromptContext().render(tpl, "clapping", PARTS6) == tpl.render("clapping", PARTS6)
