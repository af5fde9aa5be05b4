"""The raw NTU reader on files in the exact grammar, one pitfall each (docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossglg.data.readers import read_checked
from crossglg.data.readers.ntu_skeleton import parse_name, parse_tracks, read_unit, scan

from .conftest import CLOSE_IDS, skeleton_text


def _only(folder: Path, stem: str):
    result = read_unit(str(folder / f"{stem}.skeleton"))
    assert len(result.samples) == 1
    return result.samples[0]


def test_name_fields():
    assert parse_name("S018C003P008R001A115") == (18, 3, 8, 1, 115)
    assert parse_name("S001C001P001R001A01") is None


def test_zero_body_frame_crlf_and_64bit_id(ntu_folder):
    s = _only(ntu_folder["root"], "S001C001P001R001A001")
    assert s.data.dtype == np.float32 and s.data.shape == (40, 2, 25, 3)  # the 0-body frame is gone
    np.testing.assert_allclose(s.data[:, 0], ntu_folder["single"], atol=1e-6)
    assert not s.data[:, 1].any() and s.bodies == 1
    assert (s.label, s.subject, s.view) == (0, 1, 1)


def test_ids_that_collide_as_floats_stay_two_tracks(ntu_folder):
    raw = (ntu_folder["root"] / "S001C003P008R001A007.skeleton").read_bytes()
    tracks, valid = parse_tracks(raw)
    assert float(CLOSE_IDS[0]) == float(CLOSE_IDS[1])  # why ids must never be floats
    assert len(tracks) == 2 and valid == 24
    # the re-identified person does not overlap itself in time, so both halves fill actor 1
    s = _only(ntu_folder["root"], "S001C003P008R001A007")
    np.testing.assert_allclose(s.data[:, 0], ntu_folder["reid"], atol=1e-6)
    assert s.bodies == 1 and s.label == 6


def test_noise_and_furniture_tracks_are_dropped(ntu_folder):
    s = _only(ntu_folder["root"], "S002C002P002R002A050")
    a, b = ntu_folder["pair"]
    assert s.data.shape == (30, 2, 25, 3) and s.bodies == 2
    got = {round(float(s.data[:, k, :, 0].mean()), 3) for k in (0, 1)}
    assert got == {round(float(a[..., 0].mean()), 3), round(float(b[..., 0].mean()), 3)}
    # the wide furniture track (x from -1.5 to 1.5) and the short noise track are in neither slot
    assert s.data[..., 0].min() > -1.0 and s.data[..., 0].max() < 1.5
    assert (s.label, s.subject, s.view) == (49, 2, 2)


def test_defects_are_problems_not_exceptions(ntu_folder):
    root = ntu_folder["root"]
    kinds = {}
    for stem, kind in ntu_folder["bad"].items():
        if kind == "official-missing":
            continue
        result = read_checked("ntu-skeleton", str(root / f"{stem}.skeleton"), 25, 2, 120)
        assert result.samples == []
        kinds[stem] = result.problems[0].kind
        assert result.problems[0].message
    assert kinds == {k: v for k, v in ntu_folder["bad"].items() if v != "official-missing"}


def test_scan_drops_official_missing_and_guesses_dataset(ntu_folder):
    sc = scan(ntu_folder["root"])
    assert sc.dataset == "ntu60" and sc.layout == "ntu25" and len(sc.class_names) == 60
    assert sc.class_names[0] == "drink water"
    assert [p.where for p in sc.problems if p.kind == "official-missing"] == ["S001C002P005R002A008"]
    assert len(sc.units) == 6 and sc.expected_count == 56_578


def test_empty_file_of_zero_body_frames(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text(skeleton_text([[], [], []]))
    result = read_unit(str(path))
    assert result.samples == [] and result.problems[0].kind == "empty"
