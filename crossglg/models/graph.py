"""Graph matrices for the encoders, built from a :class:`~crossglg.vocab.layouts.Layout`.

The encoders never hard-code a skeleton: everything they need (the three-subset graph of
InfoGCN/CTR-GCN, ST-GCN's spatial partition, InfoGCN's relative-position transform and the
pooling from joints to text tokens) is derived here from the layout's bones and centre.
"""

from __future__ import annotations

import numpy as np

from crossglg.errors import UserError
from crossglg.vocab.layouts import PARTS6, Layout


def _inward(layout: Layout) -> np.ndarray:
    """A[child, parent] = 1: each joint points at its parent (towards the centre)."""
    a = np.zeros((layout.num_joints, layout.num_joints), dtype=np.float32)
    for child, parent in layout.bones:
        a[child, parent] = 1.0
    return a


def _normalise_columns(a: np.ndarray) -> np.ndarray:
    """A · D^-1 with D the column degrees, leaving empty columns at zero."""
    deg = a.sum(axis=0)
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1e-12), 0.0).astype(np.float32)
    return a * inv[None, :]


def three_subsets(layout: Layout) -> np.ndarray:
    """[3, V, V]: identity, normalised inward and normalised outward edges (InfoGCN / CTR-GCN)."""
    inward = _inward(layout)
    # edge2mat convention of the reference graphs: row = target, column = source
    inward_mat = _normalise_columns(inward.T)
    outward_mat = _normalise_columns(inward)
    return np.stack([np.eye(layout.num_joints, dtype=np.float32), inward_mat, outward_mat])


def hop_distance(layout: Layout) -> np.ndarray:
    """[V, V] shortest bone-path lengths (inf where disconnected)."""
    v = layout.num_joints
    adj = layout.adjacency + np.eye(v, dtype=np.float32)
    dist = np.full((v, v), np.inf)
    reach = np.eye(v, dtype=bool)
    for d in range(v):
        dist[reach & np.isinf(dist)] = d
        reach = (reach.astype(np.float32) @ adj) > 0
    return dist


def spatial_partition(layout: Layout) -> np.ndarray:
    """[3, V, V] ST-GCN "spatial" strategy: root, centripetal and centrifugal neighbours.

    Neighbours within one hop are split by whether they are as far, nearer or further from
    the layout's centre than the root joint; the normalisation is over the whole
    neighbourhood, as in the ST-GCN paper, so the three parts sum to the normalised graph.
    """
    hop = hop_distance(layout)
    neigh = (hop <= 1).astype(np.float32)
    norm = _normalise_columns(neigh)
    to_centre = hop[:, layout.center]
    # entry [i, j]: j aggregates from i; i is centripetal when it lies further out than j
    di = to_centre[:, None]
    dj = to_centre[None, :]
    root = np.where((neigh > 0) & (di == dj), norm, 0.0)
    close = np.where((neigh > 0) & (di > dj), norm, 0.0)
    far = np.where((neigh > 0) & (di < dj), norm, 0.0)
    return np.stack([root, close, far]).astype(np.float32)


def relative_position(layout: Layout, k: int) -> np.ndarray:
    """[V, V] matrix I − A^k (A = child→parent), so x ← R x gives each joint minus its k-th ancestor."""
    a = np.linalg.matrix_power(_inward(layout), k)
    return (np.eye(layout.num_joints, dtype=np.float32) - a).astype(np.float32)


def resolve_parts(layout: Layout, parts: tuple[str, ...] | str) -> tuple[str, ...]:
    """The text-token names: ``parts6``, ``joints`` or explicit part / joint names."""
    if parts == "parts6":
        return PARTS6
    if parts == "joints":
        return layout.joints
    if isinstance(parts, str):
        raise UserError(f"model config: l2g.parts={parts!r}; use parts6, joints or a list of names")
    return tuple(parts)


def token_pooling(layout: Layout, names: tuple[str, ...]) -> np.ndarray:
    """[P, V] row-normalised matrix mean-pooling joints into text tokens.

    Each name is a body part of the layout (its joints are averaged) or a joint name (that
    joint alone), matching how the text bank names its local slots. The layout's whole joint
    list in order is the ``joints`` part set: there every token is its joint alone, also
    ``head``, which is a part name too (neck and head) in the Kinect layouts.
    """
    if tuple(names) == layout.joints:
        return np.eye(layout.num_joints, dtype=np.float32)
    m = np.zeros((len(names), layout.num_joints), dtype=np.float32)
    for p, name in enumerate(names):
        if layout.parts.get(name):
            m[p] = layout.part_matrix((name,))[0]
        elif name in layout.joints:
            m[p, layout.joints.index(name)] = 1.0
        else:
            raise UserError(f"layout {layout.name}: {name!r} is neither a body part nor a joint name")
    return m
