"""PKU-MMD (phase 1 or 2): long sequences + per-sequence label files → one clip per label (docs/DATA.md, "`pku-mmd`: PKU-MMD phase 1 or 2").

Layout expected under SOURCE: a skeleton folder and a label folder (``skeleton``/``Skeleton``/
``PKU_Skeleton_Renew`` and ``label``/``Label``/``Train_Label_PKU_final``), each holding
``XXXX-V.txt`` files of the same names, and optionally the cross-subject split file
(``Split/cross-subject.txt`` or ``cross_subject_v2.txt``): each clip then records whether its
sequence is for training or validation, which the one-shot exemplar rule needs (docs/DATA.md, "One-shot protocols"). Clip names are ``<sequence>_<start:06d>`` so that
sorting by name orders clips by sequence, then start frame (the exemplar rule).
"""

from __future__ import annotations

import sys
from pathlib import Path

from crossglg.data.readers import READERS
from crossglg.data.readers.base import Problem, ReadError, Sample, Scan, UnitResult, read_floats
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "pku-mmd"
JOINTS = 25
ROW = 2 * JOINTS * 3  # two persons × 25 joints × xyz
VIEWS = {"L": 1, "M": 2, "R": 3}
_SKELETON_DIRS = ("skeleton", "Skeleton", "PKU_Skeleton_Renew", "skeletons")
_LABEL_DIRS = ("label", "Label", "labels", "Train_Label_PKU_final")
_SPLIT_FILES = (
    "Split/cross-subject.txt",
    "Split/cross_subject_v2.txt",
    "cross-subject.txt",
    "cross_subject_v2.txt",
)


def _find(source: Path, names: tuple[str, ...], what: str) -> Path:
    for n in names:
        if (source / n).is_dir():
            return source / n
    raise UserError(f"{source}: no {what} folder (looked for {', '.join(names)})")


def scan(source: Path, class_file: Path | None = None, **_: object) -> Scan:
    skel_dir = _find(source, _SKELETON_DIRS, "skeleton")
    label_dir = _find(source, _LABEL_DIRS, "label")
    split_file = next((source / f for f in _SPLIT_FILES if (source / f).is_file()), None)
    group_of = parse_split_file(split_file) if split_file else {}
    units, problems = [], []
    for label in sorted(label_dir.glob("*.txt")):
        skel = skel_dir / label.name
        if not skel.is_file():
            problems.append(Problem(label.stem, "missing", f"labels but no skeleton file {skel.name}"))
            continue
        units.append((str(skel), str(label), group_of.get(label.stem, "")))
    if not units:
        raise UserError(f"{source}: no sequence has both a skeleton and a label file")
    names = load_classes(class_file or "pku-mmd").label_names()
    return Scan(FORMAT, "pku-mmd", "ntu25", names, 2, units, problems=problems)


def parse_split_file(path: Path) -> dict[str, str]:
    """Sequence name → "train" / "validation" from a ``Training videos:`` / ``Validation videos:`` file."""
    groups: dict[str, str] = {}
    current = None
    for line in path.read_text().splitlines():
        head = line.strip().lower()
        if head.startswith("training"):
            current = "train"
        elif head.startswith("validation") or head.startswith("testing"):
            current = "validation"
        elif head and current:
            groups.update((name.strip(), current) for name in line.split(",") if name.strip())
    if not groups:
        raise UserError(f"{path}: expected 'Training videos:' and 'Validation videos:' lines with names")
    return groups


def parse_label_file(path: Path) -> tuple[list[tuple[int, int, int]], list[Problem]]:
    """(label 1-based, start, end) per line ``label,start,end,confidence``; start/end swapped if reversed.

    A malformed line is a problem for that clip alone, never for the whole sequence.
    """
    out, problems = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            label, start, end = int(parts[0]), int(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            problems.append(
                Problem(f"{path.stem}:{n}", "unreadable", "expected 'label,start,end,confidence' (integers)")
            )
            continue
        if min(start, end) < 0:
            problems.append(Problem(f"{path.stem}:{n}", "unreadable", f"negative frame in {start}..{end}"))
            continue
        out.append((label, min(start, end), max(start, end)))
    return out, problems


def unit_samples(unit: tuple[str, str, str]) -> int:
    """A sequence holds one clip per non-empty line of its label file."""
    try:
        return max(1, sum(1 for line in Path(unit[1]).read_text().splitlines() if line.strip()))
    except (OSError, UnicodeDecodeError):
        return 1


def read_unit(unit: tuple[str, str, str]) -> UnitResult:
    skel, label_path, group = Path(unit[0]), Path(unit[1]), unit[2]
    values = read_floats(skel)
    if values.size % ROW:
        raise ReadError("truncated", f"{values.size} numbers is not a whole number of {ROW}-value frames")
    frames = values.reshape(-1, 2, JOINTS, 3).astype("float32")
    seq = skel.stem
    view = VIEWS.get(seq.rsplit("-", 1)[-1], -1)
    clips, problems = parse_label_file(label_path)
    result = UnitResult(problems=problems)
    for label, start, end in clips:
        name = f"{seq}_{start:06d}"
        if start >= len(frames):  # the clip is lost: counted as skipped, not as a note
            result.problems.append(
                Problem(name, "empty", f"starts at frame {start}, sequence has {len(frames)}")
            )
            continue
        if end >= len(frames):
            result.problems.append(
                Problem(name, "label", f"ends at frame {end}, cut at the last frame {len(frames) - 1}")
            )
        result.samples.append(Sample(name, label - 1, frames[start : end + 1], view=view, group=group))
    return result


READERS.register(FORMAT)(sys.modules[__name__])
