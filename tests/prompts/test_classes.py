"""Built-in class lists equal the shared data's; user lists load with row-precise errors."""

from __future__ import annotations

import csv

import pytest

from crossglg.errors import UserError
from crossglg.vocab.classes import DATASET_LAYOUTS, builtin_names, dataset_layout, load_classes


def _shared(path) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        return [(int(r["id"]), r["name"]) for r in csv.DictReader(fh, delimiter="\t")]


def _pairs(name: str) -> list[tuple[int, str]]:
    return [(c.class_id, c.name) for c in load_classes(name).classes]


def test_builtin_lists_match_the_shared_data(real_data):
    ntu120 = _shared(real_data("ntu120_classes.tsv"))
    assert _pairs("ntu120") == ntu120 and len(ntu120) == 120
    assert _pairs("ntu60") == ntu120[:60]
    assert _pairs("pku-mmd") == _shared(real_data("pku_mmd_classes.tsv")) and len(_pairs("pku-mmd")) == 51
    assert _pairs("msr-action3d") == _shared(real_data("msr_action3d") / "classes.tsv")
    assert len(_pairs("msr-action3d")) == 20
    assert _pairs("utkinect") == _shared(real_data("utkinect_action3d") / "classes.tsv")
    assert _pairs("utkinect")[1] == (2, "sit down")


def test_every_builtin_list_has_a_layout():
    names = builtin_names()
    assert {"ntu60", "ntu120", "pku-mmd", "msr-action3d", "utkinect", "synthetic"} <= set(names)
    assert set(names) <= set(DATASET_LAYOUTS)
    assert dataset_layout("utkinect") == "kinect20" and dataset_layout("msr-action3d") == "msr20"
    with pytest.raises(UserError, match="--layout"):
        dataset_layout("mine")


def test_class_list_lookup():
    ntu = load_classes("ntu120")
    assert ntu.get(1).name == "drink water" and ntu.ids[-1] == 120
    assert [c.name for c in ntu.select([2, 3])] == ["eat meal/snack", "brushing teeth"]
    with pytest.raises(UserError, match="no class with id 121"):
        ntu.get(121)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.txt", "jump\nsquat\n\n", [(1, "jump"), (2, "squat")]),
        ("b.tsv", "id\tname\n3\tjump\n7\tsquat\n", [(3, "jump"), (7, "squat")]),
        ("c.csv", "1,jump\n2,squat\n", [(1, "jump"), (2, "squat")]),
        ("d.csv", 'name,id\n"jump, high",4\n', [(4, "jump, high")]),
        ("e.csv", "\ufeffid,name\n1,café\n", [(1, "café")]),
    ],
)
def test_user_files_load(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    cl = load_classes(str(path))
    assert [(c.class_id, c.name) for c in cl.classes] == expected
    assert cl.name == path.stem and cl.source == str(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.tsv", "id\tname\n1\tjump\nx\tsquat\n", "row 3: id 'x' is not an integer"),
        ("b.csv", "1,jump\n1,squat\n", "row 2: id 1 already used on row 1"),
        ("c.csv", "1,jump\n2,Jump\n", "row 2: class 'Jump' already listed on row 1"),
        ("d.csv", "1,jump\n2,\n", "row 2: empty class name"),
        ("e.txt", "jump\n\nsquat\n", "row 2: empty class name"),
        ("f.csv", "0,jump\n", "row 1: id 0 must be >= 1"),
        ("g.tsv", "id\tlabel\n1\tjump\n", "row 1: header must have 'id' and 'name'"),
        ("h.tsv", "1 jump\n", "row 1: expected id and name"),
        ("i.json", "[]", "must end in .txt, .tsv or .csv"),
        ("j.txt", "\n\n", "no classes"),
    ],
)
def test_bad_user_files_name_file_and_row(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        load_classes(str(path))
    assert str(info.value).startswith(str(path))


def test_unknown_list_is_a_user_error():
    with pytest.raises(UserError, match="neither a built-in class list"):
        load_classes("ntu999")
