"""Procedural NTU-25 sequences for the synthetic actions, deterministic under a seed.

Samples are named like NTU files (``SsssCcccPpppRrrrAaaa``) so every reader, protocol and
split that understands NTU names understands these: the k-th sample of a class is
performed by subject ``k % 10 + 1`` (whose body proportions are fixed by the seed), seen
from camera ``k // 10 % 3 + 1``, replication ``k // 30 % 2 + 1``, setup ``k // 60 + 101``.
Setups start at 101 so that no name can be taken for a real NTU sample (S001–S032), nor
fall on NTU's missing-skeleton list, which readers drop.
Each sample draws its own random numbers from (seed, class, k), so a sample does not
change when more samples or other classes are generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from crossglg.data.synthetic.actions import ACTIONS, Action, deg, envelope, swing
from crossglg.data.synthetic.body import REST, BodyShape, forward_kinematics
from crossglg.errors import UserError

SUBJECTS = 10
CAMERAS = 3
# camera → yaw of the person relative to the sensor, as NTU's three cameras at -45°, 0°, +45°
CAMERA_YAW = {1: 45.0, 2: 0.0, 3: -45.0}
FIRST_SETUP = 101
MAX_PER_CLASS = (999 - FIRST_SETUP + 1) * 2 * CAMERAS * SUBJECTS


class Synthetic(NamedTuple):
    """``sequences``: float32 [T_i, M_i, 25, 3] in camera space (metres, y up, z away from
    the sensor), M_i = 1 or 2; ``labels``: 0-based; ``names``: NTU-style sample names."""

    sequences: list[np.ndarray]
    labels: np.ndarray
    names: list[str]


def sample_name(class_id: int, k: int) -> str:
    """The NTU-style name of the k-th (0-based) sample of a class (1-based id)."""
    subject = k % SUBJECTS + 1
    camera = k // SUBJECTS % CAMERAS + 1
    rep = k // (SUBJECTS * CAMERAS) % 2 + 1
    setup = k // (SUBJECTS * CAMERAS * 2) + FIRST_SETUP
    return f"S{setup:03d}C{camera:03d}P{subject:03d}R{rep:03d}A{class_id:03d}"


def _action(class_id: int) -> Action:
    if not 1 <= class_id <= len(ACTIONS):
        raise UserError(f"synthetic: no class {class_id}; ids run 1..{len(ACTIONS)}")
    return ACTIONS[class_id - 1]


def _pose(curves: dict[str, np.ndarray], t: int) -> dict[str, np.ndarray]:
    pose = {k: np.full(t, v) for k, v in REST.items()}
    for k, v in curves.items():
        pose[k] = np.broadcast_to(v, (t,)).astype(np.float64)
    return pose


def _idle(u: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A bystander: standing, swaying a little, glancing around."""
    f = rng.uniform(0.5, 1.5)
    return {
        "trunk_roll": deg(3 * swing(u, f)),
        "head_yaw": deg(15 * swing(u + rng.uniform(), f * 0.7)),
        "r_elbow": deg(12 + 8 * envelope(u)),
        "l_elbow": deg(12 + 8 * envelope(u)),
    }


def _place(joints: np.ndarray, yaw: float, offset: np.ndarray) -> np.ndarray:
    """Body frame → Kinect camera space: turn by ``yaw`` about the vertical, then shift."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return joints @ rot.T + offset


def generate_one(
    class_id: int,
    k: int,
    seed: int,
    *,
    second_person: float = 0.2,
    noise: bool = True,
) -> np.ndarray:
    """One sample, float32 [T, M, 25, 3]; see :func:`generate` for the arguments."""
    action = _action(class_id)
    if not 0 <= second_person <= 1:
        raise UserError(f"synthetic: second_person is a probability, got {second_person}")
    rng = np.random.default_rng([seed, class_id, k])
    shape = BodyShape.random(np.random.default_rng([seed, 0, k % SUBJECTS + 1]))
    speed = rng.uniform(0.7, 1.4)
    cycles = rng.uniform(2.0, 4.0) if action.periodic else 1.0
    amp = rng.uniform(0.75, 1.25)
    t = int(np.clip(round(action.frames * (cycles / 3 if action.periodic else 1) / speed), 16, 300))
    lead, tail = rng.uniform(0, 0.12, size=2)
    u = np.clip((np.linspace(0, 1, t) - lead) / (1 - lead - tail), 0, 1)
    camera = k // SUBJECTS % CAMERAS + 1
    yaw = deg(CAMERA_YAW[camera] + rng.uniform(-15, 15))
    floor = -rng.uniform(0.75, 1.05)  # the sensor stands this high above the floor
    where = np.array([rng.uniform(-0.4, 0.4), floor, rng.uniform(2.6, 3.6)])
    people = [_place(forward_kinematics(_pose(action.curves(u, amp, cycles), t), shape), yaw, where)]
    if rng.uniform() < second_person:
        side = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.3)
        other = forward_kinematics(_pose(_idle(u, rng), t), BodyShape.random(rng))
        other = _place(other, rng.uniform(-0.5, 0.5), np.array([side, 0.0, rng.uniform(-0.4, 0.4)]))
        people.append(_place(other, yaw, where))
    out = np.stack(people, axis=1)
    if noise:
        out = out + rng.normal(0.0, rng.uniform(0.002, 0.01), size=out.shape)
    return out.astype(np.float32)


def plan(n_per_class: int, classes: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """The (class id, k) pairs of a data set, in order; checks the arguments once, up front."""
    if n_per_class < 1 or n_per_class > MAX_PER_CLASS:
        raise UserError(f"synthetic: samples per class must be in 1..{MAX_PER_CLASS}, got {n_per_class}")
    ids = list(classes) if classes is not None else [a.id for a in ACTIONS]
    for c in ids:
        _action(c)
    return [(c, k) for c in ids for k in range(n_per_class)]


def generate(
    n_per_class: int,
    seed: int = 0,
    *,
    classes: Sequence[int] | None = None,
    second_person: float = 0.2,
    noise: bool = True,
) -> Synthetic:
    """``n_per_class`` samples of each class (1-based ids; all 40 by default).

    ``second_person`` is the chance that a bystander stands next to the actor (slot 2);
    ``noise`` adds per-joint sensor jitter. Random body proportions (per subject), speed,
    amplitude, repetitions, start and end pauses and viewpoint come from the seed.
    """
    pairs = plan(n_per_class, classes)
    return Synthetic(
        [generate_one(c, k, seed, second_person=second_person, noise=noise) for c, k in pairs],
        np.asarray([c - 1 for c, _ in pairs], dtype=np.int64),
        [sample_name(c, k) for c, k in pairs],
    )
