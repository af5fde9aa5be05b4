"""MSR Action3D: ``aXX_sYY_eZZ_skeleton3D.txt``, 20 lines ``x y z c`` per frame (docs/DATA.md, "`msr-action3d` and `utkinect`")."""

from __future__ import annotations

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
    inside,
    read_floats,
    read_source_text,
)
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes

FORMAT = "msr-action3d"
JOINTS = 20
_NAME = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)_skeleton3D\.txt$")
_OFFICIAL_LIST = "files_used_in_cvpr12_paper.txt"


def _coords_dir(source: Path) -> Path:
    sub = source / "real_world_coordinates"
    return sub if sub.is_dir() else source


def scan(source: Path, class_file: Path | None = None, **_: object) -> Scan:
    folder = _coords_dir(source)
    # the official list lives in the same folder, hence the strict glob
    files = sorted(folder.glob("*_skeleton3D.txt"))
    if not files:
        raise UserError(f"{folder}: no aXX_sYY_eZZ_skeleton3D.txt files (is this MSR Action3D?)")
    # a --classes that is given must load (load_classes names the file when it cannot); only the
    # optional classes.tsv beside the data falls back to the built-in list
    beside = source / "classes.tsv"
    classes = class_file or (beside if beside.is_file() else "msr-action3d")
    names = load_classes(classes).label_names()
    outside = [f for f in files if not inside(folder, f)]
    files = [f for f in files if f not in outside]
    problems = [Problem(str(f), "outside", "a link out of the source folder: not read") for f in outside]
    expected = None
    official = folder / _OFFICIAL_LIST
    if official.is_file():
        expected = read_source_text(official).split()
    units = [str(f) for f in files]
    return Scan(FORMAT, "msr-action3d", "msr20", names, 1, units, expected=expected, problems=problems)


def read_unit(unit: str) -> UnitResult:
    path = Path(unit)
    m = _NAME.match(path.name)
    if not m:
        raise ReadError("unreadable", "file name is not aXX_sYY_eZZ_skeleton3D.txt")
    values = read_floats(path)
    if values.size % (JOINTS * 4):
        raise ReadError(
            "truncated", f"{values.size} numbers is not a whole number of frames of {JOINTS} joints × 4"
        )
    xyz = values.reshape(-1, JOINTS, 4)[..., :3].astype("float32")
    name = path.name.removesuffix("_skeleton3D.txt")
    sample = Sample(name, int(m.group(1)) - 1, xyz[:, None], subject=int(m.group(2)), bodies=1)
    return UnitResult([sample])


READERS.register(FORMAT)(sys.modules[__name__])
