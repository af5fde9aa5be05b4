"""NTU RGB+D 60/120 raw ``.skeleton`` files (grammar: DATA.md §1.3; actors: §4 steps 1–2).

Only ``x y z`` are kept. Body ids are 64-bit and stay strings; frames with no body are
dropped, as CTR-GCN does. Files on the official missing-skeleton list are not parsed.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np

from crossglg.data.readers.base import Problem, ReadError, Sample, Scan, UnitResult
from crossglg.data.readers.class_lists import packaged_class_names
from crossglg.data.readers.ntu_denoise import Track, select_actors
from crossglg.errors import UserError

FORMAT = "ntu-skeleton"
JOINTS = 25
FIELDS = 12  # per joint line
BODY_FIELDS = 10  # the body info line
_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
USABLE = {"ntu60": 56_578, "ntu120": 113_945}


def parse_name(stem: str) -> tuple[int, int, int, int, int] | None:
    """(setup, camera, subject, replication, action) of ``SsssCcccPpppRrrrAaaa``, or None."""
    m = _NAME.match(stem)
    return tuple(int(g) for g in m.groups()) if m else None  # type: ignore[return-value]


def official_missing() -> set[str]:
    """The 535 NTU-120 samples with missing skeletons (the NTU-60 302 are the S001–S017 ones)."""
    text = resources.files("crossglg.data.readers").joinpath("ntu_missing_skeletons.txt").read_text()
    return set(text.split())


def scan(source: Path, dataset: str | None = None, class_file: Path | None = None, **_: object) -> Scan:
    files = sorted(source.rglob("*.skeleton")) if source.is_dir() else [source]
    if not files:
        raise UserError(f"{source}: no .skeleton files")
    missing = official_missing()
    units, problems, max_action = [], [], 0
    for f in files:
        fields = parse_name(f.stem)
        if fields is None:
            problems.append(Problem(str(f), "unreadable", "name is not SsssCcccPpppRrrrAaaa.skeleton"))
            continue
        if f.stem in missing:
            problems.append(
                Problem(f.stem, "official-missing", "on the official missing-skeleton list: dropped")
            )
            continue
        max_action = max(max_action, fields[4])
        units.append(str(f))
    dataset = dataset or ("ntu120" if max_action > 60 else "ntu60")
    if dataset not in USABLE:
        raise UserError(f"--dataset for NTU files must be ntu60 or ntu120, got {dataset!r}")
    names = packaged_class_names(dataset, class_file)
    scan_ = Scan(FORMAT, dataset, "ntu25", names, 2, units, problems=problems)
    scan_.expected_count = USABLE[dataset]
    return scan_


def parse_tracks(raw: bytes) -> tuple[list[Track], int]:
    """Tracks by body id and the number of frames holding at least one body."""
    tok = raw.split()
    pos = 0

    def take(n: int = 1) -> list[bytes]:
        nonlocal pos
        if pos + n > len(tok):
            raise ReadError("truncated", f"file ends early (token {len(tok)} of at least {pos + n})")
        pos += n
        return tok[pos - n : pos]

    try:
        n_frames = int(take()[0])
        body_frames: dict[bytes, list[int]] = {}
        body_xyz: dict[bytes, list[list[bytes]]] = {}
        valid = 0
        for f in range(n_frames):
            n_bodies = int(take()[0])
            for b in range(n_bodies):
                body_id = take(BODY_FIELDS)[0]
                n_joints = int(take()[0])
                if n_joints != JOINTS:
                    raise ReadError(
                        "joints", f"frame {f + 1}, body {b + 1}: {n_joints} joints, expected {JOINTS}"
                    )
                block = take(n_joints * FIELDS)
                body_frames.setdefault(body_id, []).append(valid)
                body_xyz.setdefault(body_id, []).append(
                    [v for j in range(0, len(block), FIELDS) for v in block[j : j + 3]]
                )
            valid += n_bodies > 0
    except ValueError as err:
        raise ReadError("unreadable", f"token {pos}: {err}") from None
    tracks = [
        Track(np.asarray(body_frames[b]), np.array(body_xyz[b], dtype=np.float64).reshape(-1, JOINTS, 3))
        for b in body_frames
    ]
    return tracks, valid


def read_unit(unit: str) -> UnitResult:
    path = Path(unit)
    _, camera, subject, _, action = parse_name(path.stem)  # type: ignore[misc]
    tracks, valid = parse_tracks(path.read_bytes())
    if not tracks:
        return UnitResult(problems=[Problem(path.stem, "empty", "no frame holds a body")])
    data = select_actors(tracks, valid)
    return UnitResult([Sample(path.stem, action - 1, data, subject=subject, view=camera)])
