"""The phrase → joint dictionary behind k_gt (docs/EMBEDDINGS.md, "How `k_gt` is built"), on every layout."""

from __future__ import annotations

import numpy as np
import pytest

from crossglg.embeddings.joint_importance import k_gt_for
from crossglg.vocab.body_words import match_parts, match_text
from crossglg.vocab.layouts import LAYOUTS, NTU25, get_layout


def ntu(text: str) -> list[int]:
    """1-based NTU joints a text names (as in the METHOD.md tables)."""
    return sorted(j + 1 for j in match_text(text).joints)


@pytest.mark.parametrize(
    ("text", "joints"),
    [
        ("right hand", [12, 24, 25]),  # hand, hand tip, thumb
        ("left hand", [8, 22, 23]),
        ("arms", [5, 6, 7, 9, 10, 11]),  # plural: both arms
        ("the arm", [5, 6, 7, 9, 10, 11]),  # no side: both
        ("both feet", [15, 16, 19, 20]),
        ("left and right knees", [14, 18]),
        ("right wrist and left elbow", [6, 11]),
        ("hips", [1, 13, 17]),  # no side adds the base of the spine
        ("left hip", [13]),
        ("upper body", [1, 2, 21]),  # longest phrase wins over "body" words
        ("upper arm", [5, 6, 7, 9, 10, 11]),
        ("Raises the RIGHT FOREARM.", [9, 10, 11]),
        ("face and neck", [3, 4]),
        ("the dancer's elegant jazz", []),  # unknown words ignored
        ("right", []),  # a side word alone names nothing
    ],
)
def test_phrases_map_to_ntu_joints(text: str, joints: list[int]) -> None:
    assert ntu(text) == joints


def test_whole_body_and_uniform_fallback() -> None:
    assert match_text("moves the whole body").whole_body
    k, origin = k_gt_for(["entire body"], None, NTU25)
    np.testing.assert_allclose(k, np.full(25, 1 / 25))
    assert origin == "key_body_parts"
    k, origin = k_gt_for(["aura", "spirit"], "A mysterious gesture.", NTU25)
    np.testing.assert_allclose(k, np.full(25, 1 / 25))
    assert origin == "uniform"


def test_side_words_do_not_leak_between_list_entries() -> None:
    # as one string "right" would bind to "hand"; as list entries it must not
    assert sorted(j + 1 for j in match_parts(["right", "hand"]).joints) == [8, 12, 22, 23, 24, 25]


def test_list_first_then_free_text() -> None:
    k, origin = k_gt_for(None, "The person kicks forward with the right foot.", NTU25)
    assert origin == "free_text"
    assert sorted(np.flatnonzero(k) + 1) == [19, 20]
    # a list the dictionary cannot read falls back to the description
    _, origin = k_gt_for(["core rotation energy"], "Swing both arms.", NTU25)
    assert origin == "key_body_parts"  # "core" is a torso synonym
    _, origin = k_gt_for(["momentum"], "Swing both arms.", NTU25)
    assert origin == "free_text"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_gets_a_distribution(layout: str) -> None:
    lay = get_layout(layout)
    k, _ = k_gt_for(["right hand", "right arm"], None, lay)
    assert k.shape == (lay.num_joints,)
    assert k.sum() == pytest.approx(1.0)
    named = {lay.joints[i] for i in np.flatnonzero(k)}
    assert all("right" in n for n in named), named  # nothing on the left or the centre
    assert any("elbow" in n for n in named)


def test_msr20_right_hand_is_its_hand_joint() -> None:
    """MSR has no hand tips or thumbs: NTU's map onto its one hand joint, mass stays uniform."""
    lay = get_layout("msr20")
    k, _ = k_gt_for(["right hand"], None, lay)
    assert [lay.joints[i] for i in np.flatnonzero(k)] == ["right hand"]
    assert k.max() == pytest.approx(1.0)
