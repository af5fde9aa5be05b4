"""The checks behind status ``degenerate``: each kind of empty answer, and good answers left alone."""

from __future__ import annotations

from crossglg.prompts import answer_texts
from crossglg.prompts.quality import answer_quality, only_class_name, says_still

SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")
GOOD_LOCAL = {
    "head": "The head faces forward and stays level.",
    "hand": "The hands swing loosely beside the thighs.",
    "arm": "The arms swing alternately from the shoulders.",
    "hip": "The hips rotate slightly with each stride.",
    "leg": "The legs alternate steps, knees bending as each swings through.",
    "foot": "The feet strike heel first and push off from the toes.",
}


def test_a_good_answer_has_no_problems():
    assert answer_quality("part", GOOD_LOCAL, SLOTS, "walk around").ok
    good_global = {"description": "The legs step in turn while the arms swing.", "key_body_parts": ["legs"]}
    assert answer_quality("global", good_global, (), "walk around").ok


def test_class_name_echo_in_every_part_is_degenerate_and_leaves_no_text():
    answer = dict.fromkeys(SLOTS, "walk around")  # what SmolLM2 answered (issue 13)
    quality = answer_quality("part", answer, SLOTS, "walk around")
    assert quality.bad_slots == set(SLOTS)
    assert "only repeat the action name 'walk around'" in quality.problems[0]
    assert answer_texts("part", answer, SLOTS, "walk around") == []


def test_inflected_echo_and_filler_count_as_the_name():
    assert only_class_name("The person is walking around.", "walk around")
    assert only_class_name("High arm waves", "high arm wave")
    assert not only_class_name("The arm waves high above the head.", "high arm wave")


def test_near_empty_texts():
    answer = {**GOOD_LOCAL, "hand": "N/A", "foot": "..."}
    quality = answer_quality("part", answer, SLOTS, "walk around")
    assert quality.bad_slots == {"hand", "foot"}
    short = answer_quality("global", {"description": "Legs.", "key_body_parts": ["leg"]}, (), "walk")
    assert short.bad_slots == {""} and "too short" in short.problems[0]


def test_one_text_for_several_parts_is_degenerate_but_stays_still_is_not():
    answer = {**GOOD_LOCAL, "hip": "The body moves forward.", "leg": "The body moves forward."}
    quality = answer_quality("part", answer, SLOTS, "walk around")
    assert quality.bad_slots == {"hip", "leg"} and "same text" in quality.problems[0]
    # the local prompt asks for "stays still" where a part does not move: several may say it
    still = {**GOOD_LOCAL, "hip": "Stays still.", "leg": "stays still", "foot": "The feet stay still."}
    assert answer_quality("part", still, SLOTS, "high arm wave").ok
    assert says_still("The hip remains still.", "hip") and not says_still("The hip sways.", "hip")


def test_key_body_parts_that_name_no_joint():
    answer = {
        "description": "The legs step in turn while the arms swing.",
        "key_body_parts": ["legs", "balance"],
    }
    quality = answer_quality("global", answer, (), "walk around")
    assert quality.unmapped == ("balance",) and not quality.bad_slots
    # the description is kept; the unmapped entry is dropped from the stored list
    assert answer_texts("global", answer, (), "walk around") == [("", answer["description"], ["legs"])]
    whole = {"description": "The whole body turns on the spot.", "key_body_parts": ["whole body"]}
    assert answer_quality("global", whole, (), "turn around").ok
