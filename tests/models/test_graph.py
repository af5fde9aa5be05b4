"""Graph matrices derived from the layouts."""

from __future__ import annotations

import numpy as np
import pytest

from crossglg.errors import UserError
from crossglg.models.graph import (
    hop_distance,
    relative_position,
    spatial_partition,
    three_subsets,
    token_pooling,
)
from crossglg.vocab.layouts import LAYOUTS, get_layout


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_three_subsets_are_identity_inward_outward(name):
    lay = get_layout(name)
    a = three_subsets(lay)
    np.testing.assert_array_equal(a[0], np.eye(lay.num_joints))
    # every bone appears once inward and once outward; columns with edges sum to 1
    assert (a[1] > 0).sum() == (a[2] > 0).sum() == len(lay.bones)
    for m in a[1:]:
        sums = m.sum(0)
        np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-6)
    child, parent = lay.bones[0]
    assert a[1][parent, child] > 0 and a[2][child, parent] > 0


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_spatial_partition_splits_the_normalised_neighbourhood(name):
    lay = get_layout(name)
    parts = spatial_partition(lay)
    total = parts.sum(0)
    np.testing.assert_allclose(total.sum(0), 1.0, rtol=1e-6)  # column-normalised, self-loops included
    assert (np.count_nonzero(parts, axis=0) <= 1).all()  # each edge in exactly one subset
    np.testing.assert_array_equal(np.diag(parts[0]) > 0, True)  # self-loops are "root"
    hop = hop_distance(lay)
    for a, b in lay.bones:
        outer, inner = (a, b) if hop[a, lay.center] > hop[b, lay.center] else (b, a)
        assert parts[1][outer, inner] > 0  # the outer joint sends centripetally
        assert parts[2][inner, outer] > 0  # the inner joint sends centrifugally


def test_relative_position_gives_bone_vectors():
    lay = get_layout("ntu25")
    r = relative_position(lay, 1)
    x = np.random.default_rng(0).normal(size=(25, 3))
    y = r @ x
    np.testing.assert_allclose(y[lay.center], x[lay.center])
    for child, parent in lay.bones:
        np.testing.assert_allclose(y[child], x[child] - x[parent])


def test_token_pooling_mixes_parts_and_joints():
    lay = get_layout("ntu25")
    m = token_pooling(lay, ("head", "right thumb"))
    np.testing.assert_allclose(m[0, [2, 3]], 0.5)
    assert m[1, 24] == 1.0 and m.sum() == pytest.approx(2.0)
    with pytest.raises(UserError, match="tail"):
        token_pooling(lay, ("tail",))


@pytest.mark.parametrize("name", ["ntu25", "kinect20", "msr20", "coco17"])
def test_the_joints_part_set_pools_each_joint_alone(name):
    """`--parts joints`: the head token is the head joint, not the head part (neck and head)."""
    lay = get_layout(name)
    np.testing.assert_array_equal(token_pooling(lay, lay.joints), np.eye(lay.num_joints))
