"""Part sets: parts6, the joints of each layout, custom files."""

from __future__ import annotations

import pytest

from crossglg.errors import UserError
from crossglg.vocab.layouts import LAYOUTS, get_layout
from crossglg.vocab.parts import part_set


def test_parts6_is_the_default():
    ps = part_set()
    assert ps.name == "parts6" and ps.kind == "part"
    assert ps.slots == ("head", "hand", "arm", "hip", "leg", "foot")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_joints_follow_each_layout(layout):
    ps = part_set("joints", layout)
    assert ps.kind == "joint" and ps.slots == get_layout(layout).joints
    assert len(ps.slots) == {"ntu25": 25, "kinect20": 20, "msr20": 20, "coco17": 17}[layout]


def test_ntu_joint_names_are_the_shared_list(real_data):
    lines = (real_data("ntu_protocols") / "ntu_joints.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    names = tuple(line.split("\t")[header.index("name")] for line in lines[1:] if line.strip())
    assert part_set("joints", "ntu25").slots == names


def test_joints_need_a_layout():
    with pytest.raises(UserError, match="needs a skeleton layout"):
        part_set("joints")
    with pytest.raises(UserError, match="unknown skeleton layout"):
        part_set("joints", "kinect99")


def test_custom_part_file(tmp_path):
    path = tmp_path / "arms.txt"
    path.write_text("# arms only\nhand\narm\n\n", encoding="utf-8")
    ps = part_set(str(path), "ntu25")
    assert (ps.name, ps.kind, ps.slots) == ("arms", "part", ("hand", "arm"))
    path.write_text("left hand\nright hand\n", encoding="utf-8")
    assert part_set(str(path), "ntu25").kind == "joint"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hand\ntail\n", "row 2: 'tail' is neither a body part nor a joint of layout ntu25"),
        ("hand\nhand\n", "row 2: 'hand' listed twice"),
        ("hand\nleft hand\n", "mixes body parts and joints"),
        ("\n# nothing\n", "no part or joint names"),
    ],
)
def test_bad_part_files(tmp_path, content, message):
    path = tmp_path / "parts.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        part_set(str(path), "ntu25")
    assert str(info.value).startswith(str(path))


def test_unknown_part_set_and_missing_layout(tmp_path):
    with pytest.raises(UserError, match="neither a part set"):
        part_set("parts7", "ntu25")
    path = tmp_path / "p.txt"
    path.write_text("hand\n")
    with pytest.raises(UserError, match="needs a skeleton layout"):
        part_set(str(path))
