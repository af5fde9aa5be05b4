"""Skeleton layouts as data: joint names, bones, centre, left/right pairs and body-part groups.

Every other module (prompts, the text bank's joint-importance target, the encoders' graphs)
takes its joint vocabulary from here, so a new sensor means one new :class:`Layout` and
nothing else. Indices are 0-based; NTU RGB+D and Kinect number their joints from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from crossglg.errors import UserError

PARTS6 = ("head", "hand", "arm", "hip", "leg", "foot")


@dataclass(frozen=True)
class Layout:
    """One skeleton layout.

    ``bones`` are (child, parent) pairs pointing towards ``center``; ``parts`` maps each of
    the six GAP body parts to its joints (docs/EMBEDDINGS.md, "How `k_gt` is built"); ``ntu_index`` gives, for each
    joint, the NTU-25 joint it corresponds to (docs/TRAINING.md, "Another dataset: cross-dataset one-shot"), or -1 where none does.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    center: int
    left_right: tuple[tuple[int, int], ...]
    parts: dict[str, tuple[int, ...]] = field(hash=False)
    ntu_index: tuple[int, ...]
    description: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint_name: str) -> int:
        try:
            return self.joints.index(joint_name)
        except ValueError:
            raise UserError(f"layout {self.name}: no joint named {joint_name!r}") from None

    @cached_property
    def adjacency(self) -> np.ndarray:
        """Symmetric 0/1 adjacency without self-loops, shape [V, V]."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for child, parent in self.bones:
            a[child, parent] = a[parent, child] = 1.0
        return a

    @cached_property
    def mirror_order(self) -> tuple[int, ...]:
        """Joint order of the left-right mirror: each ``left_right`` pair swapped, other joints kept.

        One definition for every mirror in the toolkit (the training augmentation, the test-time
        mirror view, mirrored DTW exemplars); the x coordinate is negated alongside.
        """
        order = list(range(self.num_joints))
        for a, b in self.left_right:
            order[a], order[b] = b, a
        return tuple(order)

    @cached_property
    def parents(self) -> tuple[int, ...]:
        """Parent of each joint (the centre is its own parent); used for bone features."""
        parent = list(range(self.num_joints))
        for child, par in self.bones:
            parent[child] = par
        return tuple(parent)

    def bone_lengths(self, x: Any) -> Any:
        """Length of every bone of joints ``x`` [..., V, 3] → [..., bones]; a NumPy array or a tensor.

        The one body-size measure of the toolkit: the DTW baseline and the learned pipeline's
        scale normalisation both divide by its mean (docs/TRAINING.md, "Input pipeline and augmentation").
        """
        child = [c for c, _ in self.bones]
        parent = [p for _, p in self.bones]
        d = x[..., child, :] - x[..., parent, :]
        return ((d * d).sum(-1)) ** 0.5

    def part_matrix(self, parts: tuple[str, ...] = PARTS6) -> np.ndarray:
        """Row-normalised [P, V] matrix that mean-pools joint features into part features."""
        m = np.zeros((len(parts), self.num_joints), dtype=np.float32)
        for p, part in enumerate(parts):
            idx = self.parts.get(part)
            if not idx:
                raise UserError(f"layout {self.name}: unknown body part {part!r}")
            m[p, list(idx)] = 1.0 / len(idx)
        return m

    def mapping_to(self, other: Layout) -> np.ndarray:
        """For each joint of ``other``, the joint of this layout that stands for it.

        Joints of ``other`` with no counterpart copy their nearest mapped neighbour along the
        bone tree (e.g. NTU's hand tips copy the hand), so data from a 20-joint sensor can
        feed a 25-joint model. Raises when nothing maps at all.
        """
        by_ntu = {n: i for i, n in enumerate(self.ntu_index) if n >= 0}
        out = np.full(other.num_joints, -1, dtype=np.int64)
        for j, n in enumerate(other.ntu_index):
            if n in by_ntu:
                out[j] = by_ntu[n]
        if (out < 0).all():
            raise UserError(f"no joint of layout {other.name} corresponds to a joint of {self.name}")
        # fill the unmapped joints from their parents, walking towards the centre
        for _ in range(other.num_joints):
            missing = np.flatnonzero(out < 0)
            if missing.size == 0:
                break
            for j in missing:
                p = other.parents[j]
                if out[p] >= 0:
                    out[j] = out[p]
                else:  # the parent is also unmapped: try a child
                    kids = [c for c, q in other.bones if q == j and out[c] >= 0]
                    if kids:
                        out[j] = out[kids[0]]
        return out


def _zero_based(pairs: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs)


def _parts(**groups: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(sorted(i - 1 for i in v)) for k, v in groups.items()}


# fmt: off
NTU25 = Layout(
    name="ntu25",
    description="NTU RGB+D / PKU-MMD, Kinect v2, 25 joints",
    joints=(
        "base of the spine", "middle of the spine", "neck", "head", "left shoulder", "left elbow",
        "left wrist", "left hand", "right shoulder", "right elbow", "right wrist", "right hand",
        "left hip", "left knee", "left ankle", "left foot", "right hip", "right knee", "right ankle",
        "right foot", "spine (at the shoulders)", "tip of the left hand", "left thumb",
        "tip of the right hand", "right thumb",
    ),
    # (child, parent), 1-based in the table: the 24 edges of CTR-GCN's graph/ntu_rgb_d.py
    bones=_zero_based([
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
        (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
        (20, 19), (22, 23), (23, 8), (24, 25), (25, 12),
    ]),
    center=20,
    left_right=_zero_based([(5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20), (22, 24), (23, 25)]),
    parts=_parts(
        head=(3, 4),
        arm=(5, 6, 7, 9, 10, 11),
        hand=(8, 22, 23, 12, 24, 25),
        hip=(1, 13, 17),
        leg=(13, 14, 15, 17, 18, 19),
        foot=(15, 16, 19, 20),
        torso=(1, 2, 21),
    ),
    ntu_index=tuple(range(25)),
)

# UTKinect-Action3D (Kinect v1 order); bones from utkinect_action3d/bones.tsv as (parent, child)
_K20_BONES = [(1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (7, 8), (3, 9), (9, 10), (10, 11), (11, 12),
              (1, 13), (13, 14), (14, 15), (15, 16), (1, 17), (17, 18), (18, 19), (19, 20)]
KINECT20 = Layout(
    name="kinect20",
    description="Kinect v1, 20 joints (UTKinect-Action3D order)",
    joints=(
        "hip center", "spine", "shoulder center", "head", "left shoulder", "left elbow", "left wrist",
        "left hand", "right shoulder", "right elbow", "right wrist", "right hand", "left hip",
        "left knee", "left ankle", "left foot", "right hip", "right knee", "right ankle", "right foot",
    ),
    bones=_zero_based([(c, p) for p, c in _K20_BONES]),
    center=1,
    left_right=_zero_based([(5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20)]),
    parts=_parts(
        head=(3, 4),
        arm=(5, 6, 7, 9, 10, 11),
        hand=(8, 12),
        hip=(1, 13, 17),
        leg=(13, 14, 15, 17, 18, 19),
        foot=(15, 16, 19, 20),
        torso=(1, 2, 3),
    ),
    # NTU joint (0-based) for each Kinect v1 joint: docs/TRAINING.md, "Another dataset: cross-dataset one-shot"
    ntu_index=(0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19),
)

# MSR Action3D order; bones from msr_action3d/bones.tsv as (parent, child), rooted at hip centre 7
_MSR_BONES = [(7, 4), (4, 3), (3, 20), (3, 1), (3, 2), (1, 8), (2, 9), (8, 10), (9, 11), (10, 12), (11, 13),
              (7, 5), (7, 6), (5, 14), (6, 15), (14, 16), (15, 17), (16, 18), (17, 19)]
MSR20 = Layout(
    name="msr20",
    description="MSR Action3D, 20 joints",
    joints=(
        "left shoulder", "right shoulder", "neck (shoulder center)", "spine", "left hip", "right hip",
        "hip center", "left elbow", "right elbow", "left wrist", "right wrist", "left hand",
        "right hand", "left knee", "right knee", "left ankle", "right ankle", "left foot",
        "right foot", "head",
    ),
    bones=_zero_based([(c, p) for p, c in _MSR_BONES]),
    center=3,
    left_right=_zero_based([(1, 2), (5, 6), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19)]),
    parts=_parts(
        head=(3, 20),
        arm=(1, 8, 10, 2, 9, 11),
        hand=(12, 13),
        hip=(7, 5, 6),
        leg=(5, 14, 16, 6, 15, 17),
        foot=(16, 18, 17, 19),
        torso=(7, 4, 3),
    ),
    ntu_index=(4, 8, 20, 1, 12, 16, 0, 5, 9, 6, 10, 7, 11, 13, 17, 14, 18, 15, 19, 3),
)

# COCO-17 (2D keypoints from HRNet and similar); only for 2D pipelines
_COCO_BONES = [(1, 2), (1, 3), (2, 4), (3, 5), (1, 6), (1, 7), (6, 8), (8, 10), (7, 9), (9, 11),
               (6, 12), (7, 13), (12, 14), (14, 16), (13, 15), (15, 17)]
COCO17 = Layout(
    name="coco17",
    description="COCO 17 keypoints (2D pose estimators)",
    joints=(
        "nose", "left eye", "right eye", "left ear", "right ear", "left shoulder", "right shoulder",
        "left elbow", "right elbow", "left wrist", "right wrist", "left hip", "right hip",
        "left knee", "right knee", "left ankle", "right ankle",
    ),
    bones=_zero_based([(c, p) for p, c in _COCO_BONES]),
    center=0,
    left_right=_zero_based([(2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17)]),
    parts=_parts(
        head=(1, 2, 3, 4, 5),
        arm=(6, 8, 7, 9),
        hand=(10, 11),
        hip=(12, 13),
        leg=(12, 14, 13, 15),
        foot=(16, 17),
        torso=(6, 7, 12, 13),
    ),
    # nose/eyes/ears stand for the NTU head; COCO has no hands, so wrists map to wrists
    ntu_index=(3, -1, -1, -1, -1, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18),
)

# fmt: on

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (NTU25, KINECT20, MSR20, COCO17)}


def get_layout(name: str) -> Layout:
    """Look a layout up by name; the error lists the names that exist."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise UserError(f"unknown skeleton layout {name!r}; known: {', '.join(LAYOUTS)}") from None
