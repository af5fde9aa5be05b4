"""NTU RGB+D 60/120 raw ``.skeleton`` files (docs/DATA.md, "`ntu-skeleton`: NTU RGB+D 60/120 raw files"; actors: ntu_denoise.py).

Only ``x y z`` are kept. Body ids are 64-bit and stay strings; frames with no body are
dropped, as CTR-GCN does. Files on the official missing-skeleton list are not parsed.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from operator import itemgetter
from pathlib import Path

import numpy as np

from crossglg.data.readers import READERS
from crossglg.data.readers.base import Problem, ReadError, Sample, Scan, UnitResult, inside
from crossglg.data.readers.ntu_denoise import Track, select_actors
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "ntu-skeleton"
JOINTS = 25
FIELDS = 12  # per joint line
BODY_FIELDS = 10  # the body info line
_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
USABLE = {"ntu60": 56_578, "ntu120": 113_945}
SYNTHETIC_SETUP = 101


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
    units, problems, max_action, min_setup = [], [], 0, 10**9
    for f in files:
        if source.is_dir() and not inside(
            source, f
        ):  # a symlink out of the folder: never parsed, never quoted
            problems.append(Problem(str(f), "outside", "a link out of the source folder: not read"))
            continue
        fields = parse_name(f.stem)
        if fields is None:
            problems.append(Problem(str(f), "unreadable", "name is not SsssCcccPpppRrrrAaaa.skeleton"))
            continue
        if f.stem in missing:
            problems.append(
                Problem(f.stem, "official-missing", "on the official missing-skeleton list: dropped")
            )
            continue
        max_action, min_setup = max(max_action, fields[4]), min(min_setup, fields[0])
        units.append(str(f))
    if dataset is None:
        # real NTU setups are 1-32; the synthetic generator numbers its setups from 101
        dataset = (
            "synthetic"
            if units and min_setup >= SYNTHETIC_SETUP
            else "ntu120"
            if max_action > 60
            else "ntu60"
        )
    names = load_classes(class_file or dataset).label_names()
    return Scan(
        FORMAT, dataset, "ntu25", names, 2, units, problems=problems, expected_count=USABLE.get(dataset)
    )


def parse_tracks(raw: bytes) -> tuple[list[Track], int]:
    """Tracks by body id and the number of frames holding at least one body.

    Only the counts are walked in Python (one step per body, not per joint); the x y z
    tokens are then picked out by index and converted in one call.
    Body ids are read from the tokens themselves, so 64-bit ids never pass through a float.
    """
    tok = raw.split()
    n_tok = len(tok)
    pos = 0
    blocks: dict[bytes, list[int]] = {}  # body id -> token index of each of its joint blocks
    frames: dict[bytes, list[int]] = {}
    valid = 0
    try:
        n_frames = int(tok[0])
        pos = 1
        for f in range(n_frames):
            n_bodies = int(tok[pos])
            pos += 1
            for b in range(n_bodies):
                body_id, n_joints = tok[pos], int(tok[pos + BODY_FIELDS])
                if n_joints != JOINTS:
                    raise ReadError(
                        "joints", f"frame {f + 1}, body {b + 1}: {n_joints} joints, expected {JOINTS}"
                    )
                start = pos + BODY_FIELDS + 1
                pos = start + JOINTS * FIELDS
                if pos > n_tok:
                    raise IndexError
                blocks.setdefault(body_id, []).append(start)
                frames.setdefault(body_id, []).append(valid)
            valid += n_bodies > 0
    except IndexError:
        raise ReadError(
            "truncated", f"file ends early (after {n_tok} tokens, in frame {valid + 1})"
        ) from None
    except ValueError:  # the token itself is not quoted: the file may not be skeleton data at all
        raise ReadError("unreadable", f"token {pos + 1} is not an integer") from None
    if not blocks:
        return [], valid
    # gather only the x y z tokens (a quarter of the joint fields) before converting
    offsets = ((np.arange(JOINTS) * FIELDS)[:, None] + np.arange(3)).ravel()
    tracks = []
    for b, starts in blocks.items():
        idx = (np.asarray(starts)[:, None] + offsets).ravel().tolist()
        try:
            xyz = np.array(itemgetter(*idx)(tok), dtype=np.float64)
        except ValueError:
            raise ReadError("unreadable", "a joint coordinate is not a number") from None
        tracks.append(Track(np.asarray(frames[b]), xyz.reshape(-1, JOINTS, 3)))
    return tracks, valid


def read_unit(unit: str) -> UnitResult:
    path = Path(unit)
    _, camera, subject, _, action = parse_name(path.stem)  # type: ignore[misc]
    tracks, valid = parse_tracks(path.read_bytes())
    if not tracks:
        return UnitResult(problems=[Problem(path.stem, "empty", "no frame holds a body")])
    data = select_actors(tracks, valid)
    return UnitResult([Sample(path.stem, action - 1, data, subject=subject, view=camera)])


READERS.register(FORMAT)(sys.modules[__name__])
