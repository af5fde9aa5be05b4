"""The DTW baseline: exact recurrence on small cases, and a real one-shot run on MSR Action3D."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossglg.baselines.dtw import dtw_distances, normalise
from crossglg.vocab.layouts import MSR20
from tests.helpers import run_script


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


@pytest.mark.slow
def test_dtw_one_shot_on_real_msr_action3d(real_data, tmp_path) -> None:
    out = tmp_path / "msr"
    prep = run_script("crossglg", "data", "prepare", real_data("msr_action3d"), "--format", "msr-action3d",
                      "--out", out)  # fmt: skip
    assert prep.returncode == 0, prep.stderr
    res = run_script("crossglg", "baseline", "dtw", "--data", out, "--protocol", "msr-action3d", "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["queries"] == 279
    # 10-way one-shot: chance is 10 %; DTW on normalised joints measured 79.2 %
    assert 0.6 < result["accuracy"] < 0.95


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
