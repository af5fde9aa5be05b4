"""The synthetic actions: each is a few angle curves over normalised time u ∈ [0, 1].

An action's meaning lives in the body parts it claims (``parts``): the generator's tests
check that those joints move far more than the rest, so the text pipeline's part
descriptions ("the right hand moves side to side above the shoulder") are true of the
data. ``amp`` scales the motion (≈ 0.7–1.3) and ``cycles`` sets how often periodic
actions repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crossglg.data.synthetic.body import REST

Curves = dict[str, np.ndarray]


def deg(x: float | np.ndarray) -> np.ndarray:
    return np.deg2rad(x)


def envelope(u: np.ndarray, ramp: float = 0.2) -> np.ndarray:
    """0 → 1 → 0 with smooth ramps: get into the pose, hold it, let go."""
    up = np.clip((u - 0.05) / ramp, 0, 1)
    down = np.clip((0.95 - u) / ramp, 0, 1)
    e = np.minimum(up, down)
    return e * e * (3 - 2 * e)


def swing(u: np.ndarray, cycles: float) -> np.ndarray:
    """Oscillation in [-1, 1] that starts at 0."""
    return np.sin(2 * np.pi * cycles * u)


def pulses(u: np.ndarray, cycles: float) -> np.ndarray:
    """Repeated 0 → 1 → 0 bumps, ``cycles`` of them."""
    return (1 - np.cos(2 * np.pi * cycles * u)) / 2


def once(u: np.ndarray) -> np.ndarray:
    """One smooth 0 → 1 → 0 bump over the whole action."""
    return pulses(u, 1.0)


def _side(s: str) -> str:
    return {"right": "r", "left": "l"}[s]


def _wave(*sides: str) -> Callable[[np.ndarray, float, float], Curves]:
    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        e = envelope(u)
        out: Curves = {}
        for s in map(_side, sides):
            out[f"{s}_arm_el"] = deg(12 + 78 * e)
            out[f"{s}_arm_az"] = deg(90 - 10 * e)
            out[f"{s}_elbow"] = deg(12 + e * (80 + 30 * amp * swing(u, cycles)))
        return out

    return f


def _raise(*sides: str) -> Callable[[np.ndarray, float, float], Curves]:
    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        e = envelope(u, 0.3)
        out: Curves = {}
        for s in map(_side, sides):
            out[f"{s}_arm_el"] = deg(12 + (150 + 20 * (amp - 1)) * e)
            out[f"{s}_arm_az"] = deg(90 - 60 * e)
        return out

    return f


def _punch(side: str) -> Callable[[np.ndarray, float, float], Curves]:
    s = _side(side)

    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        guard = envelope(u, 0.15)
        hit = pulses(u, cycles) * guard * min(amp, 1.2)
        return {
            f"{s}_arm_el": deg(12 + guard * (28 + 55 * hit)),
            f"{s}_arm_az": deg(90 - 80 * guard),
            f"{s}_elbow": deg(12 + guard * (110 - 105 * hit)),
        }

    return f


def _kick(side: str, azimuth: float) -> Callable[[np.ndarray, float, float], Curves]:
    s = _side(side)

    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        k = pulses(u, cycles)
        return {
            f"{s}_hip_el": deg(65 * amp * k),
            f"{s}_hip_az": np.full_like(u, deg(azimuth)),
            f"{s}_knee": deg(3 + 50 * np.sin(np.pi * k) ** 2),
        }

    return f


def _hop(side: str) -> Callable[[np.ndarray, float, float], Curves]:
    other = {"left": "r", "right": "l"}[side]

    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        e = envelope(u, 0.15)
        return {
            f"{other}_knee": deg(3 + 80 * e),
            f"{other}_hip_el": deg(25 * e),
            "lift": 0.12 * amp * e * np.abs(np.sin(np.pi * cycles * 2 * u)),
        }

    return f


def _step(dx: float, dz: float) -> Callable[[np.ndarray, float, float], Curves]:
    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        progress = np.clip((u - 0.2) / 0.6, 0, 1)
        progress = progress * progress * (3 - 2 * progress)
        lead = np.sin(np.pi * progress)
        out: Curves = {"root_x": dx * amp * progress, "root_z": dz * amp * progress}
        # the moving leg swings in the direction of travel, the knee bends to clear the floor
        az = 90.0 if dx > 0 else (0.0 if dz > 0 else 180.0)
        out["r_hip_el"] = deg(30 * lead)
        out["r_hip_az"] = np.full_like(u, deg(az))
        out["r_knee"] = deg(3 + 35 * lead)
        return out

    return f


def _static(**pose: float) -> Callable[[np.ndarray, float, float], Curves]:
    """Move into a held pose (degrees) and back; ``amp`` scales only the elevations."""

    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        e = envelope(u, 0.25)
        return {
            k: REST[k] + e * (deg(v) - REST[k]) * (amp if k.endswith("_el") else 1) for k, v in pose.items()
        }

    return f


def _clap(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.15)
    open_ = pulses(u, cycles) * amp
    return {
        **{f"{s}_arm_el": deg(12 + 63 * e) for s in "rl"},
        **{f"{s}_arm_az": deg(90 - e * (105 - 45 * open_)) for s in "rl"},
        **{f"{s}_elbow": deg(12 + 18 * e) for s in "rl"},
    }


def _sideways(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.3)
    return {f"{s}_arm_el": deg(12 + (78 + 5 * amp) * e) for s in "rl"} | {
        f"{s}_elbow": deg(12 - 10 * e) for s in "rl"
    }


def _flap(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.1)
    return {f"{s}_arm_el": deg(12 + e * amp * (40 + 40 * pulses(u, cycles))) for s in "rl"}


def _circle_arm(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.1)
    phase = 2 * np.pi * cycles * u
    return {
        "r_arm_el": deg(12 + e * (80 + 70 * amp * np.sin(phase))),
        "r_arm_az": deg(90 - e * (45 + 45 * np.cos(phase))),
        "r_elbow": deg(12 - 8 * e),
    }


def _touch_head(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.3)
    return {"r_arm_el": deg(12 + 118 * e), "r_arm_az": deg(90 - 30 * e), "r_elbow": deg(12 + 128 * e)}


def _salute(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.2)
    return {"r_arm_el": deg(12 + 83 * e), "r_arm_az": deg(90 - 45 * e), "r_elbow": deg(12 + 133 * e)}


def _throw(u: np.ndarray, amp: float, cycles: float) -> Curves:
    wind = np.clip(u / 0.5, 0, 1)
    release = np.clip((u - 0.5) / 0.25, 0, 1)
    back = np.clip((u - 0.8) / 0.2, 0, 1)
    lift = np.sin(np.pi / 2 * wind) * (1 - back)
    return {
        "r_arm_el": deg(12 + 140 * lift - 60 * amp * release * (1 - back)),
        "r_arm_az": deg(90 + 60 * lift - 90 * release * (1 - back)),
        "r_elbow": deg(12 + 90 * lift * (1 - release)),
        "trunk_yaw": deg(-20 * lift * (1 - release) + 15 * release * (1 - back)),
    }


def _push(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.15)
    push = pulses(u, cycles) * e
    return {
        **{f"{s}_arm_el": deg(12 + e * (60 + 20 * push * amp)) for s in "rl"},
        **{f"{s}_arm_az": deg(90 - 80 * e) for s in "rl"},
        **{f"{s}_elbow": deg(12 + e * (100 - 95 * push)) for s in "rl"},
    }


def _jump(u: np.ndarray, amp: float, cycles: float) -> Curves:
    k = pulses(u, cycles)
    air = np.clip(np.sin(2 * np.pi * cycles * u - np.pi / 2), 0, 1)
    crouch = (1 - air) * k
    return {
        "lift": 0.25 * amp * air,
        **{f"{s}_hip_el": deg(45 * crouch) for s in "rl"},
        **{f"{s}_knee": deg(3 + 80 * crouch) for s in "rl"},
        **{f"{s}_arm_el": deg(12 + 60 * air) for s in "rl"},
        **{f"{s}_arm_az": deg(90 - 60 * air) for s in "rl"},
        "trunk_pitch": deg(25 * crouch),
    }


def _jacks(u: np.ndarray, amp: float, cycles: float) -> Curves:
    k = pulses(u, cycles)
    return {
        "lift": 0.06 * amp * np.abs(np.sin(2 * np.pi * cycles * u)),
        **{f"{s}_arm_el": deg(12 + 150 * k * amp) for s in "rl"},
        **{f"{s}_hip_el": deg(25 * k) for s in "rl"},
        **{f"{s}_hip_az": np.full_like(u, deg(90)) for s in "rl"},
    }


def _squat(u: np.ndarray, amp: float, cycles: float) -> Curves:
    k = pulses(u, cycles) * min(amp, 1.15)
    return {
        **{f"{s}_hip_el": deg(80 * k) for s in "rl"},
        **{f"{s}_knee": deg(3 + 115 * k) for s in "rl"},
        "trunk_pitch": deg(30 * k),
    }


def _march(u: np.ndarray, amp: float, cycles: float) -> Curves:
    r = np.clip(swing(u, cycles), 0, 1)
    lf = np.clip(-swing(u, cycles), 0, 1)
    return {
        "r_hip_el": deg(50 * amp * r),
        "r_knee": deg(3 + 80 * amp * r),
        "l_hip_el": deg(50 * amp * lf),
        "l_knee": deg(3 + 80 * amp * lf),
        "r_arm_el": deg(12 + 25 * lf),
        "r_arm_az": deg(90 - 90 * lf),
        "l_arm_el": deg(12 + 25 * r),
        "l_arm_az": deg(90 - 90 * r),
    }


def _knee_raise(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.25)
    return {"r_hip_el": deg(85 * amp * e), "r_knee": deg(3 + 90 * e)}


def _tap(u: np.ndarray, amp: float, cycles: float) -> Curves:
    e = envelope(u, 0.1)
    tap = pulses(u, cycles) * e
    return {"r_hip_el": deg(18 * amp * tap), "r_knee": deg(3 + 20 * tap)}


def _head(key: str, degrees: float) -> Callable[[np.ndarray, float, float], Curves]:
    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        return {key: deg(degrees * amp * envelope(u, 0.1) * swing(u, cycles))}

    return f


def _trunk(key: str, degrees: float, periodic: bool) -> Callable[[np.ndarray, float, float], Curves]:
    def f(u: np.ndarray, amp: float, cycles: float) -> Curves:
        shape = envelope(u, 0.1) * swing(u, cycles) if periodic else pulses(u, cycles)
        return {key: deg(degrees * amp * shape)}

    return f


def _turn_around(u: np.ndarray, amp: float, cycles: float) -> Curves:
    progress = np.clip((u - 0.1) / 0.8, 0, 1)
    progress = progress * progress * (3 - 2 * progress)
    stepping = np.abs(np.sin(np.pi * 4 * progress)) * np.sin(np.pi * progress)
    return {"body_yaw": deg(360 * progress), "r_hip_el": deg(20 * stepping), "r_knee": deg(3 + 30 * stepping)}


@dataclass(frozen=True)
class Action:
    """One synthetic class: 1-based id, name (the class name sent to the LLM), the body
    parts whose movement defines it, nominal length in frames, and whether it repeats."""

    id: int
    name: str
    parts: tuple[str, ...]
    frames: int
    periodic: bool
    curves: Callable[[np.ndarray, float, float], Curves]


_R_ARM, _L_ARM = ("right arm", "right hand"), ("left arm", "left hand")
_ARMS = _R_ARM + _L_ARM
_LEGS = ("right leg", "right foot", "left leg", "left foot")
_UPPER = ("torso", "head", *_ARMS)

_HANDS_ON_HIPS = _static(
    **{
        f"{s}_{k}": v
        for s in "rl"
        for k, v in (("arm_el", 50), ("arm_az", 100), ("elbow", 90), ("arm_twist", -180))
    }
)
_CROSS_ARMS = _static(
    **{
        f"{s}_{k}": v
        for s in "rl"
        for k, v in (("arm_el", 25), ("arm_az", 10), ("elbow", 100), ("arm_twist", 90))
    }
)

_TABLE: list[tuple[str, tuple[str, ...], int, bool, Callable[[np.ndarray, float, float], Curves]]] = [
    ("wave right hand", _R_ARM, 70, True, _wave("right")),
    ("wave left hand", _L_ARM, 70, True, _wave("left")),
    ("wave both hands", _ARMS, 70, True, _wave("right", "left")),
    ("raise right arm", _R_ARM, 60, False, _raise("right")),
    ("raise left arm", _L_ARM, 60, False, _raise("left")),
    ("raise both arms", _ARMS, 60, False, _raise("right", "left")),
    ("stretch arms sideways", _ARMS, 60, False, _sideways),
    ("clap hands", _ARMS, 60, True, _clap),
    ("punch with right fist", _R_ARM, 60, True, _punch("right")),
    ("punch with left fist", _L_ARM, 60, True, _punch("left")),
    ("touch head", _R_ARM, 60, False, _touch_head),
    ("salute with right hand", _R_ARM, 55, False, _salute),
    ("circle right arm", _R_ARM, 80, True, _circle_arm),
    ("flap both arms", _ARMS, 60, True, _flap),
    ("throw with right hand", (*_R_ARM, "torso"), 55, False, _throw),
    ("push forward with both hands", _ARMS, 60, True, _push),
    ("put hands on hips", _ARMS, 55, False, _HANDS_ON_HIPS),
    ("cross arms", _ARMS, 55, False, _CROSS_ARMS),
    ("kick right leg", ("right leg", "right foot"), 50, True, _kick("right", 0)),
    ("kick left leg", ("left leg", "left foot"), 50, True, _kick("left", 0)),
    ("side kick with right leg", ("right leg", "right foot"), 50, True, _kick("right", 90)),
    ("hop on left foot", ("right leg", "right foot", "left foot"), 70, True, _hop("left")),
    ("hop on right foot", ("left leg", "left foot", "right foot"), 70, True, _hop("right")),
    ("jump", ("whole body",), 50, True, _jump),
    ("jumping jacks", ("whole body",), 70, True, _jacks),
    ("squat", (*_LEGS, "torso"), 70, True, _squat),
    ("march in place", (*_LEGS, *_ARMS), 80, True, _march),
    ("step forward", ("whole body",), 60, False, _step(0.0, 0.45)),
    ("step back", ("whole body",), 60, False, _step(0.0, -0.4)),
    ("step to the side", ("whole body",), 60, False, _step(0.4, 0.0)),
    ("raise right knee", ("right leg", "right foot"), 60, False, _knee_raise),
    ("tap right foot", ("right foot", "right leg"), 60, True, _tap),
    ("nod head", ("head",), 55, True, _head("head_pitch", 30)),
    ("shake head", ("head",), 55, True, _head("head_yaw", 60)),
    ("tilt head sideways", ("head",), 55, True, _head("head_roll", 35)),
    ("turn torso", _UPPER, 70, True, _trunk("trunk_yaw", 45, True)),
    ("bow", _UPPER, 60, False, _trunk("trunk_pitch", 60, False)),
    ("bend sideways", _UPPER, 70, True, _trunk("trunk_roll", 30, True)),
    ("lean back", _UPPER, 60, False, _trunk("trunk_pitch", -20, False)),
    ("turn around", ("whole body",), 90, False, _turn_around),
]

ACTIONS: tuple[Action, ...] = tuple(
    Action(i, name, parts, frames, periodic, fn)
    for i, (name, parts, frames, periodic, fn) in enumerate(_TABLE, 1)
)

# NTU-25 joints (0-based) of each part an action may claim
PART_JOINTS: dict[str, tuple[int, ...]] = {
    "head": (2, 3),
    "torso": (1, 20, 2),
    "right arm": (8, 9, 10),
    "right hand": (11, 23, 24),
    "left arm": (4, 5, 6),
    "left hand": (7, 21, 22),
    "right leg": (17, 18),
    "right foot": (19,),
    "left leg": (13, 14),
    "left foot": (15,),
    "whole body": tuple(range(25)),
}


def class_names() -> list[str]:
    """Class names in id order (id = position + 1)."""
    return [a.name for a in ACTIONS]
