"""The toolkit's own format, for any data set: no code to write (spec in docs/DATA.md).

Either one ``.npz`` (``x`` [N, T, V, 3] or [N, M, T, V, 3], ``labels`` [N] 0-based,
``names`` [N]; optional ``lengths``, ``subjects``, ``views``, ``class_names``, ``layout``), or a
folder with ``labels.tsv`` (``name``, ``label``, optional ``subject``, ``view``), ``classes.txt``
(one class name per line, line k = label k-1), optional ``layout.txt`` and one ``<name>.npy``
or ``<name>.json`` array per sample, shaped [T, V, 3] or [M, T, V, 3].
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from crossglg.data.readers import READERS
from crossglg.data.readers.base import (
    ReadError,
    Sample,
    Scan,
    UnitResult,
    add_sample,
    inside,
    plain_reason,
    read_source_text,
    trim_padding,
)
from crossglg.data.readers.npz_rows import member_header, read_rows
from crossglg.errors import UserError
from crossglg.vocab.classes import load_classes
from crossglg.vocab.layouts import get_layout

FORMAT = "generic"
CHUNK = 512  # samples per work unit of an .npz
# per-sample columns of an .npz besides x and names: one integer per sample each
INT_COLUMNS = ("labels", "lengths", "subjects", "views")


def _dtype_problem(dtype: np.dtype) -> str | None:
    """Why an array of ``dtype`` cannot hold coordinates (complex, text, objects), or None.

    A complex array would lose its imaginary part to a float32 cast with only a numpy warning.
    """
    if dtype.kind in "biuf":
        return None
    return f"values of type {dtype}, expected real numbers"


def _as_tmv3(arr: np.ndarray, where: str) -> np.ndarray:
    """[T, V, 3] or [M, T, V, 3] → [T, M, V, 3]."""
    problem = _dtype_problem(arr.dtype)
    if problem:
        raise ReadError("unreadable", f"{where}: {problem}")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ReadError("joints", f"{where}: shape {arr.shape}, expected [T, V, 3] or [M, T, V, 3]")
    return np.ascontiguousarray(arr.transpose(1, 0, 2, 3), dtype=np.float32)


def _layout_name(given: str | None, stored: str | None, where: Path) -> str:
    """``--layout``, else the one the source names (``where``: its file, for the error), else ntu25."""
    name = given or stored or "ntu25"
    try:
        get_layout(name)
    except UserError as err:  # the layout came from the data: name the file it came from
        if given:
            raise
        raise UserError(f"{where}: {err}") from None
    return name


def scan(source: Path, layout: str | None = None, class_file: Path | None = None, **_: object) -> Scan:
    if source.is_file() and source.suffix == ".npz":
        return _scan_npz(source, layout, class_file)
    if source.is_dir():
        return _scan_folder(source, layout, class_file)
    raise UserError(f"{source}: the generic format is an .npz file or a folder with labels.tsv")


def _scan_npz(path: Path, layout: str | None, class_file: Path | None) -> Scan:
    """Check the whole file up front: a fault shared by every row is one line, not N report rows."""
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in ("x", "labels", "names"):
                if key not in z.files:
                    raise UserError(f"{path}: key {key!r} missing (has {', '.join(z.files)})")
            shape, dtype = member_header(str(path), "x")
            columns = {k: z[k] for k in ("names", *INT_COLUMNS) if k in z.files}
            stored_layout = z["layout"] if "layout" in z.files else None
            stored_names = z["class_names"] if "class_names" in z.files else None
    # not a zip (or cut short), or object arrays (need pickle)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable .npz of plain arrays ({plain_reason(err)})") from None
    problem = _dtype_problem(dtype)
    if problem:
        raise UserError(f"{path}: x holds {problem}")
    if len(shape) not in (4, 5) or shape[-1] != 3:
        raise UserError(f"{path}: x has shape {shape}, expected [N, T, V, 3] or [N, M, T, V, 3]")
    for key, column in columns.items():
        _check_column(path, key, column, shape[0])
    names = _class_names(path, stored_names)
    if class_file is not None:
        names = load_classes(class_file).label_names()
    if names is None:
        raise UserError(f"{path}: no 'class_names' key; pass --classes FILE")
    if stored_layout is not None and (stored_layout.ndim != 0 or stored_layout.dtype.kind != "U"):
        raise UserError(f"{path}: 'layout' must be one name (e.g. np.array('ntu25'))")
    stored_layout = None if stored_layout is None else str(stored_layout)
    n = shape[0]
    units = [(str(path), s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
    max_bodies = shape[1] if len(shape) == 5 else 1
    return Scan(FORMAT, "generic", _layout_name(layout, stored_layout, path), names, max_bodies, units)


def _check_column(path: Path, key: str, column: np.ndarray, n: int) -> None:
    """One value per sample, and integers where the column holds numbers (whole floats pass)."""
    if column.ndim != 1 or len(column) != n:
        raise UserError(
            f"{path}: x has {n} samples but {key} has shape {column.shape} (one value per sample)"
        )
    if key == "names":
        return
    whole = column.dtype.kind in "biu" or (
        column.dtype.kind == "f" and bool(np.all(np.isfinite(column) & (column == np.round(column))))
    )
    if not whole:
        kind = "fractional or non-finite" if column.dtype.kind == "f" else "non-numeric"
        raise UserError(f"{path}: {key} must hold integers, got {kind} values ({column.dtype})")


def _class_names(path: Path, stored: np.ndarray | None) -> list[str] | None:
    """The file's own ``class_names``: a non-empty list, one name per class."""
    if stored is None:
        return None
    if stored.ndim != 1 or not len(stored):
        raise UserError(f"{path}: class_names must be a non-empty list of names, got shape {stored.shape}")
    return [str(c) for c in stored]


def _scan_folder(folder: Path, layout: str | None, class_file: Path | None) -> Scan:
    table = folder / "labels.tsv"
    if not table.is_file():
        raise UserError(f"{folder}: labels.tsv missing (columns name, label[, subject, view])")
    classes = class_file or folder / "classes.txt"
    if not classes.is_file():
        raise UserError(f"{classes}: class-name file missing (one name per line)")
    names = load_classes(classes).label_names()
    stored = read_source_text(folder / "layout.txt").strip() if (folder / "layout.txt").is_file() else None
    units, max_bodies = [], 1
    rows = list(csv.DictReader(io.StringIO(read_source_text(table), newline=""), delimiter="\t"))
    for n, row in enumerate(rows, 2):
        if not row.get("name") or row.get("label") in (None, ""):
            raise UserError(f"{table}:{n}: columns 'name' and 'label' are required")
        label = _label(row["label"].strip(), names, f"{table}:{n}")
        if not _plain_name(folder, row["name"]):
            raise UserError(
                f"{table}:{n}: name {row['name']!r} is not a plain file name inside {folder} "
                "(no '/', '..' or links out of the folder)"
            )
        path = next(
            (
                folder / f"{row['name']}{ext}"
                for ext in (".npy", ".json")
                if (folder / f"{row['name']}{ext}").is_file()
            ),
            None,
        )
        if path is None:
            raise UserError(f"{table}:{n}: no {row['name']}.npy or {row['name']}.json beside it")
        max_bodies = max(max_bodies, _persons(path))
        subject, view = (_int_field(row, key, f"{table}:{n}") for key in ("subject", "view"))
        units.append((str(path), row["name"], label, subject, view))
    return Scan(
        FORMAT, "generic", _layout_name(layout, stored, folder / "layout.txt"), names, max_bodies, units
    )


def _plain_name(folder: Path, name: str) -> bool:
    """A sample name is a file stem in ``folder`` itself: a path (``../x``) or a link out is refused."""
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return False
    return all(inside(folder, folder / f"{name}{ext}") for ext in (".npy", ".json"))


def _persons(path: Path) -> int:
    """M of one array file, known before parsing so the cache width is fixed up front.

    A file that cannot be read counts as 1 here; reading it later reports the problem.
    """
    try:
        shape = _load_array(path, mmap=True).shape
    except ReadError:
        return 1
    return shape[0] if len(shape) == 4 else 1


def _load_array(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of one ``.npy`` or ``.json`` sample file, for ``prepare`` and ``predict`` alike.

    Every way a file can fail to be an array (empty, cut short, not UTF-8, pickled, nested past
    the recursion limit) is one :class:`ReadError` with a plain reason, never a raw exception.
    """
    try:
        if path.suffix == ".npy":
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        return np.asarray(json.loads(path.read_bytes()), dtype=np.float32)
    except (OSError, ValueError, TypeError, EOFError, RecursionError) as err:
        raise ReadError("unreadable", plain_reason(err)) from None


def _int_field(row: dict[str, str], key: str, where: str) -> int:
    value = (row.get(key) or "").strip()
    if not value:
        return -1
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{where}: {key} {value!r} is not an integer") from None


def _label(value: str, names: list[str], where: str) -> int:
    if value.lstrip("-").isdigit():
        label = int(value)
    elif value in names:
        label = names.index(value)
    else:
        raise UserError(f"{where}: label {value!r} is neither a 0-based index nor a name in the class file")
    if not 0 <= label < len(names):
        raise UserError(f"{where}: label {label} is outside 0..{len(names) - 1}")
    return label


def unit_samples(unit: tuple) -> int:
    """Samples a unit holds: a row range of an .npz, else one array file."""
    return unit[2] - unit[1] if len(unit) == 3 else 1


def read_unit(unit: tuple) -> UnitResult:
    if len(unit) == 3:
        return _read_npz_chunk(*unit)
    path, name, label, subject, view = unit
    arr = _load_array(Path(path))
    return UnitResult([Sample(name, label, _as_tmv3(arr, name), subject=subject, view=view)])


def _read_npz_chunk(path: str, start: int, stop: int) -> UnitResult:
    x = read_rows(path, "x", start, stop)
    with np.load(path, allow_pickle=False) as z:
        labels, names = z["labels"][start:stop], z["names"][start:stop]
        extra = {k: z[k][start:stop] for k in ("lengths", "subjects", "views") if k in z.files}
    result = UnitResult()
    for i in range(len(x)):
        add_sample(result, str(names[i]), lambda i=i: _npz_sample(x[i], labels[i], names[i], extra, i))
    return result


def _npz_sample(row: np.ndarray, label: np.generic, name: np.generic, extra: dict, i: int) -> Sample:
    """One row of an .npz chunk; raises for this row alone (``add_sample`` reports it)."""
    arr = _as_tmv3(row, str(name))
    if "lengths" in extra:
        length = int(extra["lengths"][i])
        if not 0 <= length <= len(arr):
            raise ReadError("length", f"length {length} is outside 0..{len(arr)} frames")
        arr = arr[:length]
    else:
        arr = trim_padding(arr)
    subject = int(extra["subjects"][i]) if "subjects" in extra else -1
    view = int(extra["views"][i]) if "views" in extra else -1
    return Sample(str(name), int(label), arr, subject=subject, view=view)


READERS.register(FORMAT)(sys.modules[__name__])
