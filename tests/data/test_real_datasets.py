"""MSR Action3D and UTKinect-Action3D read from the real files (``$CROSSGLG_DATA``, docs/DATA.md)."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.errors import UserError


@pytest.fixture(scope="module")
def msr(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("msr") / "prepared"
    report = prepare(real_data("msr_action3d"), "msr-action3d", out, workers=2)
    return report, open_prepared(out)


@pytest.fixture(scope="module")
def utk(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("utk") / "prepared"
    report = prepare(real_data("utkinect_action3d"), "utkinect", out, workers=1)
    return report, open_prepared(out)


def test_msr_counts(msr):
    report, data = msr
    assert report["units"] == 567
    # the all-zero a13_s09_e02 is the one file skipped
    assert report["samples"] == 566 and report["skipped"] == 1
    assert report["problems"] == [
        {"where": "a13_s09_e02", "kind": "all-zero", "message": "every coordinate is 0"}
    ]
    assert report["missing_vs_official"] == []  # all 557 names of the CVPR 2012 list are present
    per_action = Counter(int(label) + 1 for label in data.labels)
    want = {a: 27 for a in (1, 2, 3)} | {a: 26 for a in (4, 5, 6)} | {7: 28} | {a: 30 for a in range(8, 15)}
    want |= {15: 20} | {a: 30 for a in range(16, 21)}
    want[13] -= 1  # a13_s09_e02
    assert per_action == want
    per_subject = Counter(int(s) for s in data.subjects)
    assert per_subject == {1: 60, 2: 59, 3: 56, 4: 38, 5: 57, 6: 58, 7: 59, 8: 60, 9: 59, 10: 60}
    assert (data.lengths.min(), data.lengths.max()) == (13, 936)
    assert data.layout == "msr20" and data.class_names[0] == "high arm wave" and data.num_persons == 1


def test_msr_values_match_the_text_file(msr, real_data):
    _, data = msr
    i = data.index_of("a05_s03_e02")
    raw = np.loadtxt(real_data("msr_action3d/real_world_coordinates/a05_s03_e02_skeleton3D.txt"))
    np.testing.assert_array_equal(data.sequence(i)[:, 0], raw.reshape(-1, 20, 4)[..., :3].astype(np.float32))
    assert data.labels[i] == 4 and data.subjects[i] == 3


def test_utkinect_segments(utk, real_data):
    report, data = utk
    assert report["samples"] == 199 and report["skipped"] == 0
    assert [p["where"] for p in report["problems"]] == ["s10_e02_carry"]  # the NaN range
    assert report["missing_vs_official"] == ["s10_e02_carry"]
    assert (data.lengths.min(), data.lengths.max(), round(float(data.lengths.mean()), 1)) == (5, 114, 30.1)
    assert Counter(int(c) for c in data.labels) == {c: 20 for c in range(10)} | {4: 19}
    # rows are selected by frame id: s01_e01 push is 1686..1748 inclusive
    i = data.index_of("s01_e01_push")
    a = np.loadtxt(real_data("utkinect_action3d/joints/joints_s01_e01.txt"))
    rows = (a[:, 0] >= 1686) & (a[:, 0] <= 1748)
    np.testing.assert_array_equal(data.sequence(i)[:, 0], a[rows, 1:].reshape(-1, 20, 3).astype(np.float32))
    assert data.class_names[data.labels[i]] == "push" and data.layout == "kinect20"


def test_utkinect_original_label_file(real_data, tmp_path):
    report = prepare(real_data("utkinect_action3d"), "utkinect", tmp_path / "p", workers=1,
                     options={"label_file": "original"})  # fmt: skip
    f = report["frames"]
    assert (report["samples"], f["min"], f["max"], round(f["mean"], 1)) == (199, 5, 174, 31.3)


def test_utkinect_as_published_without_the_reference_tables(real_data, tmp_path):
    """The public download has joints_*.txt and actionLabel.txt only: no classes.tsv, no corrected labels."""
    public = tmp_path / "utk"
    public.mkdir()
    for f in (real_data("utkinect_action3d") / "joints").iterdir():
        if f.name.startswith("joints_") or f.name == "actionLabel.txt":
            shutil.copy(f, public / f.name)
    with pytest.raises(
        UserError, match=r"actionLabel_modified\.txt: label file not found .*--label-file original"
    ):
        prepare(public, "utkinect", tmp_path / "refused", workers=1)
    report = prepare(public, "utkinect", tmp_path / "p", workers=1, options={"label_file": "original"})
    reference = prepare(real_data("utkinect_action3d"), "utkinect", tmp_path / "ref", workers=1,
                        options={"label_file": "original"})  # fmt: skip
    assert report["samples"] == reference["samples"] == 199
    ours, theirs = open_prepared(tmp_path / "p"), open_prepared(tmp_path / "ref")
    assert ours.class_names == theirs.class_names and ours.class_names[1] == "sit down"
    assert list(ours.names) == list(theirs.names)
    np.testing.assert_array_equal(ours.labels, theirs.labels)
