"""Templates render for every built-in dataset; their id follows their content."""

from __future__ import annotations

import pytest

from crossglg.cache import request_key
from crossglg.errors import UserError
from crossglg.prompts import answer_problems, answer_schema, answer_texts, load_template
from crossglg.prompts.templates import TEMPLATE_DIR
from crossglg.vocab.classes import builtin_names, dataset_layout, load_classes
from crossglg.vocab.parts import part_set


@pytest.mark.parametrize("dataset", ["ntu60", "ntu120", "pku-mmd", "msr-action3d", "utkinect", "synthetic"])
def test_every_builtin_dataset_renders_both_prompts(dataset):
    assert dataset in builtin_names()
    g, loc = load_template("global"), load_template("local")
    for parts in (part_set("parts6"), part_set("joints", dataset_layout(dataset))):
        for c in load_classes(dataset).classes:
            g_msgs, l_msgs = g.render(c.name), loc.render(c.name, parts.slots)
            for msgs in (g_msgs, l_msgs):
                assert [m["role"] for m in msgs] == ["system", "user"]
                assert f'"{c.name}"' in msgs[-1]["content"]
                assert "$" not in "".join(m["content"] for m in msgs)
            user = l_msgs[-1]["content"]
            assert ", ".join(parts.slots) in user and f" {len(parts.slots)} " in user


def test_rendering_is_exact():
    msgs = load_template("local").render("clapping", ("head", "hand"))
    assert msgs[-1]["content"].startswith(
        'Describe the motion of each of the following 2 body parts when a person performs the action "clapping": head, hand.'
    )


def test_template_id_follows_content(tmp_path):
    builtin = load_template("global")
    copy = tmp_path / "global.txt"
    copy.write_text(builtin.text, encoding="utf-8")
    same = load_template("global", copy)
    assert same.prompt_id == builtin.prompt_id and len(builtin.prompt_id) == 64
    assert builtin.version_label == f"global@{builtin.prompt_id[:12]}"
    copy.write_text(builtin.text.replace("most important", "most useful"), encoding="utf-8")
    edited = load_template("global", copy)
    assert edited.prompt_id != builtin.prompt_id
    # the key follows the rendered messages, so the edit reaches exactly the changed prompts
    k = [request_key("m", t.render("drink water"), {}) for t in (builtin, same, edited)]
    assert k[0] == k[1] != k[2]


def test_builtin_templates_are_package_files():
    assert sorted(p.name for p in TEMPLATE_DIR.glob("*.txt")) == ["global.txt", "local.txt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[user]\nDescribe $action with $colour.\n", r"unknown placeholder\(s\) \$colour"),
        ("[system]\nYou are helpful.\n", r"needs a \[user\] section"),
        ("hello\n[user]\n$action\n", r"text before the first"),
        ("[user]\nCosts $5 for $action\n", r"invalid \$placeholder"),
    ],
)
def test_bad_templates_are_user_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "mine.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        load_template("global", path)
    assert str(path) in str(info.value)


def test_unknown_template_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="unknown prompt template"):
        load_template("middle")
    with pytest.raises(UserError, match="not found"):
        load_template("local", tmp_path / "gone.txt")


def test_answer_schemas():
    g = answer_schema("global")
    assert g["required"] == ["description", "key_body_parts"] and g["additionalProperties"] is False
    slots = part_set("parts6").slots
    loc = answer_schema("part", slots)
    assert loc["required"] == list(slots) and list(loc["properties"]) == list(slots)
    assert all(p["type"] == "string" and p["minLength"] == 1 for p in loc["properties"].values())
    with pytest.raises(ValueError):
        answer_schema("joint", ())


def test_answer_checks_and_texts():
    slots = ("head", "hand")
    assert answer_problems("part", {"head": "nods", "hand": "waves"}, slots) == []
    assert answer_problems("part", {"head": "nods", "hand": " "}, slots) == ["'hand' is missing or empty"]
    assert answer_problems("part", ["nods"], slots) == ["answer is a list, not a JSON object"]
    assert answer_problems("global", {"description": "x", "key_body_parts": []}) == [
        "key_body_parts is missing or empty"
    ]
    assert answer_texts("part", {"head": " nods ", "hand": ""}, slots) == [("head", "nods", None)]
    assert answer_texts("global", {"description": "Waves.", "key_body_parts": ["hand", ""]}) == [
        ("", "Waves.", ["hand"])
    ]
