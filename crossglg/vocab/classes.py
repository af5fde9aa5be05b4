"""Class lists: the action names, built in or from a user's file, for the LLM and the prepared data.

Built-in lists are the ``*.tsv`` files beside this module (``id<TAB>name``, 1-based ids as
in the datasets' own lists), so adding a dataset is adding a file. A user's list may be a
``.txt`` (one name per line, ids from 1), or a ``.tsv``/``.csv`` with ``id`` and ``name``
columns; every problem names the file and the row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from crossglg.errors import UserError

CLASS_DIR = Path(__file__).parent / "classes"

# ARCHITECTURE.md: which skeleton layout each built-in dataset uses (for the `joints` part set)
DATASET_LAYOUTS = {
    "ntu60": "ntu25",
    "ntu120": "ntu25",
    "pku-mmd": "ntu25",
    "synthetic": "ntu25",
    "msr-action3d": "msr20",
    "utkinect": "kinect20",
}


@dataclass(frozen=True)
class ClassEntry:
    class_id: int
    name: str


@dataclass(frozen=True)
class ClassList:
    """An ordered class list; ``name`` is the dataset name for built-ins, the file stem otherwise."""

    name: str
    source: str
    classes: tuple[ClassEntry, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(c.class_id for c in self.classes)

    def get(self, class_id: int) -> ClassEntry:
        for c in self.classes:
            if c.class_id == class_id:
                return c
        raise UserError(
            f"class list {self.name}: no class with id {class_id} (ids {min(self.ids)}–{max(self.ids)})"
        )

    def select(self, class_ids: list[int] | tuple[int, ...]) -> tuple[ClassEntry, ...]:
        return tuple(self.get(i) for i in class_ids)

    def label_names(self) -> list[str]:
        """Names in label order for a prepared dataset, whose label is ``class_id - 1`` (ARCHITECTURE.md).

        So the list must number its classes 1..N without gaps.
        """
        ids = sorted(self.ids)
        if ids != list(range(1, len(ids) + 1)):
            raise UserError(f"{self.source}: class ids must run 1..N without gaps (a label is id - 1)")
        return [self.get(i).name for i in ids]


def builtin_names() -> list[str]:
    return sorted(p.stem for p in CLASS_DIR.glob("*.tsv"))


def dataset_layout(dataset: str) -> str:
    """The skeleton layout of a built-in dataset, for the `joints` part set."""
    try:
        return DATASET_LAYOUTS[dataset]
    except KeyError:
        raise UserError(
            f"no skeleton layout known for dataset {dataset!r}; pass --layout (one of ntu25, kinect20, msr20, coco17)"
        ) from None


def load_classes(spec: str | Path) -> ClassList:
    """A built-in list by dataset name, or a class file by path."""
    if isinstance(spec, str) and spec in builtin_names():
        return read_class_file(CLASS_DIR / f"{spec}.tsv", name=spec)
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"{spec}: neither a built-in class list ({', '.join(builtin_names())}) nor a file")
    return read_class_file(path)


def _rows_txt(lines: list[str]) -> list[tuple[int, str, str]]:
    # (row number, id text, name); blank lines are allowed only at the end
    while lines and not lines[-1].strip():
        lines.pop()
    return [(n, str(n), line.strip()) for n, line in enumerate(lines, start=1)]


def _rows_table(path: Path, lines: list[str], delimiter: str) -> list[tuple[int, str, str]]:
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(lines, delimiter=delimiter), start=1)
        if any(f.strip() for f in r)
    ]
    if not rows:
        return []
    id_col, name_col = 0, 1
    first = [f.strip().lower() for f in rows[0][1]]
    if len(first) >= 2 and not first[0].lstrip("-").isdigit():  # a header row
        if "id" not in first or "name" not in first:
            raise UserError(f"{path}: row 1: header must have 'id' and 'name' columns, got {rows[0][1]}")
        id_col, name_col = first.index("id"), first.index("name")
        rows = rows[1:]
    out = []
    for n, r in rows:
        if len(r) <= max(id_col, name_col):
            raise UserError(f"{path}: row {n}: expected id and name separated by {delimiter!r}, got {r}")
        out.append((n, r[id_col].strip(), r[name_col].strip()))
    return out


def read_class_file(path: str | Path, name: str | None = None) -> ClassList:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such class list file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: class list is not UTF-8 text") from None
    lines = text.splitlines()
    suffix = path.suffix.lower()
    if suffix == ".txt":
        rows = _rows_txt(lines)
    elif suffix in (".tsv", ".csv"):
        rows = _rows_table(path, lines, "\t" if suffix == ".tsv" else ",")
    else:
        raise UserError(f"{path}: class list must end in .txt, .tsv or .csv")
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    classes = []
    for n, id_text, class_name in rows:
        try:
            class_id = int(id_text)
        except ValueError:
            raise UserError(f"{path}: row {n}: id {id_text!r} is not an integer") from None
        if class_id < 1:
            raise UserError(f"{path}: row {n}: id {class_id} must be >= 1 (ids are 1-based)")
        if not class_name:
            raise UserError(f"{path}: row {n}: empty class name")
        if class_id in seen_ids:
            raise UserError(f"{path}: row {n}: id {class_id} already used on row {seen_ids[class_id]}")
        if class_name.lower() in seen_names:
            raise UserError(
                f"{path}: row {n}: class {class_name!r} already listed on row {seen_names[class_name.lower()]}"
            )
        seen_ids[class_id] = n
        seen_names[class_name.lower()] = n
        classes.append(ClassEntry(class_id, class_name))
    if not classes:
        raise UserError(f"{path}: no classes in the file")
    return ClassList(name=name or path.stem, source=str(path), classes=tuple(classes))
