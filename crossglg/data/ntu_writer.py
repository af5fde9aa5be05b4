"""Write NTU RGB+D ``.skeleton`` files in the exact grammar of docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files".

NTU skeletons may not be redistributed, so the raw reader is tested on files written here:
every field a real file has (10-field body lines with a 64-bit body id, 12 fields per
joint, the Kinect projections and orientations), plus on request the quirks real files have
(0-body frames, a third noise body, CRLF line endings) and defects a reader must report
rather than crash on (a truncated file, a wrong joint count, NaN coordinates).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossglg.errors import UserError

JOINTS = 25
FIRST_BODY_ID = 72057594037927936  # 2**56: real ids look like 72057594037931101
# joints whose orientation the Kinect SDK leaves at 0 0 0 0: head, feet, hand tips, thumbs
_NO_ORIENTATION = (3, 15, 19, 21, 22, 23, 24)
# approximate Kinect v2 intrinsics: depth/IR 512×424, colour 1920×1080
_DEPTH = (365.5, 255.5, 211.5)
_COLOR = (1081.4, 959.5, 539.5)
_JOINT_FMT = " ".join(["%.7g"] * 11 + ["%d"]) + "\n"


@dataclass(frozen=True)
class Defects:
    """Quirks real files have and defects a reader must survive, planted on request.

    ``zero_body_frames``: frames with ``bodyCount = 0`` inserted at random places;
    ``noise_body``: a third, short (≤ 11 frames), wide and flat track, as furniture gives;
    ``crlf``: Windows line endings; ``truncate``: the file stops in the middle of a joint
    line; ``wrong_joint_count``: one body in one frame lists 24 joints; ``nan``: one frame
    of the first body has NaN coordinates.
    """

    zero_body_frames: int = 0
    noise_body: bool = False
    crlf: bool = False
    truncate: bool = False
    wrong_joint_count: bool = False
    nan: bool = False

    def kinds(self) -> list[str]:
        """The planted items by name, for manifests and reports."""
        return [k for k, v in self.__dict__.items() if v]


def _noise_track(t_total: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Start frame and [L, 25, 3] joints of a wide, flat, short noise body."""
    length = int(rng.integers(4, 12))
    start = int(rng.integers(0, max(1, t_total - length)))
    centre = np.array([rng.uniform(-1.5, 1.5), rng.uniform(-0.8, 0.2), rng.uniform(2.0, 4.5)])
    spread = np.array([rng.uniform(0.8, 1.6), rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.3)])
    pts = centre + (rng.uniform(-0.5, 0.5, size=(length, JOINTS, 3)) * spread)
    return start, pts


def _joint_rows(xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All 12 fields for bodies [K, 25, 3] → [K, 25, 12]: x y z depthX depthY colorX colorY W X Y Z state."""
    xyz = xyz.astype(np.float64)
    x, y = xyz[..., 0], xyz[..., 1]
    z = np.where(np.abs(xyz[..., 2]) > 0.1, xyz[..., 2], 0.1)
    proj = [
        c + sign * f * v / z for f, cx, cy in (_DEPTH, _COLOR) for c, sign, v in ((cx, 1, x), (cy, -1, y))
    ]
    quat = rng.normal(size=(*xyz.shape[:2], 4))
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    quat[:, list(_NO_ORIENTATION)] = 0.0
    state = np.where(rng.uniform(size=xyz.shape[:2]) < 0.05, 1.0, 2.0)
    return np.concatenate([xyz, np.stack(proj, -1), quat, state[..., None]], axis=-1)


def _body_lines(ids: list[int], rng: np.random.Generator) -> list[str]:
    """The 10-field body lines: id, clippedEdges, hand confidences/states, isRestricted, lean, state."""
    conf = rng.integers(0, 2, size=(len(ids), 2))
    state = rng.integers(0, 5, size=(len(ids), 2))
    lean = rng.uniform(-0.1, 0.1, size=(len(ids), 2))
    return [
        f"{i} 0 {c[0]} {s[0]} {c[1]} {s[1]} 0 {ln[0]:.7g} {ln[1]:.7g} 2\n"
        for i, c, s, ln in zip(ids, conf.tolist(), state.tolist(), lean.tolist(), strict=True)
    ]


def skeleton_text(
    bodies: np.ndarray,
    *,
    present: np.ndarray | None = None,
    body_ids: Sequence[int] | None = None,
    defects: Defects | None = None,
    seed: int = 0,
) -> str:
    """The text of a ``.skeleton`` file for joints [T, M, 25, 3] (Kinect camera space, metres).

    ``present`` [T, M] says which bodies are tracked in which frame (default: those with a
    non-zero joint); a frame with none becomes a 0-body frame. ``body_ids`` default to
    distinct 64-bit ids.
    """
    d = defects or Defects()
    bodies = np.asarray(bodies)
    if bodies.ndim != 4 or bodies.shape[2:] != (JOINTS, 3):
        raise UserError(f"NTU writer: joints must be [T, M, {JOINTS}, 3], got {bodies.shape}")
    t, m = bodies.shape[:2]
    rng = np.random.default_rng(seed)
    if present is None:
        present = np.abs(bodies).reshape(t, m, -1).max(axis=2) > 0
    ids = (
        list(body_ids)
        if body_ids is not None
        else [FIRST_BODY_ID + int(rng.integers(1, 2**20)) + i for i in range(m)]
    )
    if len(ids) != m:
        raise UserError(f"NTU writer: {m} bodies but {len(ids)} body ids")
    frames: list[list[tuple[int, np.ndarray]]] = [
        [(ids[b], bodies[f, b]) for b in range(m) if present[f, b]] for f in range(t)
    ]
    if d.nan:
        f = next((i for i, fr in enumerate(frames) if fr), 0)
        if frames[f]:
            first_id, xyz = frames[f][0]
            frames[f][0] = (first_id, np.full_like(xyz, np.nan))
    if d.noise_body:
        start, pts = _noise_track(t, rng)
        noise_id = max(ids, default=FIRST_BODY_ID) + 7
        for i, xyz in enumerate(pts):
            if start + i < t:
                frames[start + i].append((noise_id, xyz))
    bad_frame = next((i for i, fr in enumerate(frames) if fr), -1) if d.wrong_joint_count else -1
    for _ in range(d.zero_body_frames):
        frames.insert(int(rng.integers(0, len(frames) + 1)), [])

    # every body of every frame in one vectorised pass; only the text formatting loops
    flat = [(f, b, body_id, xyz) for f, frame in enumerate(frames) for b, (body_id, xyz) in enumerate(frame)]
    rows = _joint_rows(np.stack([it[3] for it in flat]) if flat else np.zeros((0, JOINTS, 3)), rng)
    body_lines = _body_lines([it[2] for it in flat], rng)
    parts = [f"{len(frames)}\n"]
    k = 0
    for f, frame in enumerate(frames):
        parts.append(f"{len(frame)}\n")
        for b in range(len(frame)):
            n_joints = JOINTS - 1 if (f == bad_frame and b == 0) else JOINTS
            parts.append(body_lines[k])
            parts.append(f"{n_joints}\n")
            parts.append((_JOINT_FMT * n_joints) % tuple(rows[k, :n_joints].ravel().tolist()))
            k += 1
    text = "".join(parts)
    if d.truncate:
        cut = int(len(text) * rng.uniform(0.4, 0.8))
        line_end = text.rfind("\n", 0, cut)
        text = text[: line_end + 1 + 25]  # stop 25 characters into a line
    if d.crlf:
        text = text.replace("\n", "\r\n")
    return text


def write_skeleton(
    path: str | os.PathLike[str],
    bodies: np.ndarray,
    *,
    present: np.ndarray | None = None,
    body_ids: Sequence[int] | None = None,
    defects: Defects | None = None,
    seed: int = 0,
) -> Path:
    """Write one ``.skeleton`` file (see :func:`skeleton_text`); returns its path."""
    path = Path(path)
    text = skeleton_text(bodies, present=present, body_ids=body_ids, defects=defects, seed=seed)
    path.write_bytes(text.encode("ascii"))
    return path
