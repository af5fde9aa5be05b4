"""Hostile input to `crossglg data prepare`: one bad sample costs one sample, in every reader.

Issue #11 item 4 and its smaller relatives: bad samples inside multi-sample units, path
traversal in labels.tsv, symlinks out of the source folder, and protocol files.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.errors import UserError

SECRET = "root:x:0:0:secret-first-line"


def _moving(n: int, t: int, v: int, seed: int = 0) -> np.ndarray:
    """n distinct moving sequences [n, t, v, 3]: every one passes the sample checks."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 1, v, 3)) + 0.1 * rng.normal(size=(n, t, v, 3))).astype(np.float32)


@pytest.mark.parametrize(
    "spoil",
    ["all-zero", "zero-length", "one-frame", "negative-length", "nan"],
)
def test_one_bad_sample_in_a_600_sample_npz_costs_one_sample(tmp_path, spoil):
    n, t = 600, 12
    x = _moving(n, t, 25)
    lengths = np.full(n, t)
    bad = 300  # in the first 512-sample chunk
    if spoil == "all-zero":
        x[bad] = 0
    elif spoil == "zero-length":
        lengths[bad] = 0
    elif spoil == "one-frame":
        lengths[bad] = 1
    elif spoil == "negative-length":
        lengths[bad] = -4
    else:
        x[bad, 3, 2, 1] = np.nan
    names = np.array([f"s{i:04d}" for i in range(n)])
    keys = {"lengths": lengths} if spoil != "all-zero" else {}  # all-zero: padding trimmed to nothing
    np.savez(tmp_path / "big.npz", x=x, labels=np.arange(n) % 3, names=names,
             class_names=np.array(["a", "b", "c"]), **keys)  # fmt: skip
    report = prepare(tmp_path / "big.npz", "generic", tmp_path / "out", workers=1)
    assert report["samples"] == n - 1
    assert report["skipped"] == 1
    assert [p["where"] for p in report["problems"]] == [names[bad]]
    assert open_prepared(tmp_path / "out").names == [s for s in names if s != names[bad]]


def test_a_unit_that_fails_whole_counts_every_sample_it_held(tmp_path):
    """A truncated recording loses all its labelled segments; the report says how many."""
    root = tmp_path / "utk"
    (root / "joints").mkdir(parents=True)
    (root / "classes.tsv").write_text("id\tlabel_in_file\tname\n1\twalk\twalk\n2\tsitDown\tsit down\n")
    rows = [[f, *np.random.default_rng(f).normal(size=60)] for f in range(10, 40)]
    np.savetxt(root / "joints" / "joints_s01_e01.txt", rows, fmt="%.4f")
    (root / "joints" / "joints_s01_e02.txt").write_text("12 0.1 0.2\n")  # truncated
    (root / "joints" / "actionLabel_modified.txt").write_text(
        "s01_e01\nwalk: 10 20\nsitDown: 21 30\ns01_e02\nwalk: 1 5\nsitDown: 6 9\n"
    )
    report = prepare(root, "utkinect", tmp_path / "out", workers=1)
    assert report["samples"] == 2
    assert report["skipped"] == 2
    (problem,) = report["problems"]
    assert problem["kind"] == "truncated" and problem["samples"] == 2


def test_one_bad_annotation_in_a_pyskl_pickle_costs_one_sample(tmp_path):
    rng = np.random.default_rng(0)
    good = [
        {"frame_dir": f"S001C001P001R001A{a:03d}", "label": a - 1,
         "keypoint": rng.normal(size=(1, 10, 25, 3)).astype(np.float16)}
        for a in (1, 2, 3)
    ]  # fmt: skip
    ragged = {"frame_dir": "S001C001P001R001A004", "label": 3, "keypoint": [[1.0, 2.0], [3.0]]}
    bad_label = {"frame_dir": "S001C001P001R001A005", "label": "five", "keypoint": good[0]["keypoint"]}
    with open(tmp_path / "ntu60_3danno.pkl", "wb") as fh:
        pickle.dump({"split": {}, "annotations": [good[0], ragged, good[1], bad_label, good[2], "junk"]}, fh)
    report = prepare(tmp_path / "ntu60_3danno.pkl", "pyskl-pkl", tmp_path / "out")
    assert report["samples"] == 3 and report["skipped"] == 3
    assert [p["where"] for p in report["problems"]] == [
        "S001C001P001R001A004", "S001C001P001R001A005", "sample_000005"
    ]  # fmt: skip


class _Payload:
    """Unpickling this calls os.system: a crafted 'pyskl' file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pyskl_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "ntu60_3danno.pkl", "wb") as fh:
        pickle.dump({"annotations": [_Payload(marker)]}, fh)
    with pytest.raises(UserError, match=r"refers to posix\.system"):
        prepare(tmp_path / "ntu60_3danno.pkl", "pyskl-pkl", tmp_path / "out")
    assert not marker.exists()


def test_a_bad_label_line_in_pku_costs_that_clip_only(tmp_path):
    root = tmp_path / "pku"
    (root / "skeleton").mkdir(parents=True)
    (root / "label").mkdir()
    np.savetxt(root / "skeleton" / "0002-L.txt", np.random.default_rng(0).normal(size=(100, 150)), fmt="%.4f")
    (root / "label" / "0002-L.txt").write_text("5,10,39,1\nfive,40,50,1\n7,60,80,1\n3,500,600,1\n")
    report = prepare(root, "pku-mmd", tmp_path / "out", workers=1)
    assert report["samples"] == 2
    # the malformed line and the clip starting after the sequence's end are both lost samples
    assert report["skipped"] == 2
    assert sorted(p["kind"] for p in report["problems"]) == ["empty", "unreadable"]


def test_labels_tsv_names_cannot_leave_the_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(tmp_path / "x.npy", _moving(1, 5, 25)[0])  # outside the data folder
    (src / "classes.txt").write_text("wave\n")
    (src / "labels.tsv").write_text("name\tlabel\n../x\t0\n")
    with pytest.raises(UserError, match=r"labels.tsv:2: name '../x' is not a plain file name"):
        prepare(src, "generic", tmp_path / "out")
    os.symlink(tmp_path / "x.npy", src / "link.npy")
    (src / "labels.tsv").write_text("name\tlabel\nlink\t0\n")
    with pytest.raises(UserError, match=r"name 'link' is not a plain file name"):
        prepare(src, "generic", tmp_path / "out")


def test_a_symlinked_skeleton_is_not_read_and_its_target_not_quoted(tmp_path):
    from tests.data.conftest import person, skeleton_text

    src = tmp_path / "ntu"
    src.mkdir()
    secret = tmp_path / "passwd"
    secret.write_text(SECRET + "\nmore\n")
    os.symlink(secret, src / "S001C001P001R001A002.skeleton")
    (src / "S001C001P001R001A001.skeleton").write_text(skeleton_text([[(7, j)] for j in person(20, 1)]))
    (src / "S001C001P001R001A003.skeleton").write_text(SECRET + "\n")  # a non-data file in place
    report = prepare(src, "ntu-skeleton", tmp_path / "out", workers=1)
    assert report["samples"] == 1
    text = json.dumps(report) + (tmp_path / "out" / "report.md").read_text()
    assert "secret-first-line" not in text and "root:x" not in text
    kinds = {p["where"].rsplit("/", 1)[-1]: p["kind"] for p in report["problems"]}
    assert kinds == {
        "S001C001P001R001A002.skeleton": "outside",
        "S001C001P001R001A003.skeleton": "unreadable",
    }


def test_a_non_numeric_msr_file_is_not_quoted(tmp_path):
    (tmp_path / "a01_s01_e01_skeleton3D.txt").write_text(SECRET + " 1 2 3\n")
    with pytest.raises(UserError) as err:
        prepare(tmp_path, "msr-action3d", tmp_path / "out", workers=1)
    assert "secret" not in str(err.value)
    assert str(err.value) == (
        f"{tmp_path}: no sample could be read ({tmp_path}/a01_s01_e01_skeleton3D.txt: not a table of numbers "
        "(token 1 is not a number)); nothing written"
    )
    assert not (tmp_path / "out").exists()


def test_a_rerun_that_reads_nothing_keeps_the_cache_it_would_replace(tmp_path):
    """With --force, an empty result used to replace a good cache (and exit 0)."""
    good, bad, out = tmp_path / "good", tmp_path / "bad", tmp_path / "out"
    good.mkdir(), bad.mkdir()
    frames = "\n".join(f"{j * 0.1:.1f} {f * 0.2:.1f} 2.0 1" for f in range(3) for j in range(20))
    (good / "a01_s01_e01_skeleton3D.txt").write_text(frames + "\n")
    (bad / "a01_s01_e01_skeleton3D.txt").write_text("x y z c\n")
    assert prepare(good, "msr-action3d", out, workers=1)["samples"] == 1
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(UserError, match=r"bad: no sample could be read \(.*bad/a01_s01_e01_skeleton3D.txt: "):
        prepare(bad, "msr-action3d", out, workers=1, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial folder left
