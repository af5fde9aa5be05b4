"""Nearest exemplar by dynamic time warping: the one-shot baseline that learns nothing.

A learned encoder that cannot beat DTW on normalised joints has not learned anything
useful about motion, so every results table carries this row.
"""

from __future__ import annotations

import numpy as np

from crossglg.vocab.layouts import Layout

DTW_FRAMES = 32  # every sequence is resampled to this length before DTW


def normalise(seq: np.ndarray, layout: Layout, frames: int = DTW_FRAMES) -> np.ndarray:
    """[T, M, V, 3] → [frames, V·3] for the first person: centred per frame, unit body scale.

    Centring on the layout's centre joint removes where the person stands; dividing by the
    mean bone length removes body size; linear resampling to a fixed length keeps the DTW
    cost comparable across sequences of 13 to 900 frames.
    """
    x = np.asarray(seq, dtype=np.float64)[:, 0]  # first person, [T, V, 3]
    x = x - x[:, layout.center : layout.center + 1]
    scale = layout.bone_lengths(x).mean()
    x = x / max(scale, 1e-6)
    t_src = np.linspace(0.0, len(x) - 1, frames)
    lo = np.floor(t_src).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (t_src - lo)[:, None, None]
    x = (1 - w) * x[lo] + w * x[hi]
    return x.reshape(frames, -1).astype(np.float32)


def dtw_distances(queries: np.ndarray, exemplars: np.ndarray, band: int | None = None) -> np.ndarray:
    """DTW distance of every query to every exemplar: [Q, T, F] × [E, T, F] → [Q, E].

    All pairs advance through the recurrence together, so the Python loop runs T² times
    whatever the number of pairs. ``band`` (Sakoe–Chiba) keeps the path within that many
    frames of the diagonal (of the strip of diagonals that joins both ends when the lengths
    differ, so a path always exists); None leaves it free.
    """
    q, e = len(queries), len(exemplars)
    t1, t2 = queries.shape[1], exemplars.shape[1]
    a = np.asarray(queries, dtype=np.float64)
    b = np.asarray(exemplars, dtype=np.float64)
    # |a−b|² = |a|² + |b|² − 2a·b: memory [Q, E, T1, T2], not [Q, E, T1, T2, F]
    sq = (a**2).sum(-1)[:, None, :, None] + (b**2).sum(-1)[None, :, None, :]
    cost = np.sqrt(np.maximum(sq - 2 * np.einsum("qif,ejf->qeij", a, b), 0.0))
    acc = np.full((q, e, t1 + 1, t2 + 1), np.inf, dtype=np.float64)
    acc[:, :, 0, 0] = 0.0
    for i in range(1, t1 + 1):
        for j in range(1, t2 + 1):
            if band is not None and not min(0, t2 - t1) - band <= j - i <= max(0, t2 - t1) + band:
                continue
            best = np.minimum(np.minimum(acc[:, :, i - 1, j], acc[:, :, i, j - 1]), acc[:, :, i - 1, j - 1])
            acc[:, :, i, j] = cost[:, :, i - 1, j - 1] + best
    return acc[:, :, t1, t2] / (t1 + t2)


def exemplar_scales(exemplars: np.ndarray, labels: np.ndarray) -> np.ndarray:
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
    d = dtw_distances(exemplars, exemplars)
    scales = np.array([d[labels == c][:, labels != c].mean() for c in classes])
    return np.maximum(scales, 1e-12)


def class_distances(
    queries: np.ndarray, exemplars: np.ndarray, labels: np.ndarray, calibrated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(classes, [Q, C] DTW distance to each class's nearest exemplar), divided by
    :func:`exemplar_scales` when ``calibrated``."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    d = dtw_distances(queries, exemplars)
    nearest = np.stack([d[:, labels == c].min(1) for c in classes], axis=1)
    if calibrated:
        nearest = nearest / exemplar_scales(exemplars, labels)[None]
    return classes, nearest
