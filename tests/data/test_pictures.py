"""Skeleton pictures (crossglg/data/pictures.py): the JID picture and the learned DTW weights."""

from __future__ import annotations

import numpy as np
import pytest

from crossglg.data.pictures import weighted_skeletons
from crossglg.vocab.layouts import get_layout


@pytest.mark.parametrize("shared_scale", [False, True])
def test_one_panel_per_pose_is_written(tmp_path, shared_scale: bool) -> None:
    import matplotlib.image

    layout = get_layout("msr20")
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(3, 20, 3))
    sizes = rng.uniform(0.5, 1.5, (3, 20))
    path = tmp_path / "p.png"
    weighted_skeletons(poses, sizes, layout.bones, ["x", "y", "z"], path, shared_scale=shared_scale)
    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (990, 396)  # 3 panels of 3 × 3.6 inches at 110 dpi
    with pytest.raises(ValueError):
        weighted_skeletons(poses, sizes[:2], layout.bones, ["x", "y", "z"], path)  # a pose without weights
