"""CTR-GCN-style choice of the (at most two) actors among the tracked bodies of an NTU file.

Kinect v2 tracks furniture and re-identifies people, so a file can hold several short or
implausible tracks. The rules (docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files") are the ones CTR-GCN, SGN and MS-G3D
share, so a cache prepared here matches the arrays those models were tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TRACK_FRAMES = 12  # tracks of <= 11 frames are noise
SPREAD_RATIO = 0.8  # a frame is implausible when range(x) > 0.8 * range(y)
NOISY_FRAME_RATIO = 0.69754  # a track with this share of implausible frames is dropped


@dataclass
class Track:
    """One body id: the indices of the (non-empty) frames it appears in and its joints [n, V, 3]."""

    frames: np.ndarray
    joints: np.ndarray

    @property
    def motion(self) -> float:
        return _motion(self.joints)


def _motion(joints: np.ndarray) -> float:
    if len(joints) == 0:
        return 0.0
    return float(np.var(joints.reshape(-1, 3), axis=0).sum())


def _spread_filter(tracks: list[Track]) -> list[tuple[Track, float]]:
    kept = []
    for tr in tracks:
        span = tr.joints.max(axis=1) - tr.joints.min(axis=1)  # [n, 3]
        noisy = span[:, 0] > SPREAD_RATIO * span[:, 1]
        if noisy.mean() >= NOISY_FRAME_RATIO:
            continue
        kept.append((tr, _motion(tr.joints[~noisy])))
    return kept


def select_actors(tracks: list[Track], num_frames: int) -> np.ndarray:
    """Two actor slots [T', 2, V, 3] in camera coordinates; frames where both are absent are cut.

    Actor 1 is the track with the most motion; later tracks fill actor 1's slot where they do
    not overlap it in time (a lost and re-found id), else actor 2's, else they are dropped.
    """
    if len(tracks) == 1:
        ranked = [tracks[0]]
    else:
        long_enough = [t for t in tracks if len(t.frames) >= MIN_TRACK_FRAMES] or tracks
        scored = _spread_filter(long_enough) if len(long_enough) > 1 else []
        if not scored:  # every track looked like noise: fall back to raw motion
            scored = [(t, t.motion) for t in long_enough]
        ranked = [t for t, _ in sorted(scored, key=lambda p: -p[1])]
    num_joints = ranked[0].joints.shape[1]
    out = np.zeros((num_frames, 2, num_joints, 3), dtype=np.float32)
    used = np.zeros((2, num_frames), dtype=bool)
    for rank, tr in enumerate(ranked):
        for slot in (0, 1) if rank else (0,):
            if not used[slot, tr.frames].any():
                out[tr.frames, slot] = tr.joints
                used[slot, tr.frames] = True
                break
    return out[used.any(axis=0)]
