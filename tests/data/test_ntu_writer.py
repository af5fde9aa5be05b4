"""The NTU ``.skeleton`` writer: exact grammar, planted quirks and defects, re-read by the raw reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.data.ntu_writer import FIRST_BODY_ID, Defects, skeleton_text, write_skeleton
from crossglg.data.prepare import prepare
from crossglg.data.prepared import open_prepared
from crossglg.data.readers.base import ReadError
from crossglg.data.readers.ntu_skeleton import parse_tracks, read_unit
from crossglg.data.synthetic import generate_one, sample_name, standard_defects, write_raw
from crossglg.errors import UserError

CLASSES_TSV = Path(__file__).resolve().parents[2] / "crossglg" / "vocab" / "classes" / "synthetic.tsv"


def breaks_file(defect: Defects) -> bool:
    """Whether a correct reader must skip a file with these planted defects (rather than read it)."""
    return defect.truncate or defect.wrong_joint_count or defect.nan


def _walk(text: str) -> dict:
    """An independent line-by-line check of docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files"; returns what it saw."""
    lines = text.split("\n")
    assert lines[-1] == ""  # the file ends with a newline
    it = iter(lines[:-1])
    n_frames = int(next(it))
    seen = {"frames": n_frames, "bodies_per_frame": [], "ids": set(), "joint_counts": set()}
    for _ in range(n_frames):
        n_bodies = int(next(it))
        seen["bodies_per_frame"].append(n_bodies)
        for _ in range(n_bodies):
            body = next(it).split()
            assert len(body) == 10
            seen["ids"].add(int(body[0]))
            np.asarray(body[7:9], dtype=np.float64)  # leanX, leanY are numbers
            assert all(v.lstrip("-").isdigit() for v in body[:7] + body[9:])  # the rest are ints
            n_joints = int(next(it))
            seen["joint_counts"].add(n_joints)
            for _ in range(n_joints):
                fields = next(it).split()
                assert len(fields) == 12
                assert fields[11] in ("1", "2")
                np.asarray(fields[:11], dtype=np.float64)  # raises unless all 11 are numbers
    assert next(it, None) is None  # nothing after the last frame
    return seen


def test_exact_grammar_and_64_bit_ids() -> None:
    seq = generate_one(3, 0, seed=0, second_person=1.0)
    ids = [FIRST_BODY_ID + 3165, FIRST_BODY_ID + 3166]  # 1 apart: distinct only as integers
    seen = _walk(skeleton_text(seq, body_ids=ids))
    assert seen["frames"] == len(seq) and set(seen["bodies_per_frame"]) == {2}
    assert seen["ids"] == set(ids) and seen["joint_counts"] == {25}


def test_round_trip_through_the_raw_reader(tmp_path: Path) -> None:
    seq = generate_one(19, 4, seed=1, second_person=0.0)
    path = write_skeleton(tmp_path / f"{sample_name(19, 4)}.skeleton", seq)
    sample = read_unit(str(path)).samples[0]
    assert sample.label == 18 and sample.subject == 5 and sample.view == 1
    np.testing.assert_allclose(sample.data[:, 0], seq[:, 0], atol=2e-6, rtol=1e-6)
    assert not sample.data[:, 1].any()


def test_absent_bodies_give_zero_body_frames_and_partial_tracks() -> None:
    seq = generate_one(1, 0, seed=2, second_person=1.0)
    present = np.ones(seq.shape[:2], dtype=bool)
    present[:4] = False  # nobody in the first 4 frames
    present[10:, 1] = False  # the bystander leaves
    seen = _walk(skeleton_text(seq, present=present))
    assert seen["bodies_per_frame"][:4] == [0, 0, 0, 0]
    assert seen["bodies_per_frame"][4:10] == [2] * 6 and set(seen["bodies_per_frame"][10:]) == {1}
    tracks, valid = parse_tracks(skeleton_text(seq, present=present).encode())
    assert valid == len(seq) - 4 and sorted(len(t.frames) for t in tracks) == [6, len(seq) - 4]


def test_quirks_keep_the_file_readable() -> None:
    seq = generate_one(5, 1, seed=3, second_person=1.0)
    text = skeleton_text(seq, defects=Defects(zero_body_frames=3, noise_body=True, crlf=True))
    assert text.count("\r\n") == text.count("\n") and text.endswith("\r\n")
    seen = _walk(text.replace("\r\n", "\n"))
    assert seen["frames"] == len(seq) + 3 and seen["bodies_per_frame"].count(0) == 3
    assert 3 in seen["bodies_per_frame"] and len(seen["ids"]) == 3  # a third, noise body
    tracks, valid = parse_tracks(text.encode())
    assert valid == len(seq) and len(tracks) == 3
    noise = min(tracks, key=lambda t: len(t.frames))
    assert len(noise.frames) <= 11  # short enough for CTR-GCN's denoising to drop it


@pytest.mark.parametrize(
    ("defect", "kind"),
    [(Defects(truncate=True), "truncated"), (Defects(wrong_joint_count=True), "joints")],
)
def test_breaking_defects_make_the_reader_fail_cleanly(defect: Defects, kind: str) -> None:
    assert breaks_file(defect)
    text = skeleton_text(generate_one(2, 0, seed=4), defects=defect)
    with pytest.raises(ReadError) as err:
        parse_tracks(text.encode())
    assert err.value.kind == kind


def test_nan_defect_writes_nan_coordinates() -> None:
    text = skeleton_text(generate_one(2, 0, seed=4), defects=Defects(nan=True))
    assert text.count("nan") >= 75  # x, y, z of 25 joints
    tracks, _ = parse_tracks(text.encode())
    assert np.isnan(tracks[0].joints[0]).all() and np.isfinite(tracks[0].joints[1:]).all()


def test_bad_input_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"\[T, M, 25, 3\]"):
        skeleton_text(np.zeros((5, 1, 20, 3)))
    with pytest.raises(UserError, match="body ids"):
        skeleton_text(np.ones((5, 2, 25, 3)), body_ids=[1])


def test_raw_folder_prepares_with_its_planted_defects_reported(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    manifest = write_raw(raw, 2, seed=5, classes=[1, 2, 3, 4], second_person=0.5, defects=True)
    assert json.loads((raw / "defects.json").read_text()) == manifest
    assert len(list(raw.glob("*.skeleton"))) == 8
    names = [sample_name(c, k) for c in (1, 2, 3, 4) for k in range(2)]
    broken = {n for n, d in standard_defects(names).items() if breaks_file(d)}
    assert len(broken) == 3
    report = prepare(raw, "ntu-skeleton", tmp_path / "prepared", workers=1,
                     options={"class_file": CLASSES_TSV})  # fmt: skip
    assert report["samples"] == 5 and report["skipped"] == 3
    assert report["problems_by_kind"] == {"joints": 1, "nan": 1, "truncated": 1}
    reported = {Path(p["where"]).stem for p in report["problems"]}
    assert reported == broken
    data = open_prepared(tmp_path / "prepared")
    assert set(data.names) == set(names) - broken
    # the quirky but valid files read back to what was generated (0-body frames dropped)
    quirky = sample_name(1, 0)  # standard_defects: 3 zero-body frames
    want = generate_one(1, 0, seed=5, second_person=0.5)
    got = data.sequence(data.index_of(quirky))
    np.testing.assert_allclose(got[:, 0], want[:, 0], atol=2e-6, rtol=1e-6)


def test_cli_synth_raw_with_defects(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    res = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--per-class", "1", "--classes",
                                   "1,2,3,4,5,6,7", "--raw", "--plant-defects", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["format"] == "ntu-skeleton" and len(result["defects"]) == 7
    assert sorted(p.stem for p in out.glob("*.skeleton")) == sorted(sample_name(c, 0) for c in range(1, 8))
