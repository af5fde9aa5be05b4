"""Answer classification, request planning and backend selection (no network)."""

from __future__ import annotations

import pytest

from crossglg.errors import UserError
from crossglg.prompts.answers import answer_schema
from crossglg.textgen.backends import make_backend
from crossglg.textgen.backends.llamacpp import bounded_schema
from crossglg.textgen.backends.openai_api import default_json_mode, parse_retry_after
from crossglg.textgen.parsing import parse_answer
from crossglg.textgen.plan import GenParams, build_plan, select_classes

PARTS = ("head", "hand", "arm", "hip", "leg", "foot")
LOCAL = '{"head": "h", "hand": "x", "arm": "a", "hip": "p", "leg": "l", "foot": "f"}'


@pytest.mark.parametrize(
    ("text", "kind", "finish", "status"),
    [
        ('{"description": "d", "key_body_parts": ["hand"]}', "global", "stop", "ok"),
        ('```json\n{"description": "d", "key_body_parts": ["hand"]}\n```', "global", "stop", "ok"),
        (
            'Here it is: {"description": "d", "key_body_parts": ["hand"]} Hope it helps.',
            "global",
            "stop",
            "ok",
        ),
        (LOCAL, "part", "stop", "ok"),
        ('{"head": "h", "hand": ""}', "part", "stop", "incomplete"),
        ('{"head": "h", "hand": "x", "arm', "part", "length", "truncated"),
        ("no json at all", "part", "stop", "invalid_json"),
        ("", "global", "stop", "invalid_json"),
        ('["a", "list"]', "global", "stop", "invalid_json"),
        ('{"description": "  ", "key_body_parts": []}', "global", "stop", "incomplete"),
    ],
)
def test_parse_answer_statuses(text, kind, finish, status):
    slots = () if kind == "global" else PARTS
    assert parse_answer(text, kind, slots, finish).status == status


def test_line_fallback_maps_plurals_and_case():
    text = (
        "1. Head: tilts back\n- **Hands**: lift the cup\nArm - bends\nhip: still\nLeg: still\nFOOT: still\n"
    )
    parsed = parse_answer(text, "part", PARTS, "stop")
    assert parsed.status == "ok"
    assert parsed.answer["hand"] == "lift the cup" and parsed.answer["arm"] == "bends"
    partial = parse_answer("head: nods\nsomething else", "part", PARTS, "stop")
    assert partial.status == "incomplete" and "'hand' is missing or empty" in partial.problems


def test_refusal_wins():
    assert parse_answer(None, "global", (), "stop", refusal="no").status == "refused"


def test_retry_after_headers():
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({}) is None


def test_json_modes_by_model():
    assert default_json_mode("gpt-4o-mini", hosted=True) == "json_schema"
    assert default_json_mode("gpt-4-turbo", hosted=True) == "json_object"
    assert default_json_mode("gpt-4", hosted=True) == "prompt"
    assert default_json_mode("anything", hosted=False) == "json_schema"


def test_bounded_schema_caps_arrays_and_strings():
    schema = bounded_schema(answer_schema("global"))
    parts = schema["properties"]["key_body_parts"]
    assert parts["maxItems"] == 8 and parts["items"]["maxLength"] == 60
    assert schema["properties"]["description"]["maxLength"] == 400
    assert bounded_schema(answer_schema("part", PARTS))["properties"]["head"]["maxLength"] == 400


def test_make_backend_routes():
    assert make_backend("gpt-4o").source == "openai:gpt-4o"
    server = make_backend("qwen", base_url="http://127.0.0.1:1/v1")
    assert server.source == "server:qwen" and server.base_url == "http://127.0.0.1:1/v1"
    with pytest.raises(UserError, match="--llm NAME"):
        make_backend("local", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(UserError, match="no such GGUF"):
        make_backend("/nowhere/model.gguf")
    vllm = make_backend("some/model", backend="vllm")  # building needs no vllm (dry runs, run-batch files)
    assert vllm.source == "vllm:some/model"
    with pytest.raises(UserError, match="vllm is not installed"):  # sending does
        vllm.prepare()


def test_plan_keys_exclude_transport_and_depend_on_params():
    sel = select_classes("utkinect", class_ids=[1, 2])
    a = build_plan(sel, make_backend("m", base_url="http://127.0.0.1:1/v1"), GenParams())
    b = build_plan(sel, make_backend("m", base_url="http://10.0.0.2:9/v1"), GenParams())
    assert a.keys == b.keys and len(a.keys) == 4 and len(set(a.keys)) == 4
    c = build_plan(sel, make_backend("m", base_url="http://127.0.0.1:1/v1"), GenParams(temperature=0.7))
    assert not set(a.keys) & set(c.keys)
    d = build_plan(sel, make_backend("m", base_url="http://127.0.0.1:1/v1"), GenParams(), salt="x")
    assert not set(a.keys) & set(d.keys)
    # per-sample seeds differ and are stored with the request
    s = build_plan(sel, make_backend("m", base_url="http://127.0.0.1:1/v1"), GenParams(), samples=2)
    assert len(s.requests) == 8 and len({p.chat.seed for p in s.requests}) == 8
    assert all(p.row.seed == p.chat.seed for p in s.requests)


def test_shared_class_names_share_requests():
    # ntu60 and ntu120 name class 1 alike: same prompt, same key, two item targets
    backend = make_backend("m", base_url="http://127.0.0.1:1/v1")
    p60 = build_plan(select_classes("ntu60", class_ids=[1]), backend, GenParams())
    p120 = build_plan(select_classes("ntu120", class_ids=[1]), backend, GenParams())
    assert p60.keys == p120.keys


def test_class_selection_rules(tmp_path):
    assert len(select_classes("ntu120").classes) == 120
    assert select_classes("ntu120").note and "all 120 classes" in select_classes("ntu120").note
    base = select_classes(protocol="ntu120")
    assert len(base.classes) == 100 and base.note is None and base.dataset == "ntu120"
    assert 1 not in {c.class_id for c in base.classes}  # class 1 is novel in the built-in protocol
    assert len(select_classes(protocol="ntu120", include_novel=True).classes) == 120
    with pytest.raises(UserError, match="belongs to dataset ntu120"):
        select_classes("ntu60", protocol="ntu120")
    with pytest.raises(UserError, match="not a built-in class list"):
        select_classes("kinetics")
    with pytest.raises(UserError, match="name the classes"):
        select_classes()
    own = tmp_path / "mine.tsv"
    own.write_text("id\tname\n7\tjuggle\n9\tbow\n")
    sel = select_classes(classes_file=own, parts="joints", layout="coco17")
    assert sel.dataset == "mine" and [c.class_id for c in sel.classes] == [7, 9]
    assert sel.parts.kind == "joint" and len(sel.parts.slots) == 17
