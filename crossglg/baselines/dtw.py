"""Nearest exemplar by dynamic time warping: the one-shot baseline that learns nothing.

A learned encoder that cannot beat DTW on normalised joints has not learned anything
useful about motion, so every results table carries this row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossglg.vocab.layouts import Layout

DTW_FRAMES = 32  # every sequence is resampled to this length before DTW


def normalise(seq: np.ndarray, layout: Layout, frames: int = DTW_FRAMES, view: bool = False) -> np.ndarray:
    """[T, M, V, 3] → [frames, V·3] for the first person: centred per frame, unit body scale.

    Centring on the layout's centre joint removes where the person stands; dividing by the
    mean bone length removes body size; linear resampling to a fixed length keeps the DTW
    cost comparable across sequences of 13 to 900 frames. ``view`` turns the clip into the
    body frame of its first frame with a person in it (spine up, shoulders along x: the learned
    pipeline's ``normalize_view``), which removes where the camera stood.
    """
    x = np.asarray(seq, dtype=np.float64)[:, 0]  # first person, [T, V, 3]
    if view:
        x = x @ _body_frame(x, layout).T
    x = x - x[:, layout.center : layout.center + 1]
    scale = layout.bone_lengths(x).mean()
    x = x / max(scale, 1e-6)
    t_src = np.linspace(0.0, len(x) - 1, frames)
    lo = np.floor(t_src).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (t_src - lo)[:, None, None]
    x = (1 - w) * x[lo] + w * x[hi]
    return x.reshape(frames, -1).astype(np.float32)


def _body_frame(x: np.ndarray, layout: Layout) -> np.ndarray:
    """[3, 3] rotation into the body frame of the first frame of x [T, V, 3] with a joint off zero."""
    import torch

    from crossglg.data.preprocess import view_rotation

    present = np.abs(x).reshape(len(x), -1).sum(1) > 0
    first = x[int(np.argmax(present))]
    return view_rotation(torch.from_numpy(first[None]), layout)[0].numpy()


def mirrored(x: np.ndarray, layout: Layout) -> np.ndarray:
    """[..., V·3] sequences as the same motion done with the other side: x negated, the layout's
    ``left_right`` joints swapped (a left-handed wave becomes a right-handed one)."""
    v = layout.num_joints
    out = np.array(x, dtype=np.float64).reshape(*np.shape(x)[:-1], v, 3)
    out[..., 0] *= -1
    return out[..., list(layout.mirror_order), :].reshape(np.shape(x))


def _frame_costs(a: np.ndarray, b: np.ndarray, joints: int) -> np.ndarray:
    """[Q, E, T1, T2] frame distances: Euclidean over all F features, or (``joints`` > 0) the mean
    over that many groups of F / joints features of each group's Euclidean distance."""
    groups = max(joints, 1)
    a = a.reshape(*a.shape[:2], groups, -1)
    b = b.reshape(*b.shape[:2], groups, -1)
    cost = np.zeros((len(a), len(b), a.shape[1], b.shape[1]))
    for g in range(groups):
        ag, bg = a[:, :, g], b[:, :, g]
        # |a−b|² = |a|² + |b|² − 2a·b: memory [Q, E, T1, T2], not [Q, E, T1, T2, F]
        sq = (ag**2).sum(-1)[:, None, :, None] + (bg**2).sum(-1)[None, :, None, :]
        cost += np.sqrt(np.maximum(sq - 2 * np.einsum("qif,ejf->qeij", ag, bg), 0.0))
    return cost / groups


def dtw_distances(
    queries: np.ndarray, exemplars: np.ndarray, band: int | None = None, joints: int = 0
) -> np.ndarray:
    """DTW distance of every query to every exemplar: [Q, T, F] × [E, T, F] → [Q, E].

    All pairs advance through the recurrence together, so the Python loop runs T² times
    whatever the number of pairs. ``band`` (Sakoe–Chiba) keeps the path within that many
    frames of the diagonal (of the strip of diagonals that joins both ends when the lengths
    differ, so a path always exists); None leaves it free. ``joints`` > 0 makes the frame cost
    the mean of per-joint distances (F = joints·3), so one joint far off counts once, not
    squared against the rest.
    """
    q, e = len(queries), len(exemplars)
    t1, t2 = queries.shape[1], exemplars.shape[1]
    cost = _frame_costs(
        np.asarray(queries, dtype=np.float64), np.asarray(exemplars, dtype=np.float64), joints
    )
    acc = np.full((q, e, t1 + 1, t2 + 1), np.inf, dtype=np.float64)
    acc[:, :, 0, 0] = 0.0
    for i in range(1, t1 + 1):
        for j in range(1, t2 + 1):
            if band is not None and not min(0, t2 - t1) - band <= j - i <= max(0, t2 - t1) + band:
                continue
            best = np.minimum(np.minimum(acc[:, :, i - 1, j], acc[:, :, i, j - 1]), acc[:, :, i - 1, j - 1])
            acc[:, :, i, j] = cost[:, :, i - 1, j - 1] + best
    return acc[:, :, t1, t2] / (t1 + t2)


@dataclass(frozen=True)
class Matching:
    """How a query meets an exemplar beyond plain DTW on whole frames (docs/RESULTS.md, "Body-frame DTW settings")."""

    joints: int = 0  # > 0: frame cost = mean of per-joint distances over this many joints
    mirror: Layout | None = None  # set: a class may also match its exemplar's mirror, the nearer counts
    weights: tuple[float, ...] | None = None  # V·3 coordinate scales, applied after any mirror (dtw_weights)


def exemplar_distances(
    queries: np.ndarray, exemplars: np.ndarray, matching: Matching = Matching()
) -> np.ndarray:
    """[Q, E] DTW distance under ``matching``: with a mirror, the nearer of the exemplar and its mirror."""
    w = 1.0 if matching.weights is None else np.asarray(matching.weights)
    d = dtw_distances(queries * w, exemplars * w, joints=matching.joints)
    if matching.mirror is not None:
        d = np.minimum(
            d, dtw_distances(queries * w, mirrored(exemplars, matching.mirror) * w, joints=matching.joints)
        )
    return d


def exemplar_scales(exemplars: np.ndarray, labels: np.ndarray, matching: Matching = Matching()) -> np.ndarray:
    """[C] each class's mean DTW distance from its exemplars to the other classes' exemplars.

    Raw DTW favours the classes whose exemplar lies close to everything (a short, still or
    low-amplitude clip): one such exemplar draws most queries. Dividing a class's distances by
    how far its exemplar lies from the other exemplars puts every class on its own scale, using
    the support set alone (docs/TRAINING.md, "Read-outs": ``ndtw``). Classes in ``np.unique``
    order; a lone class has scale 1.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        return np.ones(len(classes))
    d = exemplar_distances(exemplars, exemplars, matching)
    scales = np.array([d[labels == c][:, labels != c].mean() for c in classes])
    return np.maximum(scales, 1e-12)


def class_distances(
    queries: np.ndarray,
    exemplars: np.ndarray,
    labels: np.ndarray,
    calibrated: bool = False,
    matching: Matching = Matching(),
) -> tuple[np.ndarray, np.ndarray]:
    """(classes, [Q, C] DTW distance to each class's nearest exemplar), divided by
    :func:`exemplar_scales` when ``calibrated``."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    d = exemplar_distances(queries, exemplars, matching)
    nearest = np.stack([d[:, labels == c].min(1) for c in classes], axis=1)
    if calibrated:
        nearest = nearest / exemplar_scales(exemplars, labels, matching)[None]
    return classes, nearest
