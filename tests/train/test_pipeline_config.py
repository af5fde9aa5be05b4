"""Input-pipeline keys, persons from the data and held-out auxiliary folds, on real MSR Action3D."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossglg.data.prepare import prepare
from crossglg.errors import UserError
from crossglg.train.config import TrainConfig, load_config
from crossglg.train.data import RunData, holdout_fold


@pytest.fixture(scope="module")
def msr(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("msr") / "prepared"
    prepare(real_data("msr_action3d"), "msr-action3d", out, workers=2)
    return out


def _cfg(msr, **over) -> TrainConfig:
    cfg = TrainConfig(data=str(msr), protocol="msr-action3d", no_text=True, **over)
    cfg.validate()
    return cfg


def test_holdout_folds_are_consecutive_groups_of_the_sorted_ids() -> None:
    ids = [10, 3, 1, 2, 4, 5, 6, 7, 8, 9]
    assert [holdout_fold(ids, 3, f) for f in range(3)] == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert holdout_fold(ids, 5, 1) == [6, 7, 8, 9, 10]
    with pytest.raises(UserError, match=r"folds are 0\.\.2"):
        holdout_fold(ids, 3, 3)
    with pytest.raises(UserError, match="two or more to train on"):
        holdout_fold(ids, 9, 0)


def test_msr_gets_one_person_slot_and_a_held_out_fold_for_selection(msr) -> None:
    data = RunData(_cfg(msr, holdout_classes=5, holdout_fold=1), "cpu")
    assert data.preprocess_cfg.persons == 1  # single-person data: no empty second slot
    assert data.train_class_ids == [1, 2, 3, 4, 5]
    assert data.val is not None and data.val.class_ids == [6, 7, 8, 9, 10]
    names = data.prepared.names
    assert sorted(names[i] for i in data.val.support) == [f"a{c:02d}_s01_e01" for c in range(6, 11)]
    assert len(data.val.query) == 26 * 1 + 28 + 30 * 3 - 5  # a06 26, a07 28, a08-a10 30 each, less exemplars
    counts = data.counts()
    assert counts["holdout_classes"] == [6, 7, 8, 9, 10] and counts["train_samples"] == 27 * 3 + 26 * 2
    # the novel classes are untouched: same exemplars and queries as without a fold
    assert counts["queries"] == 279 and counts["exemplars"] == 10
    assert data.batches(data.train_idx[:4], train=True).shape == (4, 3, 64, 20, 1)


def test_without_holdout_msr_has_no_validation_classes(msr) -> None:
    data = RunData(_cfg(msr), "cpu")
    assert data.val is None and len(data.train_idx) == 277


def test_pipeline_keys_reach_the_preprocessing(msr) -> None:
    cfg = load_config(None, {}, ["crop_min_frames=8", "normalize_scale=true", "aug_mirror=0.5", "aug_speed=0.2",
                                 "aug_scale=0.1", "aug_shear=0.3", "aug_rotation=0.1", "crop_ratio=[0.6, 0.9]"])  # fmt: skip
    p = cfg.preprocess_config(1)
    assert (p.min_crop, p.normalize_scale, p.mirror, p.speed, p.scale, p.shear, p.rotation) == (
        8,
        True,
        0.5,
        0.2,
        0.1,
        0.3,
        0.1,
    )
    assert p.crop_ratio == (0.6, 0.9) and p.stream == "joint"
    assert load_config(None, {}, ["input_stream=bone"]).preprocess_config(1).stream == "bone"
    joined = load_config(None, {}, ["input_stream=joint+bone+motion"])
    assert joined.preprocess_config(1).stream == "joint+bone+motion" and joined.input_channels == 9
    with pytest.raises(
        UserError,
        match=r"^config: model.encoder.in_channels=3 does not fit input_stream='joint\+bone' \(6 channels\)",
    ):
        load_config(None, {}, ["input_stream=joint+bone", "model.encoder.in_channels=3"]).check_values(
            "config"
        )
    load_config(None, {}, ["input_stream=joint+bone", "model.encoder.in_channels=6"]).check_values("config")
    legacy = load_config("cpu-small-legacy", {}, [])
    assert legacy.persons == 2 and legacy.crop_min_frames == 64 and not legacy.normalize_scale
    assert legacy.model["encoder"]["mask_empty_persons"] is False


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("holdout_classes", 1, "holdout_classes"),
        ("persons", -1, "persons"),
        ("aug_mirror", 2.0, "^config: aug_mirror is a probability in \\[0, 1\\], got 2.0$"),
        ("aug_scale", 1.0, "^config: aug_scale must be in \\[0, 1\\), got 1.0$"),
        ("aug_speed", -0.1, "^config: aug_speed must be >= 0, got -0.1$"),
        ("crop_min_frames", 0, "crop_min_frames"),
        ("crop_ratio", [0.9, 0.5], "crop_ratio"),
        ("crop_ratio", [0.5], "crop_ratio"),
        (
            "input_stream",
            "bones",
            "^config: input_stream must be one of joint, bone, motion or several joined by '\\+' \\(each once\\), got 'bones'$",
        ),
    ],
)
def test_bad_pipeline_values_are_one_line_errors(msr, key, value, match) -> None:
    """Named by the key the user wrote (aug_scale), not by the pipeline's own field (scale)."""
    with pytest.raises(UserError, match=match):
        _cfg(msr, **{key: value})


@pytest.mark.slow
def test_a_recipe_search_run_never_evaluates_the_novel_classes(msr, run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    run_cli(["train", "--no-text", "--data", str(msr), "--protocol", "msr-action3d", "--device", "cpu",
             "--out", str(out), "--epochs", "2", "--set", "frames=12", "--set", "batch_size=32",
             "--set", "model.encoder.base_channels=8", "--set", "model.encoder.info_bottleneck=false",
             "--set", "holdout_classes=3", "--set", "holdout_fold=2", "--set", "evaluate_novel=false",
             "--set", 'model.encoder.head="cosine"', "--set", "model.loss.w_supcon=0.5"])  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["best_val_cosine"] <= 1 and "cosine" not in summary
    assert not (out / "eval").exists()
    history = json.loads((out / "metrics.json").read_text())
    assert all("val_cosine" in row and "loss_supcon" in row for row in history)


def test_a_checkpoint_from_before_the_pipeline_keys_keeps_the_reference_pooling() -> None:
    from crossglg.train.checkpoint import config_from

    old = TrainConfig(persons=2).to_dict()
    for key in ("crop_ratio", "crop_min_frames", "normalize_scale", "aug_rotation", "aug_scale", "aug_shear",
                "aug_mirror", "aug_speed", "holdout_classes", "holdout_fold", "evaluate_novel"):  # fmt: skip
        old.pop(key)
    old["model"] = {"encoder": {"base_channels": 32}}
    cfg = config_from({"config": old}, Path("run/last.pt"))
    assert cfg.model["encoder"] == {"mask_empty_persons": False, "base_channels": 32}
    new = config_from({"config": TrainConfig(persons=1).to_dict()}, Path("run/last.pt"))
    assert "encoder" not in new.model  # a current checkpoint: the default, masked pooling
