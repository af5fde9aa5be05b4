"""PKU-MMD, CTR-GCN npz, pyskl pkl and the generic format, on files written in each format's grammar."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.errors import UserError

from .conftest import person, write_ctrgcn_npz, write_pku_source


def test_pku_mmd_clips(tmp_path):
    seq = write_pku_source(tmp_path / "pku")
    report = prepare(tmp_path / "pku", "pku-mmd", tmp_path / "out", workers=1)
    data = open_prepared(tmp_path / "out")
    assert data.names == ["0002-L_000010", "0002-L_000080", "0002-L_000150", "0002-L_000190"]
    assert list(data.labels) == [4, 11, 50, 6] and list(data.lengths) == [30, 41, 50, 10]
    np.testing.assert_array_equal(data.sequence(1), seq[80:121])
    assert list(data.views) == [1] * 4 and list(data.bodies) == [2, 1, 1, 1]
    assert [(p["where"], p["kind"]) for p in report["problems"]] == [
        ("0003-M", "missing"),
        ("0002-L_000190", "label"),
    ]
    assert report["skipped"] == 0
    assert data.dataset == "pku-mmd" and len(data.class_names) == 51


def test_ctrgcn_npz_with_names(tmp_path):
    arrays = write_ctrgcn_npz(tmp_path / "NTU60_CS.npz", 2, 2)
    # CS: subject 1 trains, subject 3 tests; the file is sorted, as skes_available_name.txt is
    names = ["S001C001P001R001A001", "S001C001P003R001A001", "S001C002P001R001A002", "S001C002P003R001A002"]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    prepare(tmp_path / "NTU60_CS.npz", "ctrgcn-npz", tmp_path / "out", workers=1,
            options={"names_file": tmp_path / "names.txt"})  # fmt: skip
    data = open_prepared(tmp_path / "out")
    assert data.names == [names[0], names[2], names[1], names[3]]  # train then test
    assert list(data.lengths) == [20, 21, 20, 21] and list(data.subjects) == [1, 1, 3, 3]
    # NTU-120-style copy of actor 1 in slot 2 becomes an explicit single person
    assert list(data.bodies) == [1, 2, 1, 2]
    assert not data.sequence(0)[:, 1].any()
    np.testing.assert_array_equal(data.sequence(1).reshape(21, 150), arrays["x_train"][1, :21])
    assert list(data.labels) == [1, 4, 1, 4]


def test_ctrgcn_npz_wrong_names_file(tmp_path):
    write_ctrgcn_npz(tmp_path / "NTU60_CS.npz", 2, 2)
    (tmp_path / "names.txt").write_text("S001C001P001R001A001\n")
    with pytest.raises(UserError, match="not the names file of this npz"):
        prepare(
            tmp_path / "NTU60_CS.npz",
            "ctrgcn-npz",
            tmp_path / "out",
            options={"names_file": tmp_path / "names.txt"},
        )
    assert not (tmp_path / "out").exists()


def test_ctrgcn_npz_without_names(tmp_path):
    write_ctrgcn_npz(tmp_path / "NTU60_CV.npz", 1, 1)
    prepare(tmp_path / "NTU60_CV.npz", "ctrgcn-npz", tmp_path / "out", workers=1)
    assert open_prepared(tmp_path / "out").names == ["train_000000", "test_000000"]


def test_pyskl_pickle(tmp_path):
    one, two = person(12, 1)[None], np.stack([person(9, 2), person(9, 3, offset=1)])
    content = {
        "split": {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C002P004R001A055"]},
        "annotations": [
            {
                "frame_dir": "S001C001P001R001A001",
                "label": 0,
                "keypoint": one.astype(np.float16),
                "total_frames": 12,
            },
            {
                "frame_dir": "S001C002P004R001A055",
                "label": 54,
                "keypoint": two.astype(np.float16),
                "total_frames": 9,
            },
            {
                "frame_dir": "S001C002P004R001A056",
                "label": 55,
                "keypoint": np.zeros((1, 9, 17, 3), np.float16),
            },
        ],
    }
    with open(tmp_path / "ntu60_3danno.pkl", "wb") as fh:
        pickle.dump(content, fh)
    report = prepare(tmp_path / "ntu60_3danno.pkl", "pyskl-pkl", tmp_path / "out")
    data = open_prepared(tmp_path / "out")
    assert data.names == ["S001C001P001R001A001", "S001C002P004R001A055"] and data.dataset == "ntu60"
    assert list(data.bodies) == [1, 2] and list(data.views) == [1, 2] and list(data.subjects) == [1, 4]
    np.testing.assert_array_equal(data.sequence(1)[:, 1], two[1].astype(np.float16).astype(np.float32))
    assert report["problems"][0]["where"] == "S001C002P004R001A056"
    assert report["problems"][0]["message"] == "17 joints per body, the layout has 25"


def test_generic_npz(tmp_path):
    x = np.zeros((3, 2, 10, 17, 3), np.float32)
    x[:, :, :8] = 1.0
    x[1, 0, 4, 0, 0] = np.inf
    np.savez(tmp_path / "mine.npz", x=x, labels=np.array([0, 1, 1]), names=np.array(["u", "v", "w"]),
             lengths=np.array([8, 8, 6]), class_names=np.array(["sit", "jump"]), layout=np.array("coco17"))  # fmt: skip
    report = prepare(tmp_path / "mine.npz", "generic", tmp_path / "out")
    data = open_prepared(tmp_path / "out")
    assert data.names == ["u", "w"] and list(data.lengths) == [8, 6] and data.layout == "coco17"
    assert data.class_names == ["sit", "jump"] and data.sequence(0).shape == (8, 2, 17, 3)
    assert report["problems"] == [
        {"where": "v", "kind": "nan", "message": "1 of 8 frames hold NaN or inf (first: frame 5)"}
    ]


def test_generic_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "classes.txt").write_text("wave\nbow\n")
    (src / "layout.txt").write_text("kinect20\n")
    np.save(src / "take1.npy", np.ones((6, 20, 3), np.float32))
    (src / "take2.json").write_text(json.dumps(np.full((2, 4, 20, 3), 0.5).tolist()))
    np.save(src / "take3.npy", np.ones((1, 20, 3), np.float32))  # one frame
    (src / "labels.tsv").write_text(
        "name\tlabel\tsubject\tview\ntake1\twave\t7\t1\ntake2\tbow\t3\t2\ntake3\t0\t1\t1\n"
    )
    report = prepare(src, "generic", tmp_path / "out")
    data = open_prepared(tmp_path / "out")
    assert data.names == ["take1", "take2"] and list(data.labels) == [0, 1] and list(data.subjects) == [7, 3]
    assert data.num_persons == 2 and list(data.bodies) == [1, 2] and data.layout == "kinect20"
    assert [p["kind"] for p in report["problems"]] == ["one-frame"]


def test_generic_folder_bad_label(tmp_path):
    (tmp_path / "classes.txt").write_text("wave\n")
    (tmp_path / "labels.tsv").write_text("name\tlabel\ntake1\tdance\n")
    with pytest.raises(UserError, match=r"labels.tsv:2: label 'dance' is neither"):
        prepare(tmp_path, "generic", tmp_path / "out")


def test_label_outside_the_class_list_is_skipped(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.ones((2, 5, 25, 3), np.float32), labels=np.array([0, 2]),
             names=np.array(["a", "b"]), class_names=np.array(["one", "two"]))  # fmt: skip
    report = prepare(tmp_path / "m.npz", "generic", tmp_path / "out")
    assert report["problems"] == [{"where": "b", "kind": "bad-label", "message": "label 2 outside 0..1"}]
    assert report["skipped"] == 1 and report["samples"] == 1


def test_generic_folder_broken_array_is_reported(tmp_path):
    (tmp_path / "classes.txt").write_text("wave\n")
    np.save(tmp_path / "good.npy", np.ones((4, 25, 3), np.float32))
    (tmp_path / "broken.json").write_text("[[[1, 2, 3]")  # cut short
    (tmp_path / "labels.tsv").write_text("name\tlabel\ngood\t0\nbroken\t0\n")
    report = prepare(tmp_path, "generic", tmp_path / "out")
    assert report["samples"] == 1
    assert [(p["where"].rsplit("/", 1)[-1], p["kind"]) for p in report["problems"]] == [
        ("broken.json", "unreadable")
    ]


def test_generic_folder_bad_subject(tmp_path):
    (tmp_path / "classes.txt").write_text("wave\n")
    np.save(tmp_path / "good.npy", np.ones((4, 25, 3), np.float32))
    (tmp_path / "labels.tsv").write_text("name\tlabel\tsubject\ngood\t0\tP01\n")
    with pytest.raises(UserError, match=r"labels.tsv:2: subject 'P01' is not an integer"):
        prepare(tmp_path, "generic", tmp_path / "out")


def test_ctrgcn_npz_missing_keys(tmp_path):
    np.savez(tmp_path / "NTU120_CSub.npz", x_train=np.zeros((1, 300, 150), np.float32))
    with pytest.raises(UserError, match="not a CTR-GCN npz with x_train, y_train, x_test, y_test"):
        prepare(tmp_path / "NTU120_CSub.npz", "ctrgcn-npz", tmp_path / "out")
