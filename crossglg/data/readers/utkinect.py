"""UTKinect-Action3D: continuous recordings cut into segments by the label file (docs/DATA.md, "`msr-action3d` and `utkinect`").

A segment is every row whose depth-frame id lies in the inclusive range of the label file;
ids repeat and skip, so rows are selected by id, never by position.
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from pathlib import Path

from crossglg.data.readers import READERS
from crossglg.data.readers.base import (
    Problem,
    ReadError,
    Sample,
    Scan,
    UnitResult,
    add_sample,
    inside,
    read_floats,
    read_source_text,
)
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "utkinect"
JOINTS = 20
_RECORDING = re.compile(r"^s(\d\d)_e(\d\d)$")
LABEL_FILES = {"modified": "actionLabel_modified.txt", "original": "actionLabel.txt"}


def _camel(name: str) -> str:
    """The label file's spelling of a class name: "sit down" → "sitDown"."""
    first, *rest = name.split()
    return first + "".join(w[:1].upper() + w[1:] for w in rest)


def _class_table(source: Path, class_file: Path | None = None) -> tuple[list[str], dict[str, int]]:
    """Display names and the label-file spelling → 0-based label.

    ``--classes`` wins, then a ``classes.tsv`` beside the data; the public release has none,
    so without either the built-in list is used, spelled as the public ``actionLabel.txt`` spells it.
    A table with a ``label_in_file`` column (id, label_in_file, name) maps spellings itself;
    any other class file (docs/DATA.md, ``--classes``) is spelled like the public file.
    """
    beside = source / "classes.tsv"
    path = class_file or (beside if beside.is_file() else None)
    if path is not None and Path(path).is_file() and Path(path).suffix.lower() == ".tsv":
        text = read_source_text(Path(path))
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        if rows and "label_in_file" in rows[0]:
            return _spelled_table(Path(path), rows)
    names = load_classes(path or "utkinect").label_names()  # names a given file that does not load
    return names, {_camel(n): i for i, n in enumerate(names)}


def _spelled_table(path: Path, rows: list[dict[str, str]]) -> tuple[list[str], dict[str, int]]:
    """A classes.tsv with ``label_in_file`` and ``name`` columns, in label order."""
    names, label_of = [], {}
    for n, row in enumerate(rows, 2):
        spelled, name = (row.get("label_in_file") or "").strip(), (row.get("name") or "").strip()
        if not spelled or not name:
            raise UserError(f"{path}:{n}: columns 'label_in_file' and 'name' must both be filled")
        label_of[spelled] = len(names)
        names.append(name)
    return names, label_of


def check_label_file(value: str) -> None:
    """Refuse a ``--label-file`` other than the two label files UTKinect has."""
    if value not in LABEL_FILES:
        raise UserError(f"--label-file must be one of {', '.join(LABEL_FILES)}, got {value!r}")


def parse_labels(path: Path) -> dict[str, list[tuple[str, float, float]]]:
    """``{recording: [(action, start, end), ...]}``; NaN bounds are kept for the caller to report."""
    out: dict[str, list[tuple[str, float, float]]] = {}
    current = None
    for n, raw in enumerate(read_source_text(path).splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if _RECORDING.match(line):
            current = out.setdefault(line, [])
            continue
        action, _, rng = line.partition(":")
        parts = rng.split()
        try:
            bounds = (float(parts[0]), float(parts[1]))
        except (ValueError, IndexError):
            bounds = ()
        if current is None or len(parts) != 2 or len(bounds) != 2:
            raise UserError(f"{path}:{n}: expected 'sYY_eZZ' or 'action: start end', got {line!r}")
        current.append((action.strip(), *bounds))
    return out


def scan(source: Path, label_file: str = "modified", class_file: Path | None = None, **_: object) -> Scan:
    joints = source / "joints" if (source / "joints").is_dir() else source
    check_label_file(label_file)
    labels_path = joints / LABEL_FILES[label_file]
    if not labels_path.is_file():
        hint = " (the public release has only actionLabel.txt: pass --label-file original)"
        raise UserError(f"{labels_path}: label file not found" + (hint if label_file == "modified" else ""))
    class_names, label_of = _class_table(source, class_file)
    units, problems, expected = [], [], []
    for rec, segments in sorted(parse_labels(labels_path).items()):
        wanted = []
        for action, start, end in segments:
            name = f"{rec}_{action}"
            if action not in label_of:
                problems.append(Problem(name, "label", f"action {action!r} is not in the class list"))
                continue
            expected.append(name)
            if math.isnan(start) or math.isnan(end):
                problems.append(Problem(name, "label", f"{labels_path.name}: range is NaN, no segment"))
                continue
            wanted.append((name, label_of[action], int(start), int(end)))
        path = joints / f"joints_{rec}.txt"
        if path.is_file() and not inside(source, path):
            problems.append(Problem(str(path), "outside", "a link out of the source folder: not read"))
            continue
        if not path.is_file():
            problems.append(
                Problem(str(path), "missing", f"recording {rec} is labelled but has no joints file")
            )
            continue
        units.append((str(path), int(rec[1:3]), wanted))
    return Scan(FORMAT, "utkinect", "kinect20", class_names, 1, units, expected=expected, problems=problems)


def unit_samples(unit: tuple[str, int, list[tuple[str, int, int, int]]]) -> int:
    """A recording holds one sample per labelled segment."""
    return len(unit[2])


def read_unit(unit: tuple[str, int, list[tuple[str, int, int, int]]]) -> UnitResult:
    path, subject, wanted = unit
    values = read_floats(Path(path))
    row = 1 + JOINTS * 3
    if values.size % row:
        raise ReadError("truncated", f"{values.size} numbers is not a whole number of rows of {row}")
    table = values.reshape(-1, row)
    frame_id = table[:, 0].astype(int)
    xyz = table[:, 1:].reshape(-1, JOINTS, 3).astype("float32")
    result = UnitResult()
    for name, label, start, end in wanted:
        rows = (frame_id >= start) & (frame_id <= end)
        if not rows.any():
            result.problems.append(Problem(name, "empty", f"no frame id in {start}..{end}"))
            continue
        add_sample(
            result,
            name,
            lambda rows=rows, name=name, label=label: Sample(
                name, label, xyz[rows][:, None], subject=subject, bodies=1
            ),
        )
    return result


READERS.register(FORMAT)(sys.modules[__name__])
