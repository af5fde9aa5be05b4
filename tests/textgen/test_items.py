"""Which texts an answer yields (crossglg.textgen.items): the cache stores only what it is handed."""

from __future__ import annotations

import json

from crossglg.cache import BatchWriter, GenerationRow, RequestRow, open_cache, request_key
from crossglg.textgen.items import ItemTarget, answer_items, cached_items, unused_answers

SOURCE = "llamacpp:SmolLM2-135M-Instruct.Q4_1"
SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")


def _target(dataset: str = "ntu120", kind: str = "global", slots: tuple[str, ...] = (), **kw) -> ItemTarget:
    return ItemTarget(dataset, 24, "kicking", kind, 0, SOURCE, slots, **kw)


def test_an_incomplete_local_answer_yields_the_slots_it_has_in_prompt_order():
    answer = {s: f" the {s} moves " for s in SLOTS} | {"hip": "  "}
    rows = answer_items("incomplete", answer, [_target(kind="part", slots=SLOTS)])
    assert [(r.slot, r.text, r.key_body_parts) for r in rows] == [
        (s, f"the {s} moves", None) for s in SLOTS if s != "hip"
    ]
    assert {(r.dataset, r.class_id, r.kind, r.source) for r in rows} == {("ntu120", 24, "part", SOURCE)}


def test_a_global_answer_yields_its_description_and_known_body_parts():
    answer = {"description": "Swings the right leg forward.", "key_body_parts": ["right leg", " ", "aura"]}
    (row,) = answer_items("ok", answer, [_target()])
    assert (row.slot, row.text, row.key_body_parts) == (
        "",
        "Swings the right leg forward.",
        ("right leg", "aura"),
    )
    # not ok: the quality checks drop the body part that maps to no joint
    (checked,) = answer_items("incomplete", answer, [_target()])
    assert checked.key_body_parts == ("right leg",)


def test_one_answer_fans_out_to_every_target():
    answer = {"description": "Kicks.", "key_body_parts": ["leg"]}
    rows = answer_items("ok", answer, [_target(), _target(dataset="ntu60")])
    assert [r.dataset for r in rows] == ["ntu120", "ntu60"] and {r.text for r in rows} == {"Kicks."}


def test_a_degenerate_answer_yields_only_its_good_pieces_unless_accepted_whole():
    answer = {"head": "kicking", "hand": "The hands swing for balance.", **{s: "kicking" for s in SLOTS[2:]}}
    pieces = answer_items("degenerate", answer, [_target(kind="part", slots=SLOTS)])
    assert [r.slot for r in pieces] == ["hand"]
    whole = answer_items("degenerate", answer, [_target(kind="part", slots=SLOTS, accept_degenerate=True)])
    assert [r.slot for r in whole] == list(SLOTS)


def test_unusable_answers_yield_nothing():
    for status, parsed in (
        ("failed", None),
        ("refused", {"description": "x"}),
        ("ok", ["not", "an", "object"]),
    ):
        assert answer_items(status, parsed, [_target()]) == []


def _request(cache, name: str) -> str:
    messages = [{"role": "user", "content": f'Describe "{name}".'}]
    key = request_key(SOURCE, messages, {"seed": 0})
    schema = {"properties": {s: {} for s in SLOTS}, "required": list(SLOTS)}
    cache.put_requests([RequestRow(key, "llamacpp", "m", messages, {"seed": 0}, schema=schema)])
    return key


def test_a_cache_hit_files_the_stored_answer_under_new_targets(tmp_path):
    with open_cache(tmp_path / "cache.db") as cache:
        key = _request(cache, "kicking")
        answer = {"description": "Kicks.", "key_body_parts": ["leg"]}
        with BatchWriter(cache) as w:
            w.add_generation(
                GenerationRow(key, "ok", json.dumps(answer), answer), answer_items("ok", answer, [_target()])
            )
        assert (
            cached_items(cache, "f" * 64, [_target(dataset="ntu60")]) == []
        )  # nothing stored: nothing filed
        with BatchWriter(cache) as w:
            w.link(key, cached_items(cache, key, [_target(dataset="ntu60")]))
        (row,) = cache.show("ntu60", 24)
        assert (row["text"], row["request_key"], row["key_body_parts"]) == ("Kicks.", key, ["leg"])


def test_show_lists_unused_answers_with_what_is_wrong_with_them(tmp_path):
    with open_cache(tmp_path / "cache.db") as cache:
        key = _request(cache, "kicking")
        answer = {s: "kicking" for s in SLOTS}
        with BatchWriter(cache) as w:
            w.add_generation(GenerationRow(key, "degenerate", json.dumps(answer), answer))
        (unused,) = unused_answers(cache, "kicking")
    assert unused["source"] == "llamacpp:m" and unused["status"] == "degenerate"
    assert unused["problems"] == [
        "'head', 'hand', 'arm', 'hip', 'leg', 'foot' only repeat the action name 'kicking'; "
        "describe how each of them moves"
    ]
    assert unused["raw_text"] == json.dumps(answer)
