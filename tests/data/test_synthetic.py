"""The synthetic action generator: shapes, seeds, names, body-part claims, protocol, cache, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.data.prepared import open_prepared
from crossglg.data.splits import split_prepared
from crossglg.data.synthetic import (
    ACTIONS,
    PART_JOINTS,
    class_names,
    generate,
    generate_one,
    sample_name,
    write_prepared,
)
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes
from crossglg.vocab.layouts import NTU25
from crossglg.vocab.protocols import get_protocol
from tests.helpers import run_script

NTU_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")


def _motion(seq: np.ndarray) -> np.ndarray:
    """Per-joint mean distance from its average position, relative to the spine base [V]."""
    rel = seq - seq[:, :1]
    return np.linalg.norm(rel - rel.mean(axis=0), axis=-1).mean(axis=0)


def _bone_lengths(seq: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(seq[:, c] - seq[:, p], axis=-1) for c, p in NTU25.bones], axis=1)


def test_about_forty_distinct_named_actions() -> None:
    assert len(ACTIONS) == 40
    assert [a.id for a in ACTIONS] == list(range(1, 41))
    assert len(set(class_names())) == 40
    for required in ("wave right hand", "kick left leg", "nod head", "squat", "clap hands",
                     "raise both arms", "turn torso", "hop on left foot", "march in place"):  # fmt: skip
        assert required in class_names()
    for a in ACTIONS:
        assert a.parts and all(p in PART_JOINTS for p in a.parts)


def test_shapes_labels_and_ntu_style_names() -> None:
    data = generate(3, seed=0, classes=[1, 17, 40])
    assert len(data.sequences) == len(data.names) == 9
    assert data.labels.tolist() == [0, 0, 0, 16, 16, 16, 39, 39, 39]
    for seq, name, label in zip(data.sequences, data.names, data.labels, strict=True):
        assert seq.dtype == np.float32 and seq.ndim == 4 and seq.shape[1:] == (seq.shape[1], 25, 3)
        assert 16 <= seq.shape[0] <= 300 and seq.shape[1] in (1, 2)
        assert np.isfinite(seq).all()
        fields = NTU_NAME.match(name)
        assert fields and int(fields[5]) == label + 1 and int(fields[1]) >= 101  # never a real NTU setup
    assert len(set(data.names)) == 9
    assert sample_name(7, 0) == "S101C001P001R001A007"
    assert sample_name(7, 61) == "S102C001P002R001A007"


def test_camera_space_like_kinect() -> None:
    seq = generate_one(4, 10, seed=1, second_person=0.0, noise=False)[:, 0]  # camera 2: frontal
    assert np.all((seq[..., 2] > 2.0) & (seq[..., 2] < 4.5))  # metres in front of the sensor
    assert seq[:, 3, 1].mean() > seq[:, 0, 1].mean() > seq[:, 15, 1].mean()  # head above hips above feet
    assert seq[0, 8, 0] > seq[0, 4, 0]  # facing the sensor, the right shoulder is at +x


def test_deterministic_under_a_seed_and_independent_of_batch_size() -> None:
    a = generate(2, seed=5, classes=[3, 9])
    b = generate(2, seed=5, classes=[3, 9])
    c = generate(2, seed=6, classes=[3, 9])
    for x, y in zip(a.sequences, b.sequences, strict=True):
        assert np.array_equal(x, y)
    assert not all(
        x.shape == y.shape and np.allclose(x, y) for x, y in zip(a.sequences, c.sequences, strict=True)
    )
    bigger = generate(4, seed=5, classes=[9])
    assert np.array_equal(bigger.sequences[1], a.sequences[3])  # sample (class 9, k=1) is unchanged


def test_variation_speed_viewpoint_and_second_person() -> None:
    data = generate(12, seed=2, classes=[1], second_person=0.5)
    lengths = {len(s) for s in data.sequences}
    assert len(lengths) > 6  # speed and repetitions vary
    persons = [s.shape[1] for s in data.sequences]
    assert 1 in persons and 2 in persons
    assert {s.shape[1] for s in generate(3, seed=2, classes=[1], second_person=0.0).sequences} == {1}
    assert {s.shape[1] for s in generate(3, seed=2, classes=[1], second_person=1.0).sequences} == {2}
    # the facing direction (left → right shoulder) turns with the camera
    headings = []
    for k in (0, 10, 20):  # cameras 1, 2, 3
        seq = generate_one(1, k, seed=2, second_person=0.0, noise=False)[0, 0]
        d = seq[8] - seq[4]
        headings.append(np.degrees(np.arctan2(d[2], d[0])))
    assert headings[0] < headings[1] < headings[2] or headings[0] > headings[1] > headings[2]
    assert abs(headings[0] - headings[2]) > 40


def test_body_is_rigid_and_proportions_belong_to_the_subject() -> None:
    a = generate_one(26, 0, seed=3, second_person=0.0, noise=False)[:, 0]  # squat, subject 1
    bones = _bone_lengths(a)
    assert np.allclose(bones, bones[0], atol=1e-5)  # limbs keep their length while moving
    same_subject = generate_one(1, 10, seed=3, second_person=0.0, noise=False)[:, 0]  # subject 1 again
    other_subject = generate_one(1, 1, seed=3, second_person=0.0, noise=False)[:, 0]  # subject 2
    assert np.allclose(_bone_lengths(same_subject)[0], bones[0], atol=1e-5)
    assert not np.allclose(_bone_lengths(other_subject)[0], bones[0], atol=1e-3)


def test_wave_right_hand_moves_the_right_hand_not_the_left_foot() -> None:
    for k in range(3):
        m = _motion(generate_one(1, k, seed=0, second_person=0.0, noise=False)[:, 0])
        right_hand = m[[11, 23, 24]].mean()
        assert right_hand > 0.1
        assert right_hand > 20 * max(m[15], 1e-4)
        assert right_hand > 20 * max(m[[7, 21, 22]].mean(), 1e-4)  # nor the left hand


@pytest.mark.parametrize("action", [a for a in ACTIONS if "whole body" not in a.parts], ids=lambda a: a.name)
def test_each_action_moves_the_parts_it_claims(action) -> None:
    claimed = sorted({j for p in action.parts for j in PART_JOINTS[p]})
    others = [j for j in range(1, 25) if j not in claimed]
    for k in range(2):
        m = _motion(generate_one(action.id, k, seed=1, second_person=0.0, noise=False)[:, 0])
        assert m[claimed].max() > 0.02, "the claimed parts barely move"
        assert m[claimed].mean() > 3 * m[others].mean() + 1e-4


@pytest.mark.parametrize("action", [a for a in ACTIONS if "whole body" in a.parts], ids=lambda a: a.name)
def test_whole_body_actions_move_the_whole_body(action) -> None:
    seq = generate_one(action.id, 0, seed=1, second_person=0.0, noise=False)[:, 0]
    travel = np.linalg.norm(seq - seq.mean(axis=0), axis=-1).mean(axis=0)
    assert travel[[3, 11, 7, 19, 15]].min() > 0.03  # head, both hands, both feet


def test_class_list_file_matches_the_generator() -> None:
    classes = load_classes("synthetic")
    assert [(c.class_id, c.name) for c in classes.classes] == [(a.id, a.name) for a in ACTIONS]


def test_protocol_novel_classes_share_parts_with_base_classes() -> None:
    p = get_protocol("synthetic")
    assert len(p.base_class_ids) == 30 and len(p.novel_class_ids) == 10
    assert set(p.base_class_ids) | set(p.novel_class_ids) == set(range(1, 41))
    assert p.exemplars == tuple(sample_name(c, 0) for c in p.novel_class_ids)
    base_parts = {part for c in p.base_class_ids for part in ACTIONS[c - 1].parts}
    for c in p.novel_class_ids:
        assert set(ACTIONS[c - 1].parts) <= base_parts


def test_prepared_cache_round_trip_and_protocol_counts(tmp_path: Path) -> None:
    out = write_prepared(tmp_path / "syn", 3, seed=9, second_person=0.5)
    data = open_prepared(out)
    assert data.dataset == "synthetic" and data.layout == "ntu25" and len(data) == 120
    assert data.class_names == class_names()
    i = data.index_of(sample_name(12, 2))
    assert data.labels[i] == 11 and data.subjects[i] == 3 and data.views[i] == 1
    want = generate_one(12, 2, seed=9, second_person=0.5)
    got = data.sequence(i)
    assert got.shape == (len(want), 2, 25, 3)
    assert np.array_equal(got[:, : want.shape[1]], want)
    counts = split_prepared(data, get_protocol("synthetic")).counts()
    assert counts == {"auxiliary": 90, "validation": 15, "exemplars": 10, "queries": 20}
    with pytest.raises(UserError, match="already exists"):
        write_prepared(out, 1, seed=9)


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="no class 41"):
        generate(1, classes=[41])
    with pytest.raises(UserError, match="samples per class"):
        generate(0)
    with pytest.raises(UserError, match="probability"):
        generate(1, second_person=1.5)


def test_cli_synth_writes_a_prepared_cache(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "syn"
    res = runner.invoke(app, ["data", "synth", "--out", str(out), "--per-class", "2", "--seed", "3",
                              "--classes", "1,2,19", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["samples"] == 6
    data = open_prepared(out)
    assert sorted(set(data.labels.tolist())) == [0, 1, 18]
    again = generate(2, seed=3, classes=[1, 2, 19])
    assert np.array_equal(data.sequence(5)[:, : again.sequences[5].shape[1]], again.sequences[5])
    res = runner.invoke(app, ["data", "synth", "--out", str(out), "--plant-defects"])
    assert res.exit_code != 0


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        # every sample of class 1 written twice under one name: a cache no command could open
        ("1,1", "--classes names class 1 twice; name each class once"),
        # an unset shell variable meant all 40 classes
        ("", "--classes names no class (''); leave it out for all 40"),
        (" , ", "--classes names no class (' , '); leave it out for all 40"),
    ],
)
def test_synth_classes_that_name_no_class_or_one_twice_are_refused(
    tmp_path, classes: str, message: str
) -> None:
    proc = run_script("crossglg", "data", "synth", "--out", tmp_path / "s", "-n", "1", "--classes", classes)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr
    assert not (tmp_path / "s").exists()
    proc = run_script(
        "crossglg", "data", "synth", "--out", tmp_path / "s", "-n", "1", "--classes", "3,1", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert sorted(index["samples"]["labels"]) == [0, 2]
