"""A stick-figure body with NTU-25 joints, posed by a handful of joint angles per frame.

Actions are written as angle curves (shoulder elevation, knee flexion, head pitch, …)
rather than joint positions, so one curve yields anatomically plausible motion for any
body proportions. Forward kinematics is vectorised over frames.

Body frame: x = the person's right, y = up, z = backwards (the person faces -z, i.e. the
camera once placed in Kinect camera space, where the sensor's left is +x); metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# pose parameters (radians, metres); the actions set some of them, the rest keep REST
REST: dict[str, float] = {
    "root_x": 0.0,  # sideways step (+ = to the person's right)
    "root_z": 0.0,  # forward step (+ = forwards)
    "lift": 0.0,  # feet off the ground (jumps, hops)
    "body_yaw": 0.0,  # whole-body turn about the vertical
    "trunk_pitch": 0.0,  # + = bend forwards (bow)
    "trunk_yaw": 0.0,  # + = turn the upper body to the person's left
    "trunk_roll": 0.0,  # + = bend towards the person's right
    "head_pitch": 0.0,  # + = look down (nod)
    "head_yaw": 0.0,
    "head_roll": 0.0,
}
for _side in ("r", "l"):
    REST |= {
        f"{_side}_arm_el": np.deg2rad(12.0),  # upper arm elevation from hanging down
        f"{_side}_arm_az": np.deg2rad(90.0),  # 0 = raise forwards, 90 = raise sideways, < 0 = across
        f"{_side}_arm_twist": 0.0,
        f"{_side}_elbow": np.deg2rad(12.0),  # flexion; at rest it brings the forearm forwards
        f"{_side}_hip_el": 0.0,  # thigh elevation
        f"{_side}_hip_az": 0.0,  # 0 = forwards (kick), 90 = sideways, 180 = backwards
        f"{_side}_knee": np.deg2rad(3.0),  # flexion, bends the shin backwards
    }


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths of one person (metres); ``random`` draws a plausible adult."""

    spine_low: float = 0.25
    spine_high: float = 0.24
    neck: float = 0.08
    head: float = 0.12
    shoulder_half: float = 0.18
    upper_arm: float = 0.28
    forearm: float = 0.25
    hand: float = 0.08
    hand_tip: float = 0.07
    hip_half: float = 0.09
    thigh: float = 0.43
    shin: float = 0.41
    foot: float = 0.13

    @classmethod
    def random(cls, rng: np.random.Generator) -> BodyShape:
        base = cls()
        scale = rng.uniform(0.85, 1.15)
        jitter = rng.uniform(0.92, 1.08, size=len(base.__dataclass_fields__))
        return cls(
            *(getattr(base, f) * scale * j for f, j in zip(base.__dataclass_fields__, jitter, strict=True))
        )


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations [T, 3, 3] about a body axis (0 = x, 1 = y, 2 = z) by per-frame angles."""
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros((*angle.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def _mul(*mats: np.ndarray) -> np.ndarray:
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out


def _apply(r: np.ndarray, v: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """Rotate a fixed vector [3] or per-frame vectors [T, 3] by [T, 3, 3]."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        return r @ v
    return np.einsum("tij,tj->ti", r, v)


_X, _Y, _Z = 0, 1, 2


def _limb(
    shape_a: float,
    shape_b: float,
    el: np.ndarray,
    az: np.ndarray,
    bend: np.ndarray,
    twist: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A two-segment right limb hanging down at rest: (middle joint, end joint, R_upper, R_lower).

    The upper segment is raised by ``el`` in the vertical plane at azimuth ``az`` from
    straight ahead towards the right; ``bend`` flexes the lower segment about the upper
    segment's x axis (forwards for an elbow, pass a negative angle for a knee).
    """
    r_up = _mul(_rot(_Y, -az), _rot(_X, el), *([_rot(_Y, twist)] if twist is not None else []))
    mid = _apply(r_up, (0.0, -shape_a, 0.0))
    r_low = r_up @ _rot(_X, bend)
    end = mid + _apply(r_low, (0.0, -shape_b, 0.0))
    return mid, end, r_up, r_low


def _mirror(v: np.ndarray) -> np.ndarray:
    return v * np.array([-1.0, 1.0, 1.0])


def forward_kinematics(pose: dict[str, np.ndarray], shape: BodyShape) -> np.ndarray:
    """Joint positions [T, 25, 3] in the body frame, feet on the floor (y = 0) unless lifted."""
    p = pose
    t = len(p["root_x"])
    j = np.zeros((t, 25, 3))
    neg = -1.0
    # pelvis and legs (the pelvis does not follow the trunk)
    for side, sign, (hip, knee, ankle, foot) in (("r", 1.0, (16, 17, 18, 19)), ("l", neg, (12, 13, 14, 15))):
        h = np.array([sign * shape.hip_half, -0.06, 0.0])
        k, a, _, r_shin = _limb(
            shape.thigh, shape.shin, p[f"{side}_hip_el"], p[f"{side}_hip_az"], -p[f"{side}_knee"], None
        )
        f = a + _apply(r_shin, (0.0, -0.05, -shape.foot))
        if sign < 0:
            k, a, f = _mirror(k), _mirror(a), _mirror(f)
        j[:, hip] = h
        j[:, knee] = h + k
        j[:, ankle] = h + a
        j[:, foot] = h + f
    # trunk, head and arms rotate with the upper body about the spine base
    r_trunk = _mul(_rot(_Y, p["trunk_yaw"]), _rot(_X, -p["trunk_pitch"]), _rot(_Z, -p["trunk_roll"]))
    j[:, 1] = _apply(r_trunk, (0.0, shape.spine_low, 0.0))
    j[:, 20] = _apply(r_trunk, (0.0, shape.spine_low + shape.spine_high, 0.0))
    j[:, 2] = _apply(r_trunk, (0.0, shape.spine_low + shape.spine_high + shape.neck, 0.0))
    r_head = _mul(r_trunk, _rot(_Y, p["head_yaw"]), _rot(_X, -p["head_pitch"]), _rot(_Z, -p["head_roll"]))
    j[:, 3] = j[:, 2] + _apply(r_head, (0.0, shape.head, -0.07))
    for side, sign, (sho, elb, wri, hand, tip, thumb) in (
        ("r", 1.0, (8, 9, 10, 11, 23, 24)),
        ("l", neg, (4, 5, 6, 7, 21, 22)),
    ):
        s = np.array([sign * shape.shoulder_half, shape.spine_low + shape.spine_high - 0.03, 0.0])
        e, w, _, r_fore = _limb(
            shape.upper_arm,
            shape.forearm,
            p[f"{side}_arm_el"],
            p[f"{side}_arm_az"],
            p[f"{side}_elbow"],
            p[f"{side}_arm_twist"],
        )
        hd = w + _apply(r_fore, (0.0, -shape.hand, 0.0))
        tp = hd + _apply(r_fore, (0.0, -shape.hand_tip, 0.0))
        th = w + _apply(r_fore, (-0.03, -0.06, -0.025))
        pts = [np.zeros((t, 3)), e, w, hd, tp, th]
        if sign < 0:
            pts = [_mirror(q) for q in pts]
        for joint, q in zip((sho, elb, wri, hand, tip, thumb), pts, strict=True):
            j[:, joint] = _apply(r_trunk, s + q)
    # stand the lowest foot on the floor, then lift, step and turn the whole body
    lowest = j[:, [14, 15, 18, 19], 1].min(axis=1)
    j[..., 1] += (-lowest + p["lift"])[:, None]
    j = np.einsum("tij,tvj->tvi", _rot(_Y, p["body_yaw"]), j)
    j[..., 0] += p["root_x"][:, None]
    j[..., 2] -= p["root_z"][:, None]
    return j
