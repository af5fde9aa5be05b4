"""Fixtures for the data layer: NTU ``.skeleton`` and PKU-MMD files written in their exact grammar.

NTU skeletons cannot be shipped (docs/DATA.md, "Getting the datasets"), so the raw reader is tested on small files
that follow the grammar to the letter, each planting one of the pitfalls the reader must survive
(docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer

BIG_ID = 72057594037931101  # a real-looking 64-bit Kinect body id
# two ids 1 apart near 2**56: a float parser would merge them into one body
CLOSE_IDS = (72057594037927937, 72057594037927938)


def body_block(body_id: int, joints: np.ndarray, n_joints: int | None = None) -> list[str]:
    """Lines of one body: the 10-field info line, the joint count and 12 fields per joint."""
    lines = [f"{body_id} 0 1 1 1 1 0 0.01 -0.02 2", str(n_joints if n_joints is not None else len(joints))]
    for x, y, z in joints:
        lines.append(f"{x:.6f} {y:.6f} {z:.6f} 250.5 200.1 960.3 540.2 0.9 0.1 0.2 0.3 2")
    return lines


def skeleton_text(
    frames: list[list[tuple[int, np.ndarray]]], crlf: bool = False, n_joints: int | None = None
) -> str:
    """A whole ``.skeleton`` file: frame count, then per frame the body count and bodies."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, joints in bodies:
            lines += body_block(body_id, joints, n_joints)
    return ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")


def person(t: int, seed: int, offset: float = 0.0) -> np.ndarray:
    """A moving upright body [t, 25, 3]: tall (y spread) rather than wide, so it passes the spread test."""
    rng = np.random.default_rng(seed)
    base = np.stack(
        [rng.uniform(-0.2, 0.2, 25) + offset, np.linspace(-0.9, 0.8, 25), rng.uniform(2.8, 3.2, 25)], 1
    )
    wave = 0.05 * np.sin(np.arange(t) / 3.0 + seed)[:, None, None]
    return np.round(base[None] + wave, 6)


def furniture(t: int) -> np.ndarray:
    """A flat wide static 'body' (x spread >> y spread): Kinect noise the spread test removes."""
    base = np.stack([np.linspace(-1.5, 1.5, 25), np.full(25, -0.5), np.full(25, 3.5)], 1)
    return np.repeat(base[None], t, axis=0) + 0.001 * np.arange(t)[:, None, None]


def write_pku_source(root: Path, frames: int = 200) -> np.ndarray:
    """A PKU-MMD folder: one 150-float-per-line sequence and comma-separated label files."""
    (root / "skeleton").mkdir(parents=True)
    (root / "label").mkdir()
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(frames, 150)).round(5)
    seq[:, 75:][50:] = 0  # person 2 leaves after frame 50
    np.savetxt(root / "skeleton" / "0002-L.txt", seq, fmt="%.5f")
    # comma-separated; the second line has start > end (swapped), the last runs past the end (cut)
    (root / "label" / "0002-L.txt").write_text("5,10,39,1\n12,120,80,2\n51,150,199,1\n7,190,230,1\n")
    (root / "label" / "0003-M.txt").write_text("1,0,10,1\n")  # no skeleton file
    return seq.reshape(frames, 2, 25, 3).astype(np.float32)


def write_ctrgcn_npz(path: Path, n_train: int, n_test: int, two_person_copy: bool = True) -> dict:
    """A CTR-GCN-layout npz: x (N, 300, 150) zero-padded, one-hot y; even samples copy actor 1."""
    rng = np.random.default_rng(1)
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        x = np.zeros((n, 300, 150), np.float32)
        y = np.zeros((n, 60))
        for i in range(n):
            t = 20 + i
            a = rng.normal(size=(t, 75)).astype(np.float32)
            x[i, :t, :75] = a
            x[i, :t, 75:] = a if (two_person_copy and i % 2 == 0) else rng.normal(size=(t, 75))
            y[i, (3 * i + 1) % 60] = 1
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    np.savez(path, **arrays)
    return arrays


@pytest.fixture
def ntu_folder(tmp_path: Path) -> dict[str, object]:
    """A raw NTU folder with good files and one planted defect per bad file; returns the truth."""
    root = tmp_path / "nturgbd_skeletons"
    root.mkdir()
    truth: dict[str, object] = {"root": root}

    # single actor, a 0-body frame at index 5, CRLF line endings, 64-bit id
    p1 = person(40, 1)
    frames = [[(BIG_ID, p1[t])] for t in range(40)]
    frames.insert(5, [])
    (root / "S001C001P001R001A001.skeleton").write_bytes(skeleton_text(frames, crlf=True).encode())
    truth["single"] = p1

    # two actors for 30 frames, plus a 6-frame noise track making 3-body frames 10..15,
    # plus a furniture track over all frames (dropped by the spread test)
    a, b, noise = person(30, 2), person(30, 3, offset=1.0), person(6, 4, offset=-2.0)
    table = furniture(30)
    frames = []
    for t in range(30):
        bodies = [(111, a[t]), (222, b[t]), (333, table[t])]
        if 10 <= t < 16:
            bodies.append((444, noise[t - 10]))
        frames.append(bodies)
    (root / "S002C002P002R002A050.skeleton").write_text(skeleton_text(frames))
    truth["pair"] = (a, b)

    # the same person re-identified half way: two ids that differ only past float precision
    p3 = person(24, 5)
    frames = [[(CLOSE_IDS[t >= 12], p3[t])] for t in range(24)]
    (root / "S001C003P008R001A007.skeleton").write_text(skeleton_text(frames))
    truth["reid"] = p3

    # planted defects
    good = skeleton_text([[(7, person(20, 6)[t])] for t in range(20)])
    (root / "S001C001P001R001A002.skeleton").write_text(good[: len(good) // 2])  # truncated
    bad_joints = skeleton_text([[(7, person(20, 7)[t][:24])] for t in range(20)])
    (root / "S001C001P001R001A003.skeleton").write_text(bad_joints)  # 24 joints
    with_nan = person(20, 8)
    with_nan[3, 4, 0] = np.nan
    (root / "S001C001P001R001A004.skeleton").write_text(
        skeleton_text([[(7, with_nan[t])] for t in range(20)])
    )
    # on the official missing list: must be dropped without parsing
    (root / "S001C002P005R002A008.skeleton").write_text(good)
    truth["bad"] = {
        "S001C001P001R001A002": "truncated",
        "S001C001P001R001A003": "joints",
        "S001C001P001R001A004": "nan",
        "S001C002P005R002A008": "official-missing",
    }
    return truth


@pytest.fixture
def data_cli() -> typer.Typer:
    """The ``crossglg data`` commands on their own app (the other subpackages stay out of the test)."""
    from crossglg.data.cli import register

    app = typer.Typer()
    register(app)
    return app
