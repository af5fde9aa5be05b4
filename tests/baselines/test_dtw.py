"""The DTW baseline: exact recurrence on small cases, and a real one-shot run on MSR Action3D."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossglg.baselines.dtw import (
    Matching,
    class_distances,
    dtw_distances,
    exemplar_distances,
    exemplar_scales,
    mirrored,
    normalise,
)
from crossglg.vocab.layouts import MSR20
from tests.helpers import msr_rand1_protocol, run_script


def _reference_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook O(T²) DTW with scalar loops, to check the batched version."""
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = np.linalg.norm(a[i - 1] - b[j - 1])
            acc[i, j] = c + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return acc[n, m] / (n + m)


def test_batched_dtw_equals_the_textbook_recurrence() -> None:
    rng = np.random.default_rng(1)
    q = rng.normal(size=(3, 7, 4))
    e = rng.normal(size=(2, 7, 4))
    got = dtw_distances(q, e)
    want = np.array([[_reference_dtw(a, b) for b in e] for a in q])
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_a_band_keeps_the_path_near_the_diagonal() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(2, 9, 3))
    e = rng.normal(size=(3, 9, 3))
    free = dtw_distances(q, e)
    np.testing.assert_allclose(dtw_distances(q, e, band=8), free)  # a band as wide as the clip: no limit
    diagonal = np.linalg.norm(q[:, None] - e[None], axis=-1).sum(-1) / 18  # band 0: frame i with frame i
    np.testing.assert_allclose(dtw_distances(q, e, band=0), diagonal)
    one = dtw_distances(q, e, band=1)
    assert (free <= one + 1e-12).all() and (one <= diagonal + 1e-12).all() and (one < diagonal).any()
    # unequal lengths: band 0 still reaches the end, through the strip of diagonals joining the ends
    short = q[:, :5]
    assert np.isfinite(dtw_distances(short, e, band=0)).all()
    assert (dtw_distances(short, e, band=0) >= dtw_distances(short, e) - 1e-12).all()
    np.testing.assert_allclose(dtw_distances(short, e, band=4), dtw_distances(short, e))  # strip ± 4: all


def test_dtw_ignores_a_change_of_speed() -> None:
    t = np.linspace(0, 1, 16)
    slow = np.stack([np.sin(2 * np.pi * t**2), np.cos(2 * np.pi * t**2)], axis=1)[None]
    fast = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)], axis=1)[None]
    other = np.stack([np.cos(6 * np.pi * t), np.sin(6 * np.pi * t)], axis=1)[None]
    d = dtw_distances(slow, np.concatenate([fast, other]))
    assert d[0, 0] < d[0, 1] / 3


def test_normalise_removes_position_and_body_size() -> None:
    rng = np.random.default_rng(2)
    seq = rng.normal(size=(20, 1, 20, 3))
    moved = seq * 1.7 + np.array([3.0, -1.0, 2.5])
    np.testing.assert_allclose(normalise(seq, MSR20), normalise(moved, MSR20), atol=1e-5)


def _wave(arm: tuple[int, int], frames: int = 12) -> np.ndarray:
    """[T, 1, V, 3] a still MSR20 body whose one arm (elbow, hand joints) swings sideways."""
    rng = np.random.default_rng(5)
    body = np.repeat(rng.normal(size=(1, 1, 20, 3)), frames, axis=0)
    swing = np.sin(np.linspace(0, 2 * np.pi, frames))[:, None, None]
    body[:, :, list(arm), 0] += swing * np.array([1.0, 2.0])[None, :]
    return body


def test_a_mirror_swaps_sides_and_undoes_itself() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 20 * 3))
    m = mirrored(x, MSR20).reshape(2, 6, 20, 3)
    a, b = MSR20.left_right[0]
    np.testing.assert_allclose(m[..., a, 0], -x.reshape(2, 6, 20, 3)[..., b, 0])
    np.testing.assert_allclose(m[..., a, 1:], x.reshape(2, 6, 20, 3)[..., b, 1:])
    np.testing.assert_allclose(mirrored(mirrored(x, MSR20), MSR20), x)


def test_a_mirrored_exemplar_matches_the_same_motion_done_with_the_other_arm() -> None:
    a, b = MSR20.left_right[1], MSR20.left_right[2]  # two joints of one side (any paired joints will do)
    left = normalise(_wave((a[0], b[0])), MSR20)[None]
    right = mirrored(left, MSR20)  # the same wave done with the paired joints
    plain = exemplar_distances(right, left)
    both = exemplar_distances(right, left, Matching(mirror=MSR20))
    assert plain[0, 0] > 0.05 and both[0, 0] < 1e-6
    # the exemplars' own scales see the mirror too: a pair that mirrors each other is at distance 0
    scales = exemplar_scales(np.concatenate([left, right]), np.array([1, 2]), Matching(mirror=MSR20))
    assert (scales < 1e-6).all()


def test_the_body_frame_removes_where_the_camera_stood() -> None:
    seq = _wave((4, 6))
    seq[..., 1] += np.arange(20)[None, None, :] * 0.3  # some height, so the spine has a direction
    turn = np.deg2rad(70)
    rot = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
    seen = seq @ rot.T
    assert np.abs(normalise(seen, MSR20) - normalise(seq, MSR20)).max() > 0.1
    np.testing.assert_allclose(normalise(seen, MSR20, view=True), normalise(seq, MSR20, view=True), atol=1e-5)


def test_a_per_joint_cost_averages_each_joints_distance() -> None:
    q = np.zeros((1, 1, 6))
    e = np.array([[[3.0, 4.0, 0.0, 0.0, 0.0, 0.0]]])  # joint 1 off by 5, joint 2 on the spot
    np.testing.assert_allclose(
        dtw_distances(q, e), [[5.0 / 2]]
    )  # whole frame: |(3, 4, 0, 0, 0, 0)| over T + T
    np.testing.assert_allclose(dtw_distances(q, e, joints=2), [[(5.0 + 0.0) / 2 / 2]])


def _constant(values: list[float], frames: int = 5) -> np.ndarray:
    """Still 1-D sequences: their DTW distance is |a − b| / 2 (the diagonal path, over T + T)."""
    return np.array(values, dtype=np.float64)[:, None, None] * np.ones((1, frames, 1))


def test_calibration_divides_by_each_exemplars_mean_distance_to_the_others() -> None:
    ex = _constant([0.0, 1.0, 10.0])
    labels = np.array([7, 8, 9])
    # class 7: (|0-1| + |0-10|) / 2 / 2, class 8: (1 + 9) / 4, class 9: (10 + 9) / 4
    np.testing.assert_allclose(exemplar_scales(ex, labels), [11 / 4, 10 / 4, 19 / 4])
    q = _constant([4.0, 4.5])
    classes, raw = class_distances(q, ex, labels)
    _, cal = class_distances(q, ex, labels, calibrated=True)
    assert classes.tolist() == [7, 8, 9]
    np.testing.assert_allclose(raw, [[2.0, 1.5, 3.0], [2.25, 1.75, 2.75]])
    np.testing.assert_allclose(cal[1], [4.5 / 5.5, 3.5 / 5.0, 5.5 / 9.5])
    # 4.5 is nearest to 1.0, but 1.0 lies close to everything: the calibrated read-out picks 10.0
    assert classes[raw.argmin(1)].tolist() == [8, 8]
    assert classes[cal.argmin(1)].tolist() == [8, 9]


def test_calibration_with_several_exemplars_per_class_and_with_one_class() -> None:
    ex = _constant([0.0, 2.0, 10.0])
    labels = np.array([1, 1, 2])
    # class 1: exemplars 0 and 2 against 10 → (10 + 8) / 2 / 2; class 2: against 0 and 2 → the same
    np.testing.assert_allclose(exemplar_scales(ex, labels), [4.5, 4.5])
    np.testing.assert_allclose(exemplar_scales(ex[:2], labels[:2]), [1.0])
    _, d = class_distances(_constant([3.0]), ex, labels)
    np.testing.assert_allclose(d, [[0.5, 3.5]])  # a class scores its nearest exemplar


@pytest.mark.slow
def test_dtw_one_shot_on_real_msr_action3d(real_data, tmp_path) -> None:
    out = tmp_path / "msr"
    prep = run_script("crossglg", "data", "prepare", real_data("msr_action3d"), "--format", "msr-action3d",
                      "--out", out)  # fmt: skip
    assert prep.returncode == 0, prep.stderr
    # the JEANIE split, and a random 10/10 split (bench/oneshot_eval.py's rand1) where one
    # exemplar draws most queries under raw DTW; measured: 79.2 / 79.2 and 69.7 / 80.3 % (docs/RESULTS.md)
    rand1 = msr_rand1_protocol(tmp_path)
    got = {}
    for protocol in ("msr-action3d", str(rand1)):
        for flag in ((), ("--calibrated",), ("--calibrated", "--mirror")):
            res = run_script(
                "crossglg", "baseline", "dtw", "--data", out, "--protocol", protocol, *flag, "--json"
            )
            assert res.returncode == 0, res.stderr
            result = json.loads(res.stdout)
            method = result["method"] + ("+mirror" if result["mirror"] else "")
            got[protocol, method] = (result["queries"], round(100 * result["accuracy"], 1))
    assert got == {
        ("msr-action3d", "dtw"): (279, 79.2),
        ("msr-action3d", "ndtw"): (279, 79.2),
        ("msr-action3d", "ndtw+mirror"): (279, 78.9),
        (str(rand1), "dtw"): (274, 69.7),
        (str(rand1), "ndtw"): (274, 80.3),
        (str(rand1), "ndtw+mirror"): (274, 79.2),
    }


def test_bone_lengths_is_one_function_for_arrays_and_tensors() -> None:
    """The DTW baseline and the learned pipeline share Layout.bone_lengths (one body-size measure)."""
    import torch

    from crossglg.baselines.dtw import normalise
    from crossglg.vocab.layouts import MSR20

    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 20, 3))
    lengths = MSR20.bone_lengths(x)
    assert lengths.shape == (7, len(MSR20.bones))
    child, parent = MSR20.bones[0]
    assert np.isclose(lengths[3, 0], np.linalg.norm(x[3, child] - x[3, parent]))
    np.testing.assert_allclose(MSR20.bone_lengths(torch.from_numpy(x)).numpy(), lengths)
    seq = x[:, None] * 5.0  # [T, M, V, 3], a big body
    out = normalise(seq, MSR20, frames=7).reshape(7, 20, 3)
    assert np.isclose(MSR20.bone_lengths(out).mean(), 1.0, atol=1e-5)
